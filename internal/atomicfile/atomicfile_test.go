package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

// TestErrorsNameDestination: no error shows the temporary file's name.
func TestErrorsNameDestination(t *testing.T) {
	dir := t.TempDir()
	// The directory does not exist: creating the temporary file fails.
	p := filepath.Join(dir, "missing", "out.parquet")
	err := WriteBytes(p, []byte("x"))
	if err == nil || strings.Contains(err.Error(), ".tmp-") || !strings.Contains(err.Error(), p) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v", err)
	}
	// The destination is a non-empty directory: the rename fails.
	p = filepath.Join(dir, "taken")
	if err := os.MkdirAll(filepath.Join(p, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	err = WriteBytes(p, []byte("x"))
	if err == nil || strings.Contains(err.Error(), ".tmp-") || !strings.Contains(err.Error(), p) {
		t.Errorf("rename over a directory: %v", err)
	}
	// A write error inside fill.
	p = filepath.Join(dir, "w.bin")
	err = Write(p, func(w io.Writer) error {
		ww := w.(*writer)
		ww.f.Close() // make the next write fail
		_, err := w.Write([]byte("x"))
		return err
	})
	if err == nil || strings.Contains(err.Error(), ".tmp-") || !strings.Contains(err.Error(), p) {
		t.Errorf("write error: %v", err)
	}
}
