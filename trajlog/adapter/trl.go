package adapter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"

	"github.com/gradcouple/gradcouple/internal/pqnum"
	"github.com/gradcouple/gradcouple/trajlog"
)

// ReadTRL reads one TRL GRPOTrainer completion table
// (completions_{step:05d}.parquet) from r, which is read whole (at most
// MaxFileBytes) because parquet needs random access. name is the file name used
// in errors, in trajectory ids and, when the table has no step column, for the
// step; a directory named eval in name marks evaluation rows when the table
// has no mode column. Groups and advantages are derived within this one table.
//
// See the package documentation for the mapping. Bad input gives a
// *trajlog.ValidationError naming name, the 1-based row and the column.
func ReadTRL(r io.Reader, name string, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	data, err := readAllLimited(r, MaxFileBytes, name)
	if err != nil {
		return nil, err
	}
	var rows []row
	if _, err := parseTRL(bytes.NewReader(data), int64(len(data)), name, opts, collect(&rows)); err != nil {
		return nil, err
	}
	return finish(FormatTRL, rows, opts, defaultRun(name, FormatTRL, false))
}

// trlKnownColumns are the TRL table columns that are not reward functions.
var trlKnownColumns = map[string]bool{"step": true, "prompt": true, "completion": true, "advantage": true, "mode": true}

// trlColumn is one top-level leaf column of a TRL table.
type trlColumn struct {
	name   string
	index  int
	kind   parquet.Kind
	desc   string       // type, for errors
	num    pqnum.Column // how its numbers decode, when numErr is nil
	numErr error        // why the column does not hold numbers
	str    bool         // a string column (BYTE_ARRAY, not a DECIMAL)
}

// numeric reports whether the column holds numbers (integers, floats or
// DECIMALs, read with their scale by pqnum).
func (c trlColumn) numeric() bool { return c.numErr == nil }

// number returns value v of the column as float64 (NaN for a null).
func (c trlColumn) number(v parquet.Value, file string, rowNum int64) (float64, error) {
	if v.IsNull() {
		return math.NaN(), nil
	}
	x, err := c.num.Float64(v)
	if err != nil {
		return 0, invalid(file, rowNum, c.name, "%v", err)
	}
	return x, nil
}

// trlInfo is what a TRL table tells beyond its rows.
type trlInfo struct {
	// rewards are the reward columns summed into the outcome, in table order.
	rewards []string
	// defaulted: rewards were chosen by default (Options.RewardColumns empty).
	defaulted bool
}

// parseTRL parses a TRL table of size bytes read from r, handing each row to
// emit.
func parseTRL(r io.ReaderAt, size int64, name string, opts Options, emit func(*row) error) (info trlInfo, err error) {
	// parquet-go is not hardened against every malformed file; a panic in it
	// is reported as bad input rather than crashing the caller.
	defer func() {
		if p := recover(); p != nil {
			info, err = trlInfo{}, invalid(name, 0, "", "malformed parquet file (decoder failed: %v)", p)
		}
	}()
	guard, err := checkParquetFile(r, size, name)
	if err != nil {
		return info, err
	}
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return info, &trajlog.ValidationError{File: name, Msg: "malformed parquet file: " + err.Error(), Err: err}
	}
	if err := checkParquetPages(guard, f, name); err != nil {
		return info, err
	}
	cols := map[string]trlColumn{}
	var order []string // top-level leaf columns in schema order
	schema := f.Schema()
	for _, path := range schema.Columns() {
		if len(path) != 1 {
			continue // nested (e.g. a list of images): not used
		}
		leaf, ok := schema.Lookup(path...)
		if !ok || leaf.MaxRepetitionLevel > 0 {
			continue
		}
		typ := leaf.Node.Type()
		c := trlColumn{name: path[0], index: leaf.ColumnIndex, kind: typ.Kind(), desc: pqnum.Describe(typ)}
		c.num, c.numErr = pqnum.Of(typ)
		c.str = c.kind == parquet.ByteArray && c.numErr != nil
		cols[path[0]] = c
		order = append(order, path[0])
	}
	for _, c := range []string{"prompt", "completion"} {
		col, ok := cols[c]
		if !ok {
			return info, invalid(name, 0, c, "missing column (a TRL completion table has step, prompt, completion, one column per reward function and advantage)")
		}
		if !col.str {
			return info, invalid(name, 0, c, "column has type %s, want a string (BYTE_ARRAY)", col.desc)
		}
	}
	if c, ok := cols["advantage"]; ok && !c.numeric() {
		return info, invalid(name, 0, "advantage", "column has type %s, want a number (%v)", c.desc, c.numErr)
	}
	if c, ok := cols["step"]; ok && !c.numeric() && !c.str {
		return info, invalid(name, 0, "step", "column has type %s, want an integer or a string", c.desc)
	}
	if c, ok := cols["mode"]; ok && !c.str {
		return info, invalid(name, 0, "mode", "column has type %s, want a string", c.desc)
	}
	var label *trlColumn
	if n := opts.LabelColumn; n != "" {
		c, ok := cols[n]
		if !ok {
			return info, invalid(name, 0, n, "missing column: the label column named by --label-column is not in the table")
		}
		if slicesContains(opts.RewardColumns, n) {
			return info, invalid(name, 0, n, "the label column is also named as a reward column")
		}
		label = &c
	}
	var rewards []trlColumn
	if len(opts.RewardColumns) > 0 {
		for _, n := range opts.RewardColumns {
			c, ok := cols[n]
			if !ok {
				return info, invalid(name, 0, n, "reward column named in the options is missing")
			}
			if !c.numeric() {
				return info, invalid(name, 0, n, "reward column has type %s, want a number (%v)", c.desc, c.numErr)
			}
			rewards = append(rewards, c)
		}
	} else {
		// Float, double and DECIMAL columns with a fractional part: TRL
		// logs rewards as floats; a DECIMAL is what DuckDB or Spark make of
		// them.
		for _, n := range order {
			c := cols[n]
			if !trlKnownColumns[n] && n != opts.LabelColumn && !strings.HasPrefix(n, "__index_level_") && c.numeric() && c.num.Fractional() {
				rewards = append(rewards, c)
			}
		}
		if len(rewards) == 0 {
			return info, invalid(name, 0, "", "no reward columns: want at least one float column besides step, prompt, completion and advantage")
		}
		info.defaulted = true
	}
	for _, c := range rewards {
		info.rewards = append(info.rewards, c.name)
	}

	base := filepath.Base(name)
	fileStep := int64(-1)
	if m := trlName.FindStringSubmatch(base); m != nil {
		if n, err := strconv.ParseInt(m[1], 10, 64); err == nil {
			fileStep = n
		}
	}
	dirSplit := ""
	if filepath.Base(filepath.Dir(name)) == "eval" {
		dirSplit = trajlog.SplitEvalIn
	} else if filepath.Base(filepath.Dir(name)) == "train" {
		dirSplit = trajlog.SplitTrain
	}

	byIndex := map[int]string{}
	for n, c := range cols {
		byIndex[c.index] = n
	}
	var rowNum int64
	buf := make([]parquet.Row, 128)
	vals := map[string]parquet.Value{}
	for _, rg := range f.RowGroups() {
		rr := rg.Rows()
		for {
			n, rerr := rr.ReadRows(buf)
			for _, pr := range buf[:n] {
				rowNum++
				clear(vals)
				for _, v := range pr {
					if name, ok := byIndex[v.Column()]; ok {
						if _, dup := vals[name]; !dup {
							vals[name] = v
						}
					}
				}
				rw, err := trlRow(vals, cols, rewards, name, base, rowNum, fileStep, dirSplit)
				if err == nil && label != nil {
					var msg string
					rw.rec.Label, msg = labelOf(trlCell(vals, *label))
					if msg != "" {
						err = invalid(name, rowNum, label.name, "%s", msg)
					}
				}
				if err == nil {
					err = emit(&rw)
				}
				if err != nil {
					rr.Close()
					return info, err
				}
			}
			if rerr != nil {
				rr.Close()
				if errors.Is(rerr, io.EOF) {
					break
				}
				return info, &trajlog.ValidationError{File: name, Row: rowNum + 1, Msg: "malformed parquet data: " + rerr.Error(), Err: rerr}
			}
		}
	}
	return info, nil
}

// trlRow maps one table row to a step record.
func trlRow(vals map[string]parquet.Value, cols map[string]trlColumn, rewards []trlColumn,
	file, base string, rowNum, fileStep int64, dirSplit string) (row, error) {
	str := func(c string) (string, error) {
		v, ok := vals[c]
		if !ok || v.IsNull() {
			return "", invalid(file, rowNum, c, "is null, want a string")
		}
		b := v.ByteArray()
		if !utf8.Valid(b) {
			return "", invalid(file, rowNum, c, "%s", invalidUTF8(b))
		}
		return string(b), nil
	}
	prompt, err := str("prompt")
	if err != nil {
		return row{}, err
	}
	completion, err := str("completion")
	if err != nil {
		return row{}, err
	}
	rw := newRow()

	// Step: an integer column, or a string (TRL before the parquet tables
	// wrote str(global_step)); else the file name.
	step := fileStep
	if v, ok := vals["step"]; ok && !v.IsNull() {
		sc := cols["step"]
		if i, ok := sc.num.Int64(v); ok && sc.numeric() {
			step = i
		} else if sc.str {
			n, err := strconv.ParseInt(strings.TrimSpace(string(v.ByteArray())), 10, 64)
			if err != nil {
				return row{}, invalid(file, rowNum, "step", "%q is not an integer", v.ByteArray())
			}
			step = n
		} else {
			x, err := sc.number(v, file, rowNum)
			if err != nil {
				return row{}, err
			}
			if x != math.Trunc(x) || math.IsNaN(x) || x < 0 || x > math.MaxInt32 {
				return row{}, invalid(file, rowNum, "step", "%v is not an integer in 0..%d", x, math.MaxInt32)
			}
			step = int64(x)
		}
	}
	switch {
	case step < 0 && fileStep < 0:
		return row{}, invalid(file, rowNum, "step", "missing, and the file name is not completions_{step}.parquet")
	case step < 0 || step > math.MaxInt32:
		return row{}, invalid(file, rowNum, "step", "%d is outside 0..%d", step, math.MaxInt32)
	}
	rw.rec.Iteration = int32(step)

	if v, ok := vals["mode"]; ok && !v.IsNull() {
		switch m := string(v.ByteArray()); m {
		case "train":
			rw.rec.Split, rw.splitDerived = trajlog.SplitTrain, false
		case "eval":
			rw.rec.Split, rw.splitDerived = trajlog.SplitEvalIn, false
		default:
			return row{}, invalid(file, rowNum, "mode", "%q, want train or eval", m)
		}
	} else if dirSplit != "" {
		rw.rec.Split, rw.splitDerived = dirSplit, false
	}

	// Outcome: the sum of the reward-function columns. TRL's own total is
	// nansum(rewards_per_func * reward_weights): a reward function that
	// returned None is logged as NaN and left out of the sum.
	var outcome float64
	applicable := 0
	for _, c := range rewards {
		v, ok := vals[c.name]
		if !ok || v.IsNull() {
			continue
		}
		x, err := c.number(v, file, rowNum)
		if err != nil {
			return row{}, err
		}
		switch {
		case math.IsNaN(x):
			continue
		case math.IsInf(x, 0):
			return row{}, invalid(file, rowNum, c.name, "reward is %v; a reward must be finite", x)
		}
		outcome += x
		applicable++
	}
	if applicable == 0 {
		return row{}, invalid(file, rowNum, rewards[0].name, "every reward column is null or NaN (all reward functions returned None): no outcome")
	}
	if math.IsInf(float64(float32(outcome)), 0) {
		return row{}, invalid(file, rowNum, rewards[0].name, "summed reward %g is outside the float32 range of the schema", outcome)
	}

	if v, ok := vals["advantage"]; ok && !v.IsNull() {
		a, err := cols["advantage"].number(v, file, rowNum)
		if err != nil {
			return row{}, err
		}
		if math.IsNaN(a) || math.IsInf(a, 0) || math.IsInf(float64(float32(a)), 0) {
			return row{}, invalid(file, rowNum, "advantage", "is %v; an advantage must be finite", a)
		}
		rw.rec.Advantage = float32(a)
		rw.hasAdv = true
	}

	rw.file, rw.line = file, rowNum
	rw.rec.TrajID = base + ":" + strconv.FormatInt(rowNum, 10)
	rw.trajDerived = true
	rw.rec.Prompt = prompt
	rw.rec.Action = completion
	rw.rec.StepReward = float32(outcome)
	rw.rec.Outcome = float32(outcome)
	rw.outcome = outcome
	rw.groupKey = prompt
	return rw, nil
}

// trlCell returns the value of column c in a row's values.
func trlCell(vals map[string]parquet.Value, c trlColumn) cell {
	v, ok := vals[c.name]
	if !ok || v.IsNull() {
		return cell{}
	}
	switch {
	case c.numeric():
		x, err := c.num.Float64(v)
		if err != nil {
			return cell{kind: cellOther, desc: err.Error()}
		}
		return cell{kind: cellNumber, n: x}
	case c.kind == parquet.Boolean:
		return cell{kind: cellBool, b: v.Boolean()}
	case c.str:
		return cell{kind: cellString, s: string(v.ByteArray())}
	}
	return cell{kind: cellOther, desc: c.desc}
}

func slicesContains(s []string, x string) bool {
	for _, e := range s {
		if e == x {
			return true
		}
	}
	return false
}

// parquetColumns returns the top-level column names of a parquet file.
func parquetColumns(r io.ReaderAt, size int64) (cols map[string]bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			cols, err = nil, fmt.Errorf("malformed parquet file (decoder failed: %v)", p)
		}
	}()
	if _, err := checkParquetFile(r, size, ""); err != nil {
		return nil, err
	}
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, err
	}
	cols = map[string]bool{}
	for _, fl := range f.Schema().Fields() {
		cols[fl.Name()] = true
	}
	return cols, nil
}

// LooksLikeReward reports whether a TRL column name looks like a reward
// function's: TRL names the column after the function (accuracy_reward,
// format_reward, reward_len, think_format_reward, ...), so a name containing
// reward, score, acc, correct, format, match or pass does. A numeric column
// of log_extra (entropy, length, kl, ...) usually does not; convert points
// such columns out, since by default every float column is summed into the
// outcome.
func LooksLikeReward(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"reward", "score", "acc", "correct", "format", "match", "pass"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}
