//go:build amd64 && !purego

package kernel

// The amd64 kernels (assembly in *_amd64.s).

// f32AVX512 is the F32 kernel for the 14 x 32 tile (f32_avx512_amd64.s).
//
//go:noescape
func f32AVX512(k int, a, b *float32, c *float64, ldc int)

// f32AVX2 is the F32 kernel for the 6 x 16 tile (f32_avx2_amd64.s): twelve
// YMM accumulators, two for the row of b and two for broadcasts fill the 16
// YMM registers.
//
//go:noescape
func f32AVX2(k int, a, b *float32, c *float64, ldc int)

// f64AVX2 and f64AVX512 are the F64 kernels for the 6 x 8 and 8 x 16 tiles
// (f64_amd64.s).
//
//go:noescape
func f64AVX2(k int, a, b, c *float64, ldc int, add bool)

//go:noescape
func f64AVX512(k int, a, b, c *float64, ldc int, add bool)

// f64AVX512S is the 8 x 16 F64 kernel reading A(i, l) = a[i*rs + l*cs] and
// B(l, j) = b[l*bs + j] in place (f64_amd64.s).
//
//go:noescape
func f64AVX512S(k int, a *float64, rs, cs int, b *float64, bs int, c *float64, ldc int, add bool)

// expAVX512 sets x[i] = exp((x[i]-shift)*scale) for i < n (n a positive
// multiple of 8) and returns their sum (f64_amd64.s).
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

// expAVX2 is expAVX512 on four lanes with AVX2 and FMA (exp_avx2_amd64.s);
// n is a positive multiple of 4.
//
//go:noescape
func expAVX2(x *float64, n int, shift, scale float64) float64

// expAVX2Const are expAVX2's clamps of the argument (below -750 exp is 0,
// above 710 +Inf, and the two-step scaling stays exact) and the exponent
// bias, as float64 bits.
var expAVX2Const = [3]uint64{0xc087700000000000, 0x4086300000000000, 1023}

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax, edx uint32)

// cpuFeatures reports AVX2 with FMA3 and AVX-512F, each with the operating
// system's support for the register state (XMM and YMM; also opmask and
// ZMM for AVX-512).
func cpuFeatures() (avx2, avx512 bool) {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false, false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx {
		return false, false
	}
	xcr0, _ := xgetbv()
	if xcr0&6 != 6 {
		return false, false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	avx2 = ebx7&(1<<5) != 0
	avx512 = avx2 && ebx7&(1<<16) != 0 && xcr0&0xe6 == 0xe6
	return avx2, avx512
}

var hasAVX2, hasAVX512 = cpuFeatures()

// Supported reports whether this machine runs kernel set id.
func Supported(id ID) bool {
	switch id {
	case Go:
		return true
	case AVX2:
		return hasAVX2
	case AVX512:
		return hasAVX512
	}
	return false
}

func f32Arch(mr, nr, k int, a, b []float32, c []float64, ldc int) bool {
	switch {
	case choice.id == AVX512 && mr == 14 && nr == 32:
		_ = a[k*14-1]
		_ = b[k*32-1]
		_ = c[13*ldc+31]
		f32AVX512(k, &a[0], &b[0], &c[0], ldc)
	case choice.id == AVX2 && mr == 6 && nr == 16:
		_ = a[k*6-1]
		_ = b[k*16-1]
		_ = c[5*ldc+15]
		f32AVX2(k, &a[0], &b[0], &c[0], ldc)
	default:
		return false
	}
	return true
}

// packF32Arch packs panel rows lo..lo+w-1 of width w, columns
// pc..pc+kb-1, with a vector transpose when the kernel set has one for w
// (AVX-512: w = 14 or 32 from 16 x 16 blocks; AVX2: w = 6 or 16 from 8 x 8
// blocks), and reports whether it did.
func packF32Arch(panel, g []float32, d, lo, pc, kb, w int) bool {
	switch {
	case choice.id == AVX512 && (w == 14 || w == 32):
		groups, mask := 2, uint16(0xffff)
		if w == 14 {
			groups, mask = 1, 0x3fff
		}
		return packBlocks(panel, g, d, lo, pc, kb, w, 16, groups, func(dst, src *float32, blocks int) {
			transpose16(dst, w, src, d, blocks, mask)
		})
	case choice.id == AVX2 && (w == 6 || w == 16):
		groups, rows := 2, 8
		if w == 6 {
			groups, rows = 1, 6
		}
		return packBlocks(panel, g, d, lo, pc, kb, w, 8, groups, func(dst, src *float32, blocks int) {
			transpose8(dst, w, src, d, blocks, rows)
		})
	}
	return false
}

// packBlocks is packF32Arch for a transpose of bs x bs blocks: groups of bs
// rows starting at lo, each read whole from g (so every group must lie
// inside g, else it reports false), go to panel columns bs*q..; the columns
// past the last multiple of bs are copied in Go.
func packBlocks(panel, g []float32, d, lo, pc, kb, w, bs, groups int, transpose func(dst, src *float32, blocks int)) bool {
	if kb < bs || (lo+bs*groups)*d > len(g) {
		return false
	}
	blocks := kb / bs
	_ = panel[kb*w-1]
	for q := range groups {
		src := g[(lo+bs*q)*d+pc:]
		_ = src[(bs-1)*d+kb-1]
		transpose(&panel[bs*q], &src[0], blocks)
	}
	for i := range w {
		row := g[(lo+i)*d+pc : (lo+i)*d+pc+kb]
		for l := blocks * bs; l < kb; l++ {
			panel[l*w+i] = row[l]
		}
	}
	return true
}

// transpose16 transposes blocks of 16 x 16 float32 (f32_avx512_amd64.s):
// for b < blocks and r, c < 16, the element at src[r*srcStride + 16b + c]
// is stored at dst[(16b+c)*dstStride + r] when bit r of mask is set.
//
//go:noescape
func transpose16(dst *float32, dstStride int, src *float32, srcStride int, blocks int, mask uint16)

// transpose8 transposes blocks of 8 x 8 float32 (pack_avx2_amd64.s): for
// b < blocks and r, c < 8, the element at src[r*srcStride + 8b + c] is
// stored at dst[(8b+c)*dstStride + r] when r < rows (6 or 8).
//
//go:noescape
func transpose8(dst *float32, dstStride int, src *float32, srcStride int, blocks int, rows int)

func f64Arch(k int, a, b, c []float64, ldc int, add bool) bool {
	switch choice.id {
	case AVX512:
		_ = a[k*8-1]
		_ = b[k*16-1]
		_ = c[7*ldc+15]
		f64AVX512(k, &a[0], &b[0], &c[0], ldc, add)
	case AVX2:
		_ = a[k*6-1]
		_ = b[k*8-1]
		_ = c[5*ldc+7]
		f64AVX2(k, &a[0], &b[0], &c[0], ldc, add)
	default:
		return false
	}
	return true
}

func hasF64Strided() bool { return choice.id == AVX512 }

func f64StridedArch(k int, a []float64, rs, cs int, b []float64, bs int, c []float64, ldc int, add bool) bool {
	if choice.id != AVX512 {
		return false
	}
	_ = a[7*rs+(k-1)*cs]
	_ = b[(k-1)*bs+15]
	_ = c[7*ldc+15]
	f64AVX512S(k, &a[0], rs, cs, &b[0], bs, &c[0], ldc, add)
	return true
}

func expArch(x []float64, shift, scale float64) (sum float64, n int) {
	if choice.id == AVX2 && len(x) >= 4 {
		n = len(x) &^ 3
		return expAVX2(&x[0], n, shift, scale), n
	}
	if choice.id != AVX512 || len(x) < 8 {
		return 0, 0
	}
	n = len(x) &^ 7
	return expAVX512(&x[0], n, shift, scale), n
}

// Features lists the CPU features the kernel sets use that this machine
// has, e.g. [avx2 fma avx512f].
func Features() []string {
	var f []string
	if hasAVX2 {
		f = append(f, "avx2", "fma")
	}
	if hasAVX512 {
		f = append(f, "avx512f")
	}
	return f
}

// cvtF32AVX2 converts float64 to float32, optionally adding (cvt_amd64.s);
// n is a positive multiple of 8.
//
//go:noescape
func cvtF32AVX2(dst *float32, src *float64, n int, add bool)

func cvtF32Arch(dst []float32, src []float64, add bool) int {
	n := len(dst) &^ 7
	if n == 0 || (choice.id != AVX2 && choice.id != AVX512) {
		return 0
	}
	_ = src[n-1]
	cvtF32AVX2(&dst[0], &src[0], n, add)
	return n
}
