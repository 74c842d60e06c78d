package trajlog

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestJSONLByteOrderMark: a JSONL file that starts with a UTF-8 byte order
// mark (as Notepad and PowerShell write it) reads like one without.
func TestJSONLByteOrderMark(t *testing.T) {
	recs := genRecords(5, 3)
	lines := jsonlLines(t, recs)
	data := "\ufeff"
	for _, l := range lines {
		data += l + "\n"
	}
	p := filepath.Join(t.TempDir(), "bom.jsonl")
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadAll(p, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(recs, got); diff != "" {
		t.Errorf("records differ (-want +got):\n%s", diff)
	}
}
