package kernel

// Dense matrix products on the micro-kernels, for the actor's forward and
// backward passes (policy, policy/hf).
//
// Gemm computes C = op(A) op(B) (or C += op(A) op(B)) for row-major
// matrices, where op(X) is X or its transpose. It follows the BLIS design:
// panels of op(B) (kc x nr) and op(A) (mr x kc) are packed into contiguous
// buffers, which makes the transposes free and lets one micro-kernel compute
// every mr x nr tile of C. The micro-kernels are this package's:
//
//   - float64 (gemm64): the F64 kernels (assembly for AVX-512, AVX2+FMA and
//     NEON, Go elsewhere); each sums over k in one fixed order within a tile.
//   - float32 (gemm32): the F32 kernels, which sum the k products of a
//     packed block (at most gemmKC = 256 deep) in float32 with fused
//     multiply-adds and add that block sum to a float64 tile. The C block is
//     accumulated in float64 across the k blocks and rounded to float32 once
//     (C = float32(sum), or C = float32(C + sum) when adding), so the
//     float32 rounding error grows with 256, not with k.
//
// A given machine and kernel always give the same bits, and the summation
// order never depends on GOMAXPROCS (Gemm is single-threaded: the callers
// parallelise across sequences).

const (
	gemmKC = 256 // depth of a packed panel
	gemmMC = 120 // rows of a packed block of A (a multiple of every F64 MR: 4, 6, 8)
	gemmNC = 1024

	// gemm32NC is the width of a block of C in gemm32: its float64
	// accumulator is at most gemmMC x gemm32NC (256 KB).
	gemm32NC = 256
)

// Float is the element type of a matrix product: float64 or float32.
type Float interface{ ~float32 | ~float64 }

// GemmBuf holds the packing buffers of one goroutine; the zero value is
// ready to use.
type GemmBuf[F Float] struct {
	a, b []F
	tile [8 * 16]float64 // an edge tile of the F64 kernel
	acc  []float64       // the float64 block of C of gemm32
}

// Gemm computes C = op(A) op(B) when add is false and C += op(A) op(B) when
// add is true. op(A) is m x k and op(B) is k x n; A is stored row-major with
// leading dimension lda (A is k x m when tA), likewise B (n x k when tB); C
// is m x n with leading dimension ldc. Only the m x n window of C is touched.
// It runs gemm64 or gemm32 according to F.
func Gemm[F Float](w *GemmBuf[F], tA, tB bool, m, n, k int, a []F, lda int, b []F, ldb int, c []F, ldc int, add bool) {
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
	switch w := any(w).(type) {
	case *GemmBuf[float64]:
		gemm64(w, tA, tB, m, n, k, any(a).([]float64), lda, any(b).([]float64), ldb, any(c).([]float64), ldc, add)
	case *GemmBuf[float32]:
		gemm32(w, tA, tB, m, n, k, any(a).([]float32), lda, any(b).([]float32), ldb, any(c).([]float32), ldc, add)
	default:
		panic("kernel: Gemm of an unsupported element type")
	}
}

// gemm64 is Gemm for float64 (m, n, k > 0) on the F64 kernels.
func gemm64(w *GemmBuf[float64], tA, tB bool, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int, add bool) {
	if HasF64Strided() {
		gemmStrided(w, tA, tB, m, n, k, a, lda, b, ldb, c, ldc, add)
		return
	}
	// gemmMR x gemmNR is the tile of the kernel in use
	gemmMR, gemmNR := F64Tile()
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
			packB(w.b, gemmNR, tB, kb, nb, b, ldb, pc, jc)
			acc := add || pc > 0
			for ic := 0; ic < m; ic += gemmMC {
				mb := min(gemmMC, m-ic)
				packA(w.a, gemmMR, tA, mb, kb, a, lda, ic, pc)
				for jr := 0; jr < nb; jr += gemmNR {
					nr := min(gemmNR, nb-jr)
					bp := w.b[jr*kb : (jr+gemmNR)*kb]
					for ir := 0; ir < mb; ir += gemmMR {
						mr := min(gemmMR, mb-ir)
						ap := w.a[ir*kb : (ir+gemmMR)*kb]
						off := (ic+ir)*ldc + jc + jr
						if mr == gemmMR && nr == gemmNR {
							F64(kb, ap, bp, c[off:], ldc, acc)
							continue
						}
						t := w.tile[:gemmMR*gemmNR]
						F64(kb, ap, bp, t, gemmNR, false)
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
// panels of gemmNR columns (the kernel's tile width): panel p holds element (l, j) at
// p*kb*gemmNR + l*gemmNR + j, zero-padded past nb.
func packB[F Float](dst []F, gemmNR int, tB bool, kb, nb int, b []F, ldb, pc, jc int) {
	for jr := 0; jr < nb; jr += gemmNR {
		nr := min(gemmNR, nb-jr)
		p := dst[jr*kb : jr*kb+kb*gemmNR]
		if !tB {
			switch {
			case nr == 16 && gemmNR == 16:
				for l := 0; l < kb; l++ {
					o := (pc+l)*ldb + jc + jr
					*(*[16]F)(p[l*16:]) = *(*[16]F)(b[o:])
				}
			case nr == 8 && gemmNR == 8:
				for l := 0; l < kb; l++ {
					o := (pc+l)*ldb + jc + jr
					*(*[8]F)(p[l*8:]) = *(*[8]F)(b[o:])
				}
			case nr == 32 && gemmNR == 32:
				for l := 0; l < kb; l++ {
					o := (pc+l)*ldb + jc + jr
					*(*[32]F)(p[l*32:]) = *(*[32]F)(b[o:])
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
// panels of gemmMR rows (the kernel's tile height): panel p holds element (i, l) at
// p*kb*gemmMR + l*gemmMR + i, zero-padded past mb.
func packA[F Float](dst []F, gemmMR int, tA bool, mb, kb int, a []F, lda, ic, pc int) {
	for ir := 0; ir < mb; ir += gemmMR {
		mr := min(gemmMR, mb-ir)
		p := dst[ir*kb : ir*kb+kb*gemmMR]
		if tA {
			// op(A)(i, l) = A(pc+l, ic+ir+i): rows of A are contiguous in i.
			switch {
			case mr == 8 && gemmMR == 8:
				for l := 0; l < kb; l++ {
					*(*[8]F)(p[l*8:]) = *(*[8]F)(a[(pc+l)*lda+ic+ir:])
				}
			case mr == 4 && gemmMR == 4:
				for l := 0; l < kb; l++ {
					*(*[4]F)(p[l*4:]) = *(*[4]F)(a[(pc+l)*lda+ic+ir:])
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

// gemmStrided computes what Gemm does with a kernel that reads full
// panels of A and row-major panels of B in place (F64Strided, an 8 x
// 16 tile), packing only transposed or partial panels.
func gemmStrided(w *GemmBuf[float64], tA, tB bool, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int, add bool) {
	const mr, nr = 8, 16
	if len(w.b) < k*nr {
		w.b = make([]float64, k*nr)
	}
	if len(w.a) < k*mr {
		w.a = make([]float64, k*mr)
	}
	// A(i, l) = a[i*ars + l*acs]
	ars, acs := lda, 1
	if tA {
		ars, acs = 1, lda
	}
	for j0 := 0; j0 < n; j0 += nr {
		nb := min(nr, n-j0)
		// the B panel: in place when B is row-major and the panel full,
		// else packed into w.b (k x 16, zero-padded)
		var bp []float64
		bs := nr
		if !tB && nb == nr {
			bp, bs = b[j0:], ldb
			_ = bp[(k-1)*ldb+nr-1]
		} else {
			bp = w.b[:k*nr]
			packPanelB(bp, tB, k, nb, b, ldb, j0)
		}
		for i0 := 0; i0 < m; i0 += mr {
			mb := min(mr, m-i0)
			var ap []float64
			rs, cs := ars, acs
			if mb == mr {
				ap = a[i0*ars:]
				_ = ap[7*rs+(k-1)*cs]
			} else {
				ap, rs, cs = w.a[:k*mr], 1, mr
				packPanelA(ap, tA, k, mb, a, lda, i0)
			}
			if mb == mr && nb == nr {
				ct := c[i0*ldc+j0:]
				F64Strided(k, ap, rs, cs, bp, bs, ct, ldc, add)
				continue
			}
			t := w.tile[:mr*nr]
			F64Strided(k, ap, rs, cs, bp, bs, t, nr, false)
			for i := 0; i < mb; i++ {
				ci := c[(i0+i)*ldc+j0 : (i0+i)*ldc+j0+nb]
				ti := t[i*nr : i*nr+nb]
				if add {
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

// packPanelB copies columns j0..j0+nb-1 of op(B) (k rows) into dst as a
// k x 16 panel, zero-padded.
func packPanelB(dst []float64, tB bool, k, nb int, b []float64, ldb, j0 int) {
	if nb < 16 {
		clear(dst)
	}
	if !tB {
		for l := 0; l < k; l++ {
			copy(dst[l*16:l*16+nb], b[l*ldb+j0:l*ldb+j0+nb])
		}
		return
	}
	for j := 0; j < nb; j++ {
		row := b[(j0+j)*ldb : (j0+j)*ldb+k]
		for l, v := range row {
			dst[l*16+j] = v
		}
	}
}

// packPanelA copies rows i0..i0+mb-1 of op(A) (k columns) into dst as a
// k x 8 panel (element (i, l) at l*8+i), zero-padded.
func packPanelA(dst []float64, tA bool, k, mb int, a []float64, lda, i0 int) {
	clear(dst)
	for i := 0; i < mb; i++ {
		for l := 0; l < k; l++ {
			if tA {
				dst[l*8+i] = a[l*lda+i0+i]
			} else {
				dst[l*8+i] = a[(i0+i)*lda+l]
			}
		}
	}
}

// gemm32 is Gemm for float32 (m, n, k > 0) on the F32 kernels: for each
// block of C (at most gemmMC x gemm32NC), the float64 accumulator starts at
// 0 (or at C when adding), each block of at most gemmKC along k adds its
// float32 panel products (F32), and C is set to the accumulator
// rounded to float32. Panels are zero-padded to whole tiles, so every
// kernel call is a full tile of the accumulator.
func gemm32(w *GemmBuf[float32], tA, tB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, add bool) {
	mr, nr := F32Tile()
	mc := gemmMC / mr * mr
	kc := min(k, gemmKC)
	nc := min(n, gemm32NC)
	if need := kc * roundUp(nc, nr); len(w.b) < need {
		w.b = make([]float32, need)
	}
	if need := kc * roundUp(min(m, mc), mr); len(w.a) < need {
		w.a = make([]float32, need)
	}
	if need := roundUp(min(m, mc), mr) * roundUp(nc, nr); len(w.acc) < need {
		w.acc = make([]float64, need)
	}
	for jc := 0; jc < n; jc += gemm32NC {
		nb := min(gemm32NC, n-jc)
		ldt := roundUp(nb, nr) // row stride of the accumulator
		for ic := 0; ic < m; ic += mc {
			mb := min(mc, m-ic)
			acc := w.acc[:roundUp(mb, mr)*ldt]
			clear(acc)
			for pc := 0; pc < k; pc += gemmKC {
				kb := min(gemmKC, k-pc)
				// op(B) block kb x nb at (pc, jc), op(A) block mb x kb at
				// (ic, pc); rows of a row-major matrix go to panels with
				// PackF32, columns with the generic packers.
				if tB {
					PackF32(w.b, b, ldb, jc, jc+nb, pc, kb, nr)
				} else {
					packB(w.b, nr, false, kb, nb, b, ldb, pc, jc)
				}
				if tA {
					packA(w.a, mr, true, mb, kb, a, lda, ic, pc)
				} else {
					PackF32(w.a, a, lda, ic, ic+mb, pc, kb, mr)
				}
				for jr := 0; jr < nb; jr += nr {
					bp := w.b[jr*kb : (jr+nr)*kb]
					for ir := 0; ir < mb; ir += mr {
						F32(mr, nr, kb, w.a[ir*kb:(ir+mr)*kb], bp, acc[ir*ldt+jr:], ldt)
					}
				}
			}
			for i := range mb {
				CvtF32(c[(ic+i)*ldc+jc:(ic+i)*ldc+jc+nb], acc[i*ldt:i*ldt+nb], add)
			}
		}
	}
}
