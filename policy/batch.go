package policy

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// Seq is one tokenized (prompt, action) pair. Prompt must be non-empty;
// Action holds the action's tokens without the <eos> terminator (it may be
// empty). The model reads prompt ++ action (log-probabilities) or
// prompt ++ action ++ <eos> ++ <verdict> (verdict, hidden state at the
// verdict marker); len(Prompt)+len(Action)+2 must not exceed the context.
type Seq struct {
	Prompt []int
	Action []int
	// Allowed, if not nil, restricts the softmax at each action position
	// t = 0..len(Action) (the action's tokens, then <eos>) to the token ids
	// Allowed[t], which must contain the target; a nil Allowed[t] means the
	// full vocabulary. Log-probabilities and gradients are then those of the
	// constrained distribution a decoder restricted to a Trie samples from:
	// log softmax(z_{P-1+t}) renormalised over Allowed[t]. The verdict is
	// never restricted.
	Allowed [][]int
}

// Pair is a (prompt, action) pair of texts.
type Pair struct {
	Prompt string
	Action string
}

// EncodePair tokenizes a (prompt, action) pair for a model of the given
// context length. The pair must fit with room for <eos> and <verdict>:
// len(prompt)+len(action)+2 <= context, else the error wraps ErrTooLong
// (nothing is truncated silently: the caller chooses what to cut, e.g. a
// shorter history). A prompt with no tokens is an error too.
func (t *Tokenizer) EncodePair(prompt, action string, context int) (Seq, error) {
	p := t.Encode(prompt)
	a := t.Encode(action)
	if len(p) == 0 {
		return Seq{}, fmt.Errorf("policy: prompt %q has no tokens", prompt)
	}
	if n := len(p) + len(a) + 2; n > context {
		return Seq{}, fmt.Errorf("policy: prompt of %d and action of %d tokens plus <eos> <verdict>: %w (%d > context %d)",
			len(p), len(a), ErrTooLong, n, context)
	}
	return Seq{Prompt: p, Action: a}, nil
}

// Term is one term of an objective. Its value is
//
//	sum_t (Weight + TokenWeights[t]) * log pi(a_t | prompt, a_<t)
//	  + VerdictWeight * log p(Verdict | prompt, action, <eos>, <verdict>)
//
// where t runs over the action's tokens and the <eos> terminator
// (t = 0..len(Action)), TokenWeights is nil (all zero) or has
// len(Action)+1 entries, and the verdict term is present when Verdict is
// GoodID or BadID (Verdict 0, PadID, means none). A policy-gradient term
// sets Weight = A_n (or per-token PPO weights); the GCD verdict loss
// lambda*CE is VerdictWeight = -lambda.
type Term struct {
	Seq
	Weight        float64
	TokenWeights  []float64
	Verdict       int
	VerdictWeight float64
}

// Verdict is the model's verdict distribution at the <verdict> marker:
// the log-probabilities of the tokens "good" and "bad" under the full
// softmax over the vocabulary (what the GCD cross-entropy trains).
type Verdict struct {
	LogGood, LogBad float64
}

// PGood is the probability of "good" renormalised over {good, bad}:
// exp(LogGood) / (exp(LogGood) + exp(LogBad)).
func (v Verdict) PGood() float64 {
	return 1 / (1 + math.Exp(v.LogBad-v.LogGood))
}

// Position selects where a hidden state is read.
type Position int

const (
	// LastPrompt is the last prompt token, read from the input prompt:
	// the state representation.
	LastPrompt Position = iota
	// AtVerdict is the <verdict> marker of prompt ++ action ++ <eos> ++
	// <verdict>: the representation the verdict is predicted from.
	AtVerdict
)

// checkSeq panics if s cannot be run by m (a programmer error: sequences
// come from a Tokenizer of the model's vocabulary via EncodePair).
func (m *Model) checkSeq(s Seq) {
	if len(s.Prompt) == 0 {
		panic("policy: empty prompt")
	}
	if len(s.Prompt)+len(s.Action)+2 > m.cfg.Context {
		panic(fmt.Sprintf("policy: sequence of %d+%d tokens does not fit context %d", len(s.Prompt), len(s.Action), m.cfg.Context))
	}
	for _, ids := range [][]int{s.Prompt, s.Action} {
		for _, id := range ids {
			if id < 0 || id >= m.cfg.VocabSize {
				panic(fmt.Sprintf("policy: token id %d out of range [0, %d)", id, m.cfg.VocabSize))
			}
		}
	}
	if s.Allowed == nil {
		return
	}
	if len(s.Allowed) != len(s.Action)+1 {
		panic(fmt.Sprintf("policy: %d allowed sets for an action of %d tokens (want %d)", len(s.Allowed), len(s.Action), len(s.Action)+1))
	}
	for t, set := range s.Allowed {
		if set == nil {
			continue
		}
		tgt := m.cfg.EOS
		if t < len(s.Action) {
			tgt = s.Action[t]
		}
		found := false
		for _, id := range set {
			if id < 0 || id >= m.cfg.VocabSize {
				panic(fmt.Sprintf("policy: allowed token id %d out of range [0, %d)", id, m.cfg.VocabSize))
			}
			found = found || id == tgt
		}
		if !found {
			panic(fmt.Sprintf("policy: target %d of action position %d is not among its allowed tokens", tgt, t))
		}
	}
}

// actionJob fills j for the log-probabilities of s's action tokens and
// the end token eos, with per-target weights w (nil for a forward pass); with verdict
// != 0 it appends <eos> <verdict> to the input and the verdict target.
func actionJob(j *job, s Seq, eos int, withAction bool, verdict int) {
	P, A := len(s.Prompt), len(s.Action)
	j.toks = append(append(j.toks[:0], s.Prompt...), s.Action...)
	j.pos, j.tgt, j.w, j.allowed = j.pos[:0], j.tgt[:0], j.w[:0], j.allowed[:0]
	if withAction {
		for t := 0; t <= A; t++ {
			j.pos = append(j.pos, P-1+t)
			if t < A {
				j.tgt = append(j.tgt, s.Action[t])
			} else {
				j.tgt = append(j.tgt, eos)
			}
			var set []int
			if s.Allowed != nil {
				set = s.Allowed[t]
			}
			j.allowed = append(j.allowed, set)
		}
	}
	if verdict != 0 {
		j.toks = append(j.toks, EOSID, VerdictID)
		j.pos = append(j.pos, P+A+1)
		j.tgt = append(j.tgt, verdict)
		j.allowed = append(j.allowed, nil)
	}
}

// termJob fills j for term t; it reports false if every weight is zero.
func termJob(j *job, t *Term, eos int) bool {
	A := len(t.Action)
	if t.TokenWeights != nil && len(t.TokenWeights) != A+1 {
		panic(fmt.Sprintf("policy: %d token weights for an action of %d tokens (want %d)", len(t.TokenWeights), A, A+1))
	}
	if t.Verdict != 0 && t.Verdict != GoodID && t.Verdict != BadID {
		panic(fmt.Sprintf("policy: verdict target %d is neither GoodID nor BadID", t.Verdict))
	}
	withAction := t.Weight != 0
	for _, w := range t.TokenWeights {
		withAction = withAction || w != 0
	}
	verdict := t.Verdict
	if t.VerdictWeight == 0 {
		verdict = 0
	}
	if !withAction && verdict == 0 {
		return false
	}
	actionJob(j, t.Seq, eos, withAction, verdict)
	if withAction {
		for i := 0; i <= A; i++ {
			w := t.Weight
			if t.TokenWeights != nil {
				w += t.TokenWeights[i]
			}
			j.w = append(j.w, w)
		}
	}
	if verdict != 0 {
		j.w = append(j.w, t.VerdictWeight)
	}
	return true
}

// net is a model evaluated in element type F: the model (its size and
// layout), its parameters P in F (Model.Params itself, or a Model32's
// float32 copy) and a pool of workspaces of that type. Every evaluation
// is written once, as a method of net, for both precisions.
type net[F float] struct {
	m    *Model
	P    []F
	pool *sync.Pool // of *workspace[F]
}

// net is m evaluated in float64 on m.Params.
func (m *Model) net() net[float64] { return net[float64]{m: m, P: m.Params, pool: m.pool} }

// getWS returns a workspace from the pool.
func (n net[F]) getWS() *workspace[F] {
	if ws, ok := n.pool.Get().(*workspace[F]); ok {
		ws.P = n.P
		return ws
	}
	return newWorkspace(n.m, n.P)
}

func (n net[F]) putWS(ws *workspace[F]) { n.pool.Put(ws) }

// parallel calls fn(ws, i) for i in [0, count) on min(GOMAXPROCS, count)
// goroutines, each with its own workspace. Each call must write only
// outputs owned by i, so results do not depend on the scheduling.
func (n net[F]) parallel(count int, fn func(ws *workspace[F], i int)) {
	workers := min(runtime.GOMAXPROCS(0), count)
	if workers <= 1 {
		ws := n.getWS()
		for i := range count {
			fn(ws, i)
		}
		n.putWS(ws)
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws := n.getWS()
			defer n.putWS(ws)
			for {
				i := int(next.Add(1)) - 1
				if i >= count {
					return
				}
				fn(ws, i)
			}
		}()
	}
	wg.Wait()
}

// LogProbs returns log pi(action | prompt) of every sequence: the sum of
// the log-probabilities of the action's tokens and of the <eos> that ends
// it, each given the prompt and the preceding action tokens. dst (length
// len(seqs)) is filled and returned; nil allocates.
func (m *Model) LogProbs(dst []float64, seqs []Seq) []float64 { return m.net().logProbs(dst, seqs) }

func (n net[F]) logProbs(dst []float64, seqs []Seq) []float64 {
	if dst == nil {
		dst = make([]float64, len(seqs))
	}
	if len(dst) != len(seqs) {
		panic("policy: LogProbs length mismatch")
	}
	for _, s := range seqs {
		n.m.checkSeq(s)
	}
	n.parallel(len(seqs), func(ws *workspace[F], i int) {
		var j job
		actionJob(&j, seqs[i], n.m.cfg.EOS, true, 0)
		ws.run(&j)
		var s float64
		for _, v := range ws.logp[:len(j.pos)] {
			s += v
		}
		dst[i] = s
	})
	return dst
}

// TokenLogProbs returns, for every sequence, the log-probability of each
// action token and of the final <eos> (len(Action)+1 values).
func (m *Model) TokenLogProbs(seqs []Seq) [][]float64 { return m.net().tokenLogProbs(seqs) }

func (n net[F]) tokenLogProbs(seqs []Seq) [][]float64 {
	out := make([][]float64, len(seqs))
	for _, s := range seqs {
		n.m.checkSeq(s)
	}
	n.parallel(len(seqs), func(ws *workspace[F], i int) {
		var j job
		actionJob(&j, seqs[i], n.m.cfg.EOS, true, 0)
		ws.run(&j)
		out[i] = append([]float64(nil), ws.logp[:len(j.pos)]...)
	})
	return out
}

// Verdicts returns the verdict distribution of every sequence at the
// <verdict> marker of prompt ++ action ++ <eos> ++ <verdict>. dst is
// filled and returned; nil allocates.
func (m *Model) Verdicts(dst []Verdict, seqs []Seq) []Verdict { return m.net().verdicts(dst, seqs) }

func (n net[F]) verdicts(dst []Verdict, seqs []Seq) []Verdict {
	if dst == nil {
		dst = make([]Verdict, len(seqs))
	}
	if len(dst) != len(seqs) {
		panic("policy: Verdicts length mismatch")
	}
	for _, s := range seqs {
		n.m.checkSeq(s)
	}
	V := n.m.cfg.VocabSize
	n.parallel(len(seqs), func(ws *workspace[F], i int) {
		var j job
		actionJob(&j, seqs[i], n.m.cfg.EOS, false, GoodID)
		ws.run(&j)
		row := ws.logits[:V]
		dst[i] = Verdict{LogGood: float64(row[GoodID]) - ws.lse[0], LogBad: float64(row[BadID]) - ws.lse[0]}
	})
	return dst
}

// reduceChunks is the number of partial sums of a batch gradient: samples
// are split into this many contiguous chunks (fewer for small batches),
// each summed in sample order, and the chunks are added in order. It is a
// constant so that the result does not depend on GOMAXPROCS.
const reduceChunks = 16

// Gradient sets dst to the gradient, with respect to every parameter in the
// flat order, of the objective sum over terms of Term's value, and returns
// the objective. dst (length NumParams) is overwritten; nil allocates. The
// result is the same for any GOMAXPROCS: terms are split into at most 16
// contiguous chunks, each accumulated in order, and the chunks are summed
// in order.
func (m *Model) Gradient(dst []float64, terms []Term) ([]float64, float64) {
	D := len(m.Params)
	if dst == nil {
		dst = make([]float64, D)
	}
	if len(dst) != D {
		panic("policy: Gradient length mismatch")
	}
	for i := range terms {
		m.checkSeq(terms[i].Seq)
	}
	N := len(terms)
	nc := min(N, reduceChunks)
	n := m.net()
	if nc <= 1 {
		clear(dst)
		ws := n.getWS()
		defer n.putWS(ws)
		var obj float64
		var j job
		for i := range terms {
			obj += ws.gradTerm(&j, &terms[i], dst)
		}
		return dst, obj
	}
	parts := make([][]float64, nc)
	objs := make([]float64, nc)
	n.parallel(nc, func(ws *workspace[float64], c int) {
		g := make([]float64, D)
		var j job
		for i := c * N / nc; i < (c+1)*N/nc; i++ {
			objs[c] += ws.gradTerm(&j, &terms[i], g)
		}
		parts[c] = g
	})
	copy(dst, parts[0])
	var obj float64
	for c := range nc {
		obj += objs[c]
		if c > 0 {
			for i, v := range parts[c] {
				dst[i] += v
			}
		}
	}
	return dst, obj
}

// gradTerm adds the gradient of term t to grad (full length) and returns
// the term's value.
func (ws *workspace[F]) gradTerm(j *job, t *Term, grad []F) float64 {
	if !termJob(j, t, ws.m.cfg.EOS) {
		return 0
	}
	ws.run(j)
	var obj float64
	for i, w := range j.w {
		obj += w * ws.logp[i]
	}
	ws.backward(j, grad, ws.m.allSelection())
	return obj
}

// PerSampleGrads writes the gradient of each term's value, restricted to
// the selected tensors and flattened in the flat parameter order, into row
// n of dst (len(terms) x SelectionDim(sel), row-major), and returns dst; nil
// allocates. For Term{Seq: s, Weight: 1} the row is
// g_n = grad log pi(a_n | s_n). Each row is computed from its own term
// alone, so it does not depend on the rest of the batch or on GOMAXPROCS.
func (m *Model) PerSampleGrads(dst []float64, terms []Term, sel Selection) []float64 {
	sel = m.resolve(sel)
	if dst == nil {
		dst = make([]float64, len(terms)*sel.dim)
	}
	if len(dst) != len(terms)*sel.dim {
		panic("policy: PerSampleGrads length mismatch")
	}
	m.net().perSample(terms, sel, func(i int, g []float64, _ float64) {
		sel.gather(dst[i*sel.dim:(i+1)*sel.dim], g)
	})
	return dst
}

// PerSampleGrads32 is PerSampleGrads with the rows rounded to float32 (the
// gradient is computed in float64).
func (m *Model) PerSampleGrads32(dst []float32, terms []Term, sel Selection) []float32 {
	sel = m.resolve(sel)
	if dst == nil {
		dst = make([]float32, len(terms)*sel.dim)
	}
	if len(dst) != len(terms)*sel.dim {
		panic("policy: PerSampleGrads32 length mismatch")
	}
	m.net().perSample(terms, sel, func(i int, g []float64, _ float64) {
		gather32(sel, dst[i*sel.dim:(i+1)*sel.dim], g)
	})
	return dst
}

// PerSampleGrads32Values is PerSampleGrads32 that also sets values[n] to
// the value of term n, computed in the same forward pass: for
// Term{Seq: s, Weight: 1} (ActionTerms) it is log pi(a_n | s_n), the
// LogProbs value, bit for bit. values must have len(terms) entries.
func (m *Model) PerSampleGrads32Values(dst []float32, values []float64, terms []Term, sel Selection) []float32 {
	sel = m.resolve(sel)
	if dst == nil {
		dst = make([]float32, len(terms)*sel.dim)
	}
	if len(dst) != len(terms)*sel.dim || len(values) != len(terms) {
		panic("policy: PerSampleGrads32Values length mismatch")
	}
	m.net().perSample(terms, sel, func(i int, g []float64, v float64) {
		gather32(sel, dst[i*sel.dim:(i+1)*sel.dim], g)
		values[i] = v
	})
	return dst
}

// ActionTerms returns Term{Seq: s, Weight: 1} for every sequence: the terms
// whose per-sample gradients are g_n = grad log pi(a_n | s_n).
func ActionTerms(seqs []Seq) []Term {
	ts := make([]Term, len(seqs))
	for i, s := range seqs {
		ts[i] = Term{Seq: s, Weight: 1}
	}
	return ts
}

// perSample computes the gradient of each term alone and passes it, with
// the term's value (sum of weight x log-probability, in target order), to
// emit.
func (n net[F]) perSample(terms []Term, sel Selection, emit func(i int, g []F, value float64)) {
	for i := range terms {
		n.m.checkSeq(terms[i].Seq)
	}
	D := len(n.P)
	n.parallel(len(terms), func(ws *workspace[F], i int) {
		if len(ws.grad) != D {
			ws.grad = make([]F, D)
		}
		g := ws.grad
		clear(g)
		var j job
		var value float64
		if termJob(&j, &terms[i], n.m.cfg.EOS) {
			ws.run(&j)
			for k, w := range j.w {
				value += w * ws.logp[k]
			}
			ws.backward(&j, g, sel)
		}
		emit(i, g, value)
	})
}

// Hidden writes the hidden state of layer `layer` at position `at` of every
// sequence into row n of dst (len(seqs) x Dim) and returns dst; nil
// allocates. Layers follow HF's output_hidden_states: layer 0 is the
// embedding sum wte+wpe, layer l (1 <= l < Layers) the output of block l-1,
// and layer Layers the output of the last block after ln_f. It panics if
// layer is not in [0, Layers].
func (m *Model) Hidden(dst []float64, seqs []Seq, layer int, at Position) []float64 {
	return m.net().hidden(dst, seqs, layer, at)
}

func (n net[F]) hidden(dst []float64, seqs []Seq, layer int, at Position) []float64 {
	m := n.m
	c := m.cfg
	d := c.Dim
	if layer < 0 || layer > c.Layers {
		panic(fmt.Sprintf("policy: hidden layer %d not in [0, %d]", layer, c.Layers))
	}
	if dst == nil {
		dst = make([]float64, len(seqs)*d)
	}
	if len(dst) != len(seqs)*d {
		panic("policy: Hidden length mismatch")
	}
	for _, s := range seqs {
		m.checkSeq(s)
	}
	n.parallel(len(seqs), func(ws *workspace[F], i int) {
		s := seqs[i]
		toks := s.Prompt
		if at == AtVerdict {
			toks = append(append(append([]int(nil), s.Prompt...), s.Action...), EOSID, VerdictID)
		}
		p := len(toks) - 1
		ws.reserve(len(toks), 1)
		ws.forward(toks, layer, p)
		out := dst[i*d : (i+1)*d]
		x := ws.x[layer][p*d : p*d+d]
		if layer == c.Layers {
			var rs float64
			P := n.P
			layerNormRow(ws.xhatf[:d], ws.hf[:d], &rs, x, P[m.lay.lnfW:m.lay.lnfW+d], P[m.lay.lnfB:m.lay.lnfB+d])
			x = ws.hf[:d]
		}
		for k, v := range x {
			out[k] = float64(v)
		}
	})
	return dst
}

// PairGrads is the reference computation for an independent
// implementation (PyTorch): for each text pair, the token ids the model
// reads, log pi(action | prompt) and the per-sample gradient
// g_n = grad log pi(a_n | s_n) over every parameter (rows of NumParams
// values in the flat order).
type PairGrads struct {
	Seqs     []Seq
	LogProbs []float64
	Grads    []float64 // len(Seqs) x NumParams, row-major
}

// EvalPairs tokenizes the pairs (EncodePair) and computes PairGrads.
func (m *Model) EvalPairs(tok *Tokenizer, pairs []Pair) (PairGrads, error) {
	if tok.Size() != m.cfg.VocabSize {
		return PairGrads{}, fmt.Errorf("policy: tokenizer has %d tokens, model %d", tok.Size(), m.cfg.VocabSize)
	}
	var r PairGrads
	for i, p := range pairs {
		s, err := tok.EncodePair(p.Prompt, p.Action, m.cfg.Context)
		if err != nil {
			return PairGrads{}, fmt.Errorf("pair %d: %w", i, err)
		}
		r.Seqs = append(r.Seqs, s)
	}
	r.LogProbs = m.LogProbs(nil, r.Seqs)
	r.Grads = m.PerSampleGrads(nil, ActionTerms(r.Seqs), Selection{})
	return r, nil
}
