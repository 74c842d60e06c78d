package coupling

import (
	"math"
	"sort"
)

// Influence returns the first-order influence matrix (DESIGN.md §4): one
// SGD step of size eta on sample i's policy-gradient objective A_i log
// pi(a_i | s_i) changes log pi(a_j | s_j) by
//
//	Delta_ij = eta A_i K_ij
//
// to first order in eta (a Taylor expansion of log pi along the step
// eta A_i g_i; Liu et al., arXiv 2509.23870, Sec. 4). k is the n x n Gram
// matrix (Gram), adv the advantages A_i; Delta is not symmetric. The
// result is stored in dst (allocated when nil, else len n*n). NaN
// propagates; a panic reports a length mismatch.
func Influence(dst []float64, k []float32, adv []float64, eta float64) []float64 {
	n := len(adv)
	if len(k) != n*n {
		panic("coupling: length mismatch")
	}
	if dst == nil {
		dst = make([]float64, n*n)
	} else if len(dst) != n*n {
		panic("coupling: length mismatch")
	}
	for i := range n {
		s := eta * adv[i]
		for j, v := range k[i*n : (i+1)*n] {
			dst[i*n+j] = s * float64(v)
		}
	}
	return dst
}

// InfluencePairs returns Delta_ij = eta A_i <g_i, g_j> for the given
// ordered pairs (I is the updated sample, J the affected one) directly
// from the rows of g (row length d), with the inner products summed
// exactly as Gram sums them (Dot), in dst (allocated when nil, else
// len(pairs)). A panic reports a length mismatch or a row out of range.
func InfluencePairs(dst []float64, g []float32, n, d int, pairs [][2]int, adv []float64, eta float64) []float64 {
	checkRows(g, n, d)
	if len(adv) != n {
		panic("coupling: length mismatch")
	}
	if dst == nil {
		dst = make([]float64, len(pairs))
	} else if len(dst) != len(pairs) {
		panic("coupling: length mismatch")
	}
	for p, ij := range pairs {
		i, j := ij[0], ij[1]
		dst[p] = eta * adv[i] * Dot(g[i*d:(i+1)*d], g[j*d:(j+1)*d])
	}
	return dst
}

// Dot returns <x, y> summed as Gram sums K_ij (in a build with -tags
// openblas, as the Go tiles sum it): float32 fused multiply-adds over
// blocks of 256 coordinates, the block sums added in float64. It is
// the reference for single pairs; Gram is much faster for many. A panic
// reports a length mismatch.
func Dot(x, y []float32) float64 {
	if len(x) != len(y) {
		panic("coupling: length mismatch")
	}
	var s float64
	for pc := 0; pc < len(x); pc += gramKC {
		xb := x[pc:min(pc+gramKC, len(x))]
		yb := y[pc : pc+len(xb)]
		var b float32
		for l, v := range xb {
			b = fma32(v, yb[l], b)
		}
		s += float64(b)
	}
	return s
}

// HarmfulConfig describes the samples of a harmful-coupling measurement.
type HarmfulConfig struct {
	// Eta is the step size of Delta_ij = eta A_i K_ij; 0 means 1. The
	// rate does not depend on it (for eta > 0), the mass scales with it.
	Eta float64
	// Advantages are the A_i (len n).
	Advantages []float64
	// Labels are the judge labels (len n): 1 good, 0 bad, other values
	// (-1 unknown) take part in no pair.
	Labels []int8
	// States identify the state of each sample (len n); pairs in the same
	// state are not counted. Nil treats every pair as in different states.
	States []int
	// Similarity, when not nil, gives the prompt similarity of the states
	// of samples i and j, and Edges (increasing) the bins it is reported in:
	// bin b holds Edges[b] <= s < Edges[b+1]; pairs outside every bin or
	// with NaN similarity are counted only overall.
	Similarity func(i, j int) float64
	Edges      []float64
}

// Harmful is the harmful coupling of a set of samples (DESIGN.md §4).
type Harmful struct {
	// Pairs counts the eligible ordered pairs (i, j): i good with A_i > 0,
	// j bad, in different states.
	Pairs int
	// Harmful counts the eligible pairs with Delta_ij > 0: a step that
	// rewards a good action raises a bad action elsewhere.
	Harmful int
	// Rate is Harmful / Pairs (NaN when Pairs is 0).
	Rate float64
	// Mass is sum of Delta_ij over the harmful pairs divided by Pairs, the
	// mean increase of log pi of bad actions per eligible pair that the
	// positive couplings cause (the mean of max(Delta_ij, 0)); NaN when
	// Pairs is 0.
	Mass float64
	// Net is the mean of Delta_ij over all eligible pairs, harmful or not.
	Net float64
	// Bins are the same statistics by prompt similarity (HarmfulConfig.Edges).
	Bins []HarmfulBin
}

// HarmfulBin is Harmful restricted to pairs with Lo <= similarity < Hi.
type HarmfulBin struct {
	Lo, Hi                 float64
	Pairs, Harmful         int
	Rate, Mass, Net        float64
	MeanCosine, MeanInner  float64 // over the bin's eligible pairs
	sumDelta, sumPos, sumC float64
	sumK                   float64
}

// HarmfulCoupling measures harmful coupling from the n x n Gram matrix k
// (Gram) and, for the per-bin mean cosines, the squared norms (SquaredNorms;
// nil skips MeanCosine, leaving it NaN). Delta_ij = eta A_i K_ij is not
// symmetric; both orders of each pair are examined. A panic reports a
// length mismatch.
func HarmfulCoupling(k []float32, n int, norms []float64, cfg HarmfulConfig) Harmful {
	if len(k) != n*n || len(cfg.Advantages) != n || len(cfg.Labels) != n ||
		cfg.States != nil && len(cfg.States) != n || norms != nil && len(norms) != n {
		panic("coupling: length mismatch")
	}
	eta := cfg.Eta
	if eta == 0 {
		eta = 1
	}
	if cfg.Similarity != nil && !sort.Float64sAreSorted(cfg.Edges) {
		panic("coupling: Edges not increasing")
	}
	var all HarmfulBin
	var bins []HarmfulBin
	if cfg.Similarity != nil && len(cfg.Edges) > 1 {
		bins = make([]HarmfulBin, len(cfg.Edges)-1)
		for b := range bins {
			bins[b].Lo, bins[b].Hi = cfg.Edges[b], cfg.Edges[b+1]
		}
	}
	for i := range n {
		if cfg.Labels[i] != 1 || !(cfg.Advantages[i] > 0) {
			continue
		}
		for j := range n {
			if cfg.Labels[j] != 0 || j == i || cfg.States != nil && cfg.States[i] == cfg.States[j] {
				continue
			}
			kij := float64(k[i*n+j])
			delta := eta * cfg.Advantages[i] * kij
			c := math.NaN()
			if norms != nil {
				c = cosine(kij, norms[i], norms[j])
			}
			all.add(delta, kij, c)
			if bins != nil {
				if b := binOf(cfg.Edges, cfg.Similarity(i, j)); b >= 0 {
					bins[b].add(delta, kij, c)
				}
			}
		}
	}
	all.finish()
	h := Harmful{Pairs: all.Pairs, Harmful: all.Harmful, Rate: all.Rate, Mass: all.Mass, Net: all.Net}
	for b := range bins {
		bins[b].finish()
	}
	h.Bins = bins
	return h
}

func (b *HarmfulBin) add(delta, k, c float64) {
	b.Pairs++
	b.sumDelta += delta
	b.sumK += k
	b.sumC += c
	if delta > 0 {
		b.Harmful++
		b.sumPos += delta
	}
}

func (b *HarmfulBin) finish() {
	p := float64(b.Pairs)
	if b.Pairs == 0 {
		p = math.NaN()
	}
	b.Rate = float64(b.Harmful) / p
	b.Mass = b.sumPos / p
	b.Net = b.sumDelta / p
	b.MeanInner = b.sumK / p
	b.MeanCosine = b.sumC / p
}

// SimilarityBin is the coupling of the pairs whose similarity falls in
// [Lo, Hi).
type SimilarityBin struct {
	Lo, Hi float64
	Pairs  int
	// Mean and Std are the mean and standard deviation (n-1 divisor; NaN
	// for fewer than 2 pairs) of the coupling values of the bin's pairs.
	Mean, Std float64
}

// CouplingBySimilarity bins the coupling of the pairs i < j of an n x n
// symmetric matrix c (a CosineGram, Gram or Influence matrix converted to
// float32) by their similarity sim(i, j) (for example the token Jaccard
// of the two prompts): bin b holds Edges[b] <= s < Edges[b+1] (the last
// bin also s == its upper edge). keep, when
// not nil, selects the pairs (for example good x bad). Pairs with a NaN
// similarity or value, or outside the edges, are skipped. A panic reports
// a length mismatch or edges not increasing.
func CouplingBySimilarity(c []float32, n int, sim func(i, j int) float64, edges []float64, keep func(i, j int) bool) []SimilarityBin {
	if len(c) != n*n || len(edges) < 2 {
		panic("coupling: length mismatch")
	}
	if !sort.Float64sAreSorted(edges) {
		panic("coupling: Edges not increasing")
	}
	bins := make([]SimilarityBin, len(edges)-1)
	mean := make([]float64, len(bins))
	m2 := make([]float64, len(bins))
	for b := range bins {
		bins[b].Lo, bins[b].Hi = edges[b], edges[b+1]
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			if keep != nil && !keep(i, j) {
				continue
			}
			v := float64(c[i*n+j])
			s := sim(i, j)
			if s != s || v != v {
				continue
			}
			b := binOf(edges, s)
			if b < 0 {
				continue
			}
			// Welford's update of the mean and the sum of squared deviations
			bins[b].Pairs++
			dv := v - mean[b]
			mean[b] += dv / float64(bins[b].Pairs)
			m2[b] += dv * (v - mean[b])
		}
	}
	for b := range bins {
		p := float64(bins[b].Pairs)
		bins[b].Mean, bins[b].Std = math.NaN(), math.NaN()
		if p > 0 {
			bins[b].Mean = mean[b]
		}
		if p > 1 {
			bins[b].Std = math.Sqrt(m2[b] / (p - 1))
		}
	}
	return bins
}

// binOf returns the bin of s between increasing edges: b with
// edges[b] <= s < edges[b+1], the last bin closed on the right; -1 when s
// is NaN or outside.
func binOf(edges []float64, s float64) int {
	if s != s || len(edges) < 2 || s < edges[0] || s > edges[len(edges)-1] {
		return -1
	}
	b := sort.SearchFloat64s(edges, s) // first edge >= s
	if b < len(edges) && edges[b] == s {
		b++
	}
	return min(b-1, len(edges)-2)
}
