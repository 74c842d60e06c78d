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

// labGenerate draws one lab task: a layout of the domain, a family, the
// family's items of the domain's types, one distractor, a start room.
// Candidates whose oracle plan is shorter than 2 steps are rejected.
func labGenerate(rng *rand.Rand, out bool) (Task, bool) {
	return labGenerateWith(rng, out, labLayouts, labDistractorsPerWorld, 2)
}

// labGenerateWith is labGenerate with other layouts, distractor count and
// most extra paints (tests use tiny worlds).
func labGenerateWith(rng *rand.Rand, out bool, all []labLayout, distractors, maxExtraPaints int) (Task, bool) {
	var layouts []*labLayout
	for i := range all {
		if all[i].heldOut == out {
			layouts = append(layouts, &all[i])
		}
	}
	lay := pick(rng, layouts)
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
	domain := func(in, held []string) []string {
		if out {
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
	fam := rng.IntN(labFamilies)
	w.family = fam
	switch fam {
	case labChange:
		ch := pick(rng, labChanges)
		sub := pick(rng, domain(labSubstances, labSubstancesOut))
		it := labItem{name: sub, kind: ikSubstance, temp: temp()}
		if ch.start == phSolid && rng.IntN(2) == 0 {
			items = append(items, labPending{it, w.freezer, ch.start, "subject"})
		} else {
			ok = addPlain(it, ch.start, "subject")
		}
		w.target = ch.target
		w.goal = ch.verb + " the " + sub + ". First, focus on the " + sub + "."
	case labMeasure:
		obj := pick(rng, domain(labMeasured, labMeasuredOut))
		t := temp()
		var thresholds []int
		for _, th := range labThresholds {
			if t-th >= 5 || th-t >= 5 {
				thresholds = append(thresholds, th)
			}
		}
		th := pick(rng, thresholds)
		w.box = boxes[1]
		if t > th {
			w.box = boxes[0]
		}
		ok = addPlain(labItem{name: obj, kind: ikPlain, temp: t}, 0, "subject") &&
			addPlain(labItem{name: "thermometer", kind: ikThermo, temp: 21}, 0, "thermo")
		w.goal = "measure the temperature of the " + obj + ". First, focus on the thermometer. If it is above " +
			strconv.Itoa(th) + " degrees celsius, focus on the red box; otherwise, focus on the blue box."
	case labGrow:
		plants := domain(labPlants, labPlantsOut)
		plant := pick(rng, plants)
		others := slices.DeleteFunc(slices.Concat(plants, labPlants), func(p string) bool { return p == plant })
		other := pick(rng, others)
		ok = addPlain(labItem{name: plant, kind: ikSeed, temp: temp()}, 0, "subject") &&
			addPlain(labItem{name: other, kind: ikSeed, temp: temp()}, 0, "") &&
			addPlain(labItem{name: "watering can", kind: ikCan, temp: temp()}, 0, "can")
		w.goal = "grow a " + plant + " plant from its seed. First, focus on the " + plant + " seed."
	case labMix:
		target := pick(rng, labMixTargets)
		if out {
			target = pick(rng, labMixTargetsOut)
		}
		w.target = target
		var need [2]int8
		for _, m := range labMixes {
			if m.out == target {
				need = [2]int8{m.a, m.b}
			}
		}
		bases := []int8{colRed, colBlue, colYellow, colWhite}
		if out {
			bases = append(bases, colBlack)
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
		loads := domain(labLoads, labLoadsOut)
		ld := pick(rng, loads)
		others := slices.DeleteFunc(slices.Concat(loads, labLoads), func(l string) bool { return l == ld })
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
	pool := labDistractors
	if out {
		pool = slices.Concat(labDistractors, labDistractorsOut)
	}
	pool = slices.Clone(pool)
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	for _, d := range pool[:distractors] {
		ok = ok && addPlain(labItem{name: d, kind: ikPlain, temp: temp()}, 0, "")
	}
	if !ok || len(items) > labMaxItems || len(w.fixtures) > labMaxFix || len(w.rooms) > labMaxRooms {
		return Task{}, false
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
	if labDist(w, &w.init) < 2 {
		return Task{}, false
	}

	parts := []string{Lab, w.layout, labFamilyNames[fam], w.goal, w.rooms[w.init.room]}
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
	return Task{Type: labFamilyNames[fam], Layout: w.layout, Goal: w.goal, fp: fingerprint(parts...), lab: w}, true
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
