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

// hhGenerate draws one household task of shift ("" for the in-domain
// generator, else a Shift of eval-out): a layout (held-out layouts for the
// layout shift), its receptacles, a family the layout supports, a goal
// object type with the family's property, a target type, 1-2 goal objects
// (2-3 for pick two), the desklamp if the layout has one and 3-5
// distractor objects, at most hhCapacity per receptacle. Layouts with more
// than hhMaxLayout receptacles are rejected. Candidates whose oracle plan is
// shorter than 2 steps are rejected. The names shift renames the goal
// object's type and the target type (in look_at_obj_in_light the lamp's
// receptacle type) to held-out generated names; the knowledge shift draws a
// device family first, replaces its device by one of a held-out type and
// states in the goal what that device does (hhKnowledge).
func hhGenerate(rng *rand.Rand, shift string) (Task, bool) {
	return hhGenerateWith(rng, shift, hhLayouts, 3, 5)
}

// hhGenerateWith is hhGenerate with other layouts and distractor counts
// (tests use tiny worlds).
func hhGenerateWith(rng *rand.Rand, shift string, all []hhLayout, minDistractors, maxDistractors int) (Task, bool) {
	ws, ok := hhDraw(rng, hhSpec{shift: shift}, all, minDistractors, maxDistractors)
	if !ok {
		return Task{}, false
	}
	return hhTask(ws[0]), true
}

// hhGenerateTwins draws an in-domain twin pair (WorldOptions.Twin) and the
// pair's fingerprint, which does not depend on the order of the twins.
func hhGenerateTwins(rng *rand.Rand, alias bool) ([2]Task, uint64, bool) {
	return hhGenerateTwinsWith(rng, alias, hhLayouts, 3, 5)
}

// hhGenerateTwinsWith is hhGenerateTwins with other layouts and distractor
// counts (tests use tiny worlds).
func hhGenerateTwinsWith(rng *rand.Rand, alias bool, all []hhLayout, minDistractors, maxDistractors int) ([2]Task, uint64, bool) {
	ws, ok := hhDraw(rng, hhSpec{twin: true}, all, minDistractors, maxDistractors)
	if !ok {
		return [2]Task{}, 0, false
	}
	// The pair's fingerprint is that of the twins with their cues, so the
	// alias variant has the same pairs in the same splits.
	var ts [2]Task
	for i, w := range ws {
		ts[i] = hhTask(w, "twin", "target="+w.targetType)
	}
	fp := pairFingerprint(ts[0].fp, ts[1].fp)
	if alias {
		for i, w := range ws {
			// Every goal template ends in " %r.".
			aw := *w
			aw.goal = strings.TrimSuffix(w.goal, " "+w.targetType+".") + " " + banditAlias + "."
			ts[i] = hhTask(&aw, "twin", "target="+w.targetType)
		}
	}
	return ts, fp, true
}

// hhSpec selects what hhDraw draws.
type hhSpec struct {
	shift string // "" in-domain, or a Shift
	twin  bool   // an in-domain twin pair
}

// hhDraw draws the world of one task, or with spec.twin the two worlds of
// a twin pair (see hhGenerate and WorldOptions). The draws of the in-domain
// generator are those of every earlier version of this package, so train
// and eval-in tasks are unchanged.
func hhDraw(rng *rand.Rand, spec hhSpec, all []hhLayout, minDistractors, maxDistractors int) ([]*hhWorld, bool) {
	wantShift := ""
	if spec.shift == ShiftLayout {
		wantShift = ShiftLayout
	}
	var layouts []*hhLayout
	for i := range all {
		if all[i].shift == wantShift && (spec.shift != ShiftKnowledge || len(hhKnowledgeFamilies(&all[i])) > 0) {
			layouts = append(layouts, &all[i])
		}
	}
	if len(layouts) == 0 {
		return nil, false
	}
	lay := pick(rng, layouts)
	counts := lay.receps
	fam := -1
	if spec.shift == ShiftKnowledge {
		fam = pick(rng, hhKnowledgeFamilies(lay))
		counts = slices.Clone(counts)
		for i := range counts {
			if counts[i].typ == hhKnowledge[fam].device {
				counts[i].typ = hhKnowledge[fam].heldOut
			}
		}
	}
	w := &hhWorld{layout: lay.name}
	present := map[string]bool{}
	for _, c := range counts {
		rt := hhRecTypeOf(c.typ)
		n := between(rng, c.min, c.max)
		for k := 1; k <= n; k++ {
			w.receps = append(w.receps, hhRecep{typ: c.typ, name: c.typ + " " + strconv.Itoa(k), openable: rt.openable, device: rt.device})
		}
		present[c.typ] = n > 0
	}
	if len(w.receps) > hhMaxLayout {
		return nil, false
	}
	if fam < 0 {
		fams := lay.families
		if spec.twin {
			fams = slices.DeleteFunc(slices.Clone(fams), func(f int) bool { return f == hhExamine })
			if len(fams) == 0 {
				return nil, false
			}
		}
		fam = pick(rng, fams)
	}
	w.family = fam

	// Goal object type and target type.
	var cands []*hhObjType
	for i := range hhObjTypes {
		ot := &hhObjTypes[i]
		if ot.props&familyProp[fam] != familyProp[fam] {
			continue
		}
		switch {
		case fam == hhExamine:
			if slices.ContainsFunc(ot.spawn, func(t string) bool { return present[t] }) {
				cands = append(cands, ot)
			}
		case spec.twin:
			if len(hhTwinTargets(ot, fam, present)) > 0 {
				cands = append(cands, ot)
			}
		default:
			for _, t := range hhTargetTypes(ot, fam, present) {
				if slices.ContainsFunc(ot.spawn, func(s string) bool { return present[s] && s != t }) {
					cands = append(cands, ot)
					break
				}
			}
		}
	}
	if len(cands) == 0 {
		return nil, false
	}
	goal := pick(rng, cands)
	w.goalType = goal.name
	var avoid []string // target types no goal object may start in
	var twinTypes [2]string
	switch {
	case spec.twin:
		twinTypes = pick(rng, hhTwinTargets(goal, fam, present))
		if rng.IntN(2) == 1 {
			twinTypes[0], twinTypes[1] = twinTypes[1], twinTypes[0]
		}
		w.targetType = twinTypes[0]
		avoid = twinTypes[:]
	case fam != hhExamine:
		var ts []string
		for _, t := range hhTargetTypes(goal, fam, present) {
			if slices.ContainsFunc(goal.spawn, func(s string) bool { return present[s] && s != t }) {
				ts = append(ts, t)
			}
		}
		w.targetType = pick(rng, ts)
		avoid = []string{w.targetType}
	}

	// The names shift: the goal's object type and one receptacle type get
	// held-out names (display only: the types keep their semantics).
	objName, renamed, recName := goal.name, "", ""
	if spec.shift == ShiftNames {
		objName, recName = pick(rng, hhNamesObject), pick(rng, hhNamesRecep)
		renamed = w.targetType
		if fam == hhExamine {
			renamed = lay.lampOn
		}
		for r := range w.receps {
			if rc := &w.receps[r]; rc.typ == renamed {
				rc.name = recName + strings.TrimPrefix(rc.name, rc.typ)
			}
		}
	}

	// Objects: goal instances, the lamp, distractors.
	load := make([]int, len(w.receps))
	place := func(ot *hhObjType, avoid []string) (int8, bool) {
		var free []int8
		for r, rc := range w.receps {
			if load[r] < hhCapacity && !slices.Contains(avoid, rc.typ) && slices.Contains(ot.spawn, rc.typ) {
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
		shown := ot.name
		if ot == goal {
			shown = objName
		}
		objs = append(objs, placed{hhObj{typ: ot.name, name: shown + " " + strconv.Itoa(count[ot.name]), props: ot.props}, at})
	}
	nGoal := between(rng, 1, 2)
	if fam == hhTwo {
		nGoal = between(rng, 2, 3)
	}
	for i := 0; i < nGoal; i++ {
		at, ok := place(goal, avoid)
		if !ok {
			return nil, false
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
		if ot.name == goal.name {
			continue
		}
		if slices.ContainsFunc(ot.spawn, func(t string) bool { return present[t] }) {
			pool = append(pool, ot)
		}
	}
	for i, n := 0, between(rng, minDistractors, maxDistractors); i < n; i++ {
		ot := pick(rng, pool)
		if at, ok := place(ot, nil); ok {
			add(ot, at)
		}
	}
	// Objects are kept in name order, so that the place of an object in a
	// listing says nothing about whether it is the goal object.
	slices.SortFunc(objs, func(a, b placed) int { return strings.Compare(a.obj.name, b.obj.name) })
	if len(objs) > hhMaxObj || len(w.receps) > hhMaxRecep {
		return nil, false
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
	w.targets = hhReceptaclesOf(w, w.targetType)
	for r, rc := range w.receps {
		if dev := familyDevice[fam]; dev != devNone && rc.device == dev {
			w.devices = append(w.devices, int8(r))
		}
	}
	tmpl := hhGoalTemplates[fam][rng.IntN(2)]
	goalText := func(target string) string {
		if target == renamed && renamed != "" {
			target = recName
		}
		return strings.NewReplacer("%o", objName, "%r", target).Replace(tmpl)
	}
	w.goal = goalText(w.targetType)
	if spec.shift == ShiftKnowledge {
		w.goal += " " + hhKnowledge[fam].fact
	}
	ws := []*hhWorld{w}
	if spec.twin {
		tw := *w
		tw.targetType = twinTypes[1]
		tw.targets = hhReceptaclesOf(w, twinTypes[1])
		tw.goal = goalText(twinTypes[1])
		ws = append(ws, &tw)
	}
	for _, x := range ws {
		if hhDist(x, &x.init) < 2 {
			return nil, false
		}
	}
	return ws, true
}

// hhTask makes the Task of a generated world; extra parts join its
// fingerprint.
func hhTask(w *hhWorld, extra ...string) Task {
	parts := []string{Household, w.layout, hhFamilyNames[w.family], w.goal}
	for _, r := range w.receps {
		parts = append(parts, r.name)
	}
	for i, o := range w.objs {
		parts = append(parts, o.name+"@"+w.receps[w.init.pos[i]].name)
	}
	parts = append(parts, extra...)
	return Task{Type: hhFamilyNames[w.family], Layout: w.layout, Goal: w.goal, fp: fingerprint(parts...), hh: w}
}

// hhReceptaclesOf lists the receptacles of type typ.
func hhReceptaclesOf(w *hhWorld, typ string) []int8 {
	var rs []int8
	for r, rc := range w.receps {
		if rc.typ == typ {
			rs = append(rs, int8(r))
		}
	}
	return rs
}

// hhKnowledgeFamilies lists the families of layout lay that the knowledge
// shift can draw: device families whose device the layout always has.
func hhKnowledgeFamilies(lay *hhLayout) []int {
	var fams []int
	for _, f := range lay.families {
		k, ok := hhKnowledge[f]
		if ok && slices.ContainsFunc(lay.receps, func(c hhCount) bool { return c.typ == k.device && c.min > 0 }) {
			fams = append(fams, f)
		}
	}
	return fams
}

// hhTwinTargets lists the pairs of target types (hhTargetTypes) that can
// tell twins apart for goal object type ot: both of the same openness (so
// both are at the same plan distance from any state in which neither holds
// a goal object), and ot has a place present that is neither, to start in.
func hhTwinTargets(ot *hhObjType, fam int, present map[string]bool) [][2]string {
	ts := hhTargetTypes(ot, fam, present)
	var pairs [][2]string
	for i, a := range ts {
		for _, b := range ts[i+1:] {
			if hhRecTypeOf(a).openable != hhRecTypeOf(b).openable {
				continue
			}
			if slices.ContainsFunc(ot.spawn, func(s string) bool { return present[s] && s != a && s != b }) {
				pairs = append(pairs, [2]string{a, b})
			}
		}
	}
	return pairs
}

// pairFingerprint is the fingerprint of a twin pair from its twins'
// fingerprints, whatever their order.
func pairFingerprint(a, b uint64) uint64 {
	if a > b {
		a, b = b, a
	}
	return fingerprint(strconv.FormatUint(a, 16), strconv.FormatUint(b, 16))
}
