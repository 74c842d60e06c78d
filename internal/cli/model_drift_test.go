package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/internal/table"
)

// TestModelDrift: `model drift RUN` names the unseen tokens and prints a row
// per model and group; --json gives the rows as data; the help explains
// every column; a directory that is no run is bad input.
func TestModelDrift(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	if _, stderr, code := run(t, "train", dir, "--iterations", "0", "--train-tasks", "4", "--tasks", "1", "--group-size", "2",
		"--dim", "8", "--layers", "1", "--heads", "2", "--cold-start-demos", "2", "--cold-start-steps", "2",
		"--cold-start-batch", "2", "--eval-every", "0", "--quiet"); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	out, stderr, code := run(t, "model", "drift", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"household, word tokenizer, cold_start.freeze_unseen no:", "bodax", "iter-000000", "unseen", "shift_cos"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, _, code = run(t, "--json", "model", "drift", dir, "--checkpoints", "0")
	var rows []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 4 {
		t.Errorf("--json: exit %d, %d rows: %s", code, len(rows), out)
	}
	help, _, _ := run(t, "model", "drift", "--help")
	header, _, _ := table.Cells([]analysis.DriftRow{})
	for _, col := range append(header, "- is a value that is not defined") {
		if !strings.Contains(help, col) {
			t.Errorf("help does not explain %q", col)
		}
	}
	if _, _, code := run(t, "model", "drift", t.TempDir()); code != ExitBadInput {
		t.Errorf("not a run: exit %d", code)
	}
	if _, _, code := run(t, "model", "drift", dir, "--checkpoints", "7"); code != ExitBadInput {
		t.Errorf("missing checkpoint: exit %d", code)
	}
}
