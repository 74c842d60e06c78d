//go:build !openblas

package coupling

// blasDense reports false: without the build tag openblas, Gram and
// CosineGram always run on the Go tiles (gram_openblas.go has the OpenBLAS
// path).
func blasDense(dst, g []float32, n, d int, m Measure, cfg GramConfig) bool { return false }

// blasLibrary returns zero values: no BLAS library is linked.
func blasLibrary() (config, core string, threads int) { return "", "", 0 }
