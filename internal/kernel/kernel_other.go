//go:build !(amd64 || arm64) || purego

package kernel

// Without assembly only the portable kernels run.

// Supported reports whether this build runs kernel set id: only Go.
func Supported(id ID) bool { return id == Go }

func f32Arch(mr, nr, k int, a, b []float32, c []float64, ldc int) bool { return false }

func packF32Arch(panel, g []float32, d, lo, pc, kb, w int) bool { return false }

func f64Arch(k int, a, b, c []float64, ldc int, add bool) bool { return false }

func hasF64Strided() bool { return false }

func f64StridedArch(k int, a []float64, rs, cs int, b []float64, bs int, c []float64, ldc int, add bool) bool {
	return false
}

func expArch(x []float64, shift, scale float64) (float64, int) { return 0, 0 }

// Features lists the CPU features the kernel sets use that this build
// has: none.
func Features() []string { return nil }

func cvtF32Arch(dst []float32, src []float64, add bool) int { return 0 }
