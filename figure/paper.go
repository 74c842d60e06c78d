package figure

import (
	"image/color"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The constructors below are named for the figures of the study (issue 7;
// figure numbers of Liu et al., arXiv 2509.23870). Each documents what it
// shows; DESIGN.md §4 defines the quantities.

const iterLabel = "training iteration"

// groupPanels turns groups into one panel each.
func groupPanels(groups []Group, ylabel string) []Panel {
	panels := make([]Panel, len(groups))
	for i, g := range groups {
		panels[i] = Panel{Title: g.Name, XLabel: iterLabel, YLabel: ylabel, Series: g.Series}
	}
	return panels
}

// Consistency draws the share of probe states whose actions are produced
// with high consistency (the modal action in at least 5 of 10 samples) over
// training, split by the judge label of the modal action (paper Figs. 1 and
// 5): one panel per group (a run or a method, e.g. GRPO and GCD side by
// side), one line per label. Series labelled LabelGood, LabelBad and
// LabelUnknown keep their colours (green, vermillion, grey). Rising bad
// lines are the symptom the paper attributes to gradient coupling. Fill the
// series from analysis.ConsistencyRow (HighGood, HighBad, HighUnknown), with
// bands when several seeds are pooled. The panels share one y-range
// (ConsistencyScaled keeps them independent).
func Consistency(groups ...Group) *Figure {
	return ConsistencyScaled(Scales{}, groups...)
}

// ConsistencyScaled is Consistency with the choice of shared or independent
// y-ranges.
func ConsistencyScaled(s Scales, groups ...Group) *Figure {
	return lines("Share of high-consistency actions over training, by judge label",
		groupPanels(groups, "share with high consistency"), 0, lineOpts{unit: true, share: !s.Independent})
}

// Repetition draws how often agents repeat an earlier action of the same
// trajectory, in successful versus failed trajectories, over training (paper
// Fig. 2): one panel per group (run or method), series labelled LabelSuccess
// and LabelFailure (analysis.RepetitionRow: SuccessRepeat, FailureRepeat).
// Other series (say, loop rates) may be added with their own labels. The
// panels share one y-range, so that the groups compare at a glance
// (RepetitionScaled keeps them independent).
func Repetition(groups ...Group) *Figure {
	return RepetitionScaled(Scales{}, groups...)
}

// RepetitionScaled is Repetition with the choice of shared or independent
// y-ranges.
func RepetitionScaled(s Scales, groups ...Group) *Figure {
	return lines("Repeated actions in successful and failed trajectories",
		groupPanels(groups, "repeated-action rate"), 0, lineOpts{zero: true, share: !s.Independent})
}

// CurveOptions are the settings of LearningCurves.
type CurveOptions struct {
	// Smooth is the weight of TensorBoard's debiased EMA (metrics.EMA) in
	// [0, 1); zero means no smoothing. Smoothing applies to the mean and its
	// band; the raw data stay visible as faint lines (the seed curves, or the
	// unsmoothed mean when a series has none).
	Smooth float64
	// YLabel is the quantity; zero means "success rate".
	YLabel string
	// IndependentScales gives the two panels their own y-ranges; by default
	// they share one.
	IndependentScales bool
}

// LearningCurves draws learning curves in-domain and out-of-domain, side by
// side: one line per method (GRPO, GCD, ...), the mean over seeds with a
// bootstrap confidence band (build each series with OverSeeds) and the seed
// curves faint behind it. Out-of-domain success is where DESIGN.md §1 expects
// GCD to help.
func LearningCurves(inDomain, outOfDomain []Series, opt CurveOptions) *Figure {
	if opt.YLabel == "" {
		opt.YLabel = "success rate"
	}
	if !(opt.Smooth >= 0 && opt.Smooth < 1) {
		panic("figure: Smooth outside [0, 1)")
	}
	return lines("Learning curves in-domain and out-of-domain", []Panel{
		{Title: "in-domain", XLabel: iterLabel, YLabel: opt.YLabel, Series: inDomain},
		{Title: "out-of-domain", XLabel: iterLabel, YLabel: opt.YLabel, Series: outOfDomain},
	}, 0, lineOpts{smooth: opt.Smooth, unit: true, share: !opt.IndependentScales})
}

// CouplingDynamics draws gradient coupling over training for two or more
// methods (GRPO vs GCD), in two panels: the harmful-coupling rate (share of
// pairs, good sample i with A_i > 0 and bad sample j in another state, whose
// predicted change Delta_ij raises the bad action) and the cross-group cosine
// (mean cosine between good and bad samples' gradients). GCD is meant to
// lower both.
func CouplingDynamics(harmful, cross []Series) *Figure {
	return lines("Gradient coupling over training", []Panel{
		{Title: "harmful coupling", XLabel: iterLabel, YLabel: "harmful-pair rate", Series: harmful},
		{Title: "cross-group coupling", XLabel: iterLabel, YLabel: "mean cosine, good × bad", Series: cross},
	}, 0, lineOpts{zero: true})
}

// Separation draws how far apart the actor's hidden representations of good
// and bad actions are over training, one panel per measure (Fisher ratio,
// silhouette, linear-probe accuracy), one line per method. Panels without an
// x label get "training iteration". GCD's classification task is meant to
// raise separation.
func Separation(panels ...Panel) *Figure {
	ps := make([]Panel, len(panels))
	for i, p := range panels {
		if p.XLabel == "" {
			p.XLabel = iterLabel
		}
		ps[i] = p
	}
	return lines("Representation separation of good and bad actions over training", ps, 0, lineOpts{})
}

// Lines draws any panels of series in one row with a shared legend, in the
// paper style; the named constructors are built on it.
func Lines(title string, panels ...Panel) *Figure {
	return lines(title, panels, 0, lineOpts{})
}

var (
	goodColours = []color.RGBA{bluishGreen, blue, skyBlue}
	badColours  = []color.RGBA{vermillion, orange, reddishPurple, yellow}
)

// Squeeze draws the squeezing simulator (Theorem 3.2, paper Fig. 4): in a
// softmax policy over a few actions, the probability of each action over
// expected GRPO updates (metrics.SqueezePath), and the total mass on the bad
// actions as a dashed black line. Good actions are drawn in greens and blues,
// bad ones in warm colours. The theorem's point shows when a less harmful bad
// action rises while the total bad mass falls. Several panels (say, the full
// update and the negative-advantage part only) share the legend.
func Squeeze(panels ...SqueezePanel) *Figure {
	var l layout
	var row []*plot.Plot
	seen := map[string]bool{}
	for _, sp := range panels {
		sp.check()
		p := newPlot(sp.Title, "update step t", "probability π(a)")
		addGrid(p)
		steps := make([]float64, len(sp.Pi))
		for t := range steps {
			steps[t] = float64(t)
		}
		if len(sp.Pi) == 0 {
			p.Add(noData{})
		}
		ng, nb := 0, 0
		y := make([]float64, len(sp.Pi))
		for k, a := range sp.Actions {
			var c color.RGBA
			if sp.Bad[k] {
				c = badColours[nb%len(badColours)]
				nb++
			} else {
				c = goodColours[ng%len(goodColours)]
				ng++
			}
			for t, pi := range sp.Pi {
				y[t] = pi[k]
			}
			addCurve(p, steps, y, draw.LineStyle{Color: c, Width: vg.Points(lineWidth)})
			if !seen[a] {
				seen[a] = true
				l.legend = append(l.legend, legendEntry{label: a, col: c, line: true})
			}
		}
		if nb > 0 {
			for t, pi := range sp.Pi {
				y[t] = 0
				for k := range pi {
					if sp.Bad[k] {
						y[t] += pi[k]
					}
				}
			}
			dashes := []vg.Length{vg.Points(4), vg.Points(2)}
			addCurve(p, steps, y, draw.LineStyle{Color: black, Width: vg.Points(lineWidth), Dashes: dashes})
			if !seen["total bad mass"] {
				seen["total bad mass"] = true
				l.legend = append(l.legend, legendEntry{label: "total bad mass", col: black, dashes: dashes, line: true})
			}
		}
		p.Y.Min, p.Y.Max = 0, 1
		row = append(row, p)
	}
	if len(row) > 0 {
		l.panels = [][]*plot.Plot{row}
	}
	w := fullWidth
	if len(row) == 1 {
		w = singleWidth
	}
	return l.figure("Squeezing effect: action probabilities under expected GRPO updates", w, panelHeight+legendHeight(l.legend, w))
}

// ivPoint is a point with intervals on either axis; NaN bounds mean none.
type ivPoint struct{ x, xlo, xhi, y, ylo, yhi float64 }

// addPoints draws points with their error bars in one colour.
func addPoints(p *plot.Plot, pts []ivPoint, c color.Color) {
	var xy plotter.XYs
	var xb, yb struct {
		plotter.XYs
		plotter.XErrors
		plotter.YErrors
	}
	for _, q := range pts {
		if !finite(q.x, q.y) {
			continue
		}
		xy = append(xy, plotter.XY{X: q.x, Y: q.y})
		if finite(q.xlo, q.xhi) {
			xb.XYs = append(xb.XYs, plotter.XY{X: q.x, Y: q.y})
			xb.XErrors = append(xb.XErrors, struct{ Low, High float64 }{math.Max(0, q.x-q.xlo), math.Max(0, q.xhi-q.x)})
		}
		if finite(q.ylo, q.yhi) {
			yb.XYs = append(yb.XYs, plotter.XY{X: q.x, Y: q.y})
			yb.YErrors = append(yb.YErrors, struct{ Low, High float64 }{math.Max(0, q.y-q.ylo), math.Max(0, q.yhi-q.y)})
		}
	}
	ls := draw.LineStyle{Color: c, Width: vg.Points(1)}
	if len(xb.XYs) > 0 {
		e, err := plotter.NewXErrorBars(struct {
			plotter.XYer
			plotter.XErrorer
		}{xb.XYs, xb.XErrors})
		if err != nil {
			panic(err)
		}
		e.LineStyle, e.CapWidth = ls, vg.Points(4)
		p.Add(e)
	}
	if len(yb.XYs) > 0 {
		e, err := plotter.NewYErrorBars(struct {
			plotter.XYer
			plotter.YErrorer
		}{yb.XYs, yb.YErrors})
		if err != nil {
			panic(err)
		}
		e.LineStyle, e.CapWidth = ls, vg.Points(4)
		p.Add(e)
	}
	if len(xy) > 0 {
		s, err := plotter.NewScatter(xy)
		if err != nil {
			panic(err)
		}
		s.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}
		p.Add(s)
	}
}

// Lemma draws the check of Lemma 3.1 (DESIGN.md §1: the advantage mass of a
// flawed action, q r (q-1), is never positive). The first panel, when points
// are given, puts each measured action at (predicted, empirical) advantage
// mass with both confidence intervals as error bars, against the line y = x
// where prediction and measurement agree; one colour per point group. The
// second panel, when curves are given, draws the mass against q: the
// prediction as a line and the simulated or measured mass as points with
// intervals, one colour per curve (say, per value of r). Empty inputs leave
// their panel out.
func Lemma(points []LemmaPoint, curves []LemmaCurve) *Figure {
	col := newColours()
	var l layout
	var row []*plot.Plot
	if len(points) > 0 {
		p := newPlot("predicted vs empirical", "predicted advantage mass q r (q−1)", "empirical advantage mass")
		addGrid(p)
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, q := range points {
			for _, v := range []float64{q.Predicted.Point, q.Predicted.Lo, q.Predicted.Hi, q.Empirical.Point, q.Empirical.Lo, q.Empirical.Hi} {
				if finite(v) {
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
			}
		}
		if lo < hi {
			pad := (hi - lo) * 0.05
			addCurve(p, []float64{lo - pad, hi + pad}, []float64{lo - pad, hi + pad},
				draw.LineStyle{Color: grey, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}})
			l.legend = append(l.legend, legendEntry{label: "y = x", col: grey, line: true, dashes: []vg.Length{vg.Points(3), vg.Points(2)}})
		} else {
			p.Add(noData{})
		}
		var order []string
		byGroup := map[string][]ivPoint{}
		for _, q := range points {
			if _, ok := byGroup[q.Group]; !ok {
				order = append(order, q.Group)
			}
			byGroup[q.Group] = append(byGroup[q.Group], ivPoint{
				x: q.Predicted.Point, xlo: q.Predicted.Lo, xhi: q.Predicted.Hi,
				y: q.Empirical.Point, ylo: q.Empirical.Lo, yhi: q.Empirical.Hi,
			})
		}
		for _, g := range order {
			c := col.of(g)
			addPoints(p, byGroup[g], c)
			l.legend = append(l.legend, legendEntry{label: g, col: c, marker: true})
		}
		row = append(row, p)
	}
	if len(curves) > 0 {
		p := newPlot("advantage mass by q", "q, probability of the flawed action", "advantage mass E[1{a} A]")
		addGrid(p)
		for _, cv := range curves {
			cv.check()
			c := col.of(cv.Label)
			addCurve(p, cv.Q, cv.Predicted, draw.LineStyle{Color: c, Width: vg.Points(lineWidth)})
			pts := make([]ivPoint, len(cv.Empirical))
			nan := math.NaN()
			for i, e := range cv.Empirical {
				pts[i] = ivPoint{x: cv.Q[i], xlo: nan, xhi: nan, y: e.Point, ylo: e.Lo, yhi: e.Hi}
			}
			addPoints(p, pts, c)
			l.legend = append(l.legend, legendEntry{label: cv.Label, col: c, line: true, marker: len(cv.Empirical) > 0})
		}
		p.Y.Max = math.Max(p.Y.Max, 0)
		row = append(row, p)
	}
	if len(row) > 0 {
		l.panels = [][]*plot.Plot{row}
	}
	w := fullWidth
	if len(row) < 2 {
		w = singleWidth
	}
	return l.figure("Lemma 3.1: predicted and empirical advantage mass of flawed actions", w, 3*vg.Inch+legendHeight(l.legend, w))
}

// intervalPanel draws one row per item: a point with a horizontal interval,
// labelled on the y axis, top to bottom in input order.
func intervalPanel(title, xlabel string, labels []string, ivs []ivPoint, cols []color.Color) *plot.Plot {
	p := newPlot(title, xlabel, "")
	g := plotter.NewGrid()
	g.Horizontal.Width = 0
	g.Vertical = draw.LineStyle{Color: color.Gray{0xe0}, Width: vg.Points(0.5)}
	p.Add(g)
	n := len(labels)
	p.Y.Tick.Marker = labelTicks(labels, true)
	p.Y.Tick.Length = 0
	p.Y.Min, p.Y.Max = -0.6, float64(n)-0.4
	if n == 0 {
		p.X.Min, p.X.Max = 0, 1
		p.Add(noData{})
	}
	for i, q := range ivs {
		q.y = float64(n - 1 - i)
		addPoints(p, []ivPoint{q}, cols[i])
	}
	return p
}

// FinalPerformance draws final performance with honest uncertainty (Agarwal
// et al. 2021): each score panel (say, IQM of success in-domain and
// out-of-domain) has one row per method with its interquartile mean and
// stratified bootstrap interval (metrics.StratifiedBootstrap of
// metrics.PooledIQM); a last panel, when improvements are given, shows the
// probability of improvement P(X > Y) with its interval
// (metrics.ProbImprovementCI) against the no-difference line at 0.5.
// Methods keep one colour across panels.
func FinalPerformance(scores []ScorePanel, improvements []Improvement) *Figure {
	col := newColours()
	var row []*plot.Plot
	rows, noteLines := 0, 0
	nan := math.NaN()
	for _, sp := range scores {
		if sp.XLabel == "" {
			sp.XLabel = "IQM"
		}
		labels := make([]string, len(sp.Scores))
		ivs := make([]ivPoint, len(sp.Scores))
		cols := make([]color.Color, len(sp.Scores))
		var notes []string
		for i, s := range sp.Scores {
			labels[i] = s.Label + noteMark(&notes, s.Note)
			ivs[i] = ivPoint{x: s.Point, xlo: s.Lo, xhi: s.Hi, ylo: nan, yhi: nan}
			cols[i] = col.of(s.Label)
		}
		rows = max(rows, len(labels))
		p := intervalPanel(sp.Title, withNotes(sp.XLabel, notes, &noteLines), labels, ivs, cols)
		if sp.Unit {
			p.X.Min, p.X.Max = math.Min(p.X.Min, 0), math.Max(p.X.Max, 1)
		}
		row = append(row, p)
	}
	if len(improvements) > 0 {
		labels := make([]string, len(improvements))
		ivs := make([]ivPoint, len(improvements))
		cols := make([]color.Color, len(improvements))
		var notes []string
		for i, im := range improvements {
			labels[i] = im.X + " > " + im.Y + noteMark(&notes, im.Note)
			ivs[i] = ivPoint{x: im.Point, xlo: im.Lo, xhi: im.Hi, ylo: nan, yhi: nan}
			cols[i] = col.of(im.X)
		}
		rows = max(rows, len(labels))
		p := intervalPanel("probability of improvement", withNotes("P(X > Y)", notes, &noteLines), labels, ivs, cols)
		half := draw.LineStyle{Color: grey, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}}
		addCurve(p, []float64{0.5, 0.5}, []float64{p.Y.Min, p.Y.Max}, half)
		p.X.Min, p.X.Max = math.Min(p.X.Min, 0), math.Max(p.X.Max, 1)
		row = append(row, p)
	}
	var l layout
	if len(row) > 0 {
		l.panels = [][]*plot.Plot{row}
	}
	w := fullWidth
	if len(row) == 1 {
		w = singleWidth
	}
	h := 1.2*vg.Inch + vg.Length(rows)*0.3*vg.Inch + vg.Length(noteLines)*vg.Points(labelSize*1.3)
	return l.figure("Final performance: IQM with stratified bootstrap intervals, and probability of improvement", w, h)
}

// noteMarks mark the rows of FinalPerformance that carry a note: the first
// distinct note of a panel gets a dagger, the next a double dagger, ...
var noteMarks = []string{"†", "‡", "§", "¶"}

// noteMark records note among the panel's notes and returns the mark to
// append to its row's label ("" for no note).
func noteMark(notes *[]string, note string) string {
	if note == "" {
		return ""
	}
	i := slices.Index(*notes, note)
	if i < 0 {
		i = len(*notes)
		*notes = append(*notes, note)
	}
	return " " + noteMarks[i%len(noteMarks)]
}

// withNotes appends the notes, each with its mark and wrapped to the width
// of a panel, as lines under an axis label, and raises *lines to the most
// lines added to any panel.
func withNotes(label string, notes []string, lines *int) string {
	n := 0
	for i, note := range notes {
		for _, ln := range wrapWords(noteMarks[i%len(noteMarks)]+" "+note, 44) {
			label += "\n" + ln
			n++
		}
	}
	*lines = max(*lines, n)
	return label
}

// wrapWords breaks s at spaces into lines of at most width runes (a longer
// word stays whole on its own line).
func wrapWords(s string, width int) []string {
	var out []string
	line := ""
	for _, w := range strings.Fields(s) {
		switch {
		case line == "":
			line = w
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(w) <= width:
			line += " " + w
		default:
			out = append(out, line)
			line = w
		}
	}
	if line != "" {
		out = append(out, line)
	}
	return out
}
