package env

import (
	"fmt"
	"math/rand/v2"
	"strconv"
)

// DefaultJudgments is the number of judgments of a zero Judge, as in the
// paper's judge (5 judgments per action).
const DefaultJudgments = 5

// Labels says what the judge's truth is relative to (DESIGN.md §5,
// identifiable labels).
type Labels uint8

const (
	// LabelsState (the zero value): an action is good when it lies on a
	// shortest plan from the full state (IsOptimal), as the oracle sees it.
	// A blind search that finds the hidden object is good, the same search
	// elsewhere bad, though the agent could not tell them apart.
	LabelsState Labels = iota
	// LabelsRevealed: an action is good when it lies on a shortest plan in
	// some world consistent with what the observation history revealed
	// (IsRevealedOptimal): every search of a place where the hidden object
	// could be is good. Equal to LabelsState on steps that are not Blind.
	LabelsRevealed
	// LabelsIdentifiable: the truth of LabelsState, but a Blind step has no
	// label: Judge.Excludes reports it, and callers leave it out of verdict
	// labels and coupling probes.
	LabelsIdentifiable
)

// String is the name used by flags and configs: "state", "revealed" or
// "identifiable".
func (l Labels) String() string {
	switch l {
	case LabelsState:
		return "state"
	case LabelsRevealed:
		return "revealed"
	case LabelsIdentifiable:
		return "identifiable"
	}
	return "Labels(" + strconv.Itoa(int(l)) + ")"
}

// ParseLabels is the inverse of Labels.String; "" is LabelsState.
func ParseLabels(s string) (Labels, error) {
	switch s {
	case "", "state":
		return LabelsState, nil
	case "revealed":
		return LabelsRevealed, nil
	case "identifiable":
		return LabelsIdentifiable, nil
	}
	return 0, fmt.Errorf("env: unknown labels %q (want state, revealed or identifiable)", s)
}

// Judge stands in for an LLM judge. The truth about an action is known: by
// default it is good when it lies on a shortest plan from the current state
// (OptimalActions), bad otherwise (including inadmissible text and any action
// once the episode is over); Labels chooses another truth. The judge makes J
// independent judgments, each of which reports the truth flipped with
// probability Eps, and its verdict is the majority.
type Judge struct {
	// J is the number of judgments; 0 means DefaultJudgments. With an even J a
	// tie is a "bad" verdict.
	J int
	// Eps is the probability that one judgment is wrong, in [0, 1]; 0 (the
	// default) is a perfect judge.
	Eps float64
	// Labels is what the truth is relative to; the zero value LabelsState is
	// the full state.
	Labels Labels
}

// Truth is the truth the judgments report for action in the current state
// of e: IsOptimal, or IsRevealedOptimal with LabelsRevealed. It does not
// change e.
func (j Judge) Truth(e Env, action string) bool {
	if j.Labels == LabelsRevealed {
		return IsRevealedOptimal(e, action)
	}
	return IsOptimal(e, action)
}

// Excludes reports whether the current step of e has no label under
// j.Labels: with LabelsIdentifiable, a Blind step; never otherwise.
func (j Judge) Excludes(e Env) bool {
	return j.Labels == LabelsIdentifiable && Blind(e)
}

// Verdict judges action in the current state of e: good is the majority
// verdict and votes the number of judgments that said good. It draws exactly
// J uniforms from rng whatever Eps is, so that a rollout's random stream does
// not depend on the judge's noise; rng may be nil only when Eps is 0. Verdict
// does not change e.
func (j Judge) Verdict(e Env, action string, rng *rand.Rand) (good bool, votes int) {
	return j.vote(j.Truth(e, action), rng)
}

// Vote runs the J noisy judgments of a known truth (the truth Verdict gets
// from Truth): the bundled judge on a truth known by other means, such
// as a replayed log. It draws exactly J uniforms from rng.
func (j Judge) Vote(truth bool, rng *rand.Rand) (good bool, votes int) {
	return j.vote(truth, rng)
}

// vote runs the J noisy judgments of a known truth.
func (j Judge) vote(truth bool, rng *rand.Rand) (good bool, votes int) {
	if rng == nil && j.Eps != 0 {
		panic("env: Judge.Verdict with Eps > 0 needs an rng")
	}
	n := j.J
	if n <= 0 {
		n = DefaultJudgments
	}
	for i := 0; i < n; i++ {
		says := truth
		if rng != nil && rng.Float64() < j.Eps {
			says = !says
		}
		if says {
			votes++
		}
	}
	return 2*votes > n, votes
}
