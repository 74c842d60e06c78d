package analysis

import (
	"context"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gradcouple/gradcouple/metrics"
	"github.com/gradcouple/gradcouple/trainer"
	"github.com/gradcouple/gradcouple/trajlog"
)

func TestReadMetrics(t *testing.T) {
	in := `{"iteration": 0, "train_success": 0.25, "eval_in_greedy_success": 0.5, "note": "x", "flag": true, "missing": null}

{"iteration": 1, "train_success": 0.5, "eval_success_by_family": {"eval-in/greedy": {"pick": 1}}}
{"iteration": 2, "train_succ`
	lines, err := ReadMetrics(strings.NewReader(in), "m.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2 (the cut-off last line left out)", len(lines))
	}
	if v := lines[0].Values; v["train_success"] != 0.25 || v["eval_in_greedy_success"] != 0.5 || len(v) != 2 {
		t.Errorf("line 0 values %v", v)
	}
	if v := lines[1].Values["eval_success_by_family/eval-in/greedy/pick"]; v != 1 {
		t.Errorf("nested value %v, want 1 (%v)", v, lines[1].Values)
	}
	rows := curveRows("r", "grpo", lines)
	if rows[1].TrainSuccess != 0.5 || !math.IsNaN(rows[1].EvalInGreedy) || rows[0].Iteration != 0 {
		t.Errorf("curve rows %+v", rows)
	}
}

func TestReadMetricsMalformed(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		line int
		msg  string
	}{
		"not json":          {"{\"iteration\": 0}\nnot json\n", 2, "not a JSON object"},
		"no iteration":      {"{\"train_success\": 1}\n", 1, `no "iteration"`},
		"negative":          {"{\"iteration\": -1}\n", 1, "non-negative integer"},
		"fraction":          {"{\"iteration\": 1.5}\n", 1, "non-negative integer"},
		"string iteration":  {"{\"iteration\": \"3\"}\n", 1, "non-negative integer"},
		"array":             {"[1, 2]\n", 1, "not a JSON object"},
		"two values":        {"{\"iteration\": 0} {\"iteration\": 1}\n", 1, "more than one"},
		"null":              {"null\n", 1, "null"},
		"complete bad last": {"{\"iteration\": 0}\n{\"iteration\": 1, \"x\": }\n", 2, "not a JSON object"},
	} {
		_, err := ReadMetrics(strings.NewReader(tc.in), "runs/x/metrics.jsonl")
		var me *MetricsError
		if !errors.As(err, &me) || me.Line != tc.line || !strings.Contains(err.Error(), tc.msg) ||
			!strings.Contains(err.Error(), "runs/x/metrics.jsonl line") || !me.BadInput() {
			t.Errorf("%s: err = %v, want a MetricsError at line %d mentioning %q", name, err, tc.line, tc.msg)
		}
	}
	_, err := ReadMetricsFile(filepath.Join(t.TempDir(), "metrics.jsonl"))
	var me *MetricsError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "metrics.jsonl") {
		t.Errorf("missing file: err = %v", err)
	}
}

// trainTiny trains a run small enough for a unit test (well under a second
// of training) with the trainer itself, so that the study reads exactly what
// the trainer writes: run.json, metrics.jsonl, logs and checkpoints.
func trainTiny(t testing.TB, dir, algo string, seed uint64) string {
	t.Helper()
	c, err := trainer.Defaults(trainer.PresetDefault, algo)
	if err != nil {
		t.Fatal(err)
	}
	c.Run = filepath.Base(dir)
	c.Seed = seed
	c.Iterations = 3
	c.TrainTasks = 20
	c.CheckpointEvery = 2
	c.Model = trainer.ModelConfig{Dim: 8, Layers: 1, Heads: 2, Context: 320, History: 1}
	c.ColdStart = trainer.ColdStartConfig{Demos: 20, Steps: 60, Batch: 16, LR: 3e-2}
	if algo == trainer.AlgoGCD {
		c.ColdStart.VerdictWeight = 0.5
	}
	c.Rollout.Tasks, c.Rollout.GroupSize, c.Rollout.MaxSteps = 3, 4, 10
	c.Update.Epochs, c.Update.MiniBatches, c.Update.LR = 1, 1, 1e-2
	c.Eval = trainer.EvalConfig{Every: 2, Tasks: 4, Greedy: true, Sampled: false}
	if _, err := trainer.Run(context.Background(), c, trainer.Options{Dir: dir, Version: "test"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tinyStudyOptions keep a study of tiny runs fast.
func tinyStudyOptions() StudyOptions {
	return StudyOptions{Seed: 3, ConsistencyStates: 4, ConsistencyK: 4, ConsistencyMin: 2, CouplingProbes: 16, HeatSide: 3, Pairs: 4,
		MinVisits: 2, Bootstrap: metrics.BootstrapConfig{Resamples: 100}, LemmaGroups: 200, Workers: 2}
}

func TestStudyRuns(t *testing.T) {
	root := t.TempDir()
	var dirs []string
	specs := []struct {
		algo string
		seed uint64
	}{{"grpo", 1}, {"grpo", 2}, {"gcd", 1}, {"gcd", 2}}
	if testing.Short() { // one run per algorithm
		specs = []struct {
			algo string
			seed uint64
		}{{"grpo", 1}, {"gcd", 2}}
	}
	for _, r := range specs {
		dirs = append(dirs, trainTiny(t, filepath.Join(root, r.algo+"-"+string(rune('0'+r.seed))), r.algo, r.seed))
	}
	st, err := StudyRuns(context.Background(), dirs, tinyStudyOptions())
	if err != nil {
		t.Fatal(err)
	}
	n := len(specs)
	if st.Seed != 3 || len(st.Runs) != n || st.Runs[n-1].Algo != "gcd" || st.Runs[n-1].Seed != 2 || st.Runs[0].Checkpoints != 3 {
		t.Fatalf("runs %+v", st.Runs)
	}
	if len(st.Curves) != n*4 { // iterations 0..3
		t.Errorf("%d curve rows, want %d", len(st.Curves), n*4)
	}
	if len(st.Repetition) == 0 || len(st.Squeeze) != 2*(squeezeSteps+1) || len(st.LemmaSim) != len(lemmaQ)*len(lemmaR) {
		t.Errorf("repetition %d, squeeze %d, lemma %d rows", len(st.Repetition), len(st.Squeeze), len(st.LemmaSim))
	}
	if ss := st.SqueezeSummary; len(ss) != 2 || !ss[0].Squeezing || ss[0].Variant != SqueezeFull || ss[0].Steps != squeezeSteps ||
		ss[0].BadEnd >= ss[0].BadStart || ss[0].GoodEnd <= ss[0].GoodStart || ss[0].Bad2Peak <= ss[0].Bad2Start {
		t.Errorf("squeeze summary %+v: the full update should show squeezing (bad2 rises, total bad falls)", ss)
	}
	if len(st.Coupling) != n*3 { // checkpoints 0, 2, 3
		t.Errorf("%d coupling rows, want %d (notes %v)", len(st.Coupling), n*3, st.Notes)
	}
	if len(st.Consistency) == 0 {
		t.Errorf("no consistency rows (notes %v)", st.Notes)
	}
	for _, r := range st.Consistency {
		if r.High < 0 || r.High > 1 || math.Abs(r.HighGood+r.HighBad-r.High) > 1e-9 {
			t.Errorf("consistency row %+v", r)
		}
	}
	for _, h := range st.Heat {
		if h.Iteration != 3 {
			t.Errorf("heat cell of iteration %d, want the last checkpoint 3", h.Iteration)
		}
	}
	for _, s := range st.AdvantageSummary {
		if s.Seed != 3 {
			t.Errorf("advantage summary seed %d", s.Seed)
		}
	}
	has := map[string]bool{}
	for _, s := range st.Series {
		has[s.Metric] = true
	}
	for _, m := range []string{MetricTrainSuccess, MetricEvalInGreedy, MetricEvalOutGreedy, SeriesRepeatFailure, SeriesHarmfulRate, SeriesCosGoodBad, SeriesProbeAccState, SeriesHighJudgeBad} {
		if !has[m] {
			t.Errorf("no series %s", m)
		}
	}

	// The same seed gives the same study, whatever the number of workers.
	o := tinyStudyOptions()
	o.Workers = 1
	again, err := StudyRuns(context.Background(), dirs, o)
	if err != nil {
		t.Fatal(err)
	}
	st.Steps, again.Steps = nil, nil
	for i := range st.Coupling { // wall-clock
		st.Coupling[i].Seconds, again.Coupling[i].Seconds = 0, 0
	}
	st.Options.Workers, again.Options.Workers = 0, 0
	if !reflect.DeepEqual(nanless(st), nanless(again)) {
		t.Error("a second study with the same seed differs")
	}

	cmp, err := Compare(st, GroupByAlgo(st), CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cmp.Groups) != 2 || cmp.Groups[0].Name != "grpo" || len(cmp.Groups[1].Runs) != n/2 {
		t.Fatalf("groups %+v", cmp.Groups)
	}
	if len(cmp.Final) != 4 || len(cmp.Improvements) != 2 || cmp.Improvements[0].X != "gcd" {
		t.Errorf("final %+v, improvements %+v", cmp.Final, cmp.Improvements)
	}
}

// nanless replaces the study's NaNs, which DeepEqual never finds equal, by a
// sentinel: it compares through reflection on a copy.
func nanless(st *Study) any {
	var fix func(v reflect.Value)
	fix = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Float64:
			if v.CanSet() && math.IsNaN(v.Float()) {
				v.SetFloat(-12345.678)
			}
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					fix(v.Field(i))
				}
			}
		case reflect.Slice:
			for i := range v.Len() {
				fix(v.Index(i))
			}
		case reflect.Pointer:
			if !v.IsNil() {
				fix(v.Elem())
			}
		}
	}
	c := *st
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() == reflect.Slice {
			cp := reflect.MakeSlice(f.Type(), f.Len(), f.Len())
			reflect.Copy(cp, f)
			f.Set(cp)
		}
	}
	fix(v)
	c.Options.Progress = nil
	return c
}

func TestStudyBadInput(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	_, err := StudyRuns(ctx, []string{filepath.Join(root, "nope")}, StudyOptions{})
	var re *RunError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing dir: %v", err)
	}

	run := filepath.Join(root, "r")
	os.MkdirAll(filepath.Join(run, "logs"), 0o755)
	os.WriteFile(filepath.Join(run, "run.json"), []byte(`{"run": "r", "algo": "grpo"}`), 0o644)
	_, err = StudyRuns(ctx, []string{run}, StudyOptions{})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), filepath.Join(run, "logs")) {
		t.Errorf("no metrics.jsonl and no step records: %v", err)
	}
	empty := filepath.Join(root, "empty")
	os.MkdirAll(empty, 0o755)
	os.WriteFile(filepath.Join(empty, "run.json"), []byte(`{"run": "e"}`), 0o644)
	_, err = StudyRuns(ctx, []string{empty}, StudyOptions{})
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "neither a run directory") {
		t.Errorf("a directory with run.json alone: %v", err)
	}
	var me *MetricsError

	os.WriteFile(filepath.Join(run, "metrics.jsonl"), []byte("{\"iteration\": 0}\n{\"iteration\": 1,}\n"), 0o644)
	_, err = StudyRuns(ctx, []string{run}, StudyOptions{})
	if !errors.As(err, &me) || me.Line != 2 || !strings.Contains(err.Error(), "metrics.jsonl line 2") {
		t.Errorf("malformed line: %v", err)
	}

	os.WriteFile(filepath.Join(run, "metrics.jsonl"), []byte("{\"iteration\": 0}\n"), 0o644)
	os.WriteFile(filepath.Join(run, "run.json"), []byte(`{"run": `), 0o644)
	_, err = StudyRuns(ctx, []string{run}, StudyOptions{})
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "run.json") {
		t.Errorf("malformed run.json: %v", err)
	}

	// Two directories with one run name.
	os.WriteFile(filepath.Join(run, "run.json"), []byte(`{"run": "same"}`), 0o644)
	other := filepath.Join(root, "other")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, "run.json"), []byte(`{"run": "same"}`), 0o644)
	os.WriteFile(filepath.Join(other, "metrics.jsonl"), []byte("{\"iteration\": 0}\n"), 0o644)
	_, err = StudyRuns(ctx, []string{run, other}, StudyOptions{})
	if !errors.As(err, &re) || !strings.Contains(err.Error(), `"same"`) {
		t.Errorf("duplicate names: %v", err)
	}
}

// TestStudyMetricsOnly studies runs that have nothing but metrics.jsonl:
// the learning curves and the simulators, with notes on the rest.
func TestStudyMetricsOnly(t *testing.T) {
	root := t.TempDir()
	var dirs []string
	for i, vals := range [][]float64{{0.1, 0.2, 0.4}, {0.2, 0.3, 0.5}} {
		d := filepath.Join(root, "run"+string(rune('a'+i)))
		os.MkdirAll(d, 0o755)
		var b strings.Builder
		for it, v := range vals {
			b.WriteString(`{"iteration": ` + strconv.Itoa(it) + `, "eval_in_greedy_success": ` + ftoa(v) + `, "eval_out_greedy_success": ` + ftoa(v/2) + "}\n")
		}
		os.WriteFile(filepath.Join(d, "metrics.jsonl"), []byte(b.String()), 0o644)
		dirs = append(dirs, d)
	}
	o := StudyOptions{Seed: 5, Bootstrap: metrics.BootstrapConfig{Resamples: 200}, LemmaGroups: 100}
	st, err := StudyRuns(context.Background(), dirs, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Curves) != 6 || len(st.Notes) != 4 || len(st.Coupling) != 0 {
		t.Errorf("curves %d, notes %v, coupling %d", len(st.Curves), st.Notes, len(st.Coupling))
	}
	cmp, err := Compare(st, []RunGroup{{Name: "all", Runs: []string{"runa", "runb"}}}, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gc, ok := cmp.Curve("all", MetricEvalInGreedy)
	if !ok || len(gc.Iterations) != 3 || math.Abs(gc.Mean[2]-0.45) > 1e-12 || gc.N[2] != 2 || len(gc.Seeds) != 2 {
		t.Fatalf("curve %+v", gc)
	}
	// Two values: the bootstrap of the mean takes the values 0.4, 0.45 and
	// 0.5 (both, mixed, both), so the 95% interval lies in [0.4, 0.5].
	if !(gc.Lo[2] >= 0.4 && gc.Hi[2] <= 0.5 && gc.Lo[2] < gc.Hi[2]) {
		t.Errorf("interval [%v, %v] at the last iteration", gc.Lo[2], gc.Hi[2])
	}
	if len(cmp.Final) != 2 || cmp.Final[0].Metric != MetricEvalInGreedy || math.Abs(cmp.Final[0].IQM-0.45) > 1e-12 || cmp.Final[0].Seed != 5 {
		t.Errorf("final %+v", cmp.Final)
	}
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// TestCompare checks Compare on a hand-made study against the metrics
// package directly.
func TestCompare(t *testing.T) {
	st := &Study{Seed: 9, Options: StudyOptions{Bootstrap: metrics.BootstrapConfig{Resamples: 500, Level: 0.95}}}
	final := map[string]float64{"a1": 0.2, "a2": 0.3, "a3": 0.25, "b1": 0.5, "b2": 0.35, "b3": 0.6}
	for _, name := range []string{"a1", "a2", "a3", "b1", "b2", "b3"} {
		env := "household"
		if name[1] == '3' {
			env = "lab"
		}
		st.Runs = append(st.Runs, StudyRun{Name: name, Env: env, Algo: map[byte]string{'a': "grpo", 'b': "gcd"}[name[0]]})
		st.Series = append(st.Series,
			SeriesRow{Run: name, Metric: MetricEvalOutGreedy, Iteration: 0, Value: 0.1},
			SeriesRow{Run: name, Metric: MetricEvalOutGreedy, Iteration: 10, Value: final[name]},
			SeriesRow{Run: name, Metric: SeriesHarmfulRate, Iteration: 5, Value: final[name] / 2})
	}
	st.Series = append(st.Series, SeriesRow{Run: "a1", Metric: SeriesHarmfulRate, Iteration: 7, Value: 0.9})
	groups := GroupByAlgo(st)
	cmp, err := Compare(st, groups, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gc, _ := cmp.Curve("grpo", SeriesHarmfulRate)
	if !reflect.DeepEqual(gc.Iterations, []int{5, 7}) || gc.N[1] != 1 || gc.Mean[1] != 0.9 || !math.IsNaN(gc.Lo[1]) || !math.IsNaN(gc.Seeds[1][1]) {
		t.Errorf("curve with a run missing at an iteration: %+v", gc)
	}
	if got := cmp.FinalMetrics(); !reflect.DeepEqual(got, []string{MetricEvalOutGreedy}) {
		t.Errorf("final metrics %v (only out-of-domain present)", got)
	}
	// The IQM and its interval: the same draws as StratifiedBootstrap with
	// the stream of (final, group, metric).
	strata := [][]float64{{0.2, 0.3}, {0.25}} // household, lab
	want := metrics.StratifiedBootstrap(strata, metrics.PooledIQM, st.Options.Bootstrap, streamRNG(9, "final", "grpo", MetricEvalOutGreedy, 0))
	f := cmp.Final[0]
	if f.Group != "grpo" || f.IQM != want.Point || f.Lo != want.Lo || f.Hi != want.Hi || f.Runs != 3 || math.Abs(f.Mean-0.25) > 1e-12 {
		t.Errorf("final %+v, want %+v", f, want)
	}
	im := cmp.Improvements[0]
	wantP := (metrics.ProbImprovement([]float64{0.5, 0.35}, []float64{0.2, 0.3}) + metrics.ProbImprovement([]float64{0.6}, []float64{0.25})) / 2
	if im.X != "gcd" || im.Y != "grpo" || im.Envs != 2 || math.Abs(im.P-wantP) > 1e-12 || im.P != 1 {
		t.Errorf("improvement %+v, want P %v", im, wantP)
	}
	// By environment and algorithm: methods are compared within an
	// environment only.
	eg := GroupByEnvAlgo(st)
	var names []string
	for _, g := range eg {
		names = append(names, g.Name)
	}
	if strings.Join(names, ",") != "household grpo,household gcd,lab grpo,lab gcd" {
		t.Errorf("GroupByEnvAlgo: %v", names)
	}
	ec, err := Compare(st, eg, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ec.Improvements) != 2 || ec.Improvements[0].X != "household gcd" || ec.Improvements[0].Y != "household grpo" || ec.Improvements[1].X != "lab gcd" {
		t.Errorf("improvements by environment: %+v", ec.Improvements)
	}
	// Deterministic.
	again, _ := Compare(st, groups, CompareOptions{})
	if !reflect.DeepEqual(nanlessAny(cmp.Final), nanlessAny(again.Final)) || cmp.Rows[0] != again.Rows[0] {
		t.Error("Compare is not deterministic")
	}
	// Errors.
	for name, g := range map[string][]RunGroup{
		"unknown run": {{Name: "x", Runs: []string{"zz"}}},
		"empty group": {{Name: "x"}},
		"twice":       {{Name: "x", Runs: []string{"a1"}}, {Name: "y", Runs: []string{"a1"}}},
	} {
		if _, err := Compare(st, g, CompareOptions{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func nanlessAny(rows []FinalRow) []FinalRow {
	out := append([]FinalRow(nil), rows...)
	for i := range out {
		if math.IsNaN(out[i].Lo) {
			out[i].Lo, out[i].Hi = -1, -1
		}
	}
	return out
}

// TestStudyLogsOnly studies step records given alone, as a file, a
// directory of log files and a glob: the log analyses, learning curves from
// the records' success, no checkpoint analyses and the runs without
// checkpoints named.
func TestStudyLogsOnly(t *testing.T) {
	root := t.TempDir()
	run := trainTiny(t, filepath.Join(root, "grpo-1"), "grpo", 1)
	logs, _ := filepath.Glob(filepath.Join(run, "logs", "*.parquet"))
	if len(logs) < 2 {
		t.Fatalf("logs %v", logs)
	}
	// One parquet file with every record, as convert writes it.
	recs, err := trajlog.ReadAll(filepath.Join(run, "logs"), trajlog.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	single := filepath.Join(root, "verl.parquet")
	if err := trajlog.WriteFile(single, recs, trajlog.Meta{Run: "grpo-1"}); err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(root, "dump")
	os.MkdirAll(logDir, 0o755)
	for _, f := range logs {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(logDir, filepath.Base(f)), b, 0o644)
	}
	o := tinyStudyOptions()
	for _, tc := range []struct{ input, name string }{
		{single, "verl"},
		{logDir, "dump"},
		{filepath.Join(logDir, "*.parquet"), "dump"},
	} {
		st, err := StudyRuns(context.Background(), []string{tc.input}, o)
		if err != nil {
			t.Fatalf("%s: %v", tc.input, err)
		}
		if len(st.Runs) != 1 || st.Runs[0].Name != tc.name || st.Runs[0].Logs != tc.input || st.Runs[0].Iterations != 4 {
			t.Errorf("%s: runs %+v", tc.input, st.Runs)
		}
		if len(st.Repetition) == 0 || len(st.Inspect) == 0 || len(st.AdvantageSummary) != 1 || len(st.LemmaSim) == 0 || len(st.Squeeze) == 0 {
			t.Errorf("%s: repetition %d, inspect %d, advantage %d, lemma %d rows", tc.input, len(st.Repetition), len(st.Inspect), len(st.AdvantageSummary), len(st.LemmaSim))
		}
		if len(st.Coupling) != 0 || len(st.Consistency) != 0 || !slices.Equal(st.NoCheckpoints, []string{tc.name}) || len(st.Empty) != 0 {
			t.Errorf("%s: coupling %d, consistency %d, no checkpoints %v, empty %v", tc.input, len(st.Coupling), len(st.Consistency), st.NoCheckpoints, st.Empty)
		}
		// Learning curves from the records: iteration 2's train success is
		// the share of successful train trajectories in its log.
		var want float64
		for _, r := range st.Inspect {
			if r.Iteration == 2 && r.Split == "train" {
				want = r.SuccessRate
			}
		}
		got := math.NaN()
		for _, c := range st.Curves {
			if c.Iteration == 2 {
				got = c.TrainSuccess
			}
		}
		if len(st.Curves) != 4 || got != want {
			t.Errorf("%s: %d curve rows, train success at iteration 2 %v, want %v", tc.input, len(st.Curves), got, want)
		}
		for _, r := range st.Repetition {
			if r.Run != tc.name {
				t.Errorf("%s: repetition row of run %q", tc.input, r.Run)
			}
		}
	}

	// Logs without train rows: an empty selection, not an error.
	var eval []trajlog.Record
	for _, r := range recs {
		if r.Split != "train" {
			eval = append(eval, r)
		}
	}
	evalOnly := filepath.Join(root, "eval.parquet")
	if err := trajlog.WriteFile(evalOnly, eval, trajlog.Meta{Run: "grpo-1"}); err != nil {
		t.Fatal(err)
	}
	st, err := StudyRuns(context.Background(), []string{evalOnly}, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Empty) != 1 || !strings.Contains(st.Empty[0], "no train-split step records") {
		t.Errorf("empty selections %v", st.Empty)
	}

	_, err = StudyRuns(context.Background(), []string{filepath.Join(root, "nothing-*.parquet")}, o)
	var re *RunError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "no file matches") {
		t.Errorf("a glob without matches: %v", err)
	}
}

// TestStudyCache: a second study of the same inputs takes the log analyses,
// resampling and coupling from the cache (no per-sample gradient is
// computed) and gives the same study; a changed input, another option or a
// corrupt entry is recomputed.
func TestStudyCache(t *testing.T) {
	root := t.TempDir()
	run := trainTiny(t, filepath.Join(root, "grpo-1"), "grpo", 1)
	cacheDir := filepath.Join(root, "cache")
	study := func(mod func(*StudyOptions)) (st *Study, gradients int, warnings []string) {
		t.Helper()
		o := tinyStudyOptions()
		o.Cache = &StudyCache{Dir: cacheDir, Code: "test"}
		o.Progress = func(m string) {
			if strings.Contains(m, " per-sample gradients of ") {
				gradients++
			}
		}
		o.Warn = func(m string) { warnings = append(warnings, m) }
		if mod != nil {
			mod(&o)
		}
		st, err := StudyRuns(context.Background(), []string{run}, o)
		if err != nil {
			t.Fatal(err)
		}
		return st, gradients, warnings
	}
	cachedSteps := func(st *Study) map[string]bool {
		m := map[string]bool{}
		for _, s := range st.Steps {
			m[s.Step] = s.Cached
		}
		return m
	}
	first, n, w := study(nil)
	if n == 0 || len(w) > 0 {
		t.Fatalf("first study: %d gradient computations, warnings %v", n, w)
	}
	if c := cachedSteps(first); c["coupling"] || c["log analyses"] {
		t.Errorf("first study: steps %+v marked cached", first.Steps)
	}
	second, n, w := study(nil)
	if n != 0 || len(w) > 0 {
		t.Errorf("second study: %d gradient computations (want none: cached), warnings %v", n, w)
	}
	if c := cachedSteps(second); !c["coupling"] || !c["log analyses"] || !c["consistency by resampling"] {
		t.Errorf("second study: steps %+v not marked cached", second.Steps)
	}
	first.Steps, second.Steps = nil, nil
	first.Options.Cache, second.Options.Cache = nil, nil
	first.Options.Warn, second.Options.Warn = nil, nil
	if a, b := nanless(first), nanless(second); !reflect.DeepEqual(a, b) {
		va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
		for i := range va.NumField() {
			if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
				t.Errorf("the study from the cache differs from the computed one in %s:\n%+v\n%+v", va.Type().Field(i).Name, va.Field(i).Interface(), vb.Field(i).Interface())
			}
		}
	}
	entries, _ := filepath.Glob(filepath.Join(cacheDir, "*.gob"))
	if len(entries) != 3 {
		t.Errorf("cache entries %v, want logs, resample and coupling", entries)
	}

	// Another option that coupling depends on: recomputed.
	if _, n, _ := study(func(o *StudyOptions) { o.Eta = 0.05 }); n == 0 {
		t.Error("coupling with another eta came from the cache")
	}
	// Another code version: recomputed.
	if _, n, _ := study(func(o *StudyOptions) { o.Cache.Code = "other" }); n == 0 {
		t.Error("coupling of another code version came from the cache")
	}

	// A changed input file: recomputed.
	logs, _ := filepath.Glob(filepath.Join(run, "logs", "*.parquet"))
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(logs[0], later, later); err != nil {
		t.Fatal(err)
	}
	if _, n, _ := study(nil); n == 0 {
		t.Error("coupling after a log changed came from the cache")
	}
	if _, n, _ := study(nil); n != 0 {
		t.Error("the recomputed result was not cached")
	}

	// A corrupt entry: ignored with a warning, recomputed, replaced.
	var coupling string
	for _, e := range entries {
		if strings.HasPrefix(filepath.Base(e), "coupling-") {
			coupling = e
		}
	}
	b, err := os.ReadFile(coupling)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-10] ^= 0xff
	os.WriteFile(coupling, b, 0o644)
	_, n, w = study(nil)
	if n == 0 || len(w) != 1 || !strings.Contains(w[0], "checksum mismatch") {
		t.Errorf("corrupt entry: %d gradient computations, warnings %v", n, w)
	}
	os.WriteFile(coupling, []byte("garbage"), 0o644)
	if _, n, w = study(nil); n == 0 || len(w) != 1 || !strings.Contains(w[0], "not a cache entry") {
		t.Errorf("garbage entry: %d gradient computations, warnings %v", n, w)
	}
	if _, n, w = study(nil); n != 0 || len(w) != 0 {
		t.Errorf("after recomputing a corrupt entry: %d gradient computations, warnings %v", n, w)
	}

	// A cache directory that cannot be written: a warning, and the study.
	blocker := filepath.Join(root, "file")
	os.WriteFile(blocker, nil, 0o644)
	if st, _, w := study(func(o *StudyOptions) { o.Cache.Dir = filepath.Join(blocker, "cache") }); len(w) == 0 || len(st.Coupling) == 0 {
		t.Errorf("unwritable cache: warnings %v, %d coupling rows", w, len(st.Coupling))
	}

	// Beside the input by default.
	o := tinyStudyOptions()
	o.ConsistencyStates, o.CouplingProbes = -1, -1
	o.Cache = &StudyCache{}
	if _, err := StudyRuns(context.Background(), []string{run}, o); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(run, CacheDirName, "logs-*.gob")); len(m) != 1 {
		t.Errorf("no log analyses cached in %s: %v", filepath.Join(run, CacheDirName), m)
	}
}

// TestStudyProgress: progress messages give the step and the unit of work,
// each as k of n, and the time left once a unit is done.
func TestStudyProgress(t *testing.T) {
	run := trainTiny(t, filepath.Join(t.TempDir(), "grpo-1"), "grpo", 1)
	o := tinyStudyOptions()
	var msgs []string
	o.Progress = func(m string) { msgs = append(msgs, m) }
	if _, err := StudyRuns(context.Background(), []string{run}, o); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{"step 1 of 4, log analyses: 1 of 1", "step 3 of 4, coupling (household): 1 of 3",
		"step 3 of 4, coupling (household): 3 of 3", "s left: grpo-1 iteration 3", "step 4 of 4, simulators"} {
		if !strings.Contains(all, want) {
			t.Errorf("progress lacks %q:\n%s", want, all)
		}
	}
}

// TestStudyRunOrder: the runs of an environment share one probe set
// whatever the order they are given in, so a study of the same runs listed
// in another order takes coupling from the cache.
func TestStudyRunOrder(t *testing.T) {
	root := t.TempDir()
	a := trainTiny(t, filepath.Join(root, "grpo-1"), "grpo", 1)
	b := trainTiny(t, filepath.Join(root, "gcd-1"), "gcd", 1)
	o := tinyStudyOptions()
	o.ConsistencyStates = -1
	o.Cache = &StudyCache{Dir: filepath.Join(root, "cache"), Code: "test"}
	gradients := 0
	o.Progress = func(m string) {
		if strings.Contains(m, " per-sample gradients of ") {
			gradients++
		}
	}
	ab, err := StudyRuns(context.Background(), []string{a, b}, o)
	if err != nil {
		t.Fatal(err)
	}
	if gradients == 0 {
		t.Fatal("no gradients computed")
	}
	gradients = 0
	ba, err := StudyRuns(context.Background(), []string{b, a}, o)
	if err != nil {
		t.Fatal(err)
	}
	if gradients != 0 {
		t.Errorf("the runs in another order recomputed coupling (%d gradient computations)", gradients)
	}
	if !reflect.DeepEqual(ab.Probes, ba.Probes) || len(ab.Probes) == 0 {
		t.Error("the runs in another order got another probe set")
	}
}
