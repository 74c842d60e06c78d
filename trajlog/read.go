package trajlog

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Defaults of ReadOptions.
const (
	// DefaultMaxLineBytes bounds one JSONL line (ReadOptions.MaxLineBytes).
	DefaultMaxLineBytes = 16 << 20
	// DefaultMaxPageBytes bounds the uncompressed size of one parquet page
	// (ReadOptions.MaxPageBytes). Writers use pages of 1 MiB or less.
	DefaultMaxPageBytes = 64 << 20
)

// ReadOptions tunes a Reader. The zero value reads every column with the
// default limits.
type ReadOptions struct {
	// SkipPrompt leaves Record.Prompt empty, and Record.PromptIDs and
	// Record.ActionIDs nil: the prompt's token ids are as large as its text,
	// and the ids come in pairs (an action's ids mean nothing without the
	// prompt's). For parquet these columns are then never read from disk nor
	// decompressed, which makes scans several times faster: prompts are most
	// of a log's bytes. JSONL lines are still parsed in full (and a prompt or
	// an id of the wrong JSON type is still an error).
	SkipPrompt bool
	// MaxLineBytes bounds the length of one JSONL line, newline excluded; a
	// longer line is an error naming the file and line, found after reading at
	// most this many bytes of it. 0 means DefaultMaxLineBytes.
	MaxLineBytes int
	// MaxPageBytes bounds the uncompressed size of one parquet page, so that
	// a corrupt or hostile page header cannot make the reader allocate
	// gigabytes. 0 means DefaultMaxPageBytes.
	MaxPageBytes int
}

func (o ReadOptions) maxLine() int {
	if o.MaxLineBytes > 0 {
		return o.MaxLineBytes
	}
	return DefaultMaxLineBytes
}

func (o ReadOptions) maxPage() int64 {
	if o.MaxPageBytes > 0 {
		return int64(o.MaxPageBytes)
	}
	return DefaultMaxPageBytes
}

// fileReader reads the records of one file.
type fileReader interface {
	// read fills dst with the next records. It returns io.EOF, possibly
	// with n > 0, at the end of the file; any other error is final.
	read(dst []Record) (int, error)
	// keyValues returns the file's key-value metadata (nil for JSONL).
	keyValues() map[string]string
	close() error
}

// Reader streams step records from a sequence of parquet and JSONL files, one
// file open at a time, holding at most one row group's pages per column in
// memory. It is not safe for concurrent use.
type Reader struct {
	files   []string
	opts    ReadOptions
	next    int        // index in files of the next file to open
	cur     fileReader // nil between files
	curName string
	derived []string
	err     error // sticky: io.EOF or the first error
	closed  bool
	owned   bool // the reader opened its files (Open) rather than being given one
}

// Open returns a Reader over the step-record files that pattern names:
//
//   - a file (.parquet or .jsonl);
//   - a directory: its *.parquet and *.jsonl files (not recursive, hidden
//     files skipped); if it has a logs subdirectory, as a run directory
//     does (DESIGN.md §3.2), that subdirectory's iter-NNNNNN.parquet (or
//     .jsonl) files are read instead, so that run.json, metrics.jsonl and
//     files dropped into logs/ are not taken for step records;
//   - a glob (filepath.Match syntax): the matching .parquet and .jsonl
//     files, and matching directories read as above.
//
// Files are read in natural order: iter-000002 before iter-000010, and
// iter-2 before iter-10. When nothing matches, the error wraps
// fs.ErrNotExist. Open opens the first file to report a bad schema early;
// its errors are *ValidationError for bad data. The zero ReadOptions reads
// everything with default limits.
func Open(pattern string, opts ReadOptions) (*Reader, error) {
	files, err := expand(pattern)
	if err != nil {
		return nil, err
	}
	r := &Reader{files: files, opts: opts, owned: true}
	if err := r.openNext(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// ReadAll reads every record that pattern names (see Open) into memory. Use
// Open and Read for logs larger than memory. On error it returns the error and
// no records.
func ReadAll(pattern string, opts ReadOptions) ([]Record, error) {
	r, err := Open(pattern, opts)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var all []Record
	buf := make([]Record, 1024)
	for {
		n, err := r.Read(buf)
		all = append(all, buf[:n]...)
		if err == io.EOF {
			return all, r.Close()
		}
		if err != nil {
			return nil, err
		}
	}
}

// NewParquetReader returns a Reader over one parquet file held in ra (which
// must not be nil and must be safe for concurrent ReadAt calls, as *os.File
// and *bytes.Reader are), of size bytes; name is used in errors and by File.
// The caller keeps ownership of ra: Close does not close it. The footer,
// schema and schema version are checked here, with errors as for Open.
func NewParquetReader(ra io.ReaderAt, size int64, name string, opts ReadOptions) (*Reader, error) {
	pf, err := openParquet(name, ra, size, opts)
	if err != nil {
		return nil, err
	}
	r := &Reader{files: []string{name}, opts: opts, next: 1}
	r.setCurrent(name, pf)
	return r, nil
}

// NewJSONLReader returns a Reader over JSONL records read from rd, which must
// not be nil; name is used in errors and by File. The caller keeps ownership
// of rd: Close does not close it. Errors appear at the first Read.
func NewJSONLReader(rd io.Reader, name string, opts ReadOptions) *Reader {
	r := &Reader{files: []string{name}, opts: opts, next: 1}
	r.setCurrent(name, newJSONLFile(name, rd, nil, opts))
	return r
}

// Files returns the files the reader reads, in order. The caller must not
// modify the slice.
func (r *Reader) Files() []string { return r.files }

// File returns the file being read: the one the last Read took records from,
// or the first file before any Read. After the end it is the last file.
func (r *Reader) File() string { return r.curName }

// Derived returns the union of the fields that the files read so far list as
// derived (MetadataDerivedKey), in column order; nil when none. JSONL files
// carry no such metadata.
func (r *Reader) Derived() []string { return r.derived }

// KeyValues returns the key-value metadata of the current file (see File),
// or nil between files and for JSONL. The caller must not modify the map.
func (r *Reader) KeyValues() map[string]string {
	if r.cur == nil {
		return nil
	}
	return r.cur.keyValues()
}

// Read fills dst with the next records and returns how many it read. At the
// end of the last file it returns 0, io.EOF; like io.Reader it may return
// n > 0 with a nil error and a short count at file boundaries, and it never
// returns 0, nil for a non-empty dst. On bad data it returns the records that
// precede the bad row (n may be > 0) with a *ValidationError naming file,
// row (1-based; the line for JSONL) and field; errors are final and repeated
// by later calls. Every field of dst[:n] is overwritten (Prompt with "" and
// the token ids with nil when SkipPrompt is set; the ids with nil when the
// file has none). An empty dst returns 0, nil.
func (r *Reader) Read(dst []Record) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.closed {
		return 0, errors.New("trajlog: Read on closed Reader")
	}
	if len(dst) == 0 {
		return 0, nil
	}
	for {
		if r.cur == nil {
			if r.next >= len(r.files) {
				r.err = io.EOF
				return 0, io.EOF
			}
			if err := r.openNext(); err != nil {
				r.err = err
				return 0, err
			}
		}
		n, err := r.readCurrent(dst)
		if err == io.EOF {
			if cerr := r.closeCurrent(); cerr != nil {
				r.err = cerr
				return n, cerr
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			r.err = err
			r.closeCurrent()
			return n, err
		}
		if n > 0 {
			return n, nil
		}
	}
}

// readCurrent reads from the current file, turning a panic inside the
// parquet decoder into an error about the file: corrupt input must never
// crash the program.
func (r *Reader) readCurrent(dst []Record) (n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			n, err = 0, &ValidationError{File: r.curName, Msg: fmt.Sprintf("corrupt file: decoder failed: %v", p)}
		}
	}()
	return r.cur.read(dst)
}

// Close releases the open file. It returns the error of closing it, if any;
// later calls return nil.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	return r.closeCurrent()
}

func (r *Reader) closeCurrent() error {
	if r.cur == nil {
		return nil
	}
	err := r.cur.close()
	r.cur = nil
	if err != nil {
		return fmt.Errorf("closing %s: %w", r.curName, err)
	}
	return nil
}

func (r *Reader) openNext() error {
	name := r.files[r.next]
	r.next++
	r.curName = name
	format, err := FormatOf(name)
	if err != nil {
		return err
	}
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("reading step records from %s: %w", name, err)
	}
	if format == FormatJSONL {
		r.setCurrent(name, newJSONLFile(name, f, f, r.opts))
		return nil
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("reading step records from %s: %w", name, err)
	}
	pf, err := openParquet(name, f, st.Size(), r.opts)
	if err != nil {
		f.Close()
		return err
	}
	pf.closer = f
	r.setCurrent(name, pf)
	return nil
}

func (r *Reader) setCurrent(name string, fr fileReader) {
	r.cur, r.curName = fr, name
	d := parseDerived(fr.keyValues()[MetadataDerivedKey])
	if len(d) == 0 {
		return
	}
	var merged []string
	for _, n := range Columns() {
		if slices.Contains(d, n) || slices.Contains(r.derived, n) {
			merged = append(merged, n)
		}
	}
	r.derived = merged
}

// parseDerived splits the comma-separated MetadataDerivedKey value, keeping
// only names of columns.
func parseDerived(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); isColumn(f) {
			out = append(out, f)
		}
	}
	return out
}

// expand turns Open's pattern into the list of files, naturally sorted.
func expand(pattern string) ([]string, error) {
	if pattern == "" {
		return nil, fmt.Errorf("reading step records: empty path: %w", fs.ErrNotExist)
	}
	var files []string
	if strings.ContainsAny(pattern, "*?[") {
		if _, err := os.Stat(pattern); err != nil { // a literal name with brackets is taken as is
			matches, err := filepath.Glob(pattern)
			if err != nil {
				return nil, fmt.Errorf("reading step records from %s: %w", pattern, err)
			}
			for _, m := range matches {
				st, err := os.Stat(m)
				switch {
				case err != nil:
					continue
				case st.IsDir():
					more, err := listDir(m)
					if err != nil {
						return nil, err
					}
					files = append(files, more...)
				case st.Mode().IsRegular() && isLogName(m):
					files = append(files, m)
				}
			}
			if len(files) == 0 {
				return nil, fmt.Errorf("reading step records from %s: no .parquet or .jsonl file matches: %w", pattern, fs.ErrNotExist)
			}
			slices.SortFunc(files, naturalCompare)
			return slices.Compact(files), nil
		}
	}
	st, err := os.Stat(pattern)
	if err != nil {
		return nil, fmt.Errorf("reading step records from %s: %w", pattern, err)
	}
	if !st.IsDir() {
		if _, err := FormatOf(pattern); err != nil {
			return nil, err
		}
		return []string{pattern}, nil
	}
	files, err = listDir(pattern)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("reading step records from %s: no .parquet or .jsonl files in the directory: %w", pattern, fs.ErrNotExist)
	}
	slices.SortFunc(files, naturalCompare)
	return files, nil
}

// listDir lists the step-record files of dir, or of dir/logs when that is a
// directory.
func listDir(dir string) ([]string, error) {
	runLogs := false // a run's logs/ holds iter-NNNNNN files only; others are not its records
	if st, err := os.Stat(filepath.Join(dir, "logs")); err == nil && st.IsDir() {
		dir, runLogs = filepath.Join(dir, "logs"), true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading step records from %s: %w", dir, err)
	}
	var files []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !isLogName(e.Name()) || (runLogs && !isIterLog(e.Name())) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() { // follows symlinks
			files = append(files, p)
		}
	}
	return files, nil
}

// isIterLog reports whether name is a run's per-iteration log,
// iter-NNNNNN.parquet (or .jsonl).
func isIterLog(name string) bool {
	n, ok := strings.CutPrefix(name, "iter-")
	ext := filepath.Ext(n)
	n = strings.TrimSuffix(n, ext)
	return ok && (ext == ".parquet" || ext == ".jsonl") && len(n) >= 6 && strings.Trim(n, "0123456789") == ""
}

func isLogName(name string) bool {
	_, err := FormatOf(name)
	return err == nil && !strings.HasPrefix(filepath.Base(name), ".")
}

// naturalCompare orders strings with runs of digits compared by numeric
// value: "iter-2" < "iter-10", "iter-000002" < "iter-000010". Strings that
// compare equal that way ("a01", "a1") are ordered bytewise, so the order is
// total.
func naturalCompare(a, b string) int {
	x, y := a, b
	for x != "" && y != "" {
		if isDigit(x[0]) && isDigit(y[0]) {
			i, j := digitRun(x), digitRun(y)
			nx, ny := strings.TrimLeft(x[:i], "0"), strings.TrimLeft(y[:j], "0")
			if len(nx) != len(ny) {
				return cmp.Compare(len(nx), len(ny))
			}
			if c := strings.Compare(nx, ny); c != 0 {
				return c
			}
			x, y = x[i:], y[j:]
			continue
		}
		if x[0] != y[0] {
			return cmp.Compare(int(x[0]), int(y[0]))
		}
		x, y = x[1:], y[1:]
	}
	if c := cmp.Compare(len(x), len(y)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func digitRun(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}
