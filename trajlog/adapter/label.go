package adapter

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/gradcouple/gradcouple/internal/pqnum"
	"github.com/gradcouple/gradcouple/trajlog"
)

// Judge labels come from the user in two ways (Options.LabelColumn and
// Options.Labels). A label value is one of 1, 0, -1 (good, bad, unknown),
// true or false, "good" or "bad" ("unknown" and null are -1; in CSV also the
// empty cell); anything else is an error naming the file, the row and the
// field, never an unknown label.

// cellKind is the type of a value read from a log or a label table.
type cellKind uint8

const (
	cellNull cellKind = iota
	cellString
	cellNumber
	cellBool
	cellOther // an object, an array or a parquet type without a meaning here
)

// cell is one value of a label column or table.
type cell struct {
	kind cellKind
	s    string
	n    float64
	b    bool
	desc string // for cellOther: what it is
}

func (c cell) String() string {
	switch c.kind {
	case cellNull:
		return "null"
	case cellString:
		return strconv.Quote(c.s)
	case cellNumber:
		return strconv.FormatFloat(c.n, 'g', -1, 64)
	case cellBool:
		return strconv.FormatBool(c.b)
	}
	return c.desc
}

// cellOfJSON converts a JSON value.
func cellOfJSON(v *jvalue) cell {
	switch {
	case !v.present():
		return cell{}
	case v.kind == jString:
		return cell{kind: cellString, s: v.str}
	case v.kind == jNumber:
		return cell{kind: cellNumber, n: v.num}
	case v.kind == jBool:
		return cell{kind: cellBool, b: v.b}
	}
	return cell{kind: cellOther, desc: v.kind.String()}
}

// cellOfParquet converts a parquet value of a column of type typ.
func cellOfParquet(v parquet.Value, typ parquet.Type) cell {
	if v.IsNull() {
		return cell{}
	}
	if num, err := pqnum.Of(typ); err == nil {
		x, err := num.Float64(v)
		if err != nil {
			return cell{kind: cellOther, desc: err.Error()}
		}
		return cell{kind: cellNumber, n: x}
	}
	switch typ.Kind() {
	case parquet.Boolean:
		return cell{kind: cellBool, b: v.Boolean()}
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return cell{kind: cellString, s: string(v.ByteArray())}
	}
	return cell{kind: cellOther, desc: pqnum.Describe(typ)}
}

// labelOf maps a label value to trajlog.LabelGood, LabelBad or LabelUnknown;
// msg says why a value is not a label.
func labelOf(c cell) (label int8, msg string) {
	switch c.kind {
	case cellNull:
		return trajlog.LabelUnknown, ""
	case cellBool:
		if c.b {
			return trajlog.LabelGood, ""
		}
		return trajlog.LabelBad, ""
	case cellNumber:
		switch c.n {
		case 1:
			return trajlog.LabelGood, ""
		case 0:
			return trajlog.LabelBad, ""
		case -1:
			return trajlog.LabelUnknown, ""
		}
	case cellString:
		switch strings.ToLower(strings.TrimSpace(c.s)) {
		case "1", "good", "true":
			return trajlog.LabelGood, ""
		case "0", "bad", "false":
			return trajlog.LabelBad, ""
		case "-1", "unknown", "":
			return trajlog.LabelUnknown, ""
		}
	}
	return 0, fmt.Sprintf("label %s: want 1, 0 or -1, true or false, \"good\" or \"bad\"", c)
}

// votesOf reads a label_votes value: an integer in 0..127 (null: 0).
func votesOf(c cell) (int8, string) {
	x := c.n
	switch c.kind {
	case cellNull:
		return 0, ""
	case cellString:
		s := strings.TrimSpace(c.s)
		if s == "" {
			return 0, ""
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Sprintf("label_votes %s: want an integer in 0..127", c)
		}
		x = v
	case cellNumber:
	default:
		return 0, fmt.Sprintf("label_votes %s: want an integer in 0..127", c)
	}
	if x != math.Trunc(x) || x < 0 || x > math.MaxInt8 {
		return 0, fmt.Sprintf("label_votes %s: want an integer in 0..127", c)
	}
	return int8(x), ""
}

// labelColumn reads the label of a row of a JSON log from field col of v
// (Options.LabelColumn); path prefixes the field in errors (rLLM steps).
func labelColumn(v *jvalue, col, path, file string, line int64) (int8, error) {
	field := col
	if path != "" {
		field = path + "." + col
	}
	f := v.get(col)
	if f == nil {
		return 0, invalid(file, line, field, "missing: the label column named by --label-column is not in this row")
	}
	l, msg := labelOf(cellOfJSON(f))
	if msg != "" {
		return 0, invalid(file, line, field, "%s", msg)
	}
	return l, nil
}

// Labels maps steps to judge labels: a table read by ReadLabels, keyed by
// (traj_id, turn) or by (state_key, action) of the records the adapter
// produces. Rows of the log that the table does not name keep their label.
type Labels struct {
	File    string // the table's file, for messages
	ByStep  bool   // keyed by (traj_id, turn); else by (state_key, action)
	HasVote bool   // the table has a label_votes column
	entries map[labelKey]labelEntry
}

type labelKey struct {
	a string // traj_id or state_key
	b string // turn or action
}

type labelEntry struct {
	label, votes int8
	row          int64
}

// Len returns the number of entries.
func (l *Labels) Len() int { return len(l.entries) }

// lookup returns the label entry of a finished record.
func (l *Labels) lookup(rec *trajlog.Record) (labelEntry, bool) {
	var k labelKey
	if l.ByStep {
		k = labelKey{rec.TrajID, strconv.Itoa(int(rec.Turn))}
	} else {
		k = labelKey{rec.StateKey, rec.Action}
	}
	e, ok := l.entries[k]
	return e, ok
}

// ReadLabels reads a label table from path: CSV with a header row (.csv),
// JSON lines (.jsonl) or parquet (.parquet). Its columns are label (values
// as for a label column), optionally label_votes (0..127), and the key:
// traj_id and turn, or, when there is no traj_id column, state_key and
// action (state_key as the adapter gives it, e.g. from a converted log).
// Other columns are ignored. A bad value, a missing key or two rows for one
// key with different labels give a *trajlog.ValidationError naming the file,
// the row (1-based, the header not counted; the line for JSONL) and the
// column.
func ReadLabels(path string) (*Labels, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading label table: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading label table: %w", err)
	}
	t := &labelTable{file: path}
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".csv":
		err = t.readCSV(f)
	case ".jsonl":
		err = t.readJSONL(f)
	case ".parquet":
		err = t.readParquet(f, fi.Size())
	default:
		return nil, fmt.Errorf("label table %s: unknown extension %q (want .csv, .jsonl or .parquet)", path, ext)
	}
	if err != nil {
		return nil, err
	}
	if len(t.l.entries) == 0 {
		return nil, invalid(path, 0, "label", "the label table has no rows")
	}
	t.l.File = path
	return &t.l, nil
}

// labelTable accumulates the rows of a label table.
type labelTable struct {
	file string
	l    Labels
	cols map[string]bool // the columns, once known
}

// setColumns decides the key of the table from its columns.
func (t *labelTable) setColumns(cols map[string]bool, row int64) error {
	t.cols = cols
	if !cols["label"] {
		return invalid(t.file, row, "label", "missing column: a label table has label, optionally label_votes, and traj_id and turn or state_key and action")
	}
	switch {
	case cols["traj_id"]:
		if !cols["turn"] {
			return invalid(t.file, row, "turn", "missing column: a table keyed by traj_id needs turn")
		}
		t.l.ByStep = true
	case cols["state_key"]:
		if !cols["action"] {
			return invalid(t.file, row, "action", "missing column: a table keyed by state_key needs action")
		}
	default:
		return invalid(t.file, row, "traj_id", "missing column: a label table is keyed by traj_id and turn or by state_key and action")
	}
	t.l.HasVote = cols["label_votes"]
	t.l.entries = map[labelKey]labelEntry{}
	return nil
}

// add adds one row, get returning the cell of a column.
func (t *labelTable) add(row int64, get func(col string) cell) error {
	keyCols := [2]string{"state_key", "action"}
	if t.l.ByStep {
		keyCols = [2]string{"traj_id", "turn"}
	}
	var key [2]string
	for i, col := range keyCols {
		c := get(col)
		switch {
		case col == "turn" && c.kind == cellNumber && c.n == math.Trunc(c.n) && c.n >= 0 && c.n <= math.MaxInt32:
			key[i] = strconv.Itoa(int(c.n))
		case col == "turn" && c.kind == cellString:
			n, err := strconv.ParseInt(strings.TrimSpace(c.s), 10, 32)
			if err != nil || n < 0 {
				return invalid(t.file, row, col, "%s: want an integer turn", c)
			}
			key[i] = strconv.Itoa(int(n))
		case col != "turn" && c.kind == cellString:
			key[i] = c.s
		case col == "traj_id" && c.kind == cellNumber:
			key[i] = strconv.FormatFloat(c.n, 'f', -1, 64)
		default:
			return invalid(t.file, row, col, "%s: want a %s", c, map[bool]string{true: "non-negative integer", false: "string"}[col == "turn"])
		}
	}
	label, msg := labelOf(get("label"))
	if msg != "" {
		return invalid(t.file, row, "label", "%s", msg)
	}
	var votes int8
	if t.l.HasVote {
		if votes, msg = votesOf(get("label_votes")); msg != "" {
			return invalid(t.file, row, "label_votes", "%s", msg)
		}
	}
	k := labelKey{key[0], key[1]}
	if e, ok := t.l.entries[k]; ok {
		if e.label != label || e.votes != votes {
			return invalid(t.file, row, "label", "%s %q, %s %q labelled differently in row %d", keyCols[0], key[0], keyCols[1], key[1], e.row)
		}
		return nil
	}
	t.l.entries[k] = labelEntry{label: label, votes: votes, row: row}
	return nil
}

func (t *labelTable) readCSV(r io.Reader) error {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return invalid(t.file, 0, "", "empty CSV file: want a header row")
		}
		return invalid(t.file, 0, "", "malformed CSV header: %v", err)
	}
	idx := map[string]int{}
	cols := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		idx[h] = i
		cols[h] = true
	}
	if err := t.setColumns(cols, 0); err != nil {
		return err
	}
	for row := int64(1); ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return invalid(t.file, row, "", "malformed CSV: %v", err)
		}
		get := func(col string) cell {
			i, ok := idx[col]
			if !ok || i >= len(rec) {
				return cell{}
			}
			if col == "label" || col == "label_votes" || col == "turn" {
				if strings.TrimSpace(rec[i]) == "" {
					return cell{}
				}
			}
			return cell{kind: cellString, s: rec[i]}
		}
		if err := t.add(row, get); err != nil {
			return err
		}
	}
}

func (t *labelTable) readJSONL(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	var line int64
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if line == 1 {
			text = bytes.TrimPrefix(text, utf8BOM)
		}
		if len(text) == 0 {
			continue
		}
		v, err := parsePyJSON(text, line)
		if err != nil {
			return invalid(t.file, line, "", "invalid JSON: %v", err)
		}
		if v.kind != jObject {
			return invalid(t.file, line, "", "line is %s, want a JSON object", v.kind)
		}
		if t.cols == nil {
			cols := map[string]bool{}
			for _, k := range []string{"label", "label_votes", "traj_id", "turn", "state_key", "action"} {
				cols[k] = v.get(k) != nil
			}
			if err := t.setColumns(cols, line); err != nil {
				return err
			}
		}
		if err := t.add(line, func(col string) cell { return cellOfJSON(v.get(col)) }); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading label table %s: %w", t.file, err)
	}
	if t.cols == nil {
		return invalid(t.file, 0, "label", "the label table has no rows")
	}
	return nil
}

func (t *labelTable) readParquet(r io.ReaderAt, size int64) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = invalid(t.file, 0, "", "malformed parquet file (decoder failed: %v)", p)
		}
	}()
	guard, err := checkParquetFile(r, size, t.file)
	if err != nil {
		return err
	}
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return &trajlog.ValidationError{File: t.file, Msg: "malformed parquet file: " + err.Error(), Err: err}
	}
	if err := checkParquetPages(guard, f, t.file); err != nil {
		return err
	}
	type col struct {
		index int
		typ   parquet.Type
	}
	byName := map[string]col{}
	names := map[int]string{}
	cols := map[string]bool{}
	schema := f.Schema()
	for _, path := range schema.Columns() {
		if len(path) != 1 {
			continue
		}
		leaf, ok := schema.Lookup(path...)
		if !ok || leaf.MaxRepetitionLevel > 0 {
			continue
		}
		byName[path[0]] = col{leaf.ColumnIndex, leaf.Node.Type()}
		names[leaf.ColumnIndex] = path[0]
		cols[path[0]] = true
	}
	if err := t.setColumns(cols, 0); err != nil {
		return err
	}
	vals := map[string]parquet.Value{}
	buf := make([]parquet.Row, 128)
	var rowNum int64
	for _, rg := range f.RowGroups() {
		rr := rg.Rows()
		for {
			n, rerr := rr.ReadRows(buf)
			for _, pr := range buf[:n] {
				rowNum++
				clear(vals)
				for _, v := range pr {
					if name, ok := names[v.Column()]; ok {
						vals[name] = v
					}
				}
				get := func(name string) cell {
					v, ok := vals[name]
					if !ok {
						return cell{}
					}
					return cellOfParquet(v, byName[name].typ)
				}
				if err := t.add(rowNum, get); err != nil {
					rr.Close()
					return err
				}
			}
			if rerr != nil {
				rr.Close()
				if errors.Is(rerr, io.EOF) {
					break
				}
				return &trajlog.ValidationError{File: t.file, Row: rowNum + 1, Msg: "malformed parquet data: " + rerr.Error(), Err: rerr}
			}
		}
	}
	return nil
}
