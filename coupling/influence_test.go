package coupling

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestInfluence: Delta = eta A_i K_ij from the matrix and for selected
// pairs (Dot sums as the Go tiles do: its float32 rounding is their
// element, which is Gram's in the default build).
func TestInfluence(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	n, d := 20, 700
	g := randRows(rng, n, d)
	adv := make([]float64, n)
	for i := range adv {
		adv[i] = rng.NormFloat64()
	}
	k := gramGo(g, n, d, MeasureInner, GramConfig{})
	delta := Influence(nil, k, adv, 0.01)
	pairs := [][2]int{{0, 1}, {1, 0}, {5, 5}, {19, 3}}
	dp := InfluencePairs(nil, g, n, d, pairs, adv, 0.01)
	for p, ij := range pairs {
		i, j := ij[0], ij[1]
		if want := 0.01 * adv[i] * float64(k[i*n+j]); delta[i*n+j] != want {
			t.Errorf("Delta[%d,%d] = %v, want %v", i, j, delta[i*n+j], want)
		}
		dot := Dot(g[i*d:(i+1)*d], g[j*d:(j+1)*d])
		if float32(dot) != k[i*n+j] {
			t.Errorf("Dot(%d, %d) = %v, Gram %v", i, j, dot, k[i*n+j])
		}
		if want := 0.01 * adv[i] * dot; dp[p] != want {
			t.Errorf("pair %v: %v, want %v", ij, dp[p], want)
		}
	}
}

// TestHarmfulCoupling on a hand-made example: rows 0, 1 good, 2, 3 bad.
func TestHarmfulCoupling(t *testing.T) {
	// K (symmetric):
	//      0    1    2    3
	// 0    1   .5   .4  -.2
	// 1   .5    1   .3   .1
	// 2   .4   .3    1   .6
	// 3  -.2   .1   .6    1
	k := []float32{
		1, .5, .4, -.2,
		.5, 1, .3, .1,
		.4, .3, 1, .6,
		-.2, .1, .6, 1,
	}
	cfg := HarmfulConfig{
		Eta:        0.5,
		Advantages: []float64{2, 1, -1, 0.5},
		Labels:     []int8{1, 1, 0, 0},
		States:     []int{7, 8, 8, 9},
		Similarity: func(i, j int) float64 { return float64(i+j) / 10 },
		Edges:      []float64{0, 0.25, 0.5},
	}
	h := HarmfulCoupling(k, 4, nil, cfg)
	// eligible (good i with A>0, bad j, other state): (0,2), (0,3), (1,3);
	// (1,2) share state 8. Deltas: 0.5*2*0.4 = 0.4, 0.5*2*-0.2 = -0.2,
	// 0.5*1*0.1 = 0.05.
	if h.Pairs != 3 || h.Harmful != 2 {
		t.Fatalf("pairs %d, harmful %d; want 3, 2", h.Pairs, h.Harmful)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-7 }
	if !near(h.Rate, 2.0/3) || !near(h.Mass, 0.45/3) || !near(h.Net, 0.25/3) {
		t.Errorf("rate %v mass %v net %v", h.Rate, h.Mass, h.Net)
	}
	// similarities: (0,2) 0.2, (0,3) 0.3, (1,3) 0.4
	if b := h.Bins[0]; b.Pairs != 1 || b.Harmful != 1 || !near(b.Mass, 0.4) {
		t.Errorf("bin 0: %+v", b)
	}
	if b := h.Bins[1]; b.Pairs != 2 || b.Harmful != 1 || !near(b.Rate, 0.5) || !near(b.Mass, 0.025) || !near(b.MeanInner, -0.05) {
		t.Errorf("bin 1: %+v", b)
	}
	norms := []float64{1, 1, 1, 1}
	if h := HarmfulCoupling(k, 4, norms, cfg); !near(h.Bins[1].MeanCosine, -0.05) {
		t.Errorf("mean cosine %v", h.Bins[1].MeanCosine)
	}
	cfg.Labels = []int8{0, 0, 0, 0}
	if h := HarmfulCoupling(k, 4, nil, cfg); h.Pairs != 0 || !math.IsNaN(h.Rate) {
		t.Errorf("no good rows: %+v", h)
	}
}

func TestCouplingBySimilarity(t *testing.T) {
	c := []float32{
		1, .2, .4, .6,
		.2, 1, .8, float32(math.NaN()),
		.4, .8, 1, 0,
		.6, float32(math.NaN()), 0, 1,
	}
	sim := func(i, j int) float64 { return []float64{0, 0.1, 0.9, 1}[i] * []float64{0, 0.1, 0.9, 1}[j] }
	// pairs: (0,*) sim 0; (1,2) .09; (1,3) NaN value; (2,3) .9
	bins := CouplingBySimilarity(c, 4, sim, []float64{0, 0.5, 1}, nil)
	if bins[0].Pairs != 4 || math.Abs(bins[0].Mean-0.5) > 1e-7 {
		t.Errorf("bin 0: %+v", bins[0])
	}
	if want := math.Sqrt((0.09 + 0.01 + 0.01 + 0.09) / 3); math.Abs(bins[0].Std-want) > 1e-7 {
		t.Errorf("bin 0 std %v, want %v", bins[0].Std, want)
	}
	if bins[1].Pairs != 1 || bins[1].Mean != 0 || !math.IsNaN(bins[1].Std) {
		t.Errorf("bin 1: %+v", bins[1])
	}
	if binOf([]float64{0, 0.5, 1}, 1) != 1 || binOf([]float64{0, 0.5, 1}, 1.01) != -1 || binOf([]float64{0, 0.5, 1}, 0.5) != 1 {
		t.Error("binOf edges")
	}
}
