// Package metrics holds the scalar analyses of gradcouple: pure math on
// slices, with no files, flags or printing (DESIGN.md §2). It imports only the
// standard library and gonum. Randomness is an injected *rand.Rand
// (math/rand/v2), and every result is deterministic for a seed.
//
// What is here (definitions in DESIGN.md §4, formulas and sources on each
// declaration):
//
//   - GRPO advantages: GroupAdvantages for one group, Advantages for many
//     interleaved groups (verl conventions), ZeroStdFraction and
//     HomogeneousGroupProb for groups that carry no signal.
//   - Repetition: RepetitionCounter streams agent steps and reports repeated
//     actions and loops per iteration, split by trajectory success.
//   - Action consistency: ConsistencyCounter measures, at state keys that
//     recur in the logs, the expected modal count of K sampled actions and the
//     share of states with high consistency, split by the judge label of the
//     modal action.
//   - Lemma 3.1 of Liu et al. (arXiv 2509.23870), the negative expected
//     advantage of a flawed action: ExpectedAdvantage and AdvantageMass, the
//     exact finite-group values GroupExpectedAdvantage and
//     GroupAdvantageMass, the std-normalised limit StdAdvantageMass, the Monte
//     Carlo simulator SimulateLemma, and MassAccumulator, the empirical check
//     at recurring states with bootstrap intervals.
//   - Theorem 3.2 (the squeezing effect): ExpectedGradient and SqueezePath,
//     the exact expected GRPO update of a softmax policy over a few actions.
//   - Reporting statistics after Agarwal et al. 2021 (rliable):
//     StratifiedBootstrap percentile intervals, IQM and PooledIQM,
//     ProbImprovement and ProbImprovementCI, Quantile; and EMA, TensorBoard's
//     debiased smoothing.
//   - Intervals for rates: Wilson (a proportion of independent units),
//     BoundedMean (a mean of values in a known range, such as per-state
//     probabilities: the consistency shares) and ClusterRatio (a rate over
//     steps clustered in trajectories: the repetition rates, with
//     RepetitionCounter.Intervals).
//
// Conventions (gonum style): the output argument dst comes first and nil means
// allocate; inputs are never modified; a length mismatch panics with
// "metrics: length mismatch"; bad data gives NaN (or an error matching
// ErrParameter for model parameters); settings structs mean their defaults
// when zero. Accumulators (RepetitionCounter, ConsistencyCounter,
// MassAccumulator) keep memory proportional to the distinct keys they see,
// copy the strings they keep, accept records in any order and are not safe
// for concurrent use.
package metrics
