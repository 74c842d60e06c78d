package trainer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startChildOut is startChild with the child's stderr kept in buf.
func startChildOut(t *testing.T, dir string, cfg *Config, buf *bytes.Buffer) *exec.Cmd {
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
	cmd.Stderr = buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// waitHolder waits until dir's lock file names pid.
func waitHolder(t *testing.T, dir string, pid int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var h LockHolder
		if b, err := os.ReadFile(filepath.Join(dir, LockFile)); err == nil && json.Unmarshal(b, &h) == nil && h.PID == pid {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("process %d never took the lock of %s", pid, dir)
}

// TestLockRefusesSecondTrainer trains in a child process and, while it
// trains, starts a second trainer (fresh and resuming) on the same
// directory: both are refused at once naming the child. After the child is
// killed with SIGKILL, its stale lock is taken over by a resume.
func TestLockRefusesSecondTrainer(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	cfg := tinyConfig()
	cfg.Iterations = 1000 // far longer than the test: it is killed
	dir := filepath.Join(t.TempDir(), "run")
	var stderr bytes.Buffer
	cmd := startChildOut(t, dir, &cfg, &stderr)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-done
	}()
	waitHolder(t, dir, cmd.Process.Pid)
	host, _ := os.Hostname()
	want := fmt.Sprintf("pid %d on host %s", cmd.Process.Pid, host)
	for _, second := range []struct {
		name string
		run  func() error
	}{
		{"fresh", func() error { _, err := Run(context.Background(), cfg, Options{Dir: dir, Version: "test"}); return err }},
		{"resume", func() error { _, err := Resume(context.Background(), Options{Dir: dir, Version: "test"}); return err }},
	} {
		t0 := time.Now()
		err := second.run()
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s trainer while pid %d trains: err = %v, want ErrLocked naming %q", second.name, cmd.Process.Pid, err, want)
		}
		if d := time.Since(t0); d > 5*time.Second {
			t.Errorf("%s trainer refused after %v, want at once", second.name, d)
		}
	}
	for deadline := time.Now().Add(60 * time.Second); !started(dir) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
	done <- nil // for the deferred wait
	if _, err := os.Stat(filepath.Join(dir, LockFile)); err != nil {
		t.Fatalf("the killed trainer left no lock file to take over: %v", err)
	}
	// The stale lock is taken over: the resume gets as far as the hook.
	_, err := Resume(context.Background(), Options{Dir: dir, Version: "test",
		hook: func(int, string) error { return errAbort }})
	if !errors.Is(err, errAbort) {
		t.Fatalf("resume after the holder was killed: err = %v, want it to run (errAbort from the hook)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, LockFile)); !os.IsNotExist(err) {
		t.Errorf("lock file after the resume ended: %v, want it removed", err)
	}
}

// TestLockFreshRace starts two fresh trainers at once on the same absent
// directory, several times: one trains, the other is refused (locked, or the
// directory already holds the finished run), and the directory equals an
// uninterrupted run's.
func TestLockFreshRace(t *testing.T) {
	cfg := tinyConfig()
	ref := runDir(t, cfg, "ref")
	for round := range 3 {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("run%d", round))
		var bufs [2]bytes.Buffer
		var codes [2]int
		var wg sync.WaitGroup
		for k := range 2 {
			cmd := startChildOut(t, dir, &cfg, &bufs[k])
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd.Wait()
				codes[k] = cmd.ProcessState.ExitCode()
			}()
		}
		wg.Wait()
		ok, refused := 0, 0
		for k, c := range codes {
			switch c {
			case 0:
				ok++
			case childLocked, childExists:
				refused++
			default:
				t.Errorf("round %d: trainer %d exited %d: %s", round, k, c, bufs[k].String())
			}
		}
		if ok != 1 || refused != 1 {
			t.Fatalf("round %d: exit statuses %v, want one 0 and one refusal (%d or %d); stderr %q %q",
				round, codes, childLocked, childExists, bufs[0].String(), bufs[1].String())
		}
		compareRuns(t, ref, dir)
	}
}
