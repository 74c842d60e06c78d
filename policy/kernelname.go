package policy

import "github.com/gradcouple/gradcouple/internal/kernel"

// KernelName names the matrix-product micro-kernel the actor uses on this
// machine and its tile (for example "avx512-8x16", "avx2-4x8", "neon-8x6",
// "go-4x8"): internal/kernel's F64 kernel of the set selected at start-up
// (GRADCOUPLE_KERNEL forces one). gradcouple version and the benchmarks
// print it beside every figure.
func KernelName() string { return kernel.F64Name() }

// KernelName32 names the micro-kernel of Model32's matrix products with its
// tile (for example "avx512-14x32", "avx2-6x16", "go-4x16"):
// internal/kernel's F32 kernel of the selected set.
func KernelName32() string { return kernel.F32Name() }
