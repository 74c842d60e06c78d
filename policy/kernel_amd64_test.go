//go:build amd64 && !purego

package policy

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// withKernel runs f with the micro-kernel of the given CPU level (0 Go,
// 1 AVX2, 2 AVX-512), if this CPU has it, and restores the default.
func withKernel(t testing.TB, level int, f func()) bool {
	if level > cpuLevel {
		return false
	}
	saved := cpuLevel
	defer func() {
		cpuLevel = saved
		gemmMR, gemmNR = kernelTile()
	}()
	cpuLevel = level
	gemmMR, gemmNR = kernelTile()
	f()
	return true
}

// TestGemmKernels runs the gemm test with every kernel this CPU supports,
// so that the AVX2 and Go kernels are tested on AVX-512 machines too.
func TestGemmKernels(t *testing.T) {
	for level := range 3 {
		withKernel(t, level, func() { TestGemm(t) })
	}
}

func BenchmarkGemmKernels(b *testing.B) {
	for level := range 3 {
		withKernel(b, level, func() { BenchmarkGemm(b) })
	}
}

// TestExpAVX512: the vector exp agrees with math.Exp to 4e-16 relative
// (about 2 ulp) on [-700, 700], and underflows to 0 and overflows to +Inf
// where math.Exp does.
func TestExpAVX512(t *testing.T) {
	if cpuLevel < 2 {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, 4096)
	for i := range x {
		switch i % 4 {
		case 0:
			x[i] = -700 * rng.Float64()
		case 1:
			x[i] = 700 * rng.Float64()
		case 2:
			x[i] = rng.NormFloat64()
		default:
			x[i] = 1e-3 * rng.NormFloat64()
		}
	}
	x[0], x[1], x[2], x[3] = -800, 800, 0, -1e6
	y := slices.Clone(x)
	sum := expAVX512(&y[0], len(y), 0, 1)
	var want float64
	for i, v := range x {
		e := math.Exp(v)
		want += e
		switch {
		case e == 0 || math.IsInf(e, 1):
			if y[i] != e {
				t.Fatalf("exp(%v) = %v, want %v", v, y[i], e)
			}
		case math.Abs(y[i]-e) > 4e-16*e:
			t.Fatalf("exp(%v) = %v, want %v (rel err %.2g)", v, y[i], e, math.Abs(y[i]-e)/e)
		}
	}
	if !math.IsInf(sum, 1) || !math.IsInf(want, 1) {
		t.Errorf("sum %v, want +Inf", sum)
	}
	z := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}
	s := expShiftSum(z, 9, 0.5)
	var ws float64
	for i, v := range z {
		e := math.Exp((float64(i+1) - 9) * 0.5)
		ws += e
		if math.Abs(v-e) > 4e-16*e {
			t.Errorf("expShiftSum[%d] = %v, want %v", i, v, e)
		}
	}
	if math.Abs(s-ws) > 1e-15*ws {
		t.Errorf("expShiftSum sum %v, want %v", s, ws)
	}
}
