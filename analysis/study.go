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
	"strings"
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
//	(j) where coupling lives: the Gram by parameter tensor group   TensorRow
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
	// Twins is the number of twin pairs oversampled into the coupling probe
	// set (ProbeOptions.Twins): the pairs the coupling mechanism needs,
	// which a uniform draw almost never holds; 0 means a quarter of the
	// probes' pairs (CouplingProbes/8), negative none.
	Twins int
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
	// Progress, if not nil, is told what is being done: the step (k of n),
	// the unit of work within it (k of n) and the time left in the step.
	Progress func(what string)
	// Cache, if not nil, keeps the results of the log analyses, of
	// resampling and of coupling, and reuses them when the inputs, the code
	// and the options are the same (StudyCache).
	Cache *StudyCache
	// Warn, if not nil, is told about problems that do not stop the study
	// (a cache that cannot be read or written).
	Warn func(msg string)
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
	if o.Twins == 0 {
		o.Twins = max(o.CouplingProbes, 0) / 8
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

func (o StudyOptions) warn(msg string) {
	if o.Warn != nil {
		o.Warn(msg)
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
	// Logs is the pattern the run's step records were read from ("" for
	// none): its logs/, or the input itself for logs alone.
	Logs string `parquet:"logs" json:"logs" text:"-"`
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
	SeriesProbeAccAction     = "probe_acc_action"
	SeriesFisherAction       = "fisher_action"
	SeriesSilhouetteAction   = "silhouette_action"
	SeriesHeatPearson        = "heat_pearson"
	SeriesLogConsistencyHigh = "log_consistency_high"
)

// StudyStep is the wall-clock time of one step of a study; Cached says
// that every result of the step came from the cache (StudyCache).
type StudyStep struct {
	Step    string  `parquet:"step" json:"step"`
	Seconds float64 `parquet:"seconds" json:"seconds"`
	Cached  bool    `parquet:"cached" json:"cached"`
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
	// CouplingTensors is the coupling by group of parameter tensors, a
	// row per checkpoint and group (TensorRow).
	CouplingTensors []TensorRow
	// Strata is the coupling per pair stratum (twins, same state, same
	// action and label, random, all) with bootstrap intervals, permutation
	// nulls and p-values, per run and checkpoint.
	Strata []StrataRow
	// Advantage is the empirical Lemma 3.1 check (iterations pooled) and
	// LemmaSim its Monte Carlo counterpart.
	Advantage        []AdvantageRow
	AdvantageSummary []AdvantageSummaryRow
	LemmaSim         []LemmaSimRow
	Squeeze          []SqueezeRow
	SqueezeSummary   []SqueezeSummary
	// Inspect summarises the logs of every run per iteration and split
	// (Inspect: groups, success, zero-std groups, whether the logged
	// advantages are the GRPO advantages of the outcomes); Problems are
	// the inconsistencies it found.
	Inspect  []InspectRow
	Problems []ProblemRow
	// Series is the long form of the per-iteration tables.
	Series []SeriesRow
	// NoCheckpoints are the runs without checkpoints, whose checkpoint
	// sections (CheckpointSections) are empty.
	NoCheckpoints []string
	// Inputs are the log inputs that an adapter read (other trainers'
	// formats), one per run, for the commands to say so.
	Inputs []Input
	// Empty says which selections had no records (a run whose logs have no
	// train rows, ...): the sections they feed are empty. It is not an
	// error.
	Empty []string
	// Notes say what was skipped and why (no checkpoints, no logs, no
	// reconstructable probe states, ...).
	Notes []string
	Steps []StudyStep
}

// ProblemRow is an inspect Problem of a study's logs, as a table row.
type ProblemRow struct {
	Run       string `parquet:"run" json:"run"`
	Iteration int32  `parquet:"iteration" json:"iteration"`
	Split     string `parquet:"split" json:"split"`
	Where     string `parquet:"where" json:"where"`
	Kind      string `parquet:"kind" json:"kind"`
	Detail    string `parquet:"detail" json:"detail"`
}

// CheckpointSections are the analyses of a study that need the policy's
// checkpoints (DESIGN.md §3.3); logs alone give the others.
var CheckpointSections = []string{
	"(a) action consistency by resampling",
	"(c) coupling heatmap",
	"(g) gradient coupling over training",
	"(h) representation separation",
	"(j) coupling by tensor group",
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
	info  StudyRun
	run   *Run // nil: no checkpoint analyses
	lines []MetricsLine
	// logs is the pattern of the run's step records (its logs/, or the
	// input itself for logs alone); "" when it has none. logFiles are the
	// paths whose identity keys the cached log analyses.
	logs     string
	logFiles []string
	// metrics says whether the run has a metrics.jsonl.
	metrics bool
}

// hasGlobMeta reports whether s holds a glob metacharacter.
func hasGlobMeta(s string) bool { return strings.ContainsAny(s, "*?[") }

// LogsName names a run given as logs alone: the base name of a file
// without its extensions (verl.parquet: verl), of a directory, or of the
// directory part of a glob (runs/verl/*.jsonl: verl).
func LogsName(input string) string {
	base := filepath.Base(filepath.Clean(input))
	if hasGlobMeta(base) {
		if d := filepath.Base(filepath.Dir(filepath.Clean(input))); d != "." && d != string(filepath.Separator) && !hasGlobMeta(d) {
			return d
		}
		return "logs"
	}
	if i := strings.IndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	return base
}

// hasFiles reports whether dir holds a non-hidden regular file other than
// the ones named.
func hasFiles(dir string, except ...string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || slices.Contains(except, e.Name()) {
			continue
		}
		if st, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && st.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// openStudyRun opens one input of a study: a run directory (metrics.jsonl,
// run.json, logs/, checkpoints/: each optional, but metrics.jsonl or step
// records are needed), or step records alone: a log file, a directory of
// log files, or a glob of them, in any format the log scans read.
func openStudyRun(input string) (*studyRun, []string, error) {
	st, err := os.Stat(input)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && hasGlobMeta(input) {
			m, gerr := filepath.Glob(input)
			if gerr != nil {
				return nil, nil, &RunError{Dir: input, Msg: "bad glob pattern: " + gerr.Error(), Err: gerr}
			}
			if len(m) == 0 {
				return nil, nil, &RunError{Dir: input, Msg: "no file matches the pattern", Err: fs.ErrNotExist}
			}
			sr := &studyRun{info: StudyRun{Dir: input, Name: LogsName(input), Logs: input}, logs: input, logFiles: m}
			return sr, []string{logsOnlyNote(sr.info.Name)}, nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, &RunError{Dir: input, Msg: "no such run directory or log file", Err: err}
		}
		return nil, nil, err
	}
	if !st.IsDir() {
		sr := &studyRun{info: StudyRun{Dir: input, Name: LogsName(input), Logs: input}, logs: input, logFiles: []string{input}}
		return sr, []string{logsOnlyNote(sr.info.Name)}, nil
	}
	dir := input
	sr := &studyRun{info: StudyRun{Dir: dir, Name: filepath.Base(filepath.Clean(dir))}}
	var notes []string
	if _, err := os.Stat(metricsPath(dir)); err == nil {
		lines, err := ReadMetricsFile(metricsPath(dir))
		if err != nil {
			return nil, nil, err
		}
		sr.lines, sr.metrics = lines, true
		sr.info.Iterations = len(lines)
	}
	if st, err := os.Stat(filepath.Join(dir, "logs")); err == nil && st.IsDir() {
		sr.logs = filepath.Join(dir, "logs")
	} else if !sr.metrics {
		if !hasFiles(dir, "run.json") {
			return nil, nil, &RunError{Dir: dir, Msg: "neither a run directory (metrics.jsonl, logs/) nor a directory of log files"}
		}
		sr.logs = dir // a directory of log files
	}
	if sr.logs != "" {
		sr.info.Logs = sr.logs
		sr.logFiles = []string{sr.logs}
		if sr.logs == dir { // its top-level files only, as the readers take them
			ents, _ := os.ReadDir(dir)
			sr.logFiles = nil
			for _, e := range ents {
				if !strings.HasPrefix(e.Name(), ".") && !e.IsDir() {
					sr.logFiles = append(sr.logFiles, filepath.Join(dir, e.Name()))
				}
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "run.json"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if sr.metrics {
			notes = append(notes, fmt.Sprintf("%s: no run.json, so no checkpoint analyses (resampling, coupling)", dir))
		}
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
	if !sr.metrics {
		notes = append(notes, logsOnlyNote(sr.info.Name))
	}
	if sr.logs == "" {
		notes = append(notes, fmt.Sprintf("%s: no logs/, so no log analyses (repetition, Lemma 3.1, probes)", dir))
	}
	return sr, notes, nil
}

// logsOnlyNote is the note on a run without metrics.jsonl.
func logsOnlyNote(name string) string {
	return fmt.Sprintf("%s: no metrics.jsonl, so the learning curves (f) and final performance (i) are the success rates of its step records "+
		"(train rows as train_success; eval-in and eval-out rows, if logged, as the sampled evaluation success)", name)
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

// StudyRuns runs a study of the inputs (DESIGN.md §3.2): run directories
// or, for runs made elsewhere, step records alone (a log file, a directory
// of log files, or a glob of them, in any format the log scans read). It
// computes the learning curves of metrics.jsonl (or of the step records'
// success when a run has none), repetition, consistency where states recur,
// the empirical Lemma 3.1 check and the inspect summary from the logs,
// consistency by resampling and gradient coupling at the checkpoints (one
// probe set per environment, shared by every run of that environment, so
// that runs are compared on the same samples), the heatmap of each run's
// last checkpoint, and the Monte Carlo and squeezing simulators. A missing
// input, a malformed metrics.jsonl or run.json, and malformed logs are
// bad-input errors naming the file (and line or row); analyses that an
// input cannot support (no checkpoints, no logs, no reconstructable state)
// are skipped with a note, and selections without records are listed in
// Study.Empty. With opts.Cache, results computed before on the same inputs
// with the same code and options are reused.
func StudyRuns(ctx context.Context, dirs []string, opts StudyOptions) (*Study, error) {
	opts = opts.withDefaults()
	if len(dirs) == 0 {
		return nil, errors.New("study: no run directories or logs")
	}
	st := &Study{Seed: opts.Seed, Options: opts}
	step := func(name string, start time.Time, cached bool) {
		st.Steps = append(st.Steps, StudyStep{Step: name, Seconds: time.Since(start).Seconds(), Cached: cached})
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
			return nil, &RunError{Dir: d, Msg: fmt.Sprintf("run name %q is also the name of %s; runs of a study need distinct names (run.json's run, or the file name of logs)", sr.info.Name, other)}
		}
		names[sr.info.Name] = d
		st.Notes = append(st.Notes, notes...)
		runs = append(runs, sr)
		if sr.run == nil {
			st.NoCheckpoints = append(st.NoCheckpoints, sr.info.Name)
		}
	}
	step("reading the runs", start, false)

	// Checkpoint analyses, one environment at a time.
	var envs []string
	byEnv := map[string][]Run{}
	for _, sr := range runs {
		if sr.run == nil || sr.logs == "" {
			continue
		}
		if _, ok := byEnv[sr.info.Env]; !ok {
			envs = append(envs, sr.info.Env)
		}
		byEnv[sr.info.Env] = append(byEnv[sr.info.Env], *sr.run)
	}
	// The runs of an environment in the order of their directories, so
	// that the same runs get the same probe sets (and cache entries)
	// whatever the order they are given in.
	for _, rs := range byEnv {
		slices.SortStableFunc(rs, func(a, b Run) int { return strings.Compare(absPath(a.Dir), absPath(b.Dir)) })
	}
	steps := 2 // log analyses, simulators
	if opts.ConsistencyStates > 0 && len(envs) > 0 {
		steps++
	}
	if opts.CouplingProbes > 0 && len(envs) > 0 {
		steps++
	}
	pr := &studyProgress{opts: opts, steps: steps}

	// Log analyses, run by run.
	start = time.Now()
	pr.begin("log analyses", len(runs))
	allCached := true
	for i, sr := range runs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := sr.info.Name
		pr.unit(i+1, "%s: repetition, consistency, Lemma 3.1 and inspect from the logs", name)
		if sr.logs == "" {
			st.Curves = append(st.Curves, curveRows(name, sr.info.Algo, sr.lines)...)
			continue
		}
		lr, hit, err := cached(opts.Cache, opts.warn, "logs", []string{sr.info.Dir}, sr.logFiles, opts.logKey(), func() (logResult, error) {
			return studyLogs(ctx, sr.logs, opts)
		})
		if err != nil {
			return nil, err
		}
		allCached = allCached && hit
		if hit {
			pr.cached()
		}
		st.addLogs(sr, lr)
	}
	step("log analyses", start, allCached && len(runs) > 0)

	if opts.ConsistencyStates > 0 && len(envs) > 0 {
		start = time.Now()
		allCached = true
		for _, e := range envs {
			hit, err := st.resample(ctx, e, byEnv[e], opts, pr)
			if err != nil {
				return nil, err
			}
			allCached = allCached && hit
		}
		step("consistency by resampling", start, allCached)
	}
	if opts.CouplingProbes > 0 && len(envs) > 0 {
		start = time.Now()
		allCached = true
		for _, e := range envs {
			hit, err := st.coupling(ctx, e, byEnv[e], opts, pr)
			if err != nil {
				return nil, err
			}
			allCached = allCached && hit
		}
		step("coupling", start, allCached)
	}

	start = time.Now()
	pr.begin("simulators", 1)
	pr.unit(1, "Lemma 3.1 Monte Carlo and squeezing")
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
	step("simulators", start, false)
	for _, sr := range runs {
		st.Runs = append(st.Runs, sr.info)
	}
	st.Series = st.series()
	for _, sr := range runs {
		st.Series = append(st.Series, breakdownSeries(sr.info.Name, sr.lines)...)
	}
	return st, nil
}

// breakdownMetrics are the evaluation success rates whose breakdowns
// METRIC/SUFFIX (per task family, per out-of-domain shift) a study picks
// up from metrics.jsonl.
var breakdownMetrics = []string{MetricEvalInGreedy, MetricEvalInSampled, MetricEvalOutGreedy, MetricEvalOutSampled}

// breakdownSeries returns the series of a run's evaluation success
// breakdowns: every metrics.jsonl value named METRIC/SUFFIX for METRIC one
// of breakdownMetrics (a top-level key "eval_in_greedy_success/pick", or
// an object "eval_in_greedy_success": {...} beside no scalar of that
// name), and the trainer's per-family rates
// eval_success_by_family/eval-in/greedy/FAMILY as
// eval_in_greedy_success/FAMILY where the line has no such key. A run
// without them has none; NaN values are left out.
func breakdownSeries(run string, lines []MetricsLine) []SeriesRow {
	var out []SeriesRow
	for _, l := range lines {
		vals := map[string]float64{}
		for k, v := range l.Values {
			base, suffix, ok := strings.Cut(k, "/")
			if ok && suffix != "" && slices.Contains(breakdownMetrics, base) {
				vals[k] = v
			}
		}
		for k, v := range l.Values {
			rest, ok := strings.CutPrefix(k, "eval_success_by_family/")
			if !ok {
				continue
			}
			parts := strings.SplitN(rest, "/", 3)
			if len(parts) != 3 || parts[2] == "" {
				continue
			}
			split := map[string]string{"eval-in": "in", "eval-out": "out"}[parts[0]]
			if split == "" || (parts[1] != "greedy" && parts[1] != "sampled") {
				continue
			}
			name := "eval_" + split + "_" + parts[1] + "_success/" + parts[2]
			if _, ok := l.Values[name]; !ok {
				vals[name] = v
			}
		}
		keys := make([]string, 0, len(vals))
		for k := range vals {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !math.IsNaN(vals[k]) {
				out = append(out, SeriesRow{Run: run, Metric: k, Iteration: l.Iteration, Value: vals[k]})
			}
		}
	}
	return out
}

// FinalMetrics are the final-performance metrics of a study: Compare's
// default (evaluation success in-domain and out-of-domain, greedy when any
// run has it, else sampled), each followed by its breakdowns METRIC/SUFFIX
// per task family or out-of-domain shift that any run logged, in name
// order. Pass it as CompareOptions.Final to compare the breakdowns too.
func (st *Study) FinalMetrics() []string {
	has := map[string]bool{}
	for _, s := range st.Series {
		has[s.Metric] = true
	}
	var out []string
	for _, m := range defaultFinal(st) {
		out = append(out, m)
		var sub []string
		for k := range has {
			if strings.HasPrefix(k, m+"/") {
				sub = append(sub, k)
			}
		}
		slices.Sort(sub)
		out = append(out, sub...)
	}
	return out
}

// absPath is path made absolute (path itself if that fails).
func absPath(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}

// logResult is what the log analyses of one run give (and the cache
// keeps), before the rows are given the run's name.
type logResult struct {
	// Inputs are the inputs of the log scan (Sources.Inputs).
	Inputs         []Input
	Repetition     []RepetitionRow
	LogConsistency []ConsistencyRow
	Advantage      []AdvantageRow
	Summary        AdvantageSummary
	Inspect        []InspectRow
	Problems       []Problem
}

// logKey is the part of the options the log analyses depend on.
func (o StudyOptions) logKey() string {
	return fmt.Sprintf("seed=%d min-visits=%d bootstrap=%d/%g", o.Seed, o.MinVisits, o.Bootstrap.Resamples, o.Bootstrap.Level)
}

// studyLogs runs the log analyses of one run's step records.
func studyLogs(ctx context.Context, logs string, opts StudyOptions) (logResult, error) {
	var lr logResult
	var err error
	patterns := []string{logs}
	var src Sources
	if lr.Repetition, lr.LogConsistency, _, src, err = LogDiagnostics(ctx, patterns, LogFilter{}, metrics.ConsistencyConfig{}); err != nil {
		return lr, err
	}
	lr.Inputs = src.Inputs
	if lr.Advantage, lr.Summary, _, err = Advantage(ctx, patterns, AdvantageOptions{PoolIterations: true, Seed: opts.Seed,
		Mass: metrics.MassConfig{MinVisits: opts.MinVisits, Bootstrap: opts.Bootstrap}}); err != nil {
		return lr, err
	}
	ins, err := Inspect(ctx, patterns)
	if err != nil {
		return lr, err
	}
	lr.Inspect, lr.Problems = ins.Rows, ins.Problems
	return lr, nil
}

// addLogs adds the log analyses of run sr to the study under its name, the
// learning curves of its metrics.jsonl (or of its logs), and says which
// selections are empty.
func (st *Study) addLogs(sr *studyRun, lr logResult) {
	name := sr.info.Name
	recordRuns := map[string]bool{}
	for _, r := range lr.Inspect {
		recordRuns[r.Run] = true
	}
	if len(recordRuns) > 1 {
		st.Notes = append(st.Notes, fmt.Sprintf("%s: its step records hold %d runs (field run), analysed together as %s; give each run's files as an input of its own to tell them apart",
			name, len(recordRuns), name))
	}
	for i := range lr.Repetition {
		lr.Repetition[i].Run = name
	}
	for i := range lr.LogConsistency {
		lr.LogConsistency[i].Run = name
	}
	for i := range lr.Advantage {
		lr.Advantage[i].Run = name
	}
	for i := range lr.Inspect {
		lr.Inspect[i].Run = name
	}
	for _, in := range lr.Inputs {
		if in.Adapter() {
			st.Inputs = append(st.Inputs, in)
		}
	}
	st.Repetition = append(st.Repetition, lr.Repetition...)
	st.LogConsistency = append(st.LogConsistency, lr.LogConsistency...)
	st.Advantage = append(st.Advantage, lr.Advantage...)
	st.AdvantageSummary = append(st.AdvantageSummary, AdvantageSummaryRow{Run: name, Pairs: lr.Summary.Pairs, Flawed: lr.Summary.Flawed,
		FlawedNegative: lr.Summary.FlawedNegative, FlawedMassCI: lr.Summary.FlawedMassCI, MinVisits: st.Options.MinVisits, Seed: st.Seed})
	st.Inspect = append(st.Inspect, lr.Inspect...)
	for _, p := range lr.Problems {
		st.Problems = append(st.Problems, ProblemRow{Run: name, Iteration: p.Iteration, Split: p.Split, Where: p.Where, Kind: p.Kind, Detail: p.Detail})
	}
	train := 0
	iters := map[int32]bool{}
	for _, r := range lr.Inspect {
		iters[r.Iteration] = true
		if r.Split == "train" {
			train++
		}
	}
	if train == 0 {
		st.Empty = append(st.Empty, fmt.Sprintf("%s: no train-split step records in %s, so repetition (b) and the Lemma 3.1 check (e) have no rows for it", name, sr.logs))
	}
	if sr.metrics {
		st.Curves = append(st.Curves, curveRows(name, sr.info.Algo, sr.lines)...)
		return
	}
	sr.info.Iterations = len(iters)
	st.Curves = append(st.Curves, logCurveRows(name, sr.info.Algo, lr.Inspect)...)
}

// logCurveRows builds learning-curve rows from the inspect summary of a
// run's logs: the success rate of its train rows as train_success, of its
// eval-in and eval-out rows (when logged) as the sampled evaluation
// success, and the zero-std and invalid shares of its train rows.
func logCurveRows(run, algo string, rows []InspectRow) []CurveRow {
	byIter := map[int32]*CurveRow{}
	var iters []int32
	nan := math.NaN()
	for _, r := range rows {
		c := byIter[r.Iteration]
		if c == nil {
			c = &CurveRow{Run: run, Algo: algo, Iteration: int(r.Iteration), TrainSuccess: nan, EvalInGreedy: nan, EvalInSampled: nan,
				EvalOutGreedy: nan, EvalOutSampled: nan, VerdictAcc: nan, CorrectionRate: nan, InvalidRate: nan, ZeroStdFrac: nan, KL: nan, Entropy: nan}
			byIter[r.Iteration] = c
			iters = append(iters, r.Iteration)
		}
		switch r.Split {
		case "train":
			c.TrainSuccess, c.ZeroStdFrac, c.InvalidRate = r.SuccessRate, r.ZeroStdFrac, r.InvalidRate
		case "eval-in":
			c.EvalInSampled = r.SuccessRate
		case "eval-out":
			c.EvalOutSampled = r.SuccessRate
		}
	}
	slices.Sort(iters)
	out := make([]CurveRow, 0, len(iters))
	for _, it := range iters {
		out = append(out, *byIter[it])
	}
	return out
}

// studyProgress tells opts.Progress where a study is: step k of n, unit k
// of n within the step, and the time left in the step at the pace so far.
type studyProgress struct {
	opts  StudyOptions
	steps int
	k     int // current step, from 1
	name  string
	units int
	start time.Time
}

func (p *studyProgress) begin(name string, units int) {
	p.k++
	p.name, p.units, p.start = name, units, time.Now()
}

// unit says that unit k (from 1) of the step starts.
func (p *studyProgress) unit(k int, format string, args ...any) {
	if p.opts.Progress == nil {
		return
	}
	k = min(max(k, 1), max(p.units, 1))
	left := ""
	if k > 1 {
		per := time.Since(p.start) / time.Duration(k-1)
		left = ", " + shortDuration(per*time.Duration(p.units-k+1)) + " left"
	}
	p.opts.progress("step %d of %d, %s: %d of %d%s: %s", p.k, p.steps, p.name, k, p.units, left, fmt.Sprintf(format, args...))
}

// cached says that the current unit's results (all of them, for a step
// cached as a whole) came from the cache.
func (p *studyProgress) cached() {
	if p.opts.Progress != nil {
		p.opts.progress("step %d of %d, %s: from the cache", p.k, p.steps, p.name)
	}
}

// shortDuration formats d to the second (at least 1s).
func shortDuration(d time.Duration) string {
	return max(d.Round(time.Second), time.Second).String()
}

// unitsOf counts the (run, checkpoint) units of the runs given the
// checkpoints option.
func unitsOf(runs []Run, checkpoints []int) int {
	n := 0
	for _, r := range runs {
		if len(checkpoints) == 0 {
			n += len(r.Checkpoints)
			continue
		}
		for _, c := range r.Checkpoints {
			if slices.Contains(checkpoints, c) {
				n++
			}
		}
	}
	return max(n, 1)
}

// counting wraps a progress function so that every message that starts a
// (run, checkpoint) unit (as marked by isUnit) advances the progress.
func (p *studyProgress) counting(isUnit func(string) bool) func(string) {
	k := 0
	return func(msg string) {
		if isUnit(msg) {
			k++
		}
		p.unit(max(k, 1), "%s", msg)
	}
}

// runFiles are the paths whose identity keys the checkpoint analyses of
// runs: each run's run.json, logs and checkpoints.
func runFiles(runs []Run) (dirs, files []string) {
	for _, r := range runs {
		dirs = append(dirs, r.Dir)
		files = append(files, filepath.Join(r.Dir, "run.json"), filepath.Join(r.Dir, "logs"), filepath.Join(r.Dir, "checkpoints"))
	}
	return dirs, files
}

// resampleResult is what consistency by resampling gives for one
// environment (and the cache keeps).
type resampleResult struct {
	Rows   []ResampleRow
	States []ResampleStateRow
	Probes []ResampleProbe
	Notes  []string
}

// resample measures consistency by resampling for the runs of one
// environment, or takes it from the cache.
func (st *Study) resample(ctx context.Context, envName string, runs []Run, opts StudyOptions, pr *studyProgress) (bool, error) {
	pr.begin("consistency by resampling ("+envLabel(envName)+")", unitsOf(runs, opts.Checkpoints))
	dirs, files := runFiles(runs)
	key := fmt.Sprintf("env=%s seed=%d checkpoints=%v k=%d threshold=%d temperature=%g states=%d",
		envName, opts.Seed, opts.Checkpoints, opts.ConsistencyK, opts.ConsistencyMin, opts.Temperature, opts.ConsistencyStates)
	res, hit, err := cached(opts.Cache, opts.warn, "resample", dirs, files, key, func() (resampleResult, error) {
		pr.unit(1, "choosing %d+%d probe states from the logs of %d %s run(s)", opts.ConsistencyStates, opts.ConsistencyStates, len(runs), envLabel(envName))
		return resampleEnv(ctx, envName, runs, opts, pr.counting(func(m string) bool { return strings.Contains(m, " draws at ") }))
	})
	if err != nil {
		return false, err
	}
	if hit {
		pr.cached()
	}
	st.Consistency = append(st.Consistency, res.Rows...)
	st.ConsistencyStates = append(st.ConsistencyStates, res.States...)
	st.ConsistencyProbes = append(st.ConsistencyProbes, res.Probes...)
	st.Notes = append(st.Notes, res.Notes...)
	return hit, nil
}

func resampleEnv(ctx context.Context, envName string, runs []Run, opts StudyOptions, progress func(string)) (resampleResult, error) {
	var res resampleResult
	ro := ResampleOptions{Checkpoints: opts.Checkpoints, K: opts.ConsistencyK, Threshold: opts.ConsistencyMin,
		Temperature: opts.Temperature, Repeated: opts.ConsistencyStates, Random: opts.ConsistencyStates,
		Seed: opts.Seed, Workers: opts.Workers, Progress: progress}
	rep, err := Resample(ctx, runs, ro)
	if errors.Is(err, ErrNoRecords) {
		res.Notes = append(res.Notes, fmt.Sprintf("consistency by resampling (%s): %v", envLabel(envName), err))
		return res, nil
	}
	if err != nil {
		return res, err
	}
	res.Rows = rep.Rows
	// The probes without their rebuilt environment and prompt (kept only
	// while resampling), so that a study from the cache equals a computed
	// one.
	for _, p := range rep.Probes {
		p.prompt, p.env = "", nil
		res.Probes = append(res.Probes, p)
	}
	last := map[string]int{}
	for _, s := range rep.States {
		last[s.Run] = max(last[s.Run], s.Iteration)
	}
	for _, s := range rep.States {
		if s.Iteration == last[s.Run] {
			res.States = append(res.States, s)
		}
	}
	if bad := len(rep.Probes) - rep.Status["ok"] - rep.Status["corrected"] - rep.Status["prompt-mismatch"]; bad > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("consistency by resampling (%s): %d of %d probe states could not be reconstructed and were not resampled",
			envLabel(envName), bad, len(rep.Probes)))
	}
	return res, nil
}

// couplingResult is what coupling gives for one environment (and the
// cache keeps).
type couplingResult struct {
	Rows    []CouplingRow
	BySim   []SimilarityRow
	Heat    []HeatRow
	Probes  []Probe
	Tensors []TensorRow
	Strata  []StrataRow
	Notes   []string
}

// coupling draws the probe set of one environment's runs and measures
// coupling at their checkpoints, or takes it from the cache.
func (st *Study) coupling(ctx context.Context, envName string, runs []Run, opts StudyOptions, pr *studyProgress) (bool, error) {
	pr.begin("coupling ("+envLabel(envName)+")", unitsOf(runs, opts.Checkpoints))
	dirs, files := runFiles(runs)
	key := fmt.Sprintf("env=%s seed=%d checkpoints=%v probes=%d heat=%d pairs=%d twins=%d eta=%g tensors=%q max-bytes=%d",
		envName, opts.Seed, opts.Checkpoints, opts.CouplingProbes, opts.HeatSide, opts.Pairs, opts.Twins, opts.Eta, opts.Tensors, opts.MaxBytes)
	res, hit, err := cached(opts.Cache, opts.warn, "coupling", dirs, files, key, func() (couplingResult, error) {
		pr.unit(1, "drawing %d probes from the logs of %d %s run(s)", opts.CouplingProbes, len(runs), envLabel(envName))
		return couplingEnv(ctx, envName, runs, opts, pr.counting(func(m string) bool { return strings.Contains(m, " per-sample gradients of ") }))
	})
	if err != nil {
		return false, err
	}
	if hit {
		pr.cached()
	}
	st.Coupling = append(st.Coupling, res.Rows...)
	st.BySim = append(st.BySim, res.BySim...)
	st.Heat = append(st.Heat, res.Heat...)
	st.CouplingTensors = append(st.CouplingTensors, res.Tensors...)
	st.Strata = append(st.Strata, res.Strata...)
	st.Probes = append(st.Probes, res.Probes...)
	st.Notes = append(st.Notes, res.Notes...)
	return hit, nil
}

func couplingEnv(ctx context.Context, envName string, runs []Run, opts StudyOptions, progress func(string)) (couplingResult, error) {
	var res couplingResult
	ps, _, err := SelectProbes(ctx, runs, ProbeOptions{Samples: opts.CouplingProbes, Pairs: opts.Pairs, Heatmap: opts.HeatSide, Seed: opts.Seed,
		Twins: max(opts.Twins, 0)})
	if errors.Is(err, ErrNoRecords) {
		res.Notes = append(res.Notes, fmt.Sprintf("coupling (%s): %v", envLabel(envName), err))
		return res, nil
	}
	if err != nil {
		return res, err
	}
	rep, err := Coupling(ctx, runs, ps, CouplingOptions{Checkpoints: opts.Checkpoints, Tensors: opts.Tensors, Eta: opts.Eta,
		MaxBytes: opts.MaxBytes, Seed: opts.Seed, Workers: opts.Workers, Progress: progress})
	if err != nil {
		return res, err
	}
	if rep.Unknown > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("coupling (%s): %d probe tokens are not in a checkpoint's vocabulary (<unk>)", envLabel(envName), rep.Unknown))
	}
	res.Rows, res.BySim, res.Probes, res.Tensors, res.Strata = rep.Rows, rep.BySim, ps.Probes, rep.Tensors, rep.Strata
	last := map[string]int{}
	for _, h := range rep.Heat {
		last[h.Run] = max(last[h.Run], h.Iteration)
	}
	for _, h := range rep.Heat {
		if h.Iteration == last[h.Run] {
			res.Heat = append(res.Heat, h)
		}
	}
	if len(rep.Heat) == 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("coupling (%s): no heatmap: the probes need good samples with a positive advantage and bad samples in other states", envLabel(envName)))
	}
	return res, nil
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
			{SeriesProbeAccAction, r.ProbeAction}, {SeriesFisherAction, r.FisherAction}, {SeriesSilhouetteAction, r.SilhouetteAction},
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
func (st *Study) runsOf(arm string) []string {
	var out []string
	for _, r := range st.Runs {
		if r.Arm() == arm {
			out = append(out, r.Name)
		}
	}
	return out
}

// Arms returns the arms of the study's runs (StudyRun.Arm) in order of
// first appearance.
func (st *Study) Arms() []string {
	var out []string
	for _, r := range st.Runs {
		if !slices.Contains(out, r.Arm()) {
			out = append(out, r.Arm())
		}
	}
	return out
}

// Arm is the run's arm of a study: ARM of a run named ENV-ARM-SEED (as
// `gradcouple study` names them, e.g. household-grpo-twin_share0.5-2 is
// arm grpo-twin_share0.5) when ARM starts with the run's algorithm, else
// the algorithm ("" for runs without one).
func (r StudyRun) Arm() string {
	rest, ok := strings.CutPrefix(r.Name, r.Env+"-")
	if !ok || r.Env == "" || r.Algo == "" {
		return r.Algo
	}
	arm, ok := strings.CutSuffix(rest, "-"+strconv.FormatUint(r.Seed, 10))
	if !ok || !(arm == r.Algo || strings.HasPrefix(arm, r.Algo+"-")) {
		return r.Algo
	}
	return arm
}
