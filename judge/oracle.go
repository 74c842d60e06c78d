package judge

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/gradcouple/gradcouple/env"
)

// Step is one step of a logged trajectory, for Oracle.
type Step struct {
	Turn     int32
	StateKey string
	Action   string
}

// Oracle replays a trajectory of a bundled environment from its task ID
// (env.ParseTaskID: "household/train/7") and returns the exact truth of
// each step in turn order: good when the action lies on a shortest plan
// from the state (env.IsOptimal), the truth env.Judge's noisy votes flip.
// steps must hold turns 0..n-1 (any order). An error says why the log
// cannot be replayed: an unknown task, a missing turn, or a state key that
// differs from the replay's (a log not made by this version of env).
func Oracle(taskID string, steps []Step) ([]bool, error) {
	task, err := env.ParseTaskID(taskID)
	if err != nil {
		return nil, err
	}
	e, _, err := env.Start(task)
	if err != nil {
		return nil, err
	}
	s := slices.Clone(steps)
	slices.SortFunc(s, func(a, b Step) int { return int(a.Turn) - int(b.Turn) })
	truth := make([]bool, len(s))
	for k, st := range s {
		if st.Turn != int32(k) {
			return nil, fmt.Errorf("turn %d of the trajectory is missing", k)
		}
		if got := e.StateKey(); got != st.StateKey {
			return nil, fmt.Errorf("turn %d: the replay reached state %s, the log says %s", k, got, st.StateKey)
		}
		truth[k] = env.IsOptimal(e, st.Action)
		e.Step(st.Action)
	}
	return truth, nil
}

// Agreement compares labels with the oracle's truth over a set of steps.
type Agreement struct {
	Steps   int // steps with a truth
	Known   int // of Steps, with a known label
	Unknown int
	// Confusion counts over the known labels: [truth][label], 0 bad 1 good.
	Confusion [2][2]int
	// VoteErrors and VotesKnown count the individual known votes that
	// disagree with the truth: VoteErrors/VotesKnown estimates the per-vote
	// error rate, env.Judge's Eps.
	VoteErrors, VotesKnown int
}

// Add counts one step: its truth, its label, and its known votes (good
// votes of known ones).
func (a *Agreement) Add(truth bool, label Verdict, good, known int) {
	a.Steps++
	t := 0
	if truth {
		t = 1
	}
	if known > 0 {
		a.VotesKnown += known
		if truth {
			a.VoteErrors += known - good
		} else {
			a.VoteErrors += good
		}
	}
	if label == Unknown {
		a.Unknown++
		return
	}
	a.Known++
	a.Confusion[t][int(label)]++
}

// Accuracy is the share of known labels that equal the truth; NaN without
// known labels.
func (a Agreement) Accuracy() float64 {
	if a.Known == 0 {
		return math.NaN()
	}
	return float64(a.Confusion[0][0]+a.Confusion[1][1]) / float64(a.Known)
}

// Kappa is Cohen's kappa of the known labels against the truth,
// (p_o - p_e) / (1 - p_e), with p_o the observed agreement and p_e the
// agreement expected from the two marginals (Cohen 1960). It is NaN
// without known labels and when p_e = 1 (one class only on both sides).
func (a Agreement) Kappa() float64 {
	n := float64(a.Known)
	if n == 0 {
		return math.NaN()
	}
	c := a.Confusion
	po := float64(c[0][0]+c[1][1]) / n
	truthGood := float64(c[1][0]+c[1][1]) / n
	labelGood := float64(c[0][1]+c[1][1]) / n
	pe := truthGood*labelGood + (1-truthGood)*(1-labelGood)
	if pe >= 1 {
		return math.NaN()
	}
	return (po - pe) / (1 - pe)
}

// VoteErrorRate is VoteErrors/VotesKnown: the Eps of an env.Judge whose
// votes err as often; NaN without known votes.
func (a Agreement) VoteErrorRate() float64 {
	if a.VotesKnown == 0 {
		return math.NaN()
	}
	return float64(a.VoteErrors) / float64(a.VotesKnown)
}

// Simulate adds to a the verdict env.Judge j would give each truth, drawing
// its votes from rng (env.Judge.Vote): the agreement of the bundled noisy
// judge on the same steps.
func (a *Agreement) Simulate(truths []bool, j env.Judge, rng *rand.Rand) {
	n := j.J
	if n <= 0 {
		n = env.DefaultJudgments
	}
	for _, t := range truths {
		good, votes := j.Vote(t, rng)
		label := Bad
		if good {
			label = Good
		}
		a.Add(t, label, votes, n)
	}
}

// Merge adds the counts of b to a.
func (a *Agreement) Merge(b Agreement) {
	a.Steps += b.Steps
	a.Known += b.Known
	a.Unknown += b.Unknown
	a.VoteErrors += b.VoteErrors
	a.VotesKnown += b.VotesKnown
	for t := 0; t < 2; t++ {
		for l := 0; l < 2; l++ {
			a.Confusion[t][l] += b.Confusion[t][l]
		}
	}
}
