package env

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// long reports whether the long checks run: go test -run ... with
// GRADCOUPLE_LONG=1 (and not -short).
func long() bool { return os.Getenv("GRADCOUPLE_LONG") != "" && !testing.Short() }

// exhaustiveDist explores every state reachable from init through every
// admissible action (succ) and returns each state's exact distance to a
// solved state by breadth-first search backwards from the solved states
// (-1: the goal is unreachable). Solved and failed (terminal) states have no
// successors. It gives up (ok false) beyond limit states.
func exhaustiveDist[S comparable](init S, succ func(S, func(S)), terminal, solved func(S) bool, limit int) (dist map[S]int32, ok bool) {
	index := map[S]int32{init: 0}
	states := []S{init}
	off := []int32{0}
	var to []int32
	for i := 0; i < len(states); i++ {
		s := states[i]
		if !terminal(s) {
			succ(s, func(t S) {
				j, seen := index[t]
				if !seen {
					j = int32(len(states))
					index[t] = j
					states = append(states, t)
				}
				to = append(to, j)
			})
		}
		off = append(off, int32(len(to)))
		if len(states) > limit {
			return nil, false
		}
	}
	// Reverse edges.
	n := len(states)
	roff := make([]int32, n+1)
	for _, j := range to {
		roff[j+1]++
	}
	for i := 0; i < n; i++ {
		roff[i+1] += roff[i]
	}
	from := make([]int32, len(to))
	fill := append([]int32(nil), roff[:n]...)
	for i := 0; i < n; i++ {
		for _, j := range to[off[i]:off[i+1]] {
			from[fill[j]] = int32(i)
			fill[j]++
		}
	}
	d := make([]int32, n)
	var queue []int32
	for i := range d {
		d[i] = -1
		if solved(states[i]) {
			d[i] = 0
			queue = append(queue, int32(i))
		}
	}
	for len(queue) > 0 {
		j := queue[0]
		queue = queue[1:]
		for _, i := range from[roff[j]:roff[j+1]] {
			if d[i] < 0 {
				d[i] = d[j] + 1
				queue = append(queue, i)
			}
		}
	}
	dist = make(map[S]int32, n)
	for i, s := range states {
		dist[s] = d[i]
	}
	return dist, true
}

// Tiny household layouts: every family, in- and out-of-domain types, small
// enough for exhaustive search (with at most one distractor).
var tinyHHLayouts = []hhLayout{
	{"tiny-sink", "", []hhCount{{"cabinet", 1, 2}, {"countertop", 1, 1}, {"sinkbasin", 1, 1}}, "", []int{hhPick, hhClean, hhTwo}},
	{"tiny-hot", "", []hhCount{{"countertop", 1, 1}, {"fridge", 1, 1}, {"microwave", 1, 1}}, "", []int{hhPick, hhHeat, hhCool}},
	{"tiny-cold", "", []hhCount{{"cabinet", 2, 2}, {"countertop", 1, 1}, {"fridge", 1, 1}}, "", []int{hhCool, hhTwo}},
	{"tiny-lamp", "", []hhCount{{"desk", 1, 1}, {"drawer", 1, 1}, {"shelf", 1, 2}}, "desk", []int{hhExamine, hhPick, hhTwo}},
	{"tiny-bath", ShiftLayout, []hhCount{{"bathtubbasin", 1, 1}, {"cabinet", 1, 2}, {"countertop", 1, 1}}, "", []int{hhClean, hhTwo}},
	{"tiny-office", ShiftLayout, []hhCount{{"desk", 1, 1}, {"safe", 1, 1}, {"sidetable", 1, 1}}, "desk", []int{hhExamine, hhPick}},
}

// tinyHHWorlds draws the n-th batch of tiny household worlds of
// TestHouseholdDistExact: one world of each shift in turn ("" in-domain),
// and every fifth time a twin pair as well.
func tinyHHWorlds(rng *rand.Rand, n int) []*hhWorld {
	var ws []*hhWorld
	if task, ok := hhGenerateWith(rng, []string{"", ShiftNames, ShiftLayout, ShiftKnowledge}[n%4], tinyHHLayouts, 0, 1); ok {
		ws = append(ws, task.hh)
	}
	if n%5 == 0 {
		if ts, _, ok := hhGenerateTwinsWith(rng, n%10 == 0, tinyHHLayouts, 0, 1); ok {
			ws = append(ws, ts[0].hh, ts[1].hh)
		}
	}
	return ws
}

// TestHouseholdDistExact checks hhDist against exhaustive search: on every
// reachable state of tiny worlds (all families, several receptacles of the
// target type, open and closed receptacles, a distractor), the planner's
// distance equals the true one. Equal distances everywhere imply that
// OptimalActions is exactly the set of first actions of shortest plans.
func TestHouseholdDistExact(t *testing.T) {
	worlds := 60
	if long() {
		worlds = 600
	}
	rng := rand.New(rand.NewPCG(1, 2))
	checked, states := map[int]int{}, 0
	for n := 0; n < worlds; n++ {
		for _, w := range tinyHHWorlds(rng, n) {
			checkHHDist(t, w, checked, &states)
		}
	}
	for f := 0; f < hhFamilies; f++ {
		if checked[f] == 0 {
			t.Errorf("no tiny world of family %s was checked", hhFamilyNames[f])
		}
	}
	t.Logf("checked %d states of worlds per family %v", states, checked)
}

// checkHHDist compares hhDist with exhaustive search on every reachable
// state of w (if there are not too many).
func checkHHDist(t *testing.T, w *hhWorld, checked map[int]int, states *int) {
	t.Helper()
	var buf []hhAct
	dist, ok := exhaustiveDist(w.init,
		func(s hhState, yield func(hhState)) {
			buf = hhActs(w, &s, buf[:0])
			for _, a := range buf {
				t := s
				hhApply(&t, a)
				yield(t)
			}
		},
		func(s hhState) bool { return hhSolved(w, &s) },
		func(s hhState) bool { return hhSolved(w, &s) },
		400000)
	if !ok {
		return
	}
	checked[w.family]++
	for s, want := range dist {
		got := hhDist(w, &s)
		if want < 0 {
			want = unreachable
		}
		if got != int(want) {
			t.Fatalf("%s %s (%s): hhDist %d, exhaustive %d in state %s", w.layout, hhFamilyNames[w.family], w.goal, got, want, w.describe(&s))
		}
		*states++
	}
}

// tinyLabLayouts are three-room worlds with every device.
var tinyLabLayouts = []labLayout{
	{"tiny-chain", "", []string{"kitchen", "hallway", "workshop"}, [][2]int{{0, 1}, {1, 2}},
		[]labFixSpec{
			{0, "counter", fkPlain}, {0, "stove", fkHeater}, {0, "freezer", fkFreezer},
			{1, "red box", fkBox}, {1, "blue box", fkBox},
			{2, "workbench", fkBench}, {2, "flower pot", fkPot}, {2, "bowl", fkBowl}, {2, "table", fkPlain},
		}, nil, ""},
	{"tiny-ring", ShiftKnowledge, []string{"kitchen", "foundry", "greenhouse"}, [][2]int{{0, 1}, {1, 2}, {2, 0}},
		[]labFixSpec{
			{0, "counter", fkPlain}, {0, "freezer", fkFreezer},
			{1, "furnace", fkHeater}, {1, "workbench", fkBench}, {1, "red box", fkBox},
			{2, "flower pot", fkPot}, {2, "bowl", fkBowl}, {2, "table", fkPlain}, {2, "blue box", fkBox},
		}, []int{labChange, labMeasure}, "The furnace heats like a stove."},
	{"tiny-loop", ShiftLayout, []string{"kitchen", "foundry", "greenhouse"}, [][2]int{{0, 1}, {1, 2}, {2, 0}},
		[]labFixSpec{
			{0, "counter", fkPlain}, {0, "freezer", fkFreezer}, {0, "bowl", fkBowl},
			{1, "furnace", fkHeater}, {1, "workbench", fkBench}, {1, "red box", fkBox}, {1, "blue box", fkBox},
			{2, "flower pot", fkPot}, {2, "table", fkPlain},
		}, nil, ""},
}

// tinyLabWorlds draws the n-th batch of tiny lab worlds of
// TestLabDistExact: one world of each shift in turn ("" in-domain), and
// every fifth time a twin pair as well.
func tinyLabWorlds(rng *rand.Rand, n int) []*labWorld {
	var ws []*labWorld
	if task, ok := labGenerateWith(rng, []string{"", ShiftNames, ShiftLayout, ShiftKnowledge}[n%4], tinyLabLayouts, n%2, 1); ok {
		ws = append(ws, task.lab)
	}
	if n%5 == 0 {
		if ts, _, ok := labGenerateTwinsWith(rng, n%10 == 0, tinyLabLayouts, n%2); ok {
			ws = append(ws, ts[0].lab, ts[1].lab)
		}
	}
	return ws
}

// TestLabDistExact checks labDist against exhaustive search on every
// reachable state of tiny lab worlds of every family.
func TestLabDistExact(t *testing.T) {
	worlds := 40
	if long() {
		worlds = 800
	}
	rng := rand.New(rand.NewPCG(3, 4))
	checked, states := map[int]int{}, 0
	for n := 0; n < worlds; n++ {
		for _, w := range tinyLabWorlds(rng, n) {
			var buf []labAct
			dist, ok := exhaustiveDist(w.init,
				func(s labState, yield func(labState)) {
					buf = labActs(w, &s, buf[:0])
					for _, a := range buf {
						t := s
						labApply(w, &t, a)
						yield(t)
					}
				},
				func(s labState) bool { return s.failed || labSolved(w, &s) },
				func(s labState) bool { return labSolved(w, &s) },
				200000)
			if !ok {
				continue
			}
			checked[w.family]++
			for s, want := range dist {
				got := labDist(w, &s)
				if want < 0 {
					want = unreachable
				}
				if got != int(want) {
					t.Fatalf("%s %s (%s): labDist %d, exhaustive %d in state %+v", w.layout, labFamilyNames[w.family], w.goal, got, want, s)
				}
				states++
			}
		}
	}
	for f := 0; f < labFamilies; f++ {
		if checked[f] == 0 {
			t.Errorf("no tiny world of family %s was checked", labFamilyNames[f])
		}
	}
	t.Logf("checked %d states of worlds per family %v", states, checked)
}

// bfsFirstActions searches forward from s by breadth-first search and
// returns the length of a shortest plan and the set (a bit mask over the
// order in which succ yields the successors of s) of the first actions of
// all shortest plans. ok is false when no solved state is found within
// maxStates states.
func bfsFirstActions[S comparable](s S, succ func(S, func(S)), terminal, solved func(S) bool, maxStates int) (depth int, mask uint64, ok bool) {
	if solved(s) {
		return 0, 0, true
	}
	seen := map[S]bool{s: true}
	layer := map[S]uint64{}
	i := 0
	succ(s, func(t S) {
		layer[t] |= 1 << i
		i++
	})
	for depth = 1; len(layer) > 0 && len(seen) < maxStates; depth++ {
		for t, m := range layer {
			seen[t] = true
			if solved(t) {
				mask |= m
			}
		}
		if mask != 0 {
			return depth, mask, true
		}
		next := map[S]uint64{}
		for t, m := range layer {
			if terminal(t) {
				continue
			}
			succ(t, func(u S) {
				if !seen[u] {
					next[u] |= m
				}
			})
		}
		layer = next
	}
	return 0, 0, false
}

// TestOptimalActionsMatchSearch checks OptimalActions on generated worlds of
// every split against forward search from states met by eps-mixture
// rollouts: the plan length is the search depth and the optimal actions are
// exactly the first actions of shortest plans.
func TestOptimalActionsMatchSearch(t *testing.T) {
	tasks, maxPlan := 12, 5
	if long() {
		tasks, maxPlan = 60, 6
	}
	compared := 0
	for _, name := range Names() {
		for _, split := range Splits() {
			ts, err := Tasks(name, split, 100, tasks)
			if err != nil {
				t.Fatal(err)
			}
			for _, task := range ts {
				rng, _ := TrajectoryRNGs(task, 0)
				e, _, _ := Start(task)
				for !e.Done() {
					if d := PlanLength(e); d >= 1 && d <= maxPlan {
						depth, mask, ok := searchFirst(e)
						if ok {
							var want uint64
							for _, i := range e.(planner).optimal(nil) {
								want |= 1 << i
							}
							if depth != d || mask != want {
								t.Fatalf("%s at %s: planner length %d actions %b; search length %d actions %b (admissible %q)",
									task.ID, e.StateKey(), d, want, depth, mask, e.Admissible())
							}
							compared++
						}
					}
					e.Step(MixPolicy{Eps: 0.5}.Act(e, "", rng))
				}
			}
		}
	}
	if compared < 50 {
		t.Fatalf("only %d states compared", compared)
	}
	t.Logf("compared %d states", compared)
}

// searchFirst runs bfsFirstActions on the state of a bundled Env.
func searchFirst(e Env) (int, uint64, bool) {
	const maxStates = 300000
	switch e := e.(type) {
	case *household:
		w := e.w
		var buf []hhAct
		return bfsFirstActions(e.st, func(s hhState, yield func(hhState)) {
			buf = hhActs(w, &s, buf[:0])
			for _, a := range buf {
				t := s
				hhApply(&t, a)
				yield(t)
			}
		}, func(s hhState) bool { return hhSolved(w, &s) }, func(s hhState) bool { return hhSolved(w, &s) }, maxStates)
	case *lab:
		w := e.w
		var buf []labAct
		return bfsFirstActions(e.st, func(s labState, yield func(labState)) {
			buf = labActs(w, &s, buf[:0])
			for _, a := range buf {
				t := s
				labApply(w, &t, a)
				yield(t)
			}
		}, func(s labState) bool { return s.failed || labSolved(w, &s) }, func(s labState) bool { return labSolved(w, &s) }, maxStates)
	}
	return 0, 0, false
}

// describe is a debugging view of the state.
func (w *hhWorld) describe(st *hhState) string {
	var b strings.Builder
	fmt.Fprintf(&b, "loc=%d held=%d open=%b", st.loc, st.held, st.open)
	for o := range w.objs {
		fmt.Fprintf(&b, " %s@%d/%d", w.objs[o].name, st.pos[o], st.attr[o])
	}
	return b.String()
}
