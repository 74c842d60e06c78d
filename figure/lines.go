package figure

import (
	"image/color"
	"math"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/metrics"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// lineOpts are the settings of a line panel.
type lineOpts struct {
	smooth   float64 // EMA weight in [0, 1); 0 is none
	zero     bool    // the y axis includes 0
	unit     bool    // the y axis includes [0, 1]
	dashesOf func(label string) []vg.Length
	// share gives every panel with data the union of their y-ranges, for
	// panels meant to be compared side by side.
	share bool
}

// Scales says whether panels meant to be compared side by side (the groups
// of Consistency and Repetition, the domains of LearningCurves, the heatmap
// figures of several runs) share their ranges.
type Scales struct {
	// Independent gives every panel its own y-range (gonum/plot's range of
	// its data). The zero value shares one y-range across the panels, so
	// that equal heights mean equal values: panels with different ranges
	// side by side mislead.
	Independent bool
}

// sharedRange sets the y-range of every panel with data to the union of
// their ranges and returns it; panels without data (nil, or marked by
// noData) are left alone. ok is false when no panel has data.
func sharedRange(panels []*plot.Plot, hasData []bool) (lo, hi float64, ok bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for i, p := range panels {
		if p != nil && hasData[i] {
			lo, hi = math.Min(lo, p.Y.Min), math.Max(hi, p.Y.Max)
		}
	}
	if !(lo <= hi) {
		return 0, 0, false
	}
	for i, p := range panels {
		if p != nil && hasData[i] {
			p.Y.Min, p.Y.Max = lo, hi
		}
	}
	return lo, hi, true
}

// finite reports whether every value is finite.
func finite(v ...float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// runs splits the indices 0..n-1 into maximal runs where ok(i) holds.
func runs(n int, ok func(i int) bool) [][2]int {
	var out [][2]int
	start := -1
	for i := 0; i <= n; i++ {
		if i < n && ok(i) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, [2]int{start, i})
			start = -1
		}
	}
	return out
}

// addCurve draws y over x as a line that breaks at non-finite points; a
// point with no finite neighbour is drawn as a dot so it stays visible.
func addCurve(p *plot.Plot, x, y []float64, ls draw.LineStyle) {
	for _, r := range runs(len(x), func(i int) bool { return finite(x[i], y[i]) }) {
		xys := make(plotter.XYs, 0, r[1]-r[0])
		for i := r[0]; i < r[1]; i++ {
			xys = append(xys, plotter.XY{X: x[i], Y: y[i]})
		}
		if len(xys) == 1 {
			s, err := plotter.NewScatter(xys)
			if err != nil {
				panic(err) // unreachable: the points are finite
			}
			s.GlyphStyle = draw.GlyphStyle{Color: ls.Color, Radius: ls.Width + vg.Points(1), Shape: draw.CircleGlyph{}}
			p.Add(s)
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			panic(err)
		}
		l.LineStyle = ls
		p.Add(l)
	}
}

// addBand fills the region between lo and hi, in pieces where both are finite.
func addBand(p *plot.Plot, x, lo, hi []float64, fill color.Color) {
	for _, r := range runs(len(x), func(i int) bool { return finite(x[i], lo[i], hi[i]) }) {
		if r[1]-r[0] < 2 {
			continue
		}
		ring := make(plotter.XYs, 0, 2*(r[1]-r[0]))
		for i := r[0]; i < r[1]; i++ {
			ring = append(ring, plotter.XY{X: x[i], Y: lo[i]})
		}
		for i := r[1] - 1; i >= r[0]; i-- {
			ring = append(ring, plotter.XY{X: x[i], Y: hi[i]})
		}
		poly, err := plotter.NewPolygon(ring)
		if err != nil {
			panic(err)
		}
		poly.Color = fill
		poly.LineStyle.Width = 0
		p.Add(poly)
	}
}

// addGrid adds light horizontal grid lines at the major ticks.
func addGrid(p *plot.Plot) {
	g := plotter.NewGrid()
	g.Vertical.Width = 0
	g.Horizontal = draw.LineStyle{Color: color.Gray{0xe0}, Width: vg.Points(0.5)}
	p.Add(g)
}

// noData is a plotter that writes "no data" in the middle of an empty panel.
type noData struct{}

func (noData) Plot(c draw.Canvas, _ *plot.Plot) {
	sty := textStyle(labelSize, draw.XCenter, draw.YCenter)
	sty.Color = grey
	c.FillText(sty, c.Center(), "no data")
}

// hasData reports whether the panel has any finite point.
func hasData(ss []Series) bool {
	for _, s := range ss {
		for i := range s.X {
			if finite(s.X[i], s.Y[i]) {
				return true
			}
		}
	}
	return false
}

// linePanel draws the series of one panel: raw curves, then bands, then
// (smoothed) means, so that means stay on top. It returns the legend entries
// of series it has not seen before (seen is updated).
func linePanel(pn Panel, col *colours, opt lineOpts, seen map[string]bool) (*plot.Plot, []legendEntry) {
	p := newPlot(pn.Title, pn.XLabel, pn.YLabel)
	if pn.XLabel == iterLabel {
		p.X.Tick.Marker = iterationTicks{}
	}
	addGrid(p)
	var entries []legendEntry
	for _, s := range pn.Series {
		s.check()
	}
	if !hasData(pn.Series) {
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
		p.Add(noData{})
	}
	smooth := func(v []float64) []float64 {
		if opt.smooth == 0 || v == nil {
			return v
		}
		return metrics.EMA(nil, v, opt.smooth)
	}
	for _, s := range pn.Series {
		c := col.of(s.Label)
		raw := draw.LineStyle{Color: fade(c, rawAlpha), Width: vg.Points(rawWidth)}
		for _, r := range s.Raw {
			addCurve(p, s.X, r, raw)
		}
		if opt.smooth > 0 && len(s.Raw) == 0 {
			addCurve(p, s.X, s.Y, raw) // keep the raw data visible
		}
	}
	for _, s := range pn.Series {
		if s.Lo != nil {
			addBand(p, s.X, smooth(s.Lo), smooth(s.Hi), fade(col.of(s.Label), bandAlpha))
		}
	}
	for _, s := range pn.Series {
		c := col.of(s.Label)
		var dashes []vg.Length
		if opt.dashesOf != nil {
			dashes = opt.dashesOf(s.Label)
		}
		addCurve(p, s.X, smooth(s.Y), draw.LineStyle{Color: c, Width: vg.Points(lineWidth), Dashes: dashes})
		if !seen[s.Label] {
			seen[s.Label] = true
			entries = append(entries, legendEntry{label: s.Label, col: c, dashes: dashes, line: true, patch: s.Lo != nil})
		}
	}
	if opt.zero || opt.unit {
		p.Y.Min = math.Min(p.Y.Min, 0)
	}
	if opt.unit {
		p.Y.Max = math.Max(p.Y.Max, 1)
	}
	return p, entries
}

// lines lays out panels in one row (or a grid of cols columns) with a shared
// legend.
func lines(title string, panels []Panel, cols int, opt lineOpts) *Figure {
	l, w, h := linesLayout(panels, cols, opt)
	return l.figure(title, w, h)
}

// linesLayout is the layout of lines and its size.
func linesLayout(panels []Panel, cols int, opt lineOpts) (layout, vg.Length, vg.Length) {
	if cols <= 0 || cols > len(panels) {
		cols = max(len(panels), 1)
	}
	col := newColours()
	seen := map[string]bool{}
	var l layout
	var row, all []*plot.Plot
	var data []bool
	for _, pn := range panels {
		p, e := linePanel(pn, col, opt, seen)
		l.legend = append(l.legend, e...)
		all, data = append(all, p), append(data, hasData(pn.Series))
		row = append(row, p)
		if len(row) == cols {
			l.panels = append(l.panels, row)
			row = nil
		}
	}
	if len(row) > 0 {
		for len(row) < cols {
			row = append(row, nil)
		}
		l.panels = append(l.panels, row)
	}
	if opt.share {
		sharedRange(all, data)
	}
	w := fullWidth
	if cols == 1 {
		w = singleWidth
	}
	h := panelHeight*vg.Length(max(len(l.panels), 1)) + legendHeight(l.legend, w)
	return l, w, h
}

// legendHeight estimates the height the legend needs at width w (one row
// unless it has many entries).
func legendHeight(entries []legendEntry, w vg.Length) vg.Length {
	if len(entries) == 0 {
		return 0
	}
	sty := textStyle(legendSize, draw.XLeft, draw.YCenter)
	var total vg.Length
	for _, e := range entries {
		total += 34 + sty.Width(e.label)
	}
	rows := math.Ceil(float64(total / (w - 2*margin)))
	return sty.Height("Mg")*1.5*vg.Length(max(rows, 1)) + legendGap
}

// iterationTicks are the ticks of an axis of training iterations: gonum's
// default ticks, unless they label fewer than three ticks or label whole
// iterations with decimals (as it does for 0..29: "0.00", "25.00"); then
// multiples of the smallest step of 1, 2 or 5 times a power of ten that
// gives at most six labels, with unlabelled ticks in between.
type iterationTicks struct{}

func (iterationTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := zeroTicks{}.Ticks(lo, hi)
	labels, decimals := 0, false
	for _, t := range ticks {
		if t.Label != "" {
			labels++
			decimals = decimals || strings.Contains(t.Label, ".")
		}
	}
	if !finite(lo, hi) || hi-lo < 2 || (labels >= 3 && !decimals) {
		return ticks
	}
	var step float64
	for p := 1.0; step == 0; p *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if math.Floor(hi/(m*p))-math.Ceil(lo/(m*p))+1 <= 6 {
				step = m * p
				break
			}
		}
	}
	minor := step / 5
	if step/5 != math.Trunc(step/5) {
		minor = step / 2
	}
	if minor != math.Trunc(minor) {
		minor = step
	}
	var out []plot.Tick
	for v := math.Ceil(lo/minor) * minor; v <= hi; v += minor {
		t := plot.Tick{Value: v}
		if math.Mod(v, step) == 0 {
			t.Label = strconv.FormatFloat(v, 'f', -1, 64)
		}
		out = append(out, t)
	}
	return out
}
