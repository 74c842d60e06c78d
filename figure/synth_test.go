package figure

import (
	"math"
	"math/rand/v2"

	"github.com/gradcouple/gradcouple/metrics"
)

// Fixed synthetic inputs for the golden and structure tests: smooth
// deterministic curves, plus one NaN gap, so that every figure exercises its
// lines, bands, points and labels.

func iters(n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(10 * i)
	}
	return x
}

func curve(x []float64, f func(t float64) float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = f(v / x[len(x)-1])
	}
	return y
}

func band(y []float64, w float64) (lo, hi []float64) {
	lo, hi = make([]float64, len(y)), make([]float64, len(y))
	for i, v := range y {
		lo[i], hi[i] = v-w, v+w
	}
	return lo, hi
}

func withBand(label string, x, y []float64, w float64) Series {
	lo, hi := band(y, w)
	return Series{Label: label, X: x, Y: y, Lo: lo, Hi: hi}
}

func sampleConsistency() *Figure {
	x := iters(11)
	bad := curve(x, func(t float64) float64 { return 0.1 + 0.3*t })
	bad[4] = math.NaN() // a missing iteration breaks the line
	grpo := Group{Name: "GRPO", Series: []Series{
		withBand(LabelGood, x, curve(x, func(t float64) float64 { return 0.2 + 0.5*t }), 0.05),
		withBand(LabelBad, x, bad, 0.04),
		{Label: LabelUnknown, X: x, Y: curve(x, func(t float64) float64 { return 0.05 + 0.05*t })},
	}}
	gcd := Group{Name: "GCD", Series: []Series{
		withBand(LabelGood, x, curve(x, func(t float64) float64 { return 0.2 + 0.6*t }), 0.05),
		withBand(LabelBad, x, curve(x, func(t float64) float64 { return 0.1 + 0.05*t }), 0.03),
		{Label: LabelUnknown, X: x, Y: curve(x, func(t float64) float64 { return 0.05 })},
	}}
	return Consistency(grpo, gcd)
}

func sampleRepetition() *Figure {
	x := iters(11)
	return Repetition(Group{Name: "GRPO", Series: []Series{
		{Label: LabelSuccess, X: x, Y: curve(x, func(t float64) float64 { return 0.05 + 0.02*t })},
		{Label: LabelFailure, X: x, Y: curve(x, func(t float64) float64 { return 0.1 + 0.3*t })},
	}})
}

func sampleHeatmaps(labels []string) (Heatmap, Heatmap) {
	n := len(labels)
	pred := Heatmap{Rows: labels, Cols: labels, Values: make([][]float64, n)}
	meas := Heatmap{Rows: labels, Cols: labels, Values: make([][]float64, n)}
	for i := range n {
		pred.Values[i] = make([]float64, n)
		meas.Values[i] = make([]float64, n)
		for j := range n {
			v := math.Cos(float64(i+2*j)) * 0.02
			if i == j {
				v = 0.05
			}
			pred.Values[i][j] = v
			meas.Values[i][j] = v * 0.9
		}
	}
	meas.Values[1][2] = math.NaN()
	return pred, meas
}

var sampleActions = []string{
	"go to cabinet 2", "take apple 1 from countertop 1", "open fridge 1",
	"heat apple 1 with microwave 1", "examine desk 1", "put apple 1 in/on fridge 1",
}

func sampleCoupling() *Figure {
	pred, meas := sampleHeatmaps(sampleActions)
	return Coupling(pred, meas)
}

func sampleSqueeze() *Figure {
	// pi = (0.1, 0.3, 0.6) over (good, bad2, bad1) with p_g > p_b2 > p_b1:
	// the setting of Theorem 3.2.
	logits := []float64{0, math.Log(3), math.Log(6)}
	p := []float64{1, 0.3, 0}
	full := metrics.SqueezePath(logits, p, metrics.SqueezeConfig{Steps: 60, Eta: 2})
	neg := metrics.SqueezePath(logits, p, metrics.SqueezeConfig{Steps: 60, Eta: 2, NegativeOnly: true})
	actions := []string{"good", "bad (less harmful)", "bad (harmful)"}
	bad := []bool{false, true, true}
	return Squeeze(
		SqueezePanel{Title: "full update", Actions: actions, Bad: bad, Pi: full},
		SqueezePanel{Title: "negative-advantage part", Actions: actions, Bad: bad, Pi: neg},
	)
}

func sampleLemma() *Figure {
	var pts []LemmaPoint
	for i, q := range []float64{0.1, 0.3, 0.5, 0.7} {
		r := 0.2 + 0.1*float64(i)
		m := metrics.AdvantageMass(q, r)
		g := "household"
		if i%2 == 1 {
			g = "lab"
		}
		pts = append(pts, LemmaPoint{Group: g,
			Predicted: metrics.Interval{Point: m, Lo: m - 0.005, Hi: m + 0.005},
			Empirical: metrics.Interval{Point: m * 1.1, Lo: m*1.1 - 0.01, Hi: m*1.1 + 0.01}})
	}
	var curves []LemmaCurve
	for _, r := range []float64{0.3, 0.6} {
		c := LemmaCurve{Label: "r = " + map[float64]string{0.3: "0.3", 0.6: "0.6"}[r]}
		for q := 0.1; q < 0.95; q += 0.2 {
			m := metrics.AdvantageMass(q, r)
			c.Q = append(c.Q, q)
			c.Predicted = append(c.Predicted, m)
			c.Empirical = append(c.Empirical, metrics.Interval{Point: m + 0.003, Lo: m - 0.007, Hi: m + 0.013})
		}
		curves = append(curves, c)
	}
	return Lemma(pts, curves)
}

func seedCurves(x []float64, base float64, n int) [][]float64 {
	out := make([][]float64, n)
	for s := range out {
		out[s] = curve(x, func(t float64) float64 {
			return base * (1 - math.Exp(-3*t)) * (0.9 + 0.05*float64(s)) * (1 + 0.05*math.Sin(20*t+float64(s)))
		})
	}
	return out
}

func sampleLearning(smooth float64) *Figure {
	x := iters(21)
	rng := rand.New(rand.NewPCG(1, 2))
	cfg := metrics.BootstrapConfig{Resamples: 200}
	in := []Series{
		OverSeeds("GRPO", x, seedCurves(x, 0.8, 3), cfg, rng),
		OverSeeds("GCD", x, seedCurves(x, 0.85, 3), cfg, rng),
	}
	out := []Series{
		OverSeeds("GRPO", x, seedCurves(x, 0.4, 3), cfg, rng),
		OverSeeds("GCD", x, seedCurves(x, 0.6, 3), cfg, rng),
	}
	return LearningCurves(in, out, CurveOptions{Smooth: smooth})
}

func sampleDynamics() *Figure {
	x := iters(11)
	return CouplingDynamics(
		[]Series{
			withBand("GRPO", x, curve(x, func(t float64) float64 { return 0.3 + 0.1*t }), 0.03),
			withBand("GCD", x, curve(x, func(t float64) float64 { return 0.3 - 0.15*t }), 0.03),
		},
		[]Series{
			withBand("GRPO", x, curve(x, func(t float64) float64 { return 0.6 + 0.1*t }), 0.05),
			withBand("GCD", x, curve(x, func(t float64) float64 { return 0.6 - 0.4*t }), 0.05),
		})
}

func sampleSeparation() *Figure {
	x := iters(11)
	return Separation(
		Panel{Title: "Fisher ratio", YLabel: "Fisher ratio", Series: []Series{
			{Label: "GRPO", X: x, Y: curve(x, func(t float64) float64 { return 0.5 + 0.2*t })},
			{Label: "GCD", X: x, Y: curve(x, func(t float64) float64 { return 0.5 + 2*t })},
		}},
		Panel{Title: "linear probe", YLabel: "probe accuracy", Series: []Series{
			{Label: "GRPO", X: x, Y: curve(x, func(t float64) float64 { return 0.6 + 0.1*t })},
			{Label: "GCD", X: x, Y: curve(x, func(t float64) float64 { return 0.6 + 0.35*t })},
		}},
	)
}

func sampleFinal() *Figure {
	return FinalPerformance(
		[]ScorePanel{
			{Title: "in-domain", XLabel: "IQM success", Scores: []Score{
				{Label: "GRPO", Interval: metrics.Interval{Point: 0.72, Lo: 0.65, Hi: 0.78}},
				{Label: "GCD", Interval: metrics.Interval{Point: 0.75, Lo: 0.69, Hi: 0.8}},
			}},
			{Title: "out-of-domain", XLabel: "IQM success", Scores: []Score{
				{Label: "GRPO", Interval: metrics.Interval{Point: 0.41, Lo: 0.33, Hi: 0.5}},
				{Label: "GCD", Interval: metrics.Interval{Point: 0.55, Lo: 0.47, Hi: 0.62}},
			}},
		},
		[]Improvement{{X: "GCD", Y: "GRPO", Interval: metrics.Interval{Point: 0.68, Lo: 0.55, Hi: 0.8}}},
	)
}

// samples are the figures the tests render, by golden file name.
func samples() map[string]*Figure {
	return map[string]*Figure{
		"consistency": sampleConsistency(),
		"repetition":  sampleRepetition(),
		"coupling":    sampleCoupling(),
		"squeeze":     sampleSqueeze(),
		"lemma":       sampleLemma(),
		"learning":    sampleLearning(0.6),
		"dynamics":    sampleDynamics(),
		"separation":  sampleSeparation(),
		"final":       sampleFinal(),
	}
}

func metricsNaN() metrics.Interval {
	return metrics.Interval{Point: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
}

func metricsCfg() metrics.BootstrapConfig { return metrics.BootstrapConfig{Resamples: 500} }

func newRand() *rand.Rand { return rand.New(rand.NewPCG(3, 4)) }
