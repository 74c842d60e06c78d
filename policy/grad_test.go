package policy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// tinyConfig is small enough for finite differences over every parameter,
// with prompts long enough (up to 33 tokens) that attention crosses a block
// of attnBlock = 32 query rows.
var tinyConfig = Config{VocabSize: 11, Context: 40, Dim: 8, Layers: 2, Heads: 2}

// randomModel returns a model whose parameters are all O(1)-scale random
// (weights N(0, sigma^2), biases N(0, 0.1^2), LayerNorm weights N(1, 0.2^2)),
// so that every nonlinearity is exercised and no gradient vanishes.
func randomModel(t testing.TB, cfg Config, seed uint64, sigma float64) *Model {
	t.Helper()
	m, err := NewZeroModel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	for _, ts := range m.Tensors() {
		p := m.Params[ts.Offset : ts.Offset+ts.Size]
		for i := range p {
			switch {
			case strings.Contains(ts.Name, "ln_") && strings.HasSuffix(ts.Name, "weight"):
				p[i] = 1 + 0.2*rng.NormFloat64()
			case strings.HasSuffix(ts.Name, "bias"):
				p[i] = 0.1 * rng.NormFloat64()
			default:
				p[i] = sigma * rng.NormFloat64()
			}
		}
	}
	return m
}

func randSeq(rng *rand.Rand, V, P, A int) Seq {
	s := Seq{Prompt: make([]int, P), Action: make([]int, A)}
	for i := range s.Prompt {
		s.Prompt[i] = rng.IntN(V)
	}
	for i := range s.Action {
		s.Action[i] = numSpecial + rng.IntN(V-numSpecial)
	}
	return s
}

// mixedTerms covers every kind of term: plain log-prob weights of both
// signs, per-token weights, verdict terms with and without the action term,
// an empty action, a zero term, and sequences of different lengths.
func mixedTerms(rng *rand.Rand, V int) []Term {
	return []Term{
		{Seq: randSeq(rng, V, 33, 3), Weight: 1.3},
		{Seq: randSeq(rng, V, 5, 2), Weight: -0.7, Verdict: GoodID, VerdictWeight: 0.5},
		{Seq: randSeq(rng, V, 12, 4), TokenWeights: []float64{0.3, -1, 2, 0.1, 0.4}},
		{Seq: randSeq(rng, V, 1, 0), Weight: 0.9},
		{Seq: randSeq(rng, V, 20, 5), Verdict: BadID, VerdictWeight: -1.1},
		{Seq: randSeq(rng, V, 7, 1), Weight: 0},
		{Seq: randSeq(rng, V, 30, 6), Weight: 0.2, TokenWeights: []float64{1, 0, 0, -0.5, 0, 0, 0.3}},
		{Seq: allowedSeq(rng, V, 9, 3), Weight: -0.8, TokenWeights: []float64{0.5, 0, 1, -2}, Verdict: GoodID, VerdictWeight: 0.6},
	}
}

// allowedSeq is randSeq with a restricted softmax (Seq.Allowed) at every
// action position but one: sets of 1, 2 and more tokens, always holding the
// target.
func allowedSeq(rng *rand.Rand, V, P, A int) Seq {
	s := randSeq(rng, V, P, A)
	s.Allowed = make([][]int, A+1)
	for t := range s.Allowed {
		if t == 1 {
			continue // full vocabulary here
		}
		tgt := EOSID
		if t < A {
			tgt = s.Action[t]
		}
		set := []int{tgt}
		for range t {
			if v := rng.IntN(V); !slices.Contains(set, v) {
				set = append(set, v)
			}
		}
		s.Allowed[t] = set
	}
	return s
}

// TestAllowedLogProbs: a restricted log-probability is the full one
// renormalised over the allowed tokens, each of which is read from a
// sequence with that token as the target.
func TestAllowedLogProbs(t *testing.T) {
	m := randomModel(t, tinyConfig, 4, 0.5)
	rng := rand.New(rand.NewPCG(5, 6))
	s := allowedSeq(rng, tinyConfig.VocabSize, 10, 4)
	got := m.TokenLogProbs([]Seq{s})[0]
	full := m.TokenLogProbs([]Seq{{Prompt: s.Prompt, Action: s.Action}})[0]
	for pos, set := range s.Allowed {
		if set == nil {
			if got[pos] != full[pos] {
				t.Errorf("position %d (unrestricted): %v, want %v", pos, got[pos], full[pos])
			}
			continue
		}
		var z float64
		for _, v := range set {
			alt := Seq{Prompt: s.Prompt, Action: append(slices.Clone(s.Action[:pos]), v)}
			lp := m.TokenLogProbs([]Seq{alt})[0][pos]
			if v == EOSID {
				alt.Action = alt.Action[:pos]
				lp = m.TokenLogProbs([]Seq{alt})[0][pos]
			}
			z += math.Exp(lp)
		}
		want := full[pos] - math.Log(z)
		if math.Abs(got[pos]-want) > 1e-12 {
			t.Errorf("position %d: restricted log-prob %v, want %v", pos, got[pos], want)
		}
		if len(set) == 1 && got[pos] != 0 {
			t.Errorf("position %d: a forced token has log-prob %v", pos, got[pos])
		}
	}
}

// objective evaluates sum of Term values through the forward-only API
// (TokenLogProbs, Verdicts), independently of the backward code.
func objective(m *Model, terms []Term) float64 {
	var seqs []Seq
	for _, t := range terms {
		seqs = append(seqs, t.Seq)
	}
	tlp := m.TokenLogProbs(seqs)
	ver := m.Verdicts(nil, seqs)
	var J float64
	for i, t := range terms {
		for k, lp := range tlp[i] {
			w := t.Weight
			if t.TokenWeights != nil {
				w += t.TokenWeights[k]
			}
			J += w * lp
		}
		switch t.Verdict {
		case GoodID:
			J += t.VerdictWeight * ver[i].LogGood
		case BadID:
			J += t.VerdictWeight * ver[i].LogBad
		}
	}
	return J
}

// TestGradientFiniteDifferences checks Gradient against central finite
// differences for every element of every parameter tensor, on a model whose
// weights are O(1) (so softmax, GELU and LayerNorm are far from linear) and
// an objective mixing every kind of term (|J| ~ 28).
//
// Tolerance: with step h = 1e-5 in float64, the central difference has
// truncation error h^2/6 |d^3J/dp^3| and rounding error ~ eps |J| / h ~ 1e-9.
// Truncation dominates for the largest components: the worst error seen is
// 2.3e-8 on a component of size 12.6 (relative 2e-9), and it scales as h^2
// (2.3e-6 at h = 1e-4), as truncation error must. Every element must agree
// to |fd - g| <= 1e-7 + 1e-6 |g|: a few times above the worst error seen,
// and far below what a real mistake gives (a missing term or a wrong factor
// changes a component by O(|g|)).
func TestGradientFiniteDifferences(t *testing.T) {
	m := randomModel(t, tinyConfig, 1, 0.5)
	rng := rand.New(rand.NewPCG(2, 3))
	terms := mixedTerms(rng, tinyConfig.VocabSize)
	g, J := m.Gradient(nil, terms)
	if J0 := objective(m, terms); math.Abs(J-J0) > 1e-12*math.Abs(J0) {
		t.Fatalf("Gradient objective %v, forward objective %v", J, J0)
	}
	const h = 1e-5
	var worstAbs, worstRel float64
	for _, ts := range m.Tensors() {
		var gnorm float64
		for i := ts.Offset; i < ts.Offset+ts.Size; i++ {
			gnorm = max(gnorm, math.Abs(g[i]))
		}
		if gnorm == 0 {
			t.Errorf("%s: gradient is identically zero", ts.Name)
		}
		for i := ts.Offset; i < ts.Offset+ts.Size; i++ {
			old := m.Params[i]
			m.Params[i] = old + h
			jp := objective(m, terms)
			m.Params[i] = old - h
			jm := objective(m, terms)
			m.Params[i] = old
			fd := (jp - jm) / (2 * h)
			diff := math.Abs(fd - g[i])
			worstAbs = max(worstAbs, diff)
			if math.Abs(g[i]) > 1e-3 {
				worstRel = max(worstRel, diff/math.Abs(g[i]))
			}
			if diff > 1e-7+1e-6*math.Abs(g[i]) {
				t.Errorf("%s[%d]: gradient %.12g, finite difference %.12g", ts.Name, i-ts.Offset, g[i], fd)
			}
		}
	}
	t.Logf("largest |fd - g| = %.2g; largest relative (|g| > 1e-3) = %.2g", worstAbs, worstRel)
}

// TestPerSampleSumsToBatch: the per-sample gradients of the terms add up to
// the batch gradient. Both sum the same float64 numbers in different
// orders, so they agree to rounding: 1e-12 relative to the largest entry.
func TestPerSampleSumsToBatch(t *testing.T) {
	m := randomModel(t, Config{VocabSize: 23, Context: 64, Dim: 16, Layers: 2, Heads: 4}, 4, 0.3)
	rng := rand.New(rand.NewPCG(5, 6))
	var terms []Term
	for i := range 37 {
		terms = append(terms, Term{Seq: randSeq(rng, 23, 1+rng.IntN(50), rng.IntN(8)), Weight: rng.NormFloat64(),
			Verdict: []int{0, GoodID, BadID}[i%3], VerdictWeight: rng.NormFloat64()})
	}
	g, _ := m.Gradient(nil, terms)
	ps := m.PerSampleGrads(nil, terms, Selection{})
	D := m.NumParams()
	var scale float64
	for _, v := range g {
		scale = max(scale, math.Abs(v))
	}
	for i := range D {
		var s float64
		for n := range terms {
			s += ps[n*D+i]
		}
		if math.Abs(s-g[i]) > 1e-12*scale {
			t.Fatalf("parameter %d: sum of per-sample gradients %v, batch gradient %v", i, s, g[i])
		}
	}
}

// TestPerSampleIndependent: a sample's gradient is bit-for-bit the same
// alone, in a batch, and at another place in the batch.
func TestPerSampleIndependent(t *testing.T) {
	m := randomModel(t, tinyConfig, 7, 0.5)
	rng := rand.New(rand.NewPCG(8, 9))
	terms := mixedTerms(rng, tinyConfig.VocabSize)
	D := m.NumParams()
	all := m.PerSampleGrads(nil, terms, Selection{})
	rev := slices.Clone(terms)
	slices.Reverse(rev)
	allRev := m.PerSampleGrads(nil, rev, Selection{})
	for n := range terms {
		alone := m.PerSampleGrads(nil, terms[n:n+1], Selection{})
		if !slices.Equal(alone, all[n*D:(n+1)*D]) {
			t.Errorf("term %d: gradient in a batch differs from alone", n)
		}
		r := len(terms) - 1 - n
		if !slices.Equal(alone, allRev[r*D:(r+1)*D]) {
			t.Errorf("term %d: gradient depends on its place in the batch", n)
		}
		g, _ := m.Gradient(nil, terms[n:n+1])
		if !slices.Equal(alone, g) {
			t.Errorf("term %d: PerSampleGrads differs from Gradient of the term alone", n)
		}
	}
}

// TestSelection: gradients over a subset of tensors (which stop the
// backward pass early) equal the selected part of the full gradient
// exactly, and the float32 rows are its rounding.
func TestSelection(t *testing.T) {
	m := randomModel(t, Config{VocabSize: 11, Context: 40, Dim: 8, Layers: 3, Heads: 2}, 10, 0.5)
	rng := rand.New(rand.NewPCG(11, 12))
	terms := mixedTerms(rng, 11)
	full := m.PerSampleGrads(nil, terms, Selection{})
	D := m.NumParams()
	cases := [][]string{
		{"transformer.ln_f.weight"},
		{"transformer.h.2."},
		{"transformer.h.1.mlp.c_fc.weight", "transformer.ln_f.bias"},
		{"transformer.h.2.attn.c_attn.weight", "transformer.h.1.ln_1.weight"},
		{"transformer.wpe.weight"},
		{"transformer.h.0.ln_1.bias", "transformer.wte.weight"},
	}
	for _, names := range cases {
		sel, err := m.Select(names...)
		if err != nil {
			t.Fatal(err)
		}
		// the expected rows, assembled from the full gradient by name
		var want []float64
		for n := range terms {
			for _, ts := range m.Tensors() {
				for _, nm := range names {
					if ts.Name == nm || (strings.HasSuffix(nm, ".") && strings.HasPrefix(ts.Name, nm)) {
						want = append(want, full[n*D+ts.Offset:n*D+ts.Offset+ts.Size]...)
						break
					}
				}
			}
		}
		got := m.PerSampleGrads(nil, terms, sel)
		if !slices.Equal(got, want) {
			t.Errorf("%v: selected gradients differ from the full gradient", names)
		}
		got32 := m.PerSampleGrads32(nil, terms, sel)
		for i, v := range got32 {
			if v != float32(want[i]) {
				t.Fatalf("%v: float32 row entry %d = %v, want %v", names, i, v, float32(want[i]))
			}
		}
	}
	if _, err := m.Select("transformer.h.9."); err == nil {
		t.Error("Select of a missing prefix: no error")
	}
	if _, err := m.Select("lm_head.weight"); err == nil {
		t.Error("Select of a missing tensor: no error")
	}
}

// TestDeterministicAcrossGOMAXPROCS: batch gradients, per-sample gradients,
// log-probs and sampling give identical bits with GOMAXPROCS 1 and 2 (and 3).
func TestDeterministicAcrossGOMAXPROCS(t *testing.T) {
	m := randomModel(t, Config{VocabSize: 23, Context: 64, Dim: 16, Layers: 2, Heads: 4}, 13, 0.3)
	rng := rand.New(rand.NewPCG(14, 15))
	var terms []Term
	for range 41 {
		terms = append(terms, Term{Seq: randSeq(rng, 23, 1+rng.IntN(40), rng.IntN(6)), Weight: rng.NormFloat64()})
	}
	run := func(procs int) string {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		g, J := m.Gradient(nil, terms)
		ps := m.PerSampleGrads(nil, terms, Selection{})
		var seqs []Seq
		for _, tm := range terms {
			seqs = append(seqs, tm.Seq)
		}
		lp := m.LogProbs(nil, seqs)
		smp, err := m.Sample(terms[0].Prompt, 5, nil, SampleOptions{MaxTokens: 6}, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(g, J, ps, lp, smp)
	}
	a, b, c := run(1), run(2), run(3)
	if a != b || a != c {
		t.Error("results differ between GOMAXPROCS 1, 2 and 3")
	}
}

// TestInputsUnchanged: evaluating and differentiating leaves the parameters
// and the sequences as they were.
func TestInputsUnchanged(t *testing.T) {
	m := randomModel(t, tinyConfig, 16, 0.5)
	rng := rand.New(rand.NewPCG(17, 18))
	terms := mixedTerms(rng, tinyConfig.VocabSize)
	params := slices.Clone(m.Params)
	saved := fmt.Sprint(terms)
	m.Gradient(nil, terms)
	m.PerSampleGrads(nil, terms, Selection{})
	m.Hidden(nil, []Seq{terms[0].Seq}, 1, AtVerdict)
	if !slices.Equal(params, m.Params) || saved != fmt.Sprint(terms) {
		t.Error("inputs modified")
	}
}

// TestPerSampleGrads32Values: the values that come with the rows are the
// terms' values (LogProbs, bit for bit, for action terms; the objective of
// the term alone for any term), and the rows are PerSampleGrads32's.
func TestPerSampleGrads32Values(t *testing.T) {
	m := randomModel(t, tinyConfig, 11, 0.5)
	rng := rand.New(rand.NewPCG(12, 13))
	terms := mixedTerms(rng, tinyConfig.VocabSize)
	vals := make([]float64, len(terms))
	rows := m.PerSampleGrads32Values(nil, vals, terms, Selection{})
	if !slices.Equal(rows, m.PerSampleGrads32(nil, terms, Selection{})) {
		t.Error("rows differ from PerSampleGrads32")
	}
	for n := range terms {
		want := objective(m, terms[n:n+1])
		if math.Abs(vals[n]-want) > 1e-12*max(1, math.Abs(want)) {
			t.Errorf("term %d: value %v, objective %v", n, vals[n], want)
		}
	}
	var seqs []Seq
	for range 5 {
		seqs = append(seqs, randSeq(rng, tinyConfig.VocabSize, 1+rng.IntN(20), rng.IntN(6)))
	}
	vals = make([]float64, len(seqs))
	m.PerSampleGrads32Values(nil, vals, ActionTerms(seqs), Selection{})
	if lp := m.LogProbs(nil, seqs); !slices.Equal(vals, lp) {
		t.Errorf("values %v, LogProbs %v", vals, lp)
	}
}
