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

// Job is an array job and the job that follows it: Tasks tasks that each
// run Task (every task runs the same command and finds its own index from
// the engine: --shard auto), then, once all have succeeded, Merge. Every
// path in the commands must lie in a directory all nodes share; each task
// writes only its own files, atomically, so a re-submitted task or array
// is idempotent.
type Job struct {
	// Name names the job files and the engine's jobs ([a-z0-9-], at most
	// 52 characters, as Kubernetes names allow with a pod suffix).
	Name  string
	Tasks int
	// Parallel is how many tasks run at once (Slurm's %N, Kubernetes'
	// parallelism); 0 means all.
	Parallel int
	Task     []string // one task's command line
	Merge    []string // the command after every task succeeded
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

var namePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?$`)

func (j *Job) check() error {
	switch {
	case !namePattern.MatchString(j.Name):
		return fmt.Errorf("job name %q: want lower-case letters, digits and '-', at most 52", j.Name)
	case j.Tasks < 1:
		return fmt.Errorf("job %s: %d tasks, want at least 1", j.Name, j.Tasks)
	case len(j.Task) == 0 || len(j.Merge) == 0:
		return errors.New("job " + j.Name + ": no task or merge command")
	case !filepath.IsAbs(j.Workdir):
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
	if j.Parallel <= 0 || j.Parallel > j.Tasks {
		j.Parallel = j.Tasks
	}
	return nil
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

// WriteSlurm writes the job as Slurm batch scripts into dir: NAME.sbatch,
// an array of Tasks tasks (--array=0-(Tasks-1)%Parallel; each task runs
// Task, which reads its index from SLURM_ARRAY_TASK_ID); NAME-merge.sbatch,
// Merge; and NAME-submit.sh, which submits the array and the merge with
// --dependency=afterok on it. A failed task fails the array, so the merge
// does not run; re-submitting the array (or one task, sbatch --array=K)
// redoes only what is missing. It returns the files written.
func WriteSlurm(dir string, j Job) ([]string, error) {
	if err := j.check(); err != nil {
		return nil, err
	}
	var task, merge, submit bytes.Buffer
	header := func(b *bytes.Buffer, name string) {
		fmt.Fprintf(b, "#!/bin/bash\n#SBATCH --job-name=%s\n#SBATCH --chdir=%s\n#SBATCH --cpus-per-task=%d\n#SBATCH --mem=%s\n#SBATCH --time=%s\n",
			name, j.Workdir, j.CPUs, j.Mem, j.Time)
		if j.Partition != "" {
			fmt.Fprintf(b, "#SBATCH --partition=%s\n", j.Partition)
		}
	}
	header(&task, j.Name)
	fmt.Fprintf(&task, "#SBATCH --array=0-%d%%%d\n#SBATCH --output=%s\n", j.Tasks-1, j.Parallel, filepath.Join(j.Workdir, "slurm", j.Name+"-%a.out"))
	fmt.Fprintf(&task, "# Written by gradcouple: task $SLURM_ARRAY_TASK_ID of %d. Every task writes only its own\n# files, atomically; a finished one is skipped when the array (or a task, sbatch --array=K)\n# is submitted again. %s tells a task submitted alone the shard count.\nset -euo pipefail\nexport OMP_NUM_THREADS=%d GOMAXPROCS=%d %s=%d\nexec %s\n",
		j.Tasks, ShardCountVar, j.CPUs, j.CPUs, ShardCountVar, j.Tasks, Shell(j.Task))
	header(&merge, j.Name+"-merge")
	fmt.Fprintf(&merge, "#SBATCH --output=%s\n", filepath.Join(j.Workdir, "slurm", j.Name+"-merge.out"))
	fmt.Fprintf(&merge, "# Written by gradcouple: runs after every task of %s succeeded.\nset -euo pipefail\nexport GOMAXPROCS=%d\nexec %s\n", j.Name, j.CPUs, Shell(j.Merge))
	fmt.Fprintf(&submit, "#!/bin/sh\n# Submits %s (%d tasks) and its merge, which waits for the whole array to succeed.\nset -eu\ncd %s\nmkdir -p slurm\njid=$(sbatch --parsable %s)\njid=${jid%%%%;*}\nsbatch --parsable --dependency=afterok:$jid %s\n",
		j.Name, j.Tasks, Shell([]string{j.Workdir}), Shell([]string{filepath.Join(dir, j.Name+".sbatch")}), Shell([]string{filepath.Join(dir, j.Name+"-merge.sbatch")}))
	return writeFiles(dir, map[string][]byte{j.Name + ".sbatch": task.Bytes(), j.Name + "-merge.sbatch": merge.Bytes(), j.Name + "-submit.sh": submit.Bytes()})
}

// WriteK8s writes the job as Kubernetes manifests into dir: NAME-job.yaml,
// an Indexed Job (completionMode Indexed, completions Tasks, parallelism
// Parallel, backoffLimitPerIndex 2) whose pods run Task with
// GRADCOUPLE_SHARDS set to Tasks (each pod's JOB_COMPLETION_INDEX is its
// task); NAME-merge.yaml, a Job running Merge; and NAME-submit.sh, which
// applies the first, waits for it to complete and applies the second
// (Kubernetes has no dependencies between Jobs). The PVC is mounted at
// Workdir in every pod.
func WriteK8s(dir string, j Job) ([]string, error) {
	if err := j.check(); err != nil {
		return nil, err
	}
	if j.Image == "" || j.PVC == "" {
		return nil, fmt.Errorf("job %s: Kubernetes needs an image holding gradcouple and a PersistentVolumeClaim for the shared directory", j.Name)
	}
	pod := func(b *bytes.Buffer, argv []string, indexed bool) {
		fmt.Fprintf(b, "  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: gradcouple\n        image: %s\n        workingDir: %s\n",
			yamlString(j.Image), yamlString(j.Workdir))
		b.WriteString("        command:\n")
		for _, a := range argv {
			fmt.Fprintf(b, "        - %s\n", yamlString(a))
		}
		b.WriteString("        env:\n")
		fmt.Fprintf(b, "        - name: GOMAXPROCS\n          value: %s\n", yamlString(strconv.Itoa(j.CPUs)))
		if indexed {
			fmt.Fprintf(b, "        - name: %s\n          value: %s\n", ShardCountVar, yamlString(strconv.Itoa(j.Tasks)))
		}
		fmt.Fprintf(b, "        resources:\n          requests:\n            cpu: %s\n            memory: %s\n          limits:\n            memory: %s\n",
			yamlString(strconv.Itoa(j.CPUs)), yamlString(k8sMem(j.Mem)), yamlString(k8sMem(j.Mem)))
		fmt.Fprintf(b, "        volumeMounts:\n        - name: shared\n          mountPath: %s\n      volumes:\n      - name: shared\n        persistentVolumeClaim:\n          claimName: %s\n",
			yamlString(j.Workdir), yamlString(j.PVC))
	}
	var job, merge, submit bytes.Buffer
	fmt.Fprintf(&job, "# Written by gradcouple: %d tasks; each pod's JOB_COMPLETION_INDEX is its task.\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: %s\nspec:\n  completionMode: Indexed\n  completions: %d\n  parallelism: %d\n  backoffLimitPerIndex: 2\n  maxFailedIndexes: %d\n",
		j.Tasks, j.Name, j.Tasks, j.Parallel, j.Tasks)
	pod(&job, j.Task, true)
	fmt.Fprintf(&merge, "# Written by gradcouple: apply once %s has completed (%s-submit.sh does).\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: %s-merge\nspec:\n  backoffLimit: 1\n", j.Name, j.Name, j.Name)
	pod(&merge, j.Merge, false)
	fmt.Fprintf(&submit, "#!/bin/sh\n# Runs %s (%d tasks) and then its merge.\nset -eu\nkubectl apply -f %s\nkubectl wait --for=condition=complete --timeout=-1s job/%s\nkubectl apply -f %s\n",
		j.Name, j.Tasks, Shell([]string{filepath.Join(dir, j.Name+"-job.yaml")}), j.Name, Shell([]string{filepath.Join(dir, j.Name+"-merge.yaml")}))
	return writeFiles(dir, map[string][]byte{j.Name + "-job.yaml": job.Bytes(), j.Name + "-merge.yaml": merge.Bytes(), j.Name + "-submit.sh": submit.Bytes()})
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
