package coupling

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// twoClasses returns n rows of dimension h: good rows (label 1) centred at
// +shift on the first coordinate, bad rows at -shift, unit Gaussian noise.
func twoClasses(rng *rand.Rand, n, h int, shift float64) ([]float64, []int8) {
	x := make([]float64, n*h)
	labels := make([]int8, n)
	for i := range n {
		labels[i] = int8(i % 2)
		for l := range h {
			x[i*h+l] = rng.NormFloat64()
		}
		if labels[i] == 1 {
			x[i*h] += shift
		} else {
			x[i*h] -= shift
		}
	}
	return x, labels
}

// TestFisherRatio: in one dimension without shrinkage J equals the closed
// form n0 n1/n (m1-m0)^2 / S_W; it grows with the separation.
func TestFisherRatio(t *testing.T) {
	x := []float64{1, 2, 3, 5, 7, 9}
	labels := []int8{0, 0, 0, 1, 1, 1, 1}[:6]
	// m0 = 2, m1 = 7; S_W = (1+0+1) + (4+0+4) = 10; n0 n1 / n = 1.5
	want := 1.5 * 25 / 10.0
	if got := FisherRatio(x, 6, 1, labels, FisherConfig{Ridge: -1}); math.Abs(got-want) > 1e-12 {
		t.Errorf("1-D Fisher ratio %v, want %v", got, want)
	}
	rng := rand.New(rand.NewPCG(13, 13))
	prev := 0.0
	for _, shift := range []float64{0, 1, 3} {
		x, labels := twoClasses(rng, 200, 10, shift)
		j := FisherRatio(x, 200, 10, labels, FisherConfig{})
		if !(j > prev) {
			t.Errorf("shift %v: J = %v, not above %v", shift, j, prev)
		}
		prev = j
	}
	if v := FisherRatio([]float64{1, 2}, 2, 1, []int8{1, 1}, FisherConfig{}); !math.IsNaN(v) {
		t.Errorf("one class: %v", v)
	}
}

// TestSilhouette: a hand example with Euclidean distances, and the cosine
// version on separated versus mixed classes.
func TestSilhouette(t *testing.T) {
	// points 0, 1 (bad) and 4, 6 (good) on a line:
	// s(0) = (5 - 1)/5, s(1) = (4 - 1)/4, s(4) = (3.5 - 2)/3.5, s(6) = (5.5 - 2)/5.5
	x := []float64{0, 1, 4, 6}
	labels := []int8{0, 0, 1, 1}
	want := (4.0/5 + 3.0/4 + 1.5/3.5 + 3.5/5.5) / 4
	if got := Silhouette(x, 4, 1, labels, SilhouetteConfig{Euclidean: true}); math.Abs(got-want) > 1e-12 {
		t.Errorf("silhouette %v, want %v", got, want)
	}
	rng := rand.New(rand.NewPCG(14, 14))
	xs, ls := twoClasses(rng, 100, 5, 4)
	xm, lm := twoClasses(rng, 100, 5, 0)
	s1 := Silhouette(xs, 100, 5, ls, SilhouetteConfig{})
	s0 := Silhouette(xm, 100, 5, lm, SilhouetteConfig{})
	if !(s1 > 0.3 && math.Abs(s0) < 0.05) {
		t.Errorf("separated %v, mixed %v", s1, s0)
	}
}

// TestLinearProbe: near-perfect accuracy on separated classes, chance on
// mixed ones, the same result for the same seed, errors for too few rows.
func TestLinearProbe(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 15))
	xs, ls := twoClasses(rng, 200, 20, 3)
	r, err := LinearProbe(xs, 200, 20, ls, ProbeConfig{}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if r.Accuracy < 0.97 || len(r.FoldAccuracy) != 5 || r.Majority != 0.5 {
		t.Errorf("separated: %+v", r)
	}
	r2, _ := LinearProbe(xs, 200, 20, ls, ProbeConfig{}, rand.New(rand.NewPCG(1, 2)))
	if r2.Accuracy != r.Accuracy {
		t.Error("not deterministic for a seed")
	}
	xm, lm := twoClasses(rng, 200, 20, 0)
	r, _ = LinearProbe(xm, 200, 20, lm, ProbeConfig{Folds: 4}, rand.New(rand.NewPCG(1, 2)))
	if math.Abs(r.Accuracy-0.5) > 0.12 {
		t.Errorf("mixed: accuracy %v, want about 0.5", r.Accuracy)
	}
	// more dimensions than rows, one informative coordinate among 100: the
	// L2 penalty keeps the fit finite and the probe stays above chance
	// (the noise coordinates cap it near 0.75 at this size)
	xw, lw := twoClasses(rng, 40, 100, 4)
	if r, err := LinearProbe(xw, 40, 100, lw, ProbeConfig{}, rand.New(rand.NewPCG(3, 3))); err != nil || r.Accuracy < 0.65 {
		t.Errorf("wide: %+v %v", r, err)
	}
	if _, err := LinearProbe(xs[:3*20], 3, 20, ls[:3], ProbeConfig{}, rand.New(rand.NewPCG(1, 2))); !errors.Is(err, ErrParameter) {
		t.Errorf("too few rows: err = %v", err)
	}
}
