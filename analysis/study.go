package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/gradcouple/gradcouple/metrics"
)

// A study runs every run-level analysis of DESIGN.md §4 on one run or a
// group of runs and returns the tables behind the figures of issue 7:
//
//	(a) action consistency over training by resampling, by label   ResampleRow
//	(b) repetition in successful and failed trajectories           RepetitionRow
//	(c) the coupling heatmap, predicted and measured               HeatRow (last checkpoint)
//	(d) the squeezing simulator                                    SqueezeRow
//	(e) Lemma 3.1, empirical and Monte Carlo                       AdvantageRow, LemmaSimRow
//	(f) learning curves                                            CurveRow
//	(g) coupling over training                                     CouplingRow
//	(h) representation separation over training                    CouplingRow
//	(i) final performance                                          Compare
//
// Compare then summarises groups of runs (the seeds of a method) over
// seeds. Every random draw derives from StudyOptions.Seed, which the Study
// records.

// StudyOptions tune StudyRuns. The zero value means the defaults written on
// each field; the defaults keep a study of a few quick runs to minutes on
// two cores.
type StudyOptions struct {
	// Seed makes every draw: probe states and probes, the policy's samples
	// at probe states, bootstrap resamples, the Monte Carlo of Lemma 3.1.
	Seed uint64
	// Checkpoints are the iterations analysed by resampling and coupling;
	// none means every checkpoint of every run.
	Checkpoints []int

	// ConsistencyStates is the number of resampling probe states of each
	// kind (repeated and random) per environment; 0 means 32, negative
	// skips resampling. K and Threshold: 0 means 10 and 5.
	ConsistencyStates            int
	ConsistencyK, ConsistencyMin int
	// Temperature overrides the rollout temperature of resampling when
	// positive.
	Temperature float64

	// CouplingProbes is the size of the coupling probe set per environment
	// (half good, half bad); 0 means 128, negative skips coupling.
	CouplingProbes int
	// HeatSide is the side of the heatmap (good x bad samples); 0 means 8.
	HeatSide int
	// Pairs is the number of similar-state pairs; 0 means 16.
	Pairs int
	// Eta is the step size of the coupling influence; 0 means DefaultEta.
	Eta float64
	// Tensors restricts the per-sample gradients (none: every parameter).
	Tensors []string
	// MaxBytes is the coupling memory budget (CouplingOptions.MaxBytes).
	MaxBytes int64

	// MinVisits is the number of visits of a state for the empirical Lemma
	// 3.1 check (iterations pooled); 0 means 10.
	MinVisits int
	// Bootstrap sets every bootstrap interval; the zero value is 2000
	// resamples at 95%.
	Bootstrap metrics.BootstrapConfig
	// LemmaGroups is the number of Monte Carlo groups per point of the
	// simulated Lemma 3.1 curves; 0 means 4000, negative skips them.
	LemmaGroups int

	// Workers bounds the goroutines of resampling and coupling; 0 means
	// GOMAXPROCS. Results do not depend on it.
	Workers int
	// Progress, if not nil, is told what is being done.
	Progress func(what string)
}

func (o StudyOptions) withDefaults() StudyOptions {
	if o.ConsistencyStates == 0 {
		o.ConsistencyStates = 32
	}
	if o.ConsistencyK == 0 {
		o.ConsistencyK = metrics.DefaultConsistencyK
	}
	if o.ConsistencyMin == 0 {
		o.ConsistencyMin = metrics.DefaultConsistencyThreshold
	}
	if o.CouplingProbes == 0 {
		o.CouplingProbes = 128
	}
	if o.HeatSide == 0 {
		o.HeatSide = 8
	}
	if o.Pairs == 0 {
		o.Pairs = 16
	}
	if o.Eta == 0 {
		o.Eta = DefaultEta
	}
	if o.MinVisits == 0 {
		o.MinVisits = 10
	}
	if o.Bootstrap.Resamples == 0 {
		o.Bootstrap.Resamples = 2000
	}
	if o.Bootstrap.Level == 0 {
		o.Bootstrap.Level = 0.95
	}
	if o.LemmaGroups == 0 {
		o.LemmaGroups = 4000
	}
	return o
}

func (o StudyOptions) progress(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(fmt.Sprintf(format, args...))
	}
}

// StudyRun is one run of a study, from its run.json and directory.
type StudyRun struct {
	Name        string `parquet:"run" json:"run"`
	Dir         string `parquet:"dir" json:"dir" text:"-"`
	Env         string `parquet:"env" json:"env"`
	Algo        string `parquet:"algo" json:"algo"`
	Seed        uint64 `parquet:"seed" json:"seed"`
	Version     string `parquet:"version" json:"version" text:"-"`
	Iterations  int    `parquet:"iterations" json:"iterations"` // metrics.jsonl lines
	Checkpoints int    `parquet:"checkpoints" json:"checkpoints"`
	GroupSize   int    `parquet:"group_size" json:"group_size" text:"-"`
	NoStd       bool   `parquet:"no_std" json:"no_std" text:"-"`
}

// AdvantageSummaryRow is AdvantageSummary for one run.
type AdvantageSummaryRow struct {
	Run string `parquet:"run" json:"run"`
	// Pairs are the (state, action) rows; Flawed those whose interval of r
	// lies above zero; FlawedNegative of those with a negative mass, and
	// FlawedMassCI with the whole mass interval below zero.
	Pairs          int    `parquet:"pairs" json:"pairs"`
	Flawed         int    `parquet:"flawed" json:"flawed"`
	FlawedNegative int    `parquet:"flawed_negative" json:"flawed_negative"`
	FlawedMassCI   int    `parquet:"flawed_mass_ci_below_0" json:"flawed_mass_ci_below_0"`
	MinVisits      int    `parquet:"min_visits" json:"min_visits"`
	Seed           uint64 `parquet:"seed" json:"seed"`
}

// LemmaSimRow is one Monte Carlo point of Lemma 3.1 (metrics.SimulateLemma):
// the advantage mass of a flawed action of probability Q that lowers the
// success probability from P by R, in groups of G, with its normal interval,
// and the prediction for that normalisation (Predicted: (G-1)/G q r (q-1)
// without std, the G -> infinity limit with it).
type LemmaSimRow struct {
	Q         float64 `parquet:"q" json:"q"`
	R         float64 `parquet:"r" json:"r"`
	P         float64 `parquet:"p" json:"p"`
	G         int     `parquet:"group_size" json:"group_size"`
	Norm      string  `parquet:"normalisation" json:"normalisation"`
	Groups    int     `parquet:"groups" json:"groups" text:"-"`
	Mass      float64 `parquet:"mass" json:"mass"`
	MassLo    float64 `parquet:"mass_lo" json:"mass_lo"`
	MassHi    float64 `parquet:"mass_hi" json:"mass_hi"`
	Predicted float64 `parquet:"predicted" json:"predicted"`
	Lemma     float64 `parquet:"lemma_qr_q1" json:"lemma_qr_q1"`
	Seed      uint64  `parquet:"seed" json:"seed" text:"-"`
}

// SqueezeRow is the policy of the 3-action squeezing simulator
// (metrics.SqueezePath) after Step expected GRPO updates.
type SqueezeRow struct {
	Variant   string  `parquet:"variant" json:"variant"` // SqueezeFull or SqueezeNegative
	Step      int     `parquet:"step" json:"step"`
	PiGood    float64 `parquet:"pi_good" json:"pi_good"`
	PiBad2    float64 `parquet:"pi_bad2" json:"pi_bad2"`
	PiBad1    float64 `parquet:"pi_bad1" json:"pi_bad1"`
	PiBad     float64 `parquet:"pi_bad_total" json:"pi_bad_total"`
	ExpReward float64 `parquet:"expected_reward" json:"expected_reward"`
}

// SqueezeSummary condenses one variant of the squeezing simulator: the
// policy at the start and the end, and the peak of the less harmful bad
// action bad2. Squeezing is set when bad2 rose above its start while the
// total bad mass ended lower than it started (Theorem 3.2's picture).
type SqueezeSummary struct {
	Variant      string  `parquet:"variant" json:"variant"`
	Steps        int     `parquet:"steps" json:"steps"`
	GoodStart    float64 `parquet:"pi_good_start" json:"pi_good_start"`
	GoodEnd      float64 `parquet:"pi_good_end" json:"pi_good_end"`
	Bad2Start    float64 `parquet:"pi_bad2_start" json:"pi_bad2_start"`
	Bad2Peak     float64 `parquet:"pi_bad2_peak" json:"pi_bad2_peak"`
	Bad2PeakStep int     `parquet:"pi_bad2_peak_step" json:"pi_bad2_peak_step"`
	Bad2End      float64 `parquet:"pi_bad2_end" json:"pi_bad2_end"`
	BadStart     float64 `parquet:"pi_bad_total_start" json:"pi_bad_total_start"`
	BadEnd       float64 `parquet:"pi_bad_total_end" json:"pi_bad_total_end"`
	Squeezing    bool    `parquet:"squeezing" json:"squeezing"`
}

// summarizeSqueeze condenses the rows of each variant, in order.
func summarizeSqueeze(rows []SqueezeRow) []SqueezeSummary {
	var out []SqueezeSummary
	for _, r := range rows {
		if len(out) == 0 || out[len(out)-1].Variant != r.Variant {
			out = append(out, SqueezeSummary{Variant: r.Variant, GoodStart: r.PiGood, Bad2Start: r.PiBad2, Bad2Peak: r.PiBad2, BadStart: r.PiBad})
		}
		s := &out[len(out)-1]
		s.Steps, s.GoodEnd, s.Bad2End, s.BadEnd = r.Step, r.PiGood, r.PiBad2, r.PiBad
		if r.PiBad2 > s.Bad2Peak {
			s.Bad2Peak, s.Bad2PeakStep = r.PiBad2, r.Step
		}
		s.Squeezing = s.Bad2Peak > s.Bad2Start && s.BadEnd < s.BadStart
	}
	return out
}

// Variants of the squeezing simulator in a study.
const (
	SqueezeFull     = "full update"
	SqueezeNegative = "negative-advantage part"
)

// The squeezing simulator's setting in a study: the defaults of `gradcouple
// squeeze` (actions good, bad2, bad1).
var (
	SqueezeLogits  = []float64{0, 1, 1.5}
	SqueezeSuccess = []float64{0.9, 0.5, 0.1}
)

const (
	squeezeEta   = 0.5
	squeezeSteps = 60
)

// SeriesRow is one value of one run's metric at one iteration: the long
// form of every per-iteration table of a study (learning curves,
// repetition, consistency, coupling), which Compare summarises over seeds.
type SeriesRow struct {
	Run       string  `parquet:"run" json:"run"`
	Metric    string  `parquet:"metric" json:"metric"`
	Iteration int     `parquet:"iteration" json:"iteration"`
	Value     float64 `parquet:"value" json:"value"`
}

// Metric names of the series built from the study's own tables (the
// learning-curve metrics keep their metrics.jsonl names, Metric*).
const (
	SeriesRepeatSuccess      = "repeat_rate_success" // train split, RepetitionRow.SuccessRepeat
	SeriesRepeatFailure      = "repeat_rate_failure"
	SeriesLoopRate           = "loop_rate"
	SeriesHigh               = "consistency_high" // resampling, all probe states
	SeriesHighGood           = "consistency_high_good"
	SeriesHighBad            = "consistency_high_bad"
	SeriesHighJudgeGood      = "consistency_high_judge_good"
	SeriesHighJudgeBad       = "consistency_high_judge_bad"
	SeriesMeanConsistency    = "consistency_mean"
	SeriesHarmfulRate        = "harmful_rate"
	SeriesHarmfulMass        = "harmful_mass"
	SeriesCosGood            = "cos_good"
	SeriesCosBad             = "cos_bad"
	SeriesCosGoodBad         = "cos_good_bad"
	SeriesPairCosJaccard     = "pair_cos_jaccard"
	SeriesProbeAccState      = "probe_acc_state"
	SeriesProbeAccVerdict    = "probe_acc_verdict"
	SeriesFisherState        = "fisher_state"
	SeriesFisherVerdict      = "fisher_verdict"
	SeriesSilhouetteState    = "silhouette_state"
	SeriesSilhouetteVerdict  = "silhouette_verdict"
	SeriesHeatPearson        = "heat_pearson"
	SeriesLogConsistencyHigh = "log_consistency_high"
)

// StudyStep is the wall-clock time of one step of a study.
type StudyStep struct {
	Step    string  `parquet:"step" json:"step"`
	Seconds float64 `parquet:"seconds" json:"seconds"`
}

// Study is the result of StudyRuns: every table of the analyses, for every
// run, in the order of the runs given.
type Study struct {
	Seed    uint64
	Options StudyOptions // with the defaults filled in
	Runs    []StudyRun
	Curves  []CurveRow
	// Repetition and LogConsistency come from one scan of the logs (every
	// split); LogConsistency is the consistency where states recur in the
	// logs, often empty for small runs.
	Repetition     []RepetitionRow
	LogConsistency []ConsistencyRow
	// Consistency is consistency by resampling at the checkpoints
	// (kinds all, repeated, random); ConsistencyStates the modal action of
	// every probe state at the last checkpoint of each run; ConsistencyProbes
	// the probe states and their reconstruction.
	Consistency       []ResampleRow
	ConsistencyStates []ResampleStateRow
	ConsistencyProbes []ResampleProbe
	// Coupling holds a row per checkpoint; BySim harmful coupling by prompt
	// similarity; Heat the heatmap cells of each run's last analysed
	// checkpoint; Probes the probe set (per environment).
	Coupling []CouplingRow
	BySim    []SimilarityRow
	Heat     []HeatRow
	Probes   []Probe
	// Advantage is the empirical Lemma 3.1 check (iterations pooled) and
	// LemmaSim its Monte Carlo counterpart.
	Advantage        []AdvantageRow
	AdvantageSummary []AdvantageSummaryRow
	LemmaSim         []LemmaSimRow
	Squeeze          []SqueezeRow
	SqueezeSummary   []SqueezeSummary
	// Series is the long form of the per-iteration tables.
	Series []SeriesRow
	// Notes say what was skipped and why (no checkpoints, no logs, no
	// reconstructable probe states, ...).
	Notes []string
	Steps []StudyStep
}

// studyManifest is what a study reads of run.json.
type studyManifest struct {
	Version string `json:"version"`
	Run     string `json:"run"`
	Env     string `json:"env"`
	Algo    string `json:"algo"`
	Seed    uint64 `json:"seed"`
	Config  struct {
		Rollout *struct {
			GroupSize int `json:"group_size"`
		} `json:"rollout"`
		Update *struct {
			NoStd bool `json:"no_std"`
		} `json:"update"`
	} `json:"config"`
}

// studyRun is a run while the study is made.
type studyRun struct {
	info    StudyRun
	run     *Run // nil: no checkpoint analyses
	lines   []MetricsLine
	hasLogs bool
}

// openStudyRun reads a run directory: metrics.jsonl (required), run.json
// (optional, but required for checkpoint analyses) and the checkpoints.
func openStudyRun(dir string) (*studyRun, []string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, &RunError{Dir: dir, Msg: "no such run directory", Err: err}
		}
		return nil, nil, err
	}
	if !st.IsDir() {
		return nil, nil, &RunError{Dir: dir, Msg: "not a directory: want a run directory (run.json, metrics.jsonl, logs/, checkpoints/)"}
	}
	lines, err := ReadMetricsFile(metricsPath(dir))
	if err != nil {
		return nil, nil, err
	}
	sr := &studyRun{lines: lines, info: StudyRun{Dir: dir, Name: filepath.Base(filepath.Clean(dir)), Iterations: len(lines)}}
	var notes []string
	b, err := os.ReadFile(filepath.Join(dir, "run.json"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		notes = append(notes, fmt.Sprintf("%s: no run.json, so no checkpoint analyses (resampling, coupling)", dir))
	case err != nil:
		return nil, nil, err
	default:
		var m studyManifest
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, nil, &RunError{Dir: dir, Msg: "malformed run.json: " + err.Error(), Err: err}
		}
		if m.Run != "" {
			sr.info.Name = m.Run
		}
		sr.info.Env, sr.info.Algo, sr.info.Seed, sr.info.Version = m.Env, m.Algo, m.Seed, m.Version
		if m.Config.Rollout != nil {
			sr.info.GroupSize = m.Config.Rollout.GroupSize
		}
		if m.Config.Update != nil {
			sr.info.NoStd = m.Config.Update.NoStd
		}
		if hasCheckpoints(dir) {
			r, err := OpenRun(dir)
			if err != nil {
				return nil, nil, err
			}
			sr.run = &r
			sr.info.Checkpoints = len(r.Checkpoints)
		} else {
			notes = append(notes, fmt.Sprintf("%s: no checkpoints (checkpoints/iter-NNNNNN), so no checkpoint analyses", dir))
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "logs")); err == nil && st.IsDir() {
		sr.hasLogs = true
	} else {
		notes = append(notes, fmt.Sprintf("%s: no logs/, so no log analyses (repetition, Lemma 3.1, probes)", dir))
	}
	return sr, notes, nil
}

// hasCheckpoints reports whether dir has a checkpoint directory
// checkpoints/iter-NNNNNN.
func hasCheckpoints(dir string) bool {
	ents, err := os.ReadDir(filepath.Join(dir, "checkpoints"))
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.IsDir() && checkpointName.MatchString(e.Name()) {
			return true
		}
	}
	return false
}

// StudyRuns runs a study of the run directories dirs (DESIGN.md §3.2): the
// learning curves of metrics.jsonl, repetition and the empirical Lemma 3.1
// check from the logs, consistency by resampling and gradient coupling at
// the checkpoints (one probe set per environment, shared by every run of
// that environment, so that runs are compared on the same samples), the
// heatmap of each run's last checkpoint, and the Monte Carlo and squeezing
// simulators. A missing directory, a missing or malformed metrics.jsonl or
// run.json, and malformed logs are bad-input errors naming the file (and
// line or row); analyses that a run cannot support (no checkpoints, no
// logs, no reconstructable state) are skipped with a note.
func StudyRuns(ctx context.Context, dirs []string, opts StudyOptions) (*Study, error) {
	opts = opts.withDefaults()
	if len(dirs) == 0 {
		return nil, errors.New("study: no run directories")
	}
	st := &Study{Seed: opts.Seed, Options: opts}
	step := func(name string, start time.Time) {
		st.Steps = append(st.Steps, StudyStep{Step: name, Seconds: time.Since(start).Seconds()})
	}

	start := time.Now()
	var runs []*studyRun
	names := map[string]string{}
	for _, d := range dirs {
		opts.progress("reading %s", d)
		sr, notes, err := openStudyRun(d)
		if err != nil {
			return nil, err
		}
		if other, ok := names[sr.info.Name]; ok {
			return nil, &RunError{Dir: d, Msg: fmt.Sprintf("run name %q is also the name of %s; runs of a study need distinct names (run.json's run)", sr.info.Name, other)}
		}
		names[sr.info.Name] = d
		st.Notes = append(st.Notes, notes...)
		runs = append(runs, sr)
		st.Runs = append(st.Runs, sr.info)
		st.Curves = append(st.Curves, curveRows(sr.info.Name, sr.info.Algo, sr.lines)...)
	}
	step("learning curves", start)

	// Log analyses, run by run.
	start = time.Now()
	for _, sr := range runs {
		if !sr.hasLogs {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := sr.info.Name
		logs := filepath.Join(sr.info.Dir, "logs")
		opts.progress("%s: repetition and consistency from logs", name)
		rep, cons, _, _, err := LogDiagnostics(ctx, []string{logs}, LogFilter{}, metrics.ConsistencyConfig{})
		if err != nil {
			return nil, err
		}
		for i := range rep {
			rep[i].Run = name
		}
		for i := range cons {
			cons[i].Run = name
		}
		st.Repetition = append(st.Repetition, rep...)
		st.LogConsistency = append(st.LogConsistency, cons...)
		opts.progress("%s: Lemma 3.1 at recurring states", name)
		adv, sum, _, err := Advantage(ctx, []string{logs}, AdvantageOptions{PoolIterations: true, Seed: opts.Seed,
			Mass: metrics.MassConfig{MinVisits: opts.MinVisits, Bootstrap: opts.Bootstrap}})
		if err != nil {
			return nil, err
		}
		for i := range adv {
			adv[i].Run = name
		}
		st.Advantage = append(st.Advantage, adv...)
		st.AdvantageSummary = append(st.AdvantageSummary, AdvantageSummaryRow{Run: name, Pairs: sum.Pairs, Flawed: sum.Flawed,
			FlawedNegative: sum.FlawedNegative, FlawedMassCI: sum.FlawedMassCI, MinVisits: opts.MinVisits, Seed: opts.Seed})
	}
	step("log analyses", start)

	// Checkpoint analyses, one environment at a time.
	var envs []string
	byEnv := map[string][]Run{}
	for _, sr := range runs {
		if sr.run == nil || !sr.hasLogs {
			continue
		}
		if _, ok := byEnv[sr.info.Env]; !ok {
			envs = append(envs, sr.info.Env)
		}
		byEnv[sr.info.Env] = append(byEnv[sr.info.Env], *sr.run)
	}
	if opts.ConsistencyStates > 0 {
		start = time.Now()
		for _, e := range envs {
			if err := st.resample(ctx, e, byEnv[e], opts); err != nil {
				return nil, err
			}
		}
		step("consistency by resampling", start)
	}
	if opts.CouplingProbes > 0 {
		start = time.Now()
		for _, e := range envs {
			if err := st.coupling(ctx, e, byEnv[e], opts); err != nil {
				return nil, err
			}
		}
		step("coupling", start)
	}

	start = time.Now()
	opts.progress("simulators: Lemma 3.1 Monte Carlo and squeezing")
	if opts.LemmaGroups > 0 {
		g, noStd := 8, false
		if len(runs) > 0 && runs[0].info.GroupSize >= 2 {
			g, noStd = runs[0].info.GroupSize, runs[0].info.NoStd
		}
		rows, err := lemmaCurves(g, noStd, opts)
		if err != nil {
			return nil, err
		}
		st.LemmaSim = rows
	}
	st.Squeeze = squeezeRows()
	st.SqueezeSummary = summarizeSqueeze(st.Squeeze)
	step("simulators", start)
	st.Series = st.series()
	return st, nil
}

// resample measures consistency by resampling for the runs of one
// environment.
func (st *Study) resample(ctx context.Context, envName string, runs []Run, opts StudyOptions) error {
	ro := ResampleOptions{Checkpoints: opts.Checkpoints, K: opts.ConsistencyK, Threshold: opts.ConsistencyMin,
		Temperature: opts.Temperature, Repeated: opts.ConsistencyStates, Random: opts.ConsistencyStates,
		Seed: opts.Seed, Workers: opts.Workers, Progress: opts.Progress}
	opts.progress("consistency: choosing %d+%d probe states from the logs of %d %s run(s)", opts.ConsistencyStates, opts.ConsistencyStates, len(runs), envLabel(envName))
	rep, err := Resample(ctx, runs, ro)
	if errors.Is(err, ErrNoRecords) {
		st.Notes = append(st.Notes, fmt.Sprintf("consistency by resampling (%s): %v", envLabel(envName), err))
		return nil
	}
	if err != nil {
		return err
	}
	st.Consistency = append(st.Consistency, rep.Rows...)
	st.ConsistencyProbes = append(st.ConsistencyProbes, rep.Probes...)
	last := map[string]int{}
	for _, s := range rep.States {
		last[s.Run] = max(last[s.Run], s.Iteration)
	}
	for _, s := range rep.States {
		if s.Iteration == last[s.Run] {
			st.ConsistencyStates = append(st.ConsistencyStates, s)
		}
	}
	if bad := len(rep.Probes) - rep.Status["ok"] - rep.Status["corrected"] - rep.Status["prompt-mismatch"]; bad > 0 {
		st.Notes = append(st.Notes, fmt.Sprintf("consistency by resampling (%s): %d of %d probe states could not be reconstructed and were not resampled",
			envLabel(envName), bad, len(rep.Probes)))
	}
	return nil
}

// coupling draws the probe set of one environment's runs and measures
// coupling at their checkpoints.
func (st *Study) coupling(ctx context.Context, envName string, runs []Run, opts StudyOptions) error {
	opts.progress("coupling: drawing %d probes from the logs of %d %s run(s)", opts.CouplingProbes, len(runs), envLabel(envName))
	ps, _, err := SelectProbes(ctx, runs, ProbeOptions{Samples: opts.CouplingProbes, Pairs: opts.Pairs, Heatmap: opts.HeatSide, Seed: opts.Seed})
	if errors.Is(err, ErrNoRecords) {
		st.Notes = append(st.Notes, fmt.Sprintf("coupling (%s): %v", envLabel(envName), err))
		return nil
	}
	if err != nil {
		return err
	}
	rep, err := Coupling(ctx, runs, ps, CouplingOptions{Checkpoints: opts.Checkpoints, Tensors: opts.Tensors, Eta: opts.Eta,
		MaxBytes: opts.MaxBytes, Seed: opts.Seed, Workers: opts.Workers, Progress: opts.Progress})
	if err != nil {
		return err
	}
	if rep.Unknown > 0 {
		st.Notes = append(st.Notes, fmt.Sprintf("coupling (%s): %d probe tokens are not in a checkpoint's vocabulary (<unk>)", envLabel(envName), rep.Unknown))
	}
	st.Coupling = append(st.Coupling, rep.Rows...)
	st.BySim = append(st.BySim, rep.BySim...)
	st.Probes = append(st.Probes, ps.Probes...)
	last := map[string]int{}
	for _, h := range rep.Heat {
		last[h.Run] = max(last[h.Run], h.Iteration)
	}
	for _, h := range rep.Heat {
		if h.Iteration == last[h.Run] {
			st.Heat = append(st.Heat, h)
		}
	}
	if len(rep.Heat) == 0 {
		st.Notes = append(st.Notes, fmt.Sprintf("coupling (%s): no heatmap: the probes need good samples with a positive advantage and bad samples in other states", envLabel(envName)))
	}
	return nil
}

func envLabel(e string) string {
	if e == "" {
		return "unknown environment"
	}
	return e
}

// Lemma 3.1 Monte Carlo grid of a study.
var (
	lemmaQ = []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}
	lemmaR = []float64{0.2, 0.5}
)

const lemmaP = 0.6

// lemmaCurves simulates the advantage mass of a flawed action over the q
// grid for each r, in groups of g with the runs' normalisation.
func lemmaCurves(g int, noStd bool, opts StudyOptions) ([]LemmaSimRow, error) {
	norm := "std"
	if noStd {
		norm = "no-std"
	}
	var rows []LemmaSimRow
	for _, r := range lemmaR {
		for _, q := range lemmaQ {
			h := fnv.New64a()
			fmt.Fprintf(h, "lemma/%g/%g/%g/%d/%s", q, r, lemmaP, g, norm)
			rng := rand.New(rand.NewPCG(opts.Seed, h.Sum64()))
			s, err := metrics.SimulateLemma(q, r, lemmaP, metrics.LemmaSimConfig{G: g, Groups: opts.LemmaGroups,
				Adv: metrics.AdvantageConfig{NoStd: noStd}}, rng)
			if err != nil {
				return nil, fmt.Errorf("Lemma 3.1 simulation q=%g r=%g G=%d: %w", q, r, g, err)
			}
			pred := s.Asymptotic
			if noStd {
				pred = s.Exact
			}
			rows = append(rows, LemmaSimRow{Q: q, R: r, P: lemmaP, G: g, Norm: norm, Groups: s.Groups,
				Mass: s.Mass.Point, MassLo: s.Mass.Lo, MassHi: s.Mass.Hi, Predicted: pred,
				Lemma: metrics.AdvantageMass(q, r), Seed: opts.Seed})
		}
	}
	return rows, nil
}

// squeezeRows runs the squeezing simulator with the full expected update and
// with its negative-advantage part only.
func squeezeRows() []SqueezeRow {
	var rows []SqueezeRow
	for _, v := range []struct {
		name string
		neg  bool
	}{{SqueezeFull, false}, {SqueezeNegative, true}} {
		path := metrics.SqueezePath(SqueezeLogits, SqueezeSuccess, metrics.SqueezeConfig{Eta: squeezeEta, Steps: squeezeSteps, NegativeOnly: v.neg})
		p := SqueezeSuccess
		for t, pi := range path {
			rows = append(rows, SqueezeRow{Variant: v.name, Step: t, PiGood: pi[0], PiBad2: pi[1], PiBad1: pi[2],
				PiBad: pi[1] + pi[2], ExpReward: pi[0]*p[0] + pi[1]*p[1] + pi[2]*p[2]})
		}
	}
	return rows
}

// series collects the per-iteration tables in long form.
func (st *Study) series() []SeriesRow {
	var out []SeriesRow
	add := func(run, metric string, it int, v float64) {
		if !math.IsNaN(v) {
			out = append(out, SeriesRow{Run: run, Metric: metric, Iteration: it, Value: v})
		}
	}
	for _, r := range st.Curves {
		for _, m := range curveMetrics {
			add(r.Run, m.name, r.Iteration, *m.get(&r))
		}
	}
	for _, r := range st.Repetition {
		if r.Split != "train" {
			continue
		}
		add(r.Run, SeriesRepeatSuccess, int(r.Iteration), r.SuccessRepeat)
		add(r.Run, SeriesRepeatFailure, int(r.Iteration), r.FailureRepeat)
		add(r.Run, SeriesLoopRate, int(r.Iteration), r.LoopRate)
	}
	for _, r := range st.LogConsistency {
		if r.Split == "train" {
			add(r.Run, SeriesLogConsistencyHigh, int(r.Iteration), r.High)
		}
	}
	for _, r := range st.Consistency {
		if r.Kind != KindAll {
			continue
		}
		add(r.Run, SeriesHigh, r.Iteration, r.High)
		add(r.Run, SeriesHighGood, r.Iteration, r.HighGood)
		add(r.Run, SeriesHighBad, r.Iteration, r.HighBad)
		add(r.Run, SeriesHighJudgeGood, r.Iteration, r.HighJudgeGood)
		add(r.Run, SeriesHighJudgeBad, r.Iteration, r.HighJudgeBad)
		add(r.Run, SeriesMeanConsistency, r.Iteration, r.MeanConsistency)
	}
	for _, r := range st.Coupling {
		for _, m := range []struct {
			name string
			v    float64
		}{
			{SeriesHarmfulRate, r.HarmfulRate}, {SeriesHarmfulMass, r.HarmfulMass},
			{SeriesCosGood, r.CosGood}, {SeriesCosBad, r.CosBad}, {SeriesCosGoodBad, r.CosGoodBad},
			{SeriesPairCosJaccard, r.PairCosJaccard},
			{SeriesProbeAccState, r.ProbeState}, {SeriesProbeAccVerdict, r.ProbeVerdict},
			{SeriesFisherState, r.FisherState}, {SeriesFisherVerdict, r.FisherVerdict},
			{SeriesSilhouetteState, r.SilhouetteState}, {SeriesSilhouetteVerdict, r.SilhouetteVerd},
			{SeriesHeatPearson, r.HeatPearson},
		} {
			add(r.Run, m.name, r.Iteration, m.v)
		}
	}
	return out
}

// Run returns the run of the study named name.
func (st *Study) Run(name string) (StudyRun, bool) {
	for _, r := range st.Runs {
		if r.Name == name {
			return r, true
		}
	}
	return StudyRun{}, false
}

// SeedString is the study's seed in decimal, for table metadata.
func (st *Study) SeedString() string { return strconv.FormatUint(st.Seed, 10) }

// runsOf returns the names of the runs whose algorithm is algo, in order.
func (st *Study) runsOf(algo string) []string {
	var out []string
	for _, r := range st.Runs {
		if r.Algo == algo {
			out = append(out, r.Name)
		}
	}
	return out
}

// Algos returns the algorithms of the study's runs in order of first
// appearance ("" for runs without one).
func (st *Study) Algos() []string {
	var out []string
	for _, r := range st.Runs {
		if !slices.Contains(out, r.Algo) {
			out = append(out, r.Algo)
		}
	}
	return out
}
