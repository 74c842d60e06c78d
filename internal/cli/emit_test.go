package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCouplingEmitSlurm: coupling --emit slurm writes an array script
// whose task command, run once per array index with the variables Slurm
// sets, and the merge command give the table of the unsharded coupling on
// the same probes; a task run again keeps its finished shards; k8s
// manifests are written with the image and claim.
func TestCouplingEmitSlurm(t *testing.T) {
	run1 := runFixture(t, "alpha", 1)
	dir := filepath.Join(t.TempDir(), "jobs")
	out, stderr, code := run(t, "coupling", run1, "--num-probes", "40", "--eta", "1e-3", "--checkpoints", "1", "--tile-rows", "8",
		"--emit", "slurm", "--emit-dir", dir, "--shards", "3", "--mem", "2G")
	if code != 0 || !strings.Contains(out, "3 tasks;") || !strings.Contains(out, "Submit with "+filepath.Join(dir, "coupling-alpha-submit.sh")+";") {
		t.Fatalf("emit: exit %d: %s\n%s", code, stderr, out)
	}
	script, err := os.ReadFile(filepath.Join(dir, "coupling-alpha.sbatch"))
	if err != nil {
		t.Fatal(err)
	}
	merge, err := os.ReadFile(filepath.Join(dir, "coupling-alpha-merge.sbatch"))
	if err != nil {
		t.Fatal(err)
	}
	command := func(b []byte) []string {
		for _, l := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(l, "exec gradcouple "); ok {
				return shellWords(rest)
			}
		}
		t.Fatalf("no exec line in\n%s", b)
		return nil
	}
	task := command(script)
	for i := range 3 {
		t.Setenv("SLURM_ARRAY_TASK_ID", strconv.Itoa(i))
		t.Setenv("SLURM_ARRAY_TASK_MIN", "0")
		t.Setenv("SLURM_ARRAY_TASK_MAX", "2")
		if _, stderr, code := run(t, task...); code != 0 {
			t.Fatalf("task %d: exit %d: %s", i, code, stderr)
		}
	}
	// A task submitted again alone (sbatch --array=1: Slurm then says the
	// array is 1-1; the script exports the shard count) keeps its shard.
	if !strings.Contains(string(script), "GRADCOUPLE_SHARDS=3") {
		t.Errorf("the array script does not export the shard count:\n%s", script)
	}
	t.Setenv("GRADCOUPLE_SHARDS", "3")
	t.Setenv("SLURM_ARRAY_TASK_ID", "1")
	t.Setenv("SLURM_ARRAY_TASK_MIN", "1")
	t.Setenv("SLURM_ARRAY_TASK_MAX", "1")
	files, _ := filepath.Glob(filepath.Join(dir, "shards", "*.safetensors"))
	if len(files) != 3 {
		t.Fatalf("shards %v", files)
	}
	before, _ := os.Stat(files[1])
	if _, stderr, code := run(t, task...); code != 0 {
		t.Fatalf("task 1 again: exit %d: %s", code, stderr)
	}
	if after, _ := os.Stat(files[1]); !after.ModTime().Equal(before.ModTime()) {
		t.Error("a finished shard was computed again")
	}
	if again, _ := filepath.Glob(filepath.Join(dir, "shards", "*.safetensors")); len(again) != 3 {
		t.Errorf("after the task alone: %v", again)
	}
	if _, stderr, code := run(t, command(merge)...); code != 0 {
		t.Fatalf("merge: exit %d: %s", code, stderr)
	}
	single := filepath.Join(t.TempDir(), "single.csv")
	if _, stderr, code := run(t, "coupling", run1, "--probes", filepath.Join(dir, "probes.parquet"), "--eta", "1e-3", "--checkpoints", "1", "--out", single); code != 0 {
		t.Fatalf("unsharded: exit %d: %s", code, stderr)
	}
	m, s := readCSV(t, filepath.Join(dir, "coupling.csv"))[0], readCSV(t, single)[0]
	for _, col := range []string{"cos_good", "cos_bad", "cos_good_bad", "harmful_pairs", "harmful_rate", "harmful_mass", "net_delta"} {
		if m[col] != s[col] {
			t.Errorf("merged %s = %s, unsharded %s", col, m[col], s[col])
		}
	}

	k8s := filepath.Join(t.TempDir(), "k8s")
	if _, stderr, code := run(t, "coupling", run1, "--probes", filepath.Join(dir, "probes.parquet"), "--checkpoints", "1",
		"--emit", "k8s", "--emit-dir", k8s, "--shards", "3", "--image", "gradcouple:test", "--pvc", "shared"); code != 0 {
		t.Fatalf("emit k8s: exit %d: %s", code, stderr)
	}
	job, err := os.ReadFile(filepath.Join(k8s, "coupling-alpha.yaml"))
	if err != nil || !strings.Contains(string(job), "completionMode: Indexed") || !strings.Contains(string(job), `"auto"`) {
		t.Errorf("k8s job: %v\n%s", err, job)
	}
	if _, stderr, code := run(t, "coupling", run1, "--emit", "k8s", "--emit-dir", k8s); code != ExitBadInput || !strings.Contains(stderr, "PersistentVolumeClaim") {
		t.Errorf("k8s without a claim: exit %d: %s", code, stderr)
	}
}
