package coupling_test

import (
	"fmt"
	"slices"

	"github.com/gradcouple/gradcouple/coupling"
)

// Three gradients of length 4: the second is the first scaled, the third
// is orthogonal to both.
func ExampleCosineGram() {
	g := []float32{
		1, 2, 0, 0,
		2, 4, 0, 0,
		0, 0, 3, -1,
	}
	k, _ := coupling.Gram(nil, g, 3, 4, coupling.GramConfig{})
	c, _ := coupling.CosineGram(nil, g, 3, 4, coupling.GramConfig{})
	fmt.Println(k)
	fmt.Println(c)
	// Output:
	// [5 10 0 10 20 0 0 0 10]
	// [1 1 0 1 1 0 0 0 1]
}

// A Gram too large for the memory budget is refused with a hint.
func ExampleGram_budget() {
	g := make([]float32, 1000*8)
	_, err := coupling.Gram(nil, g, 1000, 8, coupling.GramConfig{MaxBytes: 1 << 20})
	fmt.Println(err)
	// Output:
	// coupling: dense result exceeds the memory budget: a dense 1000 x 1000 matrix needs 3.8 MiB, the budget is 1.0 MiB; use group statistics (mean cosines within and across groups in O(N D)), the top-k most coupled pairs, or compute the tiles in shards and merge them
}

// Shard 0/2 and shard 1/2 computed separately (as two processes would)
// and merged give the dense matrix.
func ExampleGramTiles() {
	n, d := 5, 3
	g := []float32{1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0, 2, 1, 1, 1}
	cfg := coupling.GramConfig{TileRows: 2}
	plan := coupling.NewTilePlan(n, cfg.TileRows)
	merged := make([]float32, n*n)
	for shard := range 2 {
		tiles, _ := plan.Shard(shard, 2)
		fmt.Println("shard", shard, tiles)
		_ = coupling.GramTiles(g, n, d, tiles, coupling.MeasureInner, cfg, func(b coupling.TileBlock) error {
			b.Put(merged, n)
			return nil
		})
	}
	dense, _ := coupling.Gram(nil, g, n, d, cfg)
	fmt.Println(slices.Equal(merged, dense))
	// Output:
	// shard 0 [{0 0} {0 2} {1 2}]
	// shard 1 [{0 1} {1 1} {2 2}]
	// true
}

// Mean cosines within and across good and bad samples in O(N D).
func ExampleGroupMeans() {
	g := []float32{
		1, 0.1, 0, // good
		1, -0.1, 0, // good
		0.9, 0, 0.5, // bad
		0, 0, 1, // bad
	}
	labels := []int8{1, 1, 0, 0}
	s := coupling.GroupMeans(g, 4, 3, coupling.GoodBadGroups(nil, labels), 2)
	fmt.Printf("within good %.3f, within bad %.3f, across %.3f\n",
		s.Mean(coupling.GroupGood, coupling.GroupGood), s.Mean(coupling.GroupBad, coupling.GroupBad),
		s.Mean(coupling.GroupGood, coupling.GroupBad))
	// Output:
	// within good 0.980, within bad 0.486, across 0.435
}

// The most coupled good x bad pair.
func ExampleTopK() {
	g := []float32{
		1, 0, 0,
		0, 1, 0,
		1, 0.1, 0,
		0, 1, 1,
	}
	labels := []int8{1, 1, 0, 0}
	for _, p := range coupling.TopK(g, 4, 3, coupling.TopKConfig{K: 2, Labels: labels}, coupling.GramConfig{}) {
		fmt.Printf("(%d, %d) %.3f\n", p.I, p.J, p.Cosine)
	}
	// Output:
	// (0, 2) 0.995
	// (1, 3) 0.707
}

// Project 1000-dimensional gradients of 50 samples to the dimension that
// keeps every inner product within 0.3 |g_i| |g_j| with probability 0.99.
func ExampleProjection() {
	k := coupling.JLDim(50, 0.3, 0.01)
	p := coupling.Projection{D: 1000, K: k, Kind: coupling.Rademacher, Seed: 7}
	g := make([]float32, 50*1000)
	for i := range g {
		g[i] = float32(i%7) - 3
	}
	y := p.Project(nil, g, 50)
	fmt.Println(k, len(y))
	// Output:
	// 730 36500
}
