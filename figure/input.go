package figure

import (
	"math"
	"math/rand/v2"

	"github.com/gradcouple/gradcouple/metrics"
)

// The input types below are figure's own small vocabulary; package analysis
// fills them from its result rows. A length mismatch inside one value is a
// programmer error and panics with "figure: length mismatch". Non-finite
// values (NaN, ±Inf) are data: a line breaks at them, a point or an interval
// bound that is not finite is left out, a heatmap cell is drawn grey.

// Series is one curve: Y over X (typically iterations), with an optional
// confidence band [Lo, Hi] and optional raw curves drawn faintly behind it.
type Series struct {
	Label string
	X, Y  []float64
	// Lo and Hi bound a confidence band at each X; nil means no band, and
	// otherwise both have len(X).
	Lo, Hi []float64
	// Raw holds curves sampled at X that Y summarises, such as one curve per
	// seed; each has len(X). They are drawn thin and faint.
	Raw [][]float64
}

func (s Series) check() {
	n := len(s.X)
	if len(s.Y) != n || (s.Lo != nil && len(s.Lo) != n) || (s.Hi != nil && len(s.Hi) != n) || (s.Lo == nil) != (s.Hi == nil) {
		panic("figure: length mismatch")
	}
	for _, r := range s.Raw {
		if len(r) != n {
			panic("figure: length mismatch")
		}
	}
}

// Group is a labelled set of series drawn in one panel: a run or a method,
// whose series are, for example, the judge labels good, bad and unknown.
type Group struct {
	Name   string
	Series []Series
}

// Panel is one panel of a line figure: its title, axis labels and series.
type Panel struct {
	Title, XLabel, YLabel string
	Series                []Series
}

// Heatmap is a matrix with row and column labels. Values[i][j] is the cell of
// row i and column j; row 0 is drawn at the top. Labels longer than 28 runes
// are shortened with an ellipsis (the full texts belong in a data table).
type Heatmap struct {
	Title          string
	XLabel, YLabel string // zero means "affected sample j" and "updated sample i"
	Rows, Cols     []string
	Values         [][]float64
}

func (h Heatmap) check() {
	if len(h.Values) != len(h.Rows) {
		panic("figure: length mismatch")
	}
	for _, r := range h.Values {
		if len(r) != len(h.Cols) {
			panic("figure: length mismatch")
		}
	}
}

// SqueezePanel is one run of the squeezing simulator: Pi[t] is the policy
// over Actions after t updates (the rows of metrics.SqueezePath), and Bad
// marks the flawed actions, whose total mass is drawn as well.
type SqueezePanel struct {
	Title   string
	Actions []string
	Bad     []bool
	Pi      [][]float64
}

func (s SqueezePanel) check() {
	if len(s.Bad) != len(s.Actions) {
		panic("figure: length mismatch")
	}
	for _, row := range s.Pi {
		if len(row) != len(s.Actions) {
			panic("figure: length mismatch")
		}
	}
}

// LemmaPoint compares the advantage mass of an action predicted by Lemma 3.1,
// q r (q-1), with its empirical value, each with a confidence interval
// (analysis.AdvantageRow: Prediction/PredLo/PredHi and Mass/MassLo/MassHi).
// Group names the colour and legend entry (a run, an environment, a q bin).
type LemmaPoint struct {
	Group                string
	Predicted, Empirical metrics.Interval
}

// LemmaCurve is the advantage mass as a function of q for one setting (say,
// one value of r): the analytic prediction at each Q and a Monte Carlo or
// empirical estimate with its interval (metrics.LemmaSim.Mass).
type LemmaCurve struct {
	Label     string
	Q         []float64
	Predicted []float64
	Empirical []metrics.Interval
}

func (c LemmaCurve) check() {
	if len(c.Predicted) != len(c.Q) || (c.Empirical != nil && len(c.Empirical) != len(c.Q)) {
		panic("figure: length mismatch")
	}
}

// Score is a labelled point estimate with its confidence interval, such as
// one method's IQM with a stratified bootstrap interval.
type Score struct {
	Label string
	metrics.Interval
	// Note is a caveat drawn under the panel, the row marked with a dagger
	// (say analysis.FinalRow.Note: too few runs for an interval).
	Note string
}

// ScorePanel is one panel of interval estimates, one row per method.
type ScorePanel struct {
	Title, XLabel string
	Scores        []Score
	// Unit marks scores that are rates: the axis spans at least [0, 1].
	Unit bool
}

// Improvement is the probability that method X beats method Y, P(X > Y),
// with its interval (metrics.ProbImprovementCI).
type Improvement struct {
	X, Y string
	metrics.Interval
	// Note is a caveat drawn under the panel, the row marked with a dagger
	// (say analysis.ImprovementRow.Note: P(X > Y) is 0 or 1 by
	// construction with one run per group).
	Note string
}

// OverSeeds summarises curves of several seeds sampled at the same x: Y is
// the mean over seeds at each x, [Lo, Hi] a percentile bootstrap interval of
// that mean (metrics.StratifiedBootstrap with the seeds as one stratum), and
// Raw keeps the seed curves. Seeds missing at an x (NaN) are left out there;
// an x with no seed is NaN, and one with a single seed has no band there.
// seeds are not modified.
func OverSeeds(label string, x []float64, seeds [][]float64, cfg metrics.BootstrapConfig, rng *rand.Rand) Series {
	s := Series{Label: label, X: append([]float64(nil), x...), Y: make([]float64, len(x)),
		Lo: make([]float64, len(x)), Hi: make([]float64, len(x))}
	for _, sd := range seeds {
		if len(sd) != len(x) {
			panic("figure: length mismatch")
		}
		s.Raw = append(s.Raw, append([]float64(nil), sd...))
	}
	mean := func(st [][]float64) float64 {
		var sum float64
		for _, v := range st[0] {
			sum += v
		}
		return sum / float64(len(st[0]))
	}
	vals := make([]float64, 0, len(seeds))
	for i := range x {
		vals = vals[:0]
		for _, sd := range seeds {
			if !math.IsNaN(sd[i]) && !math.IsInf(sd[i], 0) {
				vals = append(vals, sd[i])
			}
		}
		switch len(vals) {
		case 0:
			s.Y[i], s.Lo[i], s.Hi[i] = math.NaN(), math.NaN(), math.NaN()
		case 1:
			s.Y[i], s.Lo[i], s.Hi[i] = vals[0], math.NaN(), math.NaN()
		default:
			iv := metrics.StratifiedBootstrap([][]float64{vals}, mean, cfg, rng)
			s.Y[i], s.Lo[i], s.Hi[i] = iv.Point, iv.Lo, iv.Hi
		}
	}
	return s
}
