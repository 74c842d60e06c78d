package analysis

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/gradcouple/gradcouple/metrics"
	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/gradcouple/gradcouple/trajlog/adapter"
)

// InspectRow summarises the step records of one (run, iteration, split).
type InspectRow struct {
	Run          string  `parquet:"run" json:"run"`
	Iteration    int32   `parquet:"iteration" json:"iteration"`
	Split        string  `parquet:"split" json:"split"`
	Groups       int     `parquet:"groups" json:"groups"`
	Trajectories int     `parquet:"trajectories" json:"trajectories"`
	Steps        int64   `parquet:"steps" json:"steps"`
	SuccessRate  float64 `parquet:"success_rate" json:"success_rate"` // share of trajectories with success
	// SuccessLo and SuccessHi are the 95% interval of SuccessRate: a
	// percentile bootstrap resampling whole groups (the trajectories of a
	// GRPO group share a task, so they are not independent), seeded with
	// InspectOptions.Seed and the slice (Seed column).
	SuccessLo    float64 `parquet:"success_rate_lo" json:"success_rate_lo"`
	SuccessHi    float64 `parquet:"success_rate_hi" json:"success_rate_hi"`
	MeanGroup    float64 `parquet:"mean_group_size" json:"mean_group"`  // trajectories per group
	ZeroStdFrac  float64 `parquet:"zero_std_frac" json:"zero_std_frac"` // share of groups of two or more whose outcomes are all equal (NaN: none); singletons are left out, as verl gives them a non-zero advantage
	InvalidRate  float64 `parquet:"invalid_rate" json:"invalid_rate"`   // share of steps with valid = false
	Labelled     float64 `parquet:"labelled_frac" json:"labelled_frac"` // share of steps with a judge label
	BadLabel     float64 `parquet:"bad_label_frac" json:"bad_label_frac"`
	AdvantageFit string  `parquet:"advantage_fit" json:"advantage_fit"` // which GRPO convention reproduces the logged advantages
	AdvMismatch  int     `parquet:"adv_mismatch_trajs" json:"adv_mismatch_trajs"`
	Seed         uint64  `parquet:"seed" json:"seed" text:"-"`
	// RecurringStates counts the states (state_key) that occur at least
	// InspectOptions.RecurK times, MaxStateVisits the occurrences of the
	// most frequent state: log-based consistency and the advantage check
	// need recurring states.
	RecurringStates int   `parquet:"recurring_states" json:"recurring_states"`
	MaxStateVisits  int64 `parquet:"max_state_visits" json:"max_state_visits"`
}

// Problem is a semantic inconsistency found in otherwise well-formed logs.
type Problem struct {
	Run       string `parquet:"run" json:"run"`
	Iteration int32  `parquet:"iteration" json:"iteration"`
	Split     string `parquet:"split" json:"split"`
	Where     string `parquet:"where" json:"where"` // traj_id or group_id ("" for a whole iteration)
	Kind      string `parquet:"kind" json:"kind"`
	Detail    string `parquet:"detail" json:"detail"`
}

// Kinds of Problem.
const (
	ProblemDuplicateStep   = "duplicate-step"
	ProblemOutcomeVaries   = "outcome-varies"
	ProblemSuccessVaries   = "success-varies"
	ProblemAdvantageVaries = "advantage-varies"
	ProblemGroupOfOne      = "group-of-one"
	ProblemAdvMismatch     = "advantage-mismatch"
	// ProblemZeroSignal: the share of training groups whose outcomes are
	// all equal (zero_std_frac) is above InspectOptions.MaxZeroStd; their
	// advantages are 0, so most of the batch carries no learning signal.
	ProblemZeroSignal = "zero-signal"
	// ProblemEmpty: the logs hold no step records.
	ProblemEmpty = "empty"
)

// Warning says that the logs, though sound, cannot feed some analyses.
type Warning struct {
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// Kinds of Warning.
const (
	// WarnNoRecurringState: no state occurs RecurK times in any iteration,
	// so consistency from logs and the advantage check have nothing to
	// measure (the state key probably hashes the history or a step counter).
	WarnNoRecurringState = "no-recurring-state"
	// WarnNoLabel: no step has a judge label.
	WarnNoLabel = "no-label"
)

// InspectOptions tune Inspect. The zero value gives the defaults written on
// each field.
type InspectOptions struct {
	// Adapter reads other trainers' logs (LogFilter.Adapter).
	Adapter adapter.Options
	// RecurK is the number of occurrences in one iteration from which a
	// state recurs. Default metrics.DefaultConsistencyK (10), the K of
	// log-based consistency.
	RecurK int
	// MaxZeroStd is the largest zero_std_frac of a training iteration that
	// is not a problem. Default DefaultMaxZeroStd; 1 turns the check off.
	MaxZeroStd float64
	// Seed seeds the bootstrap of the success-rate interval (one stream per
	// run and iteration, so a row does not depend on the other inputs).
	// Zero means 1.
	Seed uint64
}

// DefaultMaxZeroStd is the default InspectOptions.MaxZeroStd: a training
// iteration where more than half of the groups have equal outcomes learns
// from less than half of its batch.
const DefaultMaxZeroStd = 0.5

func (o InspectOptions) withDefaults() InspectOptions {
	if o.RecurK <= 0 {
		o.RecurK = metrics.DefaultConsistencyK
	}
	if o.MaxZeroStd <= 0 {
		o.MaxZeroStd = DefaultMaxZeroStd
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// InspectReport is the result of Inspect.
type InspectReport struct {
	Sources  Sources
	Rows     []InspectRow
	Problems []Problem
	Warnings []Warning
	Options  InspectOptions // with defaults filled in
}

// Advantage conventions reported in InspectRow.AdvantageFit.
const (
	FitStd    = "std"         // (R - mean)/(std + 1e-6), DESIGN.md §4 and verl
	FitStdTRL = "std-eps1e-4" // (R - mean)/(std + 1e-4), TRL's GRPOTrainer
	FitNoStd  = "no-std"      // R - mean (Dr. GRPO)
	FitZero   = "zero"        // every advantage is 0 (evaluation rows)
	FitNone   = "none"        // neither convention reproduces the logged values
)

type sliceKey struct {
	run   string
	iter  int32
	split string
}

type trajKey struct {
	sliceKey
	traj string
}

type trajAgg struct {
	group         string
	outcome       float64
	success       bool
	adv           float64
	steps         int64
	invalid       int64
	labelled      int64
	bad           int64
	outcomeVaries bool
	successVaries bool
	advVaries     bool
}

// Inspect reads every pattern and summarises the logs per run, iteration and
// split: groups, trajectories, success, zero-std groups, invalid actions, label
// coverage, and whether the logged advantages are the GRPO advantages of the
// logged outcomes (std-normalised with verl's or TRL's epsilon, or Dr. GRPO, compared with a tolerance of
// 1e-4 relative plus 1e-5 absolute, the precision of float32 storage).
//
// It also counts recurring states per iteration and reports as problems the
// training iterations whose zero_std_frac exceeds opts.MaxZeroStd and logs
// without records; it warns when no state recurs opts.RecurK times in any
// iteration and when no step is labelled.
func Inspect(ctx context.Context, patterns []string) (*InspectReport, error) {
	return InspectWith(ctx, patterns, InspectOptions{})
}

// InspectWith is Inspect with options.
func InspectWith(ctx context.Context, patterns []string, opts InspectOptions) (*InspectReport, error) {
	opts = opts.withDefaults()
	trajs := map[trajKey]*trajAgg{}
	seen := newStepKeys()
	var dups []Problem
	visits := map[sliceKey]map[uint64]int64{} // state-key hash -> occurrences
	var lastSlice sliceKey
	var lastVisits map[uint64]int64
	src, err := scanFiles(ctx, patterns, trajlog.ReadOptions{SkipPrompt: true}, opts.Adapter, func(file string, r *trajlog.Record) error {
		if err := seen.check(file, r); err != nil {
			// Reported, and left out of the counts.
			dups = append(dups, Problem{strings.Clone(r.Run), r.Iteration, strings.Clone(r.Split), strings.Clone(r.TrajID), ProblemDuplicateStep,
				fmt.Sprintf("turn %d is in the logs twice (again in %s); repetition, consistency and advantage refuse the logs", r.Turn, file)})
			return nil
		}
		if lastVisits == nil || r.Iteration != lastSlice.iter || r.Run != lastSlice.run || r.Split != lastSlice.split {
			sk := sliceKey{strings.Clone(r.Run), r.Iteration, strings.Clone(r.Split)}
			if visits[sk] == nil {
				visits[sk] = map[uint64]int64{}
			}
			lastSlice, lastVisits = sk, visits[sk]
		}
		h := fnv.New64a()
		h.Write([]byte(r.StateKey))
		lastVisits[h.Sum64()]++
		k := trajKey{sliceKey{r.Run, r.Iteration, r.Split}, r.TrajID}
		t := trajs[k]
		if t == nil {
			// Keys outlive the reader's buffer: copy them.
			k = trajKey{sliceKey{strings.Clone(r.Run), r.Iteration, strings.Clone(r.Split)}, strings.Clone(r.TrajID)}
			t = &trajAgg{group: strings.Clone(r.GroupID), outcome: float64(r.Outcome), success: r.Success, adv: float64(r.Advantage)}
			trajs[k] = t
		}
		t.steps++
		if !r.Valid {
			t.invalid++
		}
		if r.Label != trajlog.LabelUnknown {
			t.labelled++
			if r.Label == trajlog.LabelBad {
				t.bad++
			}
		}
		t.outcomeVaries = t.outcomeVaries || float64(r.Outcome) != t.outcome
		t.successVaries = t.successVaries || r.Success != t.success
		t.advVaries = t.advVaries || float64(r.Advantage) != t.adv
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep := &InspectReport{Sources: src, Problems: dups, Options: opts}

	// Trajectories by slice and group, in a deterministic order.
	keys := make([]trajKey, 0, len(trajs))
	for k := range trajs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return lessTraj(keys[i], keys[j]) })
	type groupKey struct {
		sliceKey
		group string
	}
	groups := map[groupKey][]trajKey{}
	var groupOrder []groupKey
	for _, k := range keys {
		t := trajs[k]
		g := groupKey{k.sliceKey, t.group}
		if _, ok := groups[g]; !ok {
			groupOrder = append(groupOrder, g)
		}
		groups[g] = append(groups[g], k)
		for _, p := range []struct {
			bad  bool
			kind string
		}{
			{t.outcomeVaries, ProblemOutcomeVaries},
			{t.successVaries, ProblemSuccessVaries},
			{t.advVaries, ProblemAdvantageVaries},
		} {
			if p.bad {
				rep.Problems = append(rep.Problems, Problem{k.run, k.iter, k.split, k.traj, p.kind,
					"steps of one trajectory disagree on " + p.kind[:len(p.kind)-len("-varies")]})
			}
		}
	}

	rows := map[sliceKey]*InspectRow{}
	fit := map[sliceKey]map[string]bool{} // conventions that fit every group of the slice
	multi := map[sliceKey]int{}           // groups of two or more trajectories
	succ := map[sliceKey][2][]float64{}   // per group: successes, trajectories
	var rewards, adv, want []float64
	for _, g := range groupOrder {
		members := groups[g]
		row := rows[g.sliceKey]
		if row == nil {
			row = &InspectRow{Run: g.run, Iteration: g.iter, Split: g.split}
			rows[g.sliceKey] = row
			fit[g.sliceKey] = map[string]bool{FitStd: true, FitStdTRL: true, FitNoStd: true, FitZero: true}
		}
		row.Groups++
		rewards, adv = rewards[:0], adv[:0]
		for _, k := range members {
			t := trajs[k]
			row.Trajectories++
			row.Steps += t.steps
			if t.success {
				row.SuccessRate++
			}
			row.InvalidRate += float64(t.invalid)
			row.Labelled += float64(t.labelled)
			row.BadLabel += float64(t.bad)
			rewards = append(rewards, t.outcome)
			adv = append(adv, t.adv)
		}
		sg := succ[g.sliceKey]
		ns := 0.0
		for _, k := range members {
			if trajs[k].success {
				ns++
			}
		}
		sg[0], sg[1] = append(sg[0], ns), append(sg[1], float64(len(members)))
		succ[g.sliceKey] = sg
		if len(rewards) >= 2 {
			multi[g.sliceKey]++
			if metrics.AllEqual(rewards) {
				row.ZeroStdFrac++
			}
		}
		if len(members) == 1 && g.split == trajlog.SplitTrain {
			rep.Problems = append(rep.Problems, Problem{g.run, g.iter, g.split, g.group, ProblemGroupOfOne,
				"a training group with a single trajectory has no group baseline (verl uses mean 0, std 1)"})
		}
		ok := fit[g.sliceKey]
		want = resize(want, len(rewards))
		matchStd := approxEqual(adv, metrics.GroupAdvantages(want, rewards, metrics.AdvantageConfig{}))
		matchTRL := approxEqual(adv, metrics.GroupAdvantages(want, rewards, metrics.AdvantageConfig{Eps: 1e-4}))
		matchNoStd := approxEqual(adv, metrics.GroupAdvantages(want, rewards, metrics.AdvantageConfig{NoStd: true}))
		matchZero := allZero(adv)
		ok[FitStd] = ok[FitStd] && matchStd
		ok[FitStdTRL] = ok[FitStdTRL] && matchTRL
		ok[FitNoStd] = ok[FitNoStd] && matchNoStd
		ok[FitZero] = ok[FitZero] && matchZero
		if !matchStd && !matchTRL && !matchNoStd && !matchZero {
			row.AdvMismatch += len(members)
			rep.Problems = append(rep.Problems, Problem{g.run, g.iter, g.split, g.group, ProblemAdvMismatch,
				fmt.Sprintf("logged advantages %s are not the GRPO advantages of outcomes %s", fmtFloats(adv), fmtFloats(rewards))})
		}
	}
	for k, row := range rows {
		row.SuccessRate /= float64(row.Trajectories)
		rng := rand.New(rand.NewPCG(opts.Seed, hashKey(k.run+"\x00"+k.split, k.iter)))
		ci := metrics.ClusterRatio(succ[k][0], succ[k][1], metrics.BootstrapConfig{}, rng)
		row.SuccessLo, row.SuccessHi, row.Seed = ci.Lo, ci.Hi, opts.Seed
		row.MeanGroup = float64(row.Trajectories) / float64(row.Groups)
		row.ZeroStdFrac /= float64(multi[k]) // NaN when every group is a singleton
		if row.Labelled > 0 {
			row.BadLabel /= row.Labelled
		} else {
			row.BadLabel = math.NaN()
		}
		row.InvalidRate /= float64(row.Steps)
		row.Labelled /= float64(row.Steps)
		row.AdvantageFit = FitNone
		for _, c := range []string{FitZero, FitStd, FitStdTRL, FitNoStd} {
			if fit[k][c] {
				row.AdvantageFit = c
				break
			}
		}
		for _, n := range visits[k] {
			if n >= int64(opts.RecurK) {
				row.RecurringStates++
			}
			row.MaxStateVisits = max(row.MaxStateVisits, n)
		}
		rep.Rows = append(rep.Rows, *row)
	}
	sort.Slice(rep.Rows, func(i, j int) bool {
		a, b := rep.Rows[i], rep.Rows[j]
		return lessSlice(sliceKey{a.Run, a.Iteration, a.Split}, sliceKey{b.Run, b.Iteration, b.Split})
	})
	rep.checkRows(opts)
	return rep, nil
}

// checkRows adds the problems and warnings that concern whole iterations.
func (rep *InspectReport) checkRows(opts InspectOptions) {
	if len(rep.Rows) == 0 {
		rep.Problems = append(rep.Problems, Problem{Kind: ProblemEmpty, Detail: "the logs hold no step records"})
		return
	}
	var recurring, labelled bool
	var maxVisits int64
	for _, row := range rep.Rows {
		if row.Split == trajlog.SplitTrain && row.ZeroStdFrac > opts.MaxZeroStd {
			rep.Problems = append(rep.Problems, Problem{row.Run, row.Iteration, row.Split, "", ProblemZeroSignal,
				fmt.Sprintf("zero_std_frac %.3g > %.3g: that share of the groups of two or more has equal outcomes, so zero advantage and no learning signal", row.ZeroStdFrac, opts.MaxZeroStd)})
		}
		recurring = recurring || row.RecurringStates > 0
		labelled = labelled || row.Labelled > 0
		maxVisits = max(maxVisits, row.MaxStateVisits)
	}
	if !recurring {
		rep.Warnings = append(rep.Warnings, Warning{WarnNoRecurringState,
			fmt.Sprintf("no state occurs %d times in any iteration (at most %d): consistency from logs and the advantage check have no states to measure", opts.RecurK, maxVisits)})
	}
	if !labelled {
		rep.Warnings = append(rep.Warnings, Warning{WarnNoLabel,
			"no step has a judge label: consistency and advantage cannot split good from bad actions, and coupling probes need labels"})
	}
}

func lessSlice(a, b sliceKey) bool {
	if a.run != b.run {
		return a.run < b.run
	}
	if a.iter != b.iter {
		return a.iter < b.iter
	}
	return a.split < b.split
}

func lessTraj(a, b trajKey) bool {
	if a.sliceKey != b.sliceKey {
		return lessSlice(a.sliceKey, b.sliceKey)
	}
	return a.traj < b.traj
}

func resize(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// approxEqual reports whether logged float32 advantages equal the recomputed ones
// within float32 storage precision.
func approxEqual(logged, want []float64) bool {
	for i := range logged {
		if math.Abs(logged[i]-want[i]) > 1e-5+1e-4*math.Abs(want[i]) {
			return false
		}
	}
	return true
}

func allZero(x []float64) bool {
	for _, v := range x {
		if v != 0 {
			return false
		}
	}
	return true
}

func fmtFloats(x []float64) string {
	s := "["
	for i, v := range x {
		if i > 0 {
			s += " "
		}
		if i == 8 {
			s += "..."
			break
		}
		s += fmt.Sprintf("%.4g", v)
	}
	return s + "]"
}
