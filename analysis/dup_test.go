package analysis

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/metrics"
	"github.com/gradcouple/gradcouple/trajlog"
)

// TestDuplicateStepRecords: a log file and its copy under a second name
// hold every step twice. Inspect lists the duplicates as problems (and counts
// each step once); repetition, consistency and advantage refuse the logs
// with a bad-input error naming the file and the duplicate key.
func TestDuplicateStepRecords(t *testing.T) {
	cfg := synthConfig{Iterations: 1, Tasks: 3, G: 4, Turns: 3, Q: 0.5, R: 0.2, P: 0.6, PromptBytes: 30, Seed: 2}
	dir := writeSynth(t, t.TempDir(), cfg)
	files, _ := filepath.Glob(filepath.Join(dir, "logs", "*.parquet"))
	if len(files) != 1 {
		t.Fatalf("synthetic logs: %v", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	dup := filepath.Join(t.TempDir(), "copy.parquet")
	logs := []string{files[0], dup}
	if err := os.WriteFile(dup, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rep, err := Inspect(ctx, logs)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range rep.Problems {
		if p.Kind == "duplicate-step" && strings.Contains(p.Detail, "copy.parquet") {
			n++
		}
	}
	if want := cfg.Tasks * cfg.G * cfg.Turns; n != want {
		t.Errorf("inspect: %d duplicate-step problems naming copy.parquet, want %d", n, want)
	}
	for _, r := range rep.Rows {
		if r.Steps != int64(cfg.Tasks*cfg.G*cfg.Turns) {
			t.Errorf("inspect counted %d steps, want %d (each once)", r.Steps, cfg.Tasks*cfg.G*cfg.Turns)
		}
	}
	check := func(name string, err error) {
		t.Helper()
		var de *DuplicateError
		if !errors.As(err, &de) || !de.BadInput() || !strings.Contains(err.Error(), "copy.parquet") || !strings.Contains(err.Error(), "traj_id") {
			t.Errorf("%s on duplicated logs: err = %v, want a DuplicateError naming copy.parquet and the key", name, err)
		}
	}
	_, _, err = Repetition(ctx, logs, LogFilter{})
	check("repetition", err)
	_, _, _, err = Consistency(ctx, logs, LogFilter{}, metrics.ConsistencyConfig{})
	check("consistency", err)
	_, _, _, err = Advantage(ctx, logs, AdvantageOptions{})
	check("advantage", err)
	// The same records once are fine.
	if _, _, err := Repetition(ctx, []string{files[0]}, LogFilter{}); err != nil {
		t.Errorf("repetition on one copy: %v", err)
	}
}

// TestZeroStdSkipsSingletons: zero_std_frac counts groups of two or more
// only; a singleton group has a non-zero advantage in verl (mean 0, std 1),
// so it is not a group without signal.
func TestZeroStdSkipsSingletons(t *testing.T) {
	rec := func(group, traj string, outcome float32) trajlog.Record {
		return trajlog.Record{Run: "r", Iteration: 0, Split: trajlog.SplitTrain, Env: "household", TaskType: "pick", TaskID: group,
			GroupID: group, TrajID: traj, StateKey: "s", Prompt: "p", Action: "look", Valid: true, Label: trajlog.LabelUnknown,
			Outcome: outcome, Success: outcome > 0}
	}
	recs := []trajlog.Record{
		rec("solo", "a", 1),                      // singleton: not counted
		rec("same", "b", 1), rec("same", "c", 1), // zero std
		rec("diff", "d", 1), rec("diff", "e", 0), // signal
	}
	// Advantages as verl computes them (std, eps 1e-6).
	recs[0].Advantage = 1 // verl: (1 - 0) / 1 for a singleton
	recs[3].Advantage, recs[4].Advantage = 0.7071063, -0.7071063
	path := filepath.Join(t.TempDir(), "steps.jsonl")
	if err := trajlog.WriteFile(path, recs, trajlog.Meta{Run: "r"}); err != nil {
		t.Fatal(err)
	}
	rep, err := Inspect(context.Background(), []string{path})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 || math.Abs(rep.Rows[0].ZeroStdFrac-0.5) > 1e-12 {
		t.Fatalf("zero_std_frac rows %+v, want one row with 0.5 (1 of the 2 groups of two or more)", rep.Rows)
	}
}
