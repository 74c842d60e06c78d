package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// Environment variables of the child process TestKill9 starts (this test
// binary, running the trainer instead of the tests).
const (
	childDirEnv    = "GRADCOUPLE_TRAINER_CHILD_DIR"
	childConfigEnv = "GRADCOUPLE_TRAINER_CHILD_CONFIG" // JSON Config; empty: resume
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		os.Exit(child(dir, os.Getenv(childConfigEnv)))
	}
	os.Exit(m.Run())
}

// child runs (or, without a configuration, resumes) a run and returns the
// exit status.
func child(dir, cfgJSON string) int {
	var err error
	if cfgJSON == "" {
		_, err = Resume(context.Background(), Options{Dir: dir, Version: "test"})
	} else {
		var cfg Config
		if err = json.Unmarshal([]byte(cfgJSON), &cfg); err == nil {
			_, err = Run(context.Background(), cfg, Options{Dir: dir, Version: "test"})
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		switch {
		case errors.Is(err, ErrLocked):
			return childLocked
		case errors.Is(err, ErrRunExists):
			return childExists
		}
		return 1
	}
	return 0
}

// Exit statuses of a child refused by another trainer's lock or by the run
// another trainer has left in the directory.
const (
	childLocked = 3
	childExists = 4
)

// skipEmulated skips a test that starts this test binary as a child when
// GRADCOUPLE_EMULATED is set: scripts/test-arm64 sets it when the binary runs
// under an emulator (go test -exec qemu-aarch64-static), where os.Args[0] is
// a foreign binary the kernel cannot start by itself ("exec format error").
func skipEmulated(t *testing.T) {
	t.Helper()
	if os.Getenv("GRADCOUPLE_EMULATED") != "" {
		t.Skip("GRADCOUPLE_EMULATED: the test binary cannot start itself as a child under an emulator")
	}
}

// startChild starts this test binary as a trainer on dir (resuming when cfg
// is nil).
func startChild(t *testing.T, dir string, cfg *Config) *exec.Cmd {
	t.Helper()
	skipEmulated(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childConfigEnv+"=")
	if cfg != nil {
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Env = append(cmd.Env, childConfigEnv+"="+string(b))
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// killLoop starts the run, kills it with SIGKILL after each of the delays
// (resuming after each kill), then lets the last resume finish. It returns
// how many kills landed before the run finished by itself.
func killLoop(t *testing.T, dir string, start func(resume bool) *exec.Cmd, delays []time.Duration) int {
	t.Helper()
	kills := 0
	for _, d := range delays {
		cmd := start(started(dir))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run ended with %v before the kill", err)
			}
			return kills // finished before the kill
		case <-time.After(d):
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-done
			kills++
		}
	}
	cmd := start(started(dir))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("final resume: %v", err)
	}
	return kills
}

// started reports whether a run was started in dir (its run.json exists):
// a process killed before that left nothing to resume and is started
// afresh.
func started(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, ManifestFile))
	return err == nil
}

// TestKill9 kills a training process with SIGKILL at several moments, each
// time resuming, and compares the finished directory with an uninterrupted
// run's byte for byte (up to wall-clock fields, see compareRuns).
func TestKill9(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	cfg := tinyConfig()
	cfg.Iterations = 6
	cfg.CheckpointEvery = 3
	t0 := time.Now()
	ref := runDir(t, cfg, "run")
	took := time.Since(t0)
	dir := filepath.Join(t.TempDir(), "run")
	start := func(resume bool) *exec.Cmd {
		if resume {
			return startChild(t, dir, nil)
		}
		return startChild(t, dir, &cfg)
	}
	// Kill at 20%, 50% and 80% of an uninterrupted run's time, counted from
	// each (re)start, which is enough to land in the cold start, in the
	// middle of iterations and near the end.
	var delays []time.Duration
	for _, f := range []float64{0.2, 0.5, 0.8, 0.5} {
		delays = append(delays, 50*time.Millisecond+time.Duration(f*float64(took)))
	}
	kills := killLoop(t, dir, start, delays)
	t.Logf("uninterrupted run %v; %d kills landed", took, kills)
	compareRuns(t, ref, dir)
}

// TestKill9Binary is the long form: the real gradcouple binary, killed with
// SIGKILL at random moments many times, then resumed to the end and
// compared with an uninterrupted run of the binary. It runs with
// GRADCOUPLE_LONG=1 (it builds the binary with the go command).
func TestKill9Binary(t *testing.T) {
	if os.Getenv("GRADCOUPLE_LONG") == "" {
		t.Skip("set GRADCOUPLE_LONG=1 for the long interruption test")
	}
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "gradcouple")
	build := exec.Command("go", "build", "-o", bin, "github.com/gradcouple/gradcouple/cmd/gradcouple")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("building the binary: %v", err)
	}
	cfg := tinyConfig()
	cfg.Model.Dim, cfg.Model.Heads = 16, 2
	cfg.Iterations = 12
	cfg.CheckpointEvery = 4
	cfg.Rollout.Tasks, cfg.Rollout.GroupSize, cfg.Rollout.MaxSteps = 3, 4, 10
	cfg.ColdStart.Steps = 20
	cfgFile := filepath.Join(tmp, "tiny.yaml")
	f, err := os.Create(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.WriteYAML(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	run := func(dir string, resume bool) *exec.Cmd {
		args := []string{"train", "--config", cfgFile, dir}
		if resume {
			args = []string{"train", "--resume", dir}
		}
		cmd := exec.Command(bin, args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	ref := filepath.Join(tmp, "ref", "tiny")
	t0 := time.Now()
	if err := run(ref, false).Wait(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	seed := uint64(time.Now().UnixNano())
	t.Logf("uninterrupted run %v; kill times drawn with seed %d", took, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var delays []time.Duration
	for range 12 {
		delays = append(delays, time.Duration(rng.Float64()*float64(took)/2))
	}
	dir := filepath.Join(tmp, "killed", "tiny")
	kills := killLoop(t, dir, func(resume bool) *exec.Cmd { return run(dir, resume) }, delays)
	t.Logf("%d kills landed", kills)
	compareRuns(t, ref, dir)
}
