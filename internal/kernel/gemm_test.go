package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// naiveGemm is the textbook triple loop, the reference for gemm.
func naiveGemm(tA, tB bool, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int, add bool) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for l := 0; l < k; l++ {
				var av, bv float64
				if tA {
					av = a[l*lda+i]
				} else {
					av = a[i*lda+l]
				}
				if tB {
					bv = b[j*ldb+l]
				} else {
					bv = b[l*ldb+j]
				}
				s += av * bv
			}
			if add {
				c[i*ldc+j] += s
			} else {
				c[i*ldc+j] = s
			}
		}
	}
}

// TestGemm compares gemm with the triple loop for every transpose
// combination over shapes that exercise partial tiles and several packed
// blocks (k > gemmKC, m > gemmMC, n > gemmNC), with leading dimensions
// larger than the matrices. Both sum the same products in different orders,
// so they agree to a few ulps of the sum of |products| (tolerance 1e-13
// relative to it for k <= 600).
func TestGemm(t *testing.T) {
	for _, id := range Runnable() {
		t.Run(id.String(), func(t *testing.T) {
			defer Use(id)()
			testGemm(t)
		})
	}
}

func testGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var w GemmBuf[float64]
	shapes := [][3]int{{1, 1, 1}, {4, 8, 1}, {5, 9, 3}, {3, 7, 0}, {37, 19, 64}, {130, 21, 300}, {7, 1030, 17}, {64, 64, 600}}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				for _, add := range []bool{false, true} {
					lda, ldb, ldc := k+3, n+2, n+5
					if tA {
						lda = m + 3
					}
					if tB {
						ldb = k + 2
					}
					rowsA, rowsB := m, k
					if tA {
						rowsA = k
					}
					if tB {
						rowsB = n
					}
					a := randSlice(rng, rowsA*lda+1)
					b := randSlice(rng, rowsB*ldb+1)
					c := randSlice(rng, m*ldc+1)
					want := append([]float64(nil), c...)
					naiveGemm(tA, tB, m, n, k, a, lda, b, ldb, want, ldc, add)
					Gemm(&w, tA, tB, m, n, k, a, lda, b, ldb, c, ldc, add)
					for i := 0; i < m; i++ {
						for j := 0; j < ldc && i*ldc+j < len(c); j++ {
							g, wv := c[i*ldc+j], want[i*ldc+j]
							if math.Abs(g-wv) > 1e-13*float64(k+1)*4 {
								t.Fatalf("m=%d n=%d k=%d tA=%v tB=%v add=%v: C[%d,%d] = %v, want %v", m, n, k, tA, tB, add, i, j, g, wv)
							}
						}
					}
				}
			}
		}
	}
}

func randSlice(rng *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = rng.NormFloat64()
	}
	return s
}

func BenchmarkGemm(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range [][3]int{{200, 192, 64}, {200, 256, 64}, {64, 256, 200}} {
		m, n, k := s[0], s[1], s[2]
		a, bb, c := randSlice(rng, m*k), randSlice(rng, k*n), make([]float64, m*n)
		for _, id := range Runnable() {
			var w GemmBuf[float64]
			b.Run(fmt.Sprintf("%s/%dx%dx%d", id, m, n, k), func(b *testing.B) {
				defer Use(id)()
				for b.Loop() {
					Gemm(&w, false, false, m, n, k, a, k, bb, n, c, n, false)
				}
				b.ReportMetric(float64(2*m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			})
		}
	}
}

// BenchmarkGemm32: the float32 gemm on the shapes of BenchmarkGemm, with
// every kernel set.
func BenchmarkGemm32(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range [][3]int{{200, 192, 64}, {200, 256, 64}, {64, 256, 200}} {
		m, n, k := s[0], s[1], s[2]
		a, bb, c := randSlice32(rng, m*k), randSlice32(rng, k*n), make([]float32, m*n)
		for _, id := range Runnable() {
			var w GemmBuf[float32]
			b.Run(fmt.Sprintf("%s/%dx%dx%d", id, m, n, k), func(b *testing.B) {
				defer Use(id)()
				for b.Loop() {
					Gemm(&w, false, false, m, n, k, a, k, bb, n, c, n, false)
				}
				b.ReportMetric(float64(2*m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			})
		}
	}
}

// TestGemm32 compares the float32 gemm (gemm32 on F32) with the
// float64 triple loop on the same float32 inputs, with every kernel set
// this machine runs, over the shapes of TestGemm: every transpose
// combination, partial tiles, several k blocks (k > gemmKC), row blocks
// (m > 126) and column blocks (n > gemm32NC), leading dimensions larger
// than the matrices. Each element of a k block is a float32 sum of at most
// kb = min(k, 256) products (each fused multiply-add rounds once, so its
// error is at most kb * 2^-24 times the block's sum of |products|), the
// blocks and C are added in float64, and the result is rounded to float32
// once: |C - C_exact| <= (kb + 1) * 2^-24 * (sum |a b| + |C0|), the bound
// checked. Outside the m x n window C must be unchanged.
func TestGemm32(t *testing.T) {
	for _, id := range Runnable() {
		t.Run(id.String(), func(t *testing.T) {
			defer Use(id)()
			testGemm32(t)
		})
	}
}

func testGemm32(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var w GemmBuf[float32]
	shapes := [][3]int{{1, 1, 1}, {4, 8, 1}, {5, 9, 3}, {3, 7, 0}, {14, 32, 16}, {15, 33, 257}, {37, 19, 64}, {130, 21, 300}, {7, 1030, 17}, {64, 64, 600}, {300, 40, 70}}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				for _, add := range []bool{false, true} {
					lda, ldb, ldc := k+3, n+2, n+5
					if tA {
						lda = m + 3
					}
					if tB {
						ldb = k + 2
					}
					rowsA, rowsB := m, k
					if tA {
						rowsA = k
					}
					if tB {
						rowsB = n
					}
					a := randSlice32(rng, rowsA*lda+1)
					b := randSlice32(rng, rowsB*ldb+1)
					c := randSlice32(rng, m*ldc+1)
					c0 := slices.Clone(c)
					// the exact result in float64 and the sum of |products|
					want := widen(c)
					abs := make([]float64, len(c))
					for i := range abs {
						abs[i] = math.Abs(want[i])
					}
					naiveGemm(tA, tB, m, n, k, widen(a), lda, widen(b), ldb, want, ldc, add)
					naiveGemm(tA, tB, m, n, k, absf(widen(a)), lda, absf(widen(b)), ldb, abs, ldc, add)
					Gemm(&w, tA, tB, m, n, k, a, lda, b, ldb, c, ldc, add)
					kb := float64(min(k, gemmKC))
					for i := range c {
						r, col := i/ldc, i%ldc
						if r >= m || col >= n {
							if math.Float32bits(c[i]) != math.Float32bits(c0[i]) {
								t.Fatalf("m=%d n=%d k=%d tA=%v tB=%v add=%v: C[%d] outside the window changed", m, n, k, tA, tB, add, i)
							}
							continue
						}
						tol := (kb + 1) * 0x1p-24 * abs[i]
						if d := math.Abs(float64(c[i]) - want[i]); d > tol {
							t.Fatalf("m=%d n=%d k=%d tA=%v tB=%v add=%v: C[%d,%d] = %v, want %v (|diff| %.3g > %.3g)", m, n, k, tA, tB, add, r, col, c[i], want[i], d, tol)
						}
					}
				}
			}
		}
	}
}

func randSlice32(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

func widen(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

func absf(x []float64) []float64 {
	for i, v := range x {
		x[i] = math.Abs(v)
	}
	return x
}
