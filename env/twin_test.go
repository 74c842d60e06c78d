package env

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// twinPairsPerSplit is the number of twin pairs per split the twin tests
// walk.
const twinPairsPerSplit = 200

// tokenDiff returns the positions at which the token sequences of a and b
// differ, or nil and false when their lengths differ.
func tokenDiff(a, b string) ([]int, bool) {
	ta, tb := Tokens(a), Tokens(b)
	if len(ta) != len(tb) {
		return nil, false
	}
	var at []int
	for i := range ta {
		if ta[i] != tb[i] {
			at = append(at, i)
		}
	}
	return at, true
}

// decision plays the demonstration of twin a on both twins, action by
// action, while their optimal sets are equal, and returns the two Envs and
// the shared history at the first state whose optimal sets differ (the
// decision state), with the steps taken; ok is false if there is none.
func decision(t *testing.T, a, b Task) (ea, eb Env, past []Turn, ok bool) {
	t.Helper()
	demo, err := Demonstration(a)
	if err != nil {
		t.Fatal(err)
	}
	ea, eb = start(t, a), start(t, b)
	for _, act := range demo {
		if !slices.Equal(ea.Admissible(), eb.Admissible()) || ea.Observation() != eb.Observation() {
			t.Fatalf("%s, %s: the twins' observations or admissible actions differ before the decision", a.ID, b.ID)
		}
		if !slices.Equal(OptimalActions(ea), OptimalActions(eb)) {
			return ea, eb, past, true
		}
		past = append(past, Turn{Observation: ea.Observation(), Action: act})
		ea.Step(act)
		eb.Step(act)
	}
	return ea, eb, past, false
}

// TestTwins: for 200 pairs per split of household-twin and lab-twin, seeds
// 2p and 2p+1 share layout, family, first observation and admissible
// actions; their goals differ in exactly one token, the cue; the plan
// lengths from the start are equal; playing twin 2p's demonstration on both,
// the optimal sets are equal until a decision state, where the prompts
// differ in the cue token only, the plan lengths are equal and the optimal
// sets are disjoint (household: go to a receptacle of one target type or of
// the other; lab: focus on the red box or on the blue box).
func TestTwins(t *testing.T) {
	for _, name := range []string{Household + "-twin", Lab + "-twin"} {
		for _, split := range []string{SplitTrain, SplitEvalIn} {
			for p := uint64(0); p < twinPairsPerSplit; p++ {
				a, err := NewTask(name, split, 2*p)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := NewTask(name, split, TwinSeed(2*p))
				if a.Layout != b.Layout || a.Type != b.Type || b.Seed != 2*p+1 {
					t.Fatalf("%s, %s: layouts %s, %s, families %s, %s", a.ID, b.ID, a.Layout, b.Layout, a.Type, b.Type)
				}
				if at, ok := tokenDiff(a.Goal, b.Goal); !ok || len(at) != 1 {
					t.Fatalf("%s, %s: goals %q and %q do not differ in exactly one token", a.ID, b.ID, a.Goal, b.Goal)
				}
				ea, eb, past, ok := decision(t, a, b)
				if PlanLength(start(t, a)) != PlanLength(start(t, b)) {
					t.Fatalf("%s, %s: plan lengths from the start differ", a.ID, b.ID)
				}
				if !ok {
					t.Fatalf("%s, %s: no decision state on the demonstration", a.ID, b.ID)
				}
				pa, pb := Prompt(ea, past, PromptConfig{}), Prompt(eb, past, PromptConfig{})
				if at, ok := tokenDiff(pa, pb); !ok || len(at) != 1 {
					t.Fatalf("%s, %s: decision prompts differ at %v, want one token:\n%s\n%s", a.ID, b.ID, at, pa, pb)
				}
				oa, ob := OptimalActions(ea), OptimalActions(eb)
				if len(oa) == 0 || len(ob) == 0 || slices.ContainsFunc(oa, func(x string) bool { return slices.Contains(ob, x) }) {
					t.Fatalf("%s, %s: optimal sets at the decision %q and %q are not disjoint", a.ID, b.ID, oa, ob)
				}
				if PlanLength(ea) != PlanLength(eb) {
					t.Fatalf("%s, %s: plan lengths at the decision %d and %d", a.ID, b.ID, PlanLength(ea), PlanLength(eb))
				}
				for _, o := range [][]string{oa, ob} {
					for _, x := range o {
						want := strings.HasPrefix(x, "go to ")
						if name == Lab+"-twin" {
							want = x == "focus on red box" || x == "focus on blue box"
						}
						if !want {
							t.Fatalf("%s, %s: optimal action %q at the decision", a.ID, b.ID, x)
						}
					}
				}
			}
		}
	}
}

// TestTwinAlias: the alias variant has the same pairs in the same splits,
// with the same worlds and demonstrations; the cue word of the goal is
// "omega" in both twins, so their goals and decision prompts are equal
// while their optimal sets at the decision differ.
func TestTwinAlias(t *testing.T) {
	for _, w := range Names() {
		for _, split := range []string{SplitTrain, SplitEvalIn} {
			for p := uint64(0); p < twinPairsPerSplit/2; p++ {
				var alias [2]Task
				for k := range uint64(2) {
					plain, err := NewTask(w+"-twin", split, 2*p+k)
					if err != nil {
						t.Fatal(err)
					}
					al, err := NewTask(w+"-twin-alias", split, 2*p+k)
					if err != nil {
						t.Fatal(err)
					}
					at, ok := tokenDiff(plain.Goal, al.Goal)
					if !ok || len(at) != 1 || Tokens(al.Goal)[at[0]] != banditAlias {
						t.Fatalf("%s: alias goal %q of %q", al.ID, al.Goal, plain.Goal)
					}
					dp, _ := Demonstration(plain)
					da, _ := Demonstration(al)
					_, op, _ := Start(plain)
					_, oa, _ := Start(al)
					if !slices.Equal(dp, da) || op != oa || plain.Layout != al.Layout || plain.Fingerprint() == al.Fingerprint() {
						t.Fatalf("%s: the alias world differs from %s's", al.ID, plain.ID)
					}
					alias[k] = al
				}
				if alias[0].Goal != alias[1].Goal || alias[0].Fingerprint() == alias[1].Fingerprint() {
					t.Fatalf("%s: alias twins' goals %q, %q", alias[0].ID, alias[0].Goal, alias[1].Goal)
				}
				ea, eb, past, ok := decision(t, alias[0], alias[1])
				if !ok || Prompt(ea, past, PromptConfig{}) != Prompt(eb, past, PromptConfig{}) {
					t.Fatalf("%s: no decision, or the alias twins' decision prompts differ", alias[0].ID)
				}
			}
		}
	}
}

// TestTwinSplits: over 1,000 seeds per split, no instance is in both train
// and eval-in (twins are always in the same split: a pair is drawn and
// partitioned as a whole), train and eval-in tasks have no shift, and
// eval-out of a twin variant is the eval-out task of the world without
// options, under the variant's name.
func TestTwinSplits(t *testing.T) {
	for _, name := range []string{Household + "-twin", Lab + "-twin-alias"} {
		owner := map[string]string{}
		for _, split := range []string{SplitTrain, SplitEvalIn} {
			for _, task := range allTasks(t, name, split, seedsPerSplit) {
				fp := task.Fingerprint()
				if o, ok := owner[fp]; ok && o != split {
					t.Fatalf("%s: instance %s is in %s and %s", task.ID, fp, o, split)
				}
				owner[fp] = split
				if task.Shift != "" {
					t.Fatalf("%s: shift %q", task.ID, task.Shift)
				}
			}
		}
		w, _ := ParseWorld(name)
		for seed := uint64(0); seed < 30; seed++ {
			a, _ := NewTask(name, SplitEvalOut, seed)
			b, _ := NewTask(w.World, SplitEvalOut, seed)
			if a.Goal != b.Goal || a.Fingerprint() != b.Fingerprint() || a.Shift != b.Shift || a.ID != name+"/eval-out/"+strconv.FormatUint(seed, 10) {
				t.Fatalf("%s differs from %s", a.ID, b.ID)
			}
		}
	}
}

// TestWorldOptions: names with options parse and print back, wrong ones are
// refused; every variant has the world's Env name, vocabulary and prompt
// header; only twin variants have twins.
func TestWorldOptions(t *testing.T) {
	for _, name := range variantNames() {
		o, err := ParseWorld(name)
		if err != nil || o.Name() != name {
			t.Fatalf("ParseWorld(%q) = %+v, %v", name, o, err)
		}
		if c, err := CanonicalName(name); err != nil || c != name {
			t.Errorf("CanonicalName(%q) = %q, %v", name, c, err)
		}
		if HasTwins(name) != o.Twin {
			t.Errorf("HasTwins(%q) = %v", name, HasTwins(name))
		}
		e, err := New(name)
		if err != nil || e.Name() != o.World {
			t.Errorf("New(%q): %v, %v", name, e, err)
		}
		if !slices.Equal(Words(name), Words(o.World)) {
			t.Errorf("Words(%q) is not Words(%q)", name, o.World)
		}
		task, err := NewTask(name, SplitTrain, 3)
		if err != nil || task.Env != name || !strings.HasPrefix(task.ID, name+"/train/") {
			t.Fatalf("NewTask(%q): %+v, %v", name, task, err)
		}
		e, obs, err := Start(task)
		if err != nil || obs == "" || !strings.HasPrefix(Prompt(e, nil, PromptConfig{}), promptHeaders[o.World]) {
			t.Errorf("Start(%s): %v", task.ID, err)
		}
	}
	for _, bad := range []string{"household-alias", "household-twin-twin", "lab-alias-twin", "householdtwin", "lab-twin-", "lab-", "Household-twin", "kitchen-twin"} {
		if _, err := ParseWorld(bad); !errors.Is(err, ErrUnknownEnv) {
			t.Errorf("ParseWorld(%q): %v", bad, err)
		}
		if _, err := NewTask(bad, SplitTrain, 0); !errors.Is(err, ErrUnknownEnv) {
			t.Errorf("NewTask(%q): %v", bad, err)
		}
		if _, err := CanonicalName(bad); err == nil {
			t.Errorf("CanonicalName(%q) accepted", bad)
		}
		if Words(bad) != nil || HasTwins(bad) {
			t.Errorf("%q has words or twins", bad)
		}
	}
}
