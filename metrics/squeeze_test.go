package metrics

import (
	"math"
	"slices"
	"testing"
)

// gradBySum evaluates the expected update by its definition,
// sum_a pi_a A(a) (1[a=k] - pi_k), restricted to A(a) < 0 if negOnly.
func gradBySum(logits, p []float64, negOnly bool) []float64 {
	pi := Softmax(nil, logits)
	var pbar float64
	for a := range pi {
		pbar += pi[a] * p[a]
	}
	g := make([]float64, len(pi))
	for a := range pi {
		A := p[a] - pbar
		if negOnly && A >= 0 {
			continue
		}
		for k := range pi {
			ind := 0.0
			if a == k {
				ind = 1
			}
			g[k] += pi[a] * A * (ind - pi[k])
		}
	}
	return g
}

// centralDiff returns d f / d theta_k by central differences (step h).
func centralDiff(f func([]float64) float64, theta []float64, h float64) []float64 {
	g := make([]float64, len(theta))
	for k := range theta {
		tp, tm := slices.Clone(theta), slices.Clone(theta)
		tp[k] += h
		tm[k] -= h
		g[k] = (f(tp) - f(tm)) / (2 * h)
	}
	return g
}

func TestExpectedGradientClosedFormAndFiniteDifference(t *testing.T) {
	cases := []struct{ logits, p []float64 }{
		{[]float64{math.Log(0.1), math.Log(0.6), math.Log(0.3)}, []float64{1, 0.3, 0}},
		{[]float64{0.5, -1, 2}, []float64{0.9, 0.5, 0.2}},
		{[]float64{3, 0, -2, 1}, []float64{0.8, 0.1, 0.4, 0.3}},
	}
	for _, c := range cases {
		orig := slices.Clone(c.logits)
		full := ExpectedGradient(nil, c.logits, c.p, SqueezeConfig{})
		neg := ExpectedGradient(nil, c.logits, c.p, SqueezeConfig{NegativeOnly: true})
		pi := Softmax(nil, c.logits)
		var pbar float64
		for a := range pi {
			pbar += pi[a] * c.p[a]
		}
		// E[R](theta) and the negative-only surrogate with pbar held fixed.
		er := func(th []float64) float64 {
			pr := Softmax(nil, th)
			var s float64
			for a := range pr {
				s += pr[a] * c.p[a]
			}
			return s
		}
		sur := func(th []float64) float64 {
			pr := Softmax(nil, th)
			var s float64
			for a := range pr {
				if c.p[a] < pbar {
					s += pr[a] * (c.p[a] - pbar)
				}
			}
			return s
		}
		fdFull := centralDiff(er, c.logits, 1e-5)
		fdNeg := centralDiff(sur, c.logits, 1e-5)
		sumFull, sumNeg := gradBySum(c.logits, c.p, false), gradBySum(c.logits, c.p, true)
		for k := range full {
			closed := pi[k] * (c.p[k] - pbar)
			if math.Abs(full[k]-closed) > 1e-15 || math.Abs(full[k]-sumFull[k]) > 1e-15 || math.Abs(full[k]-fdFull[k]) > 1e-9 {
				t.Errorf("%v: g[%d] = %v; closed %v, sum %v, finite difference %v", c.p, k, full[k], closed, sumFull[k], fdFull[k])
			}
			if math.Abs(neg[k]-sumNeg[k]) > 1e-15 || math.Abs(neg[k]-fdNeg[k]) > 1e-9 {
				t.Errorf("%v: negative-only g[%d] = %v; sum %v, finite difference %v", c.p, k, neg[k], sumNeg[k], fdNeg[k])
			}
		}
		std := ExpectedGradient(nil, c.logits, c.p, SqueezeConfig{Std: true})
		for k := range std {
			if math.Abs(std[k]-full[k]/math.Sqrt(pbar*(1-pbar))) > 1e-15 {
				t.Errorf("std scaling: %v vs %v", std, full)
			}
		}
		if !slices.Equal(c.logits, orig) {
			t.Error("logits modified")
		}
	}
}

// Theorem 3.2 setting: pi = (0.1, 0.6, 0.3) over (good, bad2, bad1) with
// p = (1, 0.3, 0). Under the full expected update pi_b2 rises for several
// steps (its p exceeds pbar = 0.28 at first) while pi_b1 + pi_b2 falls at
// every step, and E[R] never decreases. Hand check of the first step's
// direction: g = (0.072, 0.012, -0.084), sum_k pi_k g_k = -0.0108, so
// d pi_b2 = 0.6 (0.012 + 0.0108) > 0 and d pi_g = 0.1 (0.072 + 0.0108) > 0.
func TestSqueezeBadMassFallsWhileBad2Rises(t *testing.T) {
	logits := []float64{math.Log(0.1), math.Log(0.6), math.Log(0.3)}
	p := []float64{1, 0.3, 0}
	g := ExpectedGradient(nil, logits, p, SqueezeConfig{})
	for k, want := range []float64{0.072, 0.012, -0.084} {
		if math.Abs(g[k]-want) > 1e-12 {
			t.Errorf("g[%d] = %v, want %v", k, g[k], want)
		}
	}
	path := SqueezePath(logits, p, SqueezeConfig{Eta: 0.5, Steps: 200})
	if len(path) != 201 {
		t.Fatalf("%d rows", len(path))
	}
	rose := false
	for t1 := 1; t1 < len(path); t1++ {
		prev, cur := path[t1-1], path[t1]
		if cur[1]+cur[2] >= prev[1]+prev[2] {
			t.Fatalf("step %d: bad mass %v -> %v did not fall", t1, prev[1]+prev[2], cur[1]+cur[2])
		}
		if cur[0]*p[0]+cur[1]*p[1]+cur[2]*p[2] < prev[0]*p[0]+prev[1]*p[1]+prev[2]*p[2] {
			t.Fatalf("step %d: E[R] decreased", t1)
		}
		if cur[1] > path[0][1] {
			rose = true
		}
	}
	if !rose || path[5][1] <= path[0][1] {
		t.Errorf("pi_b2 never rose above %v: %v", path[0][1], path[5])
	}
	if last := path[200]; last[0] < 0.98 {
		t.Errorf("good action did not take over: %v", last)
	}
}

// The negative part alone shows the squeezing effect of Ren & Sutherland:
// only bad1 (p below pbar) is pushed down, and the freed mass goes to the
// others in proportion to pi_k, so the dominant bad2 absorbs it, the good
// action loses mass and the total bad mass rises. Closed form of the first
// step for the good action: d pi_g ∝ -c pi_g (pi_g + pi_b1 - sum_k pi_k^2)
// with c < 0, and 0.1 + 0.3 < 0.46, so pi_g falls.
func TestSqueezeNegativeOnlySqueezesIntoDominantAction(t *testing.T) {
	logits := []float64{math.Log(0.1), math.Log(0.6), math.Log(0.3)}
	p := []float64{1, 0.3, 0}
	path := SqueezePath(logits, p, SqueezeConfig{Eta: 0.5, Steps: 200, NegativeOnly: true})
	first, last := path[0], path[200]
	if !(last[1] > first[1] && last[0] < first[0] && last[2] < first[2] && last[1]+last[2] > first[1]+first[2]) {
		t.Errorf("negative-only path %v -> %v: want bad2 up, good down, bad1 down, bad mass up", first, last)
	}
}

// The full expected update does not raise the good action unconditionally:
// when a middling bad action dominates, d pi_g/dt = pi_g (pi_g (p_g - pbar) -
// sum_k pi_k^2 (p_k - pbar)) can be negative. At pi = (0.01, 0.7, 0.29),
// p = (1, 0.3, 0): 0.0078 - 0.0208 < 0, so pi_g falls (the bad mass rises) at
// first, and recovers only after bad2 has absorbed most of bad1.
func TestSqueezeGoodActionCanFallFirst(t *testing.T) {
	logits := []float64{math.Log(0.01), math.Log(0.7), math.Log(0.29)}
	path := SqueezePath(logits, []float64{1, 0.3, 0}, SqueezeConfig{Eta: 0.1, Steps: 2000})
	if !(path[100][0] < path[0][0] && path[2000][0] > path[0][0]) {
		t.Errorf("pi_g: %v at 0, %v at 100, %v at 2000; want a dip then a rise", path[0][0], path[100][0], path[2000][0])
	}
}

func TestSoftmaxStableAndDegenerate(t *testing.T) {
	got := Softmax(nil, []float64{1000, 1000})
	if got[0] != 0.5 || got[1] != 0.5 {
		t.Errorf("large logits: %v", got)
	}
	if got := Softmax(nil, []float64{math.NaN(), 0}); !math.IsNaN(got[1]) {
		t.Errorf("NaN logit: %v", got)
	}
	if got := ExpectedGradient(nil, []float64{0, 0}, []float64{1, 1}, SqueezeConfig{Std: true}); got[0] != 0 || got[1] != 0 {
		t.Errorf("zero std: %v", got)
	}
	if got := ExpectedGradient(nil, []float64{0, 0}, []float64{1.5, 1}, SqueezeConfig{Std: true}); !math.IsNaN(got[0]) {
		t.Errorf("p outside [0, 1] with Std: %v", got)
	}
}
