package analysis

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
)

// MetricsFile is the per-iteration scalar log of a run directory
// (DESIGN.md §3.2): one JSON object per line with an "iteration".
const MetricsFile = "metrics.jsonl"

// Names of the metrics.jsonl scalars a study reads (the trainer's names;
// runs made by other tools may write any subset).
const (
	MetricTrainSuccess   = "train_success"
	MetricEvalInGreedy   = "eval_in_greedy_success"
	MetricEvalInSampled  = "eval_in_sampled_success"
	MetricEvalOutGreedy  = "eval_out_greedy_success"
	MetricEvalOutSampled = "eval_out_sampled_success"
	MetricVerdictAcc     = "verdict_acc"
	MetricCorrectionRate = "correction_rate"
	MetricInvalidRate    = "invalid_rate"
	MetricZeroStdFrac    = "zero_std_frac"
	MetricKL             = "kl"
	MetricEntropy        = "entropy"
)

// MetricsLine is one line of metrics.jsonl: its iteration and every numeric
// field, nested objects flattened with "/" (eval_success_by_family/eval-in/greedy/pick).
// Strings, booleans and nulls are left out.
type MetricsLine struct {
	Iteration int
	Values    map[string]float64
}

// MetricsError is a metrics.jsonl that cannot be read: it names the file and
// the line (1-based; 0 when the whole file is at fault). It is bad input.
type MetricsError struct {
	File string
	Line int
	Msg  string
	Err  error
}

func (e *MetricsError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s line %d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}
func (e *MetricsError) Unwrap() error  { return e.Err }
func (e *MetricsError) BadInput() bool { return true }

// ReadMetricsFile reads a run's metrics.jsonl (see ReadMetrics); a missing
// file is a *MetricsError.
func ReadMetricsFile(path string) ([]MetricsLine, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &MetricsError{File: path, Msg: "no such file: a run directory has a metrics.jsonl (see `gradcouple train`)", Err: err}
		}
		return nil, err
	}
	defer f.Close()
	return ReadMetrics(f, path)
}

// ReadMetrics reads metrics.jsonl lines from r; name is the file name used in
// errors. Every line must be a JSON object with a non-negative integer
// "iteration"; blank lines are skipped; a final line without its newline that
// does not parse is an append cut short by an interruption (the trainer
// writes lines whole) and is left out. Anything else malformed is a
// *MetricsError naming the line. Lines are returned in increasing
// iteration; an iteration written twice (a resumed run) keeps its last line.
func ReadMetrics(r io.Reader, name string) ([]MetricsLine, error) {
	br := bufio.NewReader(r)
	byIter := map[int]MetricsLine{}
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, &MetricsError{File: name, Line: n, Msg: err.Error(), Err: err}
		}
		complete := err == nil
		if t := bytes.TrimSpace(line); len(t) > 0 {
			ml, perr := parseMetricsLine(t)
			switch {
			case perr != nil && !complete:
				// An interrupted append: not committed.
			case perr != nil:
				return nil, &MetricsError{File: name, Line: n, Msg: perr.Error(), Err: perr}
			default:
				byIter[ml.Iteration] = ml
			}
		}
		if !complete {
			break
		}
	}
	out := make([]MetricsLine, 0, len(byIter))
	for _, ml := range byIter {
		out = append(out, ml)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Iteration < out[j].Iteration })
	return out, nil
}

func parseMetricsLine(b []byte) (MetricsLine, error) {
	var obj map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&obj); err != nil {
		return MetricsLine{}, fmt.Errorf("not a JSON object: %v", err)
	}
	if d.More() {
		return MetricsLine{}, errors.New("more than one JSON value on the line")
	}
	if obj == nil {
		return MetricsLine{}, errors.New("not a JSON object: null")
	}
	it, ok := obj["iteration"]
	if !ok {
		return MetricsLine{}, errors.New(`no "iteration" field`)
	}
	num, ok := it.(json.Number)
	if !ok {
		return MetricsLine{}, fmt.Errorf(`"iteration" is %v, want a non-negative integer`, it)
	}
	iter, err := num.Int64()
	if err != nil || iter < 0 || iter > math.MaxInt32 {
		return MetricsLine{}, fmt.Errorf(`"iteration" is %s, want a non-negative integer`, num)
	}
	ml := MetricsLine{Iteration: int(iter), Values: map[string]float64{}}
	var walk func(prefix string, v any) error
	walk = func(prefix string, v any) error {
		switch x := v.(type) {
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				return fmt.Errorf("field %q: %v", prefix, err)
			}
			ml.Values[prefix] = f
		case map[string]any:
			for k, e := range x {
				if err := walk(prefix+"/"+k, e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for k, v := range obj {
		if k == "iteration" {
			continue
		}
		if err := walk(k, v); err != nil {
			return MetricsLine{}, err
		}
	}
	return ml, nil
}

// CurveRow is one iteration of a run's learning curves (metrics.jsonl).
// Scalars the line does not have are NaN.
type CurveRow struct {
	Run            string  `parquet:"run" json:"run"`
	Algo           string  `parquet:"algo" json:"algo"`
	Iteration      int     `parquet:"iteration" json:"iteration"`
	TrainSuccess   float64 `parquet:"train_success" json:"train_success"`
	EvalInGreedy   float64 `parquet:"eval_in_greedy_success" json:"eval_in_greedy_success"`
	EvalInSampled  float64 `parquet:"eval_in_sampled_success" json:"eval_in_sampled_success" text:"-"`
	EvalOutGreedy  float64 `parquet:"eval_out_greedy_success" json:"eval_out_greedy_success"`
	EvalOutSampled float64 `parquet:"eval_out_sampled_success" json:"eval_out_sampled_success" text:"-"`
	VerdictAcc     float64 `parquet:"verdict_acc" json:"verdict_acc"`
	CorrectionRate float64 `parquet:"correction_rate" json:"correction_rate"`
	InvalidRate    float64 `parquet:"invalid_rate" json:"invalid_rate" text:"-"`
	ZeroStdFrac    float64 `parquet:"zero_std_frac" json:"zero_std_frac" text:"-"`
	KL             float64 `parquet:"kl" json:"kl"`
	Entropy        float64 `parquet:"entropy" json:"entropy" text:"-"`
}

// curveMetrics maps the CurveRow columns to their metrics.jsonl names.
var curveMetrics = []struct {
	name string
	get  func(*CurveRow) *float64
}{
	{MetricTrainSuccess, func(r *CurveRow) *float64 { return &r.TrainSuccess }},
	{MetricEvalInGreedy, func(r *CurveRow) *float64 { return &r.EvalInGreedy }},
	{MetricEvalInSampled, func(r *CurveRow) *float64 { return &r.EvalInSampled }},
	{MetricEvalOutGreedy, func(r *CurveRow) *float64 { return &r.EvalOutGreedy }},
	{MetricEvalOutSampled, func(r *CurveRow) *float64 { return &r.EvalOutSampled }},
	{MetricVerdictAcc, func(r *CurveRow) *float64 { return &r.VerdictAcc }},
	{MetricCorrectionRate, func(r *CurveRow) *float64 { return &r.CorrectionRate }},
	{MetricInvalidRate, func(r *CurveRow) *float64 { return &r.InvalidRate }},
	{MetricZeroStdFrac, func(r *CurveRow) *float64 { return &r.ZeroStdFrac }},
	{MetricKL, func(r *CurveRow) *float64 { return &r.KL }},
	{MetricEntropy, func(r *CurveRow) *float64 { return &r.Entropy }},
}

// curveRows turns metrics lines into curve rows.
func curveRows(run, algo string, lines []MetricsLine) []CurveRow {
	out := make([]CurveRow, len(lines))
	for i, l := range lines {
		r := CurveRow{Run: run, Algo: algo, Iteration: l.Iteration}
		for _, m := range curveMetrics {
			v, ok := l.Values[m.name]
			if !ok {
				v = math.NaN()
			}
			*m.get(&r) = v
		}
		out[i] = r
	}
	return out
}

// metricsPath is the metrics.jsonl of run directory dir.
func metricsPath(dir string) string { return filepath.Join(dir, MetricsFile) }
