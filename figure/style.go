package figure

import (
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The paper style: every figure uses these fonts, sizes and colours, so that
// figures placed side by side in a paper or in the report look alike.

// Okabe-Ito colours (Okabe and Ito 2008, "Color Universal Design"), the
// palette recommended for readers with colour-vision deficiencies, plus a
// neutral grey for "unknown".
var (
	black         = color.RGBA{0x00, 0x00, 0x00, 0xff}
	orange        = color.RGBA{0xe6, 0x9f, 0x00, 0xff}
	skyBlue       = color.RGBA{0x56, 0xb4, 0xe9, 0xff}
	bluishGreen   = color.RGBA{0x00, 0x9e, 0x73, 0xff}
	yellow        = color.RGBA{0xf0, 0xe4, 0x42, 0xff}
	blue          = color.RGBA{0x00, 0x72, 0xb2, 0xff}
	vermillion    = color.RGBA{0xd5, 0x5e, 0x00, 0xff}
	reddishPurple = color.RGBA{0xcc, 0x79, 0xa7, 0xff}
	grey          = color.RGBA{0x80, 0x80, 0x80, 0xff}
)

// okabeIto is the order in which series without a reserved colour get their
// colours. Yellow comes last: it is hard to see on white.
var okabeIto = []color.RGBA{blue, orange, bluishGreen, vermillion, reddishPurple, skyBlue, black, yellow}

// Series labels with a fixed meaning keep the same colour in every figure:
// the judge labels (DESIGN.md §3.1) and trajectory outcomes.
const (
	LabelGood    = "good"
	LabelBad     = "bad"
	LabelUnknown = "unknown"
	LabelSuccess = "success"
	LabelFailure = "failure"
)

var reserved = map[string]color.RGBA{
	LabelGood:    bluishGreen,
	LabelBad:     vermillion,
	LabelUnknown: grey,
	LabelSuccess: blue,
	LabelFailure: orange,
}

// colours assigns a colour to each label: reserved labels get theirs, others
// take the palette in order of first appearance, skipping colours already in
// use, so a label keeps its colour across the panels of one figure.
type colours struct {
	byLabel map[string]color.RGBA
	next    int
}

func newColours() *colours { return &colours{byLabel: map[string]color.RGBA{}} }

func (c *colours) of(label string) color.RGBA {
	if col, ok := c.byLabel[label]; ok {
		return col
	}
	col, ok := reserved[label]
	if !ok {
		col = okabeIto[c.next%len(okabeIto)]
		for range okabeIto {
			if !c.used(col) {
				break
			}
			c.next++
			col = okabeIto[c.next%len(okabeIto)]
		}
		c.next++
	}
	c.byLabel[label] = col
	return col
}

func (c *colours) used(col color.RGBA) bool {
	for _, u := range c.byLabel {
		if u == col {
			return true
		}
	}
	return false
}

// fade returns col with opacity a in [0, 1].
func fade(col color.RGBA, a float64) color.Color {
	return color.NRGBA{col.R, col.G, col.B, uint8(math.Round(a * 255))}
}

// Sizes of the paper style, in points.
const (
	titleSize  = 11
	labelSize  = 10
	tickSize   = 9
	legendSize = 9
	lineWidth  = 1.5
	rawWidth   = 0.6
	axisWidth  = 0.6
	// bandAlpha and rawAlpha are the opacities of confidence bands and of
	// raw (unsmoothed or per-seed) curves.
	bandAlpha = 0.2
	rawAlpha  = 0.3
	// maxLabel is the longest tick label (in runes) before it is shortened
	// with an ellipsis; the full text belongs in the data table.
	maxLabel = 28
)

// The width of a figure that spans a paper's text width, and panel heights.
const (
	fullWidth   = 7.5 * vg.Inch
	singleWidth = 4.5 * vg.Inch
	panelHeight = 2.6 * vg.Inch
)

// sans is the typeface of all text: Liberation Sans, embedded in gonum/plot
// and metric-compatible with Arial and Helvetica.
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// handler lays out text as plain text: labels taken from logs may contain
// '$', '\' or '_', which a LaTeX handler would interpret.
var handler = text.Plain{Fonts: font.DefaultCache}

func textStyle(size font.Length, xa draw.XAlignment, ya draw.YAlignment) text.Style {
	return text.Style{
		Color:   color.Black,
		Font:    font.From(sans, size),
		XAlign:  xa,
		YAlign:  ya,
		Handler: handler,
	}
}

// newPlot returns a panel in the paper style with the given title and axis
// labels: sans-serif text, thin axes, outward ticks, light grid lines.
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.TextHandler = handler
	p.Title.Text = title
	p.Title.TextStyle = textStyle(titleSize, draw.XCenter, draw.YTop)
	p.Title.Padding = vg.Points(4)
	p.Legend.TextStyle = textStyle(legendSize, draw.XLeft, draw.YCenter)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle = textStyle(labelSize, draw.XCenter, draw.YBottom)
		a.Label.Padding = vg.Points(2)
		a.Tick.Label.Font = font.From(sans, tickSize)
		a.Tick.Label.Handler = handler
		a.Tick.Length = vg.Points(4)
		a.Tick.Width = vg.Points(axisWidth)
		a.Width = vg.Points(axisWidth)
		a.Padding = vg.Points(3)
		a.Tick.Marker = zeroTicks{}
	}
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	return p
}

// shorten cuts s to at most n runes, ending it with an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
