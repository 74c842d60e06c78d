package cli

import (
	"bytes"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/trainer"
)

func TestParseArms(t *testing.T) {
	for _, tc := range []struct {
		in    string
		names []string
	}{
		{"grpo,gcd", []string{"grpo", "gcd"}},
		{" grpo , gcd-lambda0,gcd-nocorr, gcd-noverdict-cold,gcd-pg-corrected ", []string{"grpo", "gcd-lambda0", "gcd-nocorr", "gcd-noverdict-cold", "gcd-pg-corrected"}},
		{"grpo,gcd:lambda=0.50,threshold=0.8,grpo:dim=128,layers=4", []string{"grpo", "gcd-lambda0.5-threshold0.8", "grpo-dim128-layers4"}},
		{"gcd:correction=false,gcd:pg_corrected=1,gcd-nocorr:cold=own", []string{"gcd-nocorrection", "gcd-pg_corrected", "gcd-nocorr-coldown"}},
		{"gcd:lambda=0,gcd:lambda=0.1,gcd:lambda=1e-3", []string{"gcd-lambda0", "gcd-lambda0.1", "gcd-lambda0.001"}},
		{"grpo:twin_share=0.5,grpo:tokenizer=char,context=1024,freeze_unseen=true", []string{"grpo-twin_share0.5", "grpo-tokenizerchar-context1024-freeze_unseen"}},
	} {
		arms, err := parseArms("arms", tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got := armNames(arms); !slices.Equal(got, tc.names) {
			t.Errorf("%q: arms %v, want %v", tc.in, got, tc.names)
		}
	}

	// The configuration of each arm: its algorithm's preset defaults with
	// exactly the overrides.
	base := func(algo string) trainer.Config {
		c, err := trainer.Defaults(trainer.PresetStudy, algo)
		if err != nil {
			t.Fatal(err)
		}
		c.Env, c.Seed = "lab", 7
		return c
	}
	arms, err := parseArms("arms", "grpo,gcd,gcd-lambda0,gcd-nocorr,gcd-pg-corrected,gcd:lambda=0.5,threshold=0.8,grpo:dim=128,layers=4,gcd-noverdict-cold,"+
		"grpo:twin_share=0.5,grpo:tokenizer=char,context=1024,freeze_unseen=true")
	if err != nil {
		t.Fatal(err)
	}
	want := []func(c *trainer.Config){
		func(c *trainer.Config) { *c = base(trainer.AlgoGRPO) },
		func(c *trainer.Config) { *c = base(trainer.AlgoGCD) },
		func(c *trainer.Config) { *c = base(trainer.AlgoGCD); c.GCD.Lambda = 0 },
		func(c *trainer.Config) { *c = base(trainer.AlgoGCD); c.GCD.Correction = false },
		func(c *trainer.Config) { *c = base(trainer.AlgoGCD); c.GCD.TrainCorrected = true },
		func(c *trainer.Config) { *c = base(trainer.AlgoGCD); c.GCD.Lambda, c.GCD.Threshold = 0.5, 0.8 },
		func(c *trainer.Config) { *c = base(trainer.AlgoGRPO); c.Model.Dim, c.Model.Layers = 128, 4 },
		func(c *trainer.Config) { *c = base(trainer.AlgoGCD) },
		func(c *trainer.Config) { *c = base(trainer.AlgoGRPO); c.Rollout.TwinShare = 0.5 },
		func(c *trainer.Config) {
			*c = base(trainer.AlgoGRPO)
			c.Model.Tokenizer, c.Model.Context, c.ColdStart.FreezeUnseen = "char", 1024, true
		},
	}
	for k, a := range arms {
		got, err := a.config(trainer.PresetStudy, "lab", 7, nil)
		var w trainer.Config
		want[k](&w)
		if err != nil || got != w {
			t.Errorf("arm %s: %+v (%v)\nwant %+v", a.Name, got, err, w)
		}
	}
	// The PG-corrected flag is off in every arm but its own, so those
	// arms train as before it existed.
	for _, a := range arms {
		c, _ := a.config(trainer.PresetStudy, "lab", 7, nil)
		if c.GCD.TrainCorrected != (a.Name == "gcd-pg-corrected") {
			t.Errorf("arm %s: train_corrected %v", a.Name, c.GCD.TrainCorrected)
		}
	}
}

// TestParseArmsErrors: a bad arm or override is a usage error that names
// the arm and the key.
func TestParseArmsErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "empty list"},
		{"ppo", `unknown arm "ppo"`},
		{"gcd:foo=1", `unknown key "foo"`},
		{"gcd:lambda=x", "key lambda: \"x\" is not a finite number"},
		{"gcd:lambda=-1", "key lambda: -1: want a value >= 0"},
		{"gcd:lambda=NaN", "key lambda"},
		{"gcd:threshold=1.5", "key threshold: 1.5: want a value in [0, 1]"},
		{"grpo:lambda=0.5", "key lambda is a GCD setting"},
		{"grpo:dim=1.5", "key dim: \"1.5\" is not an integer"},
		{"grpo:dim=0", "key dim: 0: want an integer >= 1"},
		{"gcd:correction=maybe", "key correction: \"maybe\" is not true or false"},
		{"gcd:cold=warm", "key cold: \"warm\""},
		{"grpo:tokenizer=bpe", "key tokenizer: \"bpe\" is not one of word, char"},
		{"grpo:twin_share=2", "key twin_share: 2: want a value in [0, 1]"},
		{"gcd:lambda", `"lambda": want KEY=VALUE`},
		{"gcd:lambda=", "key lambda has no value"},
		{"gcd:", "empty override"},
		{"gcd:lambda=1,lambda=2", "key lambda given twice"},
		{"gcd,lambda=0.5", `"lambda=0.5" follows gcd, which has no overrides`},
		{"gcd-lambda0,gcd:lambda=0", "the arm gcd-lambda0 is given twice"},
	} {
		_, err := parseArms("arms", tc.in)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "--arms: ") {
			t.Errorf("%q: %v, want a usage error with %q", tc.in, err, tc.want)
		}
	}
	// A configuration the trainer refuses names the arm and the field.
	arms, err := parseArms("arms", "grpo:dim=90")
	if err != nil {
		t.Fatal(err)
	}
	_, err = planRuns(t.TempDir(), trainer.PresetStudy, []string{"household"}, arms, []uint64{1}, coldVerdict, nil)
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "grpo-dim90") || !strings.Contains(err.Error(), "dim 90") {
		t.Errorf("dim 90 with 4 heads: %v", err)
	}
}

// TestPlanRunsSharedColdStart: every arm of an (environment, seed) starts
// from one cold start, GCD's recipe, except arms that change what a cold
// start does; those share theirs.
func TestPlanRunsSharedColdStart(t *testing.T) {
	out := filepath.Join("runs", "s")
	arms, err := parseArms("arms", "grpo,gcd,gcd-lambda0,gcd-nocorr,gcd-pg-corrected,gcd-noverdict-cold,grpo:dim=128,layers=4,gcd:layers=4,dim=128,gcd:cold=own")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := planRuns(out, trainer.PresetStudy, []string{"household", "lab"}, arms, []uint64{1, 2}, coldVerdict, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Runs) != len(arms)*4 {
		t.Fatalf("%d runs", len(plan.Runs))
	}
	var colds []string
	for _, c := range plan.ColdStarts {
		colds = append(colds, filepath.ToSlash(c.Dir))
		if c.Cfg.Iterations != 0 || c.Cfg.Eval.Every != 0 || c.Cfg.Init != "" || c.Cfg.Validate() != nil {
			t.Errorf("cold start %s: %+v", c.Dir, c.Cfg)
		}
	}
	var want []string
	for _, e := range []string{"household", "lab"} {
		for _, tag := range []string{"verdict", "plain", "verdict-dim128-layers4"} {
			for _, s := range []string{"1", "2"} {
				want = append(want, "runs/s/cold-start/"+e+"/"+tag+"/seed-"+s)
			}
		}
	}
	slices.Sort(colds)
	slices.Sort(want)
	if !slices.Equal(colds, want) {
		t.Errorf("cold starts\n%v\nwant\n%v", colds, want)
	}
	gcd, _ := trainer.Defaults(trainer.PresetStudy, trainer.AlgoGCD)
	grpo, _ := trainer.Defaults(trainer.PresetStudy, trainer.AlgoGRPO)
	for _, r := range plan.Runs {
		if want := filepath.Join(out, r.Env, r.Arm+"-"+strconv.FormatUint(r.Seed, 10)); r.Dir != want || r.Cfg.Run != r.Env+"-"+r.Arm+"-"+strconv.FormatUint(r.Seed, 10) {
			t.Errorf("run %s in %s", r.Cfg.Run, r.Dir)
		}
		if r.Arm == "gcd-coldown" {
			if r.Cold != -1 || r.Cfg.Init != "" || r.Cfg.ColdStart != gcd.ColdStart {
				t.Errorf("%s: init %q, cold start %+v", r.Cfg.Run, r.Cfg.Init, r.Cfg.ColdStart)
			}
			continue
		}
		c := plan.ColdStarts[r.Cold]
		tag := "verdict"
		switch r.Arm {
		case "gcd-noverdict-cold":
			tag = "plain"
		case "grpo-dim128-layers4", "gcd-layers4-dim128":
			tag = "verdict-dim128-layers4"
		}
		if c.Env != r.Env || c.Seed != r.Seed || filepath.Base(filepath.Dir(c.Dir)) != tag ||
			r.Cfg.Init != filepath.Join(c.Dir, trainer.CheckpointDir(0)) || r.Cfg.ColdStart != c.Cfg.ColdStart || r.Cfg.Model != c.Cfg.Model {
			t.Errorf("%s starts from %s (%+v)", r.Cfg.Run, c.Dir, r.Cfg)
		}
		// The shared recipe is GCD's cold start, and the plain one GRPO's.
		if tag == "verdict" && c.Cfg.ColdStart != gcd.ColdStart || tag == "plain" && c.Cfg.ColdStart != grpo.ColdStart {
			t.Errorf("%s: cold start %+v", c.Dir, c.Cfg.ColdStart)
		}
	}
	// --cold-start own: every run its own cold start, configured exactly
	// as before shared cold starts, so that such studies resume; an arm's
	// cold key still wins.
	arms, _ = parseArms("arms", "grpo,gcd,gcd:cold=verdict")
	own, err := planRuns(out, trainer.PresetStudy, []string{"lab"}, arms, []uint64{3}, coldOwn, nil)
	if err != nil || len(own.ColdStarts) != 1 || len(own.Runs) != 3 {
		t.Fatalf("--cold-start own: %+v, %v", own, err)
	}
	for _, r := range own.Runs[:2] {
		want, _ := trainer.Defaults(trainer.PresetStudy, r.Arm)
		want.Env, want.Seed, want.Run = "lab", 3, "lab-"+r.Arm+"-3"
		if r.Cfg != want || r.Cold != -1 {
			t.Errorf("--cold-start own, %s: %+v\nwant %+v", r.Arm, r.Cfg, want)
		}
	}
	if r := own.Runs[2]; r.Cold != 0 || r.Arm != "gcd-coldverdict" {
		t.Errorf("gcd:cold=verdict under --cold-start own: %+v", r)
	}

	// A moved study is the same study.
	r := plan.Runs[0]
	moved := r.Cfg
	moved.Init = filepath.Join("/elsewhere", moved.Init)
	if !sameConfig(moved, r.Cfg, out) {
		t.Error("a study under another path is another configuration")
	}
	moved.Update.LR *= 2
	if sameConfig(moved, r.Cfg, out) {
		t.Error("another learning rate is the same configuration")
	}
}

func TestParseSeeds(t *testing.T) {
	for in, want := range map[string][]uint64{"1,2,3": {1, 2, 3}, "1-10": {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, "0, 5-6": {0, 5, 6}} {
		if got, err := parseSeeds(in); err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"x", "-1", "3-1", "1,1", "1-3,2", ""} {
		if _, err := parseSeeds(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

// TestStudyCost: the cost is stated from the reference times, scaled by
// the runs' sizes, with the processor's name.
func TestStudyCost(t *testing.T) {
	arms, _ := parseArms("arms", "grpo,gcd")
	plan, err := planRuns(t.TempDir(), trainer.PresetStudy, []string{"household", "lab"}, arms, []uint64{1, 2, 3}, coldVerdict, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	printCost(&b, plan, 2, 2, 3)
	s := b.String()
	m := regexp.MustCompile(`cost: about (\d+) min on 2 cores`).FindStringSubmatch(s)
	if m == nil || !strings.Contains(s, "12 runs and 6 shared cold start(s)") || !strings.Contains(s, "480 RL iterations, 6 cold start(s)") ||
		!strings.Contains(s, "this machine: ") || !strings.Contains(s, "an estimate") {
		t.Fatalf("cost:\n%s", s)
	}
	// 12 runs x 40 iterations of ~2.7 s, 6 cold starts of ~45 s and 60
	// evaluations of ~5 s on 2 cores.
	if min, _ := strconv.Atoi(m[1]); min < 20 || min > 45 {
		t.Errorf("the study preset's study costs %d min", min)
	}
	// A larger model costs more, in proportion to its compute per token.
	small, _ := trainer.Defaults(trainer.PresetStudy, trainer.AlgoGRPO)
	big := small
	big.Model.Dim, big.Model.Layers = 128, 4
	if r := estimate(big, 0).CPU / estimate(small, 0).CPU; r < 4 || r > 8 {
		t.Errorf("d 128 x 4 layers costs %.1fx d 64 x 2", r)
	}
	// Character tokens cost their length, measured 3.9-7.5x (docs/actor.md).
	char := small
	char.Model.Tokenizer, char.Model.Context = "char", 1024
	if r := estimate(char, 0).CPU / estimate(small, 0).CPU; r < 3.9 || r > 7.5 {
		t.Errorf("char tokens cost %.1fx word tokens", r)
	}
	// Iterations already committed are not counted again.
	if a, b := estimate(small, 0), estimate(small, 20); !(b.CPU < a.CPU && b.Iterations == 20 && b.ColdStarts == 0) {
		t.Errorf("from 0: %+v; from 20: %+v", a, b)
	}
	// Timing lines calibrate the estimate: twice the reference time is
	// measured as twice.
	_, iter, _ := costParts(small)
	line := `{"iteration":1,"rollout_seconds":1,"update_seconds":1,"total_seconds":` + strconv.FormatFloat(2*iter/costParallel, 'g', -1, 64) + "}\n"
	measured, reference := timingCost(strings.NewReader(line+line), small)
	if d := measured/reference - 2; d > 1e-9 || d < -1e-9 {
		t.Errorf("measured %v, reference %v", measured, reference)
	}
}
