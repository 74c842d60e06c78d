package analysis

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/gradcouple/gradcouple/metrics"
)

// Verdicts of a claim test (ClaimVerdict).
const (
	Reproduced    = "reproduced"
	NotReproduced = "not reproduced"
	Inconclusive  = "inconclusive"
)

// ClaimBase and ClaimRemedy are the arms the claims of DESIGN.md §1 speak
// of: GRPO, and GCD with its verdict loss, cold start and correction.
const (
	ClaimBase   = "grpo"
	ClaimRemedy = "gcd"
)

// ClaimRow is one test of a claim of DESIGN.md §1 in one environment: a
// value per training seed (a run's statistic, or the difference of two),
// its mean with a percentile bootstrap interval over the seeds, the share
// of bootstrap means on the claimed side of 0, the minimum detectable
// effect at 80% power, and the verdict (ClaimVerdict). Direction is the
// sign the claim predicts (+1 or -1). Claim 2 is a deterministic
// simulation: its interval is its one exact value, with no MDE.
type ClaimRow struct {
	Claim     string  `parquet:"claim" json:"claim"`
	Env       string  `parquet:"env" json:"env"`
	Test      string  `parquet:"test" json:"test"`
	Direction int     `parquet:"direction" json:"direction"`
	Seeds     int     `parquet:"seeds" json:"seeds"`
	Effect    float64 `parquet:"effect" json:"effect"`
	Lo        float64 `parquet:"ci_lo" json:"ci_lo"`
	Hi        float64 `parquet:"ci_hi" json:"ci_hi"`
	PClaimed  float64 `parquet:"p_claimed_side" json:"p_claimed_side"`
	MDE       float64 `parquet:"mde_80" json:"mde_80"`
	Verdict   string  `parquet:"verdict" json:"verdict"`
	Seed      uint64  `parquet:"seed" json:"seed" text:"-"`
	// Note warns when the test rests on fewer than 10 seeds (as
	// PairedRow's).
	Note string `parquet:"note" json:"note"`
}

// ClaimVerdict turns an interval [lo, hi] of an effect whose claimed sign
// is dir into a verdict:
//
//   - reproduced: the interval lies on the claimed side of 0;
//   - not reproduced: the interval lies on the other side of 0, or it
//     excludes every effect on the claimed side at least as large as the
//     minimum detectable effect mde (an effect this study would have
//     detected is ruled out);
//   - inconclusive otherwise, and whenever the interval is missing.
//
// The second rule is an equivalence bound (Lakens 2017, "Equivalence
// tests"), with the design's MDE as the smallest effect of interest.
func ClaimVerdict(dir int, lo, hi, mde float64) string {
	if math.IsNaN(lo) || math.IsNaN(hi) || dir == 0 {
		return Inconclusive
	}
	if dir < 0 {
		lo, hi = -hi, -lo
	}
	switch {
	case lo > 0:
		return Reproduced
	case hi < 0, !math.IsNaN(mde) && hi < mde:
		return NotReproduced
	}
	return Inconclusive
}

// Claims tests the claims of DESIGN.md §1 on the runs of st, per
// environment, from the study's own tables:
//
//  1. Lemma 3.1, runs of every arm: the share of flawed (state, action)
//     pairs (interval of r above 0) whose logged advantage mass is
//     negative, minus 1/2 (a sign no better than chance), claimed > 0.
//  2. Theorem 3.2, the squeezing simulator (one per study): the change of
//     the total bad mass, claimed < 0, and of the good action's
//     probability, claimed > 0, under the full expected GRPO update and
//     under its negative-advantage part alone.
//  3. Coupling, GRPO runs at their last checkpoint: the harmful rate of
//     good x bad pairs in different states minus 1/2 (a step that raises
//     the bad action as often as it lowers it), claimed > 0; and the
//     harmful rate of similar pairs (prompt Jaccard >= 0.8) minus that of
//     dissimilar ones (< 0.5), claimed > 0.
//  4. GCD reduces harmful coupling: GCD - GRPO harmful rate at the last
//     checkpoint, paired by seed, claimed < 0.
//  5. High-consistency bad actions rise under GRPO: the share of probe
//     states whose modal action is judged bad and drawn at least 5 times
//     in 10, last checkpoint - first, within each GRPO run, claimed > 0;
//     and GCD improves out-of-domain success: GCD - GRPO final
//     eval-out success (greedy when logged), paired by seed, claimed > 0.
//
// Runs are matched to arms by StudyRun.Arm (ClaimBase, ClaimRemedy); a
// test without at least one value is left out. Intervals use cfg (zero:
// 2000 resamples, 95%) and st.Seed.
func Claims(st *Study, cfg metrics.BootstrapConfig) []ClaimRow {
	type runKey struct {
		env, arm string
		seed     uint64
	}
	// Each run's series by metric, read at its first and last iteration.
	series := map[[2]string]map[int]float64{}
	for _, r := range st.Series {
		k := [2]string{r.Run, r.Metric}
		if series[k] == nil {
			series[k] = map[int]float64{}
		}
		series[k][r.Iteration] = r.Value
	}
	at := func(run, metric string, first bool) (int, float64, bool) {
		m := series[[2]string{run, metric}]
		if !first {
			return lastValue(m)
		}
		it, ok := 0, false
		for i := range m {
			if !ok || i < it {
				it, ok = i, true
			}
		}
		return it, m[it], ok
	}
	last := func(run, metric string) (float64, bool) {
		_, v, ok := at(run, metric, false)
		return v, ok && !math.IsNaN(v)
	}
	runOf := map[runKey]string{}
	var envs []string
	for _, r := range st.Runs {
		runOf[runKey{r.Env, r.Arm(), r.Seed}] = r.Name
		if !slices.Contains(envs, r.Env) {
			envs = append(envs, r.Env)
		}
	}
	slices.Sort(envs)
	seedsOf := func(env string) []uint64 {
		var out []uint64
		for _, r := range st.Runs {
			if r.Env == env && !slices.Contains(out, r.Seed) {
				out = append(out, r.Seed)
			}
		}
		slices.Sort(out)
		return out
	}
	adv := map[string]AdvantageSummaryRow{}
	for _, a := range st.AdvantageSummary {
		adv[a.Run] = a
	}
	sim := similarityGap(st)
	// Out-of-domain success as Compare's final performance reads it
	// (greedy when logged, else sampled).
	var eval string
	for _, m := range defaultFinal(st) {
		if m == MetricEvalOutGreedy || m == MetricEvalOutSampled {
			eval = m
		}
	}

	var rows []ClaimRow
	add := func(claim, env, test string, dir int, vals []float64) {
		if len(vals) == 0 {
			return
		}
		pr := PairedRow{}
		pairedDiff(&pr, [][]float64{vals}, cfg, streamRNG(st.Seed, "claim", env, test, 0))
		row := ClaimRow{Claim: claim, Env: env, Test: test, Direction: dir, Seeds: len(vals),
			Effect: pr.Mean, Lo: pr.Lo, Hi: pr.Hi, PClaimed: pr.PBetter, MDE: pr.MDE, Seed: st.Seed, Note: pr.Note}
		if dir < 0 && !math.IsNaN(row.PClaimed) {
			row.PClaimed = 1 - row.PClaimed
		}
		row.Verdict = ClaimVerdict(dir, row.Lo, row.Hi, row.MDE)
		rows = append(rows, row)
	}
	for _, env := range envs {
		var lemma, harm, gap, dHarm, rise, dEval []float64
		for _, seed := range seedsOf(env) {
			base, okB := runOf[runKey{env, ClaimBase, seed}]
			rem, okR := runOf[runKey{env, ClaimRemedy, seed}]
			// Claim 1 pools the arms: the lemma holds for any policy.
			var flawed, neg int
			for _, r := range st.Runs {
				if r.Env == env && r.Seed == seed {
					flawed += adv[r.Name].Flawed
					neg += adv[r.Name].FlawedNegative
				}
			}
			if flawed > 0 {
				lemma = append(lemma, float64(neg)/float64(flawed)-0.5)
			}
			if okB {
				if v, ok := last(base, SeriesHarmfulRate); ok {
					harm = append(harm, v-0.5)
				}
				if g, ok := sim[base]; ok {
					gap = append(gap, g)
				}
				i1, v1, ok1 := at(base, SeriesHighJudgeBad, false)
				i0, v0, ok0 := at(base, SeriesHighJudgeBad, true)
				if ok1 && ok0 && i1 > i0 && !math.IsNaN(v1-v0) {
					rise = append(rise, v1-v0)
				}
			}
			if okB && okR {
				if x, ok := last(rem, SeriesHarmfulRate); ok {
					if y, ok := last(base, SeriesHarmfulRate); ok {
						dHarm = append(dHarm, x-y)
					}
				}
				if x, ok := last(rem, eval); ok && eval != "" {
					if y, ok := last(base, eval); ok {
						dEval = append(dEval, x-y)
					}
				}
			}
		}
		add("1 expected advantage of a flawed action < 0", env, "share of flawed pairs with negative advantage mass - 1/2 (all arms)", +1, lemma)
		add("3 gradient coupling", env, "GRPO harmful rate, good x bad pairs, last checkpoint - 1/2", +1, harm)
		add("3 gradient coupling", env, fmt.Sprintf("GRPO harmful rate, Jaccard >= %g minus < %g, last checkpoint", simHigh, simLow), +1, gap)
		add("4 GCD reduces harmful coupling", env, "GCD - GRPO harmful rate, last checkpoint, paired by seed", -1, dHarm)
		add("5 high-consistency bad actions rise", env, "GRPO consistency_high_judge_bad, last - first checkpoint", +1, rise)
		add("5 GCD improves out-of-domain success", env, "GCD - GRPO final "+eval+", paired by seed", +1, dEval)
	}
	// Claim 2: the expected update of the simulator, exact (no sampling).
	nan := math.NaN()
	for _, s := range st.SqueezeSummary {
		for _, t := range []struct {
			what string
			dir  int
			d    float64
		}{{"total bad mass", -1, s.BadEnd - s.BadStart}, {"good action's probability", +1, s.GoodEnd - s.GoodStart}} {
			rows = append(rows, ClaimRow{Claim: "2 squeezing does not undo it", Env: "simulator",
				Test:      fmt.Sprintf("change of the %s over %d steps, %s (exact)", t.what, s.Steps, s.Variant),
				Direction: t.dir, Effect: t.d, Lo: t.d, Hi: t.d, PClaimed: nan, MDE: nan,
				Verdict: ClaimVerdict(t.dir, t.d, t.d, nan), Seed: st.Seed})
		}
	}
	// In the order of DESIGN.md §1, then by environment; the tests of a
	// claim keep their order.
	slices.SortStableFunc(rows, func(a, b ClaimRow) int {
		if c := cmp.Compare(a.Claim[0], b.Claim[0]); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Claim, b.Claim); c != 0 {
			return c
		}
		return cmp.Compare(a.Env, b.Env)
	})
	return rows
}

// The Jaccard bands of Claims' similarity test.
const simLow, simHigh = 0.5, 0.8

// similarityGap returns, per run, the harmful rate of its good x bad pairs
// with prompt Jaccard >= simHigh minus that of pairs below simLow, at its
// last checkpoint (BySim, pairs pooled over the bins); runs without pairs
// on both sides are left out.
func similarityGap(st *Study) map[string]float64 {
	lastIt := map[string]int{}
	for _, r := range st.BySim {
		if it, ok := lastIt[r.Run]; !ok || r.Iteration > it {
			lastIt[r.Run] = r.Iteration
		}
	}
	type acc struct{ hiN, loN, hiH, loH float64 }
	sums := map[string]*acc{}
	for _, r := range st.BySim {
		if r.Iteration != lastIt[r.Run] || r.Pairs == 0 || math.IsNaN(r.HarmfulRate) {
			continue
		}
		a := sums[r.Run]
		if a == nil {
			a = &acc{}
			sums[r.Run] = a
		}
		n := float64(r.Pairs)
		switch {
		case r.Lo >= simHigh:
			a.hiN, a.hiH = a.hiN+n, a.hiH+n*r.HarmfulRate
		case r.Hi <= simLow:
			a.loN, a.loH = a.loN+n, a.loH+n*r.HarmfulRate
		}
	}
	out := map[string]float64{}
	for run, a := range sums {
		if a.hiN > 0 && a.loN > 0 {
			out[run] = a.hiH/a.hiN - a.loH/a.loN
		}
	}
	return out
}
