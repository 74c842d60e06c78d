package trainer

import (
	"context"
	"fmt"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/policy"
)

// ColdStartStats summarises the cold start; metrics.jsonl carries it on the
// line of iteration 0.
type ColdStartStats struct {
	Demos        int     `json:"demos"`         // demonstrated tasks
	Samples      int     `json:"samples"`       // demonstrated steps
	VerdictPairs int     `json:"verdict_pairs"` // (state, action) pairs with a verdict target
	Steps        int     `json:"steps"`         // Adam steps
	LossFirst    float64 `json:"loss_first"`    // loss of the first step
	LossLast     float64 `json:"loss_last"`     // mean loss of the last min(10, steps) steps
}

// coldSample is one demonstrated step: imitation of the demonstrated
// action and, with verdict training, the judge's verdict on it and on a
// non-optimal action of the same state (its partner).
type coldSample struct {
	seq     policy.Seq
	verdict int // policy.GoodID, policy.BadID or 0
	partner *policy.Seq
	pverd   int
	// warned is the demonstrated action after a correction line naming
	// the partner (GCD with correction): the actor learns what a
	// correction asks of it.
	warned *policy.Seq
}

// coldStart trains m by supervised learning on oracle demonstrations
// (DESIGN.md §4): minimise the token-mean negative log-likelihood of the
// demonstrated actions, plus, with verdict training, the mean verdict
// cross-entropy of the judged (state, action) pairs. Batches are drawn by
// shuffling the samples anew for every pass with the run's streams.
func (t *trainer) coldStart(ctx context.Context) (ColdStartStats, error) {
	cs := t.cfg.ColdStart
	st := ColdStartStats{Demos: cs.Demos}
	if cs.Demos == 0 {
		return st, nil
	}
	verdict := cs.VerdictWeight > 0
	tasks, err := env.Tasks(t.cfg.Env, env.SplitTrain, 0, cs.Demos)
	if err != nil {
		return st, err
	}
	ctxLen := t.model.Config().Context
	var data []coldSample
	for ti, task := range tasks {
		demo, err := env.Demonstration(task)
		if err != nil {
			return st, err
		}
		rng := stream(t.cfg.Seed, -1, purposeColdStart, ti)
		judgeRNG := stream(t.cfg.Seed, -1, purposeJudge, ti)
		e, _, err := env.Start(task)
		if err != nil {
			return st, err
		}
		var past []env.Turn
		for _, a := range demo {
			prompt := env.Prompt(e, past, t.pcfg)
			seq, err := t.tok.EncodePair(prompt, a, ctxLen)
			if err != nil {
				return st, fmt.Errorf("trainer: cold start %s: %w (raise model.context or lower model.history)", task.ID, err)
			}
			s := coldSample{seq: seq}
			if verdict && !t.judge.Excludes(e) {
				good, _ := t.judge.Verdict(e, a, judgeRNG)
				s.verdict = verdictID(good)
				var bad []string
				for _, b := range e.Admissible() {
					if !env.IsOptimal(e, b) {
						bad = append(bad, b)
					}
				}
				if len(bad) > 0 {
					b := bad[rng.IntN(len(bad))]
					bseq, err := t.tok.EncodePair(prompt, b, ctxLen)
					if err != nil {
						return st, fmt.Errorf("trainer: cold start %s: %w", task.ID, err)
					}
					good, _ := t.judge.Verdict(e, b, judgeRNG)
					s.partner, s.pverd = &bseq, verdictID(good)
					if t.cfg.GCD.Correction {
						if wseq, err := t.tok.EncodePair(corrected(prompt, b), a, ctxLen); err == nil {
							s.warned = &wseq
						}
					}
				}
			}
			data = append(data, s)
			past = append(past, env.Turn{Observation: e.Observation(), Action: a})
			e.Step(a)
		}
	}
	st.Samples = len(data)
	for _, s := range data {
		if s.verdict != 0 {
			st.VerdictPairs++
		}
		if s.partner != nil {
			st.VerdictPairs++
		}
	}
	opt := newAdam(t.model.NumParams(), cs.LR, t.cfg.Update.Beta1, t.cfg.Update.Beta2, t.cfg.Update.AdamEps, t.cfg.Update.GradClip)
	grad := make([]float64, t.model.NumParams())
	var order []int
	pass, pos := 0, 0
	var last []float64
	for step := range cs.Steps {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		batch := make([]coldSample, 0, cs.Batch)
		for len(batch) < cs.Batch {
			if pos == len(order) {
				order = stream(t.cfg.Seed, -1, purposeColdStart+"-pass", pass).Perm(len(data))
				pass, pos = pass+1, 0
			}
			batch = append(batch, data[order[pos]])
			pos++
		}
		loss := t.coldStep(opt, grad, batch)
		if step == 0 {
			st.LossFirst = loss
		}
		last = append(last, loss)
		if len(last) > 10 {
			last = last[1:]
		}
		st.Steps++
		t.progress(Progress{Stage: StageColdStart, Step: step + 1, Steps: cs.Steps, Loss: loss})
	}
	for _, l := range last {
		st.LossLast += l / float64(len(last))
	}
	return st, nil
}

// coldStep takes one Adam step on a cold-start batch and returns its loss:
// the token-mean negative log-likelihood of the demonstrated actions plus
// VerdictWeight times the mean verdict cross-entropy over the judged pairs
// (each demonstrated action and its partner), so that verdict training
// adds to imitation without taking batch places from it.
func (t *trainer) coldStep(opt *adam, grad []float64, batch []coldSample) float64 {
	T, V := 0, 0
	for _, s := range batch {
		T += len(s.seq.Action) + 1
		if s.warned != nil {
			T += len(s.warned.Action) + 1
		}
		if s.verdict != 0 {
			V++
		}
		if s.partner != nil {
			V++
		}
	}
	vw := t.cfg.ColdStart.VerdictWeight
	terms := make([]policy.Term, 0, 3*len(batch))
	for _, s := range batch {
		tm := policy.Term{Seq: s.seq, Weight: -1 / float64(T)}
		if s.verdict != 0 {
			tm.Verdict, tm.VerdictWeight = s.verdict, -vw/float64(V)
		}
		terms = append(terms, tm)
		if s.partner != nil {
			terms = append(terms, policy.Term{Seq: *s.partner, Verdict: s.pverd, VerdictWeight: -vw / float64(V)})
		}
		if s.warned != nil {
			terms = append(terms, policy.Term{Seq: *s.warned, Weight: -1 / float64(T)})
		}
	}
	// With these weights the objective sum w log pi + v log p is the loss
	// itself: token-mean NLL + VerdictWeight * mean verdict CE.
	_, loss := t.model.Gradient(grad, terms)
	opt.update(t.model.Params, grad)
	t.model.RoundToFloat32()
	return loss
}

func verdictID(good bool) int {
	if good {
		return policy.GoodID
	}
	return policy.BadID
}
