package coupling

import "github.com/gradcouple/gradcouple/internal/kernel"

// The Gram micro-kernels live in internal/kernel (its F32 kernels), shared
// with the actor; this file names them for coupling.
//
// Every inner product K_ij = <g_i, g_j> of float32 rows is summed the same
// way, whichever kernel, tile size, shard or number of goroutines computes
// it: the coordinates are cut into consecutive blocks of gramKC (the last
// may be shorter); within a block the products g_i[l] g_j[l] are accumulated
// in float32 by fused multiply-adds in increasing order of l starting from 0
// (kernel.F32); the block sums are converted to float64 and added in
// increasing block order, starting from 0.

// gramKC is the length of a float32 accumulation block.
const gramKC = 256

// KernelName names the Gram micro-kernel in use and its tile
// ("avx512-14x32", "avx2-6x16", "neon-8x12" or "go-4x16"), for benchmark
// and version reports.
//
// The kernel is chosen once, when the program starts: the fastest one the
// CPU and operating system support, unless the environment variable
// GRADCOUPLE_KERNEL forces one the machine can run ("avx512", "avx2",
// "neon" or "go"; see package internal/kernel). Every kernel sums in the
// order described above, so the choice changes speed only, never a bit of a
// result. An unknown value, or a kernel the machine cannot run, gives the
// fastest kernel, and the name is followed by the reason in parentheses,
// e.g. "go-4x16 (GRADCOUPLE_KERNEL=avx512 is not supported on this
// machine)".
func KernelName() string { return kernel.F32Name() }

// fma32 is kernel.Fma32: a*b + c rounded once to float32.
func fma32(a, b, c float32) float32 { return kernel.Fma32(a, b, c) }
