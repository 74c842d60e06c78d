package cli

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	o := StudyOptions{Out: out, Envs: []string{"household"}, Algos: []string{"grpo", "gcd"}, Seeds: []uint64{1, 2},
		Preset: trainer.PresetQuick, Jobs: 2, Export: export, Study: sf, tweak: tinyConfig}
	e, stdout, stderr := testEnv()
	if err := runStudy(context.Background(), o, e); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
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
	for _, f := range []string{"curves.parquet", "curves.csv", "final.csv", "improvement.parquet", "coupling.csv"} {
		if _, err := os.Stat(filepath.Join(export, f)); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(stdout.String(), "4 runs studied") {
		t.Errorf("stdout lacks the summary line:\n%s", stdout)
	}

	// Again: every run is finished, nothing is retrained.
	e, _, stderr = testEnv()
	if err := runStudy(context.Background(), o, e); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stderr.String(), "already finished"); n != 4 {
		t.Errorf("second study: %d runs already finished, want 4:\n%s", n, stderr)
	}

	// A run directory of another configuration is refused, naming it.
	o.Seeds = []uint64{1}
	o.tweak = func(c *trainer.Config) { tinyConfig(c); c.Update.LR = 5e-3 }
	e, _, _ = testEnv()
	err := runStudy(context.Background(), o, e)
	var bi interface{ BadInput() bool }
	if err == nil || !errors.As(err, &bi) || !strings.Contains(err.Error(), filepath.Join(out, "household", "grpo-1")) {
		t.Errorf("study over a different run: %v, want bad input naming the directory", err)
	}
}

func TestStudyFlags(t *testing.T) {
	for _, args := range [][]string{
		{"study", "--envs", "kitchen"},
		{"study", "--algos", "ppo"},
		{"study", "--seeds", "x"},
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
