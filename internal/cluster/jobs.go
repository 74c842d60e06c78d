package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/internal/atomicfile"
)

// Job is a pipeline of stages run one after the other on an engine: each
// stage is an array of tasks that all run the same command and find their
// own index from the engine (--shard auto, --task auto), or a single job
// (a merge, a report), and starts once every task of the stage before it
// has succeeded. A sharded coupling is an array and its merge; a study is
// the array of its shared cold starts, the array of its runs and the
// report. Every path in the commands must lie in a directory all nodes
// share; each task writes only its own files, atomically, so a
// re-submitted task or array is idempotent.
type Job struct {
	// Name names the job files and the engine's jobs ([a-z0-9-]; with
	// the longest stage suffix at most 52 characters, as Kubernetes names
	// allow with a pod suffix).
	Name   string
	Stages []Stage
	// Parallel is how many tasks of an array run at once (Slurm's %N,
	// Kubernetes' parallelism); 0 means all.
	Parallel int
	// Workdir is the shared directory the commands run in.
	Workdir string
	// Resources of one task.
	CPUs      int    // 0: 2
	Mem       string // e.g. 8G; "": 4G
	Time      string // Slurm time limit, e.g. 02:00:00; "": 04:00:00
	Partition string // Slurm partition; "": the cluster's default
	// Kubernetes: the container image holding gradcouple, and the
	// PersistentVolumeClaim mounted at Workdir.
	Image string
	PVC   string
}

// Stage is one step of a Job.
type Stage struct {
	// Name is the suffix of the stage's engine job and files
	// (Job.Name-Name); "" for the job's own name.
	Name string
	// Tasks is the number of array tasks; 0 makes the stage a single job.
	Tasks int
	Argv  []string // the command of a task (or of the job)
}

// job is the engine's name of the stage's job.
func (j *Job) job(s Stage) string {
	if s.Name == "" {
		return j.Name
	}
	return j.Name + "-" + s.Name
}

var namePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?$`)

func (j *Job) check() error {
	if len(j.Stages) == 0 {
		return errors.New("job " + j.Name + ": no stages")
	}
	seen := map[string]bool{}
	for _, s := range j.Stages {
		name := j.job(s)
		switch {
		case !namePattern.MatchString(name):
			return fmt.Errorf("job name %q: want lower-case letters, digits and '-', at most 52", name)
		case seen[name]:
			return fmt.Errorf("job %s: two stages named %q", j.Name, s.Name)
		case s.Tasks < 0:
			return fmt.Errorf("job %s: %d tasks, want at least 1 (or 0 for a single job)", name, s.Tasks)
		case len(s.Argv) == 0:
			return errors.New("job " + name + ": no command")
		}
		seen[name] = true
	}
	if !filepath.IsAbs(j.Workdir) {
		return fmt.Errorf("job %s: the shared directory %q must be an absolute path", j.Name, j.Workdir)
	}
	if j.CPUs == 0 {
		j.CPUs = 2
	}
	if j.Mem == "" {
		j.Mem = "4G"
	}
	if j.Time == "" {
		j.Time = "04:00:00"
	}
	return nil
}

// parallel is the number of tasks of s that run at once.
func (j *Job) parallel(s Stage) int {
	if j.Parallel <= 0 || j.Parallel > s.Tasks {
		return s.Tasks
	}
	return j.Parallel
}

// Shell quotes argv for a POSIX shell.
func Shell(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
		}) < 0 {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// WriteSlurm writes the job as Slurm batch scripts into dir: one per
// stage, NAME[-STAGE].sbatch: an array stage as --array=0-(Tasks-1)%Parallel
// (each task runs the stage's command, which reads its index from
// SLURM_ARRAY_TASK_ID; GRADCOUPLE_SHARDS tells a task submitted alone the
// task count), a single stage as one job; and NAME-submit.sh, which submits
// the stages in order, each with --dependency=afterok on the one before
// and --kill-on-invalid-dep=yes. A failed task fails its array, so Slurm
// cancels the stages after it;
// submitting the script again (or the failed task alone, sbatch --array=K,
// then the stages after it) redoes only what is missing. It returns the
// files written.
func WriteSlurm(dir string, j Job) ([]string, error) {
	if err := j.check(); err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	var submit bytes.Buffer
	fmt.Fprintf(&submit, "#!/bin/sh\n# Submits the %d stages of %s, each after the one before it succeeded (afterok).\n# Finished tasks are skipped: run it again to resume.\nset -eu\ncd %s\nmkdir -p slurm\ndep=\n",
		len(j.Stages), j.Name, Shell([]string{j.Workdir}))
	for k, s := range j.Stages {
		var b bytes.Buffer
		name := j.job(s)
		fmt.Fprintf(&b, "#!/bin/bash\n#SBATCH --job-name=%s\n#SBATCH --chdir=%s\n#SBATCH --cpus-per-task=%d\n#SBATCH --mem=%s\n#SBATCH --time=%s\n",
			name, j.Workdir, j.CPUs, j.Mem, j.Time)
		if j.Partition != "" {
			fmt.Fprintf(&b, "#SBATCH --partition=%s\n", j.Partition)
		}
		if s.Tasks > 0 {
			fmt.Fprintf(&b, "#SBATCH --array=0-%d%%%d\n#SBATCH --output=%s\n", s.Tasks-1, j.parallel(s), filepath.Join(j.Workdir, "slurm", name+"-%a.out"))
			fmt.Fprintf(&b, "# Written by gradcouple: stage %d of %d, task $SLURM_ARRAY_TASK_ID of %d. Every task writes\n# only its own files, atomically; a finished one is skipped when the array (or a task,\n# sbatch --array=K) is submitted again. %s tells a task submitted alone the task count.\nset -euo pipefail\nexport OMP_NUM_THREADS=%d GOMAXPROCS=%d %s=%d\nexec %s\n",
				k+1, len(j.Stages), s.Tasks, ShardCountVar, j.CPUs, j.CPUs, ShardCountVar, s.Tasks, Shell(s.Argv))
		} else {
			fmt.Fprintf(&b, "#SBATCH --output=%s\n", filepath.Join(j.Workdir, "slurm", name+".out"))
			fmt.Fprintf(&b, "# Written by gradcouple: stage %d of %d", k+1, len(j.Stages))
			if k > 0 {
				fmt.Fprintf(&b, ", after every task of %s succeeded", j.job(j.Stages[k-1]))
			}
			fmt.Fprintf(&b, ".\nset -euo pipefail\nexport GOMAXPROCS=%d\nexec %s\n", j.CPUs, Shell(s.Argv))
		}
		files[name+".sbatch"] = b.Bytes()
		fmt.Fprintf(&submit, "jid=$(sbatch --parsable ${dep:+--dependency=afterok:$dep --kill-on-invalid-dep=yes} %s)\ndep=${jid%%%%;*}\necho \"%s: job $dep\"\n",
			Shell([]string{filepath.Join(dir, name+".sbatch")}), name)
	}
	files[j.Name+"-submit.sh"] = submit.Bytes()
	return writeFiles(dir, files)
}

// WriteK8s writes the job as Kubernetes manifests into dir: one Job per
// stage, NAME[-STAGE].yaml, an array stage as an Indexed Job (completionMode
// Indexed, completions Tasks, parallelism Parallel, backoffLimitPerIndex 2)
// whose pods run the stage's command with GRADCOUPLE_SHARDS set to Tasks
// (each pod's JOB_COMPLETION_INDEX is its task), a single stage as a Job;
// and NAME-submit.sh, which applies them in order, waiting for each to
// complete (Kubernetes has no dependencies between Jobs; a Failed one stops
// the script with exit 1). It deletes a Job of the same name first, so that running it again resumes a failed
// pipeline (finished tasks are skipped). The PVC is mounted at Workdir in
// every pod.
func WriteK8s(dir string, j Job) ([]string, error) {
	if err := j.check(); err != nil {
		return nil, err
	}
	if j.Image == "" || j.PVC == "" {
		return nil, fmt.Errorf("job %s: Kubernetes needs an image holding gradcouple and a PersistentVolumeClaim for the shared directory", j.Name)
	}
	files := map[string][]byte{}
	var submit bytes.Buffer
	fmt.Fprintf(&submit, "#!/bin/sh\n# Runs the %d stages of %s in order, each once the one before completed.\n# Finished tasks are skipped: run it again to resume.\nset -eu\n", len(j.Stages), j.Name)
	// A Job ends Complete or Failed; kubectl wait can wait for one
	// condition only, so the script polls for both.
	submit.WriteString("wait_job() {\n\twhile :; do\n\t\ts=$(kubectl get job \"$1\" -o 'jsonpath={.status.conditions[?(@.status==\"True\")].type}')\n" +
		"\t\tcase \"$s\" in\n\t\t*Complete*) return 0 ;;\n" +
		"\t\t*Failed*) echo \"$1 failed: see kubectl describe job $1; fix the cause and run this script again (finished tasks are skipped)\" >&2; exit 1 ;;\n" +
		"\t\tesac\n\t\tsleep \"${GRADCOUPLE_POLL:-10}\"\n\tdone\n}\n")
	for k, s := range j.Stages {
		var b bytes.Buffer
		name := j.job(s)
		fmt.Fprintf(&b, "# Written by gradcouple: stage %d of %d", k+1, len(j.Stages))
		if s.Tasks > 0 {
			fmt.Fprintf(&b, ", %d tasks; each pod's JOB_COMPLETION_INDEX is its task", s.Tasks)
		}
		if k > 0 {
			fmt.Fprintf(&b, "; apply once %s has completed (%s-submit.sh does)", j.job(j.Stages[k-1]), j.Name)
		}
		fmt.Fprintf(&b, ".\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: %s\nspec:\n", name)
		if s.Tasks > 0 {
			fmt.Fprintf(&b, "  completionMode: Indexed\n  completions: %d\n  parallelism: %d\n  backoffLimitPerIndex: 2\n  maxFailedIndexes: %d\n",
				s.Tasks, j.parallel(s), s.Tasks)
		} else {
			b.WriteString("  backoffLimit: 1\n")
		}
		j.pod(&b, s)
		files[name+".yaml"] = b.Bytes()
		fmt.Fprintf(&submit, "kubectl delete job %s --ignore-not-found\nkubectl apply -f %s\nwait_job %s\necho \"%s: complete\"\n",
			name, Shell([]string{filepath.Join(dir, name+".yaml")}), name, name)
	}
	files[j.Name+"-submit.sh"] = submit.Bytes()
	return writeFiles(dir, files)
}

// pod writes the pod template of a stage's Job.
func (j *Job) pod(b *bytes.Buffer, s Stage) {
	fmt.Fprintf(b, "  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: gradcouple\n        image: %s\n        workingDir: %s\n",
		yamlString(j.Image), yamlString(j.Workdir))
	b.WriteString("        command:\n")
	for _, a := range s.Argv {
		fmt.Fprintf(b, "        - %s\n", yamlString(a))
	}
	b.WriteString("        env:\n")
	fmt.Fprintf(b, "        - name: GOMAXPROCS\n          value: %s\n", yamlString(strconv.Itoa(j.CPUs)))
	if s.Tasks > 0 {
		fmt.Fprintf(b, "        - name: %s\n          value: %s\n", ShardCountVar, yamlString(strconv.Itoa(s.Tasks)))
	}
	fmt.Fprintf(b, "        resources:\n          requests:\n            cpu: %s\n            memory: %s\n          limits:\n            memory: %s\n",
		yamlString(strconv.Itoa(j.CPUs)), yamlString(k8sMem(j.Mem)), yamlString(k8sMem(j.Mem)))
	fmt.Fprintf(b, "        volumeMounts:\n        - name: shared\n          mountPath: %s\n      volumes:\n      - name: shared\n        persistentVolumeClaim:\n          claimName: %s\n",
		yamlString(j.Workdir), yamlString(j.PVC))
}

// k8sMem turns a Slurm-style size (8G, 512M) into a Kubernetes quantity
// (8Gi, 512Mi).
func k8sMem(s string) string {
	if n := len(s); n > 0 && strings.ContainsRune("KMGT", rune(s[n-1])) {
		return s + "i"
	}
	return s
}

// yamlString quotes s as a YAML double-quoted scalar (JSON string syntax,
// which YAML accepts).
func yamlString(s string) string { return strconv.Quote(s) }

// writeFiles writes each file atomically into dir (created if needed);
// scripts (.sh, .sbatch) are executable.
func writeFiles(dir string, files map[string][]byte) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := atomicfile.WriteBytes(p, files[n]); err != nil {
			return out, err
		}
		if strings.HasSuffix(n, ".sh") || strings.HasSuffix(n, ".sbatch") {
			if err := os.Chmod(p, 0o755); err != nil {
				return out, err
			}
		}
		out = append(out, p)
	}
	return out, nil
}
