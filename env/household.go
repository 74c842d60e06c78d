package env

import "fmt"

// Bounds of a household world (the generator stays well inside them).
const (
	hhMaxRecep = 16 // hhState.open is a uint16
	hhMaxObj   = 12
)

type hhRecep struct {
	typ      string
	name     string // "cabinet 2"
	openable bool
	device   uint8
}

type hhObj struct {
	typ   string
	name  string // "apple 1"
	props uint8
	lamp  bool // a desklamp: cannot be taken, can be used
}

// hhWorld is the immutable part of a household task.
type hhWorld struct {
	layout     string
	receps     []hhRecep
	objs       []hhObj
	family     int
	goalType   string
	targetType string
	goal       string
	rel        []int8 // objects of the goal type
	targets    []int8 // receptacles of the target type
	devices    []int8 // receptacles with the family's device
	lamps      []int8 // lamp objects
	init       hhState
}

// hhState is the symbolic state of a household world. It is a comparable
// value, copied by assignment.
type hhState struct {
	loc  int8   // receptacle the agent is at; -1 in the middle of the room
	held int8   // object in hand; -1 none
	open uint16 // bit r: receptacle r is open
	pos  [hhMaxObj]int8
	attr [hhMaxObj]uint8
}

// Household verbs.
const (
	hvGo uint8 = iota
	hvOpen
	hvClose
	hvTake
	hvPut
	hvClean
	hvHeat
	hvCool
	hvUse
	hvLook
	hvInventory
)

type hhAct struct {
	verb     uint8
	obj, rec int8
}

func (w *hhWorld) accessible(st *hhState, r int8) bool {
	return !w.receps[r].openable || st.open&(1<<r) != 0
}

// hhActs appends the admissible actions of st to dst, in display order:
// actions at the current receptacle, then "go to" every other receptacle,
// then look and inventory.
func hhActs(w *hhWorld, st *hhState, dst []hhAct) []hhAct {
	if r := st.loc; r >= 0 {
		rc := &w.receps[r]
		if rc.openable {
			if st.open&(1<<r) != 0 {
				dst = append(dst, hhAct{hvClose, -1, r})
			} else {
				dst = append(dst, hhAct{hvOpen, -1, r})
			}
		}
		if w.accessible(st, r) {
			if st.held < 0 {
				for o := range w.objs {
					if st.pos[o] == r && !w.objs[o].lamp {
						dst = append(dst, hhAct{hvTake, int8(o), r})
					}
				}
			} else {
				dst = append(dst, hhAct{hvPut, st.held, r})
			}
		}
		if h := st.held; h >= 0 {
			p := w.objs[h].props
			switch {
			case rc.device == devSink && p&pClean != 0:
				dst = append(dst, hhAct{hvClean, h, r})
			case rc.device == devMicrowave && p&pHeat != 0:
				dst = append(dst, hhAct{hvHeat, h, r})
			case rc.device == devFridge && p&pCool != 0:
				dst = append(dst, hhAct{hvCool, h, r})
			}
		}
		for _, l := range w.lamps {
			if st.pos[l] == r {
				dst = append(dst, hhAct{hvUse, l, r})
			}
		}
	}
	for r := range w.receps {
		if int8(r) != st.loc {
			dst = append(dst, hhAct{hvGo, -1, int8(r)})
		}
	}
	return append(dst, hhAct{hvLook, -1, -1}, hhAct{hvInventory, -1, -1})
}

// hhApply applies an admissible action to st.
func hhApply(st *hhState, a hhAct) {
	switch a.verb {
	case hvGo:
		st.loc = a.rec
	case hvOpen:
		st.open |= 1 << a.rec
	case hvClose:
		st.open &^= 1 << a.rec
	case hvTake:
		st.pos[a.obj] = -1
		st.held = a.obj
	case hvPut:
		st.pos[a.obj] = a.rec
		st.held = -1
	case hvClean:
		st.attr[a.obj] |= aClean
	case hvHeat:
		st.attr[a.obj] = st.attr[a.obj]&^aCold | aHot
	case hvCool:
		st.attr[a.obj] = st.attr[a.obj]&^aHot | aCold
	case hvUse:
		st.attr[a.obj] ^= aOn
	}
}

// hhText is the canonical text of an action.
func hhText(w *hhWorld, a hhAct) string {
	switch a.verb {
	case hvGo:
		return "go to " + w.receps[a.rec].name
	case hvOpen:
		return "open " + w.receps[a.rec].name
	case hvClose:
		return "close " + w.receps[a.rec].name
	case hvTake:
		return "take " + w.objs[a.obj].name + " from " + w.receps[a.rec].name
	case hvPut:
		return "put " + w.objs[a.obj].name + " in/on " + w.receps[a.rec].name
	case hvClean:
		return "clean " + w.objs[a.obj].name + " with " + w.receps[a.rec].name
	case hvHeat:
		return "heat " + w.objs[a.obj].name + " with " + w.receps[a.rec].name
	case hvCool:
		return "cool " + w.objs[a.obj].name + " with " + w.receps[a.rec].name
	case hvUse:
		return "use " + w.objs[a.obj].name
	case hvLook:
		return "look"
	default:
		return "inventory"
	}
}

// contents lists the objects in receptacle r ("a apple 1, and a mug 2").
func (w *hhWorld) contents(st *hhState, r int8) string {
	var items []string
	for o := range w.objs {
		if st.pos[o] == r {
			items = append(items, "a "+w.objs[o].name)
		}
	}
	return listText(items)
}

// view describes receptacle r as seen on arrival.
func (w *hhWorld) view(st *hhState, r int8) string {
	n := w.receps[r].name
	switch {
	case !w.receps[r].openable:
		return "On the " + n + ", you see " + w.contents(st, r) + "."
	case st.open&(1<<r) != 0:
		return "The " + n + " is open. In it, you see " + w.contents(st, r) + "."
	default:
		return "The " + n + " is closed."
	}
}

// initialObs is the observation in the middle of the room.
func (w *hhWorld) initialObs() string {
	items := make([]string, len(w.receps))
	for i, r := range w.receps {
		items[i] = "a " + r.name
	}
	return "You are in the middle of a room. Looking quickly around you, you see " + listText(items) + "."
}

// hhRender is the observation after a (st is the state after it).
func hhRender(w *hhWorld, st *hhState, a hhAct) string {
	var o, r string
	if a.obj >= 0 {
		o = w.objs[a.obj].name
	}
	if a.rec >= 0 {
		r = w.receps[a.rec].name
	}
	switch a.verb {
	case hvGo:
		return "You arrive at " + r + ". " + w.view(st, a.rec)
	case hvOpen:
		return "You open the " + r + ". " + w.view(st, a.rec)
	case hvClose:
		return "You close the " + r + "."
	case hvTake:
		return "You pick up the " + o + " from the " + r + "."
	case hvPut:
		return "You put the " + o + " in/on the " + r + "."
	case hvClean:
		return "You clean the " + o + " using the " + r + "."
	case hvHeat:
		return "You heat the " + o + " using the " + r + "."
	case hvCool:
		return "You cool the " + o + " using the " + r + "."
	case hvUse:
		if st.attr[a.obj]&aOn != 0 {
			return "You turn on the " + o + "."
		}
		return "You turn off the " + o + "."
	case hvLook:
		if st.loc < 0 {
			return "You are in the middle of a room."
		}
		return "You are facing the " + w.receps[st.loc].name + ". Next to it, you see nothing."
	default:
		if st.held >= 0 {
			return "You are carrying: a " + w.objs[st.held].name + "."
		}
		return "You are not carrying anything."
	}
}

// hhSolved reports whether st satisfies the goal.
func hhSolved(w *hhWorld, st *hhState) bool {
	switch w.family {
	case hhExamine:
		if st.held < 0 || w.objs[st.held].typ != w.goalType {
			return false
		}
		for _, l := range w.lamps {
			if st.pos[l] == st.loc && st.attr[l]&aOn != 0 {
				return true
			}
		}
		return false
	case hhTwo:
		for _, t := range w.targets {
			n := 0
			for _, o := range w.rel {
				if st.pos[o] == t {
					n++
				}
			}
			if n >= 2 {
				return true
			}
		}
		return false
	default:
		attr := familyAttr[w.family]
		for _, o := range w.rel {
			if st.attr[o]&attr == attr && st.pos[o] >= 0 && w.receps[st.pos[o]].typ == w.targetType {
				return true
			}
		}
		return false
	}
}

// key encodes st for StateKey.
func (w *hhWorld) key(st *hhState) []byte {
	b := make([]byte, 0, 4+2*len(w.objs))
	b = append(b, byte(st.loc), byte(st.held), byte(st.open), byte(st.open>>8))
	for o := range w.objs {
		b = append(b, byte(st.pos[o]), st.attr[o])
	}
	return b
}

// household is the Env of Household.
type household struct {
	task   Task
	w      *hhWorld
	st     hhState
	steps  int
	solved bool
	obs    string
	acts   []hhAct  // admissible actions of st, valid when cached
	texts  []string // their texts
	cached bool
	// seenAt[r] is the index of the last observation that described the
	// contents of receptacle r (observation 0 is Reset's, i the one after
	// step i), -1 if none did: what the observation history reveals
	// (household_reveal.go).
	seenAt [hhMaxRecep]int16
}

func (e *household) Name() string { return Household }

func (e *household) Reset(task Task) string {
	if task.hh == nil {
		panic(fmt.Sprintf("env: household.Reset with task %q of environment %q", task.ID, task.Env))
	}
	e.task, e.w, e.st = task, task.hh, task.hh.init
	e.steps, e.solved, e.cached = 0, hhSolved(task.hh, &task.hh.init), false
	e.obs = e.w.initialObs()
	for r := range e.seenAt {
		e.seenAt[r] = -1
	}
	return e.obs
}

func (e *household) cache() {
	if e.cached {
		return
	}
	e.acts = hhActs(e.w, &e.st, e.acts[:0])
	e.texts = e.texts[:0]
	for _, a := range e.acts {
		e.texts = append(e.texts, hhText(e.w, a))
	}
	e.cached = true
}

func (e *household) Step(action string) (string, float64, bool) {
	if e.w == nil {
		panic("env: household.Step before Reset")
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
		a := e.acts[i]
		hhApply(&e.st, a)
		e.cached = false
		e.obs = hhRender(e.w, &e.st, a)
		if (a.verb == hvGo || a.verb == hvOpen) && e.w.accessible(&e.st, a.rec) {
			e.seenAt[a.rec] = int16(e.steps)
		}
		if hhSolved(e.w, &e.st) {
			e.solved, reward = true, 1
		}
	}
	return e.obs, reward, e.Done()
}

func indexOf(xs []string, s string) int {
	for i, x := range xs {
		if x == s {
			return i
		}
	}
	return -1
}

func (e *household) Admissible() []string {
	if e.w == nil || e.Done() {
		return []string{}
	}
	e.cache()
	return append([]string(nil), e.texts...)
}

func (e *household) Goal() string        { return e.w.goal }
func (e *household) Observation() string { return e.obs }
func (e *household) StateKey() string    { return stateHash(e.task.ID, e.w.key(&e.st)) }
func (e *household) StepLimit() int      { return hhStepLimit }
func (e *household) Steps() int          { return e.steps }
func (e *household) Solved() bool        { return e.solved }
func (e *household) Failed() bool        { return false }
func (e *household) Done() bool          { return e.solved || e.steps >= hhStepLimit }
func (e *household) Task() Task          { return e.task }

func (e *household) Clone() Env {
	c := *e
	c.acts = append([]hhAct(nil), e.acts...)
	c.texts = append([]string(nil), e.texts...)
	return &c
}
