package env

import (
	"math/rand/v2"
	"testing"
)

// TestDemonstrationsSolve: for 1,000 seeds per environment and split, the
// oracle demonstration solves the task within the step limit, its length is
// the plan length of the initial state, and every action of it is judged
// good by a perfect judge.
func TestDemonstrationsSolve(t *testing.T) {
	for _, name := range Names() {
		for _, split := range Splits() {
			longest := 0
			for _, task := range allTasks(t, name, split, seedsPerSplit) {
				demo, err := Demonstration(task)
				if err != nil {
					t.Fatal(err)
				}
				e, _, _ := Start(task)
				plan := PlanLength(e)
				if len(demo) != plan || plan < 2 || plan > e.StepLimit() {
					t.Fatalf("%s: demonstration of %d steps, plan length %d, step limit %d", task.ID, len(demo), plan, e.StepLimit())
				}
				for i, a := range demo {
					if good, votes := (Judge{}).Verdict(e, a, nil); !good || votes != DefaultJudgments {
						t.Fatalf("%s step %d: judge says %v (%d votes) for oracle action %q", task.ID, i, good, votes, a)
					}
					if PlanLength(e) != plan-i {
						t.Fatalf("%s step %d: plan length %d, want %d", task.ID, i, PlanLength(e), plan-i)
					}
					_, r, done := e.Step(a)
					if (i == len(demo)-1) != (done && r == 1 && e.Solved()) {
						t.Fatalf("%s step %d: done %v reward %v", task.ID, i, done, r)
					}
				}
				longest = max(longest, len(demo))
			}
			t.Logf("%s %s: longest demonstration %d steps", name, split, longest)
		}
	}
}

// TestRandomPolicyRarelySucceeds: the uniform random policy solves few tasks
// (the README reports the rates measured by env stats).
func TestRandomPolicyRarelySucceeds(t *testing.T) {
	for _, name := range Names() {
		solved, n := 0, 0
		for _, split := range Splits() {
			for _, task := range allTasks(t, name, split, 150) {
				rng, _ := TrajectoryRNGs(task, 0)
				tr, err := Play(task, RandomPolicy{}, rng, PlayConfig{})
				if err != nil {
					t.Fatal(err)
				}
				if tr.Solved {
					solved++
				}
				n++
			}
		}
		if rate := float64(solved) / float64(n); rate > 0.1 {
			t.Errorf("%s: random policy solves %.1f%% of tasks", name, 100*rate)
		}
	}
}

// TestOracleAlwaysHasAnAction: along eps-mixture rollouts, every state from
// which the goal is reachable has at least one optimal action, each of which
// lowers the plan length by one; states without optimal actions are exactly
// the dead ends (lab: a wrong mixture or a failed focus).
func TestOracleAlwaysHasAnAction(t *testing.T) {
	for _, name := range Names() {
		for _, task := range allTasks(t, name, SplitTrain, 200) {
			rng := rand.New(rand.NewPCG(task.Seed, 9))
			e, _, _ := Start(task)
			for !e.Done() {
				d := PlanLength(e)
				opt := OptimalActions(e)
				if (d > 0) != (len(opt) > 0) {
					t.Fatalf("%s: plan length %d with optimal actions %q", task.ID, d, opt)
				}
				for _, a := range opt {
					c := e.Clone()
					c.Step(a)
					if PlanLength(c) != d-1 {
						t.Fatalf("%s: optimal %q leads to plan length %d from %d", task.ID, a, PlanLength(c), d)
					}
				}
				mask := OptimalMask(e, nil)
				k := 0
				for i, a := range e.Admissible() {
					if mask[i] {
						if opt[k] != a {
							t.Fatalf("%s: OptimalMask and OptimalActions disagree", task.ID)
						}
						k++
					}
				}
				e.Step(MixPolicy{Eps: 0.4}.Act(e, "", rng))
			}
			if e.Failed() && PlanLength(e) != -1 {
				t.Fatalf("%s: failed task with plan length %d", task.ID, PlanLength(e))
			}
		}
	}
}
