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
