package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/trainer"
)

// tinyConfig shrinks a preset's run to a unit-test size (as trainTinyRun).
func tinyConfig(c *trainer.Config) {
	c.Iterations, c.TrainTasks, c.CheckpointEvery = 2, 20, 2
	c.Model = trainer.ModelConfig{Dim: 8, Layers: 1, Heads: 2, Context: 320, History: 1}
	c.ColdStart.Demos, c.ColdStart.Steps, c.ColdStart.Batch, c.ColdStart.LR = 20, 40, 16, 3e-2
	c.Rollout.Tasks, c.Rollout.GroupSize, c.Rollout.MaxSteps = 3, 4, 10
	c.Update.Epochs, c.Update.MiniBatches, c.Update.LR = 1, 1, 1e-2
	c.Eval = trainer.EvalConfig{Every: 2, Tasks: 4, Greedy: true}
}

func TestStudyTrainsAnalysesAndExports(t *testing.T) {
	if testing.Short() {
		t.Skip("trains four tiny runs")
	}
	root := t.TempDir()
	out, export := filepath.Join(root, "study"), filepath.Join(root, "nb")
	sf := StudyFlags{Seed: 3, ConsistencyStates: 4, CouplingProbes: 16, MinVisits: 2, Resamples: 100}
	arms, err := parseArms("arms", "grpo,gcd")
	if err != nil {
		t.Fatal(err)
	}
	o := StudyOptions{Out: out, Envs: []string{"household"}, Arms: arms, Seeds: []uint64{1, 2},
		Preset: trainer.PresetQuick, Jobs: 2, Export: export, Study: sf, tweak: tinyConfig}
	e, stdout, stderr := testEnv()
	if err := runStudy(context.Background(), o, e); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	// The cost is stated before training starts.
	if i, j := strings.Index(stderr.String(), "cost: about"), strings.Index(stderr.String(), "training into"); i < 0 || j < i ||
		!strings.Contains(stderr.String(), "on 2 cores") || !strings.Contains(stderr.String(), "this machine: ") {
		t.Errorf("stderr states no cost before training:\n%s", stderr)
	}
	for _, seed := range []string{"1", "2"} {
		cold := filepath.Join(out, "cold-start", "household", "verdict", "seed-"+seed)
		coldMan, err := trainer.ReadManifest(cold)
		if err != nil || coldMan.Finished == "" || coldMan.Config.Iterations != 0 || coldMan.Config.ColdStart.VerdictWeight == 0 {
			t.Fatalf("cold start %s: %v (%+v)", cold, err, coldMan)
		}
		// Every arm of the seed starts from the shared cold start: the
		// same weights at iteration 0 (the files differ in their metadata:
		// run name and algorithm), and the same evaluation there.
		want := weightsHash(t, filepath.Join(cold, trainer.CheckpointDir(0), "model.safetensors"))
		var eval0 []string
		for _, arm := range []string{"grpo", "gcd"} {
			dir := filepath.Join(out, "household", arm+"-"+seed)
			if got := weightsHash(t, filepath.Join(dir, trainer.CheckpointDir(0), "model.safetensors")); got != want {
				t.Errorf("%s: checkpoint 0 %s, the shared cold start's %s", dir, got, want)
			}
			man, err := trainer.ReadManifest(dir)
			if err != nil || man.Config.Init != filepath.Join(cold, trainer.CheckpointDir(0)) || man.Config.ColdStart != coldMan.Config.ColdStart {
				t.Errorf("%s: init %q, cold start %+v: %v", dir, man.Config.Init, man.Config.ColdStart, err)
			}
			lines, err := analysis.ReadMetricsFile(filepath.Join(dir, trainer.MetricsFile))
			if err != nil || len(lines) == 0 {
				t.Fatal(err)
			}
			eval0 = append(eval0, fmt.Sprint(lines[0].Values[analysis.MetricEvalInGreedy], lines[0].Values[analysis.MetricEvalOutGreedy], lines[0].Values["eval_verdict_acc"]))
		}
		if eval0[0] != eval0[1] {
			t.Errorf("seed %s: evaluation at iteration 0 differs between the arms: %v", seed, eval0)
		}
	}
	for _, run := range []string{"grpo-1", "grpo-2", "gcd-1", "gcd-2"} {
		man, err := trainer.ReadManifest(filepath.Join(out, "household", run))
		if err != nil || man.Finished == "" {
			t.Fatalf("%s: %v (finished %q)", run, err, man.Finished)
		}
		if want := "household-" + run; man.Config.Run != want {
			t.Errorf("run name %q, want %q", man.Config.Run, want)
		}
	}
	for _, f := range []string{"report.html", "figures/f-learning-curves.png", "figures/i-final.svg"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	for _, f := range []string{"curves.parquet", "curves.csv", "final.csv", "improvement.parquet", "coupling.csv", "paired.csv"} {
		if _, err := os.Stat(filepath.Join(export, f)); err != nil {
			t.Error(err)
		}
	}
	// The per-family success of the runs' evaluations is compared too.
	for _, f := range []string{"final.csv", "paired.csv"} {
		b, _ := os.ReadFile(filepath.Join(export, f))
		if !strings.Contains(string(b), analysis.MetricEvalInGreedy+"/") {
			t.Errorf("%s has no per-family rows:\n%s", f, b)
		}
	}
	if s := stdout.String(); !strings.Contains(s, "4 runs studied") || !strings.Contains(s, "group gcd: 2 run(s)") || !strings.Contains(s, "mde_80") {
		t.Errorf("stdout lacks the groups, the paired differences or the summary line:\n%s", s)
	}

	// Again: every run is finished, nothing is retrained.
	e, _, stderr = testEnv()
	if err := runStudy(context.Background(), o, e); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stderr.String(), "already finished:"); n != 6 || !strings.Contains(stderr.String(), "cost: nothing left to train") {
		t.Errorf("second study: %d runs already finished, want 6 (4 arms' and 2 cold starts):\n%s", n, stderr)
	}

	// A run directory of another configuration is refused, naming it.
	o.Seeds = []uint64{1}
	o.tweak = func(c *trainer.Config) { tinyConfig(c); c.Update.LR = 5e-3 }
	e, _, _ = testEnv()
	err = runStudy(context.Background(), o, e)
	var bi interface{ BadInput() bool }
	if err == nil || !errors.As(err, &bi) || !strings.Contains(err.Error(), filepath.Join(out, "household", "grpo-1")) {
		t.Errorf("study over a different run: %v, want bad input naming the directory", err)
	}
}

// weightsHash is the SHA-256 of a safetensors file's tensors: its header
// without the metadata (run name, algorithm, ...) and its data.
func weightsHash(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 8 {
		t.Fatalf("%s: %d bytes", path, len(b))
	}
	n := binary.LittleEndian.Uint64(b[:8])
	var header map[string]json.RawMessage
	if n > uint64(len(b)-8) || json.Unmarshal(b[8:8+n], &header) != nil {
		t.Fatalf("%s: bad safetensors header", path)
	}
	delete(header, "__metadata__")
	h := sha256.New()
	enc, _ := json.Marshal(header)
	h.Write(enc)
	h.Write(b[8+n:])
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestStudyFlags(t *testing.T) {
	for _, args := range [][]string{
		{"study", "--envs", "kitchen"},
		{"study", "--algos", "ppo"},
		{"study", "--arms", "gcd:foo=1"},
		{"study", "--arms", "grpo:lambda=0.5"},
		{"study", "--arms", "grpo:dim=90"},
		{"study", "--seeds", "x"},
		{"study", "--seeds", "3-1"},
		{"study", "--cold-start", "warm"},
		{"study", "--preset", "huge"},
		{"study", "extra"},
		{"quickstart", "extra"},
	} {
		if _, stderr, code := run(t, args...); code != 2 || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a message", args, code, stderr)
		}
	}
}

// testEnv is an Env on buffers, for calling a command's function directly.
func testEnv() (*Env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Now: time.Now,
		Log: slog.New(slog.NewTextHandler(&errb, &slog.HandlerOptions{Level: slog.LevelWarn}))}, &out, &errb
}
