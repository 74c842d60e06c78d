package cluster

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func testJob(dir string) Job {
	return Job{Name: "coupling-grpo", Tasks: 4, Parallel: 2, Workdir: dir, CPUs: 2, Mem: "8G",
		Task:  []string{"gradcouple", "coupling", "runs/grpo 1", "--shard", "auto", "--shard-dir", "shards", "--probes", "it's.parquet"},
		Merge: []string{"gradcouple", "merge", "--out", "coupling.csv", "shards"}, Image: "ghcr.io/gradcouple/gradcouple:test", PVC: "shared"}
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
	if !strings.Contains(string(submit), "--dependency=afterok:$jid") {
		t.Errorf("submit script:\n%s", submit)
	}
	if bash, err := exec.LookPath("bash"); err == nil {
		for _, f := range files {
			if out, err := exec.Command(bash, "-n", f).CombinedOutput(); err != nil {
				t.Errorf("bash -n %s: %v\n%s", f, err, out)
			}
		}
	}
	if _, err := WriteSlurm(dir, Job{Name: "Bad_Name", Tasks: 1, Task: []string{"x"}, Merge: []string{"y"}, Workdir: dir}); err == nil {
		t.Error("a bad job name was accepted")
	}
	if _, err := WriteSlurm(dir, Job{Name: "rel", Tasks: 1, Task: []string{"x"}, Merge: []string{"y"}, Workdir: "shared"}); err == nil {
		t.Error("a relative shared directory was accepted")
	}
}

// The subset of batch/v1 Job that WriteK8s emits, with the API's field
// names: decoding with KnownFields refuses any field the API does not
// have (a schema check where no cluster answers kubectl).
type k8sJob struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		CompletionMode       string `yaml:"completionMode"`
		Completions          *int   `yaml:"completions"`
		Parallelism          *int   `yaml:"parallelism"`
		BackoffLimit         *int   `yaml:"backoffLimit"`
		BackoffLimitPerIndex *int   `yaml:"backoffLimitPerIndex"`
		MaxFailedIndexes     *int   `yaml:"maxFailedIndexes"`
		Template             struct {
			Spec struct {
				RestartPolicy string `yaml:"restartPolicy"`
				Containers    []struct {
					Name       string   `yaml:"name"`
					Image      string   `yaml:"image"`
					WorkingDir string   `yaml:"workingDir"`
					Command    []string `yaml:"command"`
					Env        []struct {
						Name  string `yaml:"name"`
						Value string `yaml:"value"`
					} `yaml:"env"`
					Resources struct {
						Requests map[string]string `yaml:"requests"`
						Limits   map[string]string `yaml:"limits"`
					} `yaml:"resources"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []struct {
					Name                  string `yaml:"name"`
					PersistentVolumeClaim struct {
						ClaimName string `yaml:"claimName"`
					} `yaml:"persistentVolumeClaim"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// TestWriteK8s: the Indexed Job and the merge Job decode strictly as
// batch/v1 Jobs with the task count, the shard count in the pods'
// environment, the command as given and the claim mounted at the shared
// directory; with kubectl and a reachable cluster (GRADCOUPLE_KUBECTL=1)
// kubectl apply --dry-run=client accepts both.
func TestWriteK8s(t *testing.T) {
	dir := t.TempDir()
	j := testJob(dir)
	files, err := WriteK8s(filepath.Join(dir, "k8s"), j)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"coupling-grpo-job.yaml", "coupling-grpo-merge.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, "k8s", name))
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		var k k8sJob
		if err := dec.Decode(&k); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, b)
		}
		c := k.Spec.Template.Spec.Containers
		if k.APIVersion != "batch/v1" || k.Kind != "Job" || len(c) != 1 || k.Spec.Template.Spec.RestartPolicy != "Never" ||
			c[0].Image != j.Image || c[0].WorkingDir != dir || k.Spec.Template.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "shared" ||
			c[0].VolumeMounts[0].MountPath != dir || c[0].Resources.Limits["memory"] != "8Gi" {
			t.Errorf("%s: %+v", name, k)
		}
		if name == "coupling-grpo-job.yaml" {
			if k.Spec.CompletionMode != "Indexed" || *k.Spec.Completions != 4 || *k.Spec.Parallelism != 2 ||
				strings.Join(c[0].Command, "|") != strings.Join(j.Task, "|") {
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
