package adapter

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
)

// ReadVerl reads one verl rollout dump ({step}.jsonl, one JSON object per line)
// from r. name is the file name used in errors, in trajectory ids and, when a
// line has no step, for the step. Groups and advantages are derived within
// this one file; use Read on the directory to read a whole run.
//
// See the package documentation for the mapping. Every bad line gives a
// *trajlog.ValidationError naming name, the 1-based line and the field.
func ReadVerl(r io.Reader, name string, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	var rows []row
	if err := parseVerl(r, name, opts, collect(&rows)); err != nil {
		return nil, err
	}
	return finish(FormatVerl, rows, opts, defaultRun(name, FormatVerl, false))
}

// parseVerl parses the lines of one verl dump, handing each row to emit.
func parseVerl(r io.Reader, name string, opts Options, emit func(*row) error) error {
	base := filepath.Base(name)
	fileStep := stepOfDumpName(base)
	return dumpLines(r, name, "verl rollout dump", func(text []byte, line int64) error {
		rw, err := verlLine(text, name, base, line, fileStep, opts)
		if err != nil {
			return err
		}
		return emit(&rw)
	})
}

// stepOfDumpName is the step a dump's file name {step}.jsonl gives, or -1.
func stepOfDumpName(base string) int64 {
	if m := verlName.FindStringSubmatch(base); m != nil {
		if n, err := strconv.ParseInt(m[1], 10, 64); err == nil {
			return n
		}
	}
	return -1
}

// dumpLines hands each non-blank line of a JSONL dump (surrounding space
// trimmed, a UTF-8 byte order mark skipped) to fn with its 1-based number; a
// line longer than MaxLineBytes is a *trajlog.ValidationError. kind names
// the dump in I/O errors.
func dumpLines(r io.Reader, name, kind string, fn func(text []byte, line int64) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	var line int64
	for sc.Scan() {
		line++
		text := sc.Bytes()
		if line == 1 {
			text = bytes.TrimPrefix(text, utf8BOM) // Windows tools start UTF-8 files with a BOM
		}
		text = bytes.TrimSpace(text)
		if len(text) == 0 {
			continue
		}
		if err := fn(text, line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return invalid(name, line+1, "", "line longer than %d bytes", MaxLineBytes)
		}
		return fmt.Errorf("reading %s %s: %w", kind, name, err)
	}
	return nil
}

// utf8BOM is the byte order mark some tools write at the start of UTF-8 text.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// collect returns an emit function that appends copies of the rows to dst.
func collect(dst *[]row) func(*row) error {
	return func(r *row) error {
		*dst = append(*dst, *r)
		return nil
	}
}

// dumpHead parses one line of a verl or verl-agent dump into its JSON object
// and the fields every such line has: input, output, score, and the step
// (the line's, else the file name's fileStep, -1 for none).
func dumpHead(text []byte, name string, line, fileStep int64) (v *jvalue, input, output string, score float64, step int64, err error) {
	if v, err = parsePyJSON(text, line); err != nil {
		return nil, "", "", 0, 0, invalid(name, line, "", "invalid JSON: %v", err)
	}
	if v.kind != jObject {
		return nil, "", "", 0, 0, invalid(name, line, "", "line is %s, want a JSON object", v.kind)
	}
	if input, err = requireString(v, "input", name, line); err != nil {
		return
	}
	if output, err = requireString(v, "output", name, line); err != nil {
		return
	}
	if score, err = requireReward(v.get("score"), "score", name, line); err != nil {
		return
	}
	switch sv := v.get("step"); {
	case sv.present():
		step, err = iterationOf(sv, "step", name, line)
	case fileStep > math.MaxInt32:
		err = invalid(name, line, "step", "step %d from the file name exceeds int32", fileStep)
	case fileStep >= 0:
		step = fileStep
	default:
		err = invalid(name, line, "step", "missing, and the file name is not {step}.jsonl")
	}
	return
}

// verlLine maps one dump line to a row.
func verlLine(text []byte, name, base string, line, fileStep int64, opts Options) (row, error) {
	v, input, output, score, step, err := dumpHead(text, name, line, fileStep)
	if err != nil {
		return row{}, err
	}
	if v.get("traj_uid").present() {
		return row{}, invalid(name, line, "traj_uid", "the line has traj_uid: this is a verl-agent dump, one line per environment step; read it with --format verl-agent")
	}
	rw := newRow()
	rw.score = score
	if uv := v.get("uid"); uv.present() {
		if uv.kind != jString {
			return row{}, invalid(name, line, "uid", "is %s, want a string", uv.kind)
		}
		rw.rec.GroupID = uv.str
	}
	rw.file, rw.line = name, line
	rw.rec.Iteration = int32(step)
	rw.rec.TrajID = base + ":" + strconv.FormatInt(line, 10)
	rw.trajDerived = true
	rw.rec.Prompt = input
	rw.rec.Action = output
	rw.rec.StepReward = float32(score)
	rw.rec.Outcome = float32(score)
	rw.outcome = score
	rw.groupKey = input
	if opts.LabelColumn != "" {
		if rw.rec.Label, err = labelColumn(v, opts.LabelColumn, "", name, line); err != nil {
			return row{}, err
		}
	}
	if err := checkText(&rw); err != nil {
		return row{}, err
	}
	return rw, nil
}

// requireString returns the string field key of object v.
func requireString(v *jvalue, key, file string, line int64) (string, error) {
	f := v.get(key)
	switch {
	case f == nil:
		return "", invalid(file, line, key, "missing")
	case f.kind != jString:
		return "", invalid(file, line, key, "is %s, want a string", f.kind)
	}
	return f.str, nil
}

// requireReward checks that f is a finite number representable as float32.
// field names it in errors.
func requireReward(f *jvalue, field, file string, line int64) (float64, error) {
	switch {
	case f == nil:
		return 0, invalid(file, line, field, "missing")
	case f.kind != jNumber:
		return 0, invalid(file, line, field, "is %s, want a number", f.kind)
	case math.IsNaN(f.num):
		return 0, invalid(file, line, field, "is NaN (json.dumps writes float('nan') as NaN); a reward must be finite")
	case math.IsInf(f.num, 0) || math.IsInf(float64(float32(f.num)), 0):
		return 0, invalid(file, line, field, "is %s, outside the float32 range of the schema", f.raw)
	}
	return f.num, nil
}

// iterationOf checks that f is a non-negative integer that fits int32.
func iterationOf(f *jvalue, field, file string, line int64) (int64, error) {
	if f.kind != jNumber {
		return 0, invalid(file, line, field, "is %s, want an integer", f.kind)
	}
	if !f.isInteger() {
		return 0, invalid(file, line, field, "is %s, want an integer", f.raw)
	}
	if f.num < 0 || f.num > math.MaxInt32 {
		return 0, invalid(file, line, field, "is %s, outside 0..%d", f.raw, math.MaxInt32)
	}
	return int64(f.num), nil
}
