package env

import "fmt"

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
