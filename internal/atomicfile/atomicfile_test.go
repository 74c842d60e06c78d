package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.txt")
	if err := WriteBytes(p, []byte("first")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(p, func(w io.Writer) error {
		io.WriteString(w, "partial")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "first" {
		t.Fatalf("content after failed write = %q, want %q", got, "first")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory has %d entries after failed write, want 1 (temporary file left behind)", len(entries))
	}
}

func TestWriteFailureLeavesNoFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "new.txt")
	Write(p, func(w io.Writer) error { return errors.New("no") })
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("stat after failed write: %v, want not-exist", err)
	}
}
