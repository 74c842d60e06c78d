package env

import (
	"fmt"
	"slices"
)

// planner is implemented by the bundled environments.
type planner interface {
	planLength() int
	optimal(dst []int) []int
}

// OptimalActions returns the admissible actions of e that lie on some
// shortest plan from the current state to the goal, in the order of
// Admissible(): exactly the actions a with PlanLength after a equal to
// PlanLength now minus one. It is empty when e is done or the goal cannot be
// reached any more (lab: a wrong mixture), and nil for an Env that is not one
// of the bundled environments. The planner is exact (see hhDist and
// labDist) and allocation-light: the trainer may call it on every step.
func OptimalActions(e Env) []string {
	p, ok := e.(planner)
	if !ok {
		return nil
	}
	idx := p.optimal(nil)
	if len(idx) == 0 {
		return []string{}
	}
	adm := e.Admissible()
	out := make([]string, len(idx))
	for k, i := range idx {
		out[k] = adm[i]
	}
	return out
}

// OptimalMask sets dst[i] to whether Admissible()[i] is optimal and returns
// dst, grown to the length of Admissible() (a nil dst is allocated). It is
// OptimalActions without building strings, for callers that hold the
// admissible list already.
func OptimalMask(e Env, dst []bool) []bool {
	n := len(e.Admissible())
	dst = append(dst[:0], make([]bool, n)...)
	if p, ok := e.(planner); ok {
		var buf [32]int
		for _, i := range p.optimal(buf[:0]) {
			dst[i] = true
		}
	}
	return dst
}

// IsOptimal reports whether the action text (after ParseAction) is one of
// OptimalActions(e).
func IsOptimal(e Env, action string) bool {
	a := ParseAction(action)
	for _, o := range OptimalActions(e) {
		if o == a {
			return true
		}
	}
	return false
}

// PlanLength is the number of steps of a shortest plan from the current
// state to the goal: 0 when solved, -1 when the goal cannot be reached (or e
// is not a bundled environment). It ignores the step limit.
func PlanLength(e Env) int {
	if p, ok := e.(planner); ok {
		return p.planLength()
	}
	return -1
}

// Demonstration is an optimal action sequence for task from its initial
// state: at every step the first optimal action in admissible order. Its
// length is the task's oracle plan length, and it solves the task. This is the
// cold-start data of DESIGN.md §4.
func Demonstration(task Task) ([]string, error) {
	e, _, err := Start(task)
	if err != nil {
		return nil, err
	}
	var acts []string
	for !e.Done() {
		opt := OptimalActions(e)
		if len(opt) == 0 {
			break
		}
		acts = append(acts, opt[0])
		e.Step(opt[0])
	}
	if !e.Solved() {
		return acts, fmt.Errorf("env: oracle demonstration of %s did not solve it in %d steps (internal error)", task.ID, e.Steps())
	}
	return acts, nil
}

// revealer is implemented by the bundled environments: the worlds their
// observations leave possible (household_reveal.go, lab_reveal.go).
type revealer interface {
	// alternatives calls f with the optimal set (indices into Admissible())
	// of each alternative world consistent with what the observations with
	// index >= from reveal (observation 0 is Reset's, i the one after step
	// i; from 0 means the whole history), until f returns false.
	alternatives(from int, f func(opt []int) bool)
}

// Blind reports whether the label of the current step of e cannot be told
// from what the observation history since Reset revealed: whether some world
// consistent with those observations has another optimal set than the true
// state (a blind search: the oracle goes to a place because of contents the
// agent never saw). It is false when e is done and for an Env that is not
// bundled.
//
// The consistent worlds considered are the true state with one hidden object
// moved to another hidden place where the generator could have put it
// (household: an object in a receptacle whose contents were never described,
// moved to another such receptacle of its spawn types; lab: an item in a room
// never described, moved to a fixture of another such room; lab
// measure_temperature before the reading: the other answer box). A flagged
// step is therefore truly non-identifiable; a step that is not flagged may
// still be in a richer family of worlds (more or fewer hidden objects, two
// objects moved), which this approximation does not enumerate. The household
// and lab doc comments of alternatives give the rules.
func Blind(e Env) bool { return blindFrom(e, 0) }

// BlindInPrompt is Blind relative to what Prompt(e, past, cfg) shows instead
// of the whole history: with cfg.Memory the prompt lists everything observed
// (BlindInPrompt equals Blind); without it only the last cfg.History
// observations, the current observation and the admissible actions reveal
// anything, so a place described earlier counts as hidden again.
func BlindInPrompt(e Env, cfg PromptConfig) bool {
	from := 0
	if !cfg.Memory {
		n := e.Steps()
		from = n - min(cfg.history(), n)
	}
	return blindFrom(e, from)
}

func blindFrom(e Env, from int) bool {
	r, ok := e.(revealer)
	if !ok || e.Done() {
		return false
	}
	var buf [32]int
	truth := e.(planner).optimal(buf[:0])
	blind := false
	r.alternatives(from, func(opt []int) bool {
		blind = !slices.Equal(opt, truth)
		return !blind
	})
	return blind
}

// RevealedOptimalActions returns the admissible actions of e, in the order of
// Admissible(), that lie on a shortest plan in some world consistent with
// what the observation history revealed: the union of OptimalActions over
// the true state and the alternative worlds of Blind. It contains
// OptimalActions(e) and equals it exactly when Blind(e) is false. It is the
// truth of a judge with LabelsRevealed: searching a place the agent has not
// seen is good when the hidden object could be there. Empty when e is done,
// nil for an Env that is not bundled.
func RevealedOptimalActions(e Env) []string {
	if _, ok := e.(planner); !ok {
		return nil
	}
	mask := revealedMask(e)
	adm := e.Admissible()
	out := []string{}
	for i, ok := range mask {
		if ok {
			out = append(out, adm[i])
		}
	}
	return out
}

// revealedMask is RevealedOptimalActions as a mask over Admissible().
func revealedMask(e Env) []bool {
	mask := OptimalMask(e, nil)
	if r, ok := e.(revealer); ok && !e.Done() {
		r.alternatives(0, func(opt []int) bool {
			for _, i := range opt {
				mask[i] = true
			}
			return true
		})
	}
	return mask
}

// IsRevealedOptimal reports whether the action text (after ParseAction) is
// one of RevealedOptimalActions(e).
func IsRevealedOptimal(e Env, action string) bool {
	a := ParseAction(action)
	for _, o := range RevealedOptimalActions(e) {
		if o == a {
			return true
		}
	}
	return false
}
