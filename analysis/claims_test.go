package analysis

import (
	"math"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/metrics"
)

func TestClaimVerdict(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		dir         int
		lo, hi, mde float64
		want        string
	}{
		{+1, 0.01, 0.05, 0.02, Reproduced},
		{+1, -0.01, 0.05, 0.02, Inconclusive},   // 0 and the MDE both inside
		{+1, -0.03, 0.015, 0.02, NotReproduced}, // every effect >= MDE excluded
		{+1, -0.05, -0.01, 0.02, NotReproduced}, // the other side
		{-1, -0.05, -0.01, 0.02, Reproduced},    // claimed < 0
		{-1, -0.015, 0.03, 0.02, NotReproduced}, // no decrease of 0.02 or more
		{-1, -0.03, 0.01, 0.02, Inconclusive},
		{+1, -0.01, 0.05, nan, Inconclusive}, // no MDE: only the sign rules
		{+1, -0.05, -0.01, nan, NotReproduced},
		{+1, nan, nan, 0.02, Inconclusive},
		{+1, 0, 0, nan, Inconclusive}, // an exact zero
		{0, 0.1, 0.2, 0.01, Inconclusive},
	} {
		if got := ClaimVerdict(c.dir, c.lo, c.hi, c.mde); got != c.want {
			t.Errorf("ClaimVerdict(%d, %g, %g, %g) = %q, want %q", c.dir, c.lo, c.hi, c.mde, got, c.want)
		}
	}
}

// claimsStudy is a hand-made study of GRPO and GCD on one environment with
// n seeds, whose per-seed differences are given.
func claimsStudy(n int, harm, dHarm, dEval, rise func(i int) float64) *Study {
	st := &Study{Seed: 3, Options: StudyOptions{Bootstrap: metrics.BootstrapConfig{Resamples: 2000, Level: 0.95}}}
	for i := range n {
		seed := uint64(i + 1)
		g, c := "household-grpo-"+itoa(seed), "household-gcd-"+itoa(seed)
		st.Runs = append(st.Runs, StudyRun{Name: g, Env: "household", Algo: "grpo", Seed: seed},
			StudyRun{Name: c, Env: "household", Algo: "gcd", Seed: seed})
		st.Series = append(st.Series,
			SeriesRow{Run: g, Metric: SeriesHarmfulRate, Iteration: 0, Value: 0.9}, // the first checkpoint is not read
			SeriesRow{Run: g, Metric: SeriesHarmfulRate, Iteration: 40, Value: 0.5 + harm(i)},
			SeriesRow{Run: c, Metric: SeriesHarmfulRate, Iteration: 40, Value: 0.5 + harm(i) + dHarm(i)},
			SeriesRow{Run: g, Metric: MetricEvalOutGreedy, Iteration: 40, Value: 0.3},
			SeriesRow{Run: c, Metric: MetricEvalOutGreedy, Iteration: 40, Value: 0.3 + dEval(i)},
			SeriesRow{Run: g, Metric: SeriesHighJudgeBad, Iteration: 0, Value: 0.4},
			SeriesRow{Run: g, Metric: SeriesHighJudgeBad, Iteration: 40, Value: 0.4 + rise(i)})
		st.AdvantageSummary = append(st.AdvantageSummary,
			AdvantageSummaryRow{Run: g, Flawed: 10, FlawedNegative: 9}, AdvantageSummaryRow{Run: c, Flawed: 10, FlawedNegative: 7})
		st.BySim = append(st.BySim,
			SimilarityRow{Run: g, Iteration: 40, Lo: 0, Hi: 0.5, Pairs: 100, HarmfulRate: 0.5},
			SimilarityRow{Run: g, Iteration: 40, Lo: 0.5, Hi: 0.8, Pairs: 50, HarmfulRate: 0.99}, // neither band
			SimilarityRow{Run: g, Iteration: 40, Lo: 0.8, Hi: 0.9, Pairs: 30, HarmfulRate: 0.6},
			SimilarityRow{Run: g, Iteration: 40, Lo: 0.9, Hi: 1, Pairs: 10, HarmfulRate: 1},
			SimilarityRow{Run: g, Iteration: 0, Lo: 0.9, Hi: 1, Pairs: 10, HarmfulRate: 0}) // not the last checkpoint
	}
	st.SqueezeSummary = []SqueezeSummary{
		{Variant: SqueezeFull, Steps: 15, GoodStart: 0.1, GoodEnd: 0.9, BadStart: 0.9, BadEnd: 0.1},
		{Variant: SqueezeNegative, Steps: 15, GoodStart: 0.12, GoodEnd: 0.11, BadStart: 0.88, BadEnd: 0.89},
	}
	return st
}

func itoa(v uint64) string { return ftoa(float64(v)) }

// TestClaims checks each test of Claims against its closed form on a
// hand-made study: the effect is the mean of the constructed per-seed
// values, the MDE (z_0.975 + z_0.8) sd / sqrt(n), and the verdicts follow
// from effects chosen far inside each verdict's region.
func TestClaims(t *testing.T) {
	const n = 10
	alt := func(a float64) func(int) float64 { // +a, -a, ...: mean 0, sd a sqrt(n/(n-1))
		return func(i int) float64 { return a * float64(1-2*(i%2)) }
	}
	shift := func(m, a float64) func(int) float64 {
		return func(i int) float64 { return m + alt(a)(i) }
	}
	sdAlt := func(a float64) float64 { return a * math.Sqrt(float64(n)/float64(n-1)) }
	st := claimsStudy(n,
		shift(0.1, 0.01),    // GRPO harmful rate 0.6 +- 0.01: coupling reproduced
		shift(-0.05, 0.01),  // GCD lowers it by 0.05: reproduced
		alt(0.02),           // no out-of-domain difference: not reproduced
		shift(0.0093, 0.02)) // a rise of half the MDE: inconclusive
	rows := Claims(st, metrics.BootstrapConfig{})
	find := func(claim, test string) ClaimRow {
		t.Helper()
		for _, r := range rows {
			if strings.HasPrefix(r.Claim, claim) && strings.Contains(r.Test, test) {
				return r
			}
		}
		t.Fatalf("no claim %q test %q in %+v", claim, test, rows)
		return ClaimRow{}
	}
	mde := func(sd float64) float64 { return mdeFactor * sd / math.Sqrt(n) }
	for _, c := range []struct {
		claim, test string
		effect, mde float64
		dir         int
		want        string
	}{
		{"1", "advantage mass", (9.0+7)/20 - 0.5, 0, +1, Reproduced},
		{"3", "- 1/2", 0.1, mde(sdAlt(0.01)), +1, Reproduced},
		{"3", "Jaccard", (30*0.6+10*1)/40.0 - 0.5, 0, +1, Reproduced},
		{"4", "GCD - GRPO harmful", -0.05, mde(sdAlt(0.01)), -1, Reproduced},
		{"5 GCD", "eval_out_greedy_success", 0, mde(sdAlt(0.02)), +1, NotReproduced},
		{"5 high", "last - first", 0.0093, mde(sdAlt(0.02)), +1, Inconclusive},
	} {
		r := find(c.claim, c.test)
		if math.Abs(r.Effect-c.effect) > 1e-12 || r.Direction != c.dir || r.Verdict != c.want || r.Seeds != n || r.Env != "household" || r.Seed != 3 {
			t.Errorf("claim %s %q: %+v, want effect %g direction %d verdict %s over %d seeds", c.claim, c.test, r, c.effect, c.dir, c.want, n)
		}
		if c.mde != 0 && math.Abs(r.MDE-c.mde) > 1e-12 {
			t.Errorf("claim %s %q: MDE %g, want %g", c.claim, c.test, r.MDE, c.mde)
		}
		if !(r.Lo <= r.Effect && r.Effect <= r.Hi) {
			t.Errorf("claim %s %q: effect %g outside its interval [%g, %g]", c.claim, c.test, r.Effect, r.Lo, r.Hi)
		}
	}
	// P(claimed side) of a claimed decrease counts the resamples below 0.
	if r := find("4", "GCD"); r.PClaimed != 1 {
		t.Errorf("claim 4: P(claimed side) %g, want 1 (every resample below 0)", r.PClaimed)
	}
	// Claim 2 is exact: the full update lowers the bad mass and raises the
	// good action; the negative part alone does neither.
	for _, c := range []struct {
		test string
		want string
	}{
		{"total bad mass over 15 steps, " + SqueezeFull, Reproduced},
		{"good action's probability over 15 steps, " + SqueezeFull, Reproduced},
		{"total bad mass over 15 steps, " + SqueezeNegative, NotReproduced},
		{"good action's probability over 15 steps, " + SqueezeNegative, NotReproduced},
	} {
		if r := find("2", c.test); r.Verdict != c.want {
			t.Errorf("claim 2 %q: %+v, want %s", c.test, r, c.want)
		}
	}
	// With a second environment the claims still come in the order of
	// DESIGN.md §1, each claim's tests together, then by environment.
	lab := claimsStudy(n, shift(0.1, 0.01), shift(-0.05, 0.01), alt(0.02), shift(0.0093, 0.02))
	rename := func(run string) string { return "lab" + strings.TrimPrefix(run, "household") }
	for _, r := range lab.Runs {
		r.Name, r.Env = rename(r.Name), "lab"
		st.Runs = append(st.Runs, r)
	}
	for _, r := range lab.Series {
		r.Run = rename(r.Run)
		st.Series = append(st.Series, r)
	}
	for _, r := range lab.AdvantageSummary {
		r.Run = rename(r.Run)
		st.AdvantageSummary = append(st.AdvantageSummary, r)
	}
	for _, r := range lab.BySim {
		r.Run = rename(r.Run)
		st.BySim = append(st.BySim, r)
	}
	rows = Claims(st, metrics.BootstrapConfig{})
	envs := map[string]int{}
	for k, r := range rows {
		envs[r.Env]++
		if k == 0 {
			continue
		}
		p := rows[k-1]
		if r.Claim < p.Claim || (r.Claim == p.Claim && r.Env < p.Env) {
			t.Errorf("claims out of order: %q %s after %q %s", r.Claim, r.Env, p.Claim, p.Env)
		}
	}
	if envs["household"] != 6 || envs["lab"] != 6 || envs["simulator"] != 4 {
		t.Errorf("tests per environment %v, want 6 household, 6 lab, 4 simulator", envs)
	}

	// A seed without its GCD run drops out of the paired tests only; with
	// one value left a test has no interval and is inconclusive.
	st = claimsStudy(2, shift(0.1, 0.01), shift(-0.05, 0.01), alt(0.02), shift(0.012, 0.02))
	st.Runs = st.Runs[:3] // household-gcd-2 removed
	rows = Claims(st, metrics.BootstrapConfig{})
	if r := find("4", "GCD"); r.Seeds != 1 || !math.IsNaN(r.Lo) || r.Verdict != Inconclusive {
		t.Errorf("claim 4 with one pair: %+v", r)
	}
	if r := find("3", "- 1/2"); r.Seeds != 2 {
		t.Errorf("claim 3 keeps both GRPO runs: %+v", r)
	}
	// Without a GRPO arm there is nothing to test but the lemma and the
	// simulator.
	st = claimsStudy(3, shift(0.1, 0.01), shift(-0.05, 0.01), alt(0.02), shift(0.012, 0.02))
	for k := range st.Runs {
		st.Runs[k].Name, st.Runs[k].Algo = "x"+st.Runs[k].Name, "ppo"
	}
	for _, r := range Claims(st, metrics.BootstrapConfig{}) {
		if r.Claim[0] != '1' && r.Claim[0] != '2' {
			t.Errorf("claim without GRPO runs: %+v", r)
		}
	}
}
