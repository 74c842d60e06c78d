package hf

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// smallModel returns a Model[F] of the small config of typ with TinyWeights.
func smallModel[F float](t testing.TB, typ string) *Model[F] {
	t.Helper()
	c := smallConfig(t, typ)
	dir := writeDir(t, c, tinyTensors(t, c, "BF16"), 1)
	m, err := Load[F](dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fullLogits returns the logits after every position of toks from one
// pass over a fresh cache (T x V).
func fullLogits[F float](m *Model[F], toks []int) []F {
	V := m.cfg.VocabSize
	out := make([]F, len(toks)*V)
	m.forward(m.NewCache(), toks, 0, out)
	return out
}

// TestCacheMatchesFullPass feeds a sequence in pieces (a prompt of 150
// tokens, past the 128-row attention block, then single tokens, then a
// chunk of 5) and checks every logit vector against one full pass over the
// whole sequence: equal to float64 rounding (1e-12 relative to the largest
// logit) in float64 and 1e-4 in float32. Truncate and re-feed must give
// the same logits again.
func TestCacheMatchesFullPass(t *testing.T) {
	for _, typ := range []string{Qwen2, Qwen3, Llama} {
		m64 := smallModel[float64](t, typ)
		m32 := smallModel[float32](t, typ)
		rng := rand.New(rand.NewPCG(1, 2))
		toks := make([]int, 170)
		for i := range toks {
			toks[i] = rng.IntN(300)
		}
		checkCache(t, typ, m64, toks, 1e-12)
		checkCache(t, typ+" float32", m32, toks, 1e-4)
	}
}

func checkCache[F float](t *testing.T, name string, m *Model[F], toks []int, tol float64) {
	t.Helper()
	V := m.cfg.VocabSize
	full := fullLogits(m, toks)
	scale := 0.0
	for _, v := range full {
		scale = max(scale, math.Abs(float64(v)))
	}
	check := func(pos int, got []F) {
		t.Helper()
		want := full[pos*V : (pos+1)*V]
		for i := range want {
			if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol*scale) {
				t.Fatalf("%s: position %d, logit %d: cache %v, full pass %v", name, pos, i, got[i], want[i])
			}
		}
	}
	c := m.NewCache()
	feed := func(ts ...int) []F {
		z, err := c.Feed(ts...)
		if err != nil {
			t.Fatal(err)
		}
		return z
	}
	check(149, feed(toks[:150]...))
	for p := 150; p < 165; p++ {
		check(p, feed(toks[p]))
	}
	check(169, feed(toks[165:170]...))
	c.Truncate(150)
	check(150, feed(toks[150]))
	c.Truncate(0)
	check(9, feed(toks[:10]...))
}

// TestSampleLogProbs checks that each continuation Sample draws from a
// shared prompt prefix has the log-probs that a full recomputation
// (LogProbs) gives for the same tokens, and that a sampler that recomputes
// the whole sequence for every token (no cache) draws the same tokens from
// the same random numbers.
func TestSampleLogProbs(t *testing.T) {
	for _, typ := range []string{Qwen2, Qwen3, Llama} {
		m := smallModel[float64](t, typ)
		prompt := []int{5, 17, 42, 99, 3, 250, 7}
		opts := []SampleOptions{
			{MaxTokens: 12},
			{Temperature: 0.7, TopP: 0.9, MaxTokens: 12},
			{Temperature: 1.3, MaxTokens: 12, Stop: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
			{Greedy: true, MaxTokens: 6},
		}
		for oi, opt := range opts {
			got, err := m.Sample(prompt, 5, opt, rand.New(rand.NewPCG(uint64(oi), 9)))
			if err != nil {
				t.Fatal(err)
			}
			ref := sampleNoCache(m, prompt, 5, opt, rand.New(rand.NewPCG(uint64(oi), 9)))
			for i, s := range got {
				if !slices.Equal(s.Tokens, ref[i].Tokens) {
					t.Fatalf("%s option %d sample %d: with the cache %v, recomputed %v", typ, oi, i, s.Tokens, ref[i].Tokens)
				}
				if relErr(s.SampleLogProb, ref[i].SampleLogProb) > 1e-12 {
					t.Errorf("%s option %d sample %d: sample log-prob %v vs %v", typ, oi, i, s.SampleLogProb, ref[i].SampleLogProb)
				}
				sums, per, err := m.LogProbs([]Seq{{Prompt: prompt, Action: s.Tokens}})
				if err != nil {
					t.Fatal(err)
				}
				if relErr(s.LogProb, sums[0]) > 1e-12 {
					t.Errorf("%s option %d sample %d: LogProb %v, LogProbs %v", typ, oi, i, s.LogProb, sums[0])
				}
				for j := range per[0] {
					if relErr(s.TokenLogProbs[j], per[0][j]) > 1e-12 {
						t.Errorf("%s option %d sample %d token %d: %v vs %v", typ, oi, i, j, s.TokenLogProbs[j], per[0][j])
					}
				}
				stop := opt.Stop
				if stop == nil {
					stop = m.cfg.EOS
				}
				if s.Ended != slices.Contains(stop, s.Tokens[len(s.Tokens)-1]) {
					t.Errorf("%s: Ended %v for %v", typ, s.Ended, s.Tokens)
				}
			}
			if opt.Greedy {
				for _, s := range got[1:] {
					if !slices.Equal(s.Tokens, got[0].Tokens) {
						t.Errorf("%s: greedy draws differ", typ)
					}
				}
			}
		}
	}
}

// sampleNoCache is Sample with a full forward pass over prompt ++ drawn
// tokens for every token.
func sampleNoCache[F float](m *Model[F], prompt []int, k int, opt SampleOptions, rng *rand.Rand) []Sampled {
	stop := opt.Stop
	if stop == nil {
		stop = m.cfg.EOS
	}
	s := newSampler[F](m.cfg.VocabSize, opt)
	V := m.cfg.VocabSize
	rngs := sampleRNGs(rng, k, opt.Greedy)
	out := make([]Sampled, k)
	for i := range out {
		seq := slices.Clone(prompt)
		for {
			full := fullLogits(m, seq)
			z := full[(len(seq)-1)*V:]
			tok, lp, slp := s.draw(z, rngs[i])
			seq = append(seq, tok)
			d := &out[i]
			d.Tokens = append(d.Tokens, tok)
			d.LogProb += lp
			d.SampleLogProb += slp
			if slices.Contains(stop, tok) || len(d.Tokens) >= opt.MaxTokens {
				break
			}
		}
	}
	return out
}

// TestSampleDeterministic: the same seed gives the same draws, and the
// first draws of a larger group are those of a smaller one.
func TestSampleDeterministic(t *testing.T) {
	m := smallModel[float32](t, Qwen3)
	prompt := []int{1, 2, 3}
	opt := SampleOptions{Temperature: 0.9, TopP: 0.95, MaxTokens: 8}
	a, err := m.Sample(prompt, 3, opt, rand.New(rand.NewPCG(4, 4)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Sample(prompt, 5, opt, rand.New(rand.NewPCG(4, 4)))
	for i := range a {
		if !slices.Equal(a[i].Tokens, b[i].Tokens) || a[i].LogProb != b[i].LogProb {
			t.Errorf("draw %d: %v vs %v", i, a[i].Tokens, b[i].Tokens)
		}
	}
}

// TestTopP checks the nucleus on a small distribution: p = (0.5, 0.3, 0.15,
// 0.05) (ids 2, 0, 3, 1 after the shuffle below). TopP 0.5 keeps the first
// token only; 0.8 the first two (0.5 < 0.8, 0.8 >= 0.8 stops before the
// third); 0.81 three. Each draw's sampling log-prob is log(p/kept mass).
func TestTopP(t *testing.T) {
	p := []float64{0.3, 0.05, 0.5, 0.15}
	z := make([]float64, len(p))
	for i, v := range p {
		z[i] = math.Log(v)
	}
	cases := []struct {
		topP float64
		keep []int
	}{{0.5, []int{2}}, {0.8, []int{2, 0}}, {0.81, []int{2, 0, 3}}, {1, []int{2, 0, 3, 1}}}
	for _, tc := range cases {
		s := newSampler[float64](len(p), SampleOptions{TopP: tc.topP})
		var kept float64
		for _, i := range tc.keep {
			kept += p[i]
		}
		seen := map[int]int{}
		rng := rand.New(rand.NewPCG(1, 1))
		const n = 20000
		for range n {
			tok, lp, slp := s.draw(z, rng)
			seen[tok]++
			if math.Abs(lp-math.Log(p[tok])) > 1e-12 || math.Abs(slp-math.Log(p[tok]/kept)) > 1e-12 {
				t.Fatalf("top-p %v token %d: log-probs %v, %v", tc.topP, tok, lp, slp)
			}
		}
		for tok, cnt := range seen {
			if !slices.Contains(tc.keep, tok) {
				t.Errorf("top-p %v drew token %d", tc.topP, tok)
			}
			want := p[tok] / kept
			if got := float64(cnt) / n; math.Abs(got-want) > 5*math.Sqrt(want*(1-want)/n)+1e-9 {
				t.Errorf("top-p %v token %d: frequency %.4f, want %.4f", tc.topP, tok, got, want)
			}
		}
	}
}

func TestFeedErrors(t *testing.T) {
	m := smallModel[float32](t, Llama)
	c := m.NewCache()
	if _, err := c.Feed(300); !errors.Is(err, ErrTokenID) {
		t.Errorf("id 300 of 300: %v", err)
	}
	if _, err := c.Feed(-1); !errors.Is(err, ErrTokenID) {
		t.Errorf("id -1: %v", err)
	}
	if c.Len() != 0 {
		t.Errorf("a refused Feed changed the cache")
	}
	if _, _, err := m.LogProbs([]Seq{{Prompt: nil, Action: []int{1}}}); !errors.Is(err, ErrEmptyPrompt) {
		t.Errorf("empty prompt: %v", err)
	}
	mc := *m
	mc.cfg.MaxPositions = 4
	if _, _, err := mc.LogProbs([]Seq{{Prompt: []int{1, 2, 3}, Action: []int{4, 5}}}); !errors.Is(err, ErrTooLong) {
		t.Errorf("too long: %v", err)
	}
	if _, err := mc.Sample([]int{1, 2, 3, 4}, 1, SampleOptions{Greedy: true}, nil); !errors.Is(err, ErrTooLong) {
		t.Errorf("sample without room: %v", err)
	}
	s, err := mc.Sample([]int{1, 2}, 1, SampleOptions{Greedy: true, Stop: []int{}}, nil)
	if err == nil || !errors.Is(err, ErrNoStop) {
		// Stop is empty but not nil: no stop token and no MaxTokens.
		t.Errorf("no stop: %v %v", s, err)
	}
	s, err = mc.Sample([]int{1, 2}, 1, SampleOptions{Greedy: true, Stop: []int{}, MaxTokens: 10}, nil)
	if err != nil || len(s[0].Tokens) != 2 || s[0].Ended {
		t.Errorf("context of 4 after a prompt of 2: %+v %v", s, err)
	}
}

// TestGroupLogProbs: scoring actions from one shared prompt cache equals
// scoring each sequence on its own, to float64 rounding.
func TestGroupLogProbs(t *testing.T) {
	for _, typ := range []string{Qwen2, Qwen3, Llama} {
		m := smallModel[float64](t, typ)
		prompt := []int{5, 17, 42, 99, 3, 250, 7}
		actions := [][]int{{1}, {2, 3, 4}, {}, {299, 0, 12, 13, 14, 15}}
		gs, gp, err := m.GroupLogProbs(prompt, actions)
		if err != nil {
			t.Fatal(err)
		}
		for n, a := range actions {
			s, p, err := m.LogProbs([]Seq{{Prompt: prompt, Action: a}})
			if err != nil {
				t.Fatal(err)
			}
			if relErr(gs[n], s[0]) > 1e-12 || len(gp[n]) != len(p[0]) {
				t.Errorf("%s action %d: group %v, alone %v", typ, n, gs[n], s[0])
			}
			for i := range p[0] {
				if relErr(gp[n][i], p[0][i]) > 1e-12 {
					t.Errorf("%s action %d token %d: group %v, alone %v", typ, n, i, gp[n][i], p[0][i])
				}
			}
		}
	}
}

// TestSoftmaxOverAllRows: the softmax runs over all vocab_size rows of the
// LM head, also those no tokenizer id reaches (Qwen's 151,936 rows for
// 151,669 tokens): raising the logit of the last row by 10 lowers the
// others' log-probs by log(1 + p_last (e^10 - 1)).
func TestSoftmaxOverAllRows(t *testing.T) {
	m := smallModel[float64](t, Llama) // untied lm_head; a model of its own
	seq := Seq{Prompt: []int{3, 4, 5}, Action: []int{6}}
	c := m.NewCache()
	z, _ := c.Feed(seq.Prompt...)
	pLast := math.Exp(z[299] - logSumExp(z))
	before, _, _ := m.LogProbs([]Seq{seq})

	// The logit of row r is <h, row r> for the final hidden state h;
	// adding 10 h/|h|^2 to row 299 adds 10 to its logit.
	h := finalHidden(m, seq.Prompt)
	var n2 float64
	for _, v := range h {
		n2 += v * v
	}
	d := m.cfg.Hidden
	last := m.head[299*d : 300*d]
	for i := range last {
		last[i] += 10 * h[i] / n2
	}
	after, _, _ := m.LogProbs([]Seq{seq})
	want := before[0] - math.Log1p(pLast*(math.Exp(10)-1))
	if math.Abs(after[0]-want) > 1e-9 {
		t.Errorf("log pi %v after raising row 299, want %v (before %v)", after[0], want, before[0])
	}
}

// finalHidden returns the final norm's output at the last position of
// toks: the logits of a copy of m whose LM head rows 0..d-1 are the unit
// vectors.
func finalHidden(m *Model[float64], toks []int) []float64 {
	d, V := m.cfg.Hidden, m.cfg.VocabSize
	mm := *m
	mm.head = make([]float64, V*d)
	for i := range d {
		mm.head[i*d+i] = 1
	}
	z := make([]float64, V)
	mm.forward(mm.NewCache(), toks, len(toks)-1, z)
	return z[:d]
}

// TestHidden: the last hidden state after the final norm is what the LM
// head reads (its logits equal the forward pass's); layer 0 is the
// embedding rows.
func TestHidden(t *testing.T) {
	m := smallModel[float64](t, Qwen3)
	toks := []int{3, 1, 4, 1, 5, 9, 2, 6}
	d := m.cfg.Hidden
	h0, err := m.Hidden(toks, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, tok := range toks {
		if !slices.Equal(h0[i*d:(i+1)*d], m.embed[tok*d:(tok+1)*d]) {
			t.Fatalf("layer 0, position %d is not the embedding of %d", i, tok)
		}
	}
	hL, err := m.Hidden(toks, m.cfg.Layers)
	if err != nil {
		t.Fatal(err)
	}
	last := hL[(len(toks)-1)*d:]
	if got := finalHidden(m, toks); !slices.Equal(got, last) {
		t.Errorf("last layer %v, final norm output %v", last[:4], got[:4])
	}
	if _, err := m.Hidden(toks, m.cfg.Layers+1); err == nil {
		t.Error("layer past the last accepted")
	}
}
