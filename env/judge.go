package env

import "math/rand/v2"

// DefaultJudgments is the number of judgments of a zero Judge, as in the
// paper's judge (5 judgments per action).
const DefaultJudgments = 5

// Judge stands in for an LLM judge. The truth about an action is known: it is
// good when it lies on a shortest plan from the current state
// (OptimalActions), bad otherwise (including inadmissible text and any action
// once the episode is over). The judge makes J independent judgments, each of
// which reports the truth flipped with probability Eps, and its verdict is the
// majority.
type Judge struct {
	// J is the number of judgments; 0 means DefaultJudgments. With an even J a
	// tie is a "bad" verdict.
	J int
	// Eps is the probability that one judgment is wrong, in [0, 1]; 0 (the
	// default) is a perfect judge.
	Eps float64
}

// Verdict judges action in the current state of e: good is the majority
// verdict and votes the number of judgments that said good. It draws exactly
// J uniforms from rng whatever Eps is, so that a rollout's random stream does
// not depend on the judge's noise; rng may be nil only when Eps is 0. Verdict
// does not change e.
func (j Judge) Verdict(e Env, action string, rng *rand.Rand) (good bool, votes int) {
	return j.vote(IsOptimal(e, action), rng)
}

// Vote runs the J noisy judgments of a known truth (the truth Verdict gets
// from IsOptimal): the bundled judge on a truth known by other means, such
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
