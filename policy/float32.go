package policy

import (
	"math/rand/v2"
	"sync"

	"github.com/gradcouple/gradcouple/internal/kernel"
)

// float is the element type of a compute path: float64 (Model, the
// default) or float32 (Model32); kernel.Gemm takes either.
type float = kernel.Float

// Model32 evaluates a Model in float32: the same network, sequences,
// targets and outputs as the Model's methods of the same names, with the
// weights, activations, their gradients and the matrix products in float32
// (gemm32: float32 products summed in float32 over blocks of at most 256,
// the blocks summed in float64). Reductions stay in float64: LayerNorm
// moments, softmax and log-sum-exp sums, attention scores in the cache, and
// the log-probabilities themselves, so LogProbs, TokenLogProbs, Verdicts,
// Hidden and ActionHidden return float64 values that differ from the
// Model's by the float32 rounding of the pass (TestFloat32Agreement states
// the measured differences and the bounds). Training, tests and reference
// anchors use the Model (float64); Model32 is an explicit choice for
// evaluation, sampling and per-sample gradients at scale.
//
// A Model32 is a snapshot: Model.Float32 converts Params to float32 once,
// and later writes to Params are not seen until Refresh converts them
// again. The rule for a caller that trains: after every optimizer step,
// call Refresh (or Float32) before the next float32 evaluation. Methods
// that evaluate are safe for concurrent use; Refresh must not run
// concurrently with them.
type Model32 struct {
	n net[float32]
}

// Float32 returns a float32 snapshot of m (see Model32): its parameters are
// Params rounded to float32 now.
func (m *Model) Float32() *Model32 {
	m32 := &Model32{n: net[float32]{m: m, P: make([]float32, len(m.Params)), pool: new(sync.Pool)}}
	m32.Refresh()
	return m32
}

// Refresh converts the source model's current Params to float32 again, in
// place (call it after changing Params).
func (m32 *Model32) Refresh() {
	P := m32.n.P
	for i, v := range m32.n.m.Params[:len(P)] {
		P[i] = float32(v)
	}
}

// Model returns the float64 model m32 is a snapshot of.
func (m32 *Model32) Model() *Model { return m32.n.m }

// Params returns the float32 parameters (a view, in the flat order; do not
// modify it).
func (m32 *Model32) Params() []float32 { return m32.n.P }

// LogProbs is Model.LogProbs computed in float32.
func (m32 *Model32) LogProbs(dst []float64, seqs []Seq) []float64 { return m32.n.logProbs(dst, seqs) }

// TokenLogProbs is Model.TokenLogProbs computed in float32.
func (m32 *Model32) TokenLogProbs(seqs []Seq) [][]float64 { return m32.n.tokenLogProbs(seqs) }

// Verdicts is Model.Verdicts computed in float32.
func (m32 *Model32) Verdicts(dst []Verdict, seqs []Seq) []Verdict { return m32.n.verdicts(dst, seqs) }

// Hidden is Model.Hidden computed in float32 (the float32 states,
// converted to float64).
func (m32 *Model32) Hidden(dst []float64, seqs []Seq, layer int, at Position) []float64 {
	return m32.n.hidden(dst, seqs, layer, at)
}

// ActionHidden is Model.ActionHidden computed in float32 (the mean is
// summed in float64).
func (m32 *Model32) ActionHidden(dst []float64, seqs []Seq, layer int) []float64 {
	return m32.n.actionHidden(dst, seqs, layer)
}

// PerSampleGrads is Model.PerSampleGrads computed in float32: the forward
// and backward passes run in float32 and row n of dst (len(terms) x
// SelectionDim(sel)) is the float32 gradient of term n's value. (Model's
// PerSampleGrads32 is different: it computes in float64 and only rounds
// the rows.)
func (m32 *Model32) PerSampleGrads(dst []float32, terms []Term, sel Selection) []float32 {
	return m32.PerSampleGradsValues(dst, nil, terms, sel)
}

// PerSampleGradsValues is PerSampleGrads that also sets values[n] to the
// value of term n from the same float32 forward pass (for ActionTerms,
// LogProbs of the Model32, bit for bit). values may be nil; otherwise it
// must have len(terms) entries.
func (m32 *Model32) PerSampleGradsValues(dst []float32, values []float64, terms []Term, sel Selection) []float32 {
	m := m32.n.m
	sel = m.resolve(sel)
	if dst == nil {
		dst = make([]float32, len(terms)*sel.dim)
	}
	if len(dst) != len(terms)*sel.dim || (values != nil && len(values) != len(terms)) {
		panic("policy: PerSampleGradsValues length mismatch")
	}
	m32.n.perSample(terms, sel, func(i int, g []float32, v float64) {
		gather32(sel, dst[i*sel.dim:(i+1)*sel.dim], g)
		if values != nil {
			values[i] = v
		}
	})
	return dst
}

// Sample is Model.Sample with the logits computed in float32 (the draw
// itself, from the float32 logits, is float64 arithmetic). A seeded rng
// gives the same actions on every run and for any GOMAXPROCS.
func (m32 *Model32) Sample(prompt []int, k int, trie *Trie, opt SampleOptions, rng *rand.Rand) ([]Sampled, error) {
	return m32.n.sample(prompt, k, trie, opt, rng)
}

// NewCache returns an empty float32 cache for m32.
func (m32 *Model32) NewCache() *Cache32 { return &Cache32{*m32.n.newCache()} }

// expShiftSum sets x[i] = exp((x[i]-shift)*scale) and returns the sum of
// the new values, with kernel.ExpShiftSum: in place for float64; for
// float32 through the float64 scratch *buf (grown as needed), each value
// rounded to float32 once and the unrounded values summed. (Measured on
// AVX-512, where the kernel has a vector exp, against math.Exp per element:
// BenchmarkPrecision/forward float32 at d 64, 128, 256, 512 takes 8.6, 23,
// 41, 132 ms instead of 14, 50, 114, 259 ms.)
func expShiftSum[F float](x []F, shift, scale float64, buf *[]float64) float64 {
	if x64, ok := any(x).([]float64); ok {
		return kernel.ExpShiftSum(x64, shift, scale)
	}
	if cap(*buf) < len(x) {
		*buf = make([]float64, len(x))
	}
	t := (*buf)[:len(x)]
	for i, v := range x {
		t[i] = float64(v)
	}
	s := kernel.ExpShiftSum(t, shift, scale)
	for i, v := range t {
		x[i] = F(v)
	}
	return s
}
