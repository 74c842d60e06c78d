package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestGroupAdvantagesHandValues(t *testing.T) {
	// Group {1,0,1,0}: mean 0.5, sample std sqrt(1/3) (N-1 divisor, as verl/torch.std).
	sd := math.Sqrt(1.0 / 3)
	got := GroupAdvantages(nil, []float64{1, 0, 1, 0}, AdvantageConfig{})
	want := []float64{0.5 / (sd + 1e-6), -0.5 / (sd + 1e-6), 0.5 / (sd + 1e-6), -0.5 / (sd + 1e-6)}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("std: A[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	got = GroupAdvantages(nil, []float64{1, 0, 1, 0}, AdvantageConfig{NoStd: true})
	if !slices.Equal(got, []float64{0.5, -0.5, 0.5, -0.5}) {
		t.Errorf("no-std: %v", got)
	}
	// verl's singleton convention: mean 0, std 1.
	eps := AdvantageEps // a variable, so 1/(1+eps) rounds as at run time
	if got := GroupAdvantages(nil, []float64{1}, AdvantageConfig{}); got[0] != 1/(1+eps) {
		t.Errorf("singleton: %v", got)
	}
	if got := GroupAdvantages(nil, []float64{3, 3, 3}, AdvantageConfig{}); !slices.Equal(got, []float64{0, 0, 0}) {
		t.Errorf("all-equal group: %v", got)
	}
}

// Advantages over interleaved groups equals GroupAdvantages applied to each
// group gathered in order, bit for bit, for dense and sparse group ids.
func TestAdvantagesMatchGroupAdvantages(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const n = 997
	rewards := make([]float64, n)
	dense := make([]int, n)
	for i := range rewards {
		dense[i] = rng.IntN(60)
		rewards[i] = float64(rng.IntN(3)) / 2 // outcomes 0, 0.5, 1: ties and zero-std groups occur
	}
	dense[0] = 59 // a singleton somewhere is likely; force one more id range
	sparse := make([]int, n)
	for i, g := range dense {
		sparse[i] = g*1_000_003 - 7_000_000 // negative and huge ids: map path
	}
	orig := slices.Clone(rewards)
	for _, cfg := range []AdvantageConfig{{}, {NoStd: true}, {Eps: 1e-4}} {
		for name, group := range map[string][]int{"dense": dense, "sparse": sparse} {
			got := Advantages(nil, rewards, group, cfg)
			for g := range 60 {
				var idx []int
				var rs []float64
				for i := range group {
					if dense[i] == g {
						idx = append(idx, i)
						rs = append(rs, rewards[i])
					}
				}
				want := GroupAdvantages(nil, rs, cfg)
				for k, i := range idx {
					if got[i] != want[k] && !(math.IsNaN(got[i]) && math.IsNaN(want[k])) {
						t.Fatalf("%s %+v: sample %d (group %d) = %v, want %v", name, cfg, i, g, got[i], want[k])
					}
				}
			}
		}
	}
	if !slices.Equal(rewards, orig) {
		t.Error("rewards modified")
	}
	// dst may alias rewards.
	alias := slices.Clone(rewards)
	want := Advantages(nil, rewards, dense, AdvantageConfig{})
	Advantages(alias, alias, dense, AdvantageConfig{})
	if !slices.Equal(alias, want) {
		t.Error("aliased dst differs")
	}
}

func TestAdvantagesNaNStaysInGroup(t *testing.T) {
	got := Advantages(nil, []float64{1, math.NaN(), 0, 1, 0}, []int{0, 0, 0, 1, 1}, AdvantageConfig{NoStd: true})
	for i := range 3 {
		if !math.IsNaN(got[i]) {
			t.Errorf("A[%d] = %v, want NaN", i, got[i])
		}
	}
	if got[3] != 0.5 || got[4] != -0.5 {
		t.Errorf("clean group: %v", got[3:])
	}
	if got := Advantages(nil, nil, nil, AdvantageConfig{}); len(got) != 0 {
		t.Errorf("empty: %v", got)
	}
}

func TestAdvantagesLengthMismatchPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"group": func() { Advantages(nil, []float64{1, 2}, []int{0}, AdvantageConfig{}) },
		"dst":   func() { Advantages(make([]float64, 1), []float64{1, 2}, []int{0, 0}, AdvantageConfig{}) },
	} {
		func() {
			defer func() {
				if r := recover(); r != "metrics: length mismatch" {
					t.Errorf("%s: recovered %v", name, r)
				}
			}()
			f()
		}()
	}
}

func TestZeroStdFraction(t *testing.T) {
	for _, c := range []struct {
		groups [][]float64
		want   float64
	}{
		{[][]float64{{1, 1}, {0, 1}, {0, 0, 0}, {1, 0, 1}}, 0.5},
		{[][]float64{{1}, {2, 2}}, 1}, // singleton left out
		{[][]float64{{1}, {}}, math.NaN()},
		{nil, math.NaN()},
		{[][]float64{{1, 1}, {math.NaN(), 0}}, math.NaN()},
	} {
		got := ZeroStdFraction(c.groups)
		if got != c.want && !(math.IsNaN(got) && math.IsNaN(c.want)) {
			t.Errorf("ZeroStdFraction(%v) = %v, want %v", c.groups, got, c.want)
		}
	}
}

func TestHomogeneousGroupProb(t *testing.T) {
	// Hand values: 0.5^8 * 2 = 1/128; p = 0.9, G = 2: 0.81 + 0.01.
	for _, c := range []struct {
		p    float64
		G    int
		want float64
	}{{0.5, 8, 1.0 / 128}, {0.9, 2, 0.82}, {0, 5, 1}, {1, 5, 1}, {0.3, 1, 1}} {
		if got := HomogeneousGroupProb(c.p, c.G); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("HomogeneousGroupProb(%v, %d) = %v, want %v", c.p, c.G, got, c.want)
		}
	}
	for _, bad := range []struct {
		p float64
		G int
	}{{-0.1, 4}, {1.1, 4}, {math.NaN(), 4}, {0.5, 0}} {
		if !math.IsNaN(HomogeneousGroupProb(bad.p, bad.G)) {
			t.Errorf("HomogeneousGroupProb(%v, %d) not NaN", bad.p, bad.G)
		}
	}
	// Monte Carlo: share of all-equal Bernoulli groups, through ZeroStdFraction.
	rng := rand.New(rand.NewPCG(2, 3))
	const p, G, B = 0.7, 4, 200000
	groups := make([][]float64, B)
	for b := range groups {
		g := make([]float64, G)
		for j := range g {
			if rng.Float64() < p {
				g[j] = 1
			}
		}
		groups[b] = g
	}
	want := HomogeneousGroupProb(p, G) // 0.2482
	se := math.Sqrt(want * (1 - want) / B)
	if got := ZeroStdFraction(groups); math.Abs(got-want) > 4*se {
		t.Errorf("MC zero-std share %v, closed form %v (4 se = %v)", got, want, 4*se)
	}
}
