//go:build amd64 && !purego

package coupling

// gramKernelAVX512 is the assembly micro-kernel (kernel_amd64.s) with the
// contract of gramKernelGo for a 14 x 32 tile.
//
//go:noescape
func gramKernelAVX512(k int, a, b *float32, c *float64, ldc int)

// gramKernelAVX2 is the AVX2+FMA micro-kernel (kernel_avx2_amd64.s) with
// the contract of gramKernelGo for a 6 x 16 tile: twelve YMM accumulators,
// two for the row of b and two for broadcasts fill the 16 YMM registers.
//
//go:noescape
func gramKernelAVX2(k int, a, b *float32, c *float64, ldc int)

// transpose16 transposes blocks of 16 x 16 float32 (kernel_amd64.s):
// for b < blocks and r, c < 16, the element at src[r*srcStride + 16b + c]
// is stored at dst[(16b+c)*dstStride + r] when bit r of mask is set.
//
//go:noescape
func transpose16(dst *float32, dstStride int, src *float32, srcStride int, blocks int, mask uint16)

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax, edx uint32)

// hasAVX512 reports AVX-512F with the operating system's support for the
// opmask and ZMM register state.
var hasAVX512 = func() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx {
		return false
	}
	xcr0, _ := xgetbv()
	if xcr0&0xe6 != 0xe6 { // XMM, YMM, opmask and ZMM state
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<16) != 0
}()

// hasAVX2FMA reports AVX2 and FMA with the operating system's support for
// the YMM register state.
var hasAVX2FMA = func() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx {
		return false
	}
	xcr0, _ := xgetbv()
	if xcr0&0x6 != 0x6 { // XMM and YMM state
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<5) != 0
}()

// kernelSupported reports whether this CPU runs kernel id.
func kernelSupported(id kernelID) bool {
	switch id {
	case kernelAVX512:
		return hasAVX512
	case kernelAVX2:
		return hasAVX2FMA
	}
	return id == kernelGo
}

// gramKernel runs the micro-kernel in use on an mr x nr tile of its shape,
// gramKernelGo otherwise; see gramKernelGo.
func gramKernel(mr, nr, k int, a, b []float32, c []float64, ldc int) {
	switch {
	case gramChoice.id == kernelAVX512 && mr == 14 && nr == 32:
		_ = a[k*14-1]
		_ = b[k*32-1]
		_ = c[13*ldc+31]
		gramKernelAVX512(k, &a[0], &b[0], &c[0], ldc)
	case gramChoice.id == kernelAVX2 && mr == 6 && nr == 16:
		_ = a[k*6-1]
		_ = b[k*16-1]
		_ = c[5*ldc+15]
		gramKernelAVX2(k, &a[0], &b[0], &c[0], ldc)
	default:
		gramKernelGo(mr, nr, k, a, b, c, ldc)
	}
}

// packFast packs panel rows lo..lo+w-1 of width w (14 or 32), coordinates
// pc..pc+kb-1, into panel (packPanels' layout) with the AVX-512 transpose,
// when the rows 16 at a time lie inside g, and reports whether it did. The
// coordinates past the last multiple of 16 are copied in Go.
func packFast(panel, g []float32, d, lo, pc, kb, w int) bool {
	if gramChoice.id != kernelAVX512 || kb < 16 || (w != 14 && w != 32) {
		return false
	}
	groups, mask := 2, uint16(0xffff)
	if w == 14 {
		groups, mask = 1, 0x3fff
	}
	if (lo+16*groups)*d > len(g) {
		return false
	}
	blocks := kb / 16
	_ = panel[kb*w-1]
	for q := range groups {
		src := g[(lo+16*q)*d+pc:]
		_ = src[15*d+kb-1]
		transpose16(&panel[16*q], w, &src[0], d, blocks, mask)
	}
	for i := range w {
		row := g[(lo+i)*d+pc : (lo+i)*d+pc+kb]
		for l := blocks * 16; l < kb; l++ {
			panel[l*w+i] = row[l]
		}
	}
	return true
}
