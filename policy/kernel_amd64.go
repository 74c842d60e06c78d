//go:build amd64 && !purego

package policy

import "math"

// kernelAVX2 and kernelAVX512 are the assembly micro-kernels
// (kernel_amd64.s) with the contract of kernelGo for 4 x 8 and 8 x 16
// tiles; a and b point at packed panels of k*mr and k*nr elements, c at the
// top-left element of the tile.
//
//go:noescape
func kernelAVX2(k int, a, b, c *float64, ldc int, add bool)

//go:noescape
func kernelAVX512(k int, a, b, c *float64, ldc int, add bool)

// kernelAVX512S is the 8 x 16 kernel reading A(i, l) = a[i*rs + l*cs] and
// B(l, j) = b[l*bs + j] in place (kernel_amd64.s).
//
//go:noescape
func kernelAVX512S(k int, a *float64, rs, cs int, b *float64, bs int, c *float64, ldc int, add bool)

// gemmArch computes what gemm does when the CPU has a kernel that reads
// operands in place, and reports whether it did.
func gemmArch(w *gemmBuf, tA, tB bool, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int, add bool) bool {
	if cpuLevel != 2 {
		return false
	}
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
				_ = ct[7*ldc+15]
				kernelAVX512S(k, &ap[0], rs, cs, &bp[0], bs, &ct[0], ldc, add)
				continue
			}
			t := w.tile[:mr*nr]
			kernelAVX512S(k, &ap[0], rs, cs, &bp[0], bs, &t[0], nr, false)
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
	return true
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

// expAVX512 sets x[i] = exp((x[i]-shift)*scale) for i < n (n a positive
// multiple of 8) and returns their sum (kernel_amd64.s).
//
//go:noescape
func expAVX512(x *float64, n int, shift, scale float64) float64

// expConst are the constants of expAVX512: log2(e), ln 2 in two parts, and
// the Taylor coefficients 1/k! of e^r for k = 0..13.
var expConst = [17]float64{
	1.4426950408889634, 0.6931471805599453, 2.3190468138462996e-17,
	1, 1, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320,
	1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800,
}

// expShiftSum sets x[i] = exp((x[i]-shift)*scale) and returns their sum.
func expShiftSum(x []float64, shift, scale float64) float64 {
	var s float64
	n8 := 0
	if cpuLevel == 2 && len(x) >= 8 {
		n8 = len(x) &^ 7
		s = expAVX512(&x[0], n8, shift, scale)
	}
	for i := n8; i < len(x); i++ {
		e := math.Exp((x[i] - shift) * scale)
		x[i] = e
		s += e
	}
	return s
}

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax, edx uint32)

// cpuLevel is 2 with AVX-512F, 1 with AVX2 and FMA3 (each with the
// operating system's support for the register state), else 0.
var cpuLevel = func() int {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return 0
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx {
		return 0
	}
	xcr0, _ := xgetbv()
	if xcr0&6 != 6 { // XMM and YMM state
		return 0
	}
	_, ebx7, _, _ := cpuid(7, 0)
	if ebx7&(1<<5) == 0 {
		return 0
	}
	if ebx7&(1<<16) != 0 && xcr0&0xe0 == 0xe0 { // AVX-512F, opmask and ZMM state
		return 2
	}
	return 1
}()

func kernelTile() (mr, nr int) {
	if cpuLevel == 2 {
		return 8, 16
	}
	return 4, 8
}

// kernel computes one micro-tile; see kernelGo.
func kernel(k int, a, b, c []float64, ldc int, add bool) {
	switch cpuLevel {
	case 2:
		_ = a[k*8-1]
		_ = b[k*16-1]
		_ = c[7*ldc+15]
		kernelAVX512(k, &a[0], &b[0], &c[0], ldc, add)
	case 1:
		_ = a[k*4-1]
		_ = b[k*8-1]
		_ = c[3*ldc+7]
		kernelAVX2(k, &a[0], &b[0], &c[0], ldc, add)
	default:
		kernelGo(k, a, b, c, ldc, add)
	}
}

// kernelName names the micro-kernel in use (for benchmark reports).
func kernelName() string {
	return [...]string{"go", "avx2-fma", "avx512"}[cpuLevel]
}
