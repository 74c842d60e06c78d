package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/trajlog"
)

// TestConvertRewardColumnsNote: with default reward columns, convert lists
// them on stderr and suggests --reward-columns for a float column whose name
// does not look like a reward (testdata/adapters/trl-extra has
// accuracy_reward and a log_extra column entropy).
func TestConvertRewardColumnsNote(t *testing.T) {
	in := filepath.Join("..", "..", "testdata", "adapters", "trl-extra")
	out := filepath.Join(t.TempDir(), "out.parquet")
	_, stderr, code := run(t, "convert", in, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"accuracy_reward, entropy", "entropy does not look like a reward", "--reward-columns accuracy_reward"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not contain %q", stderr, want)
		}
	}
	// Named columns: no note.
	_, stderr, code = run(t, "convert", in, "--out", out, "--reward-columns", "accuracy_reward")
	if code != 0 || stderr != "" {
		t.Errorf("with --reward-columns: exit %d, stderr %q", code, stderr)
	}
	recs, err := trajlog.ReadAll(out, trajlog.ReadOptions{})
	if err != nil || len(recs) != 2 || recs[0].Outcome != 1 || recs[1].Outcome != 0 {
		t.Errorf("outcomes from accuracy_reward alone: %v %+v", err, recs)
	}
}

// TestConvertFormatNamesColumn: --format picks the reader, so a file that
// detection cannot classify gets an error naming its missing column.
func TestConvertFormatNamesColumn(t *testing.T) {
	for _, c := range []struct{ file, format, field string }{
		{"verl-no-score.jsonl", "verl", "field score"},
		{"trl-no-completion.parquet", "trl", "field completion"},
	} {
		in := filepath.Join("..", "..", "testdata", "malformed", c.file)
		out := filepath.Join(t.TempDir(), "out.parquet")
		_, stderr, code := run(t, "convert", "--format", c.format, in, "--out", out)
		if code != ExitBadInput || !strings.Contains(stderr, c.field) || !strings.Contains(stderr, c.file) {
			t.Errorf("convert --format %s %s: exit %d, stderr %q; want 2 naming %s", c.format, c.file, code, stderr, c.field)
		}
	}
}

// TestConvertInvalidUTF8: invalid UTF-8 in any text field of any format is
// refused with exit 2 naming the file, row and field, and nothing is written.
func TestConvertInvalidUTF8(t *testing.T) {
	for _, c := range []struct{ file, where string }{
		{"verl-invalid-utf8.jsonl", "row 2: field prompt"},
		{"verl-lone-surrogate.jsonl", "row 1: field action"},
		{"rllm-invalid-utf8.json", "row 5: field action"},
		{"trl-invalid-utf8.parquet", "row 2: field completion"},
	} {
		in := filepath.Join("..", "..", "testdata", "malformed", c.file)
		out := filepath.Join(t.TempDir(), "out.parquet")
		_, stderr, code := run(t, "convert", in, "--out", out)
		if code != ExitBadInput || !strings.Contains(stderr, c.file+": "+c.where) || !strings.Contains(stderr, "UTF-8") && !strings.Contains(stderr, "Unicode") {
			t.Errorf("convert %s: exit %d, stderr %q; want 2 with %q", c.file, code, stderr, c.where)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("convert %s wrote %s", c.file, out)
		}
	}
}

// TestConvertErrorsNameUserPath: an output that cannot be created is named
// as the user gave it, never as the temporary file convert writes first.
func TestConvertErrorsNameUserPath(t *testing.T) {
	in := filepath.Join("..", "..", "testdata", "adapters", "verl")
	out := filepath.Join(t.TempDir(), "no-such-dir", "out.parquet")
	_, stderr, code := run(t, "convert", in, "--out", out)
	if code == 0 || !strings.Contains(stderr, out) || strings.Contains(stderr, ".tmp-") {
		t.Errorf("exit %d, stderr %q; want an error naming %s and no temporary file", code, stderr, out)
	}
}
