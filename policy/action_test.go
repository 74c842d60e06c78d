package policy

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestActionHidden checks the mean hidden state over the positions that
// feed the action: at layer 0 against wte[tok]+wpe[pos] summed by hand
// (exact), and at the last layer against Hidden(LastPrompt) of every prefix
// prompt ++ action[:k], which by causal attention is the hidden state at
// position P-1+k of the whole sequence (1e-12).
func TestActionHidden(t *testing.T) {
	cfg := Config{VocabSize: 13, Context: 48, Dim: 8, Layers: 2, Heads: 2}
	m := randomModel(t, cfg, 61, 0.5)
	rng := rand.New(rand.NewPCG(62, 63))
	seqs := []Seq{randSeq(rng, 13, 10, 3), randSeq(rng, 13, 1, 4), randSeq(rng, 13, 7, 0)}
	d := cfg.Dim
	h0 := m.ActionHidden(nil, seqs, 0)
	for i, s := range seqs {
		P, A := len(s.Prompt), len(s.Action)
		toks := append(slices.Clone(s.Prompt), s.Action...)
		for k := range d {
			var want float64
			for q := P - 1; q < P+A; q++ {
				want += m.Params[toks[q]*d+k] + m.Params[cfg.VocabSize*d+q*d+k]
			}
			want /= float64(A + 1)
			if math.Abs(h0[i*d+k]-want) > 1e-12 {
				t.Fatalf("seq %d: layer 0 = %v, want %v", i, h0[i*d+k], want)
			}
		}
	}
	for _, layer := range []int{1, cfg.Layers} {
		h := m.ActionHidden(nil, seqs, layer)
		for i, s := range seqs {
			P, A := len(s.Prompt), len(s.Action)
			toks := append(slices.Clone(s.Prompt), s.Action...)
			var prefixes []Seq
			for q := P - 1; q < P+A; q++ {
				prefixes = append(prefixes, Seq{Prompt: toks[:q+1]})
			}
			last := m.Hidden(nil, prefixes, layer, LastPrompt)
			for k := range d {
				var want float64
				for r := range prefixes {
					want += last[r*d+k]
				}
				want /= float64(len(prefixes))
				if math.Abs(h[i*d+k]-want) > 1e-12 {
					t.Fatalf("layer %d seq %d coord %d: %v, want mean of prefix states %v", layer, i, k, h[i*d+k], want)
				}
			}
			if A == 0 {
				lp := m.Hidden(nil, []Seq{s}, layer, LastPrompt)
				for k := range d {
					if math.Abs(h[i*d+k]-lp[k]) > 1e-12 {
						t.Fatalf("layer %d: an empty action's state is not the last prompt token's", layer)
					}
				}
			}
		}
	}
}

// TestHeadGrads checks the output-use part of the tied embedding's
// gradient: its columns sum to zero over the vocabulary (the softmax
// identity sum_k (e_y - p)_k = 0), it is nonzero on rows of tokens absent
// from the input, and the rest of the wte gradient (PerSampleGrads minus
// this) vanishes on exactly those rows, where only the output use can
// reach. Tolerances are float32 rounding of the head rows: 1e-6 of the
// largest |entry|.
func TestHeadGrads(t *testing.T) {
	cfg := Config{VocabSize: 23, Context: 48, Dim: 8, Layers: 2, Heads: 2}
	m := randomModel(t, cfg, 71, 0.5)
	rng := rand.New(rand.NewPCG(72, 73))
	seqs := []Seq{randSeq(rng, 8, 6, 3), randSeq(rng, 8, 3, 2), randSeq(rng, 8, 9, 1)}
	// a restricted softmax at every action position of the second sequence
	s := &seqs[1]
	for tk := 0; tk <= len(s.Action); tk++ {
		tgt := EOSID
		if tk < len(s.Action) {
			tgt = s.Action[tk]
		}
		s.Allowed = append(s.Allowed, []int{tgt, 20, 21})
	}
	terms := ActionTerms(seqs)
	terms[2].Weight = -0.7
	d, V := cfg.Dim, cfg.VocabSize
	sel, err := m.Select("transformer.wte.weight")
	if err != nil {
		t.Fatal(err)
	}
	full := m.PerSampleGrads(nil, terms, sel)
	head := m.HeadGrads32(nil, terms)
	for i, s := range seqs {
		in := map[int]bool{}
		for _, tk := range append(slices.Clone(s.Prompt), s.Action...) {
			in[tk] = true
		}
		g := full[i*V*d : (i+1)*V*d]
		hd := head[i*V*d : (i+1)*V*d]
		scale := 0.0
		for _, v := range g {
			scale = max(scale, math.Abs(v))
		}
		for _, v := range hd {
			scale = max(scale, math.Abs(float64(v)))
		}
		tol := 1e-6 * scale
		for k := range d {
			var sum float64
			for v := range V {
				sum += float64(hd[v*d+k])
			}
			if math.Abs(sum) > float64(V)*tol {
				t.Errorf("seq %d column %d: head gradient sums to %g over the vocabulary, want 0", i, k, sum)
			}
		}
		reached := false
		for v := range V {
			if in[v] {
				continue
			}
			for k := range d {
				if r := g[v*d+k] - float64(hd[v*d+k]); math.Abs(r) > tol {
					t.Fatalf("seq %d: row %d (not in the input) has input-use gradient %g", i, v, r)
				}
				reached = reached || math.Abs(float64(hd[v*d+k])) > 1e3*tol
			}
		}
		if !reached {
			t.Errorf("seq %d: the head gradient is zero on every row outside the input", i)
		}
	}
}
