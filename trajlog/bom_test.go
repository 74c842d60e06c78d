package trajlog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
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

// TestJSONLForeignHint: a verl rollout dump given as step records says what
// it is and how to convert it, besides naming the missing field.
func TestJSONLForeignHint(t *testing.T) {
	p := filepath.Join("..", "testdata", "adapters", "verl", "1.jsonl")
	_, err := ReadAll(p, ReadOptions{})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "run" || !strings.Contains(ve.Msg, "gradcouple convert --format verl") {
		t.Errorf("got %v, want a missing-field error with a convert hint", err)
	}
}
