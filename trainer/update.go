package trainer

import (
	"math"

	"github.com/gradcouple/gradcouple/policy"
)

// sample is one training sample: an agent step with its advantage.
type sample struct {
	seq     policy.Seq
	oldLogp []float64 // log pi_old per action token and <eos> (from the rollout)
	forced  []bool    // tokens the constraint forced (nil: none)
	refLogp []float64 // log pi_ref per token (nil when beta = 0)
	adv     float64
	label   int // policy.GoodID or policy.BadID: the judge's verdict
}

// lossConfig holds the coefficients of the PPO-clip + KL + GCD loss.
type lossConfig struct {
	clip, beta, lambda float64
}

// lossStats accumulates what an update reports.
type lossStats struct {
	pg, kl, clipped, gradNorm float64 // pg and kl: token means; clipped: tokens
	tokens, steps             int
}

// miniBatchTerms returns the terms whose policy.Model.Gradient is the
// gradient of the loss of one mini-batch (DESIGN.md §4),
//
//	L = -1/T sum_{n,t} min(rho A_n, clip(rho, 1-eps, 1+eps) A_n)
//	    + beta/T sum_{n,t} k3_{n,t} + lambda/N sum_n CE_n,
//	rho = exp(log pi - log pi_old),  k3 = exp(r) - r - 1 with r = log pi_ref - log pi,
//	CE_n = -log p(label_n | s_n, a_n, <eos>, <verdict>),
//
// over the N samples and the T action tokens (each action's tokens and its
// <eos>) of the mini-batch: token-mean aggregation, as verl's
// loss_agg_mode "token-mean". Tokens the constraint forced (the only
// allowed continuation) are left out of the sums and of T: under the
// constrained sampling policy their probability is 1 whatever the
// parameters, so they carry no decision and no gradient. cur holds log pi
// per token under the current parameters. L depends on the parameters only
// through the log-probs, so with per-token weights w = dL/d log pi and
// verdict weight dL/d log p the gradient of sum w log pi + v log p is the
// gradient of L:
//
//	w = -rho A / T (0 where the clipped branch is taken) + beta/T (1 - exp(r)),
//	v = -lambda / N.
//
// It adds the mini-batch's summed PG loss and KL over its tokens, its
// clipped tokens and its T to st.
func miniBatchTerms(batch []*sample, cur [][]float64, lc lossConfig, st *lossStats) []policy.Term {
	T := 0
	for _, s := range batch {
		for t := range s.oldLogp {
			if s.forced == nil || !s.forced[t] {
				T++
			}
		}
	}
	terms := make([]policy.Term, len(batch))
	inv := 1 / float64(max(T, 1))
	for n, s := range batch {
		terms[n].Seq = s.seq
		w := make([]float64, len(s.oldLogp))
		any := false
		for t, old := range s.oldLogp {
			if s.forced != nil && s.forced[t] {
				continue
			}
			any = true
			lp := cur[n][t]
			rho := math.Exp(lp - old)
			A := s.adv
			cl := min(max(rho, 1-lc.clip), 1+lc.clip)
			st.pg -= min(rho*A, cl*A)
			clipped := (A > 0 && rho > 1+lc.clip) || (A < 0 && rho < 1-lc.clip)
			if clipped {
				st.clipped++
			} else {
				w[t] = -rho * A * inv
			}
			if lc.beta > 0 {
				r := s.refLogp[t] - lp
				er := math.Exp(r)
				st.kl += er - r - 1
				w[t] += lc.beta * inv * (1 - er)
			}
		}
		if any {
			terms[n].TokenWeights = w
		}
		if lc.lambda > 0 {
			terms[n].Verdict = s.label
			terms[n].VerdictWeight = -lc.lambda / float64(len(batch))
		}
	}
	st.tokens += T
	return terms
}

// ppoUpdate runs the PPO epochs over samples: each epoch shuffles them with
// its own stream and takes one Adam step per mini-batch. Gradients are
// summed by policy.Model.Gradient in a fixed order, so the update does not
// depend on GOMAXPROCS. After each step the parameters are rounded to
// float32 (policy.Model.RoundToFloat32), so checkpoints hold exactly the
// trained model.
func ppoUpdate(m *policy.Model, opt *adam, samples []*sample, lc lossConfig, epochs, miniBatches int, perm func(epoch int) []int) lossStats {
	var st lossStats
	if len(samples) == 0 {
		return st
	}
	grad := make([]float64, m.NumParams())
	mb := min(miniBatches, len(samples))
	for e := range epochs {
		order := perm(e)
		for k := range mb {
			idx := order[k*len(samples)/mb : (k+1)*len(samples)/mb]
			batch := make([]*sample, len(idx))
			seqs := make([]policy.Seq, len(idx))
			for n, i := range idx {
				batch[n], seqs[n] = samples[i], samples[i].seq
			}
			var cur [][]float64
			if e == 0 && k == 0 {
				// The parameters are still pi_old's: rho = 1. The rollout's
				// log-probs are used as they are (a batched forward would
				// agree to rounding, ~1e-15).
				cur = make([][]float64, len(batch))
				for n, s := range batch {
					cur[n] = s.oldLogp
				}
			} else {
				cur = m.TokenLogProbs(seqs)
			}
			terms := miniBatchTerms(batch, cur, lc, &st)
			m.Gradient(grad, terms)
			st.gradNorm += opt.update(m.Params, grad)
			m.RoundToFloat32()
			st.steps++
		}
	}
	return st
}
