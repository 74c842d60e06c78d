package trainer

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/policy"
)

// TestDrawMatchesModel: what a draw reports from its key-value cache (token
// log-probs, full and constrained, and the verdict) equals the batched
// computation of package policy on the same sequence.
func TestDrawMatchesModel(t *testing.T) {
	tok := Tokenizer(env.Household)
	m, err := policy.NewModel(policy.Config{VocabSize: tok.Size(), Context: 320, Dim: 16, Layers: 2, Heads: 2}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	// Larger weights than the init so that distributions are far from uniform.
	for i := range m.Params {
		m.Params[i] *= 8
	}
	task, err := env.NewTask(env.Household, env.SplitTrain, 3)
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := env.Start(task)
	if err != nil {
		t.Fatal(err)
	}
	prompt := env.Prompt(e, nil, env.PromptConfig{})
	ids := tok.Encode(prompt)
	adm := e.Admissible()
	s := newSampler(m, tok)
	rng := rand.New(rand.NewPCG(2, 2))
	trie := policy.NewTrie(tok, adm)
	for n := range 20 {
		o := drawOptions{temp: 1, trie: trie, greedy: n == 0}
		d := s.draw(ids, o, rng)
		if !slices.Contains(adm, d.text) {
			t.Fatalf("constrained draw %q is not admissible", d.text)
		}
		if !slices.Equal(d.tokens, tok.Encode(d.text)) || !d.ended {
			t.Fatalf("draw %q: tokens %v", d.text, d.tokens)
		}
		check(t, m, d, policy.Seq{Prompt: ids, Action: d.tokens}, policy.Seq{Prompt: ids, Action: d.tokens, Allowed: d.allowed})
	}
	for range 5 {
		d := s.draw(ids, drawOptions{temp: 1.5, maxTokens: 3}, rng)
		if d.allowed != nil || len(d.tokens) > 3 || len(d.tokLogp) != len(d.tokens)+1 {
			t.Fatalf("unconstrained draw: %+v", d)
		}
		seq := policy.Seq{Prompt: ids, Action: d.tokens}
		check(t, m, d, seq, seq)
	}
}

func check(t *testing.T, m *policy.Model, d draw, full, con policy.Seq) {
	t.Helper()
	tl := m.TokenLogProbs([]policy.Seq{full, con})
	var sum float64
	for i := range d.tokLogp {
		if math.Abs(d.tokLogp[i]-tl[0][i]) > 1e-9 || math.Abs(d.conLogp[i]-tl[1][i]) > 1e-9 {
			t.Fatalf("%q token %d: draw %v / %v, model %v / %v", d.text, i, d.tokLogp[i], d.conLogp[i], tl[0][i], tl[1][i])
		}
		if d.forced[i] && d.conLogp[i] != 0 {
			t.Fatalf("%q token %d forced with constrained log-prob %v", d.text, i, d.conLogp[i])
		}
		sum += d.tokLogp[i]
	}
	if math.Abs(d.logp-sum) > 1e-12 {
		t.Fatalf("logp %v, sum %v", d.logp, sum)
	}
	v := m.Verdicts(nil, []policy.Seq{full})[0]
	if math.Abs(v.LogGood-d.verdict.LogGood) > 1e-9 || math.Abs(v.LogBad-d.verdict.LogBad) > 1e-9 {
		t.Fatalf("%q verdict: draw %+v, model %+v", d.text, d.verdict, v)
	}
}

func TestCorrected(t *testing.T) {
	p := "Your task is to: look.\nYour admissible actions are: [look].\nYour action:"
	got := corrected(p, "look")
	want := "Your task is to: look.\nYour admissible actions are: [look].\nWarning: look is likely a wrong action here, choose another one.\nYour action:"
	if got != want {
		t.Fatalf("corrected:\n%s\nwant\n%s", got, want)
	}
	tok := Tokenizer(env.Household)
	for _, w := range tok.Encode(got) {
		if w == policy.UnkID {
			t.Fatalf("correction line has a word outside the vocabulary: %v", policy.Split(got))
		}
	}
}
