package env

import (
	"fmt"
	"strconv"
	"strings"
)

// Bounds of a lab world.
const (
	labMaxItems = 12
	labMaxWires = 2
	labMaxFix   = 16 // labState.on and .wet are uint16
	labMaxRooms = 8
)

type labFixture struct {
	name string
	room int8
	kind uint8
}

type labItem struct {
	name  string // base name: substance, plant, or the full name
	kind  uint8
	fixed bool // cannot be picked up (circuit parts, the mixture)
	temp  int  // what the thermometer reads
	color int8 // paints
	wire  int8 // wires: index into labState.link
}

// labFocus is a focus target: an item or (for answer boxes) a fixture.
type labFocus struct {
	fixture bool
	idx     int8
}

// labWorld is the immutable part of a lab task.
type labWorld struct {
	layout   string
	rooms    []string
	adj      [][]int8
	dist     [][]int8
	fixtures []labFixture
	items    []labItem
	family   int
	goal     string
	focusSeq []labFocus

	subject int8 // the substance, measured object, seed or load of the goal
	target  int8 // target phase (change_state) or colour (mix_paint)
	thermo  int8 // thermometer item, -1 if none
	can     int8 // watering can item, -1 if none
	box     int8 // the right answer box (fixture)
	heater  int8 // fixture indices
	freezer int8
	pot     int8
	bowl    int8
	bench   int8
	paints  [2]int8 // the two paints of the target colour
	mixture int8    // the mixture item, -1 if none
	power   int8    // the battery item, -1 if none
	wires   []int8  // wire items
	init    labState
}

// labState is the symbolic state of a lab world; a comparable value.
type labState struct {
	room     int8
	focus    int8 // focus targets completed
	mix      int8 // colour of the mixture (when present)
	measured bool // the measured object was measured with the thermometer
	failed   bool // focused on a wrong object
	on       uint16
	wet      uint16
	pos      [labMaxItems]int8 // fixture; -1 inventory; -2 absent
	phase    [labMaxItems]int8 // substance phase or seed stage
	link     [labMaxWires][2]int8
}

// Lab verbs.
const (
	lvGo uint8 = iota
	lvPick
	lvMove
	lvActivate
	lvDeactivate
	lvMeasure
	lvWater
	lvMix
	lvConnect
	lvDisconnect
	lvFocus
	lvFocusBox
	lvWait
	lvLook
	lvInventory
)

// labAct is an action: a is a room (go) or item, b a fixture or (connect)
// component item.
type labAct struct {
	verb uint8
	a, b int8
}

func (w *labWorld) roomOf(st *labState, i int8) int8 {
	if p := st.pos[i]; p >= 0 {
		return w.fixtures[p].room
	}
	return -1
}

func (w *labWorld) visible(st *labState, i int8) bool {
	p := st.pos[i]
	return p == -1 || (p >= 0 && w.fixtures[p].room == st.room)
}

// name is how actions and messages refer to item i in st.
func (w *labWorld) name(st *labState, i int8) string {
	it := &w.items[i]
	switch it.kind {
	case ikSeed:
		return it.name + " " + stageNames[st.phase[i]]
	case ikPaint:
		return labColors[it.color] + " paint"
	case ikMixture:
		return labColors[st.mix] + " paint"
	}
	return it.name
}

// view is how item i appears in a listing.
func (w *labWorld) view(st *labState, i int8) string {
	it := &w.items[i]
	switch it.kind {
	case ikSubstance:
		return phaseNames[st.phase[i]] + " " + it.name
	case ikPaint, ikMixture:
		return w.name(st, i)
	case ikLoad:
		if w.lit(st, i) {
			return "a " + it.name + " that is on"
		}
	}
	return "a " + w.name(st, i)
}

// lit reports whether load l is wired to the battery: a wire joins the two.
func (w *labWorld) lit(st *labState, l int8) bool {
	for k := range w.wires {
		a, b := st.link[k][0], st.link[k][1]
		if (a == w.power && b == l) || (a == l && b == w.power) {
			return true
		}
	}
	return false
}

func isComponent(kind uint8) bool { return kind == ikPower || kind == ikLoad }

// labActs appends the admissible actions of st to dst in display order.
func labActs(w *labWorld, st *labState, dst []labAct) []labAct {
	r := st.room
	for _, x := range w.adj[r] {
		dst = append(dst, labAct{lvGo, x, -1})
	}
	for i := range w.items {
		if p := st.pos[i]; p >= 0 && w.fixtures[p].room == r && !w.items[i].fixed {
			dst = append(dst, labAct{lvPick, int8(i), -1})
		}
	}
	for i := range w.items {
		if st.pos[i] != -1 {
			continue
		}
		for f := range w.fixtures {
			if w.fixtures[f].room == r && w.fixtures[f].kind != fkBox {
				dst = append(dst, labAct{lvMove, int8(i), int8(f)})
			}
		}
	}
	for f := range w.fixtures {
		fx := &w.fixtures[f]
		if fx.room != r {
			continue
		}
		switch fx.kind {
		case fkHeater:
			if st.on&(1<<f) != 0 {
				dst = append(dst, labAct{lvDeactivate, -1, int8(f)})
			} else {
				dst = append(dst, labAct{lvActivate, -1, int8(f)})
			}
		case fkPot:
			if w.can >= 0 && st.pos[w.can] == -1 {
				dst = append(dst, labAct{lvWater, -1, int8(f)})
			}
		case fkBowl:
			dst = append(dst, labAct{lvMix, -1, int8(f)})
		}
	}
	if w.thermo >= 0 && st.pos[w.thermo] == -1 {
		for i := range w.items {
			if int8(i) != w.thermo && w.visible(st, int8(i)) {
				dst = append(dst, labAct{lvMeasure, int8(i), -1})
			}
		}
	}
	for k, wi := range w.wires {
		if !w.visible(st, wi) {
			continue
		}
		l := st.link[k]
		if l[0] < 0 || l[1] < 0 {
			for c := range w.items {
				if isComponent(w.items[c].kind) && w.visible(st, int8(c)) && l[0] != int8(c) && l[1] != int8(c) {
					dst = append(dst, labAct{lvConnect, wi, int8(c)})
				}
			}
		}
		if l[0] >= 0 || l[1] >= 0 {
			dst = append(dst, labAct{lvDisconnect, wi, -1})
		}
	}
	for i := range w.items {
		if w.visible(st, int8(i)) {
			dst = append(dst, labAct{lvFocus, int8(i), -1})
		}
	}
	for f := range w.fixtures {
		if w.fixtures[f].room == r && w.fixtures[f].kind == fkBox {
			dst = append(dst, labAct{lvFocusBox, -1, int8(f)})
		}
	}
	return append(dst, labAct{lvWait, -1, -1}, labAct{lvLook, -1, -1}, labAct{lvInventory, -1, -1})
}

// labApply applies an admissible action to st.
func labApply(w *labWorld, st *labState, a labAct) {
	switch a.verb {
	case lvGo:
		st.room = a.a
	case lvPick:
		st.pos[a.a] = -1
	case lvMove:
		st.pos[a.a] = a.b
	case lvActivate:
		st.on |= 1 << a.b
	case lvDeactivate:
		st.on &^= 1 << a.b
	case lvMeasure:
		if w.family == labMeasure && a.a == w.subject {
			st.measured = true
		}
	case lvWater:
		st.wet |= 1 << a.b
	case lvMix:
		w.mixBowl(st, a.b)
	case lvConnect:
		k := w.items[a.a].wire
		if st.link[k][0] < 0 {
			st.link[k][0] = a.b
		} else {
			st.link[k][1] = a.b
		}
	case lvDisconnect:
		st.link[w.items[a.a].wire] = [2]int8{-1, -1}
	case lvFocus:
		w.focusOn(st, labFocus{false, a.a})
	case lvFocusBox:
		w.focusOn(st, labFocus{true, a.b})
	case lvWait:
		w.wait(st)
	}
}

// focusOn applies "focus on": the next target of the task's focus sequence
// (with its precondition) advances the sequence, a target already focused
// on changes nothing, and anything else fails the task.
func (w *labWorld) focusOn(st *labState, f labFocus) {
	for k := int8(0); k < st.focus; k++ {
		if w.focusSeq[k] == f {
			return
		}
	}
	if int(st.focus) < len(w.focusSeq) && w.focusSeq[st.focus] == f && w.focusReady(st) {
		st.focus++
		return
	}
	st.failed = true
}

// focusReady is the precondition of the next focus target: the answer box
// needs the measurement, the mixture needs the target colour.
func (w *labWorld) focusReady(st *labState) bool {
	switch w.family {
	case labMeasure:
		return st.focus == 0 || st.measured
	case labMix:
		return st.mix == w.target
	}
	return true
}

// wait advances time: substances on a heater that is on go up one phase,
// substances in a freezer down one; seeds in a wet flower pot grow one
// stage; every flower pot dries.
func (w *labWorld) wait(st *labState) {
	for i := range w.items {
		p := st.pos[i]
		if p < 0 {
			continue
		}
		switch w.items[i].kind {
		case ikSubstance:
			switch k := w.fixtures[p].kind; {
			case k == fkHeater && st.on&(1<<p) != 0 && st.phase[i] < phGas:
				st.phase[i]++
			case k == fkFreezer && st.phase[i] > phSolid:
				st.phase[i]--
			}
		case ikSeed:
			if w.fixtures[p].kind == fkPot && st.wet&(1<<p) != 0 && st.phase[i] < 2 {
				st.phase[i]++
			}
		}
	}
	st.wet = 0
}

// mixBowl mixes the paints in the bowl: two base paints of a known pair give
// their mixture colour, any other combination of two or more paints gives
// brown; fewer than two paints change nothing.
func (w *labWorld) mixBowl(st *labState, bowl int8) {
	var in [labMaxItems]int8
	n := 0
	for i := range w.items {
		if k := w.items[i].kind; (k == ikPaint || k == ikMixture) && st.pos[i] == bowl {
			in[n] = int8(i)
			n++
		}
	}
	if n < 2 {
		return
	}
	color := int8(colBrown)
	if a, b := &w.items[in[0]], &w.items[in[1]]; n == 2 && a.kind == ikPaint && b.kind == ikPaint {
		for _, m := range labMixes {
			if (m.a == a.color && m.b == b.color) || (m.a == b.color && m.b == a.color) {
				color = m.out
			}
		}
	}
	for _, i := range in[:n] {
		st.pos[i] = -2
	}
	st.pos[w.mixture] = bowl
	st.mix = color
}

// labSolved reports whether st satisfies the goal.
func labSolved(w *labWorld, st *labState) bool {
	if st.failed || int(st.focus) < len(w.focusSeq) {
		return false
	}
	switch w.family {
	case labChange:
		return st.phase[w.subject] == w.target
	case labGrow:
		return st.phase[w.subject] == 2
	case labPower:
		return w.lit(st, w.subject)
	}
	return true
}

// labText is the canonical text of an action in st.
func labText(w *labWorld, st *labState, a labAct) string {
	switch a.verb {
	case lvGo:
		return "go to " + w.rooms[a.a]
	case lvPick:
		return "pick up " + w.name(st, a.a)
	case lvMove:
		return "move " + w.name(st, a.a) + " to " + w.fixtures[a.b].name
	case lvActivate:
		return "activate " + w.fixtures[a.b].name
	case lvDeactivate:
		return "deactivate " + w.fixtures[a.b].name
	case lvMeasure:
		return "use thermometer on " + w.name(st, a.a)
	case lvWater:
		return "water " + w.fixtures[a.b].name
	case lvMix:
		return "mix " + w.fixtures[a.b].name
	case lvConnect:
		return "connect " + w.name(st, a.a) + " to " + w.name(st, a.b)
	case lvDisconnect:
		return "disconnect " + w.name(st, a.a)
	case lvFocus:
		return "focus on " + w.name(st, a.a)
	case lvFocusBox:
		return "focus on " + w.fixtures[a.b].name
	case lvWait:
		return "wait"
	case lvLook:
		return "look around"
	default:
		return "inventory"
	}
}

// innerList joins items as "x", "x and y", "x, y and z".
func innerList(items []string) string {
	switch len(items) {
	case 0:
		return "nothing"
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// roomView describes the current room: its fixtures with their state and
// contents. Exits are not listed: the "go to" actions name them.
func (w *labWorld) roomView(st *labState) string {
	var fixtures []string
	for f := range w.fixtures {
		fx := &w.fixtures[f]
		if fx.room != st.room {
			continue
		}
		s := "a " + fx.name
		switch fx.kind {
		case fkHeater:
			if st.on&(1<<f) != 0 {
				s += " that is on"
			} else {
				s += " that is off"
			}
		case fkPot:
			if st.wet&(1<<f) != 0 {
				s += " that is wet"
			} else {
				s += " that is dry"
			}
		}
		var items []string
		for i := range w.items {
			if st.pos[i] == int8(f) {
				items = append(items, w.view(st, int8(i)))
			}
		}
		if len(items) > 0 {
			s += " holding " + innerList(items)
		}
		fixtures = append(fixtures, s)
	}
	return "You see " + listText(fixtures) + "."
}

func (w *labWorld) lookObs(st *labState) string {
	return "You are in the " + w.rooms[st.room] + ". " + w.roomView(st)
}

// labRender is the observation after action a took prev to st.
func labRender(w *labWorld, prev, st *labState, a labAct) string {
	switch a.verb {
	case lvGo:
		return "You move to the " + w.rooms[st.room] + ". " + w.roomView(st)
	case lvPick:
		return "You pick up the " + w.name(st, a.a) + "."
	case lvMove:
		return "You move the " + w.name(st, a.a) + " to the " + w.fixtures[a.b].name + "."
	case lvActivate:
		return "The " + w.fixtures[a.b].name + " is now on."
	case lvDeactivate:
		return "The " + w.fixtures[a.b].name + " is now off."
	case lvMeasure:
		return "The thermometer reads " + strconv.Itoa(w.items[a.a].temp) + " degrees celsius."
	case lvWater:
		return "You water the " + w.fixtures[a.b].name + "."
	case lvMix:
		if w.mixture >= 0 && st.pos[w.mixture] == a.b && *prev != *st {
			return "You mix the " + w.fixtures[a.b].name + ". It now holds " + w.name(st, w.mixture) + "."
		}
		return "You mix the " + w.fixtures[a.b].name + ", but nothing changes."
	case lvConnect:
		return "You connect the " + w.name(st, a.a) + " to the " + w.name(st, a.b) + "." + w.litChanges(prev, st)
	case lvDisconnect:
		return "You disconnect the " + w.name(st, a.a) + "." + w.litChanges(prev, st)
	case lvFocus, lvFocusBox:
		var n string
		if a.verb == lvFocus {
			n = w.name(st, a.a)
		} else {
			n = w.fixtures[a.b].name
		}
		switch {
		case st.failed:
			return "You focus on the " + n + ". That is the wrong object, and the task has failed."
		case st.focus > prev.focus:
			return "You focus on the " + n + "."
		default:
			return "You are already focused on the " + n + "."
		}
	case lvWait:
		return "You wait." + w.waitChanges(prev, st)
	case lvLook:
		return w.lookObs(st)
	default:
		var items []string
		for i := range w.items {
			if st.pos[i] == -1 {
				items = append(items, w.view(st, int8(i)))
			}
		}
		return "You carry " + innerList(items) + "."
	}
}

// litChanges reports loads switched on or off between prev and st.
func (w *labWorld) litChanges(prev, st *labState) string {
	var s string
	for i := range w.items {
		if w.items[i].kind != ikLoad {
			continue
		}
		was, is := w.lit(prev, int8(i)), w.lit(st, int8(i))
		switch {
		case is && !was:
			s += " The " + w.items[i].name + " turns on."
		case was && !is:
			s += " The " + w.items[i].name + " turns off."
		}
	}
	return s
}

// waitChanges reports what changed during a wait.
func (w *labWorld) waitChanges(prev, st *labState) string {
	var s string
	for i := range w.items {
		if prev.phase[i] == st.phase[i] {
			continue
		}
		switch w.items[i].kind {
		case ikSubstance:
			s += " The " + w.items[i].name + " " + phaseChange(prev.phase[i], st.phase[i]) + "."
		case ikSeed:
			s += " The " + w.name(prev, int8(i)) + " grows into a " + w.name(st, int8(i)) + "."
		}
	}
	for f := range w.fixtures {
		if prev.wet&(1<<f) != 0 && st.wet&(1<<f) == 0 {
			s += " The " + w.fixtures[f].name + " dries."
		}
	}
	return s
}

// phaseChange names the change of a substance from phase a to phase b (one
// step apart).
func phaseChange(a, b int8) string {
	switch {
	case a == phSolid:
		return "melts"
	case a == phLiquid && b == phGas:
		return "boils"
	case a == phGas:
		return "condenses"
	default:
		return "freezes"
	}
}

// key encodes st for StateKey.
func (w *labWorld) key(st *labState) []byte {
	b := []byte{byte(st.room), byte(st.focus), byte(st.mix), 0, byte(st.on), byte(st.on >> 8), byte(st.wet), byte(st.wet >> 8)}
	if st.measured {
		b[3] |= 1
	}
	if st.failed {
		b[3] |= 2
	}
	for i := range w.items {
		b = append(b, byte(st.pos[i]), byte(st.phase[i]))
	}
	for k := range w.wires {
		b = append(b, byte(st.link[k][0]), byte(st.link[k][1]))
	}
	return b
}

// lab is the Env of Lab.
type lab struct {
	task   Task
	w      *labWorld
	st     labState
	steps  int
	solved bool
	obs    string
	acts   []labAct
	texts  []string
	cached bool
	// seenAt[r] is the index of the last observation that described room r
	// (observation 0 is Reset's, i the one after step i), -1 if none did;
	// readAt that of the last thermometer reading of the measured object.
	// They are what the observation history reveals (lab_reveal.go).
	seenAt [labMaxRooms]int16
	readAt int16
}

func (e *lab) Name() string { return Lab }

func (e *lab) Reset(task Task) string {
	if task.lab == nil {
		panic(fmt.Sprintf("env: lab.Reset with task %q of environment %q", task.ID, task.Env))
	}
	e.task, e.w, e.st = task, task.lab, task.lab.init
	e.steps, e.solved, e.cached = 0, labSolved(task.lab, &task.lab.init), false
	e.obs = e.w.lookObs(&e.st)
	for r := range e.seenAt {
		e.seenAt[r] = -1
	}
	e.seenAt[e.st.room], e.readAt = 0, -1
	return e.obs
}

func (e *lab) cache() {
	if e.cached {
		return
	}
	e.acts = labActs(e.w, &e.st, e.acts[:0])
	e.texts = e.texts[:0]
	for _, a := range e.acts {
		e.texts = append(e.texts, labText(e.w, &e.st, a))
	}
	e.cached = true
}

func (e *lab) Step(action string) (string, float64, bool) {
	if e.w == nil {
		panic("env: lab.Step before Reset")
	}
	if e.Done() {
		return nothingHappens, 0, true
	}
	e.steps++
	e.cache()
	i := indexOf(e.texts, ParseAction(action))
	reward := 0.0
	if i < 0 {
		e.obs = nothingHappens
	} else {
		a, prev := e.acts[i], e.st
		labApply(e.w, &e.st, a)
		e.cached = false
		e.obs = labRender(e.w, &prev, &e.st, a)
		switch {
		case a.verb == lvGo || a.verb == lvLook:
			e.seenAt[e.st.room] = int16(e.steps)
		case a.verb == lvMeasure && e.w.family == labMeasure && a.a == e.w.subject:
			e.readAt = int16(e.steps)
		}
		if labSolved(e.w, &e.st) {
			e.solved, reward = true, 1
		}
	}
	return e.obs, reward, e.Done()
}

func (e *lab) Admissible() []string {
	if e.w == nil || e.Done() {
		return []string{}
	}
	e.cache()
	return append([]string(nil), e.texts...)
}

func (e *lab) Goal() string        { return e.w.goal }
func (e *lab) Observation() string { return e.obs }
func (e *lab) StateKey() string    { return stateHash(e.task.ID, e.w.key(&e.st)) }
func (e *lab) StepLimit() int      { return labStepLimit }
func (e *lab) Steps() int          { return e.steps }
func (e *lab) Solved() bool        { return e.solved }
func (e *lab) Failed() bool        { return e.st.failed }
func (e *lab) Done() bool          { return e.solved || e.st.failed || e.steps >= labStepLimit }
func (e *lab) Task() Task          { return e.task }

func (e *lab) Clone() Env {
	c := *e
	c.acts = append([]labAct(nil), e.acts...)
	c.texts = append([]string(nil), e.texts...)
	return &c
}
