package cluster

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func testJob(dir string) Job {
	return Job{Name: "coupling-grpo", Parallel: 2, Workdir: dir, CPUs: 2, Mem: "8G",
		Stages: []Stage{
			{Tasks: 4, Argv: []string{"gradcouple", "coupling", "runs/grpo 1", "--shard", "auto", "--shard-dir", "shards", "--probes", "it's.parquet"}},
			{Name: "merge", Argv: []string{"gradcouple", "merge", "--out", "coupling.csv", "shards"}}},
		Image: "ghcr.io/gradcouple/gradcouple:test", PVC: "shared"}
}

// studyJob is a three-stage pipeline: two arrays, then one job.
func studyJob(dir string) Job {
	return Job{Name: "study-x", Parallel: 8, Workdir: dir, Mem: "8G",
		Stages: []Stage{
			{Name: "cold", Tasks: 2, Argv: []string{"gradcouple", "study", "--stage", "cold", "--task", "auto"}},
			{Name: "train", Tasks: 8, Argv: []string{"gradcouple", "study", "--stage", "train", "--task", "auto"}},
			{Name: "report", Argv: []string{"gradcouple", "study", "--stage", "report"}}},
		Image: "ghcr.io/gradcouple/gradcouple:test", PVC: "shared"}
}

// TestWriteSlurm: the array script asks for one task per shard with the
// resources, runs the task's command quoted for the shell, and the submit
// script chains the merge with afterok; bash parses every script.
func TestWriteSlurm(t *testing.T) {
	dir := t.TempDir()
	files, err := WriteSlurm(filepath.Join(dir, "jobs"), testJob(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("files %v", files)
	}
	task, _ := os.ReadFile(filepath.Join(dir, "jobs", "coupling-grpo.sbatch"))
	for _, want := range []string{"#SBATCH --array=0-3%2", "#SBATCH --cpus-per-task=2", "#SBATCH --mem=8G", "#SBATCH --chdir=" + dir,
		`exec gradcouple coupling 'runs/grpo 1' --shard auto --shard-dir shards --probes 'it'\''s.parquet'`} {
		if !strings.Contains(string(task), want) {
			t.Errorf("array script lacks %q:\n%s", want, task)
		}
	}
	submit, _ := os.ReadFile(filepath.Join(dir, "jobs", "coupling-grpo-submit.sh"))
	if !strings.Contains(string(submit), "--dependency=afterok:$dep") {
		t.Errorf("submit script:\n%s", submit)
	}
	// Three stages: each array and the report its own script, the
	// submit script chains them in order.
	files3, err := WriteSlurm(filepath.Join(dir, "study"), studyJob(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(files3) != 4 {
		t.Fatalf("files %v", files3)
	}
	for name, want := range map[string]string{"study-x-cold.sbatch": "#SBATCH --array=0-1%2\n", "study-x-train.sbatch": "#SBATCH --array=0-7%8\n"} {
		b, _ := os.ReadFile(filepath.Join(dir, "study", name))
		if !strings.Contains(string(b), want) || !strings.Contains(string(b), ShardCountVar) {
			t.Errorf("%s lacks %q:\n%s", name, want, b)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "study", "study-x-report.sbatch")); strings.Contains(string(b), "--array") {
		t.Errorf("the report is an array:\n%s", b)
	}
	submit3, _ := os.ReadFile(filepath.Join(dir, "study", "study-x-submit.sh"))
	c, tr, r := strings.Index(string(submit3), "study-x-cold.sbatch"), strings.Index(string(submit3), "study-x-train.sbatch"), strings.Index(string(submit3), "study-x-report.sbatch")
	if c < 0 || !(c < tr && tr < r) || strings.Count(string(submit3), "${dep:+--dependency=afterok:$dep --kill-on-invalid-dep=yes}") != 3 {
		t.Errorf("submit script does not chain cold, train, report:\n%s", submit3)
	}
	files = append(files, files3...)
	if bash, err := exec.LookPath("bash"); err == nil {
		for _, f := range files {
			if out, err := exec.Command(bash, "-n", f).CombinedOutput(); err != nil {
				t.Errorf("bash -n %s: %v\n%s", f, err, out)
			}
		}
	}
	two := []Stage{{Tasks: 1, Argv: []string{"x"}}, {Name: "merge", Argv: []string{"y"}}}
	if _, err := WriteSlurm(dir, Job{Name: "Bad_Name", Stages: two, Workdir: dir}); err == nil {
		t.Error("a bad job name was accepted")
	}
	if _, err := WriteSlurm(dir, Job{Name: "rel", Stages: two, Workdir: "shared"}); err == nil {
		t.Error("a relative shared directory was accepted")
	}
	if _, err := WriteSlurm(dir, Job{Name: "twice", Stages: []Stage{two[1], two[1]}, Workdir: dir}); err == nil {
		t.Error("two stages of one name were accepted")
	}
	if _, err := WriteSlurm(dir, Job{Name: strings.Repeat("a", 50), Stages: two, Workdir: dir}); err == nil {
		t.Error("a stage name longer than 52 was accepted")
	}
}

// TestWriteK8s: every manifest decodes strictly (a field the API does not
// have, or a value of the wrong type, is an error) into batch/v1 Job, the
// Kubernetes API's own Go type (k8s.io/api), with the task count, the
// shard count in the pods' environment, the command as given and the claim
// mounted at the shared directory; with kubectl and a reachable cluster
// (GRADCOUPLE_KUBECTL=1) kubectl apply --dry-run=client accepts them.
func TestWriteK8s(t *testing.T) {
	dir := t.TempDir()
	j := testJob(dir)
	files, err := WriteK8s(filepath.Join(dir, "k8s"), j)
	if err != nil {
		t.Fatal(err)
	}
	files3, err := WriteK8s(filepath.Join(dir, "k8s"), studyJob(dir))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, files3...)
	for _, name := range []string{"coupling-grpo.yaml", "coupling-grpo-merge.yaml", "study-x-cold.yaml", "study-x-train.yaml", "study-x-report.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, "k8s", name))
		if err != nil {
			t.Fatal(err)
		}
		var k batchv1.Job
		if err := yaml.UnmarshalStrict(b, &k); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, b)
		}
		// The check can fail: a misspelt field or a string where the API
		// has a number is refused.
		for _, bad := range [][]byte{bytes.Replace(b, []byte("spec:\n"), []byte("spec:\n  completionz: 3\n"), 1),
			bytes.Replace(b, []byte("backoffLimit"), []byte("backoffLimit: \"x\"\n  oldBackoffLimit"), 1)} {
			var k batchv1.Job
			if yaml.UnmarshalStrict(bad, &k) == nil {
				t.Errorf("%s: strict decoding accepted\n%s", name, bad)
			}
		}
		c := k.Spec.Template.Spec.Containers
		mem := c[0].Resources.Limits[corev1.ResourceMemory]
		if k.APIVersion != "batch/v1" || k.Kind != "Job" || len(c) != 1 || k.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever ||
			c[0].Image != j.Image || c[0].WorkingDir != dir || k.Spec.Template.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "shared" ||
			c[0].VolumeMounts[0].MountPath != dir || mem.Value() != 8<<30 {
			t.Errorf("%s: %+v", name, k)
		}
		if k.Name+".yaml" != name {
			t.Errorf("%s: job named %s", name, k.Name)
		}
		indexed := k.Spec.CompletionMode != nil && *k.Spec.CompletionMode == batchv1.IndexedCompletion
		if strings.HasSuffix(name, "merge.yaml") || strings.HasSuffix(name, "report.yaml") {
			if indexed || k.Spec.Completions != nil {
				t.Errorf("%s: the single job is indexed: %+v", name, k.Spec)
			}
		}
		if name == "study-x-train.yaml" && (!indexed || *k.Spec.Completions != 8 || *k.Spec.BackoffLimitPerIndex != 2) {
			t.Errorf("%s: %+v", name, k.Spec)
		}
		if name == "coupling-grpo.yaml" {
			if !indexed || *k.Spec.Completions != 4 || *k.Spec.Parallelism != 2 ||
				strings.Join(c[0].Command, "|") != strings.Join(j.Stages[0].Argv, "|") {
				t.Errorf("indexed job: %+v", k.Spec)
			}
			found := false
			for _, e := range c[0].Env {
				found = found || e.Name == ShardCountVar && e.Value == "4"
			}
			if !found {
				t.Errorf("no %s=4 in %+v", ShardCountVar, c[0].Env)
			}
		}
	}
	if os.Getenv("GRADCOUPLE_KUBECTL") == "1" {
		for _, f := range files {
			if strings.HasSuffix(f, ".yaml") {
				if out, err := exec.Command("kubectl", "apply", "--dry-run=client", "-f", f).CombinedOutput(); err != nil {
					t.Errorf("kubectl apply --dry-run=client -f %s: %v\n%s", f, err, out)
				}
			}
		}
	}
	j.PVC = ""
	if _, err := WriteK8s(dir, j); err == nil {
		t.Error("a Kubernetes job without a claim was accepted")
	}
}

// TestK8sSubmitScript runs the emitted submit script against a fake
// kubectl that records its calls and reports each Job's condition: all
// Complete, the stages are applied in order, each after the one before
// completed; the second Failed, the script stops there with exit 1.
func TestK8sSubmitScript(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	if _, err := WriteK8s(filepath.Join(dir, "k8s"), studyJob(dir)); err != nil {
		t.Fatal(err)
	}
	for _, failAt := range []string{"", "study-x-train"} {
		bin := t.TempDir()
		log := filepath.Join(bin, "calls")
		fake := "#!/bin/sh\necho \"$*\" >> " + log + "\n" +
			"if [ \"$1\" = get ]; then if [ \"$3\" = \"" + failAt + "\" ]; then echo Failed; else echo Complete; fi; fi\n"
		if err := os.WriteFile(filepath.Join(bin, "kubectl"), []byte(fake), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(sh, filepath.Join(dir, "k8s", "study-x-submit.sh"))
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "GRADCOUPLE_POLL=0")
		out, err := cmd.CombinedOutput()
		calls, _ := os.ReadFile(log)
		var verbs []string
		for _, l := range strings.Split(strings.TrimSpace(string(calls)), "\n") {
			f := strings.Fields(l)
			verbs = append(verbs, f[0]+" "+strings.TrimSuffix(filepath.Base(f[len(f)-1]), ".yaml"))
		}
		got := strings.Join(verbs, ", ")
		if failAt == "" {
			want := "delete --ignore-not-found, apply study-x-cold, get jsonpath={.status.conditions[?(@.status==\"True\")].type}, " +
				"delete --ignore-not-found, apply study-x-train, get jsonpath={.status.conditions[?(@.status==\"True\")].type}, " +
				"delete --ignore-not-found, apply study-x-report, get jsonpath={.status.conditions[?(@.status==\"True\")].type}"
			if err != nil || got != want {
				t.Errorf("all complete: %v\n%s\ncalls: %s\nwant:  %s", err, out, got, want)
			}
			continue
		}
		if err == nil || !strings.Contains(string(out), "study-x-train failed") || strings.Contains(got, "study-x-report") {
			t.Errorf("train failed: %v\n%s\ncalls: %s", err, out, got)
		}
	}
}
