//go:build !amd64 || purego

package coupling

// kernelSupported reports the kernels this build runs: the portable one.
func kernelSupported(id kernelID) bool { return id == kernelGo }

// gramKernel runs the micro-kernel in use; see gramKernelGo.
func gramKernel(mr, nr, k int, a, b []float32, c []float64, ldc int) {
	gramKernelGo(mr, nr, k, a, b, c, ldc)
}

func packFast(panel, g []float32, d, lo, pc, kb, w int) bool { return false }
