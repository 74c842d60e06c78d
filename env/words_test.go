package env

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestTokens(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"take apple 1 from countertop 1.", []string{"take", "apple", "1", "from", "countertop", "1", "."}},
		{"put mug 2 in/on shelf 10", []string{"put", "mug", "2", "in", "/", "on", "shelf", "10"}},
		{"reads -8 degrees celsius.", []string{"reads", "-", "8", "degrees", "celsius", "."}},
		{"[Observation 12: You wait.]", []string{"[", "observation", "12", ":", "you", "wait", ".", "]"}},
		{"step4x", []string{"step", "4", "x"}},
		{"  \t\n", nil},
		{"café", []string{"caf", "é"}},
	} {
		if got := Tokens(c.in); !slices.Equal(got, c.want) {
			t.Errorf("Tokens(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestWordsCoverEverything plays many tasks of every split with the random,
// oracle and mixture policies (and some inadmissible actions made of
// vocabulary words) and checks that every token of every prompt, goal,
// observation and admissible action is in Words; also for the twin alias
// variants, whose words are the world's.
func TestWordsCoverEverything(t *testing.T) {
	n := 150
	if long() {
		n = 1000
	}
	for _, name := range []string{Household, Lab, Household + "-twin-alias", Lab + "-twin-alias"} {
		words := Words(name)
		if !slices.IsSorted(words) || len(slices.Compact(slices.Clone(words))) != len(words) {
			t.Fatalf("%s: Words not sorted and unique", name)
		}
		if !slices.Equal(words, Words(name)) {
			t.Fatalf("%s: Words not deterministic", name)
		}
		vocab := map[string]bool{}
		for _, w := range words {
			vocab[w] = true
		}
		used := map[string]bool{}
		injected := false // prompts echo injected inadmissible actions
		check := func(what, text string, task Task) {
			for _, tok := range Tokens(text) {
				if !vocab[tok] {
					t.Fatalf("%s: %s %q has token %q not in Words(%s)", task.ID, what, text, tok, name)
				}
				if what != "prompt" || !injected {
					used[tok] = true
				}
			}
		}
		for _, split := range Splits() {
			for _, task := range allTasks(t, name, split, n) {
				check("goal", task.Goal, task)
				for k, pol := range []Policy{RandomPolicy{}, OraclePolicy{}, MixPolicy{Eps: 0.3}} {
					rng := rand.New(rand.NewPCG(task.Seed, uint64(k)))
					e, obs, _ := Start(task)
					injected = false
					check("observation", obs, task)
					var past []Turn
					for !e.Done() {
						check("prompt", Prompt(e, past, PromptConfig{}), task)
						for _, a := range e.Admissible() {
							check("action", a, task)
						}
						a := pol.Act(e, "", rng)
						if rng.IntN(20) == 0 {
							a = words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))]
							injected = true
						}
						past = append(past, Turn{e.Observation(), ParseAction(a)})
						obs, _, _ := e.Step(a)
						check("observation", obs, task)
					}
				}
			}
		}
		// Words should not be padded with words that never occur.
		var unused []string
		for _, w := range words {
			if !used[w] {
				unused = append(unused, w)
			}
		}
		t.Logf("%s: %d words, %d not seen in this sample: %q", name, len(words), len(unused), unused)
	}
	if Words("nope") != nil {
		t.Error("Words of an unknown environment")
	}
}
