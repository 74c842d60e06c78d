package env

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Task is one task instance: a generated world, its initial state and a goal.
// A Task is a small immutable value; its world is shared by every Env that is
// Reset to it. Make one with NewTask, Tasks or ParseTaskID.
type Task struct {
	Env    string // Household or Lab
	Split  string // SplitTrain, SplitEvalIn or SplitEvalOut
	Seed   uint64 // the task seed within its split
	ID     string // "<env>/<split>/<seed>", parsed back by ParseTaskID
	Type   string // task family, e.g. "pick_clean_then_place_in_recep"
	Layout string // layout template the world was built from
	Goal   string // goal text
	// Shift is the shift type of an eval-out task (ShiftNames,
	// ShiftLayout or ShiftKnowledge; see Shifts), "" in train and eval-in.
	Shift string

	fp     uint64
	hh     *hhWorld
	lab    *labWorld
	bandit *banditWorld
}

// Fingerprint identifies the task instance by its content (layout, objects
// and their places, goal), as 16 hex digits: two tasks with equal
// fingerprints are the same instance whatever their seeds. Splits are
// disjoint in fingerprints.
func (t Task) Fingerprint() string {
	s := strconv.FormatUint(t.fp, 16)
	return strings.Repeat("0", 16-len(s)) + s
}

// evalInModulus splits the in-domain instances: an instance belongs to
// eval-in when its fingerprint is 0 modulo evalInModulus (a fifth of them),
// to train otherwise.
const evalInModulus = 5

// maxCandidates bounds the rejection loop of NewTask; the expected number of
// candidates is below 10 for every split.
const maxCandidates = 10000

// NewTask generates the task of env, split and seed. env is Household, Lab,
// one of their variants with twin tasks (WorldOptions: "household-twin",
// "lab-twin-alias", ...) or a bandit name (Bandit). Generation is
// deterministic (math/rand/v2 PCG seeded from seed, env and the split's
// domain; no global RNG) and the splits are disjoint by construction:
//
//   - train and eval-in are drawn from the same in-domain generator (seen
//     layouts, seen object/substance types) and partitioned by the instance
//     fingerprint: eval-in holds the instances whose fingerprint is 0 mod 5,
//     train the others. Candidates of the wrong part are rejected, so
//     eval-in is unseen instances of seen types and layouts.
//   - eval-out uses the out-of-domain generator of one shift type, seed mod
//     3 indexing Shifts(): held-out names (generated words in place of the
//     goal's object and receptacle, substance, plant, ... types), held-out
//     layouts (room templates or room graphs no train task has) or
//     knowledge (a fact no train task needs, stated in the goal). Task.Shift
//     says which; the README of this package lists exactly what differs.
//
// With the twin option train and eval-in come in twin pairs (seeds 2s and
// 2s+1, TwinSeed) drawn together and partitioned by the pair's
// fingerprint; eval-out is the eval-out of the world without options (the
// same world and goal, under the variant's name).
func NewTask(envName, split string, seed uint64) (Task, error) {
	if IsBandit(envName) {
		return newBanditTask(envName, split, seed) // bandit.go
	}
	o, err := ParseWorld(envName)
	if err != nil {
		return Task{}, err
	}
	if split != SplitTrain && split != SplitEvalIn && split != SplitEvalOut {
		return Task{}, fmt.Errorf("%w %q (want %s, %s or %s)", ErrUnknownSplit, split, SplitTrain, SplitEvalIn, SplitEvalOut)
	}
	name := o.Name()
	if o.Twin && split != SplitEvalOut {
		return newTwinTask(o, split, seed)
	}
	out := split == SplitEvalOut
	domain, shift := "in", ""
	if out {
		domain, shift = "out", shiftOfSeed(seed)
	}
	base := streamBase(o.World + "/" + domain)
	for k := uint64(0); k < maxCandidates; k++ {
		rng := rand.New(rand.NewPCG(seed, base+k*0x9e3779b97f4a7c15))
		t, ok := generate(o.World, rng, shift)
		if !ok {
			continue
		}
		if !out && (t.fp%evalInModulus == 0) != (split == SplitEvalIn) {
			continue
		}
		t.Env, t.Split, t.Seed, t.Shift = name, split, seed, shift
		t.ID = name + "/" + split + "/" + strconv.FormatUint(seed, 10)
		return t, nil
	}
	return Task{}, fmt.Errorf("env: no %s %s task for seed %d after %d candidates", name, split, seed, maxCandidates)
}

// generate draws one candidate task (without Env, Split, Seed, Shift and
// ID) of shift ("" for the in-domain generator).
func generate(world string, rng *rand.Rand, shift string) (Task, bool) {
	if world == Household {
		return hhGenerate(rng, shift)
	}
	return labGenerate(rng, shift)
}

// newTwinTask generates the task of seed in a twin pair of train or eval-in
// (o.Twin): the pair p = seed/2 is drawn from one PCG stream seeded from p
// and the variant's domain, and partitioned by the pair's fingerprint (0
// mod 5: eval-in), so twins are always in the same split; seed 2p takes
// the first twin, 2p+1 the second.
func newTwinTask(o WorldOptions, split string, seed uint64) (Task, error) {
	name := o.Name()
	base := streamBase(o.World + "-twin/in")
	pair, twin := seed/2, seed%2
	for k := uint64(0); k < maxCandidates; k++ {
		rng := rand.New(rand.NewPCG(pair, base+k*0x9e3779b97f4a7c15))
		var ts [2]Task
		var fp uint64
		var ok bool
		if o.World == Household {
			ts, fp, ok = hhGenerateTwins(rng, o.Alias)
		} else {
			ts, fp, ok = labGenerateTwins(rng, o.Alias)
		}
		if !ok || (fp%evalInModulus == 0) != (split == SplitEvalIn) {
			continue
		}
		t := ts[twin]
		t.Env, t.Split, t.Seed = name, split, seed
		t.ID = name + "/" + split + "/" + strconv.FormatUint(seed, 10)
		return t, nil
	}
	return Task{}, fmt.Errorf("env: no %s %s task for seed %d after %d candidates", name, split, seed, maxCandidates)
}

// Shift types of eval-out tasks (Task.Shift). Each eval-out task has
// exactly one; DESIGN.md §5: a shift no agent could infer from its inputs
// is not an out-of-domain task, so what a knowledge task needs is stated in
// its goal.
const (
	// ShiftNames: the in-domain generator's world, with the goal's object
	// and receptacle (household) or its substance, measured object, plant
	// or load (lab) renamed to held-out generated words (64 per role).
	ShiftNames = "names"
	// ShiftLayout: held-out room templates (household: bathroom, studio,
	// office, with new receptacle types) or room graphs of seen rooms and
	// fixtures (lab: loop, line), with seen object and substance types.
	ShiftLayout = "layout"
	// ShiftKnowledge: a task that needs a fact no train task gives, stated
	// in the goal: a device of a new type does the family's work
	// (household: "The stoveburner heats like a microwave."; lab: the
	// furnace of the foundry), the answer boxes are outside (lab ring),
	// or the recipe of a paint no train task mixes.
	ShiftKnowledge = "knowledge"
)

// Shifts returns the shift types in their canonical order: eval-out seed s
// has shift type Shifts()[s mod 3].
func Shifts() []string { return []string{ShiftNames, ShiftLayout, ShiftKnowledge} }

// shiftOfSeed is the shift type of eval-out seed s.
func shiftOfSeed(s uint64) string { return Shifts()[s%3] }

// WorldOptions are the options of a household or lab world, spelled in its
// name like the bandit's: "household", "household-twin",
// "household-twin-alias" (and the same for lab).
//
// With Twin, seeds 2s and 2s+1 of train and eval-in are twins (TwinSeed):
// the same world, layout, objects and goal phrasing, and goals that differ
// in one cue token that changes the correct action at one decision state.
// Household (pick, clean, heat, cool and pick-two families): the target
// receptacle type ("put a mug in shelf." / "put a mug in desk."), two types
// of the same openness, neither of which holds a goal object at the start,
// so both targets are at equal plan distance and every state before the
// goal object is ready (held, cleaned, heated or cooled) has the same
// optimal actions in both twins; at that decision state one twin goes to a
// shelf, the other to the desk. Lab (measure_temperature only): the
// threshold ("If it is above 15 degrees celsius" / "above 45"), one below
// and one above the measured temperature, so after the reading, in the
// room of the two answer boxes, one twin focuses on the red box and the
// other on the blue box (both one action away).
//
// With Alias (only with Twin) the cue token is replaced by "omega" (the
// bandit's alias word) in both twins: their prompts are identical while
// their correct actions at the decision state differ (the negative
// control). A household agent that puts the object in the wrong receptacle
// can still take it back and try the other, so success is not capped; a lab
// agent that focuses on the wrong box fails.
type WorldOptions struct {
	World string // Household or Lab
	Twin  bool   // train and eval-in in twin pairs
	Alias bool   // with Twin: the cue word hidden
}

// Name is the canonical name: the world, then "-twin", then "-alias".
func (o WorldOptions) Name() string {
	s := o.World
	if o.Twin {
		s += "-twin"
	}
	if o.Alias {
		s += "-alias"
	}
	return s
}

// ParseWorld reads a household or lab name with its options:
// WORLD[-twin[-alias]]. Other names are an error wrapping ErrUnknownEnv.
func ParseWorld(name string) (WorldOptions, error) {
	for _, w := range Names() {
		for _, o := range []WorldOptions{{w, false, false}, {w, true, false}, {w, true, true}} {
			if name == o.Name() {
				return o, nil
			}
		}
	}
	return WorldOptions{}, fmt.Errorf("%w %q (want %s or %s, each optionally with -twin or -twin-alias, or %s[-kK][-fL][-dD][-alias])",
		ErrUnknownEnv, name, Household, Lab, Bandit)
}

// Tasks returns the n tasks of env and split with seeds seed, seed+1, ...,
// seed+n-1.
func Tasks(envName, split string, seed uint64, n int) ([]Task, error) {
	tasks := make([]Task, 0, max(n, 0))
	for i := 0; i < n; i++ {
		t, err := NewTask(envName, split, seed+uint64(i))
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, t)
	}
	return tasks, nil
}

// ParseTaskID regenerates the task of an ID made by NewTask
// ("household/eval-out/7").
func ParseTaskID(id string) (Task, error) {
	parts := strings.Split(id, "/")
	if len(parts) != 3 {
		return Task{}, fmt.Errorf("%w %q: want ENV/SPLIT/SEED", ErrBadTaskID, id)
	}
	seed, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return Task{}, fmt.Errorf("%w %q: seed %q is not an unsigned integer", ErrBadTaskID, id, parts[2])
	}
	return NewTask(parts[0], parts[1], seed)
}

// streamBase hashes a domain name into a PCG stream base.
func streamBase(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// fingerprint hashes the canonical description of an instance.
func fingerprint(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// pick returns a uniformly chosen element of xs (which must not be empty).
func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// between returns a uniform integer in [lo, hi].
func between(rng *rand.Rand, lo, hi int) int { return lo + rng.IntN(hi-lo+1) }
