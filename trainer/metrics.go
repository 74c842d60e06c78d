package trainer

import (
	"math"
	"sort"
)

// Metrics is one line of metrics.jsonl: the scalars of one iteration.
// Train fields are absent on the last, evaluation-only iteration; eval
// fields on iterations without evaluation. Rates are fractions in [0, 1].
// Timings are not here but in timing.jsonl, so that metrics.jsonl is a
// deterministic function of the configuration and seed.
type Metrics struct {
	Iteration int `json:"iteration"`

	// Training rollouts (collected by the policy of this iteration).
	TrainSuccess   *float64 `json:"train_success,omitempty"`   // solved trajectories
	TrainOutcome   *float64 `json:"train_outcome,omitempty"`   // mean outcome reward
	TrainSteps     *float64 `json:"train_steps,omitempty"`     // mean trajectory length
	Samples        int      `json:"samples,omitempty"`         // agent steps = samples of the update
	InvalidRate    *float64 `json:"invalid_rate,omitempty"`    // steps whose action was not admissible
	OptimalRate    *float64 `json:"optimal_rate,omitempty"`    // steps whose action was optimal (ground truth)
	GoodLabelRate  *float64 `json:"good_label_rate,omitempty"` // steps the judge called good
	CorrectionRate *float64 `json:"correction_rate,omitempty"` // steps with a prompt correction
	ZeroStdFrac    *float64 `json:"zero_std_frac,omitempty"`   // groups whose outcomes are all equal
	Entropy        *float64 `json:"entropy,omitempty"`         // mean entropy of the distribution each token was drawn from (constraint and temperature applied)
	EntropyVocab   *float64 `json:"entropy_vocab,omitempty"`   // mean full-vocabulary entropy of pi at drawn tokens
	AllowedMass    *float64 `json:"allowed_mass,omitempty"`    // mean mass pi puts on the allowed tokens (1 when unconstrained)
	// VerdictAcc is the share of steps where the actor's own verdict
	// (p(good) > 0.5) agrees with the judge's label; VerdictAccTrue with
	// the truth (the action is optimal); VerdictBalAcc is the mean of the
	// accuracies on good- and bad-labelled steps.
	VerdictAcc     *float64 `json:"verdict_acc,omitempty"`
	VerdictAccTrue *float64 `json:"verdict_acc_true,omitempty"`
	VerdictBalAcc  *float64 `json:"verdict_bal_acc,omitempty"`
	VerdictCE      *float64 `json:"verdict_ce,omitempty"` // mean -log p(label) at the rollout (before the update)

	// The update.
	Loss          *float64           `json:"loss,omitempty"`      // loss_pg + loss_kl + loss_gcd
	LossPG        *float64           `json:"loss_pg,omitempty"`   // PPO-clip term, token mean
	LossKL        *float64           `json:"loss_kl,omitempty"`   // beta * kl
	LossGCD       *float64           `json:"loss_gcd,omitempty"`  // lambda * verdict_ce
	KL            *float64           `json:"kl,omitempty"`        // k3 estimate of KL(pi || pi_ref), token mean
	ClipFrac      *float64           `json:"clip_frac,omitempty"` // tokens where the clipped branch was taken
	GradNorm      *float64           `json:"grad_norm,omitempty"` // mean gradient norm before clipping
	OptSteps      int                `json:"opt_steps,omitempty"` // Adam steps in this iteration
	AdamStep      int64              `json:"adam_step,omitempty"` // Adam steps so far, after this iteration
	LR            *float64           `json:"lr,omitempty"`
	TrainByFamily map[string]float64 `json:"train_success_by_family,omitempty"`

	// Evaluation with the policy of this iteration: success rates of greedy
	// and sampled play on eval-in and eval-out, and per task family under
	// "eval-in/greedy" and the like.
	EvalInGreedy   *float64                      `json:"eval_in_greedy_success,omitempty"`
	EvalInSampled  *float64                      `json:"eval_in_sampled_success,omitempty"`
	EvalOutGreedy  *float64                      `json:"eval_out_greedy_success,omitempty"`
	EvalOutSampled *float64                      `json:"eval_out_sampled_success,omitempty"`
	EvalVerdictAcc *float64                      `json:"eval_verdict_acc,omitempty"` // over every eval step, against the judge
	EvalByFamily   map[string]map[string]float64 `json:"eval_success_by_family,omitempty"`
	EvalSteps      map[string]float64            `json:"eval_steps,omitempty"` // mean trajectory length per split/mode
	// EvalBy holds the success rates of parts of the eval tasks, written
	// as top-level keys of the line (MarshalJSON): per task family,
	// "eval_in_greedy_success/<family>" (and eval_out, sampled), and per
	// shift type of eval-out (env.Shifts), "eval_out_greedy_success/<shift>"
	// (evalBreakdown).
	EvalBy map[string]float64 `json:"-"`

	// ColdStart is set on iteration 0 of a run with a cold start.
	ColdStart *ColdStartStats `json:"cold_start,omitempty"`
}

// Timing is one line of timing.jsonl: wall-clock seconds of the parts of an
// iteration. It is kept apart from metrics.jsonl because it differs between
// runs of the same seed.
type Timing struct {
	Iteration  int     `json:"iteration"`
	ColdStart  float64 `json:"cold_start_seconds,omitempty"`
	Checkpoint float64 `json:"checkpoint_seconds"`
	Eval       float64 `json:"eval_seconds"`
	Rollout    float64 `json:"rollout_seconds"`
	Update     float64 `json:"update_seconds"`
	Log        float64 `json:"log_seconds"`
	Total      float64 `json:"total_seconds"`
}

func ptr(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// ratio returns num/den, or nil when den is 0.
func ratio(num, den float64) *float64 {
	if den == 0 {
		return nil
	}
	return ptr(num / den)
}

// rolloutStats are the counts behind the rollout metrics of a set of
// trajectories.
type rolloutStats struct {
	trajs, solved, steps, invalid, optimal, goodLabel, corrected float64
	labelled                                                     float64 // steps the judge labels (not Judge.Excludes)
	outcome, entropy, entVocab, mass, entTokens                  float64
	vAgree, vAgreeTrue, vGood, vGoodOK, vBad, vBadOK             float64
	ce                                                           float64
	byFamily                                                     map[string][2]float64 // solved, total
}

func (r *rolloutStats) add(tr *trajectory) {
	if r.byFamily == nil {
		r.byFamily = map[string][2]float64{}
	}
	r.trajs++
	f := r.byFamily[tr.task.Type]
	f[1]++
	if tr.solved {
		r.solved++
		f[0]++
	}
	r.byFamily[tr.task.Type] = f
	r.outcome += tr.outcome
	for i := range tr.steps {
		s := &tr.steps[i]
		r.steps++
		if !s.valid {
			r.invalid++
		}
		if s.optimal {
			r.optimal++
		}
		if s.corrected {
			r.corrected++
		}
		r.entropy += s.entropy
		r.entVocab += s.entVocab
		r.mass += s.mass
		r.entTokens += float64(s.ntok)
		if s.excluded {
			continue // no label: out of the label and verdict statistics
		}
		r.labelled++
		says := s.pGood > 0.5
		if says == s.good {
			r.vAgree++
		}
		if says == s.optimal {
			r.vAgreeTrue++
		}
		if s.good {
			r.goodLabel++
			r.vGood++
			if says {
				r.vGoodOK++
			}
			r.ce -= s.verdict.LogGood
		} else {
			r.vBad++
			if !says {
				r.vBadOK++
			}
			r.ce -= s.verdict.LogBad
		}
	}
}

func (r *rolloutStats) success() float64 { return r.solved / r.trajs }

func (r *rolloutStats) verdictBalAcc() *float64 {
	switch {
	case r.vGood > 0 && r.vBad > 0:
		return ptr((r.vGoodOK/r.vGood + r.vBadOK/r.vBad) / 2)
	case r.vGood > 0:
		return ptr(r.vGoodOK / r.vGood)
	case r.vBad > 0:
		return ptr(r.vBadOK / r.vBad)
	}
	return nil
}

func (r *rolloutStats) families() map[string]float64 {
	out := map[string]float64{}
	keys := make([]string, 0, len(r.byFamily))
	for k := range r.byFamily {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := r.byFamily[k]
		out[k] = f[0] / f[1]
	}
	return out
}
