package hf

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/gradcouple/gradcouple/internal/kernel"
)

// par runs the matrix products and per-head loops of one gradient
// computation on up to GOMAXPROCS goroutines. Every element of a
// kernel.Gemm product is summed in an order that depends only on its own
// row of op(A), column of op(B) and k (the float32 kernels sum blocks of
// 256 along k in float32 and the blocks in float64; the float64 kernels
// sum along k in one fixed order; edge tiles are zero-padded), so
// splitting C into row or column blocks gives the same bits as one call,
// and results never depend on GOMAXPROCS.
type par[F float] struct {
	bufs []kernel.GemmBuf[F]
}

func newPar[F float]() *par[F] {
	return &par[F]{bufs: make([]kernel.GemmBuf[F], max(1, runtime.GOMAXPROCS(0)))}
}

// parMinWork is the smallest product (m n k) split across goroutines.
const parMinWork = 1 << 18

// gemm is kernel.Gemm with C split into row blocks (or column blocks when
// C is wider than tall) computed in parallel.
func (p *par[F]) gemm(tA, tB bool, m, n, k int, a []F, lda int, b []F, ldb int, c []F, ldc int, add bool) {
	w := len(p.bufs)
	if w == 1 || m*n*k < parMinWork || (m < 32 && n < 128) {
		kernel.Gemm(&p.bufs[0], tA, tB, m, n, k, a, lda, b, ldb, c, ldc, add)
		return
	}
	var wg sync.WaitGroup
	if m >= n || n < 128 {
		step := roundUpTo((m+w-1)/w, 16)
		for i, i0 := 0, 0; i0 < m; i, i0 = i+1, i0+step {
			mb := min(step, m-i0)
			var aa []F
			if tA {
				aa = a[i0:]
			} else {
				aa = a[i0*lda:]
			}
			wg.Add(1)
			go func(buf *kernel.GemmBuf[F], aa, cc []F, mb int) {
				defer wg.Done()
				kernel.Gemm(buf, tA, tB, mb, n, k, aa, lda, b, ldb, cc, ldc, add)
			}(&p.bufs[i], aa, c[i0*ldc:], mb)
		}
	} else {
		step := roundUpTo((n+w-1)/w, 64)
		for j, j0 := 0, 0; j0 < n; j, j0 = j+1, j0+step {
			nb := min(step, n-j0)
			var bb []F
			if tB {
				bb = b[j0*ldb:]
			} else {
				bb = b[j0:]
			}
			wg.Add(1)
			go func(buf *kernel.GemmBuf[F], bb, cc []F, nb int) {
				defer wg.Done()
				kernel.Gemm(buf, tA, tB, m, nb, k, a, lda, bb, ldb, cc, ldc, add)
			}(&p.bufs[j], bb, c[j0:], nb)
		}
	}
	wg.Wait()
}

// each calls fn(w, i) for i = 0 .. n-1 on up to len(bufs) goroutines; w
// is the goroutine's index (its GemmBuf and scratch), and no two calls
// with the same w run at once. fn must compute the same result whatever w.
func (p *par[F]) each(n int, fn func(w, i int)) {
	workers := min(len(p.bufs), n)
	if workers <= 1 {
		for i := range n {
			fn(0, i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(w, i)
			}
		}()
	}
	wg.Wait()
}

// rowBlocks calls fn(w, lo, hi) for blocks of at most size rows covering
// [0, n), in parallel.
func (p *par[F]) rowBlocks(n, size int, fn func(w, lo, hi int)) {
	p.each((n+size-1)/size, func(w, b int) {
		fn(w, b*size, min(n, (b+1)*size))
	})
}

func roundUpTo(x, m int) int { return (x + m - 1) / m * m }
