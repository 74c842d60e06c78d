//go:build amd64 && !purego

package coupling

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// withGoKernel runs f with the portable kernel and restores the default.
func withGoKernel(f func()) {
	saved := useAsm
	defer func() { useAsm = saved }()
	useAsm = false
	f()
}

// TestKernelsEqual: the AVX-512 kernel and gramKernelGo give the same bits
// on the same packed panels, including products whose float64 sum lands
// exactly halfway between two float32 values (fma32's slow path).
func TestKernelsEqual(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for _, k := range []int{1, 2, 3, 17, 256} {
		a := make([]float32, k*14)
		b := make([]float32, k*32)
		for i := range a {
			a[i] = float32(rng.NormFloat64())
			if i%7 == 0 {
				a[i] = float32(rng.IntN(9) - 4) // small integers make ties likely
			}
		}
		for i := range b {
			b[i] = float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(40)-20)))
			if i%5 == 0 {
				b[i] = 1 + float32(rng.IntN(1<<12))/(1<<23)
			}
		}
		if k == 2 {
			// element (0, 0) is fma(A, B, 1*1), the double-rounding case of TestFMA32
			a[0], b[0] = 1, 1
			a[14], b[32] = math.Float32frombits(1073097259), math.Float32frombits(855973175)
		}
		c0 := make([]float64, 14*40)
		for i := range c0 {
			c0[i] = rng.NormFloat64()
		}
		c1 := slices.Clone(c0)
		gramKernel(14, 32, k, a, b, c0, 40)
		gramKernelGo(14, 32, k, a, b, c1, 40)
		for i := range c0 {
			if math.Float64bits(c0[i]) != math.Float64bits(c1[i]) {
				t.Fatalf("k=%d: element %d: asm %v, Go %v", k, i, c0[i], c1[i])
			}
		}
	}
}

// TestFMA32: fma32 is correctly rounded, checked against the exact value in
// float64 where the sum is exact (a*b + c with few significant bits) and at
// constructed midpoints.
func TestFMA32(t *testing.T) {
	// 1 + 2^-24 is halfway between 1 and 1+2^-23; the tiny product decides.
	one := float32(1)
	half := float32(0x1p-24)
	for _, c := range []struct {
		a, b, c, want float32
	}{
		{half, 1, one, 1},                      // exact midpoint: ties to even
		{half, 1 + 0x1p-23, one, 1 + 0x1p-23},  // just above: rounds up
		{half, 1 - 0x1p-24, one, 1},            // just below: rounds down
		{-half, 1 + 0x1p-23, one, 1 - 0x1p-24}, // below 1 the spacing halves
		{3, 5, 7, 22},
		{float32(math.Inf(1)), 1, 1, float32(math.Inf(1))},
	} {
		if got := fma32(c.a, c.b, c.c); got != c.want {
			t.Errorf("fma32(%g, %g, %g) = %g, want %g", c.a, c.b, c.c, got, c.want)
		}
	}
	// A case found by search (exact rationals in Python): the float64 sum
	// a*b + 1 rounds to the midpoint 1 + 2^-24, which float32() rounds to
	// even (1), but the exact sum lies above it.
	a := math.Float32frombits(1073097259) // 1.9231618642807007
	b := math.Float32frombits(855973175)  // 3.099304635156841e-08
	if naive := float32(float64(a)*float64(b) + 1); naive != 1 {
		t.Fatalf("naive = %v, the case is not a double-rounding case", naive)
	}
	if got := fma32(a, b, 1); got != 1+0x1p-23 {
		t.Errorf("fma32 double rounding: got %v, want 1+2^-23", got)
	}
}

// TestGramKernelsAgree: the Go tiles with the portable kernel equal the Go
// tiles with the assembly kernel bit for bit (the tiles differ, the
// summation order does not).
func TestGramKernelsAgree(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(4, 4))
	n, d := 75, 600
	g := randRows(rng, n, d)
	asm := gramGo(g, n, d, MeasureInner, GramConfig{TileRows: 40})
	var gok []float32
	var sq []float64
	withGoKernel(func() {
		gok = gramGo(g, n, d, MeasureInner, GramConfig{TileRows: 64})
		sq = SquaredNorms(nil, g, n, d)
	})
	if !slices.Equal(asm, gok) {
		t.Fatal("Gram differs between kernels")
	}
	if sq2 := SquaredNorms(nil, g, n, d); !slices.Equal(sq, sq2) {
		t.Fatal("SquaredNorms differs between kernels")
	}
	p := Projection{D: d, K: 50, Seed: 9}
	y1 := p.Project(nil, g, n)
	var y2 []float32
	withGoKernel(func() { y2 = p.Project(nil, g, n) })
	if !slices.Equal(y1, y2) {
		t.Fatal("Project differs between kernels")
	}
}
