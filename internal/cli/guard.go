package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// output is one output path of a command and the flag that named it.
type output struct {
	flag string // "out", "sim-out", ...
	path string // "" when the flag was not given
	// shared marks a directory that other processes write into at the same
	// time (the shards of one job): its temporaries are not removed.
	shared bool
}

// guardOutputs is the one check every command runs on its outputs before any
// work: an output that would overwrite an input file or directory, land in
// an input run's logs/ or checkpoints/ (or replace its run.json or
// metrics.jsonl), land in an input directory of logs or a checkpoint, or
// coincide with another output is refused with exit 2. Paths are compared
// absolute and cleaned, with symlinks resolved, and with os.SameFile for
// hard links. inputs are what the command reads: files, directories and
// globs. When every check passes, the hidden temporaries (".NAME.tmp-*",
// ".NAME.old-*", see internal/atomicfile) that a killed earlier run left
// beside each output (and, for an output directory, inside it) are removed.
func guardOutputs(inputs []string, outs ...output) error {
	type in struct {
		path string // resolved
		info fs.FileInfo
	}
	var ins []in
	for _, p := range inputs {
		if p == "" {
			continue
		}
		matches := []string{p}
		if strings.ContainsAny(p, "*?[") {
			if _, err := os.Stat(p); err != nil {
				if m, err := filepath.Glob(p); err == nil {
					matches = m
				}
			}
		}
		for _, m := range matches {
			st, err := os.Stat(m)
			if err != nil {
				continue // missing inputs are reported by the reader
			}
			ins = append(ins, in{resolvePath(m), st})
		}
	}
	seen := map[string]string{}
	for _, o := range outs {
		if o.path == "" {
			continue
		}
		op := resolvePath(o.path)
		if prev, ok := seen[op]; ok {
			return &UsageError{Msg: fmt.Sprintf("--%s %s and --%s name the same file; give them different paths", o.flag, o.path, prev)}
		}
		seen[op] = o.flag
		ost, oerr := os.Stat(o.path)
		for _, i := range ins {
			if op == i.path || (oerr == nil && os.SameFile(ost, i.info)) {
				return &UsageError{Msg: fmt.Sprintf("--%s %s is an input (%s); refusing to overwrite it, choose another path", o.flag, o.path, i.path)}
			}
			for _, d := range protectedDirs(i.path, i.info) {
				if within(op, d) {
					return &UsageError{Msg: fmt.Sprintf("--%s %s is inside %s, which is read as input; choose a path outside it", o.flag, o.path, d)}
				}
			}
		}
	}
	for _, o := range outs {
		if o.path != "" && !o.shared {
			if err := removeStaleTemps(o.path); err != nil {
				return err
			}
		}
	}
	return nil
}

// protectedDirs are the directories that reading input p (resolved, with its
// file info) depends on, so that no output may go inside them: a run
// directory's logs/ and checkpoints/ (and its own files, through p itself),
// a plain directory of logs or a checkpoint directory as a whole, and the
// logs/ directory of a run that a log file belongs to.
func protectedDirs(p string, st fs.FileInfo) []string {
	if !st.IsDir() {
		if dir := filepath.Dir(p); filepath.Base(dir) == "logs" {
			return []string{dir}
		}
		return nil
	}
	if isRunDir(p) {
		return []string{filepath.Join(p, "logs"), filepath.Join(p, "checkpoints"),
			filepath.Join(p, "run.json"), filepath.Join(p, "metrics.jsonl"), filepath.Join(p, "timing.jsonl")}
	}
	return []string{p}
}

// isRunDir reports whether dir looks like a run directory (run.json, or a
// logs/ or checkpoints/ subdirectory).
func isRunDir(dir string) bool {
	for _, f := range []string{"run.json", "logs", "checkpoints"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// within reports whether p is dir or lies below it (both resolved).
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// resolvePath returns p absolute and cleaned with the symlinks of its
// longest existing prefix resolved, so that an output not yet written
// compares equal to where it would land.
func resolvePath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	cur, rest := abs, ""
	for {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// removeStaleTemps removes the hidden temporaries of an atomic write of path
// (".BASE.tmp-*", ".BASE.old-*" beside it, files or directories) and, when
// path is a directory, those of the files inside it: what a killed earlier
// run of the same command on the same output left behind.
func removeStaleTemps(path string) error {
	path = filepath.Clean(path)
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if err := removeTemps(dir, func(name string) bool {
		return strings.HasPrefix(name, "."+base+".tmp-") || strings.HasPrefix(name, "."+base+".old-")
	}); err != nil {
		return err
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return removeTemps(path, func(name string) bool {
			return strings.HasPrefix(name, ".") && (strings.Contains(name, ".tmp-") || strings.Contains(name, ".old-"))
		})
	}
	return nil
}

// removeTemps removes the entries of dir whose names match.
func removeTemps(dir string, match func(string) bool) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil // no directory, no temporaries; writing will say what is wrong
	}
	for _, e := range ents {
		if !match(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.RemoveAll(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the temporary %s of an interrupted earlier write: %w", p, err)
		}
	}
	return nil
}
