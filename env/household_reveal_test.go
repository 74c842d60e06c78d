package env

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// mugWorld is a hand-built household task: put a mug in shelf, with the mug
// in the closed cabinet 2, an apple on countertop 1, cabinet 1 empty.
//
//	receptacles: cabinet 1 (closed), cabinet 2 (closed), countertop 1, shelf 1
//	objects:     apple 1 on countertop 1, mug 1 in cabinet 2
func mugWorld() Task {
	w := &hhWorld{
		layout: "hand",
		receps: []hhRecep{
			{typ: "cabinet", name: "cabinet 1", openable: true},
			{typ: "cabinet", name: "cabinet 2", openable: true},
			{typ: "countertop", name: "countertop 1"},
			{typ: "shelf", name: "shelf 1"},
		},
		objs:       []hhObj{{typ: "apple", name: "apple 1"}, {typ: "mug", name: "mug 1"}},
		family:     hhPick,
		goalType:   "mug",
		targetType: "shelf",
		goal:       "put a mug in shelf.",
		rel:        []int8{1},
		targets:    []int8{3},
		init:       hhState{loc: -1, held: -1},
	}
	w.init.pos[0], w.init.pos[1] = 2, 1
	return Task{Env: Household, Split: SplitTrain, ID: "household/hand/0", Type: hhFamilyNames[hhPick], Layout: "hand", Goal: w.goal, hh: w}
}

// walk steps e through actions, each of which must be admissible, and returns
// the turns (observation before, action) for Prompt.
func walk(t *testing.T, e Env, past []Turn, actions ...string) []Turn {
	t.Helper()
	for _, a := range actions {
		if !slices.Contains(e.Admissible(), a) {
			t.Fatalf("%q not admissible at step %d: %q", a, e.Steps(), e.Admissible())
		}
		past = append(past, Turn{Observation: e.Observation(), Action: a})
		e.Step(a)
	}
	return past
}

// TestHouseholdBlindSteps follows the hand-built mug world step by step:
// where the mug could be anywhere the agent has not looked, the oracle's
// "go to cabinet 2" is a blind search; once cabinet 2 was opened, the label
// is identifiable from the history, but not from a prompt whose window no
// longer shows that observation, unless the memory line is on.
func TestHouseholdBlindSteps(t *testing.T) {
	e := start(t, mugWorld())
	check := func(what string, opt, revealed []string, blind bool) {
		t.Helper()
		if got := OptimalActions(e); !slices.Equal(got, opt) {
			t.Errorf("%s: optimal %q, want %q", what, got, opt)
		}
		if got := RevealedOptimalActions(e); !slices.Equal(got, revealed) {
			t.Errorf("%s: revealed optimal %q, want %q", what, got, revealed)
		}
		if got := Blind(e); got != blind {
			t.Errorf("%s: Blind %v, want %v", what, got, blind)
		}
	}
	// Nothing seen. The mug could also be in cabinet 1 (same cost) or on
	// countertop 1 (no opening: cheaper); not on shelf 1 (the target type).
	check("start", []string{"go to cabinet 2"}, []string{"go to cabinet 1", "go to cabinet 2", "go to countertop 1"}, true)
	if m := MemoryLine(e); m != "Your observations: nothing." {
		t.Errorf("memory at the start: %q", m)
	}
	// Countertop 1 seen (the apple); the mug is in cabinet 1 or 2.
	past := walk(t, e, nil, "go to countertop 1")
	check("at countertop 1", []string{"go to cabinet 2"}, []string{"go to cabinet 1", "go to cabinet 2"}, true)
	// At the closed cabinet 2 the agent still does not know what is inside.
	past = walk(t, e, past, "go to cabinet 2")
	check("at closed cabinet 2", []string{"open cabinet 2"}, []string{"open cabinet 2", "go to cabinet 1"}, true)
	// Opened: the mug is seen; nothing hidden matters any more.
	past = walk(t, e, past, "open cabinet 2")
	check("cabinet 2 open", []string{"take mug 1 from cabinet 2"}, []string{"take mug 1 from cabinet 2"}, false)
	if m := MemoryLine(e); m != "Your observations: a mug 1 in cabinet 2, a apple 1 on countertop 1." {
		t.Errorf("memory after opening: %q", m)
	}
	// Close it, walk away and look twice: the mug's place was observed at
	// step 3, outside a one-turn window at step 6.
	past = walk(t, e, past, "close cabinet 2", "go to countertop 1", "look")
	check("back at countertop 1", []string{"go to cabinet 2"}, []string{"go to cabinet 2"}, false)
	for _, c := range []struct {
		cfg  PromptConfig
		want bool
	}{
		{PromptConfig{History: 1}, true},                // window: observations 5 and 6
		{PromptConfig{History: 3}, false},               // observations 3..6 show the open cabinet 2
		{PromptConfig{History: 1, Memory: true}, false}, // the memory line shows it
		{PromptConfig{History: -1}, true},
	} {
		if got := BlindInPrompt(e, c.cfg); got != c.want {
			t.Errorf("BlindInPrompt(%+v) = %v, want %v", c.cfg, got, c.want)
		}
	}
	p := Prompt(e, past, PromptConfig{History: 1, Memory: true})
	want := "You are an agent in a household. Your task is to: put a mug in shelf.\n" +
		"Your observations: a mug 1 in cabinet 2, a apple 1 on countertop 1.\n" +
		"Your last 1 observations and actions: [Observation 6: You arrive at countertop 1. On the countertop 1, you see a apple 1. Action 6: look]\n" +
		"Now at step 7, your observation is: You are facing the countertop 1. Next to it, you see nothing.\n" +
		"Your admissible actions are: [take apple 1 from countertop 1, go to cabinet 1, go to cabinet 2, go to shelf 1, look, inventory].\n" +
		"Your action:"
	if p != want {
		t.Errorf("prompt with memory:\n%s\nwant\n%s", p, want)
	}
	if p0 := Prompt(e, past, PromptConfig{History: 1}); p0 != strings.Replace(want, "Your observations: a mug 1 in cabinet 2, a apple 1 on countertop 1.\n", "", 1) {
		t.Errorf("prompt without memory is not the memory prompt minus its line:\n%s", p0)
	}
	// Taking the mug moves it in the memory too.
	walk(t, e, past, "go to cabinet 2", "open cabinet 2", "take mug 1 from cabinet 2")
	if m := MemoryLine(e); m != "Your observations: nothing in cabinet 2, a apple 1 on countertop 1." {
		t.Errorf("memory after taking the mug: %q", m)
	}
	// Judges: LabelsRevealed calls the search of cabinet 1 good at the start;
	// LabelsIdentifiable excludes the start step; the default does neither.
	e = start(t, mugWorld())
	for _, c := range []struct {
		j       Judge
		good    bool
		exclude bool
	}{{Judge{}, false, false}, {Judge{Labels: LabelsRevealed}, true, false}, {Judge{Labels: LabelsIdentifiable}, false, true}} {
		if g, _ := c.j.Verdict(e, "go to cabinet 1", nil); g != c.good || c.j.Excludes(e) != c.exclude {
			t.Errorf("%v judge: good %v excludes %v, want %v %v", c.j.Labels, g, c.j.Excludes(e), c.good, c.exclude)
		}
		if g, _ := c.j.Verdict(e, "go to shelf 1", nil); g {
			t.Errorf("%v judge: going to the empty target is good", c.j.Labels)
		}
	}
}

// TestHouseholdAlternativesConsistent checks the alternative worlds of
// generated tasks along eps-mixture rollouts: each differs from the state in
// one object, which moved from a receptacle the history never described to
// another one of its spawn types; the admissible actions are the same; a
// step with nothing hidden is never blind; and the revealed optimal set
// contains the optimal set, equal to it exactly when the step is not blind.
func TestHouseholdAlternativesConsistent(t *testing.T) {
	worlds := 0
	for _, split := range Splits() {
		for _, task := range allTasks(t, Household, split, 30) {
			e := start(t, task).(*household)
			rng := rand.New(rand.NewPCG(task.Seed, 9))
			for !e.Done() {
				known := e.known(0)
				hidden := false
				for o := range e.w.objs {
					if p := e.st.pos[o]; p >= 0 && known&(1<<p) == 0 && !e.w.objs[o].lamp {
						hidden = true
					}
				}
				adm := e.Admissible()
				blind := false
				truth := OptimalMask(e, nil)
				e.alternatives(0, func(opt []int) bool {
					worlds++
					m := make([]bool, len(adm))
					for _, i := range opt {
						m[i] = true
					}
					if !slices.Equal(m, truth) {
						blind = true
					}
					return true
				})
				if blind != Blind(e) || (!hidden && blind) {
					t.Fatalf("%s step %d: Blind %v, alternatives say %v, hidden objects %v", task.ID, e.Steps(), Blind(e), blind, hidden)
				}
				rev := RevealedOptimalActions(e)
				opt := OptimalActions(e)
				for _, a := range opt {
					if !slices.Contains(rev, a) {
						t.Fatalf("%s: optimal %q not revealed-optimal", task.ID, a)
					}
				}
				if (len(rev) != len(opt)) && !blind {
					t.Fatalf("%s: revealed %q differs from optimal %q on a step that is not blind", task.ID, rev, opt)
				}
				// Every single-object move the alternatives make keeps the
				// admissible list.
				for o := range e.w.objs {
					p := e.st.pos[o]
					if p < 0 || known&(1<<p) != 0 || e.w.objs[o].lamp {
						continue
					}
					for r := range e.w.receps {
						if known&(1<<r) != 0 {
							continue
						}
						alt := e.st
						alt.pos[o] = int8(r)
						var texts []string
						for _, a := range hhActs(e.w, &alt, nil) {
							texts = append(texts, hhText(e.w, a))
						}
						if !slices.Equal(texts, adm) {
							t.Fatalf("%s: moving a hidden object changes the admissible list", task.ID)
						}
					}
				}
				e.Step(MixPolicy{Eps: 0.3}.Act(e, "", rng))
			}
		}
	}
	if worlds == 0 {
		t.Fatal("no alternative worlds")
	}
}
