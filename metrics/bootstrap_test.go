package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestQuantileMatchesNumpyLinear(t *testing.T) {
	// Reference values from numpy.percentile's default "linear" method:
	// np.percentile([1,2,3,4], 25) = 1.75, 50 -> 2.5; [10,20] at 97.5 -> 19.75.
	for _, c := range []struct {
		x    []float64
		p    float64
		want float64
	}{
		{[]float64{4, 1, 3, 2}, 0.25, 1.75},
		{[]float64{4, 1, 3, 2}, 0.5, 2.5},
		{[]float64{10, 20}, 0.975, 19.75},
		{[]float64{5}, 0.3, 5},
		{[]float64{3, 1, 2}, 1, 3},
		{[]float64{3, 1, 2}, 0, 1},
	} {
		orig := slices.Clone(c.x)
		if got := Quantile(c.x, c.p); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Quantile(%v, %v) = %v, want %v", c.x, c.p, got, c.want)
		}
		if !slices.Equal(orig, c.x) {
			t.Error("input modified")
		}
	}
	for _, x := range [][]float64{nil, {1, math.NaN()}} {
		if !math.IsNaN(Quantile(x, 0.5)) {
			t.Errorf("Quantile(%v) not NaN", x)
		}
	}
	if !math.IsNaN(Quantile([]float64{1}, 1.5)) {
		t.Error("p > 1 not NaN")
	}
}

func TestIQMMatchesScipyTrimMean(t *testing.T) {
	// scipy.stats.trim_mean(x, 0.25) cuts floor(n/4) values from each end.
	for _, c := range []struct {
		x    []float64
		want float64
	}{
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 5.5}, // cut 2: mean(3..8)
		{[]float64{100, 2, 3, 1, 4}, 3},                 // cut 1: mean(2,3,4)
		{[]float64{1, 2, 60}, 21},                       // cut 0: plain mean
		{[]float64{1, 2, 3, 4, 5, 60}, 3.5},             // cut 1: mean(2..5)
		{[]float64{4, 1, 3, 2}, 2.5},                    // cut 1
		{[]float64{1, 2, 3, 4, 5, 6, 700}, 4},           // cut 1: mean(2..6)
		// Whole-value trimming, not the fractional IQM (which gives
		// (0.75*2 + 3 + 0.75*10)/2.5 = 4.8 here).
		{[]float64{1, 2, 3, 10, 100}, 5},
		{[]float64{7}, 7},
	} {
		orig := slices.Clone(c.x)
		if got := IQM(c.x); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("IQM(%v) = %v, want %v", c.x, got, c.want)
		}
		if !slices.Equal(orig, c.x) {
			t.Error("input modified")
		}
	}
	if !math.IsNaN(IQM(nil)) || !math.IsNaN(IQM([]float64{1, math.NaN(), 3, 4})) {
		t.Error("empty or NaN input not NaN")
	}
	// Pooled: 8 values, cut 2: mean(3, 4, 5, 6).
	if got := PooledIQM([][]float64{{1, 2}, {8, 3, 4}, {6, 7, 5}}); got != 4.5 {
		t.Errorf("PooledIQM = %v, want 4.5", got)
	}
	if !math.IsNaN(PooledIQM([][]float64{{}, nil})) {
		t.Error("PooledIQM of nothing not NaN")
	}
}

func pooledMean(strata [][]float64) float64 {
	var s, n float64
	for _, x := range strata {
		for _, v := range x {
			s += v
			n++
		}
	}
	return s / n
}

// Resampling is within strata: with constant strata of sizes 3 and 7 every
// replicate has pooled mean exactly 0.7, so the interval collapses; the same
// ten values as one stratum give a wide interval.
func TestStratifiedBootstrapKeepsStrata(t *testing.T) {
	strata := [][]float64{{0, 0, 0}, {1, 1, 1, 1, 1, 1, 1}}
	rng := rand.New(rand.NewPCG(1, 2))
	iv := StratifiedBootstrap(strata, pooledMean, BootstrapConfig{Resamples: 500}, rng)
	if iv.Point != 0.7 || iv.Lo != 0.7 || iv.Hi != 0.7 {
		t.Errorf("stratified: %+v, want all 0.7", iv)
	}
	one := [][]float64{slices.Concat(strata...)}
	iv = StratifiedBootstrap(one, pooledMean, BootstrapConfig{Resamples: 500}, rng)
	if !(iv.Lo < 0.5 && iv.Hi > 0.85) {
		t.Errorf("unstratified: %+v, want a wide interval", iv)
	}
}

// For the mean of n = 2000 Exp(1) draws the percentile bootstrap interval
// matches the normal interval mean ± z s/sqrt(n) to within 10% of its
// half-width. Reasons for the tolerance: with B = 4000 the Monte Carlo sd of
// a 2.5% endpoint is sqrt(0.025*0.975/4000)/phi(1.96) = 0.04 bootstrap sd,
// 2% of the half-width; the skewness of the mean (2/sqrt(n) = 0.045) moves
// the endpoints by about 0.045/6 (z^2 - 1) = 0.02 sd, 1%; and the bootstrap
// uses the n-divisor sd, 0.025% smaller.
func TestStratifiedBootstrapMeanMatchesNormalApprox(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 20))
	x := make([]float64, 2000)
	for i := range x {
		x[i] = rng.ExpFloat64()
	}
	orig := slices.Clone(x)
	iv := StratifiedBootstrap([][]float64{x}, pooledMean, BootstrapConfig{Resamples: 4000}, rng)
	m, sd := meanStd(x)
	half := 1.959963984540054 * sd / math.Sqrt(float64(len(x)))
	if math.Abs(iv.Point-m) > 1e-12 || math.Abs(iv.Lo-(m-half)) > 0.1*half || math.Abs(iv.Hi-(m+half)) > 0.1*half {
		t.Errorf("bootstrap %+v, normal [%v, %v]", iv, m-half, m+half)
	}
	if !slices.Equal(x, orig) {
		t.Error("input modified")
	}
	// Deterministic for a seed.
	a := StratifiedBootstrap([][]float64{x}, pooledMean, BootstrapConfig{Resamples: 50}, rand.New(rand.NewPCG(1, 1)))
	b := StratifiedBootstrap([][]float64{x}, pooledMean, BootstrapConfig{Resamples: 50}, rand.New(rand.NewPCG(1, 1)))
	if a != b {
		t.Errorf("same seed: %+v vs %+v", a, b)
	}
	// NaN statistic gives NaN bounds.
	iv = StratifiedBootstrap([][]float64{{1, math.NaN()}}, pooledMean, BootstrapConfig{Resamples: 20}, rng)
	if !math.IsNaN(iv.Lo) || !math.IsNaN(iv.Hi) {
		t.Errorf("NaN data: %+v", iv)
	}
}

// The sort-based Mann-Whitney count equals the O(nm) definition, ties 1/2.
func TestProbImprovementMatchesDefinition(t *testing.T) {
	if got := ProbImprovement([]float64{1, 2, 3}, []float64{2, 2, 4}); math.Abs(got-1.0/3) > 1e-15 {
		// x=1: 0; x=2: two ties -> 1; x=3: beats two 2s -> 2; U = 3 of 9.
		t.Errorf("hand example: %v, want 1/3", got)
	}
	x0, y0 := []float64{5, 1, 3}, []float64{3, 5, 1}
	if got := ProbImprovement(x0, y0); got != 0.5 || !slices.Equal(x0, []float64{5, 1, 3}) || !slices.Equal(y0, []float64{3, 5, 1}) {
		t.Errorf("identical samples: %v, want 0.5", got)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	for range 50 {
		x, y := make([]float64, 1+rng.IntN(30)), make([]float64, 1+rng.IntN(30))
		for i := range x {
			x[i] = float64(rng.IntN(8))
		}
		for i := range y {
			y[i] = float64(rng.IntN(8))
		}
		var u float64
		for _, a := range x {
			for _, b := range y {
				if a > b {
					u++
				} else if a == b {
					u += 0.5
				}
			}
		}
		want := u / float64(len(x)*len(y))
		if got := ProbImprovement(x, y); math.Abs(got-want) > 1e-12 {
			t.Fatalf("x=%v y=%v: %v, want %v", x, y, got, want)
		}
	}
	if !math.IsNaN(ProbImprovement(nil, []float64{1})) || !math.IsNaN(ProbImprovement([]float64{math.NaN()}, []float64{1})) {
		t.Error("empty or NaN not NaN")
	}
}

// For X ~ N(0.5, 1) and Y ~ N(0, 1), P(X > Y) = Phi(0.5/sqrt 2) = 0.63816; two
// tasks of 300 runs each. The 95% interval covers it, and its half-width
// matches 1.96 times DeLong's closed-form standard error of the Mann-Whitney
// estimate (DeLong et al. 1988: var = s^2(V10)/n + s^2(V01)/m from placement
// values), averaged over the two tasks, within 15% (Monte Carlo error of the
// endpoints with B = 2000 is about 3% of the width; the rest is the normal
// approximation).
func TestProbImprovementCIClosedForm(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	want := 0.5 * math.Erfc(-0.5/math.Sqrt2/math.Sqrt2)
	x, y := make([][]float64, 2), make([][]float64, 2)
	for k := range x {
		x[k], y[k] = make([]float64, 300), make([]float64, 300)
		for i := range 300 {
			x[k][i] = 0.5 + rng.NormFloat64()
			y[k][i] = rng.NormFloat64()
		}
	}
	iv := ProbImprovementCI(x, y, BootstrapConfig{}, rng)
	if !iv.Contains(want) || !(iv.Lo < iv.Point && iv.Point < iv.Hi) {
		t.Errorf("%+v does not contain %v", iv, want)
	}
	var variance float64
	for k := range x {
		v10, v01 := make([]float64, len(x[k])), make([]float64, len(y[k]))
		for i, a := range x[k] {
			for j, b := range y[k] {
				psi := 0.0
				if a > b {
					psi = 1
				} else if a == b {
					psi = 0.5
				}
				v10[i] += psi / float64(len(y[k]))
				v01[j] += psi / float64(len(x[k]))
			}
		}
		_, s10 := meanStd(v10)
		_, s01 := meanStd(v01)
		variance += (s10*s10/float64(len(v10)) + s01*s01/float64(len(v01))) / 4 // mean of two tasks
	}
	hw, delong := (iv.Hi-iv.Lo)/2, 1.959963984540054*math.Sqrt(variance)
	if math.Abs(hw-delong) > 0.15*delong {
		t.Errorf("bootstrap half-width %v, DeLong normal %v", hw, delong)
	}
	defer func() {
		if r := recover(); r != "metrics: length mismatch" {
			t.Errorf("recovered %v", r)
		}
	}()
	ProbImprovementCI(x, y[:1], BootstrapConfig{}, rng)
}

func TestBootstrapConfigPanics(t *testing.T) {
	for _, cfg := range []BootstrapConfig{{Resamples: -1}, {Level: 1}, {Level: -0.5}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%+v: no panic", cfg)
				}
			}()
			StratifiedBootstrap(nil, pooledMean, cfg, rand.New(rand.NewPCG(1, 1)))
		}()
	}
}
