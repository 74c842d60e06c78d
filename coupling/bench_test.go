package coupling

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gradcouple/gradcouple/internal/kernel"
)

// gramFlops is the nominal flop count of G G^T, 2 N^2 D, the convention of
// GEMM benchmarks; Gram, like OpenBLAS's syrk behind NumPy's G @ G.T, does
// about half of it by symmetry.
func gramFlops(n, d int) float64 { return 2 * float64(n) * float64(n) * float64(d) }

func benchGram(b *testing.B, n, d int) {
	g := randRows(rand.New(rand.NewPCG(uint64(n), uint64(d))), n, d)
	dst := make([]float32, n*n)
	b.SetBytes(int64(4 * n * d))
	b.ResetTimer()
	for range b.N {
		if _, err := Gram(dst, g, n, d, GramConfig{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(gramFlops(n, d)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkGram is the Gram of N = 4096 rows of D = 16384 float32
// coordinates (DESIGN.md §6), the size compared with NumPy
// (TestNumPyAnchor); with -tags openblas it times OpenBLAS's ssyrk.
func BenchmarkGram(b *testing.B) {
	if config, core, threads := blasLibrary(); config != "" {
		b.Logf("%s, kernel %s, %d threads", config, core, threads)
	} else {
		b.Logf("kernel %s", KernelName())
	}
	benchGram(b, 4096, 16384)
}

// BenchmarkGramKernels is the Gram of N = 1024 rows of D = 4096 with each
// micro-kernel this machine runs (sub-benchmark named by KernelName), for
// comparing the kernels in one run; GRADCOUPLE_KERNEL does not apply here.
func BenchmarkGramKernels(b *testing.B) {
	for _, id := range kernel.Runnable() {
		mr, nr := id.F32Tile()
		b.Run(fmt.Sprintf("%s-%dx%d", id, mr, nr), func(b *testing.B) {
			withKernel(id, func() { benchGram(b, 1024, 4096) })
		})
	}
}

// BenchmarkGramScaling is the scaling table over N and D, the sizes of
// GRADCOUPLE_NUMPY_SIZES=scaling in TestNumPyAnchor.
func BenchmarkGramScaling(b *testing.B) {
	for _, n := range []int{512, 1024, 2048, 4096} {
		for _, d := range []int{4096, 16384, 65536} {
			b.Run(fmt.Sprintf("N=%d/D=%d", n, d), func(b *testing.B) { benchGram(b, n, d) })
		}
	}
}

// BenchmarkTopK streams the cosine tiles of N = 4096, D = 4096 and keeps
// the 100 most coupled pairs.
func BenchmarkTopK(b *testing.B) {
	n, d := 4096, 4096
	g := randRows(rand.New(rand.NewPCG(2, 2)), n, d)
	b.ResetTimer()
	for range b.N {
		TopK(g, n, d, TopKConfig{K: 100}, GramConfig{})
	}
	b.ReportMetric(gramFlops(n, d)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkGroupMeans is the O(N D) group statistics of N = 4096, D = 16384.
func BenchmarkGroupMeans(b *testing.B) {
	n, d := 4096, 16384
	g := randRows(rand.New(rand.NewPCG(3, 3)), n, d)
	group := make([]int, n)
	for i := range group {
		group[i] = i % 2
	}
	b.SetBytes(int64(4 * n * d))
	b.ResetTimer()
	for range b.N {
		GroupMeans(g, n, d, group, 2)
	}
}

// BenchmarkProject projects N = 1024 rows of D = 16384 to K = 1024.
func BenchmarkProject(b *testing.B) {
	n, d, k := 1024, 16384, 1024
	g := randRows(rand.New(rand.NewPCG(4, 4)), n, d)
	dst := make([]float32, n*k)
	for _, kind := range []ProjectionKind{Rademacher, Gaussian} {
		b.Run([]string{"Rademacher", "Gaussian"}[kind], func(b *testing.B) {
			p := Projection{D: d, K: k, Kind: kind, Seed: 1}
			b.SetBytes(int64(4 * n * d))
			for range b.N {
				p.Project(dst, g, n)
			}
		})
	}
}
