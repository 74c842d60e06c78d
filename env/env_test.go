package env

import (
	"slices"
	"strings"
	"testing"
)

// findTask returns the first train task of a family.
func findTask(t *testing.T, name, family string) Task {
	t.Helper()
	for seed := uint64(0); seed < 500; seed++ {
		task, err := NewTask(name, SplitTrain, seed)
		if err != nil {
			t.Fatal(err)
		}
		if task.Type == family {
			return task
		}
	}
	t.Fatalf("no %s task of family %s", name, family)
	return Task{}
}

func start(t *testing.T, task Task) Env {
	t.Helper()
	e, _, err := Start(task)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestEnvContract checks the Env contract on both environments: invalid
// text costs a step and changes nothing, admissible actions are fixed
// points of ParseAction, the state key depends on the state only, Clone is
// independent, the step limit ends the episode, and a done Env ignores steps.
func TestEnvContract(t *testing.T) {
	for _, name := range Names() {
		task := allTasks(t, name, SplitTrain, 1)[0]
		e := start(t, task)
		if e.Name() != name || e.Task().ID != task.ID || e.Goal() != task.Goal || e.Steps() != 0 || e.Done() {
			t.Fatalf("%s: fresh env %v %v %v", name, e.Name(), e.Steps(), e.Done())
		}
		key := e.StateKey()
		if len(key) != 16 {
			t.Fatalf("state key %q", key)
		}
		for _, a := range e.Admissible() {
			if ParseAction(a) != a {
				t.Errorf("%s: admissible %q is not canonical", name, a)
			}
		}
		for _, bad := range []string{"", "fly to the moon", "go to", "take everything", "<action>dance</action>"} {
			o, r, done := e.Step(bad)
			if o != nothingHappens || r != 0 || done || e.StateKey() != key {
				t.Fatalf("%s: %q gave %q %v %v", name, bad, o, r, done)
			}
		}
		if e.Steps() != 5 || e.Observation() != nothingHappens {
			t.Fatalf("%s: invalid actions counted %d steps, want 5", name, e.Steps())
		}
		// Case, spaces, a trailing period and tags do not matter.
		a := e.Admissible()[0]
		c := e.Clone()
		o1, _, _ := c.Step("  <think>hm</think><action>" + strings.ToUpper(a) + ". </action>")
		if o1 == nothingHappens {
			t.Fatalf("%s: wrapped %q not accepted", name, a)
		}
		if e.StateKey() != key || e.Observation() != nothingHappens || e.Steps() != 5 {
			t.Fatalf("%s: stepping a clone changed the original", name)
		}
		if c.StateKey() == key {
			t.Fatalf("%s: %q did not change the state key", name, a)
		}
		// Another environment of the same task in the same state has the same key.
		f := start(t, task)
		if f.StateKey() != key {
			t.Fatalf("%s: state key depends on the step count", name)
		}
		for !e.Done() {
			e.Step("look")
		}
		if e.Steps() != e.StepLimit() || e.Solved() || len(e.Admissible()) != 0 {
			t.Fatalf("%s: episode ended after %d steps (limit %d), solved %v", name, e.Steps(), e.StepLimit(), e.Solved())
		}
		if o, r, done := e.Step(a); o != nothingHappens || r != 0 || !done || e.Steps() != e.StepLimit() {
			t.Fatalf("%s: step after done: %q %v %v", name, o, r, done)
		}
	}
}

func TestResetWrongEnvPanics(t *testing.T) {
	lt := allTasks(t, Lab, SplitTrain, 1)[0]
	defer func() {
		if recover() == nil {
			t.Error("household.Reset with a lab task did not panic")
		}
	}()
	(&household{}).Reset(lt)
}

// play steps e through actions, failing on any that is not admissible.
func play(t *testing.T, e Env, actions ...string) string {
	t.Helper()
	var obs string
	for _, a := range actions {
		if !slices.Contains(e.Admissible(), a) {
			t.Fatalf("%q not admissible in %q", a, e.Admissible())
		}
		obs, _, _ = e.Step(a)
	}
	return obs
}

// TestHouseholdMechanics follows a clean task by hand and checks the
// ALFWorld phrasing of observations.
func TestHouseholdMechanics(t *testing.T) {
	task := findTask(t, Household, "pick_clean_then_place_in_recep")
	e := start(t, task)
	w := e.(*household).w
	if !strings.HasPrefix(e.Observation(), "You are in the middle of a room. Looking quickly around you, you see a ") {
		t.Fatalf("first observation %q", e.Observation())
	}
	if got := play(t, e, "look"); got != "You are in the middle of a room." {
		t.Errorf("look: %q", got)
	}
	o := w.rel[0]
	at := w.receps[w.init.pos[o]]
	obj := w.objs[o].name
	got := play(t, e, "go to "+at.name)
	if at.openable {
		if got != "You arrive at "+at.name+". The "+at.name+" is closed." {
			t.Errorf("arrive: %q", got)
		}
		got = play(t, e, "open "+at.name)
		if !strings.HasPrefix(got, "You open the "+at.name+". The "+at.name+" is open. In it, you see ") {
			t.Errorf("open: %q", got)
		}
	} else if !strings.HasPrefix(got, "You arrive at "+at.name+". On the "+at.name+", you see ") {
		t.Errorf("arrive: %q", got)
	}
	if !strings.Contains(got, "a "+obj) {
		t.Errorf("%q does not list %s", got, obj)
	}
	if got := play(t, e, "take "+obj+" from "+at.name); got != "You pick up the "+obj+" from the "+at.name+"." {
		t.Errorf("take: %q", got)
	}
	if got := play(t, e, "inventory"); got != "You are carrying: a "+obj+"." {
		t.Errorf("inventory: %q", got)
	}
	sink := w.receps[w.devices[0]].name
	play(t, e, "go to "+sink)
	if got := play(t, e, "clean "+obj+" with "+sink); got != "You clean the "+obj+" using the "+sink+"." {
		t.Errorf("clean: %q", got)
	}
	if got := play(t, e, "look"); got != "You are facing the "+sink+". Next to it, you see nothing." {
		t.Errorf("look: %q", got)
	}
	target := w.receps[w.targets[0]]
	play(t, e, "go to "+target.name)
	if target.openable {
		play(t, e, "open "+target.name)
	}
	got, r, done := e.Step("put " + obj + " in/on " + target.name)
	if got != "You put the "+obj+" in/on the "+target.name+"." || r != 1 || !done || !e.Solved() {
		t.Errorf("put: %q reward %v done %v", got, r, done)
	}
}

// TestHouseholdLamp checks the desklamp of an examine task.
func TestHouseholdLamp(t *testing.T) {
	task := findTask(t, Household, "look_at_obj_in_light")
	e := start(t, task)
	w := e.(*household).w
	lamp := w.objs[w.lamps[0]].name
	desk := w.receps[w.init.pos[w.lamps[0]]].name
	play(t, e, "go to "+desk)
	if got := play(t, e, "use "+lamp); got != "You turn on the "+lamp+"." {
		t.Errorf("use: %q", got)
	}
	if got := play(t, e, "use "+lamp); got != "You turn off the "+lamp+"." {
		t.Errorf("use again: %q", got)
	}
	if slices.Contains(e.Admissible(), "take "+lamp+" from "+desk) {
		t.Error("the lamp can be taken")
	}
}

// TestLabFocusFails: focusing on the wrong object ends the episode with a
// failure and no reward.
func TestLabFocusFails(t *testing.T) {
	task := findTask(t, Lab, "power_component")
	e := start(t, task)
	w := e.(*lab).w
	bench := w.fixtures[w.bench].room
	for e.(*lab).st.room != bench {
		e.Step(OptimalActions(e)[0])
	}
	var wrong string
	for _, a := range e.Admissible() {
		if strings.HasPrefix(a, "focus on ") && !IsOptimal(e, a) {
			wrong = a
		}
	}
	got, r, done := e.Step(wrong)
	if !strings.HasSuffix(got, "That is the wrong object, and the task has failed.") || r != 0 || !done || !e.Failed() || PlanLength(e) != -1 {
		t.Fatalf("%q: %q %v %v", wrong, got, r, done)
	}
	if len(OptimalActions(e)) != 0 {
		t.Fatal("optimal actions after failure")
	}
}

// TestLabMechanics drives the rarer paths: a substance that boils and then
// condenses in the freezer, a brown mixture (a dead end), wires that light
// and unlight a bulb.
func TestLabMechanics(t *testing.T) {
	// Boil, then condense.
	for seed := uint64(0); seed < 2000; seed++ {
		task, _ := NewTask(Lab, SplitTrain, seed)
		if task.Type != "change_state" || !strings.HasPrefix(task.Goal, "melt") {
			continue
		}
		e := start(t, task)
		w := e.(*lab).w
		s := w.name(&e.(*lab).st, w.subject)
		goTo(t, e, w.roomOf(&w.init, w.subject))
		play(t, e, "pick up "+s)
		goTo(t, e, w.fixtures[w.heater].room)
		heater := w.fixtures[w.heater].name
		play(t, e, "move "+s+" to "+heater, "activate "+heater)
		if got := play(t, e, "wait"); got != "You wait. The "+s+" melts." {
			t.Fatalf("wait: %q", got)
		}
		if got := play(t, e, "wait"); got != "You wait. The "+s+" boils." {
			t.Fatalf("wait: %q", got)
		}
		if got := play(t, e, "look around"); !strings.Contains(got, "gaseous "+s) {
			t.Fatalf("look: %q", got)
		}
		play(t, e, "pick up "+s)
		goTo(t, e, w.fixtures[w.freezer].room)
		play(t, e, "move "+s+" to freezer")
		if got := play(t, e, "wait"); got != "You wait. The "+s+" condenses." {
			t.Fatalf("wait: %q", got)
		}
		if d := PlanLength(e); d != 1 {
			t.Fatalf("liquid, unfocused: plan length %d, want 1 (focus)", d)
		}
		break
	}
	// A brown mixture.
	task := findTask(t, Lab, "mix_paint")
	e := start(t, task)
	w := e.(*lab).w
	var paints []string
	for i, it := range w.items {
		if it.kind == ikPaint {
			goTo(t, e, w.roomOf(&w.init, int8(i)))
			n := w.name(&w.init, int8(i))
			play(t, e, "pick up "+n)
			paints = append(paints, n)
		}
	}
	goTo(t, e, w.fixtures[w.bowl].room)
	for _, n := range paints {
		play(t, e, "move "+n+" to bowl")
	}
	if got := play(t, e, "mix bowl"); got != "You mix the bowl. It now holds brown paint." {
		t.Fatalf("mix: %q", got)
	}
	if PlanLength(e) != -1 || len(OptimalActions(e)) != 0 {
		t.Fatal("a brown mixture is not a dead end")
	}
	// A bulb lights and goes out.
	task = findTask(t, Lab, "power_component")
	e = start(t, task)
	w = e.(*lab).w
	goTo(t, e, w.fixtures[w.bench].room)
	wire, bulb := w.items[w.wires[0]].name, w.items[w.subject].name
	play(t, e, "connect "+wire+" to battery")
	if got := play(t, e, "connect "+wire+" to "+bulb); got != "You connect the "+wire+" to the "+bulb+". The "+bulb+" turns on." {
		t.Fatalf("connect: %q", got)
	}
	if got := play(t, e, "disconnect "+wire); got != "You disconnect the "+wire+". The "+bulb+" turns off." {
		t.Fatalf("disconnect: %q", got)
	}
}

// goTo walks e to room r along admissible "go to" actions.
func goTo(t *testing.T, e Env, r int8) {
	t.Helper()
	l := e.(*lab)
	for l.st.room != r {
		next := int8(-1)
		for _, x := range l.w.adj[l.st.room] {
			if l.w.d(x, r) < l.w.d(l.st.room, r) {
				next = x
			}
		}
		play(t, e, "go to "+l.w.rooms[next])
	}
}
