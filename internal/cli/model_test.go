package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/policy"
	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/parquet-go/parquet-go"
)

// modelFixture samples a household log with `env sample` and writes a
// small checkpoint with `model init`.
func modelFixture(t *testing.T) (dir, log, ck string) {
	t.Helper()
	dir = t.TempDir()
	log = filepath.Join(dir, "h.parquet")
	ck = filepath.Join(dir, "ck")
	if _, stderr, code := run(t, "env", "sample", "--env", "household", "--tasks", "3", "--group-size", "2", "--seed", "4", "--out", log); code != 0 {
		t.Fatalf("env sample: exit %d: %s", code, stderr)
	}
	out, stderr, code := run(t, "model", "init", "--out", ck, "--env", "household", "--dim", "16", "--layers", "2", "--heads", "2", "--seed", "3")
	if code != 0 {
		t.Fatalf("model init: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "GPT-2 actor, seed 3: vocabulary of household (") || !strings.Contains(out, "wrote "+ck) {
		t.Fatalf("model init output:\n%s", out)
	}
	return dir, log, ck
}

// TestModelCommands runs init, score and grads end to end and checks the
// outputs against the policy package.
func TestModelCommands(t *testing.T) {
	dir, log, ck := modelFixture(t)
	c, err := checkpoint.Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	if g := c.Config.Gradcouple; g.Env != "household" || g.Seed != 3 || c.Config.NEmbd != 16 || c.Config.NPositions != 256 {
		t.Fatalf("config %+v %+v", c.Config, g)
	}
	m, tok, err := policy.Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := trajlog.ReadAll(log, trajlog.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []policy.Seq
	for _, r := range recs {
		s, err := tok.EncodePair(r.Prompt, r.Action, m.Config().Context)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, s)
	}

	// score
	table := filepath.Join(dir, "scores.parquet")
	out, stderr, code := run(t, "model", "score", "--checkpoint", ck, "--samples", log, "--out", table, "--show", "3")
	if code != 0 {
		t.Fatalf("model score: exit %d: %s", code, stderr)
	}
	for _, want := range []string{strconv.Itoa(len(recs)) + " step records from 1 file(s)", "0 out of the vocabulary",
		"logged_logprob", "... " + strconv.Itoa(len(recs)-3) + " more rows", "wrote " + table} {
		if !strings.Contains(out, want) {
			t.Errorf("score output lacks %q:\n%s", want, out)
		}
	}
	rows, err := parquet.ReadFile[analysis.ScoreRow](table)
	if err != nil {
		t.Fatal(err)
	}
	lp := m.LogProbs(nil, seqs)
	if len(rows) != len(recs) {
		t.Fatalf("%d score rows, want %d", len(rows), len(recs))
	}
	for i, r := range rows {
		if r.LogProb != lp[i] || r.Action != recs[i].Action || r.PromptTokens != int32(len(seqs[i].Prompt)) {
			t.Fatalf("row %d: %+v, want logprob %v", i, r, lp[i])
		}
	}

	// grads, over two tensors
	gpath := filepath.Join(dir, "grads.safetensors")
	out, stderr, code = run(t, "model", "grads", "--checkpoint", ck, "--samples", log, "--out", gpath,
		"--tensors", "transformer.wpe.weight, transformer.h.1.mlp.")
	if code != 0 {
		t.Fatalf("model grads: exit %d: %s", code, stderr)
	}
	sel, _ := m.Select("transformer.wpe.weight", "transformer.h.1.mlp.")
	D := m.SelectionDim(sel)
	for _, want := range []string{"grad log pi(a_n | s_n): " + strconv.Itoa(len(recs)) + " x " + strconv.Itoa(D) + " F32",
		"over 5 of 28 tensors", "transformer.h.1.mlp.c_proj.bias", "wrote " + gpath, "wrote " + filepath.Join(dir, "grads.samples.parquet")} {
		if !strings.Contains(out, want) {
			t.Errorf("grads output lacks %q:\n%s", want, out)
		}
	}
	f, err := checkpoint.OpenFile(gpath, checkpoint.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, shape, err := f.Float32("grads")
	if err != nil {
		t.Fatal(err)
	}
	if want := m.PerSampleGrads32(nil, policy.ActionTerms(seqs), sel); !slices.Equal(shape, []int{len(recs), D}) || !slices.Equal(got, want) {
		t.Fatalf("grads %v differ from PerSampleGrads32 rows", shape)
	}
	if !strings.Contains(f.Metadata()["params"], `{"name":"transformer.wpe.weight","offset":0,"shape":[256,16]}`) {
		t.Errorf("params metadata %s", f.Metadata()["params"])
	}
	samples, err := parquet.ReadFile[analysis.GradSample](filepath.Join(dir, "grads.samples.parquet"))
	if err != nil || len(samples) != len(recs) || samples[5].StateKey != recs[5].StateKey || samples[5].LogProb != lp[5] {
		t.Fatalf("samples: %d rows, %v", len(samples), err)
	}
}

// TestModelExitCodes: bad flags, missing or broken inputs and pairs longer
// than the context exit 2 with a message naming the problem, and leave no
// output file behind.
func TestModelExitCodes(t *testing.T) {
	dir, log, ck := modelFixture(t)
	recs, err := trajlog.ReadAll(log, trajlog.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	recs[4].Prompt = strings.Repeat("you see a cabinet 1. ", 50)
	long := filepath.Join(dir, "long.jsonl")
	if err := trajlog.WriteFile(long, recs, trajlog.Meta{}); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken")
	if err := os.MkdirAll(broken, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{checkpoint.ConfigFileName, checkpoint.VocabFileName} {
		b, _ := os.ReadFile(filepath.Join(ck, name))
		os.WriteFile(filepath.Join(broken, name), b, 0o644)
	}
	b, _ := os.ReadFile(filepath.Join(ck, checkpoint.ModelFileName))
	os.WriteFile(filepath.Join(broken, checkpoint.ModelFileName), b[:len(b)/2], 0o644)
	out := filepath.Join(dir, "out")
	os.MkdirAll(out, 0o755)
	g := filepath.Join(out, "g.safetensors")

	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"model", "init"}, "out"},
		{[]string{"model", "init", "--out", filepath.Join(out, "m"), "--env", "kitchen"}, `--env "kitchen"`},
		{[]string{"model", "init", "--out", filepath.Join(out, "m"), "--dim", "10", "--heads", "4"}, "does not divide"},
		{[]string{"model", "init", "--out", filepath.Join(out, "m"), "--layers", "0"}, "want --dim"},
		{[]string{"model", "score", "--samples", log}, "checkpoint"},
		{[]string{"model", "score", "--checkpoint", filepath.Join(dir, "nope"), "--samples", log}, "nope"},
		{[]string{"model", "score", "--checkpoint", broken, "--samples", log}, "truncated"},
		{[]string{"model", "score", "--checkpoint", ck, "--samples", filepath.Join(dir, "none.parquet")}, "none.parquet"},
		{[]string{"model", "score", "--checkpoint", ck, "--samples", long}, long + ": row 5: field prompt, action:"},
		{[]string{"model", "score", "--checkpoint", ck, "--samples", log, "--out", filepath.Join(out, "s.xlsx")}, "xlsx"},
		{[]string{"model", "grads", "--checkpoint", ck, "--samples", long, "--out", g}, long + ": row 5"},
		{[]string{"model", "grads", "--checkpoint", ck, "--samples", log, "--out", filepath.Join(out, "g.npy")}, "FILE.safetensors"},
		{[]string{"model", "grads", "--checkpoint", ck, "--samples", log, "--out", g, "--tensors", "transformer.h.7."}, "--tensors"},
		{[]string{"model", "grads", "--checkpoint", ck, "--samples", log, "--out", g, "--limit", "-1"}, "--limit"},
	} {
		_, stderr, code := run(t, tc.args...)
		if code != ExitBadInput || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, ExitBadInput, tc.msg)
		}
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("left behind %v", names)
	}
}
