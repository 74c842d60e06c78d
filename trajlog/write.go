package trajlog

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gradcouple/gradcouple/internal/atomicfile"
	"github.com/gradcouple/gradcouple/internal/buildinfo"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// Further key-value metadata keys written by ParquetWriter.
const (
	// MetadataRunKey holds Meta.Run.
	MetadataRunKey = "gradcouple.run"
	// MetadataSeedKey holds Meta.Seed in decimal when Meta.HasSeed is set.
	MetadataSeedKey = "gradcouple.seed"
)

// Row-group bounds of ParquetWriter: a row group is closed after
// RowGroupRows rows or once its string and token-id data reaches
// RowGroupBytes, whichever comes first, so that the memory a writer (and a
// reader) holds stays bounded whatever the prompt length.
const (
	RowGroupRows  = 1 << 16
	RowGroupBytes = 64 << 20
)

// Meta is the file-level metadata of a step-record parquet file, stored as
// key-value metadata next to the schema version and the gradcouple version
// that wrote the file (buildinfo.MetadataKey). The zero Meta writes only
// those two.
type Meta struct {
	// Run is the run name, stored under MetadataRunKey when not empty.
	Run string
	// Seed is the run's seed, stored under MetadataSeedKey when HasSeed is set.
	Seed    int64
	HasSeed bool
	// Derived lists the columns an adapter derived rather than read (for
	// example "group_id", "advantage"); stored comma separated under
	// MetadataDerivedKey when not empty. Every name must be a column of the
	// schema (see Columns).
	Derived []string
	// Extra holds further key-value pairs, written in sorted key order. Keys
	// starting with "gradcouple." are reserved and rejected.
	Extra map[string]string
}

// keyValues returns the metadata as sorted key-value pairs, or an error for a
// reserved Extra key or an unknown derived column.
func (m Meta) keyValues() ([][2]string, error) {
	kv := [][2]string{{MetadataSchemaKey, SchemaVersion}, {buildinfo.MetadataKey, buildinfo.Read().String()}}
	if m.Run != "" {
		kv = append(kv, [2]string{MetadataRunKey, m.Run})
	}
	if m.HasSeed {
		kv = append(kv, [2]string{MetadataSeedKey, strconv.FormatInt(m.Seed, 10)})
	}
	if len(m.Derived) > 0 {
		for _, d := range m.Derived {
			if !isColumn(d) {
				return nil, fmt.Errorf("metadata: derived field %q is not a column of the step-record schema", d)
			}
		}
		kv = append(kv, [2]string{MetadataDerivedKey, strings.Join(m.Derived, ",")})
	}
	for k, v := range m.Extra {
		if strings.HasPrefix(k, "gradcouple.") {
			return nil, fmt.Errorf("metadata: extra key %q uses the reserved prefix gradcouple.", k)
		}
		kv = append(kv, [2]string{k, v})
	}
	slices.SortFunc(kv, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return kv, nil
}

// checkWrite validates recs before they are written: the rules of
// Record.Validate, plus valid UTF-8 in every string so that every parquet
// reader (DuckDB, pyarrow) accepts the file. first is the 1-based row number
// of recs[0] in the output; name names the output in errors.
func checkWrite(name string, first int64, recs []Record) error {
	for i := range recs {
		r := &recs[i]
		f, msg := r.Validate()
		if f == "" {
			for j := range fields {
				if fields[j].kind == kindString && !utf8.ValidString(*fields[j].str(r)) {
					f, msg = fields[j].name, "not valid UTF-8"
					break
				}
			}
		}
		if f != "" {
			return &ValidationError{File: name, Row: first + int64(i), Field: f, Msg: "refusing to write: " + msg}
		}
	}
	return nil
}

// ParquetWriter writes step records as a zstd-compressed parquet file with the
// canonical schema (one column per Record field: the flat ones required, the
// token ids optional LIST<INT32>, null for a record without ids) and the
// metadata of Meta. Rows are buffered per row group (see RowGroupRows and
// RowGroupBytes); Close writes the footer. A file without Close is not a
// parquet file.
type ParquetWriter struct {
	name    string
	pw      *parquet.GenericWriter[Record]
	rows    int64 // rows accepted so far
	rgBytes int64 // string bytes in the open row group
	err     error // sticky: metadata or I/O error
	closed  bool
}

// NewParquetWriter returns a writer of step records to w with meta as
// key-value metadata. It never fails: an invalid Meta (unknown derived
// column, reserved extra key) is reported by the first Write or by Close. w
// must not be nil.
func NewParquetWriter(w io.Writer, meta Meta) *ParquetWriter {
	return newParquetWriter(w, meta, "output", RowGroupRows)
}

// newParquetWriter is NewParquetWriter with the output's name for errors and
// the row-group size (tests use small row groups).
func newParquetWriter(w io.Writer, meta Meta, name string, rgRows int64) *ParquetWriter {
	kv, err := meta.keyValues()
	opts := []parquet.WriterOption{
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
		parquet.MaxRowsPerRowGroup(rgRows),
		// Prompts are long; their min/max would bloat every page header and
		// the footer and say nothing useful.
		parquet.SkipPageBounds("prompt"),
		parquet.SkipPageStatistics("prompt"),
	}
	for _, p := range kv {
		opts = append(opts, parquet.KeyValueMetadata(p[0], p[1]))
	}
	pw := &ParquetWriter{name: name, err: err}
	if err == nil {
		pw.pw = parquet.NewGenericWriter[Record](w, opts...)
	}
	return pw
}

// Write validates recs and appends them to the file. If a record is invalid,
// nothing of recs is written and the error is a *ValidationError naming the
// row (1-based, counted over all Writes) and field; the writer stays usable.
// Any other error is sticky. An empty recs writes nothing.
func (w *ParquetWriter) Write(recs []Record) error {
	if w.closed {
		return errors.New("trajlog: write to closed ParquetWriter")
	}
	if w.err != nil {
		return w.err
	}
	if err := checkWrite(w.name, w.rows+1, recs); err != nil {
		return err
	}
	for len(recs) > 0 {
		// Take rows up to the byte bound of the row group.
		n := 0
		for n < len(recs) && w.rgBytes < RowGroupBytes {
			w.rgBytes += recordBytes(&recs[n])
			n++
		}
		if _, err := w.pw.Write(recs[:n]); err != nil {
			w.err = fmt.Errorf("writing step records: %w", err)
			return w.err
		}
		w.rows += int64(n)
		recs = recs[n:]
		if w.rgBytes >= RowGroupBytes {
			if err := w.pw.Flush(); err != nil {
				w.err = fmt.Errorf("writing step records: %w", err)
				return w.err
			}
			w.rgBytes = 0
		}
	}
	return nil
}

// recordBytes approximates the memory a buffered record holds.
func recordBytes(r *Record) int64 {
	n := 40
	for i := range fields {
		if fields[i].kind == kindString {
			n += len(*fields[i].str(r))
		}
	}
	n += 4 * (len(r.PromptIDs) + len(r.ActionIDs))
	return int64(n)
}

// Close flushes the last row group and writes the footer. It does not close
// the underlying io.Writer. Closing twice returns nil the second time.
func (w *ParquetWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if err := w.pw.Close(); err != nil {
		w.err = fmt.Errorf("writing step records: %w", err)
		return w.err
	}
	return nil
}

// JSONLWriter writes step records as JSON Lines: one object per line with the
// Record's json field names, in column order. Floats are written in their
// shortest round-trip form; HTML characters are not escaped. JSONL files carry
// no metadata.
type JSONLWriter struct {
	name   string
	bw     *bufio.Writer
	enc    *json.Encoder
	rows   int64
	err    error
	closed bool
}

// NewJSONLWriter returns a writer of step records to w, which must not be nil.
// A writer closed without records leaves w empty, which readers reject as an
// empty file.
func NewJSONLWriter(w io.Writer) *JSONLWriter {
	return newJSONLWriter(w, "output")
}

func newJSONLWriter(w io.Writer, name string) *JSONLWriter {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &JSONLWriter{name: name, bw: bw, enc: enc}
}

// Write validates recs and appends them, one line each. As for ParquetWriter,
// an invalid record writes nothing of recs and leaves the writer usable; an
// I/O error is sticky. Output is buffered until Close.
func (w *JSONLWriter) Write(recs []Record) error {
	if w.closed {
		return errors.New("trajlog: write to closed JSONLWriter")
	}
	if w.err != nil {
		return w.err
	}
	if err := checkWrite(w.name, w.rows+1, recs); err != nil {
		return err
	}
	for i := range recs {
		if err := w.enc.Encode(&recs[i]); err != nil {
			w.err = fmt.Errorf("writing step records: %w", err)
			return w.err
		}
	}
	w.rows += int64(len(recs))
	return nil
}

// Close flushes buffered lines. It does not close the underlying io.Writer.
// Closing twice returns nil the second time.
func (w *JSONLWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("writing step records: %w", err)
	}
	return w.err
}

// Formats of step-record files, by extension.
const (
	FormatParquet = "parquet"
	FormatJSONL   = "jsonl"
)

// FormatOf returns the step-record format of a file by its extension
// (".parquet" or ".jsonl", case-insensitive), or an error naming both.
func FormatOf(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".parquet":
		return FormatParquet, nil
	case ".jsonl":
		return FormatJSONL, nil
	}
	return "", &FormatError{Path: path}
}

// FormatError is a step-record file whose extension names no format. As
// input it is bad input (exit status 2), as output a usage error (also 2).
type FormatError struct {
	Path string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("step-record file %s: unknown extension %q (use .parquet or .jsonl)", e.Path, filepath.Ext(e.Path))
}

// BadInput marks the error as bad input for the command line.
func (e *FormatError) BadInput() bool { return true }

// WriteFile writes recs to path in the format its extension names (.parquet
// or .jsonl), atomically: the data goes to a temporary file that is renamed
// over path, so on any error path is left as it was and no partial file
// remains. Records are validated before anything is created. meta is ignored
// for JSONL, which has no metadata. An empty recs writes a valid parquet file
// with no rows; for JSONL it is an error, since readers reject empty files.
func WriteFile(path string, recs []Record, meta Meta) error {
	if _, err := FormatOf(path); err != nil {
		return err
	}
	if err := checkWrite(path, 1, recs); err != nil {
		return err
	}
	return WriteFileFunc(path, meta, func(write func([]Record) error) error {
		return write(recs)
	})
}

// WriteFileFunc is WriteFile for records produced in batches, so that a log
// larger than memory can be written: fill calls write for each batch, and
// only the open row group is held in memory. Errors of write (an invalid
// record, named by its row over all batches) and of fill abandon the file:
// path is left as it was. Errors name path, never the temporary file.
func WriteFileFunc(path string, meta Meta, fill func(write func([]Record) error) error) error {
	format, err := FormatOf(path)
	if err != nil {
		return err
	}
	if format == FormatParquet {
		if _, err := meta.keyValues(); err != nil {
			return fmt.Errorf("writing step records to %s: %w", path, err)
		}
	}
	err = atomicfile.Write(path, func(w io.Writer) error {
		type writer interface {
			Write([]Record) error
			Close() error
		}
		var sw writer
		if format == FormatParquet {
			sw = newParquetWriter(w, meta, path, RowGroupRows)
		} else {
			sw = newJSONLWriter(w, path)
		}
		var n int64
		if err := fill(func(recs []Record) error {
			n += int64(len(recs))
			return sw.Write(recs)
		}); err != nil {
			return err
		}
		if format == FormatJSONL && n == 0 {
			return fmt.Errorf("no records (an empty JSONL file is not a valid log; use .parquet)")
		}
		return sw.Close()
	})
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return err
		}
		return fmt.Errorf("writing step records to %s: %w", path, err)
	}
	return nil
}
