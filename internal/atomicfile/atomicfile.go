// Package atomicfile writes files so that a reader, or a crash, never sees a
// half-written one: the content goes to a temporary file in the same directory,
// which is synced and then renamed over the destination.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write creates path atomically with the bytes that fill writes. If fill returns
// an error, or anything fails, the temporary file is removed and path is left as
// it was (absent or with its old content).
func Write(path string, fill func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, bare(err))
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = fill(&writer{f: f, path: path}); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", path, bare(err))
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", path, bare(err))
	}
	if err = os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("setting mode of %s: %w", path, bare(err))
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming into %s: %w", path, bare(err))
	}
	return nil
}

// writer is the temporary file as fill sees it: its errors name the
// destination, not the temporary name, which means nothing to a user.
type writer struct {
	f    *os.File
	path string
}

func (w *writer) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	if err != nil {
		err = fmt.Errorf("writing %s: %w", w.path, bare(err))
	}
	return n, err
}

// bare strips the temporary file's name from an *os.PathError or
// *os.LinkError, keeping the cause (errors.Is still matches, e.g.
// fs.ErrNotExist or syscall.ENOSPC).
func bare(err error) error {
	switch e := err.(type) {
	case *os.PathError:
		return e.Err
	case *os.LinkError:
		return e.Err
	}
	return err
}

// WriteBytes is Write for a byte slice.
func WriteBytes(path string, b []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}
