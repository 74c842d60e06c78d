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

// NewTask generates the task of env, split and seed. Generation is
// deterministic (math/rand/v2 PCG seeded from seed, env and the split's
// domain; no global RNG) and the splits are disjoint by construction:
//
//   - train and eval-in are drawn from the same in-domain generator (seen
//     layouts, seen object/substance types) and partitioned by the instance
//     fingerprint: eval-in holds the instances whose fingerprint is 0 mod 5,
//     train the others. Candidates of the wrong part are rejected, so
//     eval-in is unseen instances of seen types and layouts.
//   - eval-out uses the out-of-domain generator: held-out layouts and
//     held-out goal object, substance, plant, colour or component types that
//     no train or eval-in task contains (see the README of this package).
func NewTask(envName, split string, seed uint64) (Task, error) {
	if IsBandit(envName) {
		return newBanditTask(envName, split, seed) // bandit.go
	}
	if envName != Household && envName != Lab {
		return Task{}, fmt.Errorf("%w %q (want %s or %s)", ErrUnknownEnv, envName, Household, Lab)
	}
	if split != SplitTrain && split != SplitEvalIn && split != SplitEvalOut {
		return Task{}, fmt.Errorf("%w %q (want %s, %s or %s)", ErrUnknownSplit, split, SplitTrain, SplitEvalIn, SplitEvalOut)
	}
	out := split == SplitEvalOut
	domain := "in"
	if out {
		domain = "out"
	}
	base := streamBase(envName + "/" + domain)
	for k := uint64(0); k < maxCandidates; k++ {
		rng := rand.New(rand.NewPCG(seed, base+k*0x9e3779b97f4a7c15))
		t, ok := generate(envName, rng, out)
		if !ok {
			continue
		}
		if !out && (t.fp%evalInModulus == 0) != (split == SplitEvalIn) {
			continue
		}
		t.Env, t.Split, t.Seed = envName, split, seed
		t.ID = envName + "/" + split + "/" + strconv.FormatUint(seed, 10)
		return t, nil
	}
	return Task{}, fmt.Errorf("env: no %s %s task for seed %d after %d candidates", envName, split, seed, maxCandidates)
}

// generate draws one candidate task (without Env, Split, Seed and ID).
func generate(envName string, rng *rand.Rand, out bool) (Task, bool) {
	if envName == Household {
		return hhGenerate(rng, out)
	}
	return labGenerate(rng, out)
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
