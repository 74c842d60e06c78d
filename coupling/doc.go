// Package coupling holds the gradient-coupling analyses of gradcouple: pure
// math on per-sample gradient rows and hidden states, with no files, flags
// or printing (DESIGN.md §2). It imports only the standard library and
// gonum. Randomness is a seed (Projection) or an injected *rand.Rand
// (LinearProbe), and every result is deterministic for it, whatever
// GOMAXPROCS is.
//
// Per-sample gradients g_0..g_{N-1} of length D are passed row-major as one
// []float32 with N and D. What is here (definitions in DESIGN.md §4,
// formulas and sources on each declaration):
//
//   - The coupling kernel K_ij = <g_i, g_j> and cosines C_ij: Gram and
//     CosineGram (dense, with a memory budget: ErrTooLarge), SquaredNorms
//     and Dot. Tiles of the upper triangle are computed in parallel by an
//     AVX-512 micro-kernel (a portable one elsewhere and with -tags
//     purego); float32 products are summed in float32 over blocks of 256
//     coordinates and the block sums in float64, in a fixed order, so the
//     bits do not depend on the kernel, the tile size, the number of
//     goroutines or sharding. The optional build tag openblas makes Gram
//     and CosineGram call OpenBLAS's ssyrk through gonum.org/v1/netlib
//     (cgo; CGO_ENABLED=1 go build -tags openblas, with libopenblas-dev
//     installed; see gram_openblas.go): the same values within float32
//     rounding, not the same bits. The default build is pure Go.
//   - Sharding: TilePlan enumerates the tiles and splits them into shards
//     (TilePlan.Shard); GramTiles computes a subset of tiles and
//     TileBlock.Put merges them into the dense matrix, bit for bit.
//   - Group coupling in O(N D) from sums of unit vectors: GroupMeans (mean
//     cosine and inner product within and across groups, e.g. good and bad
//     actions from GoodBadGroups).
//   - The most coupled pairs without a dense matrix: TopK, optionally only
//     good x bad pairs or pairs in different states.
//   - Seeded random projection with Johnson-Lindenstrauss scaling, streamed
//     over rows: Projection (Rademacher or Gaussian entries generated from
//     a counter-based hash) and JLDim, the dimension that preserves inner
//     products within a stated eps and probability.
//   - First-order influence Delta_ij = eta A_i K_ij: Influence,
//     InfluencePairs; harmful coupling (good i with A_i > 0 raising a bad j
//     in another state): HarmfulCoupling, overall and binned by prompt
//     similarity; CouplingBySimilarity.
//   - Representation separation of good and bad hidden states: FisherRatio
//     (LDA direction, shrunk within-class scatter), Silhouette (cosine or
//     Euclidean) and LinearProbe (stratified k-fold, L2 logistic regression
//     by L-BFGS).
//
// Conventions (gonum style): the output argument dst comes first and nil
// means allocate; inputs are never modified; a length mismatch panics with
// "coupling: length mismatch"; bad data gives NaN or an error (ErrTooLarge,
// ErrParameter); settings structs mean their defaults when zero. Zero rows
// have no direction: their cosines are 0 and they are left out of mean
// cosines.
package coupling
