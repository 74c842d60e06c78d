package figure

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gradcouple/gradcouple/metrics"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/figure")

const goldenDir = "../testdata/figure"

// svgDoc is what the structure tests read from a rendered SVG.
type svgDoc struct {
	width, height float64 // viewBox
	paths         []svgPath
	texts         []string
	images        int
}

type svgPath struct {
	pts    [][2]float64
	stroke string // "" when none
	fill   string // "" when none
	width  float64
	dashed bool
}

// colour returns the path's stroke (or else fill) colour, snapped to the
// nearest style colour within 3 per channel: vgsvg un-premultiplies
// translucent colours with truncation (#0072B2 at 30% becomes #0071B1).
func (p svgPath) colour() string {
	c := p.stroke
	if c == "" {
		c = p.fill
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(c, "#"), 16, 32)
	if err != nil || len(c) != 7 {
		return c
	}
	for _, k := range append(okabeIto, grey) {
		d := max(absDiff(uint8(v>>16), k.R), absDiff(uint8(v>>8), k.G), absDiff(uint8(v), k.B))
		if d <= 3 {
			return fmt.Sprintf("#%02X%02X%02X", k.R, k.G, k.B)
		}
	}
	return c
}

func absDiff(a, b uint8) uint8 {
	if a > b {
		return a - b
	}
	return b - a
}

func styleMap(s string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(kv, ":")
		if ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// pathPoints reads the end points of M, L and A commands of vgsvg's path data.
func pathPoints(d string) ([][2]float64, error) {
	var pts [][2]float64
	f := strings.FieldsFunc(d, func(r rune) bool { return r == ',' || r == ' ' })
	// Split command letters from numbers: vgsvg writes "M1,2L3,4A...".
	var toks []string
	for _, s := range f {
		start := 0
		for i, r := range s {
			if strings.ContainsRune("MLAZ", r) {
				if i > start {
					toks = append(toks, s[start:i])
				}
				toks = append(toks, string(r))
				start = i + 1
			}
		}
		if start < len(s) {
			toks = append(toks, s[start:])
		}
	}
	num := func(i int) (float64, error) { return strconv.ParseFloat(toks[i], 64) }
	for i := 0; i < len(toks); {
		switch toks[i] {
		case "M", "L":
			x, err1 := num(i + 1)
			y, err2 := num(i + 2)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("bad path %q", d)
			}
			pts = append(pts, [2]float64{x, y})
			i += 3
		case "A": // rx ry rot large sweep x y
			x, err1 := num(i + 6)
			y, err2 := num(i + 7)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("bad arc in %q", d)
			}
			pts = append(pts, [2]float64{x, y})
			i += 8
		case "Z":
			i++
		default:
			return nil, fmt.Errorf("unexpected token %q in path %q", toks[i], d)
		}
	}
	return pts, nil
}

func parseSVG(t *testing.T, b []byte) svgDoc {
	t.Helper()
	var doc svgDoc
	d := xml.NewDecoder(bytes.NewReader(b))
	var inText bool
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("SVG does not parse: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			attr := map[string]string{}
			for _, a := range e.Attr {
				attr[a.Name.Local] = a.Value
			}
			switch e.Name.Local {
			case "svg":
				vb := strings.Fields(attr["viewBox"])
				if len(vb) != 4 {
					t.Fatalf("viewBox %q", attr["viewBox"])
				}
				doc.width, _ = strconv.ParseFloat(vb[2], 64)
				doc.height, _ = strconv.ParseFloat(vb[3], 64)
			case "path":
				pts, err := pathPoints(attr["d"])
				if err != nil {
					t.Fatal(err)
				}
				st := styleMap(attr["style"])
				p := svgPath{pts: pts}
				if s := st["stroke"]; s != "" && s != "none" {
					p.stroke = strings.ToUpper(s)
				}
				if f := st["fill"]; f != "" && f != "none" {
					p.fill = strings.ToUpper(f)
				}
				p.width, _ = strconv.ParseFloat(st["stroke-width"], 64)
				p.dashed = st["stroke-dasharray"] != ""
				doc.paths = append(doc.paths, p)
			case "text":
				inText = true
				doc.texts = append(doc.texts, "")
			case "image":
				doc.images++
			}
		case xml.CharData:
			if inText {
				doc.texts[len(doc.texts)-1] += string(e)
			}
		case xml.EndElement:
			if e.Name.Local == "text" {
				inText = false
			}
		}
	}
	return doc
}

// box is the rectangle spanned by a panel's x and y axis lines.
type box struct{ x0, x1, y0, y1 float64 }

func (b box) contains(p [2]float64) bool {
	// Points: markers and error-bar caps at the extreme data values reach
	// past the axis ends by their radius (2.5pt) or half width (2pt).
	const tol = 3
	return p[0] >= b.x0-tol && p[0] <= b.x1+tol && p[1] >= b.y0-tol && p[1] <= b.y1+tol
}

// axes finds panels as pairs of long solid black lines, a horizontal x axis
// and a vertical y axis meeting near its left end, and colour bars: a y axis
// without an x axis, whose bar lies within 40pt to its right.
func (doc svgDoc) axes() (panels, bars []box) {
	type seg struct{ a, b [2]float64 }
	var hs, vs []seg
	for _, p := range doc.paths {
		if p.stroke != "#000000" || p.dashed || len(p.pts) != 2 {
			continue
		}
		a, b := p.pts[0], p.pts[1]
		switch {
		case a[1] == b[1] && math.Abs(a[0]-b[0]) > 30:
			hs = append(hs, seg{a, b})
		case a[0] == b[0] && math.Abs(a[1]-b[1]) > 30:
			vs = append(vs, seg{a, b})
		}
	}
	paired := make([]bool, len(vs))
	for _, h := range hs {
		x0, x1 := math.Min(h.a[0], h.b[0]), math.Max(h.a[0], h.b[0])
		for i, v := range vs {
			y0, y1 := math.Min(v.a[1], v.b[1]), math.Max(v.a[1], v.b[1])
			// gonum pads the axes apart: the y axis sits left of the x
			// axis's start, the x axis below the y axis's bottom.
			if v.a[0] <= x0+1 && x0-v.a[0] < 15 && h.a[1] <= y0+1 && y0-h.a[1] < 15 {
				panels = append(panels, box{math.Min(x0, v.a[0]), x1, math.Min(y0, h.a[1]), y1})
				paired[i] = true
			}
		}
	}
	for i, v := range vs {
		if !paired[i] {
			bars = append(bars, box{v.a[0], v.a[0] + 40, math.Min(v.a[1], v.b[1]), math.Max(v.a[1], v.b[1])})
		}
	}
	return panels, bars
}

// figureCase is what a rendered figure must contain.
type figureCase struct {
	name   string
	fig    func() *Figure
	panels int
	texts  []string       // axis labels, titles, legend entries, tick labels
	lines  map[string]int // minimum number of paths by colour (data and legend)
	bars   int            // colour bars
}

func figureCases() []figureCase {
	green, verm, grey := "#009E73", "#D55E00", "#808080"
	blue, orange := "#0072B2", "#E69F00"
	return []figureCase{
		{name: "consistency", fig: sampleConsistency, panels: 2,
			texts: []string{"GRPO", "GCD", "training iteration", "share with high consistency", LabelGood, LabelBad, LabelUnknown},
			// good: 2 panels + legend; bad: 2 pieces in GRPO (NaN gap) + 1 + legend.
			lines: map[string]int{green: 3, verm: 4, grey: 3}},
		{name: "repetition", fig: sampleRepetition, panels: 1,
			texts: []string{"GRPO", "repeated-action rate", LabelSuccess, LabelFailure},
			lines: map[string]int{blue: 2, orange: 2}},
		{name: "coupling", fig: sampleCoupling, panels: 2, bars: 1,
			texts: append([]string{"predicted (first order)", "measured", "affected sample j", "updated sample i", "Δ log π(a_j | s_j)",
				"take apple 1 from counterto…"}, sampleActions[0], sampleActions[2]),
		},
		{name: "squeeze", fig: sampleSqueeze, panels: 2,
			texts: []string{"full update", "negative-advantage part", "update step t", "probability π(a)", "good", "bad (harmful)", "total bad mass"},
			lines: map[string]int{green: 3, verm: 3, orange: 3}},
		{name: "lemma", fig: sampleLemma, panels: 2,
			texts: []string{"predicted vs empirical", "advantage mass by q", "y = x", "household", "lab", "r = 0.3", "r = 0.6", "empirical advantage mass"},
			lines: map[string]int{grey: 2}},
		{name: "learning", fig: func() *Figure { return sampleLearning(0.6) }, panels: 2,
			texts: []string{"in-domain", "out-of-domain", "success rate", "GRPO", "GCD"},
			// per panel and method: 3 seed curves, band, mean; plus legend.
			lines: map[string]int{blue: 2*4 + 1, orange: 2*4 + 1}},
		{name: "dynamics", fig: sampleDynamics, panels: 2,
			texts: []string{"harmful coupling", "cross-group coupling", "harmful-pair rate", "mean cosine, good × bad"},
			lines: map[string]int{blue: 3, orange: 3}},
		{name: "separation", fig: sampleSeparation, panels: 2,
			texts: []string{"Fisher ratio", "linear probe", "probe accuracy", "GRPO", "GCD"},
			lines: map[string]int{blue: 3, orange: 3}},
		{name: "final", fig: sampleFinal, panels: 3,
			texts: []string{"in-domain", "out-of-domain", "probability of improvement", "IQM success", "P(X > Y)", "GRPO", "GCD", "GCD > GRPO"},
			lines: map[string]int{blue: 2, orange: 3}},
	}
}

// TestFigureStructure renders every figure to SVG and checks its structure:
// the panels (axis pairs), the texts that must appear, the data drawn in each
// colour, and that nothing coloured is drawn outside the axes except the
// legend above the panels.
func TestFigureStructure(t *testing.T) {
	for _, c := range figureCases() {
		t.Run(c.name, func(t *testing.T) {
			f := c.fig()
			var b bytes.Buffer
			if _, err := f.WriteTo(&b); err != nil {
				t.Fatal(err)
			}
			doc := parseSVG(t, b.Bytes())
			if math.Abs(doc.width-f.Width.Points()) > 0.01 || math.Abs(doc.height-f.Height.Points()) > 0.01 {
				t.Errorf("viewBox %gx%g, figure %gx%g", doc.width, doc.height, f.Width.Points(), f.Height.Points())
			}
			boxes, bars := doc.axes()
			if len(boxes) != c.panels || len(bars) != c.bars {
				t.Fatalf("found %d panels (axis pairs) and %d colour bars, want %d and %d", len(boxes), len(bars), c.panels, c.bars)
			}
			texts := map[string]int{}
			for _, s := range doc.texts {
				if strings.TrimSpace(s) == "" {
					t.Errorf("empty text element")
				}
				texts[s]++
			}
			for _, s := range c.texts {
				if texts[s] == 0 {
					t.Errorf("text %q missing; have %q", s, doc.texts)
				}
			}
			byColour := map[string]int{}
			top := 0.0
			for _, bx := range boxes {
				top = math.Max(top, bx.y1)
			}
			for _, p := range doc.paths {
				col := p.colour()
				if col == "#FFFFFF" || (col == "#000000" && !p.dashed) {
					continue // background, axes, ticks
				}
				byColour[col]++
				inLegend := true
				for _, pt := range p.pts {
					inLegend = inLegend && pt[1] > top
				}
				if inLegend {
					continue
				}
				for _, pt := range p.pts {
					inside := false
					for _, bx := range append(boxes, bars...) {
						inside = inside || bx.contains(pt)
					}
					if !inside {
						t.Errorf("%s path point %v outside every panel %v", col, pt, boxes)
						break
					}
				}
			}
			for col, n := range c.lines {
				if byColour[col] < n {
					t.Errorf("%d paths in %s, want at least %d", byColour[col], col, n)
				}
			}
			if doc.images != 0 {
				t.Errorf("%d embedded images, want vector output", doc.images)
			}
			// The same figure renders to every format.
			for _, format := range []Format{PNG, PDF} {
				var out bytes.Buffer
				if err := f.Render(&out, format); err != nil {
					t.Fatalf("%s: %v", format, err)
				}
				magic := map[Format]string{PNG: "\x89PNG", PDF: "%PDF"}[format]
				if !bytes.HasPrefix(out.Bytes(), []byte(magic)) {
					t.Errorf("%s output starts %q", format, out.Bytes()[:8])
				}
			}
		})
	}
}

// TestGolden compares each figure with its golden PNG under a tolerance and
// its SVG text content exactly (go test ./figure -update rewrites both).
func TestGolden(t *testing.T) {
	for _, c := range figureCases() {
		t.Run(c.name, func(t *testing.T) {
			f := c.fig()
			f.DPI = 72 // small goldens
			var pngBuf, svgBuf bytes.Buffer
			if err := f.Render(&pngBuf, PNG); err != nil {
				t.Fatal(err)
			}
			if err := f.Render(&svgBuf, SVG); err != nil {
				t.Fatal(err)
			}
			texts := strings.Join(parseSVG(t, svgBuf.Bytes()).texts, "\n") + "\n"
			pngPath := filepath.Join(goldenDir, c.name+".png")
			txtPath := filepath.Join(goldenDir, c.name+".texts")
			if *update {
				if err := os.MkdirAll(goldenDir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(pngPath, pngBuf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(txtPath, []byte(texts), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(txtPath)
			if err != nil {
				t.Fatalf("%v (run go test ./figure -update)", err)
			}
			if string(want) != texts {
				t.Errorf("texts differ from %s:\ngot:\n%s\nwant:\n%s", txtPath, texts, want)
			}
			golden, err := os.ReadFile(pngPath)
			if err != nil {
				t.Fatalf("%v (run go test ./figure -update)", err)
			}
			if msg := comparePNG(pngBuf.Bytes(), golden); msg != "" {
				bad := filepath.Join(t.TempDir(), c.name+".png")
				os.WriteFile(bad, pngBuf.Bytes(), 0o644)
				t.Errorf("%s differs from %s: %s (got %s)", c.name, pngPath, msg, bad)
			}
		})
	}
}

// comparePNG returns "" when the images have the same size and at most 0.5%
// of pixels differ by more than 48 in some channel (anti-aliasing and font
// rasterisation may differ slightly across platforms), else a description.
func comparePNG(got, want []byte) string {
	a, err := png.Decode(bytes.NewReader(got))
	if err != nil {
		return err.Error()
	}
	b, err := png.Decode(bytes.NewReader(want))
	if err != nil {
		return err.Error()
	}
	if a.Bounds() != b.Bounds() {
		return fmt.Sprintf("size %v, want %v", a.Bounds().Size(), b.Bounds().Size())
	}
	diff, n := 0, 0
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			n++
			if pixelDiff(a, b, x, y) > 48 {
				diff++
			}
		}
	}
	if float64(diff) > 0.005*float64(n) {
		return fmt.Sprintf("%d of %d pixels differ", diff, n)
	}
	return ""
}

func pixelDiff(a, b image.Image, x, y int) int {
	r1, g1, b1, _ := a.At(x, y).RGBA()
	r2, g2, b2, _ := b.At(x, y).RGBA()
	d := 0
	for _, p := range [][2]uint32{{r1, r2}, {g1, g2}, {b1, b2}} {
		v := int(p[0]>>8) - int(p[1]>>8)
		if v < 0 {
			v = -v
		}
		d = max(d, v)
	}
	return d
}

// TestInputsNotModifiedAndCopied checks that constructors leave their inputs
// alone and that a figure does not change when the caller later reuses them.
func TestInputsNotModifiedAndCopied(t *testing.T) {
	x := []float64{0, 1, 2, 3}
	y := []float64{0.1, math.NaN(), 0.3, 0.4}
	lo := []float64{0, 0, 0.2, 0.3}
	hi := []float64{0.2, 0.3, 0.4, 0.5}
	s := Series{Label: "a", X: x, Y: y, Lo: lo, Hi: hi}
	f := LearningCurves([]Series{s}, []Series{s}, CurveOptions{Smooth: 0.5})
	if !math.IsNaN(y[1]) || y[0] != 0.1 || lo[2] != 0.2 {
		t.Fatalf("inputs modified: y=%v lo=%v", y, lo)
	}
	var before, after bytes.Buffer
	f.WriteTo(&before)
	y[0], y[2] = 100, -100
	f.WriteTo(&after)
	if before.String() != after.String() {
		t.Error("figure changed when its input slice was modified after construction")
	}
}

// TestEmptyAndNaN checks that empty or all-NaN inputs render "no data"
// panels instead of failing.
func TestEmptyAndNaN(t *testing.T) {
	nan := math.NaN()
	figs := map[string]*Figure{
		"consistency": Consistency(Group{Name: "empty"}),
		"nan":         Repetition(Group{Name: "nan", Series: []Series{{Label: LabelSuccess, X: []float64{0, 1}, Y: []float64{nan, nan}}}}),
		"coupling":    Coupling(Heatmap{}, Heatmap{}),
		"squeeze":     Squeeze(SqueezePanel{Title: "none"}),
		"lemma":       Lemma([]LemmaPoint{{Group: "g", Predicted: metricsNaN(), Empirical: metricsNaN()}}, nil),
		"final":       FinalPerformance([]ScorePanel{{Title: "none"}}, nil),
		"nothing":     Lines("nothing"),
	}
	for name, f := range figs {
		var b bytes.Buffer
		if _, err := f.WriteTo(&b); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		doc := parseSVG(t, b.Bytes())
		if name != "nothing" && !strings.Contains(strings.Join(doc.texts, "|"), "no data") {
			t.Errorf("%s: no \"no data\" note in %q", name, doc.texts)
		}
	}
}

// TestLengthMismatchPanics checks the programmer-error tier.
func TestLengthMismatchPanics(t *testing.T) {
	for name, fn := range map[string]func(){
		"series": func() { Lines("", Panel{Series: []Series{{X: []float64{1, 2}, Y: []float64{1}}}}) },
		"band":   func() { Lines("", Panel{Series: []Series{{X: []float64{1}, Y: []float64{1}, Lo: []float64{1}}}}) },
		"heat": func() {
			Coupling(Heatmap{Rows: []string{"a"}, Cols: []string{"b"}, Values: [][]float64{{1, 2}}}, Heatmap{})
		},
		"pi": func() { Squeeze(SqueezePanel{Actions: []string{"a"}, Bad: []bool{false}, Pi: [][]float64{{0.5, 0.5}}}) },
	} {
		func() {
			defer func() {
				if r := recover(); r != "figure: length mismatch" {
					t.Errorf("%s: recovered %v, want length mismatch panic", name, r)
				}
			}()
			fn()
		}()
	}
}

// TestConcurrentRender renders one figure from several goroutines (run with
// -race).
func TestConcurrentRender(t *testing.T) {
	f := sampleConsistency()
	var want bytes.Buffer
	f.WriteTo(&want)
	var wg sync.WaitGroup
	errs := make([]string, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b bytes.Buffer
			f.WriteTo(&b)
			if b.String() != want.String() {
				errs[i] = "differs"
			}
		}()
	}
	wg.Wait()
	sort.Strings(errs)
	if errs[len(errs)-1] != "" {
		t.Error("concurrent renders differ")
	}
}

func TestFormatOf(t *testing.T) {
	for path, want := range map[string]Format{"a.svg": SVG, "b.PNG": PNG, "c.pdf": PDF, "d.jpg": ""} {
		got, err := FormatOf(path)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("FormatOf(%q) = %q, %v", path, got, err)
		}
	}
	dir := t.TempDir()
	if err := sampleRepetition().WriteFile(filepath.Join(dir, "r.pdf")); err != nil {
		t.Fatal(err)
	}
	if err := sampleRepetition().WriteFile(filepath.Join(dir, "r.gif")); err == nil {
		t.Error("WriteFile accepted .gif")
	}
	if _, err := os.Stat(filepath.Join(dir, "r.gif")); err == nil {
		t.Error("WriteFile left r.gif behind")
	}
}

func TestOverSeeds(t *testing.T) {
	// Seeds 0.2, 0.4, 0.6 at x=0 (mean 0.4); one seed missing at x=1; none at x=2.
	nan := math.NaN()
	s := OverSeeds("m", []float64{0, 1, 2}, [][]float64{{0.2, 0.5, nan}, {0.4, nan, nan}, {0.6, nan, nan}},
		metricsCfg(), newRand())
	if math.Abs(s.Y[0]-0.4) > 1e-12 || !(s.Lo[0] >= 0.2 && s.Lo[0] < 0.4 && s.Hi[0] > 0.4 && s.Hi[0] <= 0.6) {
		t.Errorf("x=0: mean %g band [%g, %g], want 0.4 inside (0.2, 0.6)", s.Y[0], s.Lo[0], s.Hi[0])
	}
	if s.Y[1] != 0.5 || !math.IsNaN(s.Lo[1]) {
		t.Errorf("x=1: %g [%g, %g], want 0.5 without band", s.Y[1], s.Lo[1], s.Hi[1])
	}
	if !math.IsNaN(s.Y[2]) || len(s.Raw) != 3 {
		t.Errorf("x=2: %g, raw %d", s.Y[2], len(s.Raw))
	}
}

// TestLargeHeatmap checks the path for big matrices: drawn as one embedded
// PNG (fixed up to fill its cells), labels thinned to at most 40 per axis,
// and still accepted by the report's SVG allow-list.
func TestLargeHeatmap(t *testing.T) {
	const n = 70
	labels := make([]string, n)
	for i := range labels {
		labels[i] = fmt.Sprintf("state %d: go to cabinet %d", i, i)
	}
	pred, meas := sampleHeatmaps(labels)
	f := Coupling(pred, meas)
	var b bytes.Buffer
	if _, err := f.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	doc := parseSVG(t, b.Bytes())
	if doc.images != 2 {
		t.Errorf("%d images, want 2 rasterised panels", doc.images)
	}
	if !bytes.Contains(b.Bytes(), []byte(`<image preserveAspectRatio="none"`)) || !bytes.Contains(b.Bytes(), []byte("data:image/png;base64,")) {
		t.Error("embedded images not fixed up")
	}
	rowLabels := 0
	for _, s := range doc.texts {
		if strings.HasPrefix(s, "state ") {
			rowLabels++
		}
	}
	// Every second label of 70 (35) on each of 3 axes with labels.
	if rowLabels != 3*35 {
		t.Errorf("%d labels drawn, want %d", rowLabels, 3*35)
	}
	if _, err := inlineSVG(b.Bytes(), "x", 100); err != nil {
		t.Errorf("report refuses the rasterised heatmap: %v", err)
	}
}

// TestFinalPerformanceUnit: a panel of rates spans [0, 1] even with a single
// point estimate (no interval), where the axis would otherwise be a padded
// range around the one value.
func TestFinalPerformanceUnit(t *testing.T) {
	nan := math.NaN()
	ticks := func(unit bool) []float64 {
		f := FinalPerformance([]ScorePanel{{Title: "out-of-domain", Unit: unit, Scores: []Score{{Label: "grpo", Interval: metrics.Interval{Point: 0.3, Lo: nan, Hi: nan}}}}}, nil)
		var b bytes.Buffer
		if err := f.Render(&b, SVG); err != nil {
			t.Fatal(err)
		}
		var out []float64
		for _, s := range parseSVG(t, b.Bytes()).texts {
			if v, err := strconv.ParseFloat(strings.ReplaceAll(s, "\u2212", "-"), 64); err == nil {
				out = append(out, v)
			}
		}
		sort.Float64s(out)
		return out
	}
	got := ticks(true)
	if len(got) < 2 || got[0] != 0 || got[len(got)-1] != 1 {
		t.Errorf("Unit: tick labels %v, want 0 to 1", got)
	}
	if got := ticks(false); len(got) > 0 && got[0] == 0 && got[len(got)-1] == 1 {
		t.Errorf("without Unit the axis is the data's: tick labels %v", got)
	}
}

func TestIterationTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   string
	}{
		{0, 29, "0 5 10 15 20 25"}, // gonum's default labels "0.00" and "25.00"
		{0, 30, "0 10 20 30"},      // gonum's default kept
		{0, 300, "0 100 200 300"},
		{0, 1, "0.0 0.5 1.0"}, // too short a range to change
	} {
		var got []string
		for _, tk := range (iterationTicks{}).Ticks(tc.lo, tc.hi) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("ticks of [%v, %v]: %v, want %s", tc.lo, tc.hi, got, tc.want)
		}
	}
}
