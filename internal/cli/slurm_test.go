package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/trainer"
)

// slurmCluster is a one-node Slurm cluster (scripts/slurm/start.sh) for a
// test, with a freshly built gradcouple first on the jobs' PATH.
type slurmCluster struct {
	t       *testing.T
	sandbox string
	environ []string
	// jobs is the directory whose slurm/*.out the failure messages show.
	jobs string
}

// startSlurm skips the test unless GRADCOUPLE_SLURM=1 and root, builds
// gradcouple into a temporary directory put first on PATH (the job scripts
// call it by name and the jobs inherit the submitting environment,
// sbatch's --export=ALL) and starts the cluster, stopped when the test
// ends (unless GRADCOUPLE_SLURM_SANDBOX names a running one).
func startSlurm(t *testing.T) *slurmCluster {
	if os.Getenv("GRADCOUPLE_SLURM") != "1" {
		t.Skip("set GRADCOUPLE_SLURM=1 to run against a real Slurm (scripts/slurm/README.md)")
	}
	if os.Geteuid() != 0 {
		t.Skip("the one-node Slurm of scripts/slurm/start.sh runs as root")
	}
	for _, c := range []string{"slurmctld", "slurmd", "munged", "sbatch", "scontrol", "scancel"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("GRADCOUPLE_SLURM=1 but %s is not installed (apt-get install -y slurm-wlm munge)", c)
		}
	}
	t0 := time.Now()
	scripts, err := filepath.Abs(filepath.Join("..", "..", "scripts", "slurm"))
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "gradcouple"), "github.com/gradcouple/gradcouple/cmd/gradcouple")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built gradcouple in %v", time.Since(t0).Round(time.Millisecond))

	sandbox := os.Getenv("GRADCOUPLE_SLURM_SANDBOX")
	if sandbox == "" {
		sandbox = t.TempDir()
		t.Cleanup(func() {
			if out, err := exec.Command(filepath.Join(scripts, "stop.sh"), sandbox).CombinedOutput(); err != nil {
				t.Errorf("stop.sh: %v\n%s", err, out)
			}
		})
	}
	t1 := time.Now()
	if out, err := exec.Command(filepath.Join(scripts, "start.sh"), sandbox).CombinedOutput(); err != nil {
		t.Fatalf("start.sh: %v\n%s", err, out)
	}
	t.Logf("Slurm up in %v", time.Since(t1).Round(time.Millisecond))
	environ := append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"SLURM_CONF="+filepath.Join(sandbox, "slurm.conf"))
	// Variables of an enclosing Slurm job would leak into the submitted ones.
	environ = slices.DeleteFunc(environ, func(kv string) bool {
		return strings.HasPrefix(kv, "SLURM_") && !strings.HasPrefix(kv, "SLURM_CONF=")
	})
	return &slurmCluster{t: t, sandbox: sandbox, environ: environ}
}

// sh runs a command in the cluster's environment and returns its stdout;
// a failure fails the test.
func (c *slurmCluster) sh(name string, args ...string) string {
	c.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = c.environ
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out)
}

// logs are the jobs' outputs and the end of slurmd's log.
func (c *slurmCluster) logs() string {
	var b strings.Builder
	outs, _ := filepath.Glob(filepath.Join(c.jobs, "slurm", "*.out"))
	for _, f := range outs {
		data, _ := os.ReadFile(f)
		b.WriteString("==== " + f + "\n" + string(data))
	}
	data, _ := os.ReadFile(filepath.Join(c.sandbox, "log", "slurmd.log"))
	if lines := strings.Split(string(data), "\n"); len(lines) > 30 {
		data = []byte(strings.Join(lines[len(lines)-30:], "\n"))
	}
	return b.String() + "==== slurmd.log\n" + string(data)
}

// states are the JobState of every job (and array task) of id.
func (c *slurmCluster) states(id string) []string {
	return strings.Split(strings.TrimSpace(c.sh("scontrol", "show", "job", "-o", id)), "\n")
}

// wait polls scontrol until every job (and array task) of id has ended;
// anything but COMPLETED fails the test with the job outputs (a failed
// task leaves the jobs after it pending with DependencyNeverSatisfied).
func (c *slurmCluster) wait(id string) {
	c.t.Helper()
	deadline := time.Now().Add(6 * time.Minute)
	for {
		done, all := 0, 0
		for _, l := range c.states(id) {
			state, reason := field(l, "JobState"), field(l, "Reason")
			all++
			switch {
			case state == "COMPLETED":
				done++
			case state == "PENDING" && reason == "DependencyNeverSatisfied",
				state == "FAILED", state == "CANCELLED", state == "TIMEOUT", state == "NODE_FAIL", state == "OUT_OF_MEMORY", state == "BOOT_FAIL":
				c.t.Fatalf("job %s: %s\n%s", id, l, c.logs())
			}
		}
		if all > 0 && done == all {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("job %s not done after 6 minutes:\n%s\n%s", id, c.sh("scontrol", "show", "job", "-o", id), c.logs())
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// submit runs an emitted NAME-submit.sh as a user does and returns the
// job id of its last stage, from the line "NAME-STAGE: job ID" it prints
// for each.
func (c *slurmCluster) submit(script string) string {
	c.t.Helper()
	lines := strings.Split(strings.TrimSpace(c.sh("sh", script)), "\n")
	f := strings.Fields(lines[len(lines)-1])
	if len(f) != 3 || f[1] != "job" {
		c.t.Fatalf("%s printed %q, want NAME: job ID per stage", script, lines)
	}
	return f[2]
}

func jobID(parsable string) string {
	id, _, _ := strings.Cut(strings.TrimSpace(parsable), ";")
	return id
}

// TestSlurmCoupling runs `coupling --emit slurm` against a real one-node
// Slurm cluster (Debian's slurm-wlm and munge, started by
// scripts/slurm/start.sh inside the test's own temporary directory): the
// submit script's array of 3 tasks and its merge give the table of the
// unsharded command on the same probes; then a lost shard (its file
// removed, as after a killed task) is recomputed by submitting the array
// again, which leaves the finished shards untouched, and the merge gives
// the identical table; then the same with the lost task re-submitted alone
// (`sbatch --array=K`, as docs/coupling.md says).
//
// It needs root, slurm-wlm and munge, and runs only with
// GRADCOUPLE_SLURM=1 (.ci/run sets it when apt-get can install them).
// GRADCOUPLE_SLURM_SANDBOX=DIR uses (and leaves running) the cluster of
// scripts/slurm/start.sh DIR instead of a fresh one.
func TestSlurmCoupling(t *testing.T) {
	c := startSlurm(t)
	t0 := time.Now()
	run1 := runFixture(t, "alpha", 1)
	dir := filepath.Join(t.TempDir(), "jobs")
	out, stderr, code := run(t, "coupling", run1, "--num-probes", "40", "--eta", "1e-3", "--checkpoints", "1", "--tile-rows", "8",
		"--emit", "slurm", "--emit-dir", dir, "--shards", "3", "--cpus", "1", "--mem", "512M", "--time", "00:10:00")
	if code != 0 {
		t.Fatalf("emit: exit %d: %s\n%s", code, stderr, out)
	}
	task, merge := filepath.Join(dir, "coupling-alpha.sbatch"), filepath.Join(dir, "coupling-alpha-merge.sbatch")
	c.jobs = dir
	// The submit script, as a user runs it: the array, then the merge,
	// whose job id it prints (a failed array task leaves the merge pending
	// with DependencyNeverSatisfied, which wait reports).
	t2 := time.Now()
	c.wait(c.submit(filepath.Join(dir, "coupling-alpha-submit.sh")))
	t.Logf("array of 3 and merge done in %v", time.Since(t2).Round(time.Millisecond))
	table := filepath.Join(dir, "coupling.csv")
	first, err := os.ReadFile(table)
	if err != nil {
		t.Fatalf("%v\n%s", err, c.logs())
	}
	single := filepath.Join(t.TempDir(), "single.csv")
	if _, stderr, code := run(t, "coupling", run1, "--probes", filepath.Join(dir, "probes.parquet"), "--eta", "1e-3", "--checkpoints", "1", "--out", single); code != 0 {
		t.Fatalf("unsharded: exit %d: %s", code, stderr)
	}
	m, s := readCSV(t, table)[0], readCSV(t, single)[0]
	for _, col := range []string{"cos_good", "cos_bad", "cos_good_bad", "harmful_pairs", "harmful_rate", "harmful_mass", "net_delta"} {
		if m[col] == "" || m[col] != s[col] {
			t.Errorf("Slurm-merged %s = %q, unsharded %q", col, m[col], s[col])
		}
	}

	shardFiles := func() []string {
		files, _ := filepath.Glob(filepath.Join(dir, "shards", "*"))
		return files
	}
	files := shardFiles()
	if len(files) < 3 {
		t.Fatalf("shard files %v", files)
	}
	// resubmit removes the files of one shard (as a killed task leaves none:
	// each is written atomically), submits array, waits, checks that the
	// lost file is back and the others untouched, merges again and compares
	// the table with the first, byte for byte. It returns the shard files
	// when they are not the ones before (and then checks nothing more).
	resubmit := func(t *testing.T, what string, array string) (wrong []string) {
		lost := files[1]
		mtimes := map[string]time.Time{}
		for _, f := range files {
			if f != lost {
				st, err := os.Stat(f)
				if err != nil {
					t.Fatal(err)
				}
				mtimes[f] = st.ModTime()
			}
		}
		if err := os.Remove(lost); err != nil {
			t.Fatal(err)
		}
		os.Remove(table)
		t3 := time.Now()
		c.wait(jobID(c.sh("sbatch", "--parsable", "--array="+array, task)))
		if got := shardFiles(); !slices.Equal(got, files) {
			return got
		}
		for f, mt := range mtimes {
			if st, err := os.Stat(f); err != nil || !st.ModTime().Equal(mt) {
				t.Errorf("%s: finished shard %s computed again", what, f)
			}
		}
		c.wait(jobID(c.sh("sbatch", "--parsable", merge)))
		again, err := os.ReadFile(table)
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, c.logs())
		}
		if !bytes.Equal(again, first) {
			t.Errorf("%s: merged table differs:\n%s\nfirst:\n%s", what, again, first)
		}
		t.Logf("%s: lost shard recomputed and merged in %v", what, time.Since(t3).Round(time.Millisecond))
		return nil
	}
	if got := resubmit(t, "array re-submitted", "0-2"); got != nil {
		t.Fatalf("array re-submitted: shard files %v, want %v\n%s", got, files, c.logs())
	}
	// A task re-submitted alone sees SLURM_ARRAY_TASK_MIN = _MAX = K;
	// the script's GRADCOUPLE_SHARDS makes it shard K of 3.
	if got := resubmit(t, "task re-submitted alone", "1"); got != nil {
		t.Fatalf("task re-submitted alone: shard files %v, want %v\n%s", got, files, c.logs())
	}
	t.Logf("total %v", time.Since(t0).Round(time.Millisecond))
}

// field returns the value of KEY=VALUE in a line of `scontrol -o show`.
func field(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// TestSlurmStudy runs `study --emit slurm` on the one-node Slurm: the
// submit script's three stages (the cold starts' array, the runs' array
// with afterok on it, the report with afterok on that) give the tables of
// the study done in one command, byte for byte but for the columns that
// time the work. Then one run is lost and its task killed part way
// (scancel while it trains); the report stage refuses the partial set
// naming the task; the task re-submitted alone (sbatch --array=K) resumes
// it, the other runs untouched, and the report gives the same tables.
func TestSlurmStudy(t *testing.T) {
	c := startSlurm(t)
	t0 := time.Now()
	root := t.TempDir()
	out := filepath.Join(root, "study")
	c.jobs = out
	tables := filepath.Join(out, "tables")
	args := tinyStudy(out, "1,2", 16)
	if _, stderr, code := run(t, append(args, "--export", tables, "--emit", "slurm", "--cpus", "1", "--mem", "1G", "--time", "00:10:00")...); code != 0 {
		t.Fatalf("emit: exit %d: %s", code, stderr)
	}
	jobs := filepath.Join(out, "jobs")
	c.wait(c.submit(filepath.Join(jobs, "study-study-submit.sh")))
	t.Logf("cold starts (2), runs (4) and report on Slurm in %v", time.Since(t0).Round(time.Millisecond))
	first := studyTables(t, tables, out)

	single := filepath.Join(root, "single")
	if _, stderr, code := run(t, append(tinyStudy(single, "1,2", 16), "--export", filepath.Join(single, "tables"))...); code != 0 {
		t.Fatalf("single study: exit %d: %s", code, stderr)
	}
	want := studyTables(t, filepath.Join(single, "tables"), single)
	compareTables(t, "Slurm", first, want)

	// Task 3 (gcd, seed 2) lost and killed part way.
	const task = 3
	lost := filepath.Join(out, "bandit", "gcd-iterations16-cold_steps30-2")
	mtimes := map[string]time.Time{}
	others, _ := filepath.Glob(filepath.Join(out, "bandit", "*", "run.json"))
	for _, f := range others {
		if filepath.Dir(f) != lost {
			st, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			mtimes[f] = st.ModTime()
		}
	}
	if len(mtimes) != 3 {
		t.Fatalf("runs %v", others)
	}
	if err := os.RemoveAll(lost); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(tables); err != nil {
		t.Fatal(err)
	}
	train := filepath.Join(jobs, "study-study-train.sbatch")
	id := jobID(c.sh("sbatch", "--parsable", fmt.Sprintf("--array=%d", task), train))
	killed := false
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if lines, err := analysis.ReadMetricsFile(filepath.Join(lost, trainer.MetricsFile)); err == nil && len(lines) >= 3 {
			c.sh("scancel", "--signal=KILL", "--full", id)
			killed = true
			break
		}
	}
	if !killed {
		t.Fatalf("task %d never trained 3 iterations:\n%s", task, c.logs())
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		s := field(c.states(id)[0], "JobState")
		if s != "PENDING" && s != "RUNNING" && s != "COMPLETING" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %d not ended a minute after scancel", task)
		}
	}
	man, err := trainer.ReadManifest(lost)
	if err != nil {
		t.Fatal(err)
	}
	if man.Finished != "" {
		t.Logf("task %d finished before scancel reached it; the re-submission below skips it", task)
	}
	if _, stderr, code := run(t, append(args, "--stage", "report", "--export", tables)...); man.Finished == "" &&
		(code != 2 || !strings.Contains(stderr, fmt.Sprintf("task %d (bandit-gcd-iterations16-cold_steps30-2)", task))) {
		t.Errorf("report of a partial set: exit %d: %s", code, stderr)
	}
	c.wait(jobID(c.sh("sbatch", "--parsable", fmt.Sprintf("--array=%d", task), train)))
	c.wait(jobID(c.sh("sbatch", "--parsable", filepath.Join(jobs, "study-study-report.sbatch"))))
	for f, mt := range mtimes {
		if st, err := os.Stat(f); err != nil || !st.ModTime().Equal(mt) {
			t.Errorf("finished run %s trained again", filepath.Dir(f))
		}
	}
	compareTables(t, "killed task re-submitted alone", studyTables(t, tables, out), first)
	t.Logf("total %v", time.Since(t0).Round(time.Millisecond))
}
