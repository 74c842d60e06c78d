package analysis

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gradcouple/gradcouple/policy"
	"github.com/gradcouple/gradcouple/trainer"
)

// driftRun trains a tiny GRPO run (a cold start of 3 demonstrations and
// nothing else) into dir.
func driftRun(t *testing.T, dir string, freeze bool) {
	t.Helper()
	c, err := trainer.Defaults(trainer.PresetDefault, trainer.AlgoGRPO)
	if err != nil {
		t.Fatal(err)
	}
	c.Seed, c.Iterations, c.TrainTasks, c.CheckpointEvery = 3, 0, 10, 1
	c.Model = trainer.ModelConfig{Dim: 8, Layers: 1, Heads: 2, Context: 320, History: 1}
	c.ColdStart = trainer.ColdStartConfig{Demos: 3, Steps: 6, Batch: 4, LR: 1e-2, FreezeUnseen: freeze}
	c.Rollout.Tasks, c.Rollout.GroupSize, c.Rollout.MaxSteps = 1, 2, 4
	c.Eval.Every = 0
	if _, err := trainer.Run(context.Background(), c, trainer.Options{Dir: dir, Version: "test"}); err != nil {
		t.Fatal(err)
	}
}

// TestDrift: the initial model is unmoved; after a cold start without
// freezing every unseen row has moved, in one common direction; a run
// with freeze_unseen (same seed, so the same initial model) leaves them bit
// for bit in place while its seen rows train.
func TestDrift(t *testing.T) {
	tmp := t.TempDir()
	plain, frozen := filepath.Join(tmp, "plain"), filepath.Join(tmp, "frozen")
	driftRun(t, plain, false)
	driftRun(t, frozen, true)
	rep, err := Drift(context.Background(), plain, DriftOptions{
		Checkpoints: []string{filepath.Join(frozen, trainer.CheckpointDir(0))}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Env != "household" || rep.Tokenizer != policy.TokenizerWord || rep.FreezeUnseen || len(rep.Unseen) == 0 ||
		!slices.Contains(rep.Unseen, "bodax") || len(rep.Rows) != 2*3 {
		t.Fatalf("report %+v", rep)
	}
	row := func(model, group string) DriftRow {
		for _, r := range rep.Rows {
			if r.Model == model && r.Group == group {
				return r
			}
		}
		t.Fatalf("no row %s %s", model, group)
		return DriftRow{}
	}
	n := len(rep.Unseen)
	if r := row("init", DriftUnseen); r.Rows != n || r.Moved != 0 || r.Shift != 0 || !math.IsNaN(r.ShiftCos) || r.InitCos != 1 {
		t.Errorf("init: %+v", r)
	}
	cs := row("iter-000000", DriftUnseen)
	if cs.Moved != n || !(cs.ShiftCos > 0.5) || !(cs.Cos > row("init", DriftUnseen).Cos) {
		t.Errorf("cold start without freezing: %+v", cs)
	}
	t.Logf("cold start, unseen rows: %+v", cs)
	fz := row(filepath.Join(frozen, trainer.CheckpointDir(0)), DriftUnseen)
	if fz.Moved != 0 || fz.Shift != 0 || fz.Norm != row("init", DriftUnseen).Norm {
		t.Errorf("cold start with freezing: %+v", fz)
	}
	if r := row(filepath.Join(frozen, trainer.CheckpointDir(0)), DriftSeen); r.Moved != r.Rows {
		t.Errorf("cold start with freezing, seen rows: %+v", r)
	}

	// Another vocabulary is refused.
	labDir := filepath.Join(tmp, "lab")
	m, err := policy.NewModel(policy.Config{VocabSize: 7, Context: 16, Dim: 8, Layers: 1, Heads: 2}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := policy.Save(labDir, m, policy.NewTokenizer([]string{"x"}), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Drift(context.Background(), plain, DriftOptions{Checkpoints: []string{labDir}}); err == nil {
		t.Error("a checkpoint of another vocabulary: no error")
	}
	if _, err := Drift(context.Background(), tmp, DriftOptions{}); err == nil {
		t.Error("not a run directory: no error")
	}
}

// TestEmbeddingDrift checks the formulas on hand-set rows: the pair mean
// of cosines from the sum of unit vectors against the direct mean, shifts
// and moved rows.
func TestEmbeddingDrift(t *testing.T) {
	cfg := policy.Config{VocabSize: 10, Context: 4, Dim: 3, Layers: 1, Heads: 1}
	init, err := policy.NewModel(cfg, rand.New(rand.NewPCG(5, 6)))
	if err != nil {
		t.Fatal(err)
	}
	m := init.Clone()
	wte := embeddingRows(m)
	ids := []int{6, 7, 8}
	// Rows 6 and 7 shift by the same vector, row 8 stays.
	for _, id := range ids[:2] {
		wte[id*3] += 0.5
	}
	r := EmbeddingDrift("m", "g", init, m, ids)
	if r.Rows != 3 || r.Moved != 2 || math.Abs(r.Shift-2*0.5/3) > 1e-15 || math.Abs(r.ShiftCos-1) > 1e-12 {
		t.Errorf("%+v", r)
	}
	rows := [][]float64{wte[18:21], wte[21:24], wte[24:27]}
	var want float64
	for i := range rows {
		for j := range i {
			want += rowCosine(rows[i], rows[j]) / 3
		}
	}
	if math.Abs(r.Cos-want) > 1e-12 {
		t.Errorf("cos %v, direct mean %v", r.Cos, want)
	}
	if one := EmbeddingDrift("m", "g", init, m, ids[:1]); !math.IsNaN(one.Cos) || !math.IsNaN(one.ShiftCos) {
		t.Errorf("one row: %+v", one)
	}
	if none := EmbeddingDrift("m", "g", init, m, nil); none.Rows != 0 || !math.IsNaN(none.Norm) {
		t.Errorf("no rows: %+v", none)
	}
}
