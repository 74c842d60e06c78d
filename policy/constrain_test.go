package policy

import (
	"math"
	"slices"
	"testing"
)

// constrainFixture is a tokenizer over a few actions sharing prefixes, so
// that their trie has forced positions (a single continuation), choices
// and actions that are prefixes of others.
func constrainFixture() (*Tokenizer, *Trie, []string) {
	actions := []string{"go to cabinet 1", "go to cabinet 2", "go to desk 1", "take mug 1 from desk 1", "look", "look at mug 1"}
	tok := NewTokenizer(actions)
	return tok, NewTrie(tok, actions), actions
}

// TestConstrain: the allowed sets of every admissible action are the
// trie's continuations position by position, forced exactly where one
// token may follow; inadmissible or truncated actions are refused.
func TestConstrain(t *testing.T) {
	tok, tr, actions := constrainFixture()
	for _, a := range actions {
		ids := tok.Encode(a)
		allowed, forced, ok := tr.Constrain(ids)
		if !ok {
			t.Fatalf("%q: not admissible", a)
		}
		if len(allowed) != len(ids)+1 || len(forced) != len(ids)+1 {
			t.Fatalf("%q: %d sets, %d flags for %d tokens", a, len(allowed), len(forced), len(ids))
		}
		node := 0
		for p, set := range allowed {
			if !slices.Equal(set, tr.Allowed(node)) || forced[p] != (len(set) == 1) {
				t.Errorf("%q position %d: set %v forced %v, trie %v", a, p, set, forced[p], tr.Allowed(node))
			}
			if p < len(ids) {
				node = tr.Next(node, ids[p])
			}
		}
	}
	// "go to" forces "to" after "go"; "look" allows <eos> or "at".
	_, f, _ := tr.Constrain(tok.Encode("go to desk 1"))
	if want := []bool{false, true, false, true, true}; !slices.Equal(f, want) {
		t.Errorf("go to desk 1: forced %v, want %v", f, want)
	}
	for _, bad := range []string{"go to mug 1", "go to", "look mug", ""} {
		if _, _, ok := tr.Constrain(tok.Encode(bad)); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

// constrainedLogProb is log pi as trained computed from full-vocabulary
// log-probabilities only: at each unforced position, the target's log-prob
// minus the log-sum-exp of the allowed tokens' log-probs, each read as the
// target of its own sequence (independent of Seq.Allowed and of
// DecisionTerms).
func constrainedLogProb(m *Model, prompt, action []int, allowed [][]int, forced []bool) float64 {
	var total float64
	for p, set := range allowed {
		if forced[p] {
			continue
		}
		lp := func(v int) float64 {
			s := Seq{Prompt: prompt, Action: slices.Clone(action[:p])}
			if v != EOSID {
				s.Action = append(s.Action, v)
			}
			return m.TokenLogProbs([]Seq{s})[0][p]
		}
		tgt := EOSID
		if p < len(action) {
			tgt = action[p]
		}
		mx := math.Inf(-1)
		vals := make([]float64, len(set))
		for k, v := range set {
			vals[k] = lp(v)
			mx = max(mx, vals[k])
		}
		var sum float64
		for _, x := range vals {
			sum += math.Exp(x - mx)
		}
		total += lp(tgt) - (mx + math.Log(sum))
	}
	return total
}

// TestDecisionTermsFiniteDifferences: the gradient of log pi as trained
// (Trie.Constrain, DecisionTerms, per-sample gradients) matches central
// finite differences of the constrained log-prob built from full softmaxes
// (constrainedLogProb) for every parameter, to |fd - g| <= 1e-7 + 1e-6 |g|
// (the bound of TestGradientFiniteDifferences, h = 1e-5); the values agree
// to 1e-12, and a forced position contributes exactly 0.
func TestDecisionTermsFiniteDifferences(t *testing.T) {
	tok, tr, _ := constrainFixture()
	cfg := Config{VocabSize: tok.Size(), Context: 24, Dim: 8, Layers: 2, Heads: 2}
	m := randomModel(t, cfg, 5, 0.5)
	prompt := tok.Encode("look at mug 1 go to desk 1")
	var seqs []Seq
	var forced [][]bool
	for _, a := range []string{"go to desk 1", "look", "take mug 1 from desk 1"} {
		ids := tok.Encode(a)
		al, f, ok := tr.Constrain(ids)
		if !ok {
			t.Fatal(a)
		}
		seqs = append(seqs, Seq{Prompt: prompt, Action: ids, Allowed: al})
		forced = append(forced, f)
	}
	terms := DecisionTerms(seqs, forced)
	n := len(terms)
	D := m.NumParams()
	g := m.PerSampleGrads(nil, terms, Selection{})
	values := make([]float64, n)
	for i := range n {
		values[i] = constrainedLogProb(m, prompt, seqs[i].Action, seqs[i].Allowed, forced[i])
	}
	tlp := m.TokenLogProbs(seqs)
	for i := range n {
		var v float64
		for p, lp := range tlp[i] {
			if forced[i][p] {
				if lp != 0 {
					t.Errorf("sample %d forced position %d: constrained log-prob %v, want 0", i, p, lp)
				}
				continue
			}
			v += lp
		}
		if math.Abs(v-values[i]) > 1e-12 {
			t.Errorf("sample %d: log pi as trained %v, from full softmaxes %v", i, v, values[i])
		}
	}
	const h = 1e-5
	var worst float64
	for k := range D {
		old := m.Params[k]
		for i := range n {
			m.Params[k] = old + h
			jp := constrainedLogProb(m, prompt, seqs[i].Action, seqs[i].Allowed, forced[i])
			m.Params[k] = old - h
			jm := constrainedLogProb(m, prompt, seqs[i].Action, seqs[i].Allowed, forced[i])
			m.Params[k] = old
			fd := (jp - jm) / (2 * h)
			gi := g[i*D+k]
			diff := math.Abs(fd - gi)
			worst = max(worst, diff)
			if diff > 1e-7+1e-6*math.Abs(gi) {
				t.Errorf("sample %d param %d: gradient %.12g, finite difference %.12g", i, k, gi, fd)
			}
		}
	}
	t.Logf("%d parameters x %d samples: largest |fd - g| = %.2g", D, n, worst)
}
