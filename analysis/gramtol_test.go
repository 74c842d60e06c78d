//go:build !openblas

package analysis

// gramTol bounds how far a Gram matrix computed whole by coupling.Gram may
// be from the same matrix merged from shards, relative to
// sum_l |g_i[l] g_j[l]| for K_ij (and to the larger magnitude for the
// statistics computed from them). Without the build tag openblas both run
// on coupling's Go tiles, which sum every K_ij in the same order, so they
// must agree bit for bit: the tolerance is 0.
const gramTol float64 = 0
