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
	// Frozen is the number of embedding rows cold_start.freeze_unseen held
	// fixed (the tokens absent from the cold-start data); 0, omitted,
	// without it.
	Frozen int `json:"frozen,omitempty"`
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
// shuffling the samples anew for every pass with the run's streams. With
// FreezeUnseen the embedding rows of the tokens absent from the data get no
// gradient (embeddingRows, coldStep).
func (t *trainer) coldStart(ctx context.Context) (ColdStartStats, error) {
	cs := t.cfg.ColdStart
	st := ColdStartStats{Demos: cs.Demos}
	if cs.Demos == 0 {
		return st, nil
	}
	data, err := t.coldData()
	if err != nil {
		return st, err
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
	var frozen [][2]int
	if cs.FreezeUnseen {
		unseen := unseenTokens(data, t.model.Config().VocabSize)
		st.Frozen = len(unseen)
		frozen = embeddingRows(t.model, unseen)
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
		loss := t.coldStep(opt, grad, batch, frozen)
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

// coldData builds the cold start's samples: every step of the
// demonstrations of the first Demos train tasks, with their verdict
// targets, partners and corrected twins as configured. It draws from the
// run's cold-start and judge streams only, so it is the same for a run
// and for ColdStartTokens.
func (t *trainer) coldData() ([]coldSample, error) {
	cs := t.cfg.ColdStart
	verdict := cs.VerdictWeight > 0
	tasks, err := env.Tasks(t.cfg.Env, env.SplitTrain, 0, cs.Demos)
	if err != nil {
		return nil, err
	}
	ctxLen := t.model.Config().Context
	var data []coldSample
	for ti, task := range tasks {
		demo, err := env.Demonstration(task)
		if err != nil {
			return nil, err
		}
		rng := stream(t.cfg.Seed, -1, purposeColdStart, ti)
		judgeRNG := stream(t.cfg.Seed, -1, purposeJudge, ti)
		e, _, err := env.Start(task)
		if err != nil {
			return nil, err
		}
		var past []env.Turn
		for _, a := range demo {
			prompt := env.Prompt(e, past, t.pcfg)
			seq, err := t.tok.EncodePair(prompt, a, ctxLen)
			if err != nil {
				return nil, fmt.Errorf("trainer: cold start %s: %w (raise model.context or lower model.history)", task.ID, err)
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
						return nil, fmt.Errorf("trainer: cold start %s: %w", task.ID, err)
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
	return data, nil
}

// coldStep takes one Adam step on a cold-start batch and returns its loss:
// the token-mean negative log-likelihood of the demonstrated actions plus
// VerdictWeight times the mean verdict cross-entropy over the judged pairs
// (each demonstrated action and its partner), so that verdict training
// adds to imitation without taking batch places from it.
//
// The gradient is zero on the parameter ranges frozen (embedding rows,
// embeddingRows): Adam's moments of those coordinates stay 0 and so does
// their update, m/(sqrt(v)+eps) = 0, so the rows keep their values bit for
// bit (they are float32 values already, which RoundToFloat32 keeps).
func (t *trainer) coldStep(opt *adam, grad []float64, batch []coldSample, frozen [][2]int) float64 {
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
	for _, r := range frozen {
		clear(grad[r[0]:r[1]])
	}
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

// unseenTokens returns, in increasing order, the ids below vocab of the
// tokens that occur nowhere in the cold-start data: neither in a prompt or
// an action (partners and corrected twins included) nor as a target (the
// <eos> that ends every action; with verdict terms the <verdict> marker and
// the verdict labels used). Under the full softmax their LM-head rows still
// get a gradient, through the normaliser only.
func unseenTokens(data []coldSample, vocab int) []int {
	seen := make([]bool, vocab)
	mark := func(s policy.Seq) {
		for _, id := range s.Prompt {
			seen[id] = true
		}
		for _, id := range s.Action {
			seen[id] = true
		}
	}
	seen[policy.EOSID] = len(data) > 0
	for _, s := range data {
		mark(s.seq)
		if s.verdict != 0 {
			seen[policy.VerdictID], seen[s.verdict] = true, true
		}
		if s.partner != nil {
			mark(*s.partner)
			seen[policy.VerdictID], seen[s.pverd] = true, true
		}
		if s.warned != nil {
			mark(*s.warned)
		}
	}
	var out []int
	for id, ok := range seen {
		if !ok {
			out = append(out, id)
		}
	}
	return out
}

// embeddingRows returns the ranges [start, end) of m.Params that hold the
// token embeddings (wte, the tied LM head) of ids, merging adjacent rows.
func embeddingRows(m *policy.Model, ids []int) [][2]int {
	var wte int
	for _, t := range m.Tensors() {
		if t.Name == "transformer.wte.weight" {
			wte = t.Offset
		}
	}
	d := m.Config().Dim
	var out [][2]int
	for _, id := range ids {
		lo, hi := wte+id*d, wte+(id+1)*d
		if n := len(out); n > 0 && out[n-1][1] == lo {
			out[n-1][1] = hi
			continue
		}
		out = append(out, [2]int{lo, hi})
	}
	return out
}

// ColdStartTokens rebuilds the cold-start data of a run of c (which must
// be valid) exactly as the run builds it and returns the run's tokenizer
// and the ids of the tokens absent from that data (the rows
// cold_start.freeze_unseen freezes), in increasing order. With no cold
// start (demos 0, or an init checkpoint) every token is absent.
func ColdStartTokens(c Config) (*policy.Tokenizer, []int, error) {
	t, err := newTrainer(c, Options{})
	if err != nil {
		return nil, nil, err
	}
	var data []coldSample
	if c.ColdStart.Demos > 0 && c.Init == "" {
		if data, err = t.coldData(); err != nil {
			return nil, nil, err
		}
	}
	return t.tok, unseenTokens(data, t.tok.Size()), nil
}

// InitialModel returns the model a run of c (which must be valid) starts
// its cold start from: the seeded initialisation, or the checkpoint Init
// names. It is the model before checkpoint 0.
func InitialModel(c Config) (*policy.Model, *policy.Tokenizer, error) {
	if c.Init != "" {
		return policy.Load(c.Init)
	}
	t, err := newTrainer(c, Options{})
	if err != nil {
		return nil, nil, err
	}
	return t.model, t.tok, nil
}
