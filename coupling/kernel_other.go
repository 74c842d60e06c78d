//go:build !amd64 || purego

package coupling

func kernelTile() (mr, nr int) { return goMR, goNR }

// gramKernel runs the micro-kernel in use; see gramKernelGo.
func gramKernel(mr, nr, k int, a, b []float32, c []float64, ldc int) {
	gramKernelGo(mr, nr, k, a, b, c, ldc)
}

// KernelName names the Gram micro-kernel in use, for benchmark reports.
func KernelName() string { return "go-4x16" }

func packFast(panel, g []float32, d, lo, pc, kb, w int) bool { return false }
