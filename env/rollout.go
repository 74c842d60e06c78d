package env

import (
	"fmt"
	"math/rand/v2"
)

// Policy chooses the next action of an episode.
type Policy interface {
	// Act returns an action text for the current state of e, whose actor
	// prompt is prompt. It must not change e.
	Act(e Env, prompt string, rng *rand.Rand) string
}

// OraclePolicy takes a uniformly random optimal action (OptimalActions); where
// there is none (a dead end) it takes a random admissible action.
type OraclePolicy struct{}

func (OraclePolicy) Act(e Env, _ string, rng *rand.Rand) string {
	if opt := OptimalActions(e); len(opt) > 0 {
		return opt[rng.IntN(len(opt))]
	}
	return RandomPolicy{}.Act(e, "", rng)
}

// RandomPolicy takes a uniformly random admissible action.
type RandomPolicy struct{}

func (RandomPolicy) Act(e Env, _ string, rng *rand.Rand) string {
	adm := e.Admissible()
	if len(adm) == 0 {
		return "look"
	}
	return adm[rng.IntN(len(adm))]
}

// MixPolicy is the eps-mixture: with probability Eps a random admissible
// action, otherwise the oracle's. Eps 0 is the oracle, 1 the random policy.
type MixPolicy struct{ Eps float64 }

func (m MixPolicy) Act(e Env, prompt string, rng *rand.Rand) string {
	if rng.Float64() < m.Eps {
		return RandomPolicy{}.Act(e, prompt, rng)
	}
	return OraclePolicy{}.Act(e, prompt, rng)
}

// NewPolicy returns the policy named "oracle", "random" or "mix" (with eps).
func NewPolicy(name string, eps float64) (Policy, error) {
	switch name {
	case "oracle":
		return OraclePolicy{}, nil
	case "random":
		return RandomPolicy{}, nil
	case "mix":
		if !(eps >= 0 && eps <= 1) {
			return nil, fmt.Errorf("env: mix policy eps %v is not in [0, 1]", eps)
		}
		return MixPolicy{Eps: eps}, nil
	}
	return nil, fmt.Errorf("env: unknown policy %q (want oracle, random or mix)", name)
}

// Step is one step of a played trajectory.
type Step struct {
	Turn        int
	StateKey    string  // state before the action
	Prompt      string  // the actor prompt before the action
	Action      string  // the action as ParseAction returned it
	Valid       bool    // the action was admissible
	Admissible  int     // number of admissible actions
	Optimal     bool    // the action was optimal (ground truth of the judge)
	Good        bool    // the judge's verdict (PlayConfig.Judge)
	Excluded    bool    // the judge leaves the step unlabelled (Judge.Excludes)
	Votes       int     // judgments that said good
	Observation string  // observation after the action
	Reward      float64 // step reward
}

// Trajectory is a played episode.
type Trajectory struct {
	Task   Task
	Steps  []Step
	Solved bool
	Failed bool
	Return float64 // sum of step rewards: 1 when solved
}

// PlayConfig configures Play. The zero value uses the default prompt and a
// perfect judge.
type PlayConfig struct {
	Prompt PromptConfig
	Judge  Judge
	// JudgeRNG draws the judge's noise; it may be nil when Judge.Eps is 0.
	// A separate stream keeps the trajectory independent of the judge.
	JudgeRNG *rand.Rand
}

// Play runs policy p on task from its initial state until the episode is
// done, judging every action before it is taken.
func Play(task Task, p Policy, rng *rand.Rand, cfg PlayConfig) (Trajectory, error) {
	e, _, err := Start(task)
	if err != nil {
		return Trajectory{}, err
	}
	tr := Trajectory{Task: task}
	var past []Turn
	for !e.Done() {
		prompt := Prompt(e, past, cfg.Prompt)
		action := ParseAction(p.Act(e, prompt, rng))
		st := Step{Turn: e.Steps(), StateKey: e.StateKey(), Prompt: prompt, Action: action}
		adm := e.Admissible()
		st.Valid, st.Admissible = indexOf(adm, action) >= 0, len(adm)
		st.Optimal = IsOptimal(e, action)
		st.Excluded = cfg.Judge.Excludes(e)
		st.Good, st.Votes = cfg.Judge.Verdict(e, action, cfg.JudgeRNG)
		past = append(past, Turn{Observation: e.Observation(), Action: action})
		st.Observation, st.Reward, _ = e.Step(action)
		tr.Return += st.Reward
		tr.Steps = append(tr.Steps, st)
	}
	tr.Solved, tr.Failed = e.Solved(), e.Failed()
	return tr, nil
}
