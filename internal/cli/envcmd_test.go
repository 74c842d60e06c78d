package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/trajlog"
)

// runWithStdin runs gradcouple with args and the given standard input.
func runWithStdin(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &Env{
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errb,
		Now:    func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
	}
	err := Run(context.Background(), append([]string{"gradcouple"}, args...), e)
	if err != nil {
		errb.WriteString("gradcouple: " + err.Error() + "\n")
	}
	return out.String(), errb.String(), ExitCode(err)
}

// TestEnvPlayScripted plays a task to the end by feeding the oracle's
// demonstration on stdin (once as texts, once as numbers of the admissible
// list).
func TestEnvPlayScripted(t *testing.T) {
	for _, name := range env.Names() {
		task, err := env.NewTask(name, env.SplitEvalOut, 7)
		if err != nil {
			t.Fatal(err)
		}
		demo, err := env.Demonstration(task)
		if err != nil {
			t.Fatal(err)
		}
		out, stderr, code := runWithStdin(t, strings.Join(demo, "\n")+"\n",
			"env", "play", "--env", name, "--split", "eval-out", "--seed", "7", "--oracle", "--prompt")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, stderr)
		}
		for _, want := range []string{"Task " + task.ID, "Goal: " + task.Goal, "Admissible actions:", "Optimal: ", "--- prompt ---",
			"Solved in " + strconv.Itoa(len(demo)) + " steps (the oracle plan from the start has " + strconv.Itoa(len(demo)) + ")."} {
			if !strings.Contains(out, want) {
				t.Fatalf("%s: output lacks %q:\n%s", name, want, out)
			}
		}
		// By number: replay, choosing each demo action's index.
		g, _, _ := env.Start(task)
		var nums []string
		for _, a := range demo {
			for i, b := range g.Admissible() {
				if a == b {
					nums = append(nums, strconv.Itoa(i+1))
				}
			}
			g.Step(a)
		}
		out, _, code = runWithStdin(t, strings.Join(nums, "\n")+"\n", "env", "play", "--env", name, "--split", "eval-out", "--seed", "7")
		if code != 0 || !strings.Contains(out, "Solved in ") {
			t.Fatalf("%s: by numbers: exit %d\n%s", name, code, out)
		}
	}
	// Nonsense costs steps; end of input stops quietly.
	out, _, code := runWithStdin(t, "dance\nsing\n", "env", "play", "--env", "lab", "--seed", "3")
	if code != 0 || strings.Count(out, ". Nothing happens.") != 2 || !strings.Contains(out, "Stopped after 2 steps.") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	out, _, _ = runWithStdin(t, "quit\n", "env", "play")
	if !strings.Contains(out, "Stopped after 0 steps.") {
		t.Fatalf("quit:\n%s", out)
	}
}

// TestEnvSampleFeedsDiagnostics writes step records with groups and checks
// that the log diagnostics run on them.
func TestEnvSampleFeedsDiagnostics(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "household.parquet")
	summary := filepath.Join(dir, "summary.csv")
	out, stderr, code := run(t, "env", "sample", "--env", "household", "--split", "train", "--tasks", "6", "--group-size", "10",
		"--policy", "mix", "--eps", "0.3", "--seed", "5", "--grpo-advantage", "--out", logs, "--summary-out", summary)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "6 household train tasks (seeds 5..10) x 10 rollouts with policy mix (eps 0.3)") ||
		!strings.Contains(out, "wrote "+logs) || !strings.Contains(out, "label_accuracy") {
		t.Fatalf("output:\n%s", out)
	}
	recs, err := trajlog.ReadAll(logs, trajlog.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || recs[0].TaskID != "household/train/5" || recs[0].Prompt == "" {
		t.Fatalf("%d records, first %+v", len(recs), recs[0])
	}
	if b, err := os.ReadFile(summary); err != nil || !strings.HasPrefix(string(b), "env,split,family,") {
		t.Fatalf("summary file: %v %q", err, b)
	}
	for _, args := range [][]string{
		{"inspect", logs},
		{"repetition", logs},
		{"consistency", "--k", "5", "--threshold", "3", logs},
		{"advantage", "--min-visits", "5", "--resamples", "200", logs},
	} {
		out, stderr, code := run(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s\n%s", args, code, stderr, out)
		}
		if !strings.Contains(out, "step records from 1 file") {
			t.Errorf("%v:\n%s", args, out)
		}
	}
	// JSONL works too, and the output is deterministic.
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	for _, f := range []string{a, b} {
		if _, stderr, code := run(t, "env", "sample", "--env", "lab", "--tasks", "3", "--group-size", "2", "--policy", "random", "--out", f); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	}
	ba, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if len(ba) == 0 || !bytes.Equal(ba, bb) {
		t.Fatal("env sample is not deterministic")
	}
}

func TestEnvStats(t *testing.T) {
	dir := t.TempDir()
	fam, spl := filepath.Join(dir, "families.json"), filepath.Join(dir, "splits.csv")
	out, stderr, code := run(t, "env", "stats", "--tasks", "12", "--out", fam, "--splits-out", spl)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"train_overlap", "jaccard_oracle", "prompt_tokens_max", "pick_two_obj_and_place", "power_component", "eval-out"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, f := range []string{fam, spl} {
		if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestEnvUsageErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.parquet")
	for _, args := range [][]string{
		{"env", "play", "--env", "kitchen"},
		{"env", "play", "--split", "test"},
		{"env", "play", "--history", "-1"},
		{"env", "play", "extra"},
		{"env", "sample", "--tasks", "2"},
		{"env", "sample", "--out", filepath.Join(dir, "x.csv")},
		{"env", "sample", "--policy", "greedy", "--out", out},
		{"env", "sample", "--eps", "1.5", "--out", out},
		{"env", "sample", "--tasks", "0", "--out", out},
		{"env", "sample", "--judge-j", "0", "--out", out},
		{"env", "sample", "--summary-out", "s.xlsx", "--out", out},
		{"env", "stats", "--env", "mars"},
		{"env", "stats", "--tasks", "0"},
		{"env", "stats", "--out", "t.txt"},
	} {
		_, stderr, code := run(t, args...)
		if code != ExitBadInput {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, ExitBadInput, stderr)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed sample left an output file")
	}
}
