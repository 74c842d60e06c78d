package metrics

import (
	"math"
	"math/rand/v2"
)

// Wilson returns the proportion successes/n with the Wilson score interval
// (Wilson 1927, "Probable inference, the law of succession, and statistical
// inference", JASA 22:209-212; Newcombe 1998, Stat. Med. 17:857-872, method
// 3): the set of p with |p^ - p| <= z sqrt(p (1-p) / n), that is
//
//	centre = (p^ + z^2/(2n)) / (1 + z^2/n)
//	half   = z / (1 + z^2/n) sqrt(p^ (1-p^)/n + z^2/(4n^2))
//
// with p^ = successes/n and z the two-sided normal quantile of level. Unlike
// the Wald interval it stays inside [0, 1] and does not collapse to a point
// at 0 or n successes (0 of 10 gives [0, 0.278]), which is why it suits the
// small counts of agent logs (Brown, Cai & DasGupta 2001, Stat. Sci.
// 16:101-133, recommend it for n < 40). successes may be fractional (see
// BoundedMean). n <= 0 or a NaN returns NaN for all three; successes outside
// [0, n] returns NaN bounds. A level outside (0, 1) panics.
func Wilson(successes, n, level float64) Interval {
	if !(level > 0 && level < 1) {
		panic("metrics: level outside (0, 1)")
	}
	nan := math.NaN()
	if !(n > 0) || math.IsNaN(successes) {
		return Interval{Point: nan, Lo: nan, Hi: nan}
	}
	p := successes / n
	if !(p >= 0 && p <= 1) {
		return Interval{Point: p, Lo: nan, Hi: nan}
	}
	z := normalQuantile(level)
	z2n := z * z / n
	centre := (p + z2n/2) / (1 + z2n)
	half := z / (1 + z2n) * math.Sqrt(p*(1-p)/n+z2n/(4*n))
	lo, hi := max(0, centre-half), min(1, centre+half)
	// At 0 successes centre and half are equal in exact arithmetic, so the
	// lower bound is 0 (and the upper 1 at n successes); rounding, which
	// differs between architectures (Go fuses x*y+z into one multiply-add on
	// arm64, not on amd64), would otherwise leave a bound of 1e-17.
	if p == 0 {
		lo = 0
	}
	if p == 1 {
		hi = 1
	}
	return Interval{Point: p, Lo: lo, Hi: hi}
}

// BoundedMean returns the mean of x, whose values are known to lie in
// [lo, hi], with a Wilson score interval on the rescaled mean:
//
//	u_i = (x_i - lo)/(hi - lo) in [0, 1],  [L, U] = Wilson(sum u_i, n, level)
//	interval = [lo + (hi-lo) L, lo + (hi-lo) U]
//
// Why it is valid for a mean of values in [0, 1] that are not 0/1: for any
// random variable U in [0, 1] with mean mu, Var U <= mu (1 - mu) (the
// Bhatia-Davis inequality; Bhatia & Davis 2000, Amer. Math. Monthly
// 107:353-357), with equality only for 0/1 values. The Wilson interval is the
// set of mu that a normal score test with variance mu(1-mu)/n does not
// reject, so with the true, smaller variance it can only cover more often:
// it is exact-in-the-limit for 0/1 values and conservative otherwise.
//
// This is the interval of the log-based consistency shares (ConsistencyRow):
// each is a mean over a handful (typically 4 to 14) of per-state
// probabilities P(M >= Threshold), which are 0/1 when a state occurs exactly
// K times and close to 0 or 1 otherwise, so the bound is nearly tight. A
// percentile bootstrap over so few states is not used because it
// under-covers at n < 20 (its variance is the plug-in, (n-1)/n of the
// unbiased one, with no t-correction; Efron & Tibshirani 1993, An
// Introduction to the Bootstrap, §13.3) and collapses to a single point when
// every state agrees (all 0 gives [0, 0]), the very case of few states.
//
// The states are treated as independent units; states of one iteration that
// recur in the same trajectories are positively correlated, which makes any
// interval over states optimistic. x is not modified. Empty x or a NaN
// returns NaN for all three; a value outside [lo, hi] (by more than 1e-9
// (hi-lo), which absorbs rounding) returns the mean with NaN bounds. lo >= hi or a level outside (0, 1) panics.
func BoundedMean(x []float64, lo, hi, level float64) Interval {
	if !(lo < hi) {
		panic("metrics: BoundedMean needs lo < hi")
	}
	nan := math.NaN()
	if len(x) == 0 {
		if !(level > 0 && level < 1) {
			panic("metrics: level outside (0, 1)")
		}
		return Interval{Point: nan, Lo: nan, Hi: nan}
	}
	var sum, usum float64
	out := false
	tol := 1e-9 * (hi - lo)
	for _, v := range x {
		if math.IsNaN(v) {
			return Wilson(nan, 1, level)
		}
		out = out || v < lo-tol || v > hi+tol
		sum += v
		usum += min(max((v-lo)/(hi-lo), 0), 1)
	}
	mean := sum / float64(len(x))
	if out {
		return Interval{Point: mean, Lo: nan, Hi: nan}
	}
	// Rounding can put usum a hair outside [0, n].
	iv := Wilson(min(max(usum, 0), float64(len(x))), float64(len(x)), level)
	return Interval{Point: mean, Lo: lo + (hi-lo)*iv.Lo, Hi: lo + (hi-lo)*iv.Hi}
}

// ClusterRatio returns the ratio of sums R = sum_i num_i / sum_i den_i over
// clusters i (say, repeated steps over steps, one cluster per trajectory)
// with a percentile cluster bootstrap interval: whole clusters are resampled
// with replacement, n of n, and the ratio recomputed,
//
//	R*_b = sum_k num_{U_bk} / sum_k den_{U_bk},  U uniform on {0..n-1}
//	[Lo, Hi] = [Q((1-level)/2), Q((1+level)/2)] of R*_1..R*_B
//
// (Davison & Hinkley 1997, Bootstrap Methods and their Application, §3.8:
// with dependence inside clusters and independence between them, the
// clusters are the units to resample; Field & Welsh 2007, JRSS B
// 69:369-390). Resampling steps instead would treat the steps of one
// trajectory as independent and give intervals that are too narrow when
// trajectories differ in their propensity to repeat. Q is Quantile's
// interpolation. Fewer than two clusters, a zero total den, or a NaN gives
// NaN bounds (and a NaN point for the last two); a replicate whose den sums
// to zero (only possible with zero-den clusters) is skipped. len(num) !=
// len(den) panics ("metrics: length mismatch"), as do a nil rng and an
// invalid cfg. Inputs are not modified.
func ClusterRatio(num, den []float64, cfg BootstrapConfig, rng *rand.Rand) Interval {
	if len(num) != len(den) {
		panic("metrics: length mismatch")
	}
	cfg = cfg.withDefaults()
	if rng == nil {
		panic("metrics: nil rng")
	}
	nan := math.NaN()
	var sn, sd float64
	for i := range num {
		sn += num[i]
		sd += den[i]
	}
	if math.IsNaN(sn) || math.IsNaN(sd) || sd == 0 {
		return Interval{Point: nan, Lo: nan, Hi: nan}
	}
	point := sn / sd
	n := len(num)
	if n < 2 {
		return Interval{Point: point, Lo: nan, Hi: nan}
	}
	reps := make([]float64, 0, cfg.Resamples)
	for range cfg.Resamples {
		var a, b float64
		for range n {
			k := rng.IntN(n)
			a += num[k]
			b += den[k]
		}
		if b != 0 {
			reps = append(reps, a/b)
		}
	}
	return percentileInterval(point, reps, cfg.Level)
}
