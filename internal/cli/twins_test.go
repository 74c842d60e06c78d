package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestTwinsErrors: no input, a missing file, logs of a world without twins
// and a bad threshold are exit 2 with the reason.
func TestTwinsErrors(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "hh.jsonl")
	if _, stderr, code := run(t, "env", "sample", "--env", "household", "--tasks", "2", "--out", log); code != 0 {
		t.Fatal(stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"twins"}, "want RUN... or LOGS..."},
		{[]string{"twins", filepath.Join(dir, "missing.parquet")}, "missing.parquet"},
		{[]string{"twins", log}, "no twin worlds"},
		{[]string{"twins", log, "--threshold", "1.5"}, "--threshold 1.5"},
	} {
		_, stderr, code := run(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %s; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
}
