package policy

// Dense matrix products for the forward and backward passes.
//
// gemm computes C = op(A) op(B) (or C += op(A) op(B)) for row-major
// matrices, where op(X) is X or its transpose. It follows the BLIS design:
// panels of op(B) (kc x nr) and op(A) (mr x kc) are packed into contiguous
// buffers, which makes the transposes free and lets one micro-kernel compute
// every mr x nr tile of C. The micro-kernel is written in assembly (AVX2 and
// FMA) where the CPU has it and in Go otherwise; both sum over k in the same
// order within a tile, so a given machine always gives the same bits, and the
// summation order never depends on GOMAXPROCS (gemm is single-threaded: the
// callers parallelise across sequences).

const (
	gemmKC = 256 // depth of a packed panel
	gemmMC = 128 // rows of a packed block of A (a multiple of every MR)
	gemmNC = 1024
)

// gemmMR x gemmNR is the micro-tile of the kernel in use (kernel.go files):
// 8 x 16 with AVX-512, 4 x 8 with AVX2 or in Go.
var gemmMR, gemmNR = kernelTile()

// gemmBuf holds the packing buffers of one goroutine.
type gemmBuf struct {
	a, b []float64
	tile [8 * 16]float64
}

// gemm computes C = op(A) op(B) when add is false and C += op(A) op(B) when
// add is true. op(A) is m x k and op(B) is k x n; A is stored row-major with
// leading dimension lda (A is k x m when tA), likewise B (n x k when tB); C
// is m x n with leading dimension ldc. Only the m x n window of C is touched.
func gemm(w *gemmBuf, tA, tB bool, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int, add bool) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if !add {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	if gemmArch(w, tA, tB, m, n, k, a, lda, b, ldb, c, ldc, add) {
		return
	}
	kc := min(k, gemmKC)
	nc := min(n, gemmNC)
	if need := kc * roundUp(nc, gemmNR); len(w.b) < need {
		w.b = make([]float64, need)
	}
	if need := kc * roundUp(min(m, gemmMC), gemmMR); len(w.a) < need {
		w.a = make([]float64, need)
	}
	for jc := 0; jc < n; jc += gemmNC {
		nb := min(gemmNC, n-jc)
		for pc := 0; pc < k; pc += gemmKC {
			kb := min(gemmKC, k-pc)
			packB(w.b, tB, kb, nb, b, ldb, pc, jc)
			acc := add || pc > 0
			for ic := 0; ic < m; ic += gemmMC {
				mb := min(gemmMC, m-ic)
				packA(w.a, tA, mb, kb, a, lda, ic, pc)
				for jr := 0; jr < nb; jr += gemmNR {
					nr := min(gemmNR, nb-jr)
					bp := w.b[jr*kb : (jr+gemmNR)*kb]
					for ir := 0; ir < mb; ir += gemmMR {
						mr := min(gemmMR, mb-ir)
						ap := w.a[ir*kb : (ir+gemmMR)*kb]
						off := (ic+ir)*ldc + jc + jr
						if mr == gemmMR && nr == gemmNR {
							kernel(kb, ap, bp, c[off:], ldc, acc)
							continue
						}
						t := w.tile[:gemmMR*gemmNR]
						kernel(kb, ap, bp, t, gemmNR, false)
						for i := 0; i < mr; i++ {
							ci := c[off+i*ldc : off+i*ldc+nr]
							ti := t[i*gemmNR : i*gemmNR+nr]
							if acc {
								for j, v := range ti {
									ci[j] += v
								}
							} else {
								copy(ci, ti)
							}
						}
					}
				}
			}
		}
	}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// packB copies the kb x nb block of op(B) starting at (pc, jc) into dst as
// panels of gemmNR columns: panel p holds element (l, j) at
// p*kb*gemmNR + l*gemmNR + j, zero-padded past nb.
func packB(dst []float64, tB bool, kb, nb int, b []float64, ldb, pc, jc int) {
	gemmNR := gemmNR
	for jr := 0; jr < nb; jr += gemmNR {
		nr := min(gemmNR, nb-jr)
		p := dst[jr*kb : jr*kb+kb*gemmNR]
		if !tB {
			switch {
			case nr == 16 && gemmNR == 16:
				for l := 0; l < kb; l++ {
					o := (pc+l)*ldb + jc + jr
					*(*[16]float64)(p[l*16:]) = *(*[16]float64)(b[o:])
				}
			case nr == 8 && gemmNR == 8:
				for l := 0; l < kb; l++ {
					o := (pc+l)*ldb + jc + jr
					*(*[8]float64)(p[l*8:]) = *(*[8]float64)(b[o:])
				}
			default:
				for l := 0; l < kb; l++ {
					row := b[(pc+l)*ldb+jc+jr:]
					q := p[l*gemmNR : l*gemmNR+gemmNR]
					copy(q, row[:nr])
					clear(q[nr:])
				}
			}
			continue
		}
		// op(B)(l, j) = B(jc+jr+j, pc+l).
		if nr < gemmNR {
			clear(p)
		}
		for j := 0; j < nr; j++ {
			row := b[(jc+jr+j)*ldb+pc : (jc+jr+j)*ldb+pc+kb]
			for l, v := range row {
				p[l*gemmNR+j] = v
			}
		}
	}
}

// packA copies the mb x kb block of op(A) starting at (ic, pc) into dst as
// panels of gemmMR rows: panel p holds element (i, l) at
// p*kb*gemmMR + l*gemmMR + i, zero-padded past mb.
func packA(dst []float64, tA bool, mb, kb int, a []float64, lda, ic, pc int) {
	gemmMR := gemmMR
	for ir := 0; ir < mb; ir += gemmMR {
		mr := min(gemmMR, mb-ir)
		p := dst[ir*kb : ir*kb+kb*gemmMR]
		if tA {
			// op(A)(i, l) = A(pc+l, ic+ir+i): rows of A are contiguous in i.
			switch {
			case mr == 8 && gemmMR == 8:
				for l := 0; l < kb; l++ {
					*(*[8]float64)(p[l*8:]) = *(*[8]float64)(a[(pc+l)*lda+ic+ir:])
				}
			case mr == 4 && gemmMR == 4:
				for l := 0; l < kb; l++ {
					*(*[4]float64)(p[l*4:]) = *(*[4]float64)(a[(pc+l)*lda+ic+ir:])
				}
			default:
				for l := 0; l < kb; l++ {
					row := a[(pc+l)*lda+ic+ir:]
					q := p[l*gemmMR : l*gemmMR+gemmMR]
					copy(q, row[:mr])
					clear(q[mr:])
				}
			}
			continue
		}
		if mr < gemmMR {
			clear(p)
		}
		for i := 0; i < mr; i++ {
			row := a[(ic+ir+i)*lda+pc : (ic+ir+i)*lda+pc+kb]
			for l, v := range row {
				p[l*gemmMR+i] = v
			}
		}
	}
}

// kernelGo is the portable micro-kernel: the mr x nr tile at c (leading
// dimension ldc) is set to (or, with add, incremented by) the product of the
// packed panels a (k x mr) and b (k x nr). It is written for the 4 x 8 tile.
func kernelGo(k int, a, b, c []float64, ldc int, add bool) {
	const mr, nr = 4, 8
	var acc [mr][nr]float64
	a = a[:k*mr]
	b = b[:k*nr]
	for l := 0; l < k; l++ {
		bl := b[l*nr : l*nr+nr : l*nr+nr]
		al := a[l*mr : l*mr+mr : l*mr+mr]
		for i := range mr {
			ai := al[i]
			r := &acc[i]
			r[0] += ai * bl[0]
			r[1] += ai * bl[1]
			r[2] += ai * bl[2]
			r[3] += ai * bl[3]
			r[4] += ai * bl[4]
			r[5] += ai * bl[5]
			r[6] += ai * bl[6]
			r[7] += ai * bl[7]
		}
	}
	for i := range mr {
		ci := c[i*ldc : i*ldc+nr]
		if add {
			for j := range nr {
				ci[j] += acc[i][j]
			}
		} else {
			copy(ci, acc[i][:])
		}
	}
}
