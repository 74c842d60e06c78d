package metrics

import "math"

// SqueezeConfig sets SqueezePath and ExpectedGradient. The zero value is
// step size 1, 100 steps, the full expected update without std normalisation.
type SqueezeConfig struct {
	Eta   float64 // step size; zero means 1
	Steps int     // number of updates T; zero means 100
	// NegativeOnly applies only the negative-advantage part of the update:
	// the terms of actions with p_a < pbar (the flawed actions' updates).
	NegativeOnly bool
	// Std divides the advantage by the population std of the Bernoulli reward,
	// sqrt(pbar (1 - pbar)): the G -> infinity limit of GRPO's normalisation.
	// A zero std (all outcomes certain) gives a zero update.
	Std bool
}

func (c SqueezeConfig) withDefaults() SqueezeConfig {
	if c.Eta == 0 {
		c.Eta = 1
	}
	if c.Steps == 0 {
		c.Steps = 100
	}
	if c.Steps < 0 || c.Eta < 0 {
		panic("metrics: invalid SqueezeConfig")
	}
	return c
}

// Softmax writes pi_k = exp(theta_k) / sum_j exp(theta_j) to dst (len(logits)
// or nil to allocate; dst may be logits), subtracting the maximum first so
// large logits do not overflow. Empty logits return dst[:0]; a NaN or +Inf
// logit gives NaN output.
func Softmax(dst, logits []float64) []float64 {
	if dst == nil {
		dst = make([]float64, len(logits))
	}
	if len(dst) != len(logits) {
		panic("metrics: length mismatch")
	}
	if len(logits) == 0 {
		return dst
	}
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, v)
	}
	var z float64
	for i, v := range logits {
		dst[i] = math.Exp(v - mx)
		z += dst[i]
	}
	for i := range dst {
		dst[i] /= z
	}
	return dst
}

// ExpectedGradient returns the exact expected GRPO update direction on the
// logits theta of a softmax policy over actions with success probabilities p
// (a bandit at one state; Liu et al., arXiv 2509.23870, Theorem 3.2 setting;
// DESIGN.md §4 "Squeezing simulator"). With the population advantage
// A(a) = p_a - pbar, pbar = sum_a pi_a p_a, and grad_{theta_k} log pi_a =
// 1[a=k] - pi_k:
//
//	g_k = sum_a pi_a A(a) (1[a=k] - pi_k)
//	    = pi_k (p_k - pbar) - pi_k sum_a pi_a (p_a - pbar)
//	    = pi_k (p_k - pbar)                     (the last sum is 0)
//
// which is also d E[R] / d theta_k, since E[R] = sum_a pi_a p_a and
// d pi_a / d theta_k = pi_a (1[a=k] - pi_k). With cfg.NegativeOnly only the
// actions N = {a : p_a < pbar} contribute:
//
//	g_k = pi_k (p_k - pbar) 1[k in N] - pi_k sum_{a in N} pi_a (p_a - pbar)
//
// so every other action gains in proportion to its current probability pi_k:
// the "squeezing effect" (Ren & Sutherland 2024, "Learning Dynamics of LLM
// Finetuning"), which pushes mass towards the most likely action. With cfg.Std
// g is divided by sqrt(pbar (1 - pbar)) (requires p in [0, 1]; p outside gives
// NaN). Eta and Steps are ignored.
//
// dst is len(logits) or nil (allocate). len(p) != len(logits) panics. NaN
// inputs give NaN output.
func ExpectedGradient(dst, logits, p []float64, cfg SqueezeConfig) []float64 {
	if len(p) != len(logits) {
		panic("metrics: length mismatch")
	}
	pi := Softmax(dst, logits) // dst now holds pi
	var pbar float64
	for k := range pi {
		pbar += pi[k] * p[k]
	}
	scale := 1.0
	if cfg.Std {
		for _, v := range p {
			if !(v >= 0 && v <= 1) {
				scale = math.NaN()
			}
		}
		if sd := math.Sqrt(pbar * (1 - pbar)); sd > 0 {
			scale /= sd
		} else if !math.IsNaN(scale) {
			scale = 0
		}
	}
	if !cfg.NegativeOnly {
		for k := range pi {
			pi[k] = scale * pi[k] * (p[k] - pbar)
		}
		return pi
	}
	var neg float64 // sum_{a in N} pi_a (p_a - pbar)
	for a := range pi {
		if p[a] < pbar {
			neg += pi[a] * (p[a] - pbar)
		}
	}
	for k := range pi {
		g := -pi[k] * neg
		if p[k] < pbar {
			g += pi[k] * (p[k] - pbar)
		}
		pi[k] = scale * g
	}
	return pi
}

// SqueezePath iterates the expected GRPO update theta <- theta + eta g(theta)
// (ExpectedGradient) for cfg.Steps steps from the given logits and returns the
// policy over time: row t is pi after t updates, rows 0..Steps.
//
// With the full update this is exact gradient ascent on E[R], so for a small
// enough step E[R] never decreases. Theorem 3.2 of Liu et al. (arXiv
// 2509.23870) is about the bad actions meanwhile: with actions ordered
// (good, bad2, bad1) and p_g > p_b2 > p_b1, pi_b2 may rise while
// pi_b1 + pi_b2 falls. That is not unconditional: when a middling bad action
// dominates (pi = (0.01, 0.7, 0.29), p = (1, 0.3, 0)) the exact expected
// update first lowers pi_g, since
//
//	d pi_g/dt = pi_g (pi_g (p_g - pbar) - sum_k pi_k^2 (p_k - pbar)) < 0
//
// there; the tests pin both cases. Inputs are not modified; len(p) !=
// len(logits) panics, and so does a negative Steps or Eta. NaN inputs give
// NaN rows.
func SqueezePath(logits, p []float64, cfg SqueezeConfig) [][]float64 {
	if len(p) != len(logits) {
		panic("metrics: length mismatch")
	}
	cfg = cfg.withDefaults()
	theta := append([]float64(nil), logits...)
	g := make([]float64, len(logits))
	path := make([][]float64, cfg.Steps+1)
	path[0] = Softmax(nil, theta)
	for t := 1; t <= cfg.Steps; t++ {
		ExpectedGradient(g, theta, p, cfg)
		for k := range theta {
			theta[k] += cfg.Eta * g[k]
		}
		path[t] = Softmax(nil, theta)
	}
	return path
}
