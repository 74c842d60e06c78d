package env

import (
	"strconv"
	"strings"
)

// What lab observations reveal. "go to" and "look around" describe the
// whole room (lab.seenAt records the last such observation); the admissible
// list names every item in the current room. Items move only by the agent,
// in rooms it is in, and time changes are reported by "wait", so once a room
// was described its contents stay known, and items in rooms never described
// are where the generator put them. The temperature of the measured object is
// revealed by the thermometer reading (lab.readAt); before it, either answer
// box may be the right one.

// known returns the rooms whose contents an agent knows from the observations
// with index >= from (0: the whole history), plus the current room.
func (e *lab) known(from int) uint8 {
	var m uint8
	for r := range e.w.rooms {
		if s := int(e.seenAt[r]); s >= 0 && s >= from {
			m |= 1 << r
		}
	}
	return m | 1<<e.st.room
}

// labMovable reports whether the generator may put item i on fixture f: a
// plain fixture, or the freezer for the solid substance of change_state.
func (w *labWorld) labMovable(st *labState, i, f int8) bool {
	switch w.fixtures[f].kind {
	case fkPlain:
		return true
	case fkFreezer:
		return w.family == labChange && i == w.subject && st.phase[i] == phSolid
	}
	return false
}

// alternatives calls f with the optimal set (indices into Admissible()) of
// every alternative world: the current state with one item that lies in a
// room unknown to the observations from index from (see known) moved to
// another fixture of an unknown room where the generator could have put it (a
// plain fixture with fewer than labCapacity items; the freezer, when empty,
// for the solid substance of change_state), and, in measure_temperature while
// the reading of the measured object is not among those observations, the
// world whose right answer box is the other one. Worlds that are solved or
// failed are skipped. The admissible actions are the same in every such world
// (they name only what is in the current room or the inventory). f returning
// false stops the walk.
func (e *lab) alternatives(from int, f func(opt []int) bool) {
	if e.Done() {
		return
	}
	e.cache()
	w := e.w
	known := e.known(from)
	var load [labMaxFix]int
	for i := range w.items {
		if p := e.st.pos[i]; p >= 0 {
			load[p]++
		}
	}
	var buf [64]int
	visit := func(w *labWorld, alt *labState) bool {
		if alt.failed || labSolved(w, alt) {
			return true
		}
		d := labDist(w, alt)
		if d >= unreachable {
			return true
		}
		return f(labOptimal(w, alt, d, e.acts, buf[:0]))
	}
	for i := range w.items {
		p := e.st.pos[i]
		if p < 0 || w.items[i].fixed || known&(1<<w.fixtures[p].room) != 0 || !w.labMovable(&e.st, int8(i), p) {
			continue
		}
		for g := range w.fixtures {
			fx := &w.fixtures[g]
			if int8(g) == p || known&(1<<fx.room) != 0 || !w.labMovable(&e.st, int8(i), int8(g)) {
				continue
			}
			if (fx.kind == fkPlain && load[g] >= labCapacity) || (fx.kind == fkFreezer && load[g] > 0) {
				continue
			}
			alt := e.st
			alt.pos[i] = int8(g)
			if !visit(w, &alt) {
				return
			}
		}
	}
	if w.family == labMeasure && (e.readAt < 0 || int(e.readAt) < from) {
		if other := w.otherBox(); other >= 0 {
			ow := *w
			ow.box = other
			ow.focusSeq = []labFocus{w.focusSeq[0], {true, other}}
			alt := e.st
			visit(&ow, &alt)
		}
	}
}

// otherBox is the answer box that is not the right one (-1 if none).
func (w *labWorld) otherBox() int8 {
	for f := range w.fixtures {
		if w.fixtures[f].kind == fkBox && int8(f) != w.box {
			return int8(f)
		}
	}
	return -1
}

// memory describes what the observations since Reset revealed, as it is now:
// for every room that was described, its fixtures that hold items or are
// switched on or wet ("kitchen: counter holding solid chocolate and a book,
// stove that is on; hallway: nothing"), then the thermometer reading of the
// measured object once taken. It uses only words of Words(Lab).
func (e *lab) memory() string {
	if e.w == nil {
		return ""
	}
	w, st := e.w, &e.st
	var parts []string
	for r := range w.rooms {
		if e.seenAt[r] < 0 {
			continue
		}
		var fixtures []string
		for f := range w.fixtures {
			fx := &w.fixtures[f]
			if int(fx.room) != r {
				continue
			}
			var items []string
			for i := range w.items {
				if st.pos[i] == int8(f) {
					items = append(items, w.view(st, int8(i)))
				}
			}
			s := fx.name
			switch {
			case fx.kind == fkHeater && st.on&(1<<f) != 0:
				s += " that is on"
			case fx.kind == fkPot && st.wet&(1<<f) != 0:
				s += " that is wet"
			case len(items) == 0:
				continue
			}
			if len(items) > 0 {
				s += " holding " + strings.Join(items, " and ")
			}
			fixtures = append(fixtures, s)
		}
		what := "nothing"
		if len(fixtures) > 0 {
			what = strings.Join(fixtures, ", ")
		}
		parts = append(parts, w.rooms[r]+": "+what)
	}
	s := strings.Join(parts, "; ")
	if e.readAt >= 0 {
		s += "; the thermometer reads " + strconv.Itoa(w.items[w.subject].temp) + " degrees celsius on the " + w.name(st, w.subject)
	}
	return s
}

// searches reports whether admissible action i goes to a room that no
// observation so far described.
func (e *lab) searches(i int) bool {
	if i < 0 || e.Done() {
		return false
	}
	e.cache()
	a := e.acts[i]
	return a.verb == lvGo && e.seenAt[a.a] < 0
}
