package policy

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// cacheLogProb computes log pi(action | prompt) by incremental decoding:
// the prompt through Prefill (or token by token with Append when
// prefill is false), then one Append per action token.
func cacheLogProb(m *Model, s Seq, prefill bool) float64 {
	kc := m.NewCache()
	var logits []float64
	if prefill {
		logits = kc.Prefill(s.Prompt)
	} else {
		for _, tk := range s.Prompt {
			logits = kc.Append(tk)
		}
	}
	var lp float64
	for t := 0; t <= len(s.Action); t++ {
		tgt := EOSID
		if t < len(s.Action) {
			tgt = s.Action[t]
		}
		lp += logits[tgt] - logSumExp(logits)
		if t < len(s.Action) {
			logits = kc.Append(tgt)
		}
	}
	return lp
}

// TestCacheLogProbs: log-probs computed in one batched pass and by
// incremental decoding with the KV cache (with a batched prefill of the
// prompt, and token by token from an empty cache) agree. The paths use
// different kernels (blocked products with fused multiply-adds versus
// scalar loops), so they agree to rounding, not bit for bit: |diff| <=
// 1e-10 on log-probs of size ~10 (observed ~1e-14).
func TestCacheLogProbs(t *testing.T) {
	cfg := Config{VocabSize: 29, Context: 80, Dim: 16, Layers: 3, Heads: 4}
	m := randomModel(t, cfg, 21, 0.4)
	rng := rand.New(rand.NewPCG(22, 23))
	var seqs []Seq
	for _, pa := range [][2]int{{1, 0}, {1, 5}, {31, 3}, {33, 7}, {70, 8}} {
		seqs = append(seqs, randSeq(rng, cfg.VocabSize, pa[0], pa[1]))
	}
	lp := m.LogProbs(nil, seqs)
	var worst float64
	for i, s := range seqs {
		for _, prefill := range []bool{true, false} {
			c := cacheLogProb(m, s, prefill)
			worst = max(worst, math.Abs(c-lp[i]))
			if math.Abs(c-lp[i]) > 1e-10 {
				t.Errorf("seq %d (prefill %v): cache log-prob %.15g, batched %.15g", i, prefill, c, lp[i])
			}
		}
	}
	t.Logf("largest difference %.2g", worst)
}

// TestConstrainedSampling: with a trie every draw is one of the admissible
// actions with exactly its tokens; LogProb equals LogProbs of the pair;
// the draw frequencies match exp(SampleLogProb) (within 5 standard errors
// over 3000 draws); at a low temperature the modal action dominates.
func TestConstrainedSampling(t *testing.T) {
	tok := NewTokenizer([]string{"go to cabinet 1 2 take apple from countertop in/on put open look"})
	cfg := Config{VocabSize: tok.Size(), Context: 64, Dim: 16, Layers: 2, Heads: 2}
	m := randomModel(t, cfg, 31, 0.5)
	actions := []string{"go to cabinet 1", "go to cabinet 2", "take apple 1 from countertop 1", "put apple 1 in/on cabinet 2", "look", "open cabinet 1", "go to countertop 1"}
	trie := NewTrie(tok, actions)
	prompt := tok.Encode("look . go to cabinet 1 . take apple 1 from countertop 1 .")
	rng := rand.New(rand.NewPCG(32, 33))
	const k = 3000
	draws, err := m.Sample(prompt, k, trie, SampleOptions{}, rng)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	prob := map[string]float64{}
	for _, d := range draws {
		if !slices.Contains(actions, d.Text) || !d.Ended {
			t.Fatalf("drew %q (ended %v), not an admissible action", d.Text, d.Ended)
		}
		if !slices.Equal(d.Action, tok.Encode(d.Text)) {
			t.Fatalf("drew tokens %v for %q", d.Action, d.Text)
		}
		count[d.Text]++
		prob[d.Text] = math.Exp(d.SampleLogProb)
	}
	var total float64
	for _, a := range actions {
		s := Seq{Prompt: prompt, Action: tok.Encode(a)}
		want := m.LogProbs(nil, []Seq{s})[0]
		for _, d := range draws {
			if d.Text == a && math.Abs(d.LogProb-want) > 1e-10 {
				t.Fatalf("%q: Sampled.LogProb %v, LogProbs %v", a, d.LogProb, want)
			}
		}
		p := prob[a]
		total += p
		freq := float64(count[a]) / k
		if se := math.Sqrt(p * (1 - p) / k); math.Abs(freq-p) > 5*se+1e-3 {
			t.Errorf("%q: frequency %.4f, probability %.4f", a, freq, p)
		}
	}
	if math.Abs(total-1) > 1e-3 {
		t.Errorf("probabilities of the drawn actions sum to %v (some action never drawn?)", total)
	}
	greedy, err := m.Sample(prompt, 2, trie, SampleOptions{Greedy: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cold, _ := m.Sample(prompt, 200, trie, SampleOptions{Temperature: 0.01}, rng)
	for _, d := range cold {
		if d.Text != greedy[0].Text {
			t.Fatalf("temperature 0.01 drew %q, greedy %q", d.Text, greedy[0].Text)
		}
	}
	if _, err := m.Sample(make([]int, 60), 1, trie, SampleOptions{}, rng); !errors.Is(err, ErrTooLong) {
		t.Errorf("prompt leaving no room for the longest action: err = %v", err)
	}
}

// TestUnconstrainedSampling: MaxTokens caps the length; LogProb agrees
// with LogProbs when the action ended; a seeded rng repeats the draws.
func TestUnconstrainedSampling(t *testing.T) {
	cfg := Config{VocabSize: 9, Context: 32, Dim: 8, Layers: 1, Heads: 2}
	m := randomModel(t, cfg, 41, 0.5)
	prompt := []int{4, 5, 6, 7}
	a, err := m.Sample(prompt, 50, nil, SampleOptions{MaxTokens: 3}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Sample(prompt, 50, nil, SampleOptions{MaxTokens: 3}, rand.New(rand.NewPCG(1, 2)))
	ended := 0
	for i, d := range a {
		if len(d.Action) > 3 {
			t.Fatalf("action of %d tokens with MaxTokens 3", len(d.Action))
		}
		if !slices.Equal(d.Action, b[i].Action) {
			t.Fatal("same seed, different draws")
		}
		if d.Ended {
			ended++
			want := m.LogProbs(nil, []Seq{{Prompt: prompt, Action: d.Action}})[0]
			if math.Abs(d.LogProb-want) > 1e-10 || math.Abs(d.SampleLogProb-want) > 1e-10 {
				t.Fatalf("LogProb %v, SampleLogProb %v, LogProbs %v", d.LogProb, d.SampleLogProb, want)
			}
		} else if !math.IsInf(d.LogProb, -1) {
			t.Fatalf("unfinished action with LogProb %v", d.LogProb)
		}
	}
	if ended == 0 || ended == len(a) {
		t.Logf("%d of %d draws ended", ended, len(a))
	}
}

// TestHidden: layer 0 is wte+wpe; the last layer at the verdict marker
// gives, through the tied LM head, the verdict log-probabilities; the
// early-exit forward agrees with a full forward for every layer.
func TestHidden(t *testing.T) {
	cfg := Config{VocabSize: 13, Context: 48, Dim: 8, Layers: 3, Heads: 2}
	m := randomModel(t, cfg, 51, 0.5)
	rng := rand.New(rand.NewPCG(52, 53))
	seqs := []Seq{randSeq(rng, 13, 10, 3), randSeq(rng, 13, 40, 2), randSeq(rng, 13, 1, 0)}
	d := cfg.Dim
	h0 := m.Hidden(nil, seqs, 0, LastPrompt)
	for i, s := range seqs {
		tk, p := s.Prompt[len(s.Prompt)-1], len(s.Prompt)-1
		for k := range d {
			want := m.Params[tk*d+k] + m.Params[cfg.VocabSize*d+p*d+k]
			if h0[i*d+k] != want {
				t.Fatalf("seq %d: layer 0 = %v, want wte+wpe = %v", i, h0[i*d+k], want)
			}
		}
	}
	hv := m.Hidden(nil, seqs, cfg.Layers, AtVerdict)
	ver := m.Verdicts(nil, seqs)
	wte := m.Tensor("transformer.wte.weight")
	for i := range seqs {
		logits := make([]float64, cfg.VocabSize)
		for v := range logits {
			for k := range d {
				logits[v] += hv[i*d+k] * wte[v*d+k]
			}
		}
		lse := logSumExp(logits)
		if math.Abs(logits[GoodID]-lse-ver[i].LogGood) > 1e-12 || math.Abs(logits[BadID]-lse-ver[i].LogBad) > 1e-12 {
			t.Errorf("seq %d: verdict from the hidden state differs from Verdicts", i)
		}
	}
	for layer := 1; layer < cfg.Layers; layer++ {
		for _, at := range []Position{LastPrompt, AtVerdict} {
			h := m.Hidden(nil, seqs, layer, at)
			for i, s := range seqs {
				toks := s.Prompt
				if at == AtVerdict {
					toks = append(append(slices.Clone(s.Prompt), s.Action...), EOSID, VerdictID)
				}
				ws := newWorkspace(m, m.Params)
				ws.reserve(len(toks), 1)
				ws.forward(toks, cfg.Layers, 0)
				p := len(toks) - 1
				if !slices.Equal(h[i*d:(i+1)*d], ws.x[layer][p*d:p*d+d]) {
					t.Errorf("layer %d at %d, seq %d: early-exit hidden state differs from the full forward", layer, at, i)
				}
			}
		}
	}
}

func TestVerdictPGood(t *testing.T) {
	v := Verdict{LogGood: math.Log(0.3), LogBad: math.Log(0.1)}
	if got := v.PGood(); math.Abs(got-0.75) > 1e-15 {
		t.Errorf("PGood = %v, want 0.75", got)
	}
}
