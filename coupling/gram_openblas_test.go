//go:build openblas

package coupling

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestOpenBLASMatchesGo: built with -tags openblas, Gram and CosineGram
// (OpenBLAS's ssyrk) agree with the Go tiles within float32 rounding: K to
// 1e-6 of sum_l |g_i[l] g_j[l]| (on D = 16384 the measured maximum is 3e-7,
// TestGramPrecision), cosines to 1e-6 (opposite rows -1 within 1e-6); both
// matrices are exactly symmetric, C_ii is exactly 1, a zero row has a zero row and column of cosines, NaN
// in a row makes its row and column NaN, the input is left unchanged and
// NaN left in a reused dst does not leak into the result. The shapes cover
// one row, d = 0 and 1 (d = 0 runs on the Go tiles), and n not a multiple
// of OpenBLAS's blocks.
func TestOpenBLASMatchesGo(t *testing.T) {
	config, core, threads := blasLibrary()
	t.Logf("%s; core %s, %d threads", config, core, threads)
	rng := rand.New(rand.NewPCG(8, 8))
	for _, sh := range []struct{ n, d int }{{1, 1}, {1, 40}, {4, 0}, {3, 1}, {17, 300}, {70, 1000}, {129, 2053}, {300, 257}} {
		g := randRows(rng, sh.n, sh.d)
		n, d := sh.n, sh.d
		if n >= 3 && d >= 1 {
			clear(g[1*d : 2*d]) // a zero row
			copy(g[2*d:3*d], g[0:d])
			for l := range d {
				g[2*d+l] *= -3 // opposite to row 0
			}
		}
		orig := slices.Clone(g)
		_, abs := gram64(g, n, d)
		for _, m := range []Measure{MeasureInner, MeasureCosine} {
			want := gramGo(g, n, d, m, GramConfig{})
			dst := make([]float32, n*n)
			for i := range dst {
				dst[i] = float32(math.NaN())
			}
			var got []float32
			var err error
			if m == MeasureInner {
				got, err = Gram(dst, g, n, d, GramConfig{})
			} else {
				got, err = CosineGram(dst, g, n, d, GramConfig{})
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(g, orig) {
				t.Fatalf("n=%d d=%d: input modified", n, d)
			}
			for i := range n {
				for j := range n {
					v, w := float64(got[i*n+j]), float64(want[i*n+j])
					if got[i*n+j] != got[j*n+i] {
						t.Fatalf("n=%d d=%d measure %d: not symmetric at %d,%d", n, d, m, i, j)
					}
					tol := 1e-6
					if m == MeasureInner {
						tol *= abs[i*n+j]
					}
					if math.Abs(v-w) > tol || math.IsNaN(v) {
						t.Fatalf("n=%d d=%d measure %d: [%d,%d] = %v, Go tiles %v", n, d, m, i, j, v, w)
					}
				}
			}
			if m == MeasureCosine && n >= 3 && d >= 1 {
				for i := range n {
					if want := float32(1); i == 1 {
						want = 0
						if got[i*n+i] != want || got[i*n] != 0 || got[i] != 0 {
							t.Errorf("n=%d d=%d: zero row: C[1,1] = %v, C[1,0] = %v, C[0,1] = %v", n, d, got[i*n+i], got[i*n], got[i])
						}
					} else if got[i*n+i] != want {
						t.Errorf("n=%d d=%d: C[%d,%d] = %v, want 1", n, d, i, i, got[i*n+i])
					}
				}
				if math.Abs(float64(got[2])+1) > 1e-6 {
					t.Errorf("n=%d d=%d: opposite rows: %v, want -1 within 1e-6", n, d, got[2])
				}
			}
		}
	}

	// NaN propagates into its row and column, and nowhere else.
	n, d := 40, 500
	g := randRows(rng, n, d)
	g[7*d+123] = float32(math.NaN())
	for _, m := range []Measure{MeasureInner, MeasureCosine} {
		var got []float32
		if m == MeasureInner {
			got, _ = Gram(nil, g, n, d, GramConfig{})
		} else {
			got, _ = CosineGram(nil, g, n, d, GramConfig{})
		}
		for i := range n {
			for j := range n {
				if nan := math.IsNaN(float64(got[i*n+j])); nan != (i == 7 || j == 7) {
					t.Fatalf("measure %d: [%d,%d] = %v", m, i, j, got[i*n+j])
				}
			}
		}
	}
}
