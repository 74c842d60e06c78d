package metrics

import "math"

// AdvantageEps is the epsilon added to the group standard deviation, as in verl
// (compute_grpo_outcome_advantage, epsilon=1e-6) and TRL (GRPOTrainer, 1e-4 in
// some versions; we follow verl and DESIGN.md §4).
const AdvantageEps = 1e-6

// AdvantageConfig selects the GRPO advantage convention. The zero value is the
// std-normalised GRPO advantage with eps = AdvantageEps.
type AdvantageConfig struct {
	// NoStd gives the Dr. GRPO advantage A_j = R_j - mean R (Liu et al. 2025,
	// "Understanding R1-Zero-Like Training"). Default false: divide by std + eps.
	NoStd bool
	// Eps is added to the standard deviation. Zero means AdvantageEps.
	Eps float64
}

func (c AdvantageConfig) eps() float64 {
	if c.Eps == 0 {
		return AdvantageEps
	}
	return c.Eps
}

// GroupAdvantages returns the GRPO advantages of one group of outcomes R_1..R_G
// (DESIGN.md §4; Shao et al. 2024, DeepSeekMath eq. 3):
//
//	A_j = (R_j - mean R) / (std R + eps)     (std: sample standard deviation, N-1 divisor)
//	A_j =  R_j - mean R                      (cfg.NoStd, Dr. GRPO)
//
// A group of one sample follows verl's convention (core_algos.py,
// compute_grpo_outcome_advantage): mean 0 and std 1, so A_1 = R_1/(1+eps), or R_1
// with NoStd. A group whose outcomes are all equal gets zero advantages.
//
// The result is written to dst, which must have len(rewards) or be nil (allocate).
// An empty group returns dst[:0]. A NaN reward makes every advantage of the group
// NaN; callers validate rewards first.
func GroupAdvantages(dst, rewards []float64, cfg AdvantageConfig) []float64 {
	if dst == nil {
		dst = make([]float64, len(rewards))
	}
	if len(dst) != len(rewards) {
		panic("metrics: length mismatch")
	}
	n := len(rewards)
	if n == 0 {
		return dst
	}
	mean, std := 0.0, 1.0
	if n > 1 {
		mean, std = meanStd(rewards)
	}
	for j, r := range rewards {
		if cfg.NoStd {
			dst[j] = r - mean
		} else {
			dst[j] = (r - mean) / (std + cfg.eps())
		}
	}
	return dst
}

// meanStd returns the mean and the sample standard deviation (N-1 divisor) of x,
// len(x) >= 2, computed in two passes for accuracy.
func meanStd(x []float64) (mean, std float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	var ss float64
	for _, v := range x {
		d := v - mean
		ss += d * d
	}
	return mean, math.Sqrt(ss / float64(len(x)-1))
}

// AllEqual reports whether every outcome of a group is equal, so that its GRPO
// advantages are all zero (a "zero-std" group). An empty group reports true.
func AllEqual(rewards []float64) bool {
	for _, r := range rewards[min(1, len(rewards)):] {
		if r != rewards[0] {
			return false
		}
	}
	return true
}

// Advantages returns the GRPO advantages of many groups at once: sample i has
// outcome rewards[i] and belongs to group group[i], and its advantage is
// GroupAdvantages applied to the outcomes of its group (same formula, same
// summation order, so the results are bit-identical):
//
//	A_i = (R_i - mean_{g(i)} R) / (std_{g(i)} R + eps)   (sample std, N-1 divisor)
//	A_i =  R_i - mean_{g(i)} R                           (cfg.NoStd, Dr. GRPO)
//
// Sources: DESIGN.md §4; Shao et al. 2024 (DeepSeekMath) §4.1.2, the advantage
// inside the GRPO objective eq. 3; verl
// core_algos.compute_grpo_outcome_advantage, which also groups by an index
// array rather than by position. Groups need not be contiguous, and group ids
// are any ints (dense non-negative ids are fastest). A group of one sample
// follows verl (mean 0, std 1).
//
// The result is written to dst, which must have len(rewards) or be nil
// (allocate); dst may be rewards itself. len(group) != len(rewards) panics
// ("metrics: length mismatch"). Empty input returns dst[:0]. A NaN reward makes
// every advantage of its group NaN and leaves other groups untouched.
func Advantages(dst, rewards []float64, group []int, cfg AdvantageConfig) []float64 {
	if len(group) != len(rewards) {
		panic("metrics: length mismatch")
	}
	if dst == nil {
		dst = make([]float64, len(rewards))
	}
	if len(dst) != len(rewards) {
		panic("metrics: length mismatch")
	}
	if len(rewards) == 0 {
		return dst
	}
	idx, ng := denseGroups(group)
	count := make([]int, ng)
	mean := make([]float64, ng)
	for i, g := range idx {
		count[g]++
		mean[g] += rewards[i]
	}
	for g, c := range count {
		if c == 1 {
			mean[g] = 0 // verl: a singleton group has mean 0 and std 1
		} else if c > 1 {
			mean[g] /= float64(c)
		}
	}
	ss := make([]float64, ng)
	for i, g := range idx {
		d := rewards[i] - mean[g]
		ss[g] += d * d
	}
	for g, c := range count {
		if c == 1 {
			ss[g] = 1
		} else if c > 1 {
			ss[g] = math.Sqrt(ss[g] / float64(c-1))
		}
	}
	eps := cfg.eps()
	for i, g := range idx {
		if cfg.NoStd {
			dst[i] = rewards[i] - mean[g]
		} else {
			dst[i] = (rewards[i] - mean[g]) / (ss[g] + eps)
		}
	}
	return dst
}

// denseGroups maps arbitrary group ids to dense indices 0..ng-1. When the ids
// are already small non-negative ints they are used as they are (no copy; some
// indices may then be empty groups).
func denseGroups(group []int) (idx []int, ng int) {
	lo, hi := group[0], group[0]
	for _, g := range group {
		lo, hi = min(lo, g), max(hi, g)
	}
	if lo >= 0 && hi < 2*len(group)+64 {
		return group, hi + 1
	}
	idx = make([]int, len(group))
	m := make(map[int]int)
	for i, g := range group {
		d, ok := m[g]
		if !ok {
			d = len(m)
			m[g] = d
		}
		idx[i] = d
	}
	return idx, len(m)
}

// ZeroStdFraction returns the share of groups whose outcomes are all equal
// (AllEqual), so that every GRPO advantage in them is zero: DESIGN.md §4
// zero_std_frac; the quantity DAPO's dynamic sampling filters out (Yu et al.
// 2025, "DAPO", §3.2).
//
//	zero_std_frac = #{g : |g| >= 2, R_1 = ... = R_|g|} / #{g : |g| >= 2}
//
// Groups with fewer than two outcomes are left out of both counts: their sample
// standard deviation is undefined and verl gives a singleton a non-zero
// advantage (see GroupAdvantages). No eligible group returns NaN; a NaN
// reward anywhere returns NaN.
func ZeroStdFraction(groups [][]float64) float64 {
	var n, zero int
	for _, g := range groups {
		for _, r := range g {
			if math.IsNaN(r) {
				return math.NaN()
			}
		}
		if len(g) < 2 {
			continue
		}
		n++
		if AllEqual(g) {
			zero++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return float64(zero) / float64(n)
}

// HomogeneousGroupProb returns the probability that a group of G independent
// Bernoulli(p) outcomes is all-equal, hence has zero GRPO advantage:
//
//	P = p^G + (1-p)^G
//
// (all successes or all failures; the effective-batch loss discussed in DAPO,
// Yu et al. 2025, §3.2). p outside [0, 1], NaN p or G < 1 returns NaN.
func HomogeneousGroupProb(p float64, G int) float64 {
	if !(p >= 0 && p <= 1) || G < 1 {
		return math.NaN()
	}
	return math.Pow(p, float64(G)) + math.Pow(1-p, float64(G))
}
