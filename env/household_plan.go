package env

// unreachable is the distance of a state from which the goal cannot be
// reached (larger than any plan).
const unreachable = 1 << 12

// hhRoute is a partial plan being costed: where the agent is, which
// receptacles are open, what it holds and how many actions were spent.
type hhRoute struct {
	w    *hhWorld
	loc  int8
	open uint16
	held int8
	cost int
}

func (r *hhRoute) goTo(x int8) {
	if r.loc != x {
		r.cost++
		r.loc = x
	}
}

// access opens x (the agent is at x) if it is closed.
func (r *hhRoute) access(x int8) {
	if r.w.receps[x].openable && r.open&(1<<x) == 0 {
		r.cost++
		r.open |= 1 << x
	}
}

// fetch gets object o, which lies in receptacle at unless held, into the
// hand: go there, open it if needed, put down whatever is held (one action:
// the receptacle is now accessible) and take o.
func (r *hhRoute) fetch(o, at int8) {
	if r.held == o {
		return
	}
	r.goTo(at)
	r.access(at)
	if r.held >= 0 {
		r.cost++
	}
	r.cost++
	r.held = o
}

// deliver puts the held object into receptacle t.
func (r *hhRoute) deliver(t int8) {
	r.goTo(t)
	r.access(t)
	r.cost++
	r.held = -1
}

// hhDist is the length of a shortest plan from st to the goal: 0 when st is
// solved. It is exact (TestHouseholdDistExact compares it with breadth-first
// search over the full state graph of small worlds, and with BFS from states
// of generated worlds). The argument, per family:
//
//   - Irrelevant objects never need to be touched: taking one only occupies
//     the hand, so removing a take and the put that frees the hand again
//     gives a shorter plan. Holding one (or a goal-type object that will not
//     be used) costs exactly one put, which can always be done at the next
//     receptacle the plan opens anyway.
//   - A closing action never helps; an opening action is needed exactly
//     once for each closed receptacle the plan takes from or puts into.
//     Devices (sinkbasin, microwave, fridge) work closed.
//   - What remains is the choice of goal object(s), target receptacle and
//     device, and the order of the visits: the plan goes to the object, takes
//     it, visits the device if the object lacks the state, and goes to the
//     target; for two objects both orders are tried; for examine, the object
//     is fetched and the lamp's receptacle visited, switching it on if off.
//
// Every visit costs one "go to" unless the agent is already there; the
// minimum over all choices is the distance.
func hhDist(w *hhWorld, st *hhState) int {
	if hhSolved(w, st) {
		return 0
	}
	start := hhRoute{w: w, loc: st.loc, open: st.open, held: st.held}
	best := unreachable
	switch w.family {
	case hhExamine:
		for _, o := range w.rel {
			for _, l := range w.lamps {
				r := start
				r.fetch(o, st.pos[o])
				r.goTo(st.pos[l])
				if st.attr[l]&aOn == 0 {
					r.cost++
				}
				best = min(best, r.cost)
			}
		}
	case hhTwo:
		for _, t := range w.targets {
			var in int
			for _, o := range w.rel {
				if st.pos[o] == t {
					in++
				}
			}
			for _, a := range w.rel {
				if st.pos[a] == t {
					continue
				}
				if in >= 1 {
					r := start
					r.fetch(a, st.pos[a])
					r.deliver(t)
					best = min(best, r.cost)
					continue
				}
				for _, b := range w.rel {
					if b == a || st.pos[b] == t {
						continue
					}
					r := start
					posB := st.pos[b]
					if r.held == b {
						// b is put down where a was taken.
						posB = st.pos[a]
					}
					r.fetch(a, st.pos[a])
					r.deliver(t)
					r.fetch(b, posB)
					r.deliver(t)
					best = min(best, r.cost)
				}
			}
		}
	default:
		attr := familyAttr[w.family]
		for _, o := range w.rel {
			for _, t := range w.targets {
				if attr == 0 || st.attr[o]&attr != 0 {
					r := start
					r.fetch(o, st.pos[o])
					r.deliver(t)
					best = min(best, r.cost)
					continue
				}
				for _, d := range w.devices {
					r := start
					r.fetch(o, st.pos[o])
					r.goTo(d)
					r.cost++
					r.deliver(t)
					best = min(best, r.cost)
				}
			}
		}
	}
	return best
}

func (e *household) planLength() int {
	if e.Failed() {
		return -1
	}
	d := hhDist(e.w, &e.st)
	if d >= unreachable {
		return -1
	}
	return d
}

func (e *household) optimal(dst []int) []int {
	if e.Done() {
		return dst
	}
	d := hhDist(e.w, &e.st)
	if d >= unreachable {
		return dst
	}
	e.cache()
	return hhOptimal(e.w, &e.st, d, e.acts, dst)
}

// hhOptimal appends to dst the indices of the actions of acts (admissible in
// st) after which the distance d of st drops by one.
func hhOptimal(w *hhWorld, st *hhState, d int, acts []hhAct, dst []int) []int {
	for i, a := range acts {
		s := *st
		hhApply(&s, a)
		if hhDist(w, &s) == d-1 {
			dst = append(dst, i)
		}
	}
	return dst
}
