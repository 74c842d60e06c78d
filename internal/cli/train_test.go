package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/trainer"
	"github.com/gradcouple/gradcouple/trajlog"
)

// tinyTrainYAML is a configuration small enough to train in a second.
const tinyTrainYAML = `algo: gcd
seed: 3
iterations: 2
train_tasks: 10
checkpoint_every: 1
model: {dim: 8, layers: 1, heads: 2, context: 320, history: 1}
cold_start: {demos: 2, steps: 2, batch: 4}
rollout: {tasks: 2, group_size: 2, max_steps: 5}
eval: {every: 2, tasks: 2}
`

func TestTrainDryRun(t *testing.T) {
	out, stderr, code := run(t, "train", "--dry-run", "--algo", "gcd", "--lambda", "0.5", "--iterations", "7", "runs/x")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	cfg, err := trainer.DecodeConfig(strings.NewReader(out), "stdout", trainer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := trainer.Defaults(trainer.PresetDefault, trainer.AlgoGCD)
	want.Run, want.GCD.Lambda, want.Iterations = "x", 0.5, 7
	if cfg != want {
		t.Fatalf("dry run printed\n%+v\nwant\n%+v", cfg, want)
	}
	// The quick preset and a file: the file over the preset, flags over the file.
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte("algo: gcd\nseed: 9\nrollout: {tasks: 5}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = run(t, "train", "--dry-run", "--preset", "quick", "--config", file, "--tasks", "6", "runs/y")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	cfg, err = trainer.DecodeConfig(strings.NewReader(out), "stdout", trainer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ = trainer.Defaults(trainer.PresetQuick, trainer.AlgoGCD)
	want.Run, want.Seed, want.Rollout.Tasks = "y", 9, 6
	if cfg != want {
		t.Fatalf("dry run printed\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestTrainAndResume(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "tiny.yaml")
	if err := os.WriteFile(file, []byte(tinyTrainYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "runs", "tiny")
	out, stderr, code := run(t, "train", "--config", file, dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"cold start 2/2", "iter 0/2  train", "iter 2/2  eval-in", "2 iterations in", "eval_in~"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	recs, err := trajlog.ReadAll(filepath.Join(dir, "logs"), trajlog.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || recs[0].Run != "tiny" {
		t.Fatalf("%d records, first %+v", len(recs), recs[0])
	}
	// A finished run: --resume says so; a new run in the same directory is refused.
	out, stderr, code = run(t, "train", "--resume", dir)
	if code != 0 || !strings.Contains(out, "already finished") {
		t.Fatalf("resume of a finished run: exit %d: %s%s", code, out, stderr)
	}
	if _, stderr, code = run(t, "train", "--config", file, dir); code != ExitBadInput || !strings.Contains(stderr, "not empty") {
		t.Fatalf("second run in %s: exit %d: %s", dir, code, stderr)
	}
}

func TestTrainUsageErrors(t *testing.T) {
	tmp := t.TempDir()
	bad := filepath.Join(tmp, "bad.yaml")
	os.WriteFile(bad, []byte("rollout: {taskz: 3}\n"), 0o644)
	for _, args := range [][]string{
		{"train"},
		{"train", "--algo", "ppo", "x"},
		{"train", "--preset", "huge", "x"},
		{"train", "--lambda", "1", "x"}, // GCD parts need --algo gcd
		{"train", "--clip", "2", "x"},
		{"train", "--env", "kitchen", "x"},
		{"train", "--resume", "--seed", "3", "x"},
		{"train", "--config", bad, "x"},
		{"train", "--config", filepath.Join(tmp, "missing.yaml"), "x"},
		{"train", "--resume", filepath.Join(tmp, "norun")},
	} {
		_, stderr, code := run(t, args...)
		if code != ExitBadInput {
			t.Errorf("%v: exit %d, want %d: %s", args, code, ExitBadInput, stderr)
		}
	}
}

func TestTrainSummaryWindows(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	var lines []trainer.Metrics
	for i := 0; i <= 4; i++ {
		m := trainer.Metrics{Iteration: i}
		if i < 4 {
			m.TrainSuccess, m.VerdictAcc = f(float64(i)/10), f(0.5)
		}
		if i%2 == 0 {
			m.EvalInGreedy = f(float64(i))
		}
		lines = append(lines, m)
	}
	var b strings.Builder
	if err := writeTrainSummary(&b, lines); err != nil {
		t.Fatal(err)
	}
	// rows 0 (iteration 0 alone), 2 (iteration 1), 4 (iterations 2-3: mean 0.25)
	for _, want := range []string{"0-0", "1-1", "2-3", "0.25"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

// TestTrainMalformedConfig: every configuration file of testdata/malformed (config-*)
// is refused with exit status 2, an error naming the file, and no run
// directory.
func TestTrainMalformedConfig(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "malformed", "config-*"))
	if err != nil || len(files) < 5 {
		t.Fatalf("fixtures: %v %v", files, err)
	}
	for _, f := range files {
		dir := filepath.Join(t.TempDir(), "run")
		_, stderr, code := run(t, "train", "--config", f, "--dry-run", dir)
		if code != 2 || !strings.Contains(stderr, f) {
			t.Errorf("%s: exit %d, stderr %q; want 2 naming the file", f, code, stderr)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s: %s was created", f, dir)
		}
	}
}
