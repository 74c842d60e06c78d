package env

import (
	"slices"
	"strings"
)

// What household observations reveal. The contents of receptacle r are
// described by "go to r" when r is accessible (open or not openable) and by
// "open r"; household.seenAt records the last such observation. Objects move
// only by the agent's own take and put, which need an accessible receptacle
// whose contents were therefore described, so once described a receptacle's
// contents stay known, and the objects in receptacles never described are
// where the generator put them.

// known returns the receptacles whose contents an agent knows from the
// observations with index >= from (0: the whole history), plus the current
// receptacle when it is accessible (its take and use actions are in the
// admissible list).
func (e *household) known(from int) uint16 {
	var m uint16
	for r := range e.w.receps {
		if s := int(e.seenAt[r]); s >= 0 && s >= from {
			m |= 1 << r
		}
	}
	if l := e.st.loc; l >= 0 && e.w.accessible(&e.st, l) {
		m |= 1 << l
	}
	return m
}

// hhObjTypeOf returns the object type named name.
func hhObjTypeOf(name string) *hhObjType {
	for i := range hhObjTypes {
		if hhObjTypes[i].name == name {
			return &hhObjTypes[i]
		}
	}
	return nil
}

// alternatives calls f with the optimal set (indices into Admissible()) of
// every alternative world: the current state with one object that lies in a
// receptacle unknown to the observations from index from (see known) moved
// to another unknown receptacle where the generator could have put it (a
// receptacle type of its spawn list, not the target type for a goal object,
// fewer than hhCapacity objects there), unless that world is solved. The
// desklamp is never moved: the generator always puts it on the first
// receptacle of its layout's lamp type. The admissible actions are the same
// in every such world (take and put need a known receptacle). f returning
// false stops the walk.
func (e *household) alternatives(from int, f func(opt []int) bool) {
	if e.Done() {
		return
	}
	e.cache()
	w := e.w
	known := e.known(from)
	var load [hhMaxRecep]int
	for o := range w.objs {
		if p := e.st.pos[o]; p >= 0 {
			load[p]++
		}
	}
	var buf [32]int
	for o := range w.objs {
		p := e.st.pos[o]
		if p < 0 || known&(1<<p) != 0 || w.objs[o].lamp {
			continue
		}
		ot := hhObjTypeOf(w.objs[o].typ)
		if ot == nil {
			continue
		}
		goal := w.objs[o].typ == w.goalType
		for r := range w.receps {
			rt := w.receps[r].typ
			if int8(r) == p || known&(1<<r) != 0 || load[r] >= hhCapacity || !slices.Contains(ot.spawn, rt) ||
				(goal && rt == w.targetType) {
				continue
			}
			alt := e.st
			alt.pos[o] = int8(r)
			if hhSolved(w, &alt) {
				continue
			}
			d := hhDist(w, &alt)
			if d >= unreachable {
				continue
			}
			if !f(hhOptimal(w, &alt, d, e.acts, buf[:0])) {
				return
			}
		}
	}
}

// memory describes what the observations since Reset revealed, as it is now:
// the objects in every receptacle whose contents were described, in
// receptacle order ("a mug 1 and a cd 2 in drawer 1, nothing on desk 1"), or
// "nothing". It uses only words of Words(Household).
func (e *household) memory() string {
	if e.w == nil {
		return ""
	}
	var parts []string
	for r := range e.w.receps {
		if e.seenAt[r] < 0 {
			continue
		}
		var items []string
		for o := range e.w.objs {
			if e.st.pos[o] == int8(r) {
				items = append(items, "a "+e.w.objs[o].name)
			}
		}
		what := "nothing"
		if len(items) > 0 {
			what = strings.Join(items, " and ")
		}
		prep := " on "
		if e.w.receps[r].openable {
			prep = " in "
		}
		parts = append(parts, what+prep+e.w.receps[r].name)
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// searches reports whether admissible action i goes to a receptacle whose
// contents no observation so far described.
func (e *household) searches(i int) bool {
	if i < 0 || e.Done() {
		return false
	}
	e.cache()
	a := e.acts[i]
	return a.verb == hvGo && e.seenAt[a.rec] < 0
}
