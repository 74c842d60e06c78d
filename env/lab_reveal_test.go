package env

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// milkWorld is a hand-built lab task: measure the milk (36 degrees, above the
// threshold 15: the red box) with the thermometer.
//
//	rooms:    hallway (start; red box, blue box) - kitchen (counter: milk)
//	          hallway - workshop (shelf: thermometer)
func milkWorld() Task {
	w := &labWorld{
		layout: "hand",
		rooms:  []string{"hallway", "kitchen", "workshop"},
		adj:    [][]int8{{1, 2}, {0}, {0}},
		fixtures: []labFixture{
			{"red box", 0, fkBox}, {"blue box", 0, fkBox}, {"counter", 1, fkPlain}, {"shelf", 2, fkPlain},
		},
		items: []labItem{
			{name: "milk", kind: ikPlain, temp: 36},
			{name: "thermometer", kind: ikThermo, temp: 21},
		},
		family:  labMeasure,
		goal:    "measure the temperature of the milk. First, focus on the thermometer. If it is above 15 degrees celsius, focus on the red box; otherwise, focus on the blue box.",
		subject: 0, thermo: 1, can: -1, box: 0, heater: -1, freezer: -1, pot: -1, bowl: -1, bench: -1, mixture: -1, power: -1,
	}
	w.dist = roomDistances(w.adj)
	w.focusSeq = []labFocus{{false, 1}, {true, 0}}
	w.init = labState{room: 0}
	w.init.pos[0], w.init.pos[1] = 2, 3
	for k := range w.init.link {
		w.init.link[k] = [2]int8{-1, -1}
	}
	return Task{Env: Lab, Split: SplitTrain, ID: "lab/hand/0", Type: labFamilyNames[labMeasure], Layout: "hand", Goal: w.goal, lab: w}
}

// TestLabBlindSteps follows the hand-built milk world: the first trip is a
// blind search (the thermometer could be in the kitchen, with the milk);
// after the reading the red box is identifiable, but not from a prompt whose
// window lost the reading, unless the memory line is on.
func TestLabBlindSteps(t *testing.T) {
	e := start(t, milkWorld())
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
	// Plan from the hallway: workshop (thermometer), kitchen (milk), back to
	// the boxes: 1+1+1 (pick, focus) +1 +2 +1 (measure) +1 +1 (box) = 8 steps.
	// With the thermometer on the kitchen counter it would be 6, via the
	// kitchen.
	check("start", []string{"go to workshop"}, []string{"go to kitchen", "go to workshop"}, true)
	if m := MemoryLine(e); m != "Your observations: hallway: nothing." {
		t.Errorf("memory at the start: %q", m)
	}
	past := walk(t, e, nil, "go to workshop")
	// The thermometer is seen (picking it up or focusing on it first are
	// both optimal). The workshop is known now, so the milk's hidden place
	// can only be the kitchen counter, where it is: nothing hidden matters.
	check("workshop", []string{"pick up thermometer", "focus on thermometer"}, []string{"pick up thermometer", "focus on thermometer"}, false)
	past = walk(t, e, past, "pick up thermometer", "focus on thermometer", "go to hallway", "go to kitchen", "use thermometer on milk", "go to hallway")
	check("after the reading", []string{"focus on red box"}, []string{"focus on red box"}, false)
	if !BlindInPrompt(e, PromptConfig{History: -1}) || BlindInPrompt(e, PromptConfig{History: 1}) {
		t.Error("at step 7 the reading (observation 6) is in a one-turn window and only there")
	}
	past = walk(t, e, past, "look around")
	for _, c := range []struct {
		cfg  PromptConfig
		want bool
	}{
		{PromptConfig{History: 1}, true},
		{PromptConfig{History: 2}, false},
		{PromptConfig{History: 1, Memory: true}, false},
	} {
		if got := BlindInPrompt(e, c.cfg); got != c.want {
			t.Errorf("after look around: BlindInPrompt(%+v) = %v, want %v", c.cfg, got, c.want)
		}
	}
	want := "Your observations: hallway: nothing; kitchen: counter holding a milk; workshop: nothing; the thermometer reads 36 degrees celsius on the milk."
	if m := MemoryLine(e); m != want {
		t.Errorf("memory after the reading:\n%q\nwant\n%q", m, want)
	}
	if p := Prompt(e, past, PromptConfig{Memory: true}); !slices.Contains(splitLines(p), want) {
		t.Errorf("prompt lacks the memory line:\n%s", p)
	}
	// The revealed judge calls a search of the kitchen good at the start,
	// the state judge bad.
	e = start(t, milkWorld())
	if g, _ := (Judge{}).Verdict(e, "go to kitchen", nil); g {
		t.Error("state judge: going to the kitchen first is good")
	}
	if g, _ := (Judge{Labels: LabelsRevealed}).Verdict(e, "go to kitchen", nil); !g {
		t.Error("revealed judge: going to the kitchen first is bad")
	}
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

// TestLabAlternativesConsistent: on generated lab tasks along eps-mixture
// rollouts, Blind agrees with the alternative worlds, is false when no item
// is hidden and the reading (if any is needed) was taken, and the revealed
// optimal set contains the optimal set, equal to it when not blind; the
// admissible list does not depend on hidden item places.
func TestLabAlternativesConsistent(t *testing.T) {
	blinds := 0
	for _, split := range Splits() {
		for _, task := range allTasks(t, Lab, split, 30) {
			e := start(t, task).(*lab)
			rng := rand.New(rand.NewPCG(task.Seed, 9))
			for !e.Done() {
				known := e.known(0)
				hidden := e.w.family == labMeasure && e.readAt < 0
				for i := range e.w.items {
					if p := e.st.pos[i]; p >= 0 && known&(1<<e.w.fixtures[p].room) == 0 && !e.w.items[i].fixed {
						hidden = true
					}
				}
				adm := e.Admissible()
				b := Blind(e)
				if b {
					blinds++
				}
				if b && !hidden {
					t.Fatalf("%s step %d: blind with nothing hidden", task.ID, e.Steps())
				}
				rev, opt := RevealedOptimalActions(e), OptimalActions(e)
				for _, a := range opt {
					if !slices.Contains(rev, a) {
						t.Fatalf("%s: optimal %q not revealed-optimal", task.ID, a)
					}
				}
				if len(rev) != len(opt) && !b {
					t.Fatalf("%s: revealed %q differs from optimal %q on a step that is not blind", task.ID, rev, opt)
				}
				for i := range e.w.items {
					p := e.st.pos[i]
					if p < 0 || known&(1<<e.w.fixtures[p].room) != 0 {
						continue
					}
					for f := range e.w.fixtures {
						if known&(1<<e.w.fixtures[f].room) != 0 {
							continue
						}
						alt := e.st
						alt.pos[i] = int8(f)
						var texts []string
						for _, a := range labActs(e.w, &alt, nil) {
							texts = append(texts, labText(e.w, &alt, a))
						}
						if !slices.Equal(texts, adm) {
							t.Fatalf("%s: moving a hidden item changes the admissible list", task.ID)
						}
					}
				}
				e.Step(MixPolicy{Eps: 0.2}.Act(e, "", rng))
			}
		}
	}
	if blinds == 0 {
		t.Fatal("no blind lab step")
	}
}
