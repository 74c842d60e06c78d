package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Interval is a point estimate with a two-sided confidence interval.
type Interval struct {
	Point, Lo, Hi float64
}

// Contains reports whether v lies in [Lo, Hi].
func (iv Interval) Contains(v float64) bool { return iv.Lo <= v && v <= iv.Hi }

// BootstrapConfig sets a bootstrap. The zero value is 2000 resamples and a
// 95% interval. (rliable's get_interval_estimates defaults to 50000
// resamples; with 2000 the Monte Carlo standard error of a 95% percentile
// endpoint is about 1.5% of the interval width for a normal-shaped bootstrap
// distribution: sqrt(0.025*0.975/2000)/phi(1.96) = 0.06 sd, width 3.92 sd.)
type BootstrapConfig struct {
	Resamples int     // bootstrap replicates; zero means 2000
	Level     float64 // two-sided confidence level in (0, 1); zero means 0.95
}

func (c BootstrapConfig) withDefaults() BootstrapConfig {
	if c.Resamples == 0 {
		c.Resamples = 2000
	}
	if c.Level == 0 {
		c.Level = 0.95
	}
	if c.Resamples < 0 || !(c.Level > 0 && c.Level < 1) {
		panic("metrics: invalid BootstrapConfig")
	}
	return c
}

// StratifiedBootstrap returns stat(strata) with a percentile bootstrap
// confidence interval, resampling with replacement within each stratum and
// keeping every stratum's size (Agarwal et al. 2021, "Deep Reinforcement
// Learning at the Edge of the Statistical Precipice", NeurIPS, and rliable's
// library.StratifiedBootstrap: strata are tasks, values are runs). For replicate b,
//
//	x*_{i,k} = x_{i, U_{b,i,k}},  U uniform on {0..n_i-1},  theta*_b = stat(x*)
//	[Lo, Hi] = [Q((1-level)/2), Q((1+level)/2)] of theta*_1..theta*_B
//
// with Q the linearly interpolated quantile of Quantile (numpy's default, as
// arch's percentile interval used by rliable). Draws are made stratum by
// stratum in order, so the result is deterministic for a seeded rng.
//
// stat receives freshly filled buffers with the same shape as strata; it may
// reorder them but must not retain them. The inputs are not modified. An empty
// stratum stays empty. If stat returns NaN for the data or any replicate, the
// corresponding bounds are NaN. A nil rng or an invalid cfg panics.
func StratifiedBootstrap(strata [][]float64, stat func([][]float64) float64, cfg BootstrapConfig, rng *rand.Rand) Interval {
	cfg = cfg.withDefaults()
	if rng == nil {
		panic("metrics: nil rng")
	}
	buf := make([][]float64, len(strata))
	for i, s := range strata {
		buf[i] = slices.Clone(s)
	}
	point := stat(buf)
	reps := make([]float64, cfg.Resamples)
	for b := range reps {
		for i, s := range strata {
			resampleInto(buf[i], s, rng)
		}
		reps[b] = stat(buf)
	}
	return percentileInterval(point, reps, cfg.Level)
}

// resampleInto fills dst (len(src)) with a with-replacement resample of src.
func resampleInto(dst, src []float64, rng *rand.Rand) {
	n := len(src)
	for k := range dst {
		dst[k] = src[rng.IntN(n)]
	}
}

// percentileInterval sorts reps in place and returns the percentile interval.
func percentileInterval(point float64, reps []float64, level float64) Interval {
	iv := Interval{Point: point, Lo: math.NaN(), Hi: math.NaN()}
	if len(reps) == 0 {
		return iv
	}
	for _, v := range reps {
		if math.IsNaN(v) {
			return iv
		}
	}
	slices.Sort(reps)
	iv.Lo = quantileSorted(reps, (1-level)/2)
	iv.Hi = quantileSorted(reps, (1+level)/2)
	return iv
}

// Quantile returns the p-quantile of x with linear interpolation between order
// statistics, numpy.percentile's default ("linear", Hyndman & Fan type 7):
//
//	h = (n-1) p,  Q = x_(floor h) + (h - floor h)(x_(floor h + 1) - x_(floor h))
//
// with x_(k) the k-th smallest value (0-based). x is not modified. Empty x, a
// NaN in x, or p outside [0, 1] returns NaN.
func Quantile(x []float64, p float64) float64 {
	if len(x) == 0 || !(p >= 0 && p <= 1) {
		return math.NaN()
	}
	s := slices.Clone(x)
	for _, v := range s {
		if math.IsNaN(v) {
			return math.NaN()
		}
	}
	slices.Sort(s)
	return quantileSorted(s, p)
}

func quantileSorted(s []float64, p float64) float64 {
	h := float64(len(s)-1) * p
	lo := int(math.Floor(h))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	f := h - float64(lo)
	return s[lo] + f*(s[lo+1]-s[lo])
}

// IQM returns the interquartile mean of x as rliable computes it
// (metrics.aggregate_iqm = scipy.stats.trim_mean(x, proportiontocut=0.25)):
//
//	c = floor(n/4),  IQM = mean of the order statistics x_(c) .. x_(n-c-1)
//
// scipy cuts a whole number of values from each end, floor(0.25 n), and gives
// the rest equal weight; it does not weight the boundary values fractionally
// (the "fractional" IQM that interpolates when n is not a multiple of 4 is a
// different estimator). So n = 1..3 gives the plain mean, n = 5 the mean of
// the middle 3, n = 6 of the middle 4. x is not modified. Empty x returns NaN;
// any NaN in x returns NaN (scipy would sort NaN last and might trim it).
func IQM(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	s := slices.Clone(x)
	return iqmInPlace(s)
}

// iqmInPlace sorts s and returns its IQM.
func iqmInPlace(s []float64) float64 {
	for _, v := range s {
		if math.IsNaN(v) {
			return math.NaN()
		}
	}
	slices.Sort(s)
	c := len(s) / 4
	var sum float64
	for _, v := range s[c : len(s)-c] {
		sum += v
	}
	return sum / float64(len(s)-2*c)
}

// PooledIQM returns the IQM of all values of all strata pooled together, the
// aggregate rliable reports across runs and tasks (aggregate_iqm on the
// flattened runs x tasks score matrix). Use it as the stat of
// StratifiedBootstrap. Inputs are not modified; no values returns NaN.
func PooledIQM(strata [][]float64) float64 {
	var all []float64
	for _, s := range strata {
		all = append(all, s...)
	}
	if len(all) == 0 {
		return math.NaN()
	}
	return iqmInPlace(all)
}

// ProbImprovement returns P(X > Y) estimated from samples x and y: the
// Mann-Whitney U statistic of x over y divided by n m, ties counting 1/2
// (rliable metrics.probability_of_improvement for one task; Agarwal et al.
// 2021):
//
//	P(X > Y) = 1/(n m) sum_i sum_j ( 1{x_i > y_j} + 1/2 1{x_i = y_j} )
//
// Computed in O((n+m) log(n+m)) by sorting copies; inputs are not modified.
// Empty x or y, or any NaN, returns NaN.
func ProbImprovement(x, y []float64) float64 {
	if len(x) == 0 || len(y) == 0 {
		return math.NaN()
	}
	xs, ys := slices.Clone(x), slices.Clone(y)
	return probImprovementInPlace(xs, ys)
}

func probImprovementInPlace(xs, ys []float64) float64 {
	if len(xs) == 0 || len(ys) == 0 {
		return math.NaN()
	}
	for _, v := range xs {
		if math.IsNaN(v) {
			return math.NaN()
		}
	}
	for _, v := range ys {
		if math.IsNaN(v) {
			return math.NaN()
		}
	}
	slices.Sort(xs)
	slices.Sort(ys)
	var u float64
	lt, le := 0, 0 // #{y < x}, #{y <= x} for the current x
	for _, v := range xs {
		for lt < len(ys) && ys[lt] < v {
			lt++
		}
		le = max(le, lt)
		for le < len(ys) && ys[le] <= v {
			le++
		}
		u += float64(lt) + 0.5*float64(le-lt)
	}
	return u / (float64(len(xs)) * float64(len(ys)))
}

// ProbImprovementCI returns the probability of improvement of algorithm X over
// Y averaged over tasks, with a percentile bootstrap interval (rliable
// get_interval_estimates with probability_of_improvement and
// StratifiedIndependentBootstrap):
//
//	P = 1/T sum_t P(X_t > Y_t)    (ProbImprovement per task t)
//
// x[t] and y[t] are the runs of X and Y on task t; within each task the runs
// of x and of y are resampled independently with replacement (x[t] first, then
// y[t], task by task). len(x) != len(y) panics ("metrics: length mismatch").
// No tasks, an empty task or a NaN returns NaN bounds. A nil rng or an invalid
// cfg panics.
func ProbImprovementCI(x, y [][]float64, cfg BootstrapConfig, rng *rand.Rand) Interval {
	if len(x) != len(y) {
		panic("metrics: length mismatch")
	}
	cfg = cfg.withDefaults()
	if rng == nil {
		panic("metrics: nil rng")
	}
	bx, by := make([][]float64, len(x)), make([][]float64, len(y))
	for t := range x {
		bx[t], by[t] = slices.Clone(x[t]), slices.Clone(y[t])
	}
	stat := func() float64 {
		if len(bx) == 0 {
			return math.NaN()
		}
		var s float64
		for t := range bx {
			s += probImprovementInPlace(bx[t], by[t])
		}
		return s / float64(len(bx))
	}
	point := stat()
	reps := make([]float64, cfg.Resamples)
	for b := range reps {
		for t := range x {
			resampleInto(bx[t], x[t], rng)
			resampleInto(by[t], y[t], rng)
		}
		reps[b] = stat()
	}
	return percentileInterval(point, reps, cfg.Level)
}
