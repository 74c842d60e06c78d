package analysis

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/metrics"
	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/gradcouple/gradcouple/trajlog/adapter"
)

// runSplit identifies the records of one run and split.
type runSplit struct{ run, split string }

// bySplit holds one accumulator per (run, split), remembering the last one
// used: records of one run and split usually arrive together.
type bySplit[T any] struct {
	m       map[runSplit]*T
	newT    func() *T
	last    *T
	lastKey runSplit
}

func newBySplit[T any](newT func() *T) *bySplit[T] {
	return &bySplit[T]{m: map[runSplit]*T{}, newT: newT}
}

// get returns the accumulator of r's run and split, creating it if needed.
func (b *bySplit[T]) get(r *trajlog.Record) *T {
	if b.last != nil && r.Run == b.lastKey.run && r.Split == b.lastKey.split {
		return b.last
	}
	k := runSplit{strings.Clone(r.Run), strings.Clone(r.Split)}
	t := b.m[k]
	if t == nil {
		t = b.newT()
		b.m[k] = t
	}
	b.last, b.lastKey = t, k
	return t
}

func lessRunSplit(a, b runSplit) bool {
	if a.run != b.run {
		return a.run < b.run
	}
	return a.split < b.split
}

// LogFilter says how step records are read and which are kept.
type LogFilter struct {
	// Split keeps only records of this split ("" keeps every split).
	Split string
	// Seed seeds the bootstrap intervals of the repetition rates: one
	// stream per (run, split, iteration), PCG(Seed, FNV-1a of the three),
	// so a row does not depend on which other runs were read. Recorded in
	// every RepetitionRow. Zero is a seed like any other.
	Seed uint64
	// Adapter reads other trainers' logs (verl, verl-agent, TRL, rLLM):
	// the state rule, the labels and the conventions of the derived fields.
	// The zero value reads them as `gradcouple convert` does by default.
	Adapter adapter.Options
}

func (f LogFilter) keep(r *trajlog.Record) bool {
	return f.Split == "" || r.Split == f.Split
}

// RepetitionRow is the repetition of one (run, split, iteration), overall and
// split by trajectory outcome (DESIGN.md §4, paper Fig. 2).
//
// Every rate has a 95% interval (columns *_lo, *_hi): the repeat and loop
// rates, shares of steps whose steps are clustered in trajectories, a
// percentile cluster bootstrap over the trajectories (metrics.ClusterRatio,
// 2000 resamples, seeded by Seed); the shares of repeating trajectories a
// Wilson interval over trajectories (metrics.Wilson). With fewer than two
// trajectories in a subset the bounds are NaN.
type RepetitionRow struct {
	Run                string  `parquet:"run" json:"run"`
	Split              string  `parquet:"split" json:"split"`
	Iteration          int32   `parquet:"iteration" json:"iteration"`
	Trajectories       int     `parquet:"trajectories" json:"trajectories"`
	Steps              int     `parquet:"steps" json:"steps"`
	RepeatRate         float64 `parquet:"repeat_rate" json:"repeat_rate"`
	RepeatLo           float64 `parquet:"repeat_rate_lo" json:"repeat_rate_lo"`
	RepeatHi           float64 `parquet:"repeat_rate_hi" json:"repeat_rate_hi"`
	LoopRate           float64 `parquet:"loop_rate" json:"loop_rate"`
	LoopLo             float64 `parquet:"loop_rate_lo" json:"loop_rate_lo"`
	LoopHi             float64 `parquet:"loop_rate_hi" json:"loop_rate_hi"`
	SuccessTrajs       int     `parquet:"success_trajs" json:"success_trajs"`
	SuccessSteps       int     `parquet:"success_steps" json:"success_steps" text:"-"`
	SuccessRepeated    int     `parquet:"success_repeated" json:"success_repeated" text:"-"`
	SuccessLoops       int     `parquet:"success_loops" json:"success_loops" text:"-"`
	SuccessRepeat      float64 `parquet:"success_repeat_rate" json:"success_repeat_rate"`
	SuccessRepeatLo    float64 `parquet:"success_repeat_rate_lo" json:"success_repeat_rate_lo"`
	SuccessRepeatHi    float64 `parquet:"success_repeat_rate_hi" json:"success_repeat_rate_hi"`
	SuccessLoop        float64 `parquet:"success_loop_rate" json:"success_loop_rate" text:"-"`
	SuccessLoopLo      float64 `parquet:"success_loop_rate_lo" json:"success_loop_rate_lo" text:"-"`
	SuccessLoopHi      float64 `parquet:"success_loop_rate_hi" json:"success_loop_rate_hi" text:"-"`
	SuccessRepeating   float64 `parquet:"success_repeating_traj_frac" json:"success_repeating_traj_frac" text:"-"`
	SuccessRepeatingLo float64 `parquet:"success_repeating_traj_frac_lo" json:"success_repeating_traj_frac_lo" text:"-"`
	SuccessRepeatingHi float64 `parquet:"success_repeating_traj_frac_hi" json:"success_repeating_traj_frac_hi" text:"-"`
	FailureTrajs       int     `parquet:"failure_trajs" json:"failure_trajs"`
	FailureSteps       int     `parquet:"failure_steps" json:"failure_steps" text:"-"`
	FailureRepeated    int     `parquet:"failure_repeated" json:"failure_repeated" text:"-"`
	FailureLoops       int     `parquet:"failure_loops" json:"failure_loops" text:"-"`
	FailureRepeat      float64 `parquet:"failure_repeat_rate" json:"failure_repeat_rate"`
	FailureRepeatLo    float64 `parquet:"failure_repeat_rate_lo" json:"failure_repeat_rate_lo"`
	FailureRepeatHi    float64 `parquet:"failure_repeat_rate_hi" json:"failure_repeat_rate_hi"`
	FailureLoop        float64 `parquet:"failure_loop_rate" json:"failure_loop_rate" text:"-"`
	FailureLoopLo      float64 `parquet:"failure_loop_rate_lo" json:"failure_loop_rate_lo" text:"-"`
	FailureLoopHi      float64 `parquet:"failure_loop_rate_hi" json:"failure_loop_rate_hi" text:"-"`
	FailureRepeating   float64 `parquet:"failure_repeating_traj_frac" json:"failure_repeating_traj_frac" text:"-"`
	FailureRepeatingLo float64 `parquet:"failure_repeating_traj_frac_lo" json:"failure_repeating_traj_frac_lo" text:"-"`
	FailureRepeatingHi float64 `parquet:"failure_repeating_traj_frac_hi" json:"failure_repeating_traj_frac_hi" text:"-"`
	Seed               uint64  `parquet:"seed" json:"seed" text:"-"`
}

// Repetition computes repetition rates per run, split and iteration from step
// records (metrics.RepetitionCounter): a step repeats when its action equals an
// earlier action of the same trajectory, and is a loop when its state key is
// also the same.
func Repetition(ctx context.Context, patterns []string, filter LogFilter) ([]RepetitionRow, Sources, error) {
	p := newRepetitionPass(filter)
	src, err := scanUnique(ctx, patterns, trajlog.ReadOptions{SkipPrompt: true}, filter.Adapter, p.add)
	if err != nil {
		return nil, src, err
	}
	return p.rows(), src, nil
}

// repetitionPass accumulates repetition per run and split during a scan.
type repetitionPass struct {
	filter   LogFilter
	counters *bySplit[metrics.RepetitionCounter]
}

func newRepetitionPass(filter LogFilter) *repetitionPass {
	return &repetitionPass{filter: filter, counters: newBySplit(func() *metrics.RepetitionCounter { return new(metrics.RepetitionCounter) })}
}

func (p *repetitionPass) add(r *trajlog.Record) error {
	if !p.filter.keep(r) {
		return nil
	}
	p.counters.get(r).Add(metrics.RepStep{
		Iteration: int(r.Iteration), Traj: r.TrajID, Turn: int(r.Turn),
		Action: r.Action, State: r.StateKey, Success: r.Success,
	})
	return nil
}

func (p *repetitionPass) rows() []RepetitionRow {
	var rows []RepetitionRow
	for _, k := range sortedRunSplits(p.counters.m) {
		c := p.counters.m[k]
		cis := c.Intervals(metrics.BootstrapConfig{}, func(it int) *rand.Rand {
			return rand.New(rand.NewPCG(p.filter.Seed, hashKey(k.run+"\x00"+k.split, int32(it))))
		})
		for i, res := range c.Result() {
			ci := cis[i] // same iterations, same order
			rows = append(rows, RepetitionRow{
				Run: k.run, Split: k.split, Iteration: int32(res.Iteration),
				Trajectories: res.All.Trajectories, Steps: res.All.Steps,
				RepeatRate: res.All.RepeatRate, LoopRate: res.All.LoopRate,
				SuccessTrajs: res.Success.Trajectories, SuccessSteps: res.Success.Steps,
				SuccessRepeated: res.Success.Repeated, SuccessLoops: res.Success.Loops, SuccessRepeat: res.Success.RepeatRate,
				SuccessLoop: res.Success.LoopRate, SuccessRepeating: frac(res.Success.RepeatingTrajectories, res.Success.Trajectories),
				FailureTrajs: res.Failure.Trajectories, FailureSteps: res.Failure.Steps,
				FailureRepeated: res.Failure.Repeated, FailureLoops: res.Failure.Loops, FailureRepeat: res.Failure.RepeatRate,
				FailureLoop: res.Failure.LoopRate, FailureRepeating: frac(res.Failure.RepeatingTrajectories, res.Failure.Trajectories),
				RepeatLo: ci.All.Repeat.Lo, RepeatHi: ci.All.Repeat.Hi, LoopLo: ci.All.Loop.Lo, LoopHi: ci.All.Loop.Hi,
				SuccessRepeatLo: ci.Success.Repeat.Lo, SuccessRepeatHi: ci.Success.Repeat.Hi,
				SuccessLoopLo: ci.Success.Loop.Lo, SuccessLoopHi: ci.Success.Loop.Hi,
				SuccessRepeatingLo: ci.Success.Repeating.Lo, SuccessRepeatingHi: ci.Success.Repeating.Hi,
				FailureRepeatLo: ci.Failure.Repeat.Lo, FailureRepeatHi: ci.Failure.Repeat.Hi,
				FailureLoopLo: ci.Failure.Loop.Lo, FailureLoopHi: ci.Failure.Loop.Hi,
				FailureRepeatingLo: ci.Failure.Repeating.Lo, FailureRepeatingHi: ci.Failure.Repeating.Hi,
				Seed: p.filter.Seed,
			})
		}
	}
	return rows
}

// ConsistencyRow is the action consistency from logs of one (run, split,
// iteration): the share of recurring states whose K-sample modal count reaches
// the threshold, split by the judge label of the modal action (paper Figs. 1, 5).
//
// Each mean over the eligible states has a 95% interval (columns *_lo,
// *_hi): a Wilson score interval with the states as units, valid for a mean
// of per-state probabilities by the Bhatia-Davis bound (metrics.BoundedMean;
// deterministic, so no seed). Few eligible states give wide intervals, as
// they should.
type ConsistencyRow struct {
	Run               string  `parquet:"run" json:"run"`
	Split             string  `parquet:"split" json:"split"`
	Iteration         int32   `parquet:"iteration" json:"iteration"`
	States            int     `parquet:"states" json:"states"`
	Eligible          int     `parquet:"eligible_states" json:"eligible_states"`
	MeanConsistency   float64 `parquet:"mean_consistency" json:"mean_consistency"`
	MeanConsistencyLo float64 `parquet:"mean_consistency_lo" json:"mean_consistency_lo"`
	MeanConsistencyHi float64 `parquet:"mean_consistency_hi" json:"mean_consistency_hi"`
	High              float64 `parquet:"high" json:"high"`
	HighLo            float64 `parquet:"high_lo" json:"high_lo"`
	HighHi            float64 `parquet:"high_hi" json:"high_hi"`
	HighGood          float64 `parquet:"high_good" json:"high_good"`
	HighGoodLo        float64 `parquet:"high_good_lo" json:"high_good_lo"`
	HighGoodHi        float64 `parquet:"high_good_hi" json:"high_good_hi"`
	HighBad           float64 `parquet:"high_bad" json:"high_bad"`
	HighBadLo         float64 `parquet:"high_bad_lo" json:"high_bad_lo"`
	HighBadHi         float64 `parquet:"high_bad_hi" json:"high_bad_hi"`
	HighUnknown       float64 `parquet:"high_unknown" json:"high_unknown"`
	HighUnknownLo     float64 `parquet:"high_unknown_lo" json:"high_unknown_lo"`
	HighUnknownHi     float64 `parquet:"high_unknown_hi" json:"high_unknown_hi"`
	K                 int     `parquet:"k" json:"k"`
	Threshold         int     `parquet:"threshold" json:"threshold"`
}

// StateConsistencyRow is the consistency of one recurring state.
type StateConsistencyRow struct {
	Run         string  `parquet:"run" json:"run"`
	Split       string  `parquet:"split" json:"split"`
	Iteration   int32   `parquet:"iteration" json:"iteration"`
	State       string  `parquet:"state_key" json:"state_key"`
	Occurrences int     `parquet:"occurrences" json:"occurrences"`
	Actions     int     `parquet:"actions" json:"actions"`
	ModalAction string  `parquet:"modal_action" json:"modal_action"`
	ModalCount  int     `parquet:"modal_count" json:"modal_count"`
	ModalLabel  int8    `parquet:"modal_label" json:"modal_label"`
	Consistency float64 `parquet:"consistency" json:"consistency"`
	High        float64 `parquet:"p_high" json:"p_high"`
}

// Consistency computes action consistency where state keys recur in the logs
// (metrics.ConsistencyCounter), per run, split and iteration, and per state.
func Consistency(ctx context.Context, patterns []string, filter LogFilter, cfg metrics.ConsistencyConfig) ([]ConsistencyRow, []StateConsistencyRow, Sources, error) {
	p := newConsistencyPass(filter, cfg)
	src, err := scanUnique(ctx, patterns, trajlog.ReadOptions{SkipPrompt: true}, filter.Adapter, p.add)
	if err != nil {
		return nil, nil, src, err
	}
	rows, states := p.rows()
	return rows, states, src, nil
}

// LogDiagnostics computes repetition and consistency in one scan of the logs,
// with the results of Repetition and Consistency.
func LogDiagnostics(ctx context.Context, patterns []string, filter LogFilter, cfg metrics.ConsistencyConfig) ([]RepetitionRow, []ConsistencyRow, []StateConsistencyRow, Sources, error) {
	rp, cp := newRepetitionPass(filter), newConsistencyPass(filter, cfg)
	src, err := scanUnique(ctx, patterns, trajlog.ReadOptions{SkipPrompt: true}, filter.Adapter, func(r *trajlog.Record) error {
		rp.add(r)
		return cp.add(r)
	})
	if err != nil {
		return nil, nil, nil, src, err
	}
	rows, states := cp.rows()
	return rp.rows(), rows, states, src, nil
}

// consistencyPass accumulates consistency per run and split during a scan.
type consistencyPass struct {
	filter   LogFilter
	cfg      metrics.ConsistencyConfig
	counters *bySplit[metrics.ConsistencyCounter]
}

func newConsistencyPass(filter LogFilter, cfg metrics.ConsistencyConfig) *consistencyPass {
	return &consistencyPass{filter: filter, cfg: cfg,
		counters: newBySplit(func() *metrics.ConsistencyCounter { return metrics.NewConsistencyCounter(cfg) })}
}

func (p *consistencyPass) add(r *trajlog.Record) error {
	if !p.filter.keep(r) {
		return nil
	}
	p.counters.get(r).Add(metrics.ConsistencySample{Iteration: int(r.Iteration), State: r.StateKey, Action: r.Action, Label: r.Label})
	return nil
}

func (p *consistencyPass) rows() ([]ConsistencyRow, []StateConsistencyRow) {
	kk, th := p.cfg.K, p.cfg.Threshold
	if kk == 0 {
		kk = metrics.DefaultConsistencyK
	}
	if th == 0 {
		th = metrics.DefaultConsistencyThreshold
	}
	var rows []ConsistencyRow
	var states []StateConsistencyRow
	for _, k := range sortedRunSplits(p.counters.m) {
		res, sts := p.counters.m[k].Report()
		for _, res := range res {
			rows = append(rows, consistencyRowOf(k.run, k.split, res, kk, th))
		}
		for _, s := range sts {
			states = append(states, StateConsistencyRow{
				Run: k.run, Split: k.split, Iteration: int32(s.Iteration), State: s.State,
				Occurrences: s.Occurrences, Actions: s.Actions, ModalAction: s.ModalAction,
				ModalCount: s.ModalCount, ModalLabel: s.ModalLabel, Consistency: s.Consistency, High: s.High,
			})
		}
	}
	return rows, states
}

// consistencyRowOf is the table row of one metrics.ConsistencyRow.
func consistencyRowOf(run, split string, res metrics.ConsistencyRow, k, threshold int) ConsistencyRow {
	return ConsistencyRow{
		Run: run, Split: split, Iteration: int32(res.Iteration),
		States: res.States, Eligible: res.Eligible, MeanConsistency: res.MeanConsistency,
		High: res.High, HighGood: res.HighGood, HighBad: res.HighBad, HighUnknown: res.HighUnknown,
		MeanConsistencyLo: res.MeanConsistencyCI.Lo, MeanConsistencyHi: res.MeanConsistencyCI.Hi,
		HighLo: res.HighCI.Lo, HighHi: res.HighCI.Hi, HighGoodLo: res.HighGoodCI.Lo, HighGoodHi: res.HighGoodCI.Hi,
		HighBadLo: res.HighBadCI.Lo, HighBadHi: res.HighBadCI.Hi, HighUnknownLo: res.HighUnknownCI.Lo, HighUnknownHi: res.HighUnknownCI.Hi,
		K: k, Threshold: threshold,
	}
}

// AdvantageOptions set the empirical expected-advantage check.
type AdvantageOptions struct {
	Filter LogFilter
	// PoolIterations estimates over all iterations of a run together instead
	// of per iteration (more visits, but a mixture of policies).
	PoolIterations bool
	Mass           metrics.MassConfig
	Seed           uint64
}

// AdvantageRow is the empirical Lemma 3.1 check for one (state, action) of a
// run (and iteration, unless pooled): q, r, the logged advantage mass and the
// prediction q r (q-1), with percentile bootstrap intervals.
type AdvantageRow struct {
	Run          string `parquet:"run" json:"run"`
	Iteration    int32  `parquet:"iteration" json:"iteration"` // -1 when iterations are pooled
	State        string `parquet:"state_key" json:"state_key"`
	Action       string `parquet:"action" json:"action"`
	Visits       int    `parquet:"visits" json:"visits"`
	ActionVisits int    `parquet:"action_visits" json:"action_visits" text:"-"`
	Trajectories int    `parquet:"trajectories" json:"trajectories" text:"-"`
	// Resampling is the bootstrap unit: "group" (rollout groups, when at
	// least MassConfig.MinClusters groups visited the state) or "trajectory".
	Resampling string  `parquet:"resampling" json:"resampling" text:"-"`
	Q          float64 `parquet:"q" json:"q"`
	QLo        float64 `parquet:"q_lo" json:"q_lo"`
	QHi        float64 `parquet:"q_hi" json:"q_hi"`
	R          float64 `parquet:"r" json:"r"`
	RLo        float64 `parquet:"r_lo" json:"r_lo"`
	RHi        float64 `parquet:"r_hi" json:"r_hi"`
	Mass       float64 `parquet:"mass" json:"mass"`
	MassLo     float64 `parquet:"mass_lo" json:"mass_lo"`
	MassHi     float64 `parquet:"mass_hi" json:"mass_hi"`
	Prediction float64 `parquet:"prediction" json:"prediction"`
	PredLo     float64 `parquet:"prediction_lo" json:"prediction_lo" text:"-"`
	PredHi     float64 `parquet:"prediction_hi" json:"prediction_hi" text:"-"`
	Seed       uint64  `parquet:"seed" json:"seed" text:"-"`
}

// AdvantageSummary condenses the rows: among (state, action) pairs whose
// interval for r lies above zero (the action lowers success: "flawed"), how
// many have a negative advantage mass, as Lemma 3.1 predicts.
type AdvantageSummary struct {
	Pairs          int // (state, action) rows
	Flawed         int // rows with r_lo > 0
	FlawedNegative int // of those, rows with mass < 0
	FlawedMassCI   int // of those, rows whose mass interval lies below zero
}

// Advantage runs the empirical expected-advantage check of DESIGN.md §4 on the
// training rows of the logs (evaluation rows carry no advantage).
func Advantage(ctx context.Context, patterns []string, opts AdvantageOptions) ([]AdvantageRow, AdvantageSummary, Sources, error) {
	type key struct {
		run  string
		iter int32
	}
	accs := map[key]*metrics.MassAccumulator{}
	split := opts.Filter.Split
	if split == "" {
		split = trajlog.SplitTrain
	}
	src, err := scanUnique(ctx, patterns, trajlog.ReadOptions{SkipPrompt: true}, opts.Filter.Adapter, func(r *trajlog.Record) error {
		if r.Split != split {
			return nil
		}
		k := key{r.Run, r.Iteration}
		if opts.PoolIterations {
			k.iter = -1
		}
		a := accs[k]
		if a == nil {
			a = new(metrics.MassAccumulator)
			k.run = strings.Clone(k.run)
			accs[k] = a
		}
		// Trajectory and group ids are unique within an iteration.
		prefix := ""
		if opts.PoolIterations {
			prefix = strconv.Itoa(int(r.Iteration)) + "/"
		}
		a.Add(metrics.MassSample{
			State: r.StateKey, Traj: prefix + r.TrajID, Group: prefix + r.GroupID,
			Action: r.Action, Success: r.Success, Advantage: float64(r.Advantage),
		})
		return nil
	})
	if err != nil {
		return nil, AdvantageSummary{}, src, err
	}
	keys := make([]key, 0, len(accs))
	for k := range accs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].run != keys[j].run {
			return keys[i].run < keys[j].run
		}
		return keys[i].iter < keys[j].iter
	})
	var rows []AdvantageRow
	var sum AdvantageSummary
	for _, k := range keys {
		// One stream per (run, iteration), derived from the seed, so a row
		// does not depend on which other runs were read.
		rng := rand.New(rand.NewPCG(opts.Seed, hashKey(k.run, k.iter)))
		for _, e := range accs[k].Estimate(opts.Mass, rng) {
			rows = append(rows, AdvantageRow{
				Run: k.run, Iteration: k.iter, State: e.State, Action: e.Action,
				Visits: e.Visits, ActionVisits: e.ActionVisits, Trajectories: e.Trajectories, Resampling: resampling(e),
				Q: e.Q.Point, QLo: e.Q.Lo, QHi: e.Q.Hi,
				R: e.R.Point, RLo: e.R.Lo, RHi: e.R.Hi,
				Mass: e.Mass.Point, MassLo: e.Mass.Lo, MassHi: e.Mass.Hi,
				Prediction: e.Prediction.Point, PredLo: e.Prediction.Lo, PredHi: e.Prediction.Hi,
				Seed: opts.Seed,
			})
			sum.Pairs++
			if e.R.Lo > 0 {
				sum.Flawed++
				if e.Mass.Point < 0 {
					sum.FlawedNegative++
				}
				if e.Mass.Hi < 0 {
					sum.FlawedMassCI++
				}
			}
		}
	}
	return rows, sum, src, nil
}

func sortedRunSplits[V any](m map[runSplit]V) []runSplit {
	keys := make([]runSplit, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return lessRunSplit(keys[i], keys[j]) })
	return keys
}

func frac(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// hashKey hashes a run name and an iteration (FNV-1a), for per-stream seeds.
func hashKey(run string, iter int32) uint64 {
	h := fnv.New64a()
	h.Write([]byte(run))
	h.Write([]byte(strconv.Itoa(int(iter))))
	return h.Sum64()
}

func resampling(e metrics.MassEstimate) string {
	if e.ByGroup {
		return "group"
	}
	return "trajectory"
}

// DuplicateError is a step record read twice: the same (run, iteration,
// traj_id, turn) as an earlier one. Diagnostics that count steps
// (repetition, consistency, advantage) refuse it rather than count it twice.
type DuplicateError struct {
	File      string // the file of the second occurrence
	Run       string
	Iteration int32
	Traj      string
	Turn      int32
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("%s: duplicate step record (run %q, iteration %d, traj_id %q, turn %d) already read; it would be counted twice (gradcouple inspect lists the duplicates)",
		e.File, e.Run, e.Iteration, e.Traj, e.Turn)
}

// BadInput marks a duplicate as bad input (exit status 2).
func (e *DuplicateError) BadInput() bool { return true }

// stepKeys remembers the (run, iteration, traj_id, turn) of every step
// record read, as a 64-bit FNV-1a hash (8 bytes a step, so a log of 10^7
// steps takes about 300 MB at most; two distinct keys collide with
// probability about n^2 / 2^65).
type stepKeys struct{ seen map[uint64]struct{} }

func newStepKeys() *stepKeys { return &stepKeys{seen: map[uint64]struct{}{}} }

// check returns a *DuplicateError if r's key was seen before.
func (s *stepKeys) check(file string, r *trajlog.Record) error {
	h := fnv.New64a()
	var b [8]byte
	h.Write([]byte(r.Run))
	binary.LittleEndian.PutUint32(b[:4], uint32(r.Iteration))
	binary.LittleEndian.PutUint32(b[4:], uint32(r.Turn))
	h.Write([]byte{0})
	h.Write(b[:])
	h.Write([]byte(r.TrajID))
	k := h.Sum64()
	if _, dup := s.seen[k]; dup {
		return &DuplicateError{File: file, Run: r.Run, Iteration: r.Iteration, Traj: r.TrajID, Turn: r.Turn}
	}
	s.seen[k] = struct{}{}
	return nil
}

// scanUnique is scan refusing duplicate step records (DuplicateError).
func scanUnique(ctx context.Context, patterns []string, opts trajlog.ReadOptions, aopts adapter.Options, fn func(*trajlog.Record) error) (Sources, error) {
	keys := newStepKeys()
	return scanFiles(ctx, patterns, opts, aopts, func(file string, r *trajlog.Record) error {
		if err := keys.check(file, r); err != nil {
			return err
		}
		return fn(r)
	})
}
