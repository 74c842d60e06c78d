package policy

// KernelName names the matrix-product micro-kernel the actor uses on this
// machine (for example "avx512-8x16", "avx2-4x8", "go"): the one the CPU's
// features select at start-up. gradcouple version and the benchmarks print
// it beside every figure.
func KernelName() string { return kernelName() }
