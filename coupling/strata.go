package coupling

import (
	"math"
	"math/rand/v2"
	"slices"
)

// EditDistance returns the Levenshtein distance between the token
// sequences a and b (insertions, deletions and substitutions of one token,
// each of cost 1) when it is at most k, and k+1 otherwise. Only the band of
// 2k+1 diagonals around the main one is filled, and the scan stops as soon
// as every cell of a row exceeds k, so the work is at most
// min(len(a), len(b)) * (2k+1) cells (len(a)+len(b) for k = 0 and none
// when the lengths differ by more than k). A negative k is taken as 0.
func EditDistance(a, b []int32, k int) int {
	k = max(k, 0)
	if len(a) < len(b) {
		a, b = b, a
	}
	n, m := len(a), len(b) // n >= m
	if n-m > k {
		return k + 1
	}
	if m == 0 {
		return n
	}
	inf := k + 1
	// prev[j] and cur[j] hold D(i, j) for j in [i-k, i+k] ∩ [0, m].
	prev := make([]int, m+1)
	cur := make([]int, m+1)
	for j := range prev {
		prev[j] = min(j, inf)
	}
	for i := 1; i <= n; i++ {
		lo, hi := max(0, i-k), min(m, i+k)
		rowMin := inf
		if lo == 0 {
			cur[0] = min(i, inf)
			rowMin = cur[0]
		} else {
			cur[lo-1] = inf
		}
		for j := max(lo, 1); j <= hi; j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			del := inf
			if j <= i-1+k { // prev[j] is inside the previous row's band
				del = prev[j] + 1
			}
			ins := cur[j-1] + 1
			v := min(sub, del, ins, inf)
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if hi < m {
			cur[hi+1] = inf
		}
		if rowMin > k {
			return inf
		}
		prev, cur = cur, prev
	}
	return min(prev[m], inf)
}

// EditSimilarity is 1 - d / max(len(a), len(b)) for the Levenshtein
// distance d of the token sequences (1 for two empty sequences): 1 for
// identical prompts, 0 for prompts with nothing in common in order. It
// returns NaN when the normalised distance exceeds maxDist (in [0, 1]; the
// banded EditDistance then stops early, see there for the work).
func EditSimilarity(a, b []int32, maxDist float64) float64 {
	l := max(len(a), len(b))
	if l == 0 {
		return 1
	}
	k := int(math.Floor(maxDist * float64(l)))
	if multisetGap(a, b) > 2*k {
		return math.NaN() // cheap lower bound: d >= L1(histograms)/2
	}
	d := EditDistance(a, b, k)
	if d > k {
		return math.NaN()
	}
	return 1 - float64(d)/float64(l)
}

// EditLowerBound is a lower bound of EditDistance(a, b, k) for any k: half
// the L1 distance of the token histograms, rounded up (a substitution
// changes that distance by at most 2, an insertion or deletion by 1), in
// O(L log L) without the dynamic program.
func EditLowerBound(a, b []int32) int { return (multisetGap(a, b) + 1) / 2 }

// multisetGap is the L1 distance of the token histograms of a and b, a
// lower bound of twice their edit distance (a substitution changes it by at
// most 2, an insertion or deletion by 1). It sorts copies.
func multisetGap(a, b []int32) int {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	gap := 0
	p, q := 0, 0
	for p < len(x) && q < len(y) {
		switch {
		case x[p] == y[q]:
			p++
			q++
		case x[p] < y[q]:
			gap++
			p++
		default:
			gap++
			q++
		}
	}
	return gap + len(x) - p + len(y) - q
}

// Stratum is a kind of sample pair (DESIGN.md §4, pair strata).
type Stratum int

// The pair strata. All pairs are of labelled samples (label 0 or 1).
const (
	// Twins: distinct states, the same action, labels good and bad, and
	// prompts within StrataConfig.TwinDistance of each other (normalised
	// token edit distance): the pairs the coupling mechanism needs.
	Twin Stratum = iota
	// SameState: the same state, different actions.
	SameState
	// SameActionLabel: distinct states, the same action and the same label.
	SameActionLabel
	// Random: a seeded uniform sample of pairs in distinct states.
	Random
	// All: every pair of distinct labelled samples.
	All
	numStrata
)

// Strata lists the strata in table order.
var Strata = []Stratum{Twin, SameState, SameActionLabel, Random, All}

func (s Stratum) String() string {
	switch s {
	case Twin:
		return "twins"
	case SameState:
		return "same_state"
	case SameActionLabel:
		return "same_action_label"
	case Random:
		return "random"
	case All:
		return "all"
	}
	return "?"
}

// SamplePair is a pair of samples. A pair of a good and a bad sample is stored
// good first (I good, J bad).
type SamplePair struct{ I, J int }

// StrataInput describes the n samples whose pairs are classified. Labels,
// Actions and States have length n; Tokens (the prompts' token ids) may be
// nil (no twins: similarity unknown).
type StrataInput struct {
	Labels  []int8 // 1 good, 0 bad, other values take part in no pair
	Actions []int  // equal ids, equal action
	States  []int  // equal ids, equal state
	Tokens  [][]int32
}

// StrataConfig bounds FindStrata. The zero value means the defaults.
type StrataConfig struct {
	// TwinDistance is the largest normalised token edit distance
	// d / max(len) of twin prompts; 0 means 0.1 (15 tokens of a
	// 150-token prompt).
	TwinDistance float64
	// MaxCells bounds the dynamic-programming cells of the edit distances
	// (the work); 0 means 1<<27. Candidate pairs are compared in a seeded
	// random order until the bound is reached; the rest are not compared
	// (Strata.Truncated, Compared).
	MaxCells int64
	// RandomPairs is the size of the random stratum; 0 means 4096.
	RandomPairs int
	// MaxPairs caps every other stratum: a larger one is subsampled
	// uniformly (seeded); 0 means 1<<16.
	MaxPairs int
	// TwinsOnly finds the twins alone, visiting only the pairs within an
	// action (O(sum over actions of n_a^2) instead of O(n^2)).
	TwinsOnly bool
}

func (c StrataConfig) withDefaults() StrataConfig {
	if c.TwinDistance == 0 {
		c.TwinDistance = 0.1
	}
	if c.MaxCells == 0 {
		c.MaxCells = 1 << 27
	}
	if c.RandomPairs == 0 {
		c.RandomPairs = 4096
	}
	if c.MaxPairs == 0 {
		c.MaxPairs = 1 << 16
	}
	return c
}

// StrataResult holds the pairs of each stratum (index Stratum) and how the
// twin search went.
type StrataResult struct {
	Pairs [numStrata][]SamplePair
	// Candidates counts the good x bad pairs with the same action in
	// distinct states (the twin candidates), Compared those whose edit
	// distance was computed, Cells the DP cells spent; Truncated is set
	// when MaxCells stopped the search.
	Candidates, Compared int
	Cells                int64
	Truncated            bool
	// Available counts the pairs of each stratum before MaxPairs.
	Available [numStrata]int
}

// FindStrata classifies the pairs of the samples of in into strata. Twin
// candidates are found by bucketing the samples by action and, within a
// bucket, comparing good with bad samples in other states: first by length
// (|len a - len b| <= k) and by the token-histogram lower bound, then by
// the banded EditDistance with k = floor(TwinDistance * max(len)). The work
// is at most sum over actions of good_a * bad_a * L * (2k+1) cells (L the
// longest prompt), and never more than MaxCells: candidates are visited in
// a seeded random order, so a truncated search is a uniform subsample.
// Everything is deterministic given rng. A panic reports a length mismatch.
func FindStrata(in StrataInput, cfg StrataConfig, rng *rand.Rand) StrataResult {
	n := len(in.Labels)
	if len(in.Actions) != n || len(in.States) != n || in.Tokens != nil && len(in.Tokens) != n {
		panic("coupling: length mismatch")
	}
	cfg = cfg.withDefaults()
	var r StrataResult
	labelled := func(i int) bool { return in.Labels[i] == 0 || in.Labels[i] == 1 }
	order := func(i, j int) SamplePair {
		if in.Labels[i] == 0 && in.Labels[j] == 1 || in.Labels[i] == in.Labels[j] && j < i {
			return SamplePair{j, i}
		}
		return SamplePair{i, j}
	}
	var cands []SamplePair
	if cfg.TwinsOnly {
		byAction := map[int][]int{}
		var acts []int
		for i := range n {
			if labelled(i) {
				if _, ok := byAction[in.Actions[i]]; !ok {
					acts = append(acts, in.Actions[i])
				}
				byAction[in.Actions[i]] = append(byAction[in.Actions[i]], i)
			}
		}
		slices.Sort(acts)
		for _, a := range acts {
			idx := byAction[a]
			for x, i := range idx {
				for _, j := range idx[x+1:] {
					if in.States[i] != in.States[j] && in.Labels[i] != in.Labels[j] {
						cands = append(cands, order(i, j))
					}
				}
			}
		}
	}
	for i := range n {
		if !labelled(i) || cfg.TwinsOnly {
			continue
		}
		for j := i + 1; j < n; j++ {
			if !labelled(j) {
				continue
			}
			p := order(i, j)
			r.Pairs[All] = append(r.Pairs[All], p)
			sameState, sameAction := in.States[i] == in.States[j], in.Actions[i] == in.Actions[j]
			switch {
			case sameState && !sameAction:
				r.Pairs[SameState] = append(r.Pairs[SameState], p)
			case !sameState && sameAction && in.Labels[i] == in.Labels[j]:
				r.Pairs[SameActionLabel] = append(r.Pairs[SameActionLabel], p)
			case !sameState && sameAction:
				cands = append(cands, p)
			}
		}
	}
	r.Candidates = len(cands)
	if in.Tokens != nil {
		rng.Shuffle(len(cands), func(a, b int) { cands[a], cands[b] = cands[b], cands[a] })
		for _, p := range cands {
			a, b := in.Tokens[p.I], in.Tokens[p.J]
			l := max(len(a), len(b))
			k := int(math.Floor(cfg.TwinDistance * float64(l)))
			cost := int64(min(len(a), len(b))+1) * int64(2*k+1)
			if r.Cells+cost > cfg.MaxCells {
				r.Truncated = true
				break
			}
			r.Compared++
			if abs(len(a)-len(b)) > k || multisetGap(a, b) > 2*k {
				continue
			}
			r.Cells += cost
			if EditDistance(a, b, k) <= k {
				r.Pairs[Twin] = append(r.Pairs[Twin], p)
			}
		}
		slices.SortFunc(r.Pairs[Twin], comparePairs)
	}
	// Random pairs in distinct states.
	var lab []int
	for i := range n {
		if labelled(i) {
			lab = append(lab, i)
		}
	}
	distinct := 0
	for _, p := range r.Pairs[All] {
		if in.States[p.I] != in.States[p.J] {
			distinct++
		}
	}
	r.Available = [numStrata]int{Twin: len(r.Pairs[Twin]), SameState: len(r.Pairs[SameState]),
		SameActionLabel: len(r.Pairs[SameActionLabel]), Random: distinct, All: len(r.Pairs[All])}
	if distinct > 0 && !cfg.TwinsOnly {
		for tries := 0; len(r.Pairs[Random]) < cfg.RandomPairs && tries < 64*cfg.RandomPairs; tries++ {
			i, j := lab[rng.IntN(len(lab))], lab[rng.IntN(len(lab))]
			if i != j && in.States[i] != in.States[j] {
				r.Pairs[Random] = append(r.Pairs[Random], order(i, j))
			}
		}
	}
	for _, s := range []Stratum{Twin, SameState, SameActionLabel, All} {
		if len(r.Pairs[s]) > cfg.MaxPairs {
			p := r.Pairs[s]
			rng.Shuffle(len(p), func(a, b int) { p[a], p[b] = p[b], p[a] })
			r.Pairs[s] = p[:cfg.MaxPairs]
			slices.SortFunc(r.Pairs[s], comparePairs)
		}
	}
	return r
}

func comparePairs(x, y SamplePair) int {
	if x.I != y.I {
		return x.I - y.I
	}
	return x.J - y.J
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// PairStats are the coupling statistics of a set of pairs (DESIGN.md §4)
// from the Gram matrix K: mean cosines C_ij = K_ij / (|g_i| |g_j|) of the
// good-good, bad-bad and good-bad pairs, and harmful coupling of the
// good-bad pairs in distinct states whose good sample has A_i > 0:
// Delta_ij = eta A_i K_ij, HarmfulRate the (weighted) share with
// Delta_ij > 0, HarmfulMass the mean of max(Delta_ij, 0).
type PairStats struct {
	Pairs                       int // pairs with nonzero weight
	GoodGood, BadBad, GoodBad   int
	CosGood, CosBad, CosGoodBad float64
	Eligible                    int // good-bad pairs entering the harmful rate
	HarmfulRate, HarmfulMass    float64
}

// Value returns a statistic by name: cos_good, cos_bad, cos_good_bad,
// harmful_rate or harmful_mass (NaN for another name).
func (s PairStats) Value(name string) float64 {
	switch name {
	case "cos_good":
		return s.CosGood
	case "cos_bad":
		return s.CosBad
	case "cos_good_bad":
		return s.CosGoodBad
	case "harmful_rate":
		return s.HarmfulRate
	case "harmful_mass":
		return s.HarmfulMass
	}
	return math.NaN()
}

// PairStatNames are the statistics of PairStats.Value.
var PairStatNames = []string{"cos_good", "cos_bad", "cos_good_bad", "harmful_rate", "harmful_mass"}

// PairStatistics computes PairStats of pairs from the n x n Gram matrix k
// (Gram), the squared norms (SquaredNorms), labels (1 good, 0 bad; a pair
// with another label is skipped), advantages, states (nil: all distinct)
// and step size eta (0 means 1). Each pair has weight w[I] w[J] (w nil:
// 1), as a bootstrap over samples weighs it; a mean with no weight is
// NaN, as is a cosine with a zero-norm sample (that pair is left out of
// the cosine means). The labels are taken from labels, not from the order
// of the pair. Work O(len(pairs)). A panic reports a length mismatch.
func PairStatistics(k []float32, n int, norms []float64, pairs []SamplePair, labels []int8, adv []float64, states []int, eta float64, w []float64) PairStats {
	if len(k) != n*n || len(norms) != n || len(labels) != n || len(adv) != n || states != nil && len(states) != n || w != nil && len(w) != n {
		panic("coupling: length mismatch")
	}
	if eta == 0 {
		eta = 1
	}
	var s PairStats
	var sc, wc [3]float64 // 0 good-good, 1 bad-bad, 2 good-bad
	var nc [3]int
	var we, harm, mass float64
	for _, p := range pairs {
		i, j := p.I, p.J
		wt := 1.0
		if w != nil {
			wt = w[i] * w[j]
			if wt == 0 {
				continue
			}
		}
		li, lj := labels[i], labels[j]
		var g int
		switch {
		case li == 1 && lj == 1:
			g = 0
		case li == 0 && lj == 0:
			g = 1
		case li == 1 && lj == 0:
			g = 2
		case li == 0 && lj == 1:
			g, i, j = 2, j, i
		default:
			continue
		}
		s.Pairs++
		nc[g]++
		kij := float64(k[i*n+j])
		if norms[i] > 0 && norms[j] > 0 {
			sc[g] += wt * kij / math.Sqrt(norms[i]*norms[j])
			wc[g] += wt
		}
		if g == 2 && adv[i] > 0 && (states == nil || states[i] != states[j]) {
			s.Eligible++
			we += wt
			d := eta * adv[i] * kij
			if d > 0 {
				harm += wt
				mass += wt * d
			}
		}
	}
	s.GoodGood, s.BadBad, s.GoodBad = nc[0], nc[1], nc[2]
	mean := func(x, w float64) float64 {
		if w == 0 {
			return math.NaN()
		}
		return x / w
	}
	s.CosGood, s.CosBad, s.CosGoodBad = mean(sc[0], wc[0]), mean(sc[1], wc[1]), mean(sc[2], wc[2])
	s.HarmfulRate, s.HarmfulMass = mean(harm, we), mean(mass, we)
	return s
}
