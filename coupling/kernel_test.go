package coupling

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gradcouple/gradcouple/internal/kernel"
)

// withKernel runs f with kernel set id selected and restores the init-time
// choice.
func withKernel(id kernel.ID, f func()) {
	defer kernel.Use(id)()
	f()
}

// withGoKernel runs f with the portable kernel.
func withGoKernel(f func()) { withKernel(kernel.Go, f) }

// TestGramKernelsAgree: Gram, CosineGram, SquaredNorms, GramTiles, TopK
// and Project give the same bits with every kernel the machine runs as
// with the portable one, on random shapes with ragged edges (n not a
// multiple of any tile side, d not a multiple of gramKC, of 16 or of the
// unrolls).
func TestGramKernelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	shapes := [][2]int{{1, 1}, {5, 3}, {75, 600}, {33, 257}, {129, 515}}
	for range 3 {
		shapes = append(shapes, [2]int{1 + rng.IntN(150), 1 + rng.IntN(700)})
	}
	type result struct {
		gram, cos, tiles, proj []float32
		sq                     []float64
		top                    []Pair
	}
	run := func(g []float32, n, d int) result {
		var r result
		cfg := GramConfig{TileRows: 40, Workers: 3}
		r.gram, _ = Gram(nil, g, n, d, cfg)
		r.cos, _ = CosineGram(nil, g, n, d, GramConfig{Workers: 2})
		r.sq = SquaredNorms(nil, g, n, d)
		plan := NewTilePlan(n, 32)
		r.tiles = make([]float32, n*n)
		err := GramTiles(g, n, d, plan.Tiles(), MeasureCosine, GramConfig{TileRows: 32}, func(b TileBlock) error {
			b.Put(r.tiles, n)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		r.top = TopK(g, n, d, TopKConfig{K: 7}, cfg)
		p := Projection{D: d, K: 50, Seed: 9}
		r.proj = p.Project(nil, g, n)
		return r
	}
	for _, s := range shapes {
		n, d := s[0], s[1]
		g := randRows(rng, n, d)
		g0 := slices.Clone(g)
		var want result
		withGoKernel(func() { want = run(g, n, d) })
		for _, id := range kernel.Runnable()[1:] {
			var got result
			withKernel(id, func() { got = run(g, n, d) })
			name := id.String()
			switch {
			case !slices.Equal(got.gram, want.gram):
				t.Errorf("n=%d d=%d: Gram differs between %s and go", n, d, name)
			case !slices.Equal(got.cos, want.cos):
				t.Errorf("n=%d d=%d: CosineGram differs between %s and go", n, d, name)
			case !slices.Equal(got.sq, want.sq):
				t.Errorf("n=%d d=%d: SquaredNorms differs between %s and go", n, d, name)
			case !slices.Equal(got.tiles, want.cos):
				t.Errorf("n=%d d=%d: GramTiles differs between %s and CosineGram on go", n, d, name)
			case !slices.Equal(got.top, want.top):
				t.Errorf("n=%d d=%d: TopK differs between %s and go", n, d, name)
			case !slices.Equal(got.proj, want.proj):
				t.Errorf("n=%d d=%d: Project differs between %s and go", n, d, name)
			}
		}
		if !slices.Equal(g, g0) {
			t.Fatal("the gradients were modified")
		}
	}
}
