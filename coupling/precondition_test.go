package coupling

import (
	"math"
	"math/rand/v2"
	"testing"
)

// adamDelta is one Adam step (Kingma & Ba 2015, Algorithm 1) from (m, v,
// t) with loss gradient grad, returned as the parameter change; written
// out here independently of AdamStep.
func adamDelta(a AdamStep, m, v, grad []float64) []float64 {
	t := float64(a.Step + 1)
	out := make([]float64, len(m))
	for k := range m {
		mm := a.Beta1*m[k] + (1-a.Beta1)*grad[k]
		vv := a.Beta2*v[k] + (1-a.Beta2)*grad[k]*grad[k]
		out[k] = -a.LR * (mm / (1 - math.Pow(a.Beta1, t))) / (math.Sqrt(vv/(1-math.Pow(a.Beta2, t))) + a.Eps)
	}
	return out
}

// TestAdamFirstOrder: the change of a real Adam step caused by adding a
// gradient G, Delta(G) - Delta(0), is -Gain P G to first order. The
// remainder is second order: G^2 in v' changes the denominator of the
// momentum term b1 m, so the relative error is O(|G| |m| / v) and falls
// tenfold when G does. Checked at |G| = 1e-2 and 1e-3 of the gradients'
// scale, where it must stay below 5 |G| (measured: 2.3e-2, 2.5e-3, 7e-5 at
// |G| = 1e-2 for t = 1, 9, 400) and shrink at least fivefold; t = 0 is
// excluded (v = 0 makes the first step sign-like, P = 1/eps).
func TestAdamFirstOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 1))
	const d = 500
	for _, step := range []int64{1, 9, 400} {
		a := AdamStep{LR: 3e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: step}
		m, v, dir := make([]float64, d), make([]float64, d), make([]float64, d)
		for k := range d {
			s := math.Exp(rng.NormFloat64()) * 1e-3 // per-coordinate gradient scale
			m[k] = s * rng.NormFloat64() * 0.3
			v[k] = s * s * (1 - math.Pow(a.Beta2, float64(step)))
			dir[k] = s * rng.NormFloat64()
		}
		p := a.Diagonal(nil, v)
		c := a.Gain()
		base := adamDelta(a, m, v, make([]float64, d))
		var prev float64
		for _, scale := range []float64{1e-2, 1e-3} {
			g := make([]float64, d)
			for k := range g {
				g[k] = scale * dir[k]
			}
			got := adamDelta(a, m, v, g)
			var num, den float64
			for k := range d {
				want := -c * p[k] * g[k]
				e := (got[k] - base[k]) - want
				num += e * e
				den += want * want
			}
			rel := math.Sqrt(num / den)
			t.Logf("t=%d |G| scale %g: relative error %.3g", step, scale, rel)
			if rel > 5*scale {
				t.Errorf("t=%d scale %g: relative error %.3g > %g", step, scale, rel, 5*scale)
			}
			if prev > 0 && rel > prev/5 {
				t.Errorf("t=%d: error %.3g did not shrink with G (was %.3g)", step, rel, prev)
			}
			prev = rel
		}
	}
}

// TestAdamDiagonalClosedForm checks Diagonal and Gain against hand values.
func TestAdamDiagonalClosedForm(t *testing.T) {
	a := AdamStep{LR: 0.1, Beta1: 0.5, Beta2: 0.75, Eps: 0.01, Step: 1}
	// t+1 = 2: 1-b1^2 = 0.75, 1-b2^2 = 0.4375; v = 0.4375/0.75 -> b2 v / bc2 = 1.
	p := a.Diagonal(nil, []float64{0.4375 / 0.75, 0, -1})
	if want := 1 / 1.01; math.Abs(p[0]-want) > 1e-15 {
		t.Errorf("P[0] = %v, want %v", p[0], want)
	}
	if p[1] != 100 {
		t.Errorf("zero moment: P = %v, want 1/eps = 100", p[1])
	}
	if !math.IsNaN(p[2]) {
		t.Errorf("negative moment: P = %v, want NaN", p[2])
	}
	if g, want := a.Gain(), 0.1*0.5/0.75; math.Abs(g-want) > 1e-16 {
		t.Errorf("Gain = %v, want %v", g, want)
	}
}

// TestScaledGramIsKernel: the Gram of rows scaled by sqrt(P) is
// <g_i, P g_j> summed directly in float64 (to float32 rounding, 1e-5
// relative to |g_i|_P |g_j|_P), the inputs are unchanged, and the cosine
// of identical rows stays 1.
func TestScaledGramIsKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	n, d := 6, 1000
	g := randRows(rng, n, d)
	orig := append([]float32(nil), g...)
	p := make([]float64, d)
	for k := range p {
		p[k] = math.Exp(2 * rng.NormFloat64())
	}
	sg := ScaleRows(nil, g, n, d, SqrtDiagonal(nil, p))
	k, err := Gram(nil, sg, n, d, GramConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		for j := range n {
			var want, ni, nj float64
			for l := range d {
				want += float64(g[i*d+l]) * p[l] * float64(g[j*d+l])
				ni += float64(g[i*d+l]) * p[l] * float64(g[i*d+l])
				nj += float64(g[j*d+l]) * p[l] * float64(g[j*d+l])
			}
			if diff := math.Abs(float64(k[i*n+j]) - want); diff > 1e-5*math.Sqrt(ni*nj) {
				t.Errorf("K[%d,%d] = %v, want %v", i, j, k[i*n+j], want)
			}
		}
	}
	for i, x := range g {
		if x != orig[i] {
			t.Fatal("ScaleRows modified its input")
		}
	}
	c, err := CosineGram(nil, ScaleRows(nil, append(append([]float32{}, g[:d]...), g[:d]...), 2, d, SqrtDiagonal(nil, p)), 2, d, GramConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(c[1])-1) > 1e-6 {
		t.Errorf("cosine of identical rows under P = %v, want 1", c[1])
	}
}
