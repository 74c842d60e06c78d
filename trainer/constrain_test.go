package trainer

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/policy"
)

// TestDrawIsConstrain: what the constrained sampler records for a drawn
// action (allowed sets, forced positions) is what policy's Trie.Constrain
// rebuilds from the action's tokens, so analyses that take log pi as
// trained (policy.DecisionTerms) use the trainer's definition. Checked on
// every turn of a household episode played with the sampler.
func TestDrawIsConstrain(t *testing.T) {
	tok := Tokenizer(env.Household)
	m, err := policy.NewModel(policy.Config{VocabSize: tok.Size(), Context: 320, Dim: 16, Layers: 2, Heads: 2}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	task, err := env.NewTask(env.Household, env.SplitTrain, 5)
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := env.Start(task)
	if err != nil {
		t.Fatal(err)
	}
	s := newSampler(m, tok)
	rng := rand.New(rand.NewPCG(3, 3))
	var past []env.Turn
	forcedSeen := 0
	for turn := 0; turn < 8 && !e.Done(); turn++ {
		prompt := env.Prompt(e, past, env.PromptConfig{})
		trie := policy.NewTrie(tok, e.Admissible())
		d := s.draw(tok.Encode(prompt), drawOptions{temp: 1, trie: trie}, rng)
		allowed, forced, ok := trie.Constrain(d.tokens)
		if !ok {
			t.Fatalf("turn %d: drawn action %q not admissible by Constrain", turn, d.text)
		}
		if !slices.EqualFunc(allowed, d.allowed, slices.Equal[[]int]) || !slices.Equal(forced, d.forced) {
			t.Fatalf("turn %d %q: Constrain %v %v, sampler %v %v", turn, d.text, allowed, forced, d.allowed, d.forced)
		}
		for _, f := range forced {
			if f {
				forcedSeen++
			}
		}
		past = append(past, env.Turn{Observation: e.Observation(), Action: d.text})
		e.Step(d.text)
	}
	if forcedSeen == 0 {
		t.Error("no forced position in the episode: the check of forced flags proved nothing")
	}
}
