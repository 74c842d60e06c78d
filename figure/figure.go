package figure

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gradcouple/gradcouple/internal/atomicfile"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgpdf"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Format is an output format of a figure.
type Format string

// The formats Render writes.
const (
	SVG Format = "svg"
	PNG Format = "png"
	PDF Format = "pdf"
)

// FormatOf returns the format named by a file's extension (.svg, .png, .pdf),
// or an error naming the accepted extensions.
func FormatOf(path string) (Format, error) {
	switch f := Format(strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")); f {
	case SVG, PNG, PDF:
		return f, nil
	}
	return "", fmt.Errorf("figure file %s: unknown extension %q (use .svg, .png or .pdf)", path, filepath.Ext(path))
}

// DefaultDPI is the resolution of PNG output when Figure.DPI is zero.
const DefaultDPI = 200

// A Figure is a finished figure: one or more panels in the paper style, a
// shared legend and, for heatmaps, a colour bar. Constructors in this package
// build it from result values (copying what they keep, so later changes to
// the inputs do not show); Render draws it, any number of times, also from
// several goroutines. The zero Figure draws nothing useful: use a
// constructor. Width, Height and DPI may be changed before rendering.
type Figure struct {
	// Width and Height are the printed size.
	Width, Height vg.Length
	// DPI is the resolution of PNG output; zero means DefaultDPI.
	DPI int
	// Title is a one-line description, used as the accessible name of the
	// figure in the HTML report; it is not drawn (paper figures carry
	// captions, not titles).
	Title string

	mu   sync.Mutex // gonum/plot settles axis ranges while drawing
	draw func(c draw.Canvas)
	// layout is the arrangement draw draws (the HTML report lays the
	// panels out again for narrow screens).
	layout *layout
}

// Render writes the figure to w in the given format.
func (f *Figure) Render(w io.Writer, format Format) error {
	var cw vg.CanvasWriterTo
	switch format {
	case SVG:
		cw = vgsvg.New(f.Width, f.Height)
	case PNG:
		dpi := f.DPI
		if dpi <= 0 {
			dpi = DefaultDPI
		}
		cw = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(f.Width, f.Height), vgimg.UseDPI(dpi))}
	case PDF:
		cw = vgpdf.New(f.Width, f.Height)
	default:
		return fmt.Errorf("figure: unknown format %q (use svg, png or pdf)", format)
	}
	dc := draw.New(cleanText{cw})
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	f.mu.Lock()
	f.draw(dc)
	f.mu.Unlock()
	if format != SVG {
		_, err := cw.WriteTo(w)
		return err
	}
	var b bytes.Buffer
	if _, err := cw.WriteTo(&b); err != nil {
		return err
	}
	_, err := w.Write(fixImages(b.Bytes()))
	return err
}

// fixImages corrects the images vgsvg embeds (rasterised heatmaps): they are
// PNG though labelled image/jpg, and without preserveAspectRatio="none" a
// browser shrinks them to keep their pixel aspect ratio instead of filling
// the cells; pixelated keeps cell edges sharp.
func fixImages(svg []byte) []byte {
	svg = bytes.ReplaceAll(svg, []byte("data:image/jpg;base64,"), []byte("data:image/png;base64,"))
	return bytes.ReplaceAll(svg, []byte("<image "), []byte(`<image preserveAspectRatio="none" style="image-rendering:pixelated" `))
}

// cleanText is a canvas that draws text only as valid XML character data:
// control characters (other than tab and newline) and invalid UTF-8, which
// may come with labels from logs, become U+FFFD, so SVG output always parses.
type cleanText struct{ vg.CanvasWriterTo }

func (c cleanText) FillString(f font.Face, pt vg.Point, s string) {
	c.CanvasWriterTo.FillString(f, pt, validText(s))
}

func validText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0xFFFE || r == 0xFFFF {
			return '\uFFFD'
		}
		return r
	}, s)
}

// WriteTo writes the figure as SVG; it implements io.WriterTo.
func (f *Figure) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	if err := f.Render(&b, SVG); err != nil {
		return 0, err
	}
	return b.WriteTo(w)
}

// WriteFile writes the figure to path in the format its extension names,
// atomically: on error no file is left behind.
func (f *Figure) WriteFile(path string) error {
	format, err := FormatOf(path)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, func(w io.Writer) error { return f.Render(w, format) }); err != nil {
		return fmt.Errorf("writing figure %s: %w", path, err)
	}
	return nil
}

// legendEntry is one entry of a figure's shared legend.
type legendEntry struct {
	label  string
	col    color.Color
	dashes []vg.Length
	line   bool // a line sample
	patch  bool // a band (filled) sample behind the line
	marker bool // a point with an error bar
}

// layout is the arrangement of a figure: rows of aligned panels under a
// shared legend, and optionally a colour bar at the right.
type layout struct {
	panels   [][]*plot.Plot
	legend   []legendEntry
	colorBar *plot.Plot
}

// figure wraps a layout as a Figure of the given size.
func (l layout) figure(title string, w, h vg.Length) *Figure {
	return &Figure{Width: w, Height: h, Title: title, draw: l.draw, layout: &l}
}

const (
	margin   = 4 * vg.Millimeter
	panelGap = 8 * vg.Millimeter
	barWidth = 0.9 * vg.Inch
	// titleGap separates a panel title from the top of its data area.
	titleGap = vg.Length(7) // points
	// legendGap separates the legend from the panel titles below it.
	legendGap = 6 * vg.Millimeter / 2
)

func (l layout) draw(c draw.Canvas) {
	c = draw.Crop(c, margin/2, -margin/2, margin/4, -margin/4)
	if len(l.legend) > 0 {
		h := drawLegend(c, l.legend)
		c = draw.Crop(c, 0, 0, 0, -h-legendGap)
	}
	area := c
	if l.colorBar != nil {
		area = draw.Crop(c, 0, -barWidth, 0, 0)
	}
	if len(l.panels) == 0 {
		return
	}
	// Panel titles are drawn at a fixed height above each data area rather
	// than by gonum/plot at the top of each tile, which plot.Align shifts by
	// the height of the top tick label: titles of one row line up.
	titles := make([][]string, len(l.panels))
	var titleH vg.Length
	sty := textStyle(titleSize, draw.XCenter, draw.YBottom)
	for i, row := range l.panels {
		titles[i] = make([]string, len(row))
		for j, p := range row {
			if p != nil && p.Title.Text != "" {
				titles[i][j] = p.Title.Text
				titleH = max(titleH, sty.Height(p.Title.Text)+titleGap)
				p.Title.Text = ""
			}
		}
	}
	defer func() { // the layout is drawn again on the next Render
		for i, row := range l.panels {
			for j, p := range row {
				if p != nil {
					p.Title.Text = titles[i][j]
				}
			}
		}
	}()
	t := draw.Tiles{Rows: len(l.panels), Cols: len(l.panels[0]), PadX: panelGap, PadY: panelGap / 2, PadTop: titleH}
	canvases := plot.Align(l.panels, t, area)
	for i, row := range l.panels {
		for j, p := range row {
			if p == nil {
				continue
			}
			p.Draw(canvases[i][j])
			if titles[i][j] != "" {
				// Centred over the data area, but moved inwards where a
				// long title would run off the figure.
				data := p.DataCanvas(canvases[i][j])
				half := sty.Width(titles[i][j]) / 2
				x := (data.Min.X + data.Max.X) / 2
				x = max(min(x, c.Max.X-half), c.Min.X+half)
				c.FillText(sty, vg.Point{X: x, Y: data.Max.Y + titleGap}, titles[i][j])
			}
		}
	}
	if l.colorBar != nil {
		// Match the colour bar's length to the first panel's data area.
		data := l.panels[0][0].DataCanvas(canvases[0][0])
		bc := c
		bc.Min.X = c.Max.X - barWidth + panelGap/2
		bc.Min.Y = data.Min.Y
		bc.Max.Y = data.Max.Y
		bd := l.colorBar.DataCanvas(bc)
		bc = draw.Crop(bc, 0, 0, bc.Min.Y-bd.Min.Y, bc.Max.Y-bd.Max.Y)
		l.colorBar.Draw(bc)
	}
}

// drawLegend draws the entries in centred rows along the top of c and
// returns the height used.
func drawLegend(c draw.Canvas, entries []legendEntry) vg.Length {
	sty := textStyle(legendSize, draw.XLeft, draw.YCenter)
	const (
		thumb = 16 // thumbnail width, points
		gap   = 4  // thumbnail to text
		space = 14 // between entries
	)
	rowH := sty.Height("Mg") * 1.5
	width := func(e legendEntry) vg.Length { return thumb + gap + sty.Width(e.label) }
	maxW := c.Max.X - c.Min.X

	// Break the entries into rows that fit the width.
	var rows [][]legendEntry
	var cur []legendEntry
	var w vg.Length
	for _, e := range entries {
		ew := width(e)
		if len(cur) > 0 && w+space+ew > maxW {
			rows = append(rows, cur)
			cur, w = nil, 0
		}
		if len(cur) > 0 {
			w += space
		}
		cur = append(cur, e)
		w += ew
	}
	rows = append(rows, cur)

	y := c.Max.Y - rowH/2
	for _, row := range rows {
		var total vg.Length
		for i, e := range row {
			if i > 0 {
				total += space
			}
			total += width(e)
		}
		x := c.Min.X + (maxW-total)/2
		for _, e := range row {
			if e.patch {
				c.FillPolygon(fade(rgba(e.col), bandAlpha), []vg.Point{
					{X: x, Y: y - 4}, {X: x + thumb, Y: y - 4}, {X: x + thumb, Y: y + 4}, {X: x, Y: y + 4},
				})
			}
			if e.line {
				c.StrokeLine2(draw.LineStyle{Color: e.col, Width: vg.Points(lineWidth), Dashes: e.dashes}, x, y, x+thumb, y)
			}
			if e.marker {
				ls := draw.LineStyle{Color: e.col, Width: vg.Points(1)}
				c.StrokeLine2(ls, x+thumb/2, y-4, x+thumb/2, y+4)
				c.DrawGlyph(draw.GlyphStyle{Color: e.col, Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}, vg.Point{X: x + thumb/2, Y: y})
			}
			c.FillText(sty, vg.Point{X: x + thumb + gap, Y: y}, e.label)
			x += width(e) + space
		}
		y -= rowH
	}
	return rowH * vg.Length(len(rows))
}

// rgba converts any colour to RGBA.
func rgba(c color.Color) color.RGBA {
	if c == nil {
		return black
	}
	r, g, b, a := c.RGBA()
	return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
}
