package coupling

import (
	"container/heap"
	"slices"
)

// Pair is a pair of rows I < J and their cosine (as CosineGram gives it).
type Pair struct {
	I, J   int
	Cosine float32
}

// TopKConfig selects the pairs TopK ranks. The zero value ranks every pair
// i < j by decreasing cosine and keeps 10.
type TopKConfig struct {
	// K is the number of pairs to keep; 0 means 10.
	K int
	// Lowest ranks by increasing cosine (the most anti-coupled pairs).
	Lowest bool
	// Labels, when not nil (len n), keeps only good x bad pairs: one row
	// labelled 1 (good) and the other 0 (bad).
	Labels []int8
	// States, when not nil (len n), keeps only pairs of rows in different
	// states (States[i] != States[j]).
	States []int
}

// before is the ranking of TopK: higher cosine first (lower with Lowest),
// ties broken by smaller I, then smaller J.
func (c TopKConfig) before(p, q Pair) bool {
	if p.Cosine != q.Cosine {
		if c.Lowest {
			return p.Cosine < q.Cosine
		}
		return p.Cosine > q.Cosine
	}
	if p.I != q.I {
		return p.I < q.I
	}
	return p.J < q.J
}

func (c TopKConfig) keep(i, j int) bool {
	if c.Labels != nil {
		a, b := c.Labels[i], c.Labels[j]
		if !(a == 1 && b == 0 || a == 0 && b == 1) {
			return false
		}
	}
	return c.States == nil || c.States[i] != c.States[j]
}

// pairHeap is a min-heap under the ranking: its root is the worst kept pair.
type pairHeap struct {
	cfg TopKConfig
	p   []Pair
}

func (h *pairHeap) Len() int           { return len(h.p) }
func (h *pairHeap) Less(a, b int) bool { return h.cfg.before(h.p[b], h.p[a]) }
func (h *pairHeap) Swap(a, b int)      { h.p[a], h.p[b] = h.p[b], h.p[a] }
func (h *pairHeap) Push(x any)         { h.p = append(h.p, x.(Pair)) }
func (h *pairHeap) Pop() any           { x := h.p[len(h.p)-1]; h.p = h.p[:len(h.p)-1]; return x }

func (h *pairHeap) offer(p Pair, k int) {
	if len(h.p) < k {
		heap.Push(h, p)
		return
	}
	if h.cfg.before(p, h.p[0]) {
		h.p[0] = p
		heap.Fix(h, 0)
	}
}

// TopK returns the k most coupled pairs i < j of the n rows of g (row
// length d) by cosine, best first, without building the dense matrix: the
// cosine tiles of CosineGram are streamed and each worker keeps a bounded
// heap, and the heaps are merged. The ranking is a total order (cosine,
// then I, then J), so the result equals sorting the pairs of the dense
// CosineGram matrix and is the same for any number of workers. Pairs with
// a NaN cosine are skipped; zero rows have cosine 0 (CosineGram). Fewer
// than k pairs are returned when fewer pass the filters. g is not modified;
// a panic reports a length mismatch (also of Labels or States).
func TopK(g []float32, n, d int, cfg TopKConfig, gc GramConfig) []Pair {
	checkRows(g, n, d)
	if cfg.Labels != nil && len(cfg.Labels) != n || cfg.States != nil && len(cfg.States) != n {
		panic("coupling: length mismatch")
	}
	k := cfg.K
	if k <= 0 {
		k = 10
	}
	plan := NewTilePlan(n, gc.denseTileRows(n))
	tiles := plan.Tiles()
	norms := SquaredNorms(nil, g, n, d)
	workers := max(1, min(gc.workers(), len(tiles)))
	heaps := make([]pairHeap, workers)
	for i := range heaps {
		heaps[i].cfg = cfg
	}
	runTiles(g, n, d, plan, tiles, workers, func(worker int, w *gramWork, t Tile) {
		r0, r1, c0, c1 := plan.Bounds(t)
		w.finish(MeasureCosine, norms, r0, r1, c0, c1)
		h := &heaps[worker]
		cols := c1 - c0
		for i := r0; i < r1; i++ {
			row := w.out[(i-r0)*cols : (i-r0+1)*cols]
			j0 := c0
			if t.I == t.J {
				j0 = i + 1
			}
			for j := j0; j < c1; j++ {
				v := row[j-c0]
				if v != v || !cfg.keep(i, j) {
					continue
				}
				h.offer(Pair{I: i, J: j, Cosine: v}, k)
			}
		}
	})
	var all []Pair
	for _, h := range heaps {
		all = append(all, h.p...)
	}
	slices.SortFunc(all, func(p, q Pair) int {
		if cfg.before(p, q) {
			return -1
		}
		if cfg.before(q, p) {
			return 1
		}
		return 0
	})
	return all[:min(k, len(all))]
}
