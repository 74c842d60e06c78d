package figure

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	stdhtml "html"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The headless Chromium test opens a sample report the way a reader would
// and checks that the browser reports nothing on its console and that every
// figure is drawn. It needs Debian's chromium and runs only with
// GRADCOUPLE_CHROMIUM=1; GRADCOUPLE_CHROMIUM_OUT=DIR keeps the report and
// the screenshot there. CHROMIUM overrides the browser binary.

// figureBorder is the colour of figure.plot's border in the report's style
// sheet, used to find the figures in a screenshot.
var figureBorder = color.RGBA{0xbc, 0xc4, 0xcc, 0xff}

type chromiumRun struct {
	log string // stderr with --enable-logging
	out []byte // stdout (the DOM with --dump-dom)
}

func runChromium(t *testing.T, bin, page string, args ...string) chromiumRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0",
		"--force-device-scale-factor=1", "--hide-scrollbars"}
	cmd := exec.CommandContext(ctx, bin, append(append(base, args...), "file://"+page)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, stderr.String())
	}
	return chromiumRun{log: stderr.String(), out: stdout.Bytes()}
}

// consoleLines returns the browser console messages in a --enable-logging
// log ("INFO:CONSOLE(12)] "message", source: ..."). The report has no
// script, so any console message is an error: a blocked load, a CSP
// violation, a parse error.
func consoleLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, ":CONSOLE") {
			out = append(out, l)
		}
	}
	return out
}

// figureBoxes finds the rectangles drawn with figureBorder: a top edge is a
// horizontal run of at least minW border pixels; its box ends at the next
// row with the same run below it.
func figureBoxes(img image.Image, minW int) []image.Rectangle {
	b := img.Bounds()
	isBorder := func(x, y int) bool {
		r, g, bl, _ := img.At(x, y).RGBA()
		return uint8(r>>8) == figureBorder.R && uint8(g>>8) == figureBorder.G && uint8(bl>>8) == figureBorder.B
	}
	type run struct{ x0, x1, y int }
	var edges []run
	for y := b.Min.Y; y < b.Max.Y; y++ {
		start := -1
		for x := b.Min.X; x <= b.Max.X; x++ {
			if x < b.Max.X && isBorder(x, y) {
				if start < 0 {
					start = x
				}
				continue
			}
			if start >= 0 && x-start >= minW {
				edges = append(edges, run{start, x, y})
			}
			start = -1
		}
	}
	var boxes []image.Rectangle
	for i := 0; i+1 < len(edges); i++ {
		top, bot := edges[i], edges[i+1]
		if top.x0 == bot.x0 && top.x1 == bot.x1 && bot.y-top.y > 20 {
			boxes = append(boxes, image.Rect(top.x0, top.y, top.x1, bot.y+1))
			i++
		}
	}
	return boxes
}

// ink returns the share of non-white pixels inside r (inset by 2 pixels) and
// the number of saturated pixels (data drawn in colour: lines, bands, cells).
func ink(img image.Image, r image.Rectangle) (share float64, coloured int) {
	r = r.Inset(2)
	n, dark := 0, 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			n++
			if c.R < 245 || c.G < 245 || c.B < 245 {
				dark++
			}
			hi := max(c.R, c.G, c.B)
			lo := min(c.R, c.G, c.B)
			if hi-lo > 60 {
				coloured++
			}
		}
	}
	return float64(dark) / float64(max(n, 1)), coloured
}

// chromium returns the browser to test with, skipping the test unless
// GRADCOUPLE_CHROMIUM=1, and the directory for its pages and screenshots
// (GRADCOUPLE_CHROMIUM_OUT, else a temporary directory).
func chromium(t *testing.T) (bin, dir string) {
	t.Helper()
	if os.Getenv("GRADCOUPLE_CHROMIUM") != "1" {
		t.Skip("set GRADCOUPLE_CHROMIUM=1 to open the report in headless Chromium")
	}
	bin = os.Getenv("CHROMIUM")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("chromium"); err != nil {
			t.Fatal("chromium not found (apt-get install -y chromium, or set CHROMIUM)")
		}
	}
	dir = t.TempDir()
	if out := os.Getenv("GRADCOUPLE_CHROMIUM_OUT"); out != "" {
		dir = out
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin, dir
}

func TestReportInChromium(t *testing.T) {
	bin, dir := chromium(t)

	// Control: a page that breaks the rules must be caught by both checks:
	// console messages from a blocked remote image and script, and an empty
	// figure frame.
	control := filepath.Join(dir, "control.html")
	os.WriteFile(control, []byte(`<!DOCTYPE html><html><head>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>figure.plot { border: 1px solid #bcc4cc; height: 300px; margin: 20px; }</style></head>
<body><figure class="plot"></figure><img src="http://127.0.0.1:9/x.png"><script>console.error("x")</script></body></html>`), 0o644)
	shot := filepath.Join(dir, "control.png")
	run := runChromium(t, bin, control, "--screenshot="+shot, "--window-size=800,600")
	if len(consoleLines(run.log)) == 0 {
		t.Errorf("control page: no console messages found; the console check cannot see errors\n%s", run.log)
	}
	img := decodePNG(t, shot)
	if boxes := figureBoxes(img, 200); len(boxes) != 1 {
		t.Errorf("control page: found %d figure frames, want 1", len(boxes))
	} else if share, col := ink(img, boxes[0]); share > 0.01 || col > 0 {
		t.Errorf("control page: empty frame has ink %.3f, %d coloured pixels", share, col)
	}

	// The report.
	page := filepath.Join(dir, "report.html")
	if err := sampleReport(hostile).WriteFile(page); err != nil {
		t.Fatal(err)
	}
	shot = filepath.Join(dir, "report.png")
	run = runChromium(t, bin, page, "--screenshot="+shot, "--window-size=1280,7000")
	if lines := consoleLines(run.log); len(lines) > 0 {
		t.Errorf("console messages while loading the report:\n%s", strings.Join(lines, "\n"))
	}
	img = decodePNG(t, shot)
	boxes := figureBoxes(img, 400)
	if len(boxes) != 9 {
		t.Errorf("found %d figures in the screenshot, want 9 (window too short?)", len(boxes))
	}
	for i, r := range boxes {
		share, col := ink(img, r)
		t.Logf("figure %d at %v: %.1f%% ink, %d coloured pixels", i+1, r, 100*share, col)
		if share < 0.01 || col < 1000 {
			t.Errorf("figure %d at %v looks blank: %.1f%% ink, %d coloured pixels", i+1, r, 100*share, col)
		}
	}

	// The DOM as Chromium parsed it: nine inline SVG figures, no script
	// element, the action text present as text.
	dom := string(runChromium(t, bin, page, "--dump-dom").out)
	if n := strings.Count(dom, `<figure class="plot">`); n != 9 {
		t.Errorf("DOM has %d figures, want 9", n)
	}
	if strings.Contains(strings.ToLower(dom), "<script") {
		t.Error("DOM has a script element")
	}
	if !strings.Contains(dom, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the action text is not in the DOM as text")
	}

	// Control for the layout probe: a cell that breaks inside a word, a
	// figure wider than the window and tiny figure text are all caught.
	bad := filepath.Join(dir, "layout-control.html")
	os.WriteFile(bad, []byte(`<!DOCTYPE html><html><body><table style="width:60px"><tr><td style="word-break:break-all">unbreakableword</td></tr></table>`+
		`<svg class="plot" aria-label="wide" viewBox="0 0 1000 100" style="width:900px"><text style="font-size:9px">tiny</text></svg></body></html>`), 0o644)
	res := probeLayout(t, bin, bad, 420)
	if len(res.Broken) == 0 || len(res.Overflow) == 0 || res.MinFont >= 9 {
		t.Errorf("layout control: %+v; the probe cannot see broken words, overflowing figures or tiny text", res)
	}

	// The report from a narrow phone to a wide screen: no word broken in
	// a table cell, no figure beyond the viewport, figure text >= 9 px.
	for _, w := range []int{420, 1400} {
		checkLayout(t, bin, page, w, 9)
	}
}

// layoutProbe measures the report as laid out by the browser: every word
// (run of non-space characters) of a table cell that the browser drew on
// more than one line, every figure (visible SVG) that reaches beyond the
// viewport, the smallest figure text in CSS pixels (font size in SVG units
// times the SVG's drawn width over its viewBox width), and whether the page
// itself scrolls sideways. It runs in a copy of the page without the
// Content-Security-Policy, which forbids scripts, and writes its JSON
// result into the DOM of the host page that frames the copy, which
// --dump-dom returns. The frame sets the viewport's width: headless
// Chromium does not make windows narrower than 500 px.
const layoutProbe = `<pre id="layout-probe"></pre><script>
(function() {
  var res = {broken: [], overflow: [], minFont: 1e9, figures: 0, pageWidth: document.documentElement.scrollWidth, viewport: window.innerWidth};
  document.querySelectorAll("td, th").forEach(function(cell) {
    var walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (var n = walker.nextNode(); n; n = walker.nextNode()) {
      var re = /\S+/g, m;
      while ((m = re.exec(n.data)) !== null) {
        var r = document.createRange();
        r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
        var lines = {};
        Array.prototype.forEach.call(r.getClientRects(), function(q) { if (q.width > 0) lines[Math.round(q.top)] = true; });
        if (Object.keys(lines).length > 1) res.broken.push(m[0]);
      }
    }
  });
  document.querySelectorAll("svg.plot").forEach(function(svg) {
    if (getComputedStyle(svg).display === "none") return;
    res.figures++;
    var b = svg.getBoundingClientRect();
    if (b.left < -0.5 || b.right > window.innerWidth + 0.5) res.overflow.push(svg.getAttribute("aria-label") + " [" + b.left + ", " + b.right + "]");
    var scale = b.width / svg.viewBox.baseVal.width;
    svg.querySelectorAll("text").forEach(function(t) {
      if (!t.textContent.trim()) return;
      var m = /font-size:\s*([0-9.]+)/.exec(t.getAttribute("style") || "");
      if (m) res.minFont = Math.min(res.minFont, parseFloat(m[1]) * scale);
    });
  });
  var host = window.parent !== window ? window.parent.document : document;
  host.getElementById("layout-probe").textContent = JSON.stringify(res);
})();
</script>`

// shotHeight is the height of the frame of a layout check and its
// screenshot, in pixels.
const shotHeight = 3000

// layoutResult is what layoutProbe reports.
type layoutResult struct {
	Broken    []string `json:"broken"`
	Overflow  []string `json:"overflow"`
	MinFont   float64  `json:"minFont"`
	Figures   int      `json:"figures"`
	PageWidth float64  `json:"pageWidth"`
	Viewport  float64  `json:"viewport"`
}

// checkLayout opens a probed copy of page in a window width pixels wide and
// fails the test if a table cell breaks inside a word, a figure overflows
// the viewport, the page scrolls sideways, or figure text is smaller than
// minFont CSS pixels. It also saves a screenshot next to the page.
func checkLayout(t *testing.T, bin, page string, width int, minFont float64) layoutResult {
	t.Helper()
	res := probeLayout(t, bin, page, width)
	t.Logf("at %d px: viewport %.0f, page width %.0f, %d figures, smallest figure text %.1f px, %d broken words, %d overflowing figures",
		width, res.Viewport, res.PageWidth, res.Figures, res.MinFont, len(res.Broken), len(res.Overflow))
	if res.Viewport != float64(width) {
		t.Errorf("viewport %.0f px, want %d (window size not applied?)", res.Viewport, width)
	}
	if len(res.Broken) > 0 {
		t.Errorf("at %d px, table cells break inside the words %q", width, res.Broken)
	}
	if len(res.Overflow) > 0 {
		t.Errorf("at %d px, figures overflow the viewport: %q", width, res.Overflow)
	}
	if res.PageWidth > res.Viewport {
		t.Errorf("at %d px the page is %.0f px wide: it scrolls sideways", width, res.PageWidth)
	}
	if res.Figures == 0 || res.MinFont < minFont {
		t.Errorf("at %d px, %d figures with text down to %.1f px, want at least %.0f px", width, res.Figures, res.MinFont, minFont)
	}
	return res
}

// probeLayout runs layoutProbe on a copy of page in a window width pixels
// wide, and takes a screenshot of page (PAGE-WIDTH.png).
func probeLayout(t *testing.T, bin, page string, width int) layoutResult {
	t.Helper()
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	html := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy"[^>]*>`).ReplaceAllString(string(b), "")
	html = strings.Replace(html, "</body>", layoutProbe+"</body>", 1)
	base := strings.TrimSuffix(page, ".html")
	probe := base + fmt.Sprintf("-probe-%d.html", width)
	if err := os.WriteFile(probe, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	frame := func(src string) string {
		host := base + fmt.Sprintf("-frame-%d-%s", width, filepath.Base(src))
		page := fmt.Sprintf(`<!DOCTYPE html><html><body style="margin:0"><pre id="layout-probe"></pre>`+
			`<iframe src="%s" style="display:block;width:%dpx;height:%dpx;border:0"></iframe></body></html>`, filepath.Base(src), width, shotHeight)
		if err := os.WriteFile(host, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
		return host
	}
	size := fmt.Sprintf("--window-size=%d,%d", max(width, 500), shotHeight+40)
	runChromium(t, bin, frame(page), "--screenshot="+base+fmt.Sprintf("-%d.png", width), size)
	dom := string(runChromium(t, bin, frame(probe), "--dump-dom", "--allow-file-access-from-files", size).out)
	m := regexp.MustCompile(`(?s)<pre id="layout-probe">(.*?)</pre>`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no layout result in the DOM at %d px", width)
	}
	var res layoutResult
	if err := json.Unmarshal([]byte(stdhtml.UnescapeString(m[1])), &res); err != nil {
		t.Fatalf("layout result %q: %v", m[1], err)
	}
	return res
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(fmt.Errorf("screenshot %s: %w", path, err))
	}
	return img
}
