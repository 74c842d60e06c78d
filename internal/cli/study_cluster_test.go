package cli

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tinyStudy is a study of seconds: the bandit, GRPO and GCD from one
// shared cold start of 30 steps per seed, iters RL iterations each, small
// analyses.
func tinyStudy(out string, seeds string, iters int) []string {
	arms := fmt.Sprintf("grpo:iterations=%d,cold_steps=30,gcd:iterations=%d,cold_steps=30", iters, iters)
	return []string{"study", "--out", out, "--envs", "bandit", "--arms", arms,
		"--seeds", seeds, "--preset", "quick", "--probes", "8", "--consistency-states", "2", "--resamples", "200"}
}

// studyTables reads every CSV table of dir, with the study directory out
// replaced by OUT (runs.csv names each run's directory) and without the
// columns that time the work (seconds; steps.csv is nothing else).
func studyTables(t *testing.T, dir, out string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.csv"))
	if err != nil || len(files) < 10 {
		t.Fatalf("tables in %s: %v %v", dir, files, err)
	}
	m := map[string][]byte{}
	for _, f := range files {
		if filepath.Base(f) == "steps.csv" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		drop := slices.Index(recs[0], "seconds")
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		for _, r := range recs {
			if drop >= 0 {
				r = slices.Delete(r, drop, drop+1)
			}
			w.Write(r)
		}
		w.Flush()
		m[filepath.Base(f)] = bytes.ReplaceAll(buf.Bytes(), []byte(out), []byte("OUT"))
	}
	return m
}

// TestStudyStages: a study done as a cluster does it, stage by stage and
// task by task (--stage cold|train --task i/n or auto, then --stage
// report), in any order of its tasks, gives the tables of the study done
// in one command, byte for byte; the report stage refuses a partial set
// unless --partial, and names the missing tasks; a task out of order or
// of another plan is refused; --emit writes the three stages.
func TestStudyStages(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "staged"), filepath.Join(root, "single")
	staged := func(args ...string) (string, string, int) {
		t.Helper()
		return run(t, append(tinyStudy(a, "1", 4), args...)...)
	}

	out, stderr, code := staged("--emit", "slurm", "--cpus", "1", "--mem", "1G")
	if code != 0 {
		t.Fatalf("emit: exit %d: %s", code, stderr)
	}
	for _, f := range []string{"study-staged-cold.sbatch", "study-staged-train.sbatch", "study-staged-report.sbatch", "study-staged-submit.sh"} {
		if !strings.Contains(out, filepath.Join(a, "jobs", f)) {
			t.Errorf("emit did not write %s:\n%s", f, out)
		}
	}
	script, _ := os.ReadFile(filepath.Join(a, "jobs", "study-staged-train.sbatch"))
	for _, want := range []string{"#SBATCH --array=0-1%2", "--stage train --task auto", "--arms grpo:iterations=4,cold_steps=30,gcd:iterations=4,cold_steps=30", "--out " + a} {
		if !strings.Contains(string(script), want) {
			t.Errorf("train array lacks %q:\n%s", want, script)
		}
	}
	if _, stderr, code := staged("--emit", "k8s"); code != 2 || !strings.Contains(stderr, "PersistentVolumeClaim") {
		t.Errorf("emit k8s without a claim: exit %d: %s", code, stderr)
	}

	// A run before its cold start, a task of another plan, a task
	// without a stage: refused.
	if _, stderr, code := staged("--stage", "train", "--task", "1/2"); code != 2 || !strings.Contains(stderr, "not finished") {
		t.Errorf("train before cold: exit %d: %s", code, stderr)
	}
	if _, stderr, code := staged("--stage", "train", "--task", "0/3"); code != 2 || !strings.Contains(stderr, "has 2 tasks, not 3") {
		t.Errorf("task of another plan: exit %d: %s", code, stderr)
	}
	if _, stderr, code := staged("--task", "0/2"); code != 2 {
		t.Errorf("task without stage: exit %d: %s", code, stderr)
	}

	// The cold start as a Slurm array task (--task auto), the GCD run
	// before the GRPO one.
	t.Setenv("SLURM_ARRAY_TASK_ID", "0")
	t.Setenv("SLURM_ARRAY_TASK_MIN", "0")
	t.Setenv("SLURM_ARRAY_TASK_MAX", "0")
	if _, stderr, code := staged("--stage", "cold", "--task", "auto"); code != 0 {
		t.Fatalf("cold task: exit %d: %s", code, stderr)
	}
	for _, v := range []string{"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX"} {
		os.Unsetenv(v)
	}
	if _, stderr, code := staged("--stage", "train", "--task", "1/2"); code != 0 {
		t.Fatalf("train task 1: exit %d: %s", code, stderr)
	}
	tables := filepath.Join(a, "tables")
	if _, stderr, code := staged("--stage", "report", "--export", tables); code != 2 || !strings.Contains(stderr, "task 0 (bandit-grpo-iterations4-cold_steps30-1)") {
		t.Errorf("report of a partial set: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(a, "report.html")); err == nil {
		t.Error("a refused report wrote report.html")
	}
	if _, stderr, code := staged("--stage", "report", "--partial", "--export", tables); code != 0 || !strings.Contains(stderr, "1 of the 2 runs are not finished: task 0") {
		t.Errorf("report --partial: exit %d: %s", code, stderr)
	}
	if _, stderr, code := staged("--stage", "train", "--task", "0/2"); code != 0 {
		t.Fatalf("train task 0: exit %d: %s", code, stderr)
	}
	// Again: the finished task is skipped.
	if _, stderr, code := staged("--stage", "train", "--task", "0/2"); code != 0 || !strings.Contains(stderr, "already finished") {
		t.Errorf("train task 0 again: exit %d: %s", code, stderr)
	}
	if _, stderr, code := staged("--stage", "report", "--export", tables); code != 0 {
		t.Fatalf("report: exit %d: %s", code, stderr)
	}

	if _, stderr, code := run(t, append(tinyStudy(b, "1", 4), "--export", filepath.Join(b, "tables"))...); code != 0 {
		t.Fatalf("single study: exit %d: %s", code, stderr)
	}
	compareTables(t, "staged", studyTables(t, tables, a), studyTables(t, filepath.Join(b, "tables"), b))
}

// compareTables fails the test for every table of want that got lacks or
// holds otherwise.
func compareTables(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	for name, w := range want {
		if g, ok := got[name]; !ok || !bytes.Equal(g, w) {
			t.Errorf("%s: %s differs from the single study's:\n%s\nsingle:\n%s", what, name, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d tables, the single study %d", what, len(got), len(want))
	}
}
