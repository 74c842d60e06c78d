package checkpoint

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// A dirKind is a kind of directory written atomically (Save,
// WriteBergsonDir): what it is called in errors and the files that mark an
// existing directory as one of its kind, which may then be replaced.
type dirKind struct {
	name    string   // "checkpoint directory", "Bergson store"
	markers []string // file names; any one marks a directory of the kind
}

// writeDir writes the directory dir atomically: fill writes the files into
// a new hidden sibling directory ".BASE.tmp-XXXX" (the parent is created if
// needed), which is made 0755, synced and renamed to dir (replaceDir). An
// existing dir is replaced only if k.replaceable accepts it. On any error
// before the rename dir is left as it was and the temporary directory is
// removed.
func (k dirKind) writeDir(dir string, fill func(tmp string) error) (err error) {
	dir = filepath.Clean(dir)
	parent, base := filepath.Split(dir)
	if base == "" || base == "." || base == ".." || base == string(filepath.Separator) {
		return errors.New("not a directory name")
	}
	if parent == "" {
		parent = "."
	}
	if err := k.replaceable(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := fill(tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	return k.replaceDir(tmp, dir, parent, base)
}

// replaceable returns nil if dir does not exist or is a directory that may
// be replaced: empty, or holding one of k's marker files.
func (k dirKind) replaceable(dir string) error {
	st, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s exists and is not a directory", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(ents) == 0 {
		return nil
	}
	for _, e := range ents {
		if slices.Contains(k.markers, e.Name()) {
			return nil
		}
	}
	return fmt.Errorf("%s exists and is not a %s (no %s); refusing to replace it", dir, k.name, strings.Join(k.markers, " or "))
}

// replaceDir renames the complete directory tmp to dir, moving an existing
// dir aside first and removing it afterwards.
func (k dirKind) replaceDir(tmp, dir, parent, base string) error {
	err := os.Rename(tmp, dir)
	if err == nil {
		return syncDir(parent)
	}
	if _, statErr := os.Lstat(dir); statErr != nil {
		return err // dir does not exist: the rename failed for another reason
	}
	if err := k.replaceable(dir); err != nil {
		return err
	}
	// Move the old directory aside to a fresh unique name (os.Rename does
	// not replace a directory, not even an empty one).
	old, err := os.MkdirTemp(parent, "."+base+".old-*")
	if err != nil {
		return err
	}
	if err := os.Remove(old); err != nil {
		return err
	}
	if err := os.Rename(dir, old); err != nil {
		return fmt.Errorf("moving the previous %s aside: %w", k.name, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if err2 := os.Rename(old, dir); err2 != nil {
			return fmt.Errorf("renaming into place: %w (and restoring the previous %s from %s: %v)", err, k.name, old, err2)
		}
		return fmt.Errorf("renaming into place: %w", err)
	}
	if err := syncDir(parent); err != nil {
		return err
	}
	return os.RemoveAll(old)
}

// syncDir makes the entries of directory dir durable. File systems that
// cannot sync a directory (EINVAL) are tolerated.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
