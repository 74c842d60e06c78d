package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Reference values: Newcombe 1998, Stat. Med. 17:857-872, Table II, method 3
// (Wilson score without continuity correction), 95%.
func TestWilsonNewcombe(t *testing.T) {
	for _, c := range []struct{ k, n, lo, hi float64 }{
		{81, 263, 0.2553, 0.3662},
		{15, 148, 0.0624, 0.1605},
		{0, 20, 0, 0.1611},
		{1, 29, 0.0061, 0.1718},
	} {
		iv := Wilson(c.k, c.n, 0.95)
		if math.Abs(iv.Lo-c.lo) > 5e-5 || math.Abs(iv.Hi-c.hi) > 5e-5 || iv.Point != c.k/c.n {
			t.Errorf("Wilson(%g, %g) = %+v, want [%g, %g]", c.k, c.n, iv, c.lo, c.hi)
		}
	}
	nan := Wilson(1, 0, 0.95)
	if !math.IsNaN(nan.Point) || !math.IsNaN(nan.Lo) {
		t.Errorf("n = 0: %+v", nan)
	}
	if iv := Wilson(3, 2, 0.95); iv.Point != 1.5 || !math.IsNaN(iv.Lo) || !math.IsNaN(iv.Hi) {
		t.Errorf("3 of 2: %+v", iv)
	}
}

func binomialPMF(n, k int, p float64) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return math.Exp(a - b - c + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p))
}

// The exact coverage of the Wilson interval for 0/1 data is a binomial sum,
// C(p) = sum_k P(K = k) 1{p in CI(k)}. Averaged over p it is close to the
// nominal 0.95 for the 4 to 14 states of a consistency row (Brown, Cai &
// DasGupta 2001, Fig. 5); it oscillates in p and dips near 0.87 for n = 4.
// Tolerances: the mean within 0.01 of 0.95, the minimum over p in [0.1, 0.9]
// at least 0.86.
func TestWilsonExactCoverage(t *testing.T) {
	for _, n := range []int{4, 8, 14} {
		var sum float64
		minCov := 1.0
		cnt := 0
		for pi := 1; pi < 100; pi++ {
			p := float64(pi) / 100
			var cov float64
			for k := 0; k <= n; k++ {
				if Wilson(float64(k), float64(n), 0.95).Contains(p) {
					cov += binomialPMF(n, k, p)
				}
			}
			sum += cov
			cnt++
			if p >= 0.1 && p <= 0.9 {
				minCov = math.Min(minCov, cov)
			}
		}
		if mean := sum / float64(cnt); math.Abs(mean-0.95) > 0.01 || minCov < 0.86 {
			t.Errorf("n = %d: mean coverage %.4f, min %.4f", n, mean, minCov)
		}
	}
}

func TestBoundedMean(t *testing.T) {
	// 0/1 values: the Wilson interval itself.
	x := []float64{1, 0, 0, 1, 1}
	if got, want := BoundedMean(x, 0, 1, 0.95), Wilson(3, 5, 0.95); got != want {
		t.Errorf("0/1: %+v, want %+v", got, want)
	}
	// Rescaled from [1, 10]: u = (x-1)/9 = {0, 1/3, 1}, sum 4/3.
	got := BoundedMean([]float64{1, 4, 10}, 1, 10, 0.95)
	w := Wilson(4.0/3, 3, 0.95)
	if math.Abs(got.Point-5) > 1e-12 || math.Abs(got.Lo-(1+9*w.Lo)) > 1e-12 || math.Abs(got.Hi-(1+9*w.Hi)) > 1e-12 {
		t.Errorf("rescaled: %+v, Wilson %+v", got, w)
	}
	if iv := BoundedMean(nil, 0, 1, 0.95); !math.IsNaN(iv.Point) || !math.IsNaN(iv.Hi) {
		t.Errorf("empty: %+v", iv)
	}
	if iv := BoundedMean([]float64{0.5, math.NaN()}, 0, 1, 0.95); !math.IsNaN(iv.Point) || !math.IsNaN(iv.Lo) {
		t.Errorf("NaN: %+v", iv)
	}
	if iv := BoundedMean([]float64{0.5, 1.5}, 0, 1, 0.95); iv.Point != 1 || !math.IsNaN(iv.Lo) {
		t.Errorf("out of bounds: %+v", iv)
	}
	// All states agree: not a point, unlike a bootstrap.
	if iv := BoundedMean([]float64{0, 0, 0, 0}, 0, 1, 0.95); iv.Lo != 0 || !(iv.Hi > 0.4) {
		t.Errorf("4 zeros: %+v", iv)
	}
	in := []float64{0.2, 0.9}
	BoundedMean(in, 0, 1, 0.95)
	if in[0] != 0.2 || in[1] != 0.9 {
		t.Error("input modified")
	}
}

// Coverage of BoundedMean on fractional values, by simulation: per-state
// values drawn from distributions on [0, 1] with known mean, n states,
// 2000 datasets per case. The interval is conservative for non-0/1 values,
// so coverage must be at least 0.95 - 0.015 (three standard errors of a
// coverage estimate at 0.95 over 2000 datasets is 0.015); the near-0/1 case
// (the typical consistency state) must also stay at most 0.995, i.e. not be
// uselessly wide.
func TestBoundedMeanCoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 21))
	cases := []struct {
		name   string
		mean   float64
		draw   func() float64
		nearly bool // close to 0/1 values
	}{
		// U^2, U uniform: mean 1/3.
		{"u2", 1.0 / 3, func() float64 { u := rng.Float64(); return u * u }, false},
		// Near 0/1: a state is high with probability 0.3; its value is then
		// 1 - e, otherwise e, with e uniform on [0, 0.1]: mean 0.3.
		{"near01", 0.3, func() float64 {
			e := rng.Float64() * 0.1
			if rng.Float64() < 0.3 {
				return 1 - e
			}
			return e
		}, true},
	}
	const datasets = 2000
	for _, c := range cases {
		for _, n := range []int{4, 8, 14} {
			x := make([]float64, n)
			hit := 0
			for range datasets {
				for i := range x {
					x[i] = c.draw()
				}
				if BoundedMean(x, 0, 1, 0.95).Contains(c.mean) {
					hit++
				}
			}
			cov := float64(hit) / datasets
			t.Logf("%s, n = %d: coverage %.3f", c.name, n, cov)
			if cov < 0.935 || (c.nearly && cov > 0.995) {
				t.Errorf("%s, n = %d: coverage %.3f", c.name, n, cov)
			}
		}
	}
}

// simTrajectories draws n trajectories of 5..15 steps; trajectory i has its
// own repeat propensity pi_i ~ U(0, 1) and each step after the first repeats
// with probability pi_i. The ratio of expected sums is
// E[L-1] E[pi] / E[L] = 9 * 0.5 / 10 = 0.45.
func simTrajectories(rng *rand.Rand, num, den []float64) {
	for i := range num {
		l := 5 + rng.IntN(11)
		pi := rng.Float64()
		rep := 0
		for range l - 1 {
			if rng.Float64() < pi {
				rep++
			}
		}
		num[i], den[i] = float64(rep), float64(l)
	}
}

// Coverage of ClusterRatio by simulation: 40 clustered trajectories, 1000
// datasets, 1000 resamples, true ratio 0.45 (measured: 0.928). Tolerance
// 0.95 +- 0.04: three standard errors of a coverage estimate over 1000
// datasets (0.021) plus the percentile bootstrap's known shortfall with few
// clusters (Davison & Hinkley 1997, §5.3). The same data with
// the steps taken as independent (a Wilson interval over steps) must
// under-cover badly: that is why clusters are resampled.
func TestClusterRatioCoverage(t *testing.T) {
	const (
		n        = 40
		datasets = 1000
		truth    = 0.45
	)
	rng := rand.New(rand.NewPCG(3, 5))
	num, den := make([]float64, n), make([]float64, n)
	hit, naive := 0, 0
	for range datasets {
		simTrajectories(rng, num, den)
		if ClusterRatio(num, den, BootstrapConfig{Resamples: 1000}, rng).Contains(truth) {
			hit++
		}
		var a, b float64
		for i := range num {
			a, b = a+num[i], b+den[i]
		}
		if Wilson(a, b, 0.95).Contains(truth) {
			naive++
		}
	}
	cov, naiveCov := float64(hit)/datasets, float64(naive)/datasets
	t.Logf("coverage: cluster bootstrap %.3f, steps as independent %.3f", cov, naiveCov)
	if math.Abs(cov-0.95) > 0.04 {
		t.Errorf("cluster bootstrap coverage %.3f, want 0.95 +- 0.04", cov)
	}
	if naiveCov > 0.8 {
		t.Errorf("steps as independent cover %.3f; the simulation is not clustered enough to test anything", naiveCov)
	}
}

func TestClusterRatioEdges(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	if iv := ClusterRatio([]float64{2}, []float64{4}, BootstrapConfig{}, rng); iv.Point != 0.5 || !math.IsNaN(iv.Lo) {
		t.Errorf("one cluster: %+v", iv)
	}
	if iv := ClusterRatio([]float64{0, 0}, []float64{0, 0}, BootstrapConfig{}, rng); !math.IsNaN(iv.Point) {
		t.Errorf("zero den: %+v", iv)
	}
	// Every cluster has the same ratio: the interval is that point.
	iv := ClusterRatio([]float64{1, 2, 3}, []float64{2, 4, 6}, BootstrapConfig{Resamples: 50}, rng)
	if iv.Point != 0.5 || math.Abs(iv.Lo-0.5) > 1e-15 || math.Abs(iv.Hi-0.5) > 1e-15 {
		t.Errorf("constant ratio: %+v", iv)
	}
	// Deterministic for a seed.
	num, den := []float64{0, 3, 1, 5}, []float64{4, 6, 5, 9}
	a := ClusterRatio(num, den, BootstrapConfig{}, rand.New(rand.NewPCG(9, 9)))
	b := ClusterRatio(num, den, BootstrapConfig{}, rand.New(rand.NewPCG(9, 9)))
	if a != b || !(a.Lo < a.Point && a.Point < a.Hi) {
		t.Errorf("%+v %+v", a, b)
	}
	defer func() {
		if recover() == nil {
			t.Error("length mismatch did not panic")
		}
	}()
	ClusterRatio([]float64{1}, []float64{1, 2}, BootstrapConfig{}, rng)
}

// At 0 and n successes the bounds are 0 and 1 exactly on every architecture
// (arm64 fuses multiply-adds, which once left Lo = 9e-18 at 0 successes).
func TestWilsonEndsExact(t *testing.T) {
	for _, n := range []float64{1, 2, 3, 4, 5, 7, 10, 14, 40, 1000} {
		for _, level := range []float64{0.5, 0.9, 0.95, 0.99} {
			if iv := Wilson(0, n, level); iv.Lo != 0 || !(iv.Hi > 0) {
				t.Errorf("Wilson(0, %v, %v) = %+v", n, level, iv)
			}
			if iv := Wilson(n, n, level); iv.Hi != 1 || !(iv.Lo < 1) {
				t.Errorf("Wilson(%v, %v, %v) = %+v", n, n, level, iv)
			}
		}
	}
}
