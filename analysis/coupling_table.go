package analysis

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gradcouple/gradcouple/internal/pqguard"
	"github.com/gradcouple/gradcouple/internal/pqnum"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// Tables of samples made elsewhere (the --samples of an external gradient
// store) and probe files come as parquet, CSV or JSON (lines, or one array
// of objects). They are read here into columns of loosely typed cells, with
// every problem reported as a *TableError naming the file, row and column.

// maxTableBytes bounds a sample table; maxTableRows its rows.
const (
	maxTableBytes = 1 << 30
	maxTableRows  = 1 << 24
)

// TableError is bad input in a sample or probe table: it names the file,
// the 1-based data row (0 when not about a row) and the column.
type TableError struct {
	File   string
	Row    int
	Column string
	Msg    string
}

func (e *TableError) Error() string {
	s := e.File
	if e.Row > 0 {
		s += ": row " + strconv.Itoa(e.Row)
	}
	if e.Column != "" {
		s += ": column " + e.Column
	}
	return s + ": " + e.Msg
}

// BadInput marks a table error as bad input (exit status 2).
func (e *TableError) BadInput() bool { return true }

// looseTable holds a table's columns; a cell is nil (missing), bool, int64,
// float64 or string.
type looseTable struct {
	file  string
	n     int
	cols  map[string][]any
	order []string
	meta  map[string]string // parquet key-value metadata
}

// has reports whether the table has a column.
func (t *looseTable) has(col string) bool { _, ok := t.cols[col]; return ok }

// first returns the first of the names that is a column, or "".
func (t *looseTable) first(names ...string) string {
	for _, n := range names {
		if t.has(n) {
			return n
		}
	}
	return ""
}

func (t *looseTable) errorf(row int, col, format string, args ...any) error {
	return &TableError{File: t.file, Row: row + 1, Column: col, Msg: fmt.Sprintf(format, args...)}
}

// str returns cell (row, col) as a string: a string as is, a number in its
// shortest form; a missing cell is "".
func (t *looseTable) str(col string, row int) string {
	switch v := t.cols[col][row].(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// float returns cell (row, col) as a finite number; strings are parsed. A
// missing cell gives def, anything else that is not a finite number an error.
func (t *looseTable) float(col string, row int, def float64) (float64, error) {
	var x float64
	switch v := t.cols[col][row].(type) {
	case nil:
		return def, nil
	case int64:
		x = float64(v)
	case float64:
		x = v
	case bool:
		if v {
			x = 1
		}
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return def, nil
		}
		var err error
		if x, err = strconv.ParseFloat(s, 64); err != nil {
			return 0, t.errorf(row, col, "%q is not a number", clip(s))
		}
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, t.errorf(row, col, "%v is not a finite number", x)
	}
	return x, nil
}

// label returns cell (row, col) as a judge label: 1/true/"good" is good,
// 0/false/"bad" bad, -1, a missing cell or "unknown" unknown.
func (t *looseTable) label(col string, row int) (int8, error) {
	if s, ok := t.cols[col][row].(string); ok {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "good", "true":
			return 1, nil
		case "bad", "false":
			return 0, nil
		case "unknown", "":
			return -1, nil
		}
	}
	x, err := t.float(col, row, -1)
	if err != nil {
		return 0, err
	}
	switch x {
	case 1:
		return 1, nil
	case 0:
		return 0, nil
	case -1:
		return -1, nil
	}
	return 0, t.errorf(row, col, "label %v: want 1 (good), 0 (bad) or -1 (unknown)", x)
}

// readLooseTable reads a .parquet, .csv, .jsonl or .json table.
func readLooseTable(path string) (*looseTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > maxTableBytes {
		return nil, &TableError{File: path, Msg: fmt.Sprintf("%d bytes exceeds the limit of %d for a sample table", st.Size(), maxTableBytes)}
	}
	t := &looseTable{file: path, cols: map[string][]any{}}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".parquet":
		err = t.readParquet(f, st.Size())
	case ".csv":
		err = t.readCSV(f)
	case ".jsonl", ".json", ".ndjson":
		err = t.readJSON(f)
	default:
		return nil, &TableError{File: path, Msg: fmt.Sprintf("unknown table format %q: want .parquet, .csv, .jsonl or .json", filepath.Ext(path))}
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// addRow appends one row of named cells, creating columns as they appear.
func (t *looseTable) addRow(cells map[string]any) error {
	if t.n >= maxTableRows {
		return &TableError{File: t.file, Msg: fmt.Sprintf("more than %d rows", maxTableRows)}
	}
	for k, v := range cells {
		c, ok := t.cols[k]
		if !ok {
			c = make([]any, t.n)
			t.order = append(t.order, k)
		}
		t.cols[k] = append(c, v)
	}
	t.n++
	for _, k := range t.order {
		if len(t.cols[k]) < t.n {
			t.cols[k] = append(t.cols[k], nil)
		}
	}
	return nil
}

func (t *looseTable) readCSV(r io.Reader) error {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return &TableError{File: t.file, Msg: "no CSV header: " + err.Error()}
	}
	seen := map[string]bool{}
	for _, h := range header {
		if seen[h] {
			return &TableError{File: t.file, Column: h, Msg: "repeated column"}
		}
		seen[h] = true
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return &TableError{File: t.file, Row: t.n + 1, Msg: "malformed CSV: " + err.Error()}
		}
		cells := make(map[string]any, len(rec))
		for i, v := range rec {
			if v != "" {
				cells[header[i]] = v
			}
		}
		if err := t.addRow(cells); err != nil {
			return err
		}
	}
}

// readJSON reads JSON lines (one object per line) or one array of objects.
func (t *looseTable) readJSON(r io.Reader) error {
	br := bufio.NewReader(r)
	dec := json.NewDecoder(br)
	dec.UseNumber()
	// An array of objects, or a stream of objects.
	peek, _ := br.Peek(512)
	array := len(bytes.TrimLeft(peek, " \t\r\n")) > 0 && bytes.TrimLeft(peek, " \t\r\n")[0] == '['
	if array {
		if _, err := dec.Token(); err != nil {
			return &TableError{File: t.file, Msg: "malformed JSON: " + err.Error()}
		}
	}
	for dec.More() {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			return &TableError{File: t.file, Row: t.n + 1, Msg: "malformed JSON (want one object per row): " + err.Error()}
		}
		cells := make(map[string]any, len(obj))
		for k, v := range obj {
			switch x := v.(type) {
			case nil:
			case json.Number:
				if i, err := x.Int64(); err == nil {
					cells[k] = i
				} else if f, err := x.Float64(); err == nil {
					cells[k] = f
				} else {
					return &TableError{File: t.file, Row: t.n + 1, Column: k, Msg: fmt.Sprintf("number %q out of range", clip(x.String()))}
				}
			case string, bool:
				cells[k] = x
			default:
				continue // nested values are not used
			}
		}
		if err := t.addRow(cells); err != nil {
			return err
		}
	}
	if array {
		if _, err := dec.Token(); err != nil {
			return &TableError{File: t.file, Msg: "malformed JSON array: " + err.Error()}
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &TableError{File: t.file, Msg: "unexpected data after the JSON rows"}
	}
	return nil
}

// readParquet reads the flat top-level columns of a parquet file, checked by
// pqguard before parquet-go decodes anything.
func (t *looseTable) readParquet(r io.ReaderAt, size int64) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &TableError{File: t.file, Msg: fmt.Sprintf("malformed parquet file (decoder failed: %v)", p)}
		}
	}()
	guard, err := pqguard.Open(r, size, pqguard.Limits{})
	if err != nil {
		var re *pqguard.ReadError
		if errors.As(err, &re) {
			return fmt.Errorf("reading %s: %w", t.file, err)
		}
		return &TableError{File: t.file, Msg: err.Error()}
	}
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return &TableError{File: t.file, Msg: "malformed parquet file: " + err.Error()}
	}
	schema := f.Schema()
	leaves := schema.Columns()
	flat := make([]bool, len(leaves))
	byIndex := map[int]string{}
	kinds := map[string]parquet.Kind{}
	// Numbers are decoded by their logical type: a DECIMAL(p,s) is u*10^-s,
	// not its stored integer u; an unsigned integer is unsigned.
	nums := map[string]pqnum.Column{}
	for i, path := range leaves {
		leaf, ok := schema.Lookup(path...)
		flat[i] = ok && leaf.MaxRepetitionLevel == 0
		if ok && flat[i] && len(path) == 1 {
			byIndex[leaf.ColumnIndex] = path[0]
			typ := leaf.Node.Type()
			kinds[path[0]] = typ.Kind()
			if c, err := pqnum.Of(typ); err == nil {
				nums[path[0]] = c
			} else if l := typ.LogicalType(); l != nil {
				if _, dec := l.Value.(*format.DecimalType); dec {
					return &TableError{File: t.file, Column: path[0], Msg: fmt.Sprintf("cannot read column of type %s: %v", pqnum.Describe(typ), err)}
				}
			}
		}
	}
	for gi := range f.Metadata().RowGroups {
		rg := &f.Metadata().RowGroups[gi]
		if err := pqguard.RowGroup(rg, len(leaves)); err != nil {
			return &TableError{File: t.file, Msg: fmt.Sprintf("corrupt parquet footer: row group %d: %v", gi, err)}
		}
		for ci := range rg.Columns {
			if err := guard.Chunk(&rg.Columns[ci].MetaData, rg.NumRows, flat[ci]); err != nil {
				var re *pqguard.ReadError
				if errors.As(err, &re) {
					return fmt.Errorf("reading %s: %w", t.file, err)
				}
				return &TableError{File: t.file, Column: strings.Join(leaves[ci], "."), Msg: pqguard.ChunkMessage(gi, err)}
			}
		}
	}
	t.meta = map[string]string{}
	for _, kv := range f.Metadata().KeyValueMetadata {
		t.meta[kv.Key] = kv.Value
	}
	buf := make([]parquet.Row, 128)
	for _, rg := range f.RowGroups() {
		rr := rg.Rows()
		for {
			n, rerr := rr.ReadRows(buf)
			for _, pr := range buf[:n] {
				cells := map[string]any{}
				for _, v := range pr {
					name, ok := byIndex[v.Column()]
					if !ok || v.IsNull() {
						continue
					}
					if num, ok := nums[name]; ok {
						if i, ok := num.Int64(v); ok {
							cells[name] = i
							continue
						}
						x, err := num.Float64(v)
						if err != nil {
							rr.Close()
							return t.errorf(t.n, name, "%v", err)
						}
						cells[name] = x
						continue
					}
					switch kinds[name] {
					case parquet.Boolean:
						cells[name] = v.Boolean()
					case parquet.Int32:
						cells[name] = int64(v.Int32())
					case parquet.Int64:
						cells[name] = v.Int64()
					case parquet.Float:
						cells[name] = float64(v.Float())
					case parquet.Double:
						cells[name] = v.Double()
					case parquet.ByteArray, parquet.FixedLenByteArray:
						b := v.ByteArray()
						if !utf8.Valid(b) {
							rr.Close()
							return t.errorf(t.n, name, "not valid UTF-8 text")
						}
						cells[name] = string(b)
					}
				}
				if err := t.addRow(cells); err != nil {
					rr.Close()
					return err
				}
			}
			if rerr != nil {
				rr.Close()
				if errors.Is(rerr, io.EOF) {
					break
				}
				return &TableError{File: t.file, Row: t.n + 1, Msg: "malformed parquet data: " + rerr.Error()}
			}
		}
	}
	// Columns present in the schema but null everywhere still exist.
	for _, name := range byIndex {
		if !t.has(name) {
			t.cols[name] = make([]any, t.n)
			t.order = append(t.order, name)
		}
	}
	return nil
}

// clip shortens a string for an error message.
func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
