package figure

import (
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// grid adapts a Heatmap to plotter.GridXYZ with row 0 at the top.
type grid struct{ h Heatmap }

func (g grid) Dims() (c, r int)   { return len(g.h.Cols), len(g.h.Rows) }
func (g grid) Z(c, r int) float64 { return g.h.Values[len(g.h.Rows)-1-r][c] }
func (g grid) X(c int) float64    { return float64(c) }
func (g grid) Y(r int) float64    { return float64(r) }

// rasterCells is the number of cells above which a heatmap is drawn as an
// embedded image instead of one rectangle per cell.
const rasterCells = 4096

// labelTicks returns ticks at 0..n-1 labelled with the shortened labels,
// thinned to at most 40 labels; reverse puts label 0 at n-1.
func labelTicks(labels []string, reverse bool) plot.ConstantTicks {
	n := len(labels)
	step := max(1, (n+39)/40)
	var ticks plot.ConstantTicks
	for i, l := range labels {
		v := float64(i)
		if reverse {
			v = float64(n - 1 - i)
		}
		t := plot.Tick{Value: v}
		if i%step == 0 {
			t.Label = shorten(l, maxLabel)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// maxAbs returns the largest finite |v| over the matrices, or 1 when there
// is none or it is 0, so that a colour scale is always defined.
func maxAbs(ms ...[][]float64) float64 {
	m := 0.0
	for _, mat := range ms {
		for _, row := range mat {
			for _, v := range row {
				if finite(v) {
					m = math.Max(m, math.Abs(v))
				}
			}
		}
	}
	if m == 0 {
		return 1
	}
	return m
}

// diverging returns the figure's diverging colour map on [-m, m]: Moreland's
// blue-red ("cool to warm"), whose ends stay distinct for red-green colour
// blindness, with white at 0.
func diverging(m float64) palette.ColorMap {
	cm := moreland.SmoothBlueRed()
	cm.SetMin(-m)
	cm.SetMax(m)
	return cm
}

// heatPanel draws one matrix on the shared scale [-m, m].
func heatPanel(h Heatmap, m float64, rowLabels bool) *plot.Plot {
	h.check()
	if h.XLabel == "" {
		h.XLabel = "affected sample j"
	}
	if h.YLabel == "" {
		h.YLabel = "updated sample i"
	}
	p := newPlot(h.Title, h.XLabel, "")
	if rowLabels {
		p.Y.Label.Text = h.YLabel
	}
	size := font.Length(tickSize)
	if n := max(len(h.Rows), len(h.Cols)); n > 12 {
		size = 7
	}
	p.X.Tick.Label.Font.Size = size
	p.Y.Tick.Label.Font.Size = size
	p.X.Tick.Label.Rotation = math.Pi / 4
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YTop
	p.X.Tick.Marker = labelTicks(h.Cols, false)
	p.Y.Tick.Marker = labelTicks(h.Rows, true)
	if !rowLabels {
		ticks := labelTicks(h.Rows, true)
		for i := range ticks {
			ticks[i].Label = ""
		}
		p.Y.Tick.Marker = ticks
	}
	p.X.Padding, p.Y.Padding = 0, 0
	if len(h.Rows) == 0 || len(h.Cols) == 0 {
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
		p.Add(noData{})
		return p
	}
	hm := plotter.NewHeatMap(grid{h}, diverging(m).Palette(255))
	hm.Min, hm.Max = -m, m
	hm.NaN = color.Gray{0x60}
	hm.Underflow, hm.Overflow = hm.NaN, hm.NaN
	hm.Rasterized = len(h.Rows)*len(h.Cols) > rasterCells
	p.Add(hm)
	return p
}

// CouplingOptions are the settings of CouplingScaled.
type CouplingOptions struct {
	// Scale is the half-width m of the diverging colour scale [-m, m]. Zero
	// means HeatmapScale of the two panels; give the HeatmapScale of every
	// run's heatmaps to draw the figures of several runs (say GRPO and GCD)
	// on one scale, so that equal colours mean equal values. A negative or
	// non-finite Scale panics.
	Scale float64
}

// HeatmapScale returns the half-width of one symmetric colour scale for all
// the heatmaps given: the largest finite |value| over all of them, or 1 when
// there is none or it is 0.
func HeatmapScale(maps ...Heatmap) float64 {
	ms := make([][][]float64, len(maps))
	for i, h := range maps {
		ms[i] = h.Values
	}
	return maxAbs(ms...)
}

// Coupling draws the coupling heatmap (Fig. 3b of Liu et al., arXiv
// 2509.23870, with an exact meaning, DESIGN.md §4): two panels side by side,
// the first-order prediction Delta_ij = eta A_i K_ij of how an update on
// sample i (row) changes log pi(a_j | s_j) of sample j (column), and the
// change measured by applying that update to a copy of the model. Both panels
// share one diverging colour scale centred at 0 (blue lowers, red raises the
// affected action's log-probability), shown by the colour bar; dark grey cells are
// missing (NaN). Rows and columns are labelled (shortened to 28 runes).
func Coupling(predicted, measured Heatmap) *Figure {
	return CouplingScaled(predicted, measured, CouplingOptions{})
}

// CouplingScaled is Coupling on a given colour scale (CouplingOptions).
// The predicted and measured panels always share the scale: they measure
// the same quantity and have one colour bar.
func CouplingScaled(predicted, measured Heatmap, opt CouplingOptions) *Figure {
	if opt.Scale < 0 || !finite(opt.Scale) {
		panic("figure: invalid colour scale")
	}
	if predicted.Title == "" {
		predicted.Title = "predicted (first order)"
	}
	if measured.Title == "" {
		measured.Title = "measured"
	}
	m := opt.Scale
	if m == 0 {
		m = HeatmapScale(predicted, measured)
	}
	bar := newPlot("", "", "Δ log π(a_j | s_j)")
	bar.HideX()
	bar.Add(colourBar{cm: diverging(m), n: 64})
	l := layout{
		panels:   [][]*plot.Plot{{heatPanel(predicted, m, true), heatPanel(measured, m, false)}},
		colorBar: bar,
	}
	return l.figure("Coupling heatmap: predicted and measured change in log-probability", fullWidth, 4.2*vg.Inch)
}

// colourBar draws a vertical colour bar as n filled bands (vector output, so
// it stays sharp in SVG and PDF, unlike plotter.ColorBar's embedded image).
type colourBar struct {
	cm palette.ColorMap
	n  int
}

func (b colourBar) DataRange() (xmin, xmax, ymin, ymax float64) {
	return 0, 1, b.cm.Min(), b.cm.Max()
}

func (b colourBar) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	lo, hi := b.cm.Min(), b.cm.Max()
	step := (hi - lo) / float64(b.n)
	for i := range b.n {
		v0 := lo + float64(i)*step
		col, err := b.cm.At(v0 + step/2)
		if err != nil {
			continue
		}
		// Overlap each band by a hair so that anti-aliasing shows no seams.
		y0, y1 := trY(v0), trY(v0+step)+0.3
		x0, x1 := trX(0), trX(1)
		c.FillPolygon(col, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: min(y1, trY(hi))}, {X: x0, Y: min(y1, trY(hi))}})
	}
}
