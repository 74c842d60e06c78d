package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/trainer"
)

// TestTrainLockedExit2: while a trainer holds a run directory (here in this
// process, paused in its cold start), `train` and `train --resume` on it are
// refused with exit 2 naming the holder.
func TestTrainLockedExit2(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	cfgFile := filepath.Join(t.TempDir(), "tiny.yaml")
	if err := os.WriteFile(cfgFile, []byte(tinyTrainYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := trainer.DecodeConfig(strings.NewReader(tinyTrainYAML), cfgFile, mustDefaults(t))
	if err != nil {
		t.Fatal(err)
	}
	paused, resume := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		first := true
		_, err := trainer.Run(context.Background(), cfg, trainer.Options{Dir: dir, Version: "test", Progress: func(trainer.Progress) {
			if first {
				first = false
				close(paused)
				<-resume
			}
		}})
		done <- err
	}()
	select {
	case <-paused:
	case err := <-done:
		t.Fatalf("the first trainer ended before its first step: %v", err)
	}
	want := fmt.Sprintf("pid %d on host", os.Getpid())
	for _, args := range [][]string{{"train", "--resume", dir}, {"train", "--config", cfgFile, dir}} {
		_, stderr, code := run(t, args...)
		if code != ExitBadInput || !strings.Contains(stderr, want) || !strings.Contains(stderr, "locked") {
			t.Errorf("%v while another trainer holds %s: exit %d, stderr %q; want %d naming %q", args, dir, code, stderr, ExitBadInput, want)
		}
	}
	close(resume)
	if err := <-done; err != nil {
		t.Fatalf("the first trainer: %v", err)
	}
	if _, stderr, code := run(t, "train", "--resume", dir); code != 0 || strings.Contains(stderr, "locked") {
		t.Errorf("train --resume after the first trainer finished: exit %d, stderr %q", code, stderr)
	}
}

func mustDefaults(t *testing.T) trainer.Config {
	t.Helper()
	c, err := trainer.Defaults(trainer.PresetDefault, trainer.AlgoGCD)
	if err != nil {
		t.Fatal(err)
	}
	c.Run = "run"
	return c
}
