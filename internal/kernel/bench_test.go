package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkF32 times each F32 kernel this machine runs alone on one 256-deep
// block whose panels stay in L1 (the kernel's peak: packing and the tile
// loops of the callers are excluded). The sub-benchmark names the kernel
// and its tile; GFLOP/s is reported per core.
func BenchmarkF32(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	const k = 256
	for _, id := range Runnable() {
		mr, nr := id.F32Tile()
		b.Run(fmt.Sprintf("%s-%dx%d", id, mr, nr), func(b *testing.B) {
			a := make([]float32, k*mr)
			p := make([]float32, k*nr)
			for i := range a {
				a[i] = float32(rng.NormFloat64())
			}
			for i := range p {
				p[i] = float32(rng.NormFloat64())
			}
			c := make([]float64, mr*nr)
			defer Use(id)()
			b.ResetTimer()
			for b.Loop() {
				F32(mr, nr, k, a, p, c, nr)
			}
			b.ReportMetric(float64(2*mr*nr*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkF64 is BenchmarkF32 for the F64 kernels.
func BenchmarkF64(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const k = 256
	for _, id := range Runnable() {
		mr, nr := id.F64Tile()
		b.Run(fmt.Sprintf("%s-%dx%d", id, mr, nr), func(b *testing.B) {
			a := make([]float64, k*mr)
			p := make([]float64, k*nr)
			for i := range a {
				a[i] = rng.NormFloat64()
			}
			for i := range p {
				p[i] = rng.NormFloat64()
			}
			c := make([]float64, mr*nr)
			defer Use(id)()
			b.ResetTimer()
			for b.Loop() {
				F64(k, a, p, c, nr, true)
			}
			b.ReportMetric(float64(2*mr*nr*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkPackF32 times packing 112 rows of a row-major matrix (d = 1024)
// into panels of each tile height and width in use, 256 columns deep.
func BenchmarkPackF32(b *testing.B) {
	const rows, d, kb = 112, 1024, 256
	g := make([]float32, (rows+32)*d)
	for i := range g {
		g[i] = float32(i)
	}
	dst := make([]float32, (rows+32)*kb)
	for _, id := range Runnable() {
		mr, nr := id.F32Tile()
		for _, w := range []int{mr, nr} {
			b.Run(fmt.Sprintf("%s/w=%d", id, w), func(b *testing.B) {
				defer Use(id)()
				for b.Loop() {
					PackF32(dst, g, d, 0, rows, 0, kb, w)
				}
				b.SetBytes(4 * rows * kb)
			})
		}
	}
}
