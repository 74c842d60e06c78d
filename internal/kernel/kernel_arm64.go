//go:build arm64 && !purego

package kernel

// The arm64 kernels (assembly in kernel_arm64.s). Advanced SIMD (NEON) is
// part of ARMv8-A, so every arm64 machine runs them.

// f32NEON is the F32 kernel for the 8 x 12 tile (kernel_arm64.s).
//
//go:noescape
func f32NEON(k int, a, b *float32, c *float64, ldc int)

// f64NEON is the F64 kernel for the 8 x 6 tile (kernel_arm64.s).
//
//go:noescape
func f64NEON(k int, a, b, c *float64, ldc int, add bool)

// Supported reports whether this machine runs kernel set id: NEON and Go.
func Supported(id ID) bool { return id == Go || id == NEON }

// Features lists the CPU features the kernel sets use: Advanced SIMD.
func Features() []string { return []string{"asimd"} }

func f32Arch(mr, nr, k int, a, b []float32, c []float64, ldc int) bool {
	if choice.id != NEON || mr != neonF32MR || nr != neonF32NR || ldc < nr {
		return false
	}
	_ = a[k*neonF32MR-1]
	_ = b[k*neonF32NR-1]
	_ = c[(neonF32MR-1)*ldc+neonF32NR-1]
	f32NEON(k, &a[0], &b[0], &c[0], ldc)
	return true
}

func packF32Arch(panel, g []float32, d, lo, pc, kb, w int) bool { return false }

func f64Arch(k int, a, b, c []float64, ldc int, add bool) bool {
	if choice.id != NEON || k == 0 || ldc < neonF64NR {
		return false
	}
	_ = a[k*neonF64MR-1]
	_ = b[k*neonF64NR-1]
	_ = c[(neonF64MR-1)*ldc+neonF64NR-1]
	f64NEON(k, &a[0], &b[0], &c[0], ldc, add)
	return true
}

func hasF64Strided() bool { return false }

func f64StridedArch(k int, a []float64, rs, cs int, b []float64, bs int, c []float64, ldc int, add bool) bool {
	return false
}

func expArch(x []float64, shift, scale float64) (float64, int) { return 0, 0 }

func cvtF32Arch(dst []float32, src []float64, add bool) int { return 0 }
