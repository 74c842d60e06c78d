//go:build !amd64 || purego

package policy

import "math"

func kernelTile() (mr, nr int) { return 4, 8 }

func gemmArch(w *gemmBuf, tA, tB bool, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int, add bool) bool {
	return false
}

// kernel computes one micro-tile; see kernelGo.
func kernel(k int, a, b, c []float64, ldc int, add bool) { kernelGo(k, a, b, c, ldc, add) }

// kernelName names the micro-kernel in use (for benchmark reports).
func kernelName() string { return "go" }

// expShiftSum sets x[i] = exp((x[i]-shift)*scale) and returns their sum.
func expShiftSum(x []float64, shift, scale float64) float64 {
	var s float64
	for i, v := range x {
		e := math.Exp((v - shift) * scale)
		x[i] = e
		s += e
	}
	return s
}
