package metrics

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"
)

// bruteModal averages the protocol's value over every K-subset of the n
// occurrences: modal count M, high = M >= t, and the label split with ties in
// the mode shared equally. It is the definition, evaluated literally.
func bruteModal(c []int, lab []int8, K, t int) (mean, high float64, split [3]float64) {
	var items []int // action index per occurrence
	for i, ci := range c {
		for range ci {
			items = append(items, i)
		}
	}
	n := len(items)
	var subsets float64
	k := make([]int, len(c))
	var rec func(start, left int)
	rec = func(start, left int) {
		if left == 0 {
			subsets++
			M := 0
			for _, v := range k {
				M = max(M, v)
			}
			mean += float64(M)
			if M >= t {
				high++
				var tied []int
				for i, v := range k {
					if v == M {
						tied = append(tied, i)
					}
				}
				for _, i := range tied {
					idx := 2
					switch lab[i] {
					case LabelGood:
						idx = 0
					case LabelBad:
						idx = 1
					}
					split[idx] += 1 / float64(len(tied))
				}
			}
			return
		}
		for p := start; p <= n-left; p++ {
			k[items[p]]++
			rec(p+1, left-1)
			k[items[p]]--
		}
	}
	rec(0, K)
	for i := range split {
		split[i] /= subsets
	}
	return mean / subsets, high / subsets, split
}

func TestModalStatsMatchesSubsetEnumeration(t *testing.T) {
	cases := []struct {
		c    []int
		lab  []int8
		K, t int
	}{
		{[]int{5, 3, 2}, []int8{1, 0, -1}, 10, 5},             // n == K: the protocol itself
		{[]int{6, 4, 3}, []int8{0, 1, -1}, 10, 5},             // n = 13 > K
		{[]int{5, 5, 2}, []int8{1, 0, -1}, 10, 5},             // ties at the mode
		{[]int{3, 3, 3, 3, 2}, []int8{1, 0, -1, 1, 0}, 10, 3}, // three-way ties possible
		{[]int{7, 1, 1, 1, 1, 1, 1}, []int8{0, 1, 1, 1, 1, 1, 1}, 10, 5},
		{[]int{2, 2, 2, 1}, []int8{1, 1, 0, -1}, 4, 2},
		{[]int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, make([]int8, 12), 10, 2},
		{[]int{14}, []int8{1}, 10, 5},
		{[]int{4, 4, 4}, []int8{1, 0, -1}, 6, 7}, // threshold above K: never high
	}
	var ms modalScratch
	for _, c := range cases {
		wm, wh, ws := bruteModal(c.c, c.lab, c.K, c.t)
		gm, gh, gs := ms.modalStats(c.c, c.lab, c.K, c.t)
		if math.Abs(gm-wm) > 1e-12 || math.Abs(gh-wh) > 1e-12 {
			t.Errorf("%v K=%d t=%d: E[M], P(high) = %v, %v; enumeration %v, %v", c.c, c.K, c.t, gm, gh, wm, wh)
		}
		for i := range gs {
			if math.Abs(gs[i]-ws[i]) > 1e-12 {
				t.Errorf("%v K=%d t=%d: split %v, enumeration %v", c.c, c.K, c.t, gs, ws)
				break
			}
		}
	}
}

// The split always sums to P(high), computed independently from the CDF.
func TestModalSplitSumsToHigh(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var ms modalScratch
	for trial := range 300 {
		m := 1 + rng.IntN(12)
		c := make([]int, m)
		lab := make([]int8, m)
		n := 0
		for i := range c {
			c[i] = 1 + rng.IntN(30)
			lab[i] = int8(rng.IntN(3) - 1)
			n += c[i]
		}
		K := 1 + rng.IntN(min(n, 20))
		th := 1 + rng.IntN(K)
		_, h, s := ms.modalStats(c, lab, K, th)
		if d := math.Abs(s[0] + s[1] + s[2] - h); d > 1e-9 || h < 0 || h > 1 {
			t.Fatalf("trial %d %v K=%d t=%d: split %v sums to %v, high %v", trial, c, K, th, s, s[0]+s[1]+s[2], h)
		}
	}
}

// For a huge urn, drawing without replacement approaches drawing with
// replacement: E[M] of 10 multinomial draws over 10 equally likely actions,
// computed exactly here with weights 1/(10^h h!), and the finite-population
// correction is O(K^2/n) = 1e-4.
func TestModalStatsLargeUrnApproachesMultinomial(t *testing.T) {
	const K, m = 10, 10
	fact := func(h int) float64 { return math.Gamma(float64(h + 1)) }
	cdf := func(j int) float64 {
		poly := make([]float64, K+1)
		poly[0] = 1
		for range m {
			next := make([]float64, K+1)
			for d := range poly {
				for h := 0; h <= j && d+h <= K; h++ {
					next[d+h] += poly[d] * math.Pow(0.1, float64(h)) / fact(h)
				}
			}
			poly = next
		}
		return poly[K] * fact(K)
	}
	var want float64
	for j := range K {
		want += 1 - cdf(j)
	}
	c := make([]int, m)
	for i := range c {
		c[i] = 100000
	}
	var ms modalScratch
	got, _, _ := ms.modalStats(c, make([]int8, m), K, 5)
	if math.Abs(got-want) > 2e-4 {
		t.Errorf("E[M] = %v, multinomial %v", got, want)
	}
	if math.Abs(want-2.749) > 0.005 { // the value quoted in the ConsistencyCounter doc
		t.Errorf("multinomial E[M] = %v, doc says about 2.75", want)
	}
}

func TestConsistencyCounterHandCounted(t *testing.T) {
	var samples []ConsistencySample
	add := func(it int, state, action string, labels ...int8) {
		for _, l := range labels {
			samples = append(samples, ConsistencySample{it, state, action, l})
		}
	}
	// State s: 6 x "go to x" (labels 4 good, 1 bad, 1 unknown -> good), 4 x "open y" (bad).
	add(1, "s", "go to x", 1, 1, 1, 1, 0, -1)
	add(1, "s", "open y", 0, 0, 0, 0)
	// State u: a 5-5 tie at the mode between a bad and an unknown action.
	add(1, "u", "a", 0, 0, 0, -1, -1)
	add(1, "u", "b", 1, 1, 0, 0, -1) // 2 good, 2 bad: unknown
	// Ineligible states (fewer than K = 10 occurrences).
	add(1, "v", "a", 1, 1, 1)
	add(2, "s", "go to x", 1)

	rng := rand.New(rand.NewPCG(9, 9))
	var ref []StateConsistency
	for trial := range 3 {
		c := NewConsistencyCounter(ConsistencyConfig{})
		for _, s := range samples {
			c.Add(s)
		}
		states := c.States()
		if trial == 0 {
			ref = states
			want := []StateConsistency{
				{Iteration: 1, State: "s", Occurrences: 10, Actions: 2, ModalAction: "go to x", ModalCount: 6,
					ModalLabel: LabelGood, Consistency: 6, High: 1, HighGood: 1},
				{Iteration: 1, State: "u", Occurrences: 10, Actions: 2, ModalAction: "a", ModalCount: 5,
					ModalLabel: LabelBad, Consistency: 5, High: 1, HighBad: 0.5, HighUnknown: 0.5},
			}
			if !reflect.DeepEqual(states, want) {
				t.Errorf("States:\ngot  %+v\nwant %+v", states, want)
			}
			rows := c.Result()
			if len(rows) != 2 {
				t.Fatalf("rows: %+v", rows)
			}
			w1 := ConsistencyRow{Iteration: 1, States: 3, Eligible: 2, MeanConsistency: 5.5, High: 1, HighGood: 0.5, HighBad: 0.25, HighUnknown: 0.25}
			// Wilson intervals over the 2 states: high 1+1 of 2, good 1+0,
			// bad and unknown 0+0.5; consistency (6-1)/9 + (5-1)/9 = 1 of 2 on [1, 10].
			w1.HighCI, w1.HighGoodCI = Wilson(2, 2, 0.95), Wilson(1, 2, 0.95)
			w1.HighBadCI, w1.HighUnknownCI = Wilson(0.5, 2, 0.95), Wilson(0.5, 2, 0.95)
			wc := Wilson(1, 2, 0.95)
			w1.MeanConsistencyCI = Interval{Point: 5.5, Lo: 1 + 9*wc.Lo, Hi: 1 + 9*wc.Hi}
			w1.HighCI.Point, w1.HighBadCI.Point, w1.HighUnknownCI.Point = 1, 0.25, 0.25
			if !closeRow(rows[0], w1) {
				t.Errorf("iteration 1: %+v, want %+v", rows[0], w1)
			}
			r2 := rows[1]
			if r2.Iteration != 2 || r2.States != 1 || r2.Eligible != 0 || !math.IsNaN(r2.High) || !math.IsNaN(r2.MeanConsistency) {
				t.Errorf("iteration 2: %+v", r2)
			}
		} else if !reflect.DeepEqual(states, ref) {
			t.Errorf("arrival order changed the result:\n%+v\n%+v", states, ref)
		}
		rng.Shuffle(len(samples), func(i, j int) { samples[i], samples[j] = samples[j], samples[i] })
	}
}

// With K = 4 and n = 8 the value is the subset average, not the plug-in.
func TestConsistencyCounterSubsampled(t *testing.T) {
	c := NewConsistencyCounter(ConsistencyConfig{K: 4, Threshold: 3})
	for i := range 8 {
		c.Add(ConsistencySample{Iteration: 0, State: "s", Action: fmt.Sprint("a", min(i, 4)), Label: -1})
	}
	// Counts {a0:1, a1:1, a2:1, a3:1, a4:4}.
	wm, wh, _ := bruteModal([]int{1, 1, 1, 1, 4}, []int8{-1, -1, -1, -1, -1}, 4, 3)
	got := c.States()
	if len(got) != 1 || math.Abs(got[0].Consistency-wm) > 1e-12 || math.Abs(got[0].High-wh) > 1e-12 || got[0].ModalAction != "a4" {
		t.Errorf("got %+v, want E[M]=%v P(high)=%v", got, wm, wh)
	}
}

func TestConsistencyConfigPanics(t *testing.T) {
	for _, cfg := range []ConsistencyConfig{{K: -1}, {Threshold: -2}, {K: MaxConsistencyK + 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%+v: no panic", cfg)
				}
			}()
			NewConsistencyCounter(cfg)
		}()
	}
}

// Large K and n stay finite (the weights are scaled to at most e^K).
func TestModalStatsLargeKFinite(t *testing.T) {
	var ms modalScratch
	c := []int{3000, 2000, 1000, 5, 1}
	K := MaxConsistencyK
	m, h, s := ms.modalStats(c, []int8{1, 0, -1, 1, 0}, K, K/2)
	// M is almost surely k_1, the count of the largest action, whose
	// hypergeometric mean is K*3000/6006 = 249.75 (k_2 has mean 166.5 and sd
	// about 9.6); E[M] >= E[k_1], and P(M >= 250) is about one half.
	if !(m >= 249.75-1e-9 && m <= 250.5) || !(h > 0.3 && h < 0.7) || math.Abs(s[0]+s[1]+s[2]-h) > 1e-9 {
		t.Errorf("E[M]=%v P(high)=%v split=%v", m, h, s)
	}
}

// The per-state estimates are computed in parallel; the result must not
// depend on GOMAXPROCS.
func TestConsistencyIndependentOfGOMAXPROCS(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	c := NewConsistencyCounter(ConsistencyConfig{})
	for i := 0; i < 20000; i++ {
		c.Add(ConsistencySample{Iteration: rng.IntN(3), State: fmt.Sprint("s", rng.IntN(400)),
			Action: fmt.Sprint("a", rng.IntN(6)), Label: int8(rng.IntN(3)) - 1})
	}
	prev := runtime.GOMAXPROCS(1)
	one := c.States()
	runtime.GOMAXPROCS(2)
	two := c.States()
	runtime.GOMAXPROCS(prev)
	if len(one) < 100 || !reflect.DeepEqual(one, two) {
		t.Fatalf("GOMAXPROCS 1 and 2 differ (or too few states: %d)", len(one))
	}
}

// closeRow compares consistency rows, the interval bounds within 1e-12.
func closeRow(a, b ConsistencyRow) bool {
	ivs := func(r ConsistencyRow) []Interval {
		return []Interval{r.MeanConsistencyCI, r.HighCI, r.HighGoodCI, r.HighBadCI, r.HighUnknownCI}
	}
	ia, ib := ivs(a), ivs(b)
	for i := range ia {
		if ia[i].Point != ib[i].Point || math.Abs(ia[i].Lo-ib[i].Lo) > 1e-12 || math.Abs(ia[i].Hi-ib[i].Hi) > 1e-12 {
			return false
		}
	}
	a.MeanConsistencyCI, a.HighCI, a.HighGoodCI, a.HighBadCI, a.HighUnknownCI = Interval{}, Interval{}, Interval{}, Interval{}, Interval{}
	b.MeanConsistencyCI, b.HighCI, b.HighGoodCI, b.HighBadCI, b.HighUnknownCI = Interval{}, Interval{}, Interval{}, Interval{}, Interval{}
	return a == b
}
