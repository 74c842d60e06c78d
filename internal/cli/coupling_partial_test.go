package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCouplingNoPartialOutput: coupling that fails on a later checkpoint, or
// whose --sim-out cannot be written, leaves none of its outputs (probes,
// tables, exported stores) behind; a bad output directory is refused before
// any work.
func TestCouplingNoPartialOutput(t *testing.T) {
	run1 := runFixture(t, "r", 3)
	out := t.TempDir()
	outputs := map[string]string{
		"--probes-out": filepath.Join(out, "probes.parquet"),
		"--out":        filepath.Join(out, "coupling.csv"),
		"--export":     filepath.Join(out, "grads"),
	}
	args := []string{"coupling", run1, "--num-probes", "8", "--heat", "2", "--pairs", "2", "--eta", "1e-3"}
	for f, p := range outputs {
		args = append(args, f, p)
	}
	left := func(what string) {
		t.Helper()
		ents, _ := os.ReadDir(out)
		for _, e := range ents {
			t.Errorf("%s: %s left behind", what, e.Name())
		}
	}
	// A --sim-out in a missing directory: refused up front (exit 2).
	if _, stderr, code := run(t, append(args, "--sim-out", filepath.Join(out, "missing", "sim.csv"))...); code != ExitBadInput {
		t.Errorf("--sim-out in a missing directory: exit %d, want %d (stderr %q)", code, ExitBadInput, stderr)
	}
	left("--sim-out in a missing directory")
	// A --sim-out that cannot be written when the tables are written: a
	// directory where the file should go.
	simDir := filepath.Join(t.TempDir(), "sim.csv")
	os.MkdirAll(filepath.Join(simDir, "x"), 0o755)
	if _, _, code := run(t, append(args, "--sim-out", simDir)...); code == 0 {
		t.Errorf("--sim-out over a directory: exit 0")
	}
	left("--sim-out over a directory")
	// The later checkpoint is damaged: the first one's export must go too.
	model := filepath.Join(run1, "checkpoints", "iter-000001", "model.safetensors")
	if err := os.WriteFile(model, []byte("not a safetensors file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, code := run(t, args...); code == 0 {
		t.Errorf("coupling with a damaged later checkpoint: exit 0")
	}
	left("a damaged later checkpoint")
}
