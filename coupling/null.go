package coupling

import (
	"math"
	"math/rand/v2"
	"slices"
)

// ShuffleLabels returns a copy of labels permuted within blocks: positions
// i and j may exchange labels only when block[i] == block[j] >= 0 (for a
// label-permutation null within each action, block is the action); a
// negative block keeps its label. The result is stored in dst (allocated
// when nil, else len(labels)). A panic reports a length mismatch.
func ShuffleLabels(dst, labels []int8, block []int, rng *rand.Rand) []int8 {
	if len(block) != len(labels) {
		panic("coupling: length mismatch")
	}
	if dst == nil {
		dst = make([]int8, len(labels))
	} else if len(dst) != len(labels) {
		panic("coupling: length mismatch")
	}
	copy(dst, labels)
	for _, idx := range blockIndices(block) {
		// Fisher-Yates over the positions of one block.
		for a := len(idx) - 1; a > 0; a-- {
			b := rng.IntN(a + 1)
			dst[idx[a]], dst[idx[b]] = dst[idx[b]], dst[idx[a]]
		}
	}
	return dst
}

// blockIndices lists the positions of each nonnegative block, blocks in
// increasing order (so that a seeded shuffle does not depend on map order).
func blockIndices(block []int) [][]int {
	by := map[int][]int{}
	var keys []int
	for i, b := range block {
		if b < 0 {
			continue
		}
		if _, ok := by[b]; !ok {
			keys = append(keys, b)
		}
		by[b] = append(by[b], i)
	}
	slices.Sort(keys)
	out := make([][]int, len(keys))
	for k, b := range keys {
		out[k] = by[b]
	}
	return out
}

// ShufflePartners returns a copy of pairs whose second members J are
// permuted among the pairs whose J is in the same block (block(J), for
// example action and label): the null of a pair stratum in which each
// sample I keeps its label but is paired with a random sample of the same
// kind as its partner, within the stratum. A pair that would pair a sample
// with itself keeps its partner. The result is stored in dst (allocated
// when nil, else len(pairs)).
func ShufflePartners(dst, pairs []SamplePair, block func(j int) int, rng *rand.Rand) []SamplePair {
	if dst == nil {
		dst = make([]SamplePair, len(pairs))
	} else if len(dst) != len(pairs) {
		panic("coupling: length mismatch")
	}
	copy(dst, pairs)
	b := make([]int, len(pairs))
	for p, q := range pairs {
		b[p] = block(q.J)
	}
	for _, idx := range blockIndices(b) {
		for a := len(idx) - 1; a > 0; a-- {
			c := rng.IntN(a + 1)
			pa, pc := idx[a], idx[c]
			dst[pa].J, dst[pc].J = dst[pc].J, dst[pa].J
		}
	}
	for p := range dst {
		if dst[p].I == dst[p].J {
			dst[p].J = pairs[p].J
		}
	}
	return dst
}

// BootstrapWeights fills w (len n) with the counts of n draws with
// replacement from n items: a bootstrap resample as weights.
func BootstrapWeights(w []float64, rng *rand.Rand) {
	clear(w)
	for range w {
		w[rng.IntN(len(w))]++
	}
}

// PermutationP returns the mean of a null distribution and the two-sided
// permutation p-value of obs with the +1 correction,
//
//	p = (1 + #{b : |T_b - m| >= |obs - m|}) / (1 + B)
//
// where m is the null mean and B the number of null values (NaN values are
// left out of B). It is never 0: with B draws the smallest p is 1/(1+B)
// (Phipson and Smyth 2010, "Permutation p-values should never be zero").
// A NaN obs, or no finite null value, gives NaN.
func PermutationP(obs float64, null []float64) (mean, p float64) {
	var s float64
	b := 0
	for _, v := range null {
		if !math.IsNaN(v) {
			s += v
			b++
		}
	}
	if b == 0 || math.IsNaN(obs) {
		return math.NaN(), math.NaN()
	}
	mean = s / float64(b)
	dev := math.Abs(obs - mean)
	tol := 1e-12 * math.Max(1, math.Abs(mean))
	ge := 0
	for _, v := range null {
		if !math.IsNaN(v) && math.Abs(v-mean) >= dev-tol {
			ge++
		}
	}
	return mean, float64(1+ge) / float64(1+b)
}

// PercentileInterval returns the (1-level)/2 and (1+level)/2 quantiles of
// the finite values of xs (linear interpolation between order statistics,
// type 7 of Hyndman and Fan); NaN, NaN without any. xs is not modified.
func PercentileInterval(xs []float64, level float64) (lo, hi float64) {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	slices.Sort(v)
	q := func(p float64) float64 {
		h := p * float64(len(v)-1)
		l := int(math.Floor(h))
		if l+1 >= len(v) {
			return v[len(v)-1]
		}
		return v[l] + (h-float64(l))*(v[l+1]-v[l])
	}
	return q((1 - level) / 2), q((1 + level) / 2)
}

// NullKind chooses how TestPairs draws its null.
type NullKind int

const (
	// NullPartners permutes the partners J within blocks of (action,
	// label) of J, within the stratum (ShufflePartners): for strata defined
	// by which samples are paired (twins, same state, same action and
	// label, random). A label flip on a fixed set of pairs could not
	// test them: K_ij does not depend on the labels.
	NullPartners NullKind = iota
	// NullLabels permutes the labels within each action (ShuffleLabels)
	// over all samples, keeping the pairs: for the stratum of all pairs.
	NullLabels
)

// TestConfig sets the resampling of TestPairs. The zero value means the
// defaults.
type TestConfig struct {
	// Null and Boot are the numbers of null and bootstrap draws; 0 means
	// 999 and 1000, negative none.
	Null, Boot int
	// Level is the coverage of the bootstrap interval; 0 means 0.95.
	Level float64
	// Seed and Stream seed the draws: draw b of the null uses the PCG
	// stream (Seed, Stream<<32 | b), of the bootstrap (Seed, Stream<<32 |
	// 1<<31 | b), so that results do not depend on the order of
	// evaluation or on GOMAXPROCS.
	Seed, Stream uint64
}

func (c TestConfig) withDefaults() TestConfig {
	if c.Null == 0 {
		c.Null = 999
	}
	if c.Boot == 0 {
		c.Boot = 1000
	}
	if c.Level == 0 {
		c.Level = 0.95
	}
	return c
}

// Tested is a statistic with its bootstrap interval and its permutation
// null: the null mean and the two-sided p-value (PermutationP).
type Tested struct {
	Value, Lo, Hi, NullMean, P float64
}

// PairTest is PairStats of a stratum with each statistic tested, in the
// order of PairStatNames.
type PairTest struct {
	Stats PairStats
	Tests []Tested
}

// PairData are the samples a PairTest is computed on: the n x n Gram K,
// the squared norms, labels, advantages, states and actions (len n; states
// nil: all distinct) and the step size.
type PairData struct {
	K       []float32
	N       int
	Norms   []float64
	Labels  []int8
	Adv     []float64
	States  []int
	Actions []int
	Eta     float64
}

// TestPairs computes PairStatistics of pairs and, for each statistic, a
// percentile bootstrap interval over samples (each draw reweights every
// sample by its count in a resample of the n samples, so a pair weighs
// w_I w_J) and a permutation null of the given kind with its mean and
// two-sided p-value. Work O((1 + Null + Boot) len(pairs)), single-threaded
// and deterministic in cfg.Seed and cfg.Stream. With no pair every value is
// NaN.
func TestPairs(d PairData, pairs []SamplePair, kind NullKind, cfg TestConfig) PairTest {
	cfg = cfg.withDefaults()
	stats := func(ps []SamplePair, labels []int8, w []float64) PairStats {
		return PairStatistics(d.K, d.N, d.Norms, ps, labels, d.Adv, d.States, d.Eta, w)
	}
	out := PairTest{Stats: stats(pairs, d.Labels, nil)}
	m := len(PairStatNames)
	boot := make([][]float64, m)
	null := make([][]float64, m)
	w := make([]float64, d.N)
	for b := range max(cfg.Boot, 0) {
		rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Stream<<32|1<<31|uint64(b)))
		BootstrapWeights(w, rng)
		s := stats(pairs, d.Labels, w)
		for k, name := range PairStatNames {
			boot[k] = append(boot[k], s.Value(name))
		}
	}
	var shuffled []SamplePair
	var labels []int8
	for b := range max(cfg.Null, 0) {
		rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Stream<<32|uint64(b)))
		var s PairStats
		switch kind {
		case NullLabels:
			labels = ShuffleLabels(labels, d.Labels, d.Actions, rng)
			s = stats(pairs, labels, nil)
		default:
			shuffled = ShufflePartners(shuffled, pairs, func(j int) int { return 2*d.Actions[j] + int(d.Labels[j]&1) }, rng)
			s = stats(shuffled, d.Labels, nil)
		}
		for k, name := range PairStatNames {
			null[k] = append(null[k], s.Value(name))
		}
	}
	for k, name := range PairStatNames {
		t := Tested{Value: out.Stats.Value(name)}
		t.Lo, t.Hi = PercentileInterval(boot[k], cfg.Level)
		t.NullMean, t.P = PermutationP(t.Value, null[k])
		out.Tests = append(out.Tests, t)
	}
	return out
}
