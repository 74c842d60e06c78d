package env

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// labPending is an item being generated with its initial place and phase.
type labPending struct {
	item  labItem
	at    int8
	phase int8
	role  string // "subject", "thermo", "can", "paint", "power", "wire", "mixture" or ""
}

// labGenerate draws one lab task of shift ("" for the in-domain generator,
// else a Shift of eval-out): a layout, a family, the family's items, one
// distractor, a start room. Candidates whose oracle plan is shorter than 2
// steps are rejected. The names shift draws change_state,
// measure_temperature, grow_plant or power_component in an in-domain layout
// and names the goal's substance, object, plant or load with a held-out
// generated word; the layout shift draws any family in a held-out room
// graph of seen rooms and fixtures; the knowledge shift draws melting or
// boiling in the foundry, measure_temperature in the ring or mix_paint of a
// colour no train task mixes, and states the fact needed in the goal.
func labGenerate(rng *rand.Rand, shift string) (Task, bool) {
	return labGenerateWith(rng, shift, labLayouts, labDistractorsPerWorld, 2)
}

// labGenerateWith is labGenerate with other layouts, distractor count and
// most extra paints (tests use tiny worlds).
func labGenerateWith(rng *rand.Rand, shift string, all []labLayout, distractors, maxExtraPaints int) (Task, bool) {
	ws, ok := labDraw(rng, labSpec{shift: shift}, all, distractors, maxExtraPaints)
	if !ok {
		return Task{}, false
	}
	return labTask(ws[0]), true
}

// labGenerateTwins draws an in-domain twin pair of measure_temperature
// (WorldOptions.Twin) and the pair's fingerprint.
func labGenerateTwins(rng *rand.Rand, alias bool) ([2]Task, uint64, bool) {
	return labGenerateTwinsWith(rng, alias, labLayouts, labDistractorsPerWorld)
}

// labGenerateTwinsWith is labGenerateTwins with other layouts and
// distractor count (tests use tiny worlds).
func labGenerateTwinsWith(rng *rand.Rand, alias bool, all []labLayout, distractors int) ([2]Task, uint64, bool) {
	ws, ok := labDraw(rng, labSpec{twin: true}, all, distractors, 2)
	if !ok {
		return [2]Task{}, 0, false
	}
	// The pair's fingerprint is that of the twins with their cues, so the
	// alias variant has the same pairs in the same splits.
	var ts [2]Task
	for i, w := range ws {
		ts[i] = labTask(w, "twin", "box="+w.fixtures[w.box].name)
	}
	fp := pairFingerprint(ts[0].fp, ts[1].fp)
	if alias {
		for i, w := range ws {
			aw := *w
			aw.goal = labMeasureGoal(w.items[w.subject].name, banditAlias)
			ts[i] = labTask(&aw, "twin", "box="+w.fixtures[w.box].name)
		}
	}
	return ts, fp, true
}

// labSpec selects what labDraw draws.
type labSpec struct {
	shift string // "" in-domain, or a Shift
	twin  bool   // an in-domain twin pair of measure_temperature
}

// labDraw draws the world of one task, or with spec.twin the two worlds of
// a twin pair (see labGenerate and WorldOptions). The draws of the
// in-domain generator are those of every earlier version of this package,
// so train and eval-in tasks are unchanged.
func labDraw(rng *rand.Rand, spec labSpec, all []labLayout, distractors, maxExtraPaints int) ([]*labWorld, bool) {
	layoutsOf := func(shift string, fam int) []*labLayout {
		var ls []*labLayout
		for i := range all {
			if all[i].shift == shift && (fam < 0 || slices.Contains(all[i].families, fam)) {
				ls = append(ls, &all[i])
			}
		}
		return ls
	}
	fam := -1
	var layouts []*labLayout
	switch spec.shift {
	case ShiftLayout:
		layouts = layoutsOf(ShiftLayout, -1)
	case ShiftKnowledge:
		fam = pick(rng, []int{labChange, labMeasure, labMix})
		if fam == labMix {
			layouts = layoutsOf("", -1)
		} else {
			layouts = layoutsOf(ShiftKnowledge, fam)
		}
	default:
		layouts = layoutsOf("", -1)
	}
	if len(layouts) == 0 {
		return nil, false
	}
	lay := pick(rng, layouts)
	fact := "" // the knowledge shift's fact, appended to the goal
	if lay.shift == ShiftKnowledge {
		fact = lay.fact
	}
	w := &labWorld{layout: lay.name, rooms: lay.rooms, thermo: -1, can: -1, mixture: -1, power: -1,
		heater: -1, freezer: -1, pot: -1, bowl: -1, bench: -1, box: -1}
	w.adj = make([][]int8, len(lay.rooms))
	for _, e := range lay.edges {
		w.adj[e[0]] = append(w.adj[e[0]], int8(e[1]))
		w.adj[e[1]] = append(w.adj[e[1]], int8(e[0]))
	}
	for r := range w.adj {
		slices.Sort(w.adj[r])
	}
	w.dist = roomDistances(w.adj)
	var plain []int8
	var boxes [2]int8 // red, blue
	for f, fs := range lay.fixtures {
		w.fixtures = append(w.fixtures, labFixture{fs.name, int8(fs.room), fs.kind})
		switch fs.kind {
		case fkPlain:
			plain = append(plain, int8(f))
		case fkHeater:
			w.heater = int8(f)
		case fkFreezer:
			w.freezer = int8(f)
		case fkPot:
			w.pot = int8(f)
		case fkBowl:
			w.bowl = int8(f)
		case fkBench:
			w.bench = int8(f)
		case fkBox:
			if strings.HasPrefix(fs.name, "red") {
				boxes[0] = int8(f)
			} else {
				boxes[1] = int8(f)
			}
		}
	}
	load := make([]int, len(w.fixtures))
	onPlain := func() (int8, bool) {
		var free []int8
		for _, f := range plain {
			if load[f] < labCapacity {
				free = append(free, f)
			}
		}
		if len(free) == 0 {
			return 0, false
		}
		f := pick(rng, free)
		load[f]++
		return f, true
	}
	temp := func() int { return pick(rng, labTemps) }
	names := spec.shift == ShiftNames
	// domain is the type list of the goal's role: seen types, or held-out
	// names in the names shift.
	domain := func(in, held []string) []string {
		if names {
			return held
		}
		return in
	}
	var items []labPending
	addPlain := func(it labItem, phase int8, role string) bool {
		at, ok := onPlain()
		items = append(items, labPending{it, at, phase, role})
		return ok
	}
	ok := true
	if fam < 0 {
		switch {
		case spec.twin:
			fam = labMeasure
		case names:
			fam = pick(rng, []int{labChange, labMeasure, labGrow, labPower})
		default:
			fam = rng.IntN(labFamilies)
		}
	}
	w.family = fam
	var twinGoals [2]string // the twins' goals
	var twinBoxes [2]int8   // the twins' right boxes
	switch fam {
	case labChange:
		changes := labChanges
		if spec.shift == ShiftKnowledge {
			changes = nil // only heating needs the furnace
			for _, c := range labChanges {
				if c.target > c.start {
					changes = append(changes, c)
				}
			}
		}
		ch := pick(rng, changes)
		sub := pick(rng, domain(labSubstances, labNamesSubstance))
		it := labItem{name: sub, kind: ikSubstance, temp: temp()}
		if ch.start == phSolid && rng.IntN(2) == 0 {
			items = append(items, labPending{it, w.freezer, ch.start, "subject"})
		} else {
			ok = addPlain(it, ch.start, "subject")
		}
		w.target = ch.target
		w.goal = ch.verb + " the " + sub + ". First, focus on the " + sub + "."
	case labMeasure:
		obj := pick(rng, domain(labMeasured, labNamesMeasured))
		boxOf := func(t, th int) int8 {
			if t > th {
				return boxes[0]
			}
			return boxes[1]
		}
		var t int
		if spec.twin {
			// One threshold below the temperature and one above it, each
			// at least 5 degrees away; which twin gets which is drawn.
			var temps []int
			for _, x := range labTemps {
				if below, above := labSides(x); len(below) > 0 && len(above) > 0 {
					temps = append(temps, x)
				}
			}
			t = pick(rng, temps)
			below, above := labSides(t)
			ths := [2]int{pick(rng, below), pick(rng, above)}
			if rng.IntN(2) == 1 {
				ths[0], ths[1] = ths[1], ths[0]
			}
			for i, th := range ths {
				twinBoxes[i] = boxOf(t, th)
				twinGoals[i] = labMeasureGoal(obj, strconv.Itoa(th))
			}
			w.box, w.goal = twinBoxes[0], twinGoals[0]
		} else {
			t = temp()
			below, above := labSides(t)
			th := pick(rng, slices.Concat(below, above))
			w.box = boxOf(t, th)
			w.goal = labMeasureGoal(obj, strconv.Itoa(th))
		}
		ok = addPlain(labItem{name: obj, kind: ikPlain, temp: t}, 0, "subject") &&
			addPlain(labItem{name: "thermometer", kind: ikThermo, temp: 21}, 0, "thermo")
	case labGrow:
		plants := domain(labPlants, labNamesPlant)
		plant := pick(rng, plants)
		others := slices.DeleteFunc(slices.Concat(plants, labPlants), func(p string) bool { return p == plant })
		if names {
			others = labPlants // the wrong seed is of a seen plant
		}
		other := pick(rng, others)
		ok = addPlain(labItem{name: plant, kind: ikSeed, temp: temp()}, 0, "subject") &&
			addPlain(labItem{name: other, kind: ikSeed, temp: temp()}, 0, "") &&
			addPlain(labItem{name: "watering can", kind: ikCan, temp: temp()}, 0, "can")
		w.goal = "grow a " + plant + " plant from its seed. First, focus on the " + plant + " seed."
	case labMix:
		targets := labMixTargets
		if spec.shift == ShiftKnowledge {
			targets = labMixTargetsOut
		}
		target := pick(rng, targets)
		w.target = target
		var need [2]int8
		for _, m := range labMixes {
			if m.out == target {
				need = [2]int8{m.a, m.b}
			}
		}
		bases := []int8{colRed, colBlue, colYellow, colWhite}
		if spec.shift == ShiftKnowledge {
			bases = append(bases, colBlack)
			fact = labRecipe(target)
		}
		var extra []int8
		for _, c := range bases {
			if c != need[0] && c != need[1] {
				extra = append(extra, c)
			}
		}
		rng.Shuffle(len(extra), func(i, j int) { extra[i], extra[j] = extra[j], extra[i] })
		colors := append(need[:], extra[:between(rng, min(1, maxExtraPaints), maxExtraPaints)]...)
		for i, c := range colors {
			role := ""
			if i < 2 {
				role = "paint"
			}
			ok = ok && addPlain(labItem{name: labColors[c] + " paint", kind: ikPaint, temp: 21, color: c}, 0, role)
		}
		items = append(items, labPending{labItem{name: "~mixture", kind: ikMixture, fixed: true, temp: 21}, -2, 0, "mixture"})
		cn := labColors[target]
		w.goal = "make " + cn + " paint by mixing two paints in the bowl. Then, focus on the " + cn + " paint."
	case labPower:
		loads := domain(labLoads, labNamesLoad)
		ld := pick(rng, loads)
		others := slices.DeleteFunc(slices.Concat(loads, labLoads), func(l string) bool { return l == ld })
		if names {
			others = labLoads // the other load is a seen one
		}
		other := pick(rng, others)
		wires := slices.Clone(labWires)
		rng.Shuffle(len(wires), func(i, j int) { wires[i], wires[j] = wires[j], wires[i] })
		at := w.bench
		items = append(items,
			labPending{labItem{name: "battery", kind: ikPower, fixed: true, temp: 21}, at, 0, "power"},
			labPending{labItem{name: ld, kind: ikLoad, fixed: true, temp: 21}, at, 0, "subject"},
			labPending{labItem{name: other, kind: ikLoad, fixed: true, temp: 21}, at, 0, ""},
		)
		for _, wn := range wires[:labWiresUsed] {
			items = append(items, labPending{labItem{name: wn, kind: ikWire, fixed: true, temp: 21}, at, 0, "wire"})
		}
		w.goal = "power the " + ld + " by wiring it to the battery. First, focus on the " + ld + "."
	}
	pool := slices.Clone(labDistractors)
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	for _, d := range pool[:distractors] {
		ok = ok && addPlain(labItem{name: d, kind: ikPlain, temp: temp()}, 0, "")
	}
	if !ok || len(items) > labMaxItems || len(w.fixtures) > labMaxFix || len(w.rooms) > labMaxRooms {
		return nil, false
	}
	if fact != "" {
		w.goal += " " + fact
	}

	// Items are kept in name order, so that listings do not reveal roles.
	slices.SortStableFunc(items, func(a, b labPending) int { return strings.Compare(a.item.name, b.item.name) })
	w.init = labState{room: int8(rng.IntN(len(w.rooms)))}
	for k := range w.init.link {
		w.init.link[k] = [2]int8{-1, -1}
	}
	np := 0
	for i, p := range items {
		idx := int8(i)
		if p.item.kind == ikWire {
			p.item.wire = int8(len(w.wires))
			w.wires = append(w.wires, idx)
		}
		w.items = append(w.items, p.item)
		w.init.pos[i], w.init.phase[i] = p.at, p.phase
		switch p.role {
		case "subject":
			w.subject = idx
		case "thermo":
			w.thermo = idx
		case "can":
			w.can = idx
		case "paint":
			w.paints[np] = idx
			np++
		case "mixture":
			w.mixture = idx
		case "power":
			w.power = idx
		}
	}
	switch fam {
	case labMeasure:
		w.focusSeq = []labFocus{{false, w.thermo}, {true, w.box}}
	case labMix:
		w.focusSeq = []labFocus{{false, w.mixture}}
	default:
		w.focusSeq = []labFocus{{false, w.subject}}
	}
	ws := []*labWorld{w}
	if spec.twin {
		tw := *w
		tw.box, tw.goal = twinBoxes[1], twinGoals[1]
		tw.focusSeq = []labFocus{{false, w.thermo}, {true, tw.box}}
		ws = append(ws, &tw)
	}
	for _, x := range ws {
		if labDist(x, &x.init) < 2 {
			return nil, false
		}
	}
	return ws, true
}

// labTask makes the Task of a generated world; extra parts join its
// fingerprint.
func labTask(w *labWorld, extra ...string) Task {
	parts := []string{Lab, w.layout, labFamilyNames[w.family], w.goal, w.rooms[w.init.room]}
	for i, it := range w.items {
		where := "inventory"
		switch p := w.init.pos[i]; {
		case p == -2:
			where = "absent"
		case p >= 0:
			where = w.rooms[w.fixtures[p].room] + "/" + w.fixtures[p].name
		}
		parts = append(parts, it.name+"@"+where+"/"+strconv.Itoa(int(w.init.phase[i]))+"/"+strconv.Itoa(it.temp))
	}
	parts = append(parts, extra...)
	return Task{Type: labFamilyNames[w.family], Layout: w.layout, Goal: w.goal, fp: fingerprint(parts...), lab: w}
}

// labMeasureGoal is the goal of measure_temperature of obj with threshold
// th.
func labMeasureGoal(obj, th string) string {
	return "measure the temperature of the " + obj + ". First, focus on the thermometer. If it is above " +
		th + " degrees celsius, focus on the red box; otherwise, focus on the blue box."
}

// labSides returns the thresholds (labThresholds) at least 5 degrees below
// temperature t and those at least 5 degrees above it, in order.
func labSides(t int) (below, above []int) {
	for _, th := range labThresholds {
		switch {
		case t-th >= 5:
			below = append(below, th)
		case th-t >= 5:
			above = append(above, th)
		}
	}
	return below, above
}

// labRecipe states the two paints of mixture colour target ("Red paint
// and yellow paint make orange paint.").
func labRecipe(target int8) string {
	for _, m := range labMixes {
		if m.out == target {
			a := labColors[m.a]
			return strings.ToUpper(a[:1]) + a[1:] + " paint and " + labColors[m.b] + " paint make " + labColors[target] + " paint."
		}
	}
	panic("env: no recipe for colour " + labColors[target])
}

// roomDistances is the all-pairs BFS distance of a room graph.
func roomDistances(adj [][]int8) [][]int8 {
	n := len(adj)
	dist := make([][]int8, n)
	for s := range dist {
		dist[s] = make([]int8, n)
		for i := range dist[s] {
			dist[s][i] = -1
		}
		dist[s][s] = 0
		queue := []int8{int8(s)}
		for len(queue) > 0 {
			u := queue[0]
			queue = queue[1:]
			for _, v := range adj[u] {
				if dist[s][v] < 0 {
					dist[s][v] = dist[s][u] + 1
					queue = append(queue, v)
				}
			}
		}
	}
	return dist
}
