package hf

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/gradcouple/gradcouple/internal/kernel"
)

// ErrEmptyPrompt: a sequence without prompt tokens (nothing predicts the
// first action token).
var ErrEmptyPrompt = errors.New("empty prompt")

// Seq is one (prompt, action) pair as token ids. The action is scored
// exactly as given: nothing is appended (a chat model's action usually
// ends with its end-of-turn token, <|im_end|> or <|eot_id|>, which then
// belongs in Action).
type Seq struct {
	Prompt []int
	Action []int
}

// LogProbs returns, for every sequence, log pi(action | prompt) =
// sum_t log softmax(z_{P-1+t})[a_t] (sums) and its terms (perToken[n][t]),
// where z_i is the logit vector after input position i of prompt ++
// action, over all vocab_size rows of the LM head at temperature 1. The
// log-softmax is computed in float64 from the logits. Sequences run in
// parallel (up to GOMAXPROCS); each is computed on its own, so results do
// not depend on the batch or on GOMAXPROCS. An empty prompt, a token
// outside the vocabulary or a sequence longer than max_position_embeddings
// is an error naming the sequence.
func (m *Model[F]) LogProbs(seqs []Seq) (sums []float64, perToken [][]float64, err error) {
	for n, s := range seqs {
		if len(s.Prompt) == 0 {
			return nil, nil, fmt.Errorf("sequence %d: %w", n, ErrEmptyPrompt)
		}
		if err := m.checkTokens(append(append([]int(nil), s.Prompt...), s.Action...), 0); err != nil {
			return nil, nil, fmt.Errorf("sequence %d: %w", n, err)
		}
	}
	sums = make([]float64, len(seqs))
	perToken = make([][]float64, len(seqs))
	workers := min(runtime.GOMAXPROCS(0), len(seqs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range next {
				perToken[n] = m.tokenLogProbs(seqs[n])
				var s float64
				for _, v := range perToken[n] {
					s += v
				}
				sums[n] = s
			}
		}()
	}
	for n := range seqs {
		next <- n
	}
	close(next)
	wg.Wait()
	return sums, perToken, nil
}

// tokenLogProbs scores one checked sequence by a full forward pass.
func (m *Model[F]) tokenLogProbs(s Seq) []float64 {
	A := len(s.Action)
	out := make([]float64, A)
	if A == 0 {
		return out
	}
	P := len(s.Prompt)
	toks := make([]int, 0, P+A-1)
	toks = append(toks, s.Prompt...)
	toks = append(toks, s.Action[:A-1]...)
	V := m.cfg.VocabSize
	logits := make([]F, A*V)
	c := m.NewCache()
	m.forward(c, toks, P-1, logits)
	scratch := make([]float64, V)
	for t, y := range s.Action {
		out[t] = logSoftmaxAt(logits[t*V:(t+1)*V], y, scratch)
	}
	return out
}

// logSoftmaxAt returns log softmax(z)[y] in float64, using scratch
// (len(z) values) for the exponentials (kernel.ExpShiftSum: the vector exp
// where the CPU has one, within 2 ulp of math.Exp).
func logSoftmaxAt[F float](z []F, y int, scratch []float64) float64 {
	mx := math.Inf(-1)
	for i, v := range z {
		x := float64(v)
		scratch[i] = x
		mx = max(mx, x)
	}
	if math.IsInf(mx, 0) {
		return float64(z[y]) - mx
	}
	return float64(z[y]) - (mx + math.Log(kernel.ExpShiftSum(scratch[:len(z)], mx, 1)))
}

// logSumExp returns log sum_i exp(z_i) in float64.
func logSumExp[F float](z []F) float64 {
	mx := math.Inf(-1)
	for _, v := range z {
		mx = max(mx, float64(v))
	}
	if math.IsInf(mx, 0) {
		return mx
	}
	var s float64
	for _, v := range z {
		s += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(s)
}

// GroupLogProbs is LogProbs for several actions after one prompt: the
// prompt is run once and each action continues from a copy of its cache
// (in parallel, up to GOMAXPROCS), so scoring a group of K actions costs
// one prompt pass plus the actions' own positions. The values equal
// LogProbs' to rounding (the matrix products are blocked differently).
func (m *Model[F]) GroupLogProbs(prompt []int, actions [][]int) (sums []float64, perToken [][]float64, err error) {
	if len(prompt) == 0 {
		return nil, nil, ErrEmptyPrompt
	}
	for n, a := range actions {
		if err := m.checkTokens(append(append([]int(nil), prompt...), a...), 0); err != nil {
			return nil, nil, fmt.Errorf("action %d: %w", n, err)
		}
	}
	c := m.NewCache()
	z0, err := c.Feed(prompt...)
	if err != nil {
		return nil, nil, err
	}
	V := m.cfg.VocabSize
	sums = make([]float64, len(actions))
	perToken = make([][]float64, len(actions))
	workers := min(runtime.GOMAXPROCS(0), len(actions))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range next {
				a := actions[n]
				A := len(a)
				out := make([]float64, A)
				if A > 0 {
					logits := make([]F, A*V)
					scratch := make([]float64, V)
					copy(logits, z0)
					if A > 1 {
						m.forward(c.Clone(), a[:A-1], 0, logits[V:])
					}
					var s float64
					for t, y := range a {
						out[t] = logSoftmaxAt(logits[t*V:(t+1)*V], y, scratch)
						s += out[t]
					}
					sums[n] = s
				}
				perToken[n] = out
			}
		}()
	}
	for n := range actions {
		next <- n
	}
	close(next)
	wg.Wait()
	return sums, perToken, nil
}

// Hidden returns transformers' output_hidden_states[layer] for the tokens
// toks (a forward pass from position 0), T x Hidden row-major, converted to
// float64: layer 0 is the token embeddings, layer l (0 < l < Layers) the
// output of decoder layer l-1, and layer Layers the output of the last
// layer after the final norm (what the LM head reads).
func (m *Model[F]) Hidden(toks []int, layer int) ([]float64, error) {
	if layer < 0 || layer > m.cfg.Layers {
		return nil, fmt.Errorf("hf: hidden layer %d outside [0, %d]", layer, m.cfg.Layers)
	}
	if len(toks) == 0 {
		return nil, ErrEmptyPrompt
	}
	if err := m.checkTokens(toks, 0); err != nil {
		return nil, err
	}
	d := m.cfg.Hidden
	got := make([]F, len(toks)*d)
	c := m.NewCache()
	c.tap = func(l int, x []F) {
		if l == layer {
			copy(got, x)
		}
	}
	m.forward(c, toks, len(toks), nil)
	if layer == m.cfg.Layers {
		rmsNorm(got, got, m.norm, d, m.cfg.RMSNormEps)
	}
	out := make([]float64, len(got))
	for i, v := range got {
		out[i] = float64(v)
	}
	return out, nil
}
