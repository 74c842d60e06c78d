package env

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// hhTargetTypes lists the receptacle types of the layout (present) that may
// be the target of family fam for object type ot: the object's usual places,
// except the family's own device (no "put a clean apple in sinkbasin").
func hhTargetTypes(ot *hhObjType, fam int, present map[string]bool) []string {
	var ts []string
	for _, t := range ot.spawn {
		if !present[t] {
			continue
		}
		if dev := familyDevice[fam]; dev != devNone && hhRecTypeOf(t).device == dev {
			continue
		}
		ts = append(ts, t)
	}
	return ts
}

// hhGenerate draws one household task: a layout of the domain (held-out
// layouts when out), its receptacles, a family the layout supports, a goal
// object type of the domain with the family's property, a target type, 1-2
// goal objects (2-3 for pick two), the desklamp if the layout has one and 3-5
// distractor objects, at most hhCapacity per receptacle. Layouts with more than
// hhMaxLayout receptacles are rejected. Candidates whose
// oracle plan is shorter than 2 steps are rejected.
func hhGenerate(rng *rand.Rand, out bool) (Task, bool) {
	return hhGenerateWith(rng, out, hhLayouts, 3, 5)
}

// hhGenerateWith is hhGenerate with other layouts and distractor counts
// (tests use tiny worlds).
func hhGenerateWith(rng *rand.Rand, out bool, all []hhLayout, minDistractors, maxDistractors int) (Task, bool) {
	var layouts []*hhLayout
	for i := range all {
		if all[i].heldOut == out {
			layouts = append(layouts, &all[i])
		}
	}
	lay := pick(rng, layouts)
	w := &hhWorld{layout: lay.name}
	present := map[string]bool{}
	for _, c := range lay.receps {
		rt := hhRecTypeOf(c.typ)
		n := between(rng, c.min, c.max)
		for k := 1; k <= n; k++ {
			w.receps = append(w.receps, hhRecep{typ: c.typ, name: c.typ + " " + strconv.Itoa(k), openable: rt.openable, device: rt.device})
		}
		present[c.typ] = n > 0
	}
	if len(w.receps) > hhMaxLayout {
		return Task{}, false
	}
	fam := pick(rng, lay.families)
	w.family = fam

	// Goal object type and target type.
	var cands []*hhObjType
	for i := range hhObjTypes {
		ot := &hhObjTypes[i]
		if ot.heldOut != out || ot.props&familyProp[fam] != familyProp[fam] {
			continue
		}
		if fam == hhExamine {
			if slices.ContainsFunc(ot.spawn, func(t string) bool { return present[t] }) {
				cands = append(cands, ot)
			}
			continue
		}
		for _, t := range hhTargetTypes(ot, fam, present) {
			if slices.ContainsFunc(ot.spawn, func(s string) bool { return present[s] && s != t }) {
				cands = append(cands, ot)
				break
			}
		}
	}
	if len(cands) == 0 {
		return Task{}, false
	}
	goal := pick(rng, cands)
	w.goalType = goal.name
	if fam != hhExamine {
		var ts []string
		for _, t := range hhTargetTypes(goal, fam, present) {
			if slices.ContainsFunc(goal.spawn, func(s string) bool { return present[s] && s != t }) {
				ts = append(ts, t)
			}
		}
		w.targetType = pick(rng, ts)
	}

	// Objects: goal instances, the lamp, distractors.
	load := make([]int, len(w.receps))
	place := func(ot *hhObjType, avoid string) (int8, bool) {
		var free []int8
		for r, rc := range w.receps {
			if load[r] < hhCapacity && rc.typ != avoid && slices.Contains(ot.spawn, rc.typ) {
				free = append(free, int8(r))
			}
		}
		if len(free) == 0 {
			return 0, false
		}
		r := pick(rng, free)
		load[r]++
		return r, true
	}
	type placed struct {
		obj hhObj
		at  int8
	}
	var objs []placed
	count := map[string]int{}
	add := func(ot *hhObjType, at int8) {
		count[ot.name]++
		objs = append(objs, placed{hhObj{typ: ot.name, name: ot.name + " " + strconv.Itoa(count[ot.name]), props: ot.props}, at})
	}
	nGoal := between(rng, 1, 2)
	if fam == hhTwo {
		nGoal = between(rng, 2, 3)
	}
	for i := 0; i < nGoal; i++ {
		at, ok := place(goal, w.targetType)
		if !ok {
			return Task{}, false
		}
		add(goal, at)
	}
	if lay.lampOn != "" {
		for r, rc := range w.receps {
			if rc.typ == lay.lampOn {
				load[r]++
				objs = append(objs, placed{hhObj{typ: "desklamp", name: "desklamp 1", lamp: true}, int8(r)})
				break
			}
		}
	}
	var pool []*hhObjType
	for i := range hhObjTypes {
		ot := &hhObjTypes[i]
		if ot.name == goal.name || (ot.heldOut && !out) {
			continue
		}
		if slices.ContainsFunc(ot.spawn, func(t string) bool { return present[t] }) {
			pool = append(pool, ot)
		}
	}
	for i, n := 0, between(rng, minDistractors, maxDistractors); i < n; i++ {
		ot := pick(rng, pool)
		if at, ok := place(ot, ""); ok {
			add(ot, at)
		}
	}
	// Objects are kept in name order, so that the place of an object in a
	// listing says nothing about whether it is the goal object.
	slices.SortFunc(objs, func(a, b placed) int { return strings.Compare(a.obj.name, b.obj.name) })
	if len(objs) > hhMaxObj || len(w.receps) > hhMaxRecep {
		return Task{}, false
	}
	w.init = hhState{loc: -1, held: -1}
	for i, p := range objs {
		w.objs = append(w.objs, p.obj)
		w.init.pos[i] = p.at
		switch {
		case p.obj.lamp:
			w.lamps = append(w.lamps, int8(i))
		case p.obj.typ == w.goalType:
			w.rel = append(w.rel, int8(i))
		}
	}
	for r, rc := range w.receps {
		if rc.typ == w.targetType {
			w.targets = append(w.targets, int8(r))
		}
		if dev := familyDevice[fam]; dev != devNone && rc.device == dev {
			w.devices = append(w.devices, int8(r))
		}
	}
	tmpl := hhGoalTemplates[fam][rng.IntN(2)]
	w.goal = strings.NewReplacer("%o", w.goalType, "%r", w.targetType).Replace(tmpl)
	if hhDist(w, &w.init) < 2 {
		return Task{}, false
	}

	parts := []string{Household, w.layout, hhFamilyNames[fam], w.goal}
	for _, r := range w.receps {
		parts = append(parts, r.name)
	}
	for i, o := range w.objs {
		parts = append(parts, o.name+"@"+w.receps[w.init.pos[i]].name)
	}
	return Task{Type: hhFamilyNames[fam], Layout: w.layout, Goal: w.goal, fp: fingerprint(parts...), hh: w}, true
}
