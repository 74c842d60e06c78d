package analysis

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"github.com/gradcouple/gradcouple/internal/atomicfile"
)

// A StudyCache keeps the results of a study's expensive analyses on disk so
// that figures, compare and report, run one after the other on the same
// inputs, compute each analysis once. An entry holds one analysis (the log
// analyses of one input, consistency by resampling or coupling of the runs
// of one environment) and is valid for exactly one key: the identity of
// every input file it read (path, size, modification time, and the content
// of files up to 1 MiB), the version of the code and the options that shape
// the result. An entry whose key differs, whose checksum fails or that does
// not decode is ignored and replaced: the cache is never trusted over a
// recomputation.
//
// Entries live in DIR/.gradcouple-cache beside the input (the run
// directory, or the directory of a log file), or all in Dir when it is set.
// A cache that cannot be written is reported to Warn and otherwise ignored.
type StudyCache struct {
	// Dir, if not empty, holds every entry instead of the inputs'
	// directories.
	Dir string
	// Code identifies the analysis code; "" means CodeVersion().
	Code string

	once sync.Once
	code string
}

// CacheDirName is the directory beside an input that holds its cache.
const CacheDirName = ".gradcouple-cache"

// cacheFormat is bumped whenever an analysis behind a cached result
// changes what it computes or the layout of a cached value changes; every
// older entry is then recomputed.
const cacheFormat = "gradcouple-study-cache 3"

// CodeVersion identifies the running code for cache keys: the cache format
// and the module version with its VCS revision from the build info; a build
// from a modified tree (vcs.modified) or without VCS information adds the
// SHA-256 of the executable, so that any rebuild invalidates the cache.
func CodeVersion() string {
	parts := []string{cacheFormat}
	clean := false
	if bi, ok := debug.ReadBuildInfo(); ok {
		parts = append(parts, bi.Main.Path, bi.Main.Version, bi.GoVersion)
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		parts = append(parts, rev, modified)
		clean = rev != "" && modified == "false"
	}
	if !clean {
		if exe, err := os.Executable(); err == nil {
			if sum, err := fileSum(exe); err == nil {
				parts = append(parts, sum)
			}
		}
	}
	return strings.Join(parts, "\n")
}

func (c *StudyCache) codeVersion() string {
	c.once.Do(func() {
		c.code = c.Code
		if c.code == "" {
			c.code = CodeVersion()
		}
	})
	return c.code
}

// smallFile is the size up to which a file's content is part of its
// identity (larger files: size and modification time).
const smallFile = 1 << 20

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// inputIdentity describes the files under the given paths (files, or
// directories walked recursively, hidden entries skipped) for a cache key:
// one line per file with its path, size, modification time and, for small
// files, the SHA-256 of its content. Paths that do not exist are listed as
// missing.
func inputIdentity(paths ...string) (string, error) {
	var b strings.Builder
	add := func(p string, info fs.FileInfo) error {
		fmt.Fprintf(&b, "%s\t%d\t%d", p, info.Size(), info.ModTime().UnixNano())
		if info.Size() <= smallFile {
			sum, err := fileSum(p)
			if err != nil {
				return err
			}
			b.WriteString("\t" + sum)
		}
		b.WriteByte('\n')
		return nil
	}
	for _, p := range paths {
		info, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			fmt.Fprintf(&b, "%s\tmissing\n", p)
			continue
		case err != nil:
			return "", err
		case !info.IsDir():
			if err := add(p, info); err != nil {
				return "", err
			}
			continue
		}
		err = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if q != p && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			info, err := os.Stat(q) // follows links
			if err != nil || !info.Mode().IsRegular() {
				return err
			}
			return add(q, info)
		})
		if err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// cacheEntry names one cached analysis: Kind and Name make its file name
// (one file per analysis of one set of inputs and options, replaced when
// the key changes), Key is everything the result depends on.
type cacheEntry struct {
	Dir  string // the directory of the cache (".../.gradcouple-cache")
	Kind string // "logs", "resample", "coupling"
	Name string // what the inputs and options are, in words (hashed for the file name)
	Key  string // Name plus input identities and code version
}

func (e cacheEntry) path() string {
	h := sha256.Sum256([]byte(e.Name))
	return filepath.Join(e.Dir, e.Kind+"-"+hex.EncodeToString(h[:12])+".gob")
}

// entry builds the cache entry of an analysis of inputs (run directories
// or log patterns) whose result depends on the files under files and on
// options; it is kept beside the first input unless c.Dir is set.
func (c *StudyCache) entry(kind string, inputs []string, files []string, options string) (cacheEntry, error) {
	dir := c.Dir
	if dir == "" {
		dir = filepath.Join(besideDir(inputs[0]), CacheDirName)
	}
	abs := make([]string, len(inputs))
	for i, in := range inputs {
		a, err := filepath.Abs(in)
		if err != nil {
			return cacheEntry{}, err
		}
		abs[i] = a
	}
	name := kind + "\n" + strings.Join(abs, "\n") + "\n" + options
	id, err := inputIdentity(files...)
	if err != nil {
		return cacheEntry{}, err
	}
	return cacheEntry{Dir: dir, Kind: kind, Name: name, Key: name + "\n" + c.codeVersion() + "\n" + id}, nil
}

// besideDir is the directory whose cache holds the results of input: a
// directory itself, else the directory of a file or of a glob's first
// match (or of the pattern).
func besideDir(input string) string {
	if st, err := os.Stat(input); err == nil {
		if st.IsDir() {
			return input
		}
		return filepath.Dir(input)
	}
	if m, _ := filepath.Glob(input); len(m) > 0 {
		return besideDir(m[0])
	}
	return filepath.Dir(input)
}

// cacheMagic starts every entry; then the SHA-256 of the rest, the key's
// length and the key, and the gob-encoded value.
const cacheMagic = "gradcouple cache\n"

// load reads the entry's value into v; ok is false when there is no valid
// entry for this key (missing, stale, corrupt), and why says which.
func (e cacheEntry) load(v any) (ok bool, why string) {
	b, err := os.ReadFile(e.path())
	if errors.Is(err, fs.ErrNotExist) {
		return false, ""
	}
	if err != nil {
		return false, err.Error()
	}
	rest, found := bytes.CutPrefix(b, []byte(cacheMagic))
	if !found || len(rest) < sha256.Size {
		return false, "not a cache entry"
	}
	sum, body := rest[:sha256.Size], rest[sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return false, "checksum mismatch"
	}
	dec := gob.NewDecoder(bytes.NewReader(body))
	var key string
	if err := dec.Decode(&key); err != nil {
		return false, "undecodable key: " + err.Error()
	}
	if key != e.Key {
		return false, "stale" // inputs, code or options changed: recompute quietly
	}
	if err := dec.Decode(v); err != nil {
		return false, "undecodable value: " + err.Error()
	}
	return true, ""
}

// store writes v as the entry's value, atomically.
func (e cacheEntry) store(v any) error {
	var body bytes.Buffer
	enc := gob.NewEncoder(&body)
	if err := enc.Encode(e.Key); err != nil {
		return err
	}
	if err := enc.Encode(v); err != nil {
		return err
	}
	if err := os.MkdirAll(e.Dir, 0o755); err != nil {
		return err
	}
	sum := sha256.Sum256(body.Bytes())
	return atomicfile.WriteBytes(e.path(), slices.Concat([]byte(cacheMagic), sum[:], body.Bytes()))
}

// cached returns the value of an analysis from the cache c (nil: no cache)
// or computes it with compute and stores it. hit says whether the value
// came from the cache. Problems with the cache itself (unreadable or
// corrupt entries, a directory that cannot be written) go to warn and never
// fail the analysis.
func cached[T any](c *StudyCache, warn func(string), kind string, inputs, files []string, options string, compute func() (T, error)) (v T, hit bool, err error) {
	if c == nil {
		v, err = compute()
		return v, false, err
	}
	e, err := c.entry(kind, inputs, files, options)
	if err != nil {
		warn(fmt.Sprintf("cache: %v; computing without the cache", err))
		v, err = compute()
		return v, false, err
	}
	ok, why := e.load(&v)
	if ok {
		return v, true, nil
	}
	if why != "" && why != "stale" {
		warn(fmt.Sprintf("cache entry %s ignored (%s); recomputing", e.path(), why))
	}
	var zero T
	if v, err = compute(); err != nil {
		return zero, false, err
	}
	if err := e.store(v); err != nil {
		warn(fmt.Sprintf("cache: cannot write %s: %v (results are not cached)", e.path(), err))
	}
	return v, false, nil
}
