//go:build openblas

package analysis

// gramTol bounds how far a Gram matrix computed whole by coupling.Gram may
// be from the same matrix merged from shards, relative to
// sum_l |g_i[l] g_j[l]| for K_ij (and to the larger magnitude for the
// statistics computed from them). With the build tag openblas the whole
// matrix comes from OpenBLAS's ssyrk, while shards (blocks of rows against
// other rows) run on coupling's Go tiles: both accumulate in float32, in
// different orders, so they agree to float32 rounding, not bit for bit.
// 1e-6 is the bound coupling's TestOpenBLASMatchesGo holds the two paths to
// (measured maximum 3e-7 on D = 16384, coupling's TestGramPrecision).
const gramTol float64 = 1e-6
