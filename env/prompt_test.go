package env

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestPromptStructure(t *testing.T) {
	task := findTask(t, Household, "pick_and_place_simple")
	e := start(t, task)
	p := Prompt(e, nil, PromptConfig{})
	lines := strings.Split(p, "\n")
	if len(lines) != 4 || lines[0] != "You are an agent in a household. Your task is to: "+task.Goal ||
		lines[1] != "Your observation is: "+e.Observation() || lines[3] != "Your action:" ||
		lines[2] != "Your admissible actions are: ["+strings.Join(e.Admissible(), ", ")+"]." {
		t.Fatalf("first prompt:\n%s", p)
	}
	var past []Turn
	for _, a := range []string{"look", "inventory", "look"} {
		past = append(past, Turn{e.Observation(), a})
		e.Step(a)
	}
	p = Prompt(e, past, PromptConfig{})
	lines = strings.Split(p, "\n")
	want := "Your last 2 observations and actions: [Observation 2: " + past[1].Observation + " Action 2: inventory] [Observation 3: " +
		past[2].Observation + " Action 3: look]"
	if len(lines) != 5 || lines[1] != want || lines[2] != "Now at step 4, your observation is: "+e.Observation() {
		t.Fatalf("prompt at step 4:\n%s", p)
	}
	if p3 := Prompt(e, past, PromptConfig{History: 3}); !strings.Contains(p3, "Your last 3 observations and actions: [Observation 1: ") {
		t.Errorf("History 3:\n%s", p3)
	}
	if p0 := Prompt(e, past, PromptConfig{History: -1}); strings.Contains(p0, "Observation 3") || !strings.Contains(p0, "Now at step 4") {
		t.Errorf("no history:\n%s", p0)
	}
}

// TestPromptsOverlap: consecutive prompts of trajectories share most tokens
// (the Jaccard similarity that gradient coupling feeds on), and prompts stay
// within the 256-token context of the default actor.
func TestPromptsOverlap(t *testing.T) {
	for _, name := range Names() {
		var sum float64
		var n, longest int
		for _, split := range Splits() {
			for _, task := range allTasks(t, name, split, 100) {
				for k, pol := range []Policy{OraclePolicy{}, RandomPolicy{}} {
					tr, err := Play(task, pol, rand.New(rand.NewPCG(task.Seed, uint64(k))), PlayConfig{})
					if err != nil {
						t.Fatal(err)
					}
					for i, st := range tr.Steps {
						longest = max(longest, len(Tokens(st.Prompt)))
						if i > 0 {
							sum += Jaccard(tr.Steps[i-1].Prompt, st.Prompt)
							n++
						}
					}
				}
			}
		}
		mean := sum / float64(n)
		t.Logf("%s: mean Jaccard of consecutive prompts %.3f, longest prompt %d tokens", name, mean, longest)
		if mean < 0.75 {
			t.Errorf("%s: consecutive prompts overlap only %.3f", name, mean)
		}
		if longest >= 256 {
			t.Errorf("%s: a prompt of %d tokens", name, longest)
		}
	}
}

func TestJaccard(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want float64
	}{
		{"", "", 1},
		{"a b", "", 0},
		{"go to cabinet 1", "go to cabinet 1", 1},
		{"go to cabinet 1", "go to cabinet 2", 0.6}, // {go,to,cabinet} / {go,to,cabinet,1,2}
		{"a a a b", "b c", 1.0 / 3},                 // sets, not multisets
	} {
		if got := Jaccard(c.a, c.b); got != c.want {
			t.Errorf("Jaccard(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

// TestMemoryLineWords: the memory line is made of words of Words(env), so a
// word-level actor's vocabulary needs nothing new, and it is the second line
// of the prompt exactly when PromptConfig.Memory is set.
func TestMemoryLineWords(t *testing.T) {
	for _, name := range Names() {
		vocab := map[string]bool{}
		for _, w := range Words(name) {
			vocab[w] = true
		}
		lines := 0
		for _, split := range Splits() {
			for _, task := range allTasks(t, name, split, 40) {
				e := start(t, task)
				rng := rand.New(rand.NewPCG(task.Seed, 3))
				var past []Turn
				for !e.Done() {
					m := MemoryLine(e)
					for _, tok := range Tokens(m) {
						if !vocab[tok] {
							t.Fatalf("%s: memory word %q not in Words: %s", task.ID, tok, m)
						}
					}
					with, without := Prompt(e, past, PromptConfig{Memory: true}), Prompt(e, past, PromptConfig{})
					if l := strings.Split(with, "\n"); l[1] != m || strings.Join(append(l[:1:1], l[2:]...), "\n") != without {
						t.Fatalf("%s: prompt with memory:\n%s\nwithout:\n%s", task.ID, with, without)
					}
					lines++
					a := MixPolicy{Eps: 0.3}.Act(e, "", rng)
					past = append(past, Turn{Observation: e.Observation(), Action: a})
					e.Step(a)
				}
			}
		}
		if lines == 0 {
			t.Fatal("no prompts")
		}
	}
}
