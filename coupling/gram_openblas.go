//go:build openblas

// Gram and CosineGram through OpenBLAS (build tag openblas).
//
// Building with the tag needs cgo, a C compiler and OpenBLAS with its
// headers (Debian and Ubuntu: apt-get install libopenblas-dev):
//
//	CGO_ENABLED=1 go build -tags openblas ./...
//	CGO_ENABLED=1 go test -tags openblas ./coupling
//
// Package coupling/internal/openblas links -lopenblas; for a library
// outside the linker's search path add its directory with CGO_LDFLAGS, e.g.
// CGO_LDFLAGS="-L/opt/OpenBLAS/lib -Wl,-rpath,/opt/OpenBLAS/lib". The C
// declarations come from gonum.org/v1/netlib's own cblas.h, so no
// CGO_CFLAGS are needed. OpenBLAS reads its settings when the process
// starts: OPENBLAS_NUM_THREADS (default: every core) and, for
// DYNAMIC_ARCH builds such as Debian's, OPENBLAS_CORETYPE (default: the
// best kernel for the CPU it detects).

package coupling

import (
	"math"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/netlib/blas/netlib"

	"github.com/gradcouple/gradcouple/coupling/internal/openblas"
)

// blasDense computes the dense Gram (MeasureInner) or cosine
// (MeasureCosine) matrix of the n rows of g in dst (len n*n) with one call
// of OpenBLAS's ssyrk, the routine NumPy calls for G @ G.T:
//
//	K = G G^T  (upper triangle, float32 accumulation in OpenBLAS's order)
//
// then mirrors the upper triangle into the lower and, for cosines, sets
// C_ij = K_ij / sqrt(K_ii K_jj) from the float32 diagonal as CosineGram
// defines it. It reports false, computing nothing, when n or d is 0 or
// exceeds the C int of the CBLAS interface; the Go tiles then do the work.
// cfg.Workers goroutines do the mirroring; OpenBLAS's own threads
// (OPENBLAS_NUM_THREADS) do the products.
func blasDense(dst, g []float32, n, d int, m Measure, cfg GramConfig) bool {
	if n == 0 || d == 0 || n > math.MaxInt32 || d > math.MaxInt32 {
		return false
	}
	// ssyrk with beta = 0 scales the old contents by 0 in some OpenBLAS
	// releases, which would turn NaN left in a reused dst into NaN results
	clear(dst)
	netlib.Implementation{}.Ssyrk(blas.Upper, blas.NoTrans, n, d, 1, g, d, 0, dst, n)
	var norms []float64
	if m == MeasureCosine {
		norms = make([]float64, n)
		for i := range n {
			norms[i] = float64(dst[i*n+i])
		}
	}
	mirrorUpper(dst, n, norms, cfg.workers())
	return true
}

// mirrorUpper copies the upper triangle of the n x n matrix dst into the
// lower one, first turning every element into a cosine when norms (the
// squared norms K_ii) is not nil: C_ij = cosine(K_ij, K_ii, K_jj), and
// C_ii = 1 for a row of nonzero norm, as gramWork.finish does. Rows of 32
// are handed out to workers goroutines, for the cosines and then for the
// copy. The copy fills each lower row in 32 x 32 blocks: its writes are
// sequential and its reads of the upper triangle stay in a few cache lines
// per block (scattering the writes instead was five times slower: 85 ms
// against 11 to 17 ms for n = 4096 on two cores).
func mirrorUpper(dst []float32, n int, norms []float64, workers int) {
	const bs = 32
	blocks := (n + bs - 1) / bs
	workers = max(1, min(workers, blocks))
	parallel := func(f func(r0, r1 int)) {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					r0 := int(next.Add(1)-1) * bs
					if r0 >= n {
						return
					}
					f(r0, min(r0+bs, n))
				}
			}()
		}
		wg.Wait()
	}
	if norms != nil {
		parallel(func(r0, r1 int) {
			for i := r0; i < r1; i++ {
				row := dst[i*n+i : (i+1)*n]
				for k, v := range row {
					if k == 0 && norms[i] != 0 && !math.IsNaN(float64(v)) {
						row[k] = 1
					} else {
						row[k] = float32(cosine(float64(v), norms[i], norms[i+k]))
					}
				}
			}
		})
	}
	parallel(func(r0, r1 int) {
		for c0 := 0; c0 < r1; c0 += bs {
			for j := r0; j < r1; j++ {
				row := dst[j*n+c0 : j*n+min(c0+bs, j)]
				for k := range row {
					row[k] = dst[(c0+k)*n+j]
				}
			}
		}
	})
}

// blasLibrary describes the OpenBLAS library behind Gram and CosineGram:
// its build configuration, the kernel it chose for this CPU and its number
// of threads (for reports, and to check that a comparison with NumPy runs
// the same code).
func blasLibrary() (config, core string, threads int) {
	return openblas.Config(), openblas.Core(), openblas.Threads()
}
