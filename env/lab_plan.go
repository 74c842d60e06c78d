package env

// labDist is the length of a shortest plan from st to the goal: 0 when st is
// solved, unreachable after a failure or a wrong mixture. It is exact
// (TestLabDistExact compares it with breadth-first search over the full state
// graph of small worlds, and with BFS from states of generated worlds). The
// argument shared by all families:
//
//   - The inventory is unbounded and everything in it is visible everywhere,
//     so picking up a distractor, or putting a needed item anywhere but the
//     device it must go to, is never on a shortest plan; only where the
//     needed items are (a room, the inventory or a device) matters.
//   - Focusing on anything but the next focus target fails the task; focusing
//     on the next one costs one action whenever it is visible, which the plan
//     arranges without detours.
//   - Time (phase changes, growth) only advances on "wait", so waits and
//     focus can be done in any order once the item is in place.
//   - Rooms form a graph; moving between two rooms costs their BFS distance
//     (w.dist). The plan visits the rooms of the needed items in the best
//     order (all orders of at most two rooms are tried) and ends in the room
//     where the work is done.
func labDist(w *labWorld, st *labState) int {
	if st.failed {
		return unreachable
	}
	if labSolved(w, st) {
		return 0
	}
	switch w.family {
	case labChange:
		return w.distChange(st)
	case labMeasure:
		return w.distMeasure(st)
	case labGrow:
		return w.distGrow(st)
	case labMix:
		return w.distMix(st)
	default:
		return w.distPower(st)
	}
}

func (w *labWorld) d(a, b int8) int { return int(w.dist[a][b]) }

// visTrip is the walk needed to see item i.
func (w *labWorld) visTrip(st *labState, i int8) int {
	if st.pos[i] == -1 {
		return 0
	}
	return w.d(st.room, w.roomOf(st, i))
}

// walk is the shortest walk from cur through every room of via (at most two,
// any order) to end.
func (w *labWorld) walk(cur int8, via []int8, end int8) int {
	switch len(via) {
	case 0:
		return w.d(cur, end)
	case 1:
		return w.d(cur, via[0]) + w.d(via[0], end)
	}
	a, b := via[0], via[1]
	return min(w.d(cur, a)+w.d(a, b)+w.d(b, end), w.d(cur, b)+w.d(b, a)+w.d(a, end))
}

// distChange: bring the substance to the heater (switched on) or freezer,
// wait once per phase, focus on it.
func (w *labWorld) distChange(st *labState) int {
	s := w.subject
	delta := int(w.target) - int(st.phase[s])
	focus := 0
	if st.focus == 0 {
		focus = 1
	}
	if delta == 0 {
		return w.visTrip(st, s) + 1
	}
	dev, act, n := w.freezer, 0, -delta
	if delta > 0 {
		dev, n = w.heater, delta
		if st.on&(1<<dev) == 0 {
			act = 1
		}
	}
	rd := w.fixtures[dev].room
	switch p := st.pos[s]; {
	case p == dev:
		trip := 0
		if act+focus > 0 {
			trip = w.d(st.room, rd)
		}
		return trip + act + focus + n
	case p == -1:
		return w.d(st.room, rd) + 1 + act + focus + n
	case p >= 0:
		r := w.fixtures[p].room
		return w.d(st.room, r) + 1 + w.d(r, rd) + 1 + act + focus + n
	}
	return unreachable
}

// distMeasure: focus on the thermometer, measure the object with the
// thermometer in the inventory (going to the object, or carrying it to the
// thermometer), focus on the right box.
func (w *labWorld) distMeasure(st *labState) int {
	t, x := w.thermo, w.subject
	rb := w.fixtures[w.box].room
	cur := st.room
	if st.measured {
		switch {
		case st.focus >= 1:
			return w.d(cur, rb) + 1
		case st.pos[t] == -1:
			return 2 + w.d(cur, rb)
		default:
			rt := w.roomOf(st, t)
			return w.d(cur, rt) + w.d(rt, rb) + 2
		}
	}
	focus := 0
	if st.focus == 0 {
		focus = 1
	}
	tIn, xIn := st.pos[t] == -1, st.pos[x] == -1
	switch {
	case tIn && xIn:
		return 2 + focus + w.d(cur, rb)
	case tIn:
		rx := w.roomOf(st, x)
		return w.d(cur, rx) + w.d(rx, rb) + 2 + focus
	case xIn:
		rt := w.roomOf(st, t)
		return w.d(cur, rt) + w.d(rt, rb) + 3 + focus
	default:
		rt, rx := w.roomOf(st, t), w.roomOf(st, x)
		viaT := w.d(cur, rt) + w.d(rt, rx) + w.d(rx, rb) + 3 + focus
		viaX := w.d(cur, rx) + w.d(rx, rt) + w.d(rt, rb) + 4 + focus
		return min(viaT, viaX)
	}
}

// distGrow: put the seed into the flower pot, then water and wait once per
// stage (a pot that is already wet saves one watering), focus on the seed.
func (w *labWorld) distGrow(st *labState) int {
	s, p := w.subject, w.pot
	rp := w.fixtures[p].room
	focus := 0
	if st.focus == 0 {
		focus = 1
	}
	stage := int(st.phase[s])
	if stage == 2 {
		return w.visTrip(st, s) + 1
	}
	waits := 2 - stage
	waters := waits
	if st.wet&(1<<p) != 0 {
		waters--
	}
	inPot := st.pos[s] == p
	picks, moves := 0, 0
	var via [2]int8
	nv := 0
	if !inPot {
		moves = 1
		if st.pos[s] >= 0 {
			picks++
			via[nv] = w.roomOf(st, s)
			nv++
		}
	}
	if waters > 0 && st.pos[w.can] != -1 {
		picks++
		via[nv] = w.roomOf(st, w.can)
		nv++
	}
	walk := 0
	switch {
	case !inPot || waters > 0:
		walk = w.walk(st.room, via[:nv], rp)
	case focus > 0:
		walk = w.d(st.room, rp)
	}
	return walk + picks + moves + focus + waters + waits
}

// distMix: take any wrong paint out of the bowl, bring the two paints of the
// target colour into it, mix, focus on the mixture. A mixture of another
// colour cannot be undone.
func (w *labWorld) distMix(st *labState) int {
	rw := w.fixtures[w.bowl].room
	if st.pos[w.mixture] != -2 {
		if st.mix == w.target {
			return w.d(st.room, rw) + 1
		}
		return unreachable
	}
	wrong := 0
	for i := range w.items {
		if w.items[i].kind == ikPaint && st.pos[i] == w.bowl && int8(i) != w.paints[0] && int8(i) != w.paints[1] {
			wrong++
		}
	}
	picks, moves := 0, 0
	var via [2]int8
	nv := 0
	for _, p := range w.paints {
		switch pos := st.pos[p]; {
		case pos == w.bowl:
		case pos == -1:
			moves++
		case pos >= 0:
			picks++
			moves++
			via[nv] = w.fixtures[pos].room
			nv++
		default:
			return unreachable
		}
	}
	return w.walk(st.room, via[:nv], rw) + picks + moves + wrong + 2
}

// distPower: a wire must join the battery and the load; a wire with a free
// end needs one connect per missing end, a wire attached to anything else must
// be disconnected first; the cheapest wire is used. Everything is fixed to the
// workbench, so all of it happens there.
func (w *labWorld) distPower(st *labState) int {
	best := unreachable
	for k := range w.wires {
		cost, n := 0, 0
		for _, c := range st.link[k] {
			switch c {
			case -1:
			case w.power, w.subject:
				n++
			default:
				cost = 1 + 2
			}
		}
		if cost == 0 {
			cost = 2 - n
		}
		best = min(best, cost)
	}
	if st.focus == 0 {
		best++
	}
	return w.d(st.room, w.fixtures[w.bench].room) + best
}

func (e *lab) planLength() int {
	d := labDist(e.w, &e.st)
	if d >= unreachable {
		return -1
	}
	return d
}

func (e *lab) optimal(dst []int) []int {
	if e.Done() {
		return dst
	}
	d := labDist(e.w, &e.st)
	if d >= unreachable {
		return dst
	}
	e.cache()
	return labOptimal(e.w, &e.st, d, e.acts, dst)
}

// labOptimal appends to dst the indices of the actions of acts (admissible
// in st) after which the distance d of st drops by one.
func labOptimal(w *labWorld, st *labState, d int, acts []labAct, dst []int) []int {
	for i, a := range acts {
		s := *st
		labApply(w, &s, a)
		if labDist(w, &s) == d-1 {
			dst = append(dst, i)
		}
	}
	return dst
}
