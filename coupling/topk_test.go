package coupling

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTopKEqualsSortedDense: TopK equals sorting the pairs of the dense
// CosineGram matrix under the same order (cosine, then I, then J), with
// and without the good x bad and different-state filters, for Highest and
// Lowest, with any number of workers and tile size. Rows are duplicated so
// that ties occur.
func TestTopKEqualsSortedDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	n, d := 90, 64
	g := randRows(rng, n, d)
	for i := 60; i < n; i++ {
		copy(g[i*d:(i+1)*d], g[(i-60)*d:(i-59)*d]) // duplicates: equal cosines
	}
	labels := make([]int8, n)
	states := make([]int, n)
	for i := range n {
		labels[i] = int8(rng.IntN(3)) - 1
		states[i] = rng.IntN(5)
	}
	c := gramGo(g, n, d, MeasureCosine, GramConfig{}) // TopK's bits
	for _, cfg := range []TopKConfig{
		{}, {K: 25}, {K: 40, Lowest: true}, {K: 30, Labels: labels},
		{K: 30, States: states}, {K: 5000, Labels: labels, States: states},
	} {
		var want []Pair
		for i := range n {
			for j := i + 1; j < n; j++ {
				if cfg.keep(i, j) {
					want = append(want, Pair{i, j, c[i*n+j]})
				}
			}
		}
		slices.SortFunc(want, func(p, q Pair) int {
			if cfg.before(p, q) {
				return -1
			}
			return 1
		})
		k := cfg.K
		if k == 0 {
			k = 10
		}
		want = want[:min(k, len(want))]
		for _, gc := range []GramConfig{{}, {Workers: 1, TileRows: 8}, {Workers: 4, TileRows: 13}} {
			got := TopK(g, n, d, cfg, gc)
			if !slices.Equal(got, want) {
				t.Fatalf("%+v %+v:\n got %v\nwant %v", cfg.K, gc, got[:min(5, len(got))], want[:min(5, len(want))])
			}
		}
	}
}
