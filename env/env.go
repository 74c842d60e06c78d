package env

import (
	"fmt"
	"hash/fnv"
	"strconv"
)

// Names of the bundled environments.
const (
	Household = "household" // ALFWorld-like rooms of receptacles and objects
	Lab       = "lab"       // ScienceWorld-like rooms, devices and multi-stage procedures
)

// Names returns the names of the two bundled worlds. The bandit testbed
// (Bandit, bandit.go) is not among them: "every environment" (vocabulary
// unions, env stats) means these two; New, NewTask, ParseTaskID and Words
// take bandit names as well.
func Names() []string { return []string{Household, Lab} }

// Splits returns the task splits in their canonical order.
func Splits() []string { return []string{SplitTrain, SplitEvalIn, SplitEvalOut} }

// Split names (the same strings as trajlog.SplitTrain and friends).
const (
	SplitTrain   = "train"
	SplitEvalIn  = "eval-in"
	SplitEvalOut = "eval-out"
)

// Env is one text environment. An Env is not safe for concurrent use; Clone
// gives an independent copy (for planning or parallel rollouts).
type Env interface {
	// Name is the environment's name: Household or Lab.
	Name() string
	// Reset starts task from its initial state and returns the first
	// observation. It panics if task belongs to another environment (a
	// programmer error; Start picks the right environment).
	Reset(task Task) (obs string)
	// Step takes an action text. The text goes through ParseAction; if the
	// result is not one of Admissible(), the observation is "Nothing
	// happens." and the state is unchanged. Either way the step counts.
	// reward is 1 on the step that solves the task and 0 otherwise; done is
	// true once the task is solved, has failed (lab: focusing on the wrong
	// object) or StepLimit steps were taken. Stepping a done Env changes
	// nothing and returns ("Nothing happens.", 0, true).
	Step(action string) (obs string, reward float64, done bool)
	// Admissible returns the actions accepted in the current state, in a
	// fixed order, as a new slice. It is empty once the Env is done.
	Admissible() []string
	// Goal is the task text, e.g. "put a clean apple in fridge.".
	Goal() string
	// Observation is the last observation (the one Reset or Step returned).
	Observation() string
	// StateKey is a canonical key of the symbolic state (task and world
	// state, not the step count): equal states of one task have equal keys
	// across trajectories. It is 16 lowercase hex digits.
	StateKey() string
	// StepLimit is the number of steps after which an episode ends.
	StepLimit() int
	// Steps is the number of steps taken since Reset, valid or not.
	Steps() int
	// Solved reports whether the task is solved.
	Solved() bool
	// Failed reports whether the task failed irrevocably (lab only).
	Failed() bool
	// Done reports whether the episode is over (solved, failed or out of steps).
	Done() bool
	// Task is the task the Env was last Reset to.
	Task() Task
	// Clone returns an independent copy of the Env in its current state.
	Clone() Env
}

// New returns an Env of the named environment, not yet Reset: Household,
// Lab, one of their variants (WorldOptions; the Env's Name is the world's)
// or a bandit name (Bandit; its Name is the canonical spelling).
func New(name string) (Env, error) {
	if o, err := ParseWorld(name); err == nil {
		if o.World == Household {
			return &household{}, nil
		}
		return &lab{}, nil
	}
	if IsBandit(name) {
		o, err := ParseBandit(name)
		if err != nil {
			return nil, err
		}
		return &bandit{name: o.Name()}, nil
	}
	return nil, fmt.Errorf("%w %q (want %s or %s[-twin[-alias]], or %s[-kK][-fL][-dD][-alias])", ErrUnknownEnv, name, Household, Lab, Bandit)
}

// Start returns an Env Reset to task and its first observation. It fails for
// a Task that was not made by NewTask, Tasks or ParseTaskID.
func Start(task Task) (Env, string, error) {
	if task.hh == nil && task.lab == nil && task.bandit == nil {
		return nil, "", fmt.Errorf("env: starting task %q: %w", task.ID, ErrNoTask)
	}
	e, err := New(task.Env)
	if err != nil {
		return nil, "", err
	}
	return e, e.Reset(task), nil
}

// nothingHappens is the observation of an action that is not admissible.
const nothingHappens = "Nothing happens."

// stateHash is FNV-1a over a task ID and a state encoding, as 16 hex digits.
func stateHash(taskID string, state []byte) string {
	h := fnv.New64a()
	h.Write([]byte(taskID))
	h.Write([]byte{0})
	h.Write(state)
	s := strconv.FormatUint(h.Sum64(), 16)
	for len(s) < 16 {
		s = "0" + s
	}
	return s
}
