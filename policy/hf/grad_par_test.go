package hf

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/gradcouple/gradcouple/internal/kernel"
)

// TestParGemm checks that the split products equal one kernel.Gemm call
// bit for bit, for every transpose, row and column splits, with and
// without accumulation, in float32 and float64, at 1 to 5 goroutines.
func TestParGemm(t *testing.T) {
	testParGemm[float32](t)
	testParGemm[float64](t)
}

func testParGemm[F float](t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []F {
		x := make([]F, n)
		for i := range x {
			x[i] = F(rng.NormFloat64())
		}
		return x
	}
	old := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(old)
	for _, sh := range [][3]int{{300, 70, 40}, {70, 300, 40}, {5, 1000, 300}, {1000, 17, 33}, {129, 257, 513}} {
		m, n, k := sh[0], sh[1], sh[2]
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				for _, add := range []bool{false, true} {
					a, b, c0 := fill(m*k), fill(k*n), fill(m*n+3)
					lda, ldb := k, n
					if tA {
						lda = m
					}
					if tB {
						ldb = k
					}
					want := append([]F(nil), c0...)
					var w kernel.GemmBuf[F]
					kernel.Gemm(&w, tA, tB, m, n, k, a, lda, b, ldb, want, n, add)
					for procs := 1; procs <= 5; procs++ {
						runtime.GOMAXPROCS(procs)
						got := append([]F(nil), c0...)
						newPar[F]().gemm(tA, tB, m, n, k, a, lda, b, ldb, got, n, add)
						if !sameBits(got, want) {
							t.Errorf("%s: %dx%dx%d tA %v tB %v add %v, %d goroutines: differs from one kernel.Gemm", fmt.Sprintf("%T", a[0]), m, n, k, tA, tB, add, procs)
						}
					}
				}
			}
		}
	}
}
