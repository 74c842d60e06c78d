package figure

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

const hostile = `<script>alert(1)</script>`

// Row types shaped like analysis's result rows (analysis.ConsistencyRow,
// analysis.AdvantageRow): the report renders any slice of structs.
type consistencyRow struct {
	Run       string  `parquet:"run"`
	Iteration int32   `parquet:"iteration"`
	High      float64 `parquet:"high"`
	HighBad   float64 `parquet:"high_bad"`
	K         int     `parquet:"k" text:"-"`
}

type advantageRow struct {
	Run        string  `parquet:"run"`
	State      string  `parquet:"state_key"`
	Action     string  `parquet:"action"`
	Mass       float64 `parquet:"mass"`
	Prediction float64 `parquet:"prediction"`
}

// sampleReport is a report with every figure, whose log-derived strings
// (run name, action texts, state keys) include action.
func sampleReport(action string) *Report {
	labels := append([]string{action}, sampleActions[1:]...)
	pred, meas := sampleHeatmaps(labels)
	var cons []consistencyRow
	for i := range 30 {
		cons = append(cons, consistencyRow{Run: "grpo-" + action, Iteration: int32(10 * i), High: 0.1 * float64(i%10), HighBad: math.NaN(), K: 10})
	}
	adv := []advantageRow{
		{Run: "grpo-1", State: "s&1\"'", Action: action, Mass: -0.02, Prediction: -0.021},
		{Run: "grpo-1", State: "s2", Action: "go to cabinet 2\nthen look", Mass: -0.05, Prediction: -0.048},
	}
	return &Report{
		Title:     "gradcouple report: " + action,
		Version:   "v0.0.0-test",
		Generated: "2025-01-01T00:00:00Z",
		Runs: []RunInfo{
			{Name: "grpo-" + action, Env: "household", Algo: "grpo", Seed: 1, Version: "v0.0.0-test", Iterations: 100},
			{Name: "gcd-1", Env: "household", Algo: "gcd", Seed: 1, Version: "v0.0.0-test", Iterations: 100},
		},
		Sections: []Section{
			{Title: "Action consistency", Text: "Share of probe states with high consistency.\n\nModal action " + action + " counts as bad.",
				Figure: sampleConsistency(), Tables: []Table{{Caption: "consistency by iteration", Rows: cons, MaxRows: 20}}},
			{Title: "Repetition", Text: "Repeated actions in successful and failed trajectories.", Figure: sampleRepetition()},
			{Title: "Coupling heatmap " + action, Text: "Predicted and measured change of log pi.",
				Figure: Coupling(pred, meas), Tables: []Table{{Caption: "advantage mass", Rows: adv}}},
			{Title: "Squeezing", Text: "Theorem 3.2.", Figure: sampleSqueeze()},
			{Title: "Lemma 3.1", Text: "Predicted vs empirical advantage mass.", Figure: sampleLemma()},
			{Title: "Learning curves", Text: "Mean over seeds with bootstrap bands; EMA 0.6, raw seeds faint.", Figure: sampleLearning(0.6)},
			{Title: "Coupling over training", Text: "GRPO vs GCD.", Figure: sampleDynamics()},
			{Title: "Representation separation", Text: "Fisher ratio and probe accuracy.", Figure: sampleSeparation()},
			{Title: "Final performance", Text: "IQM with stratified bootstrap intervals.", Figure: sampleFinal()},
		},
	}
}

// htmlTokens tokenises HTML leniently (encoding/xml in HTML mode): enough to
// tell elements from text, which is what escaping is about.
func htmlTokens(t *testing.T, page []byte) (elements map[string]int, attrs []xml.Attr, text string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(page))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	elements = map[string]int{}
	var sb strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("report does not tokenise: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			elements[strings.ToLower(e.Name.Local)]++
			attrs = append(attrs, e.Attr...)
		case xml.CharData:
			sb.Write(e)
			sb.WriteByte('\n')
		}
	}
	return elements, attrs, sb.String()
}

// TestReportEscapes checks that an action text containing a script element
// appears in the report only as text: in the header, section titles and
// paragraphs, data tables and the SVG labels of the heatmap.
func TestReportEscapes(t *testing.T) {
	var b bytes.Buffer
	if _, err := sampleReport(hostile).WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	page := b.Bytes()
	if bytes.Contains(bytes.ToLower(page), []byte("<script")) {
		t.Fatal("report contains a raw <script")
	}
	elements, attrs, text := htmlTokens(t, page)
	if elements["script"] > 0 || elements["iframe"] > 0 || elements["object"] > 0 || elements["foreignobject"] > 0 {
		t.Errorf("active elements in report: %v", elements)
	}
	for _, a := range attrs {
		if strings.HasPrefix(strings.ToLower(a.Name.Local), "on") {
			t.Errorf("event handler attribute %s=%q", a.Name.Local, a.Value)
		}
		if v := strings.ToLower(a.Value); strings.Contains(v, "http:") || strings.Contains(v, "https:") {
			t.Errorf("external reference %s=%q", a.Name.Local, a.Value)
		}
	}
	// title, h1, runs table, nav, h2, paragraph, table cell, 2 heatmap
	// panels x (row + column labels) = 4 SVG texts at least.
	if n := strings.Count(text, hostile); n < 10 {
		t.Errorf("the action text appears %d times as text, want >= 10", n)
	}
	// Nine figures; those of several panels side by side are drawn a
	// second time with one panel per row, for narrow screens.
	if elements["figure"] != 9 || elements["svg"] <= 9 || strings.Count(string(page), `class="plot narrow"`) != elements["svg"]-9 {
		t.Errorf("%d figures with %d inline SVGs (%d narrow), want 9 figures, each with one wide SVG and at most one narrow one",
			elements["figure"], elements["svg"], strings.Count(string(page), `class="plot narrow"`))
	}
	// A text cell is words that do not break, and the spaces between them.
	cells := regexp.MustCompile(`</?span[^>]*>`).ReplaceAllString(string(page), "")
	for _, want := range []string{`s&amp;1&#34;&#39;`, `go to cabinet 2\nthen look`} {
		if !strings.Contains(cells, want) {
			t.Errorf("text %q missing from report", want)
		}
	}
	if !strings.Contains(string(page), `<span class="w">to</span> <span class="w">cabinet</span>`) {
		t.Error("the words of a text cell are not unbreakable spans")
	}
	if !strings.Contains(text, "Showing the first 20 of 30 rows") || !strings.Contains(text, "gradcouple report --tables DIR") {
		t.Error("the note under a table shown in part does not say how to get every row")
	}
	if !bytes.Contains(page, []byte("Content-Security-Policy")) || !bytes.Contains(page, []byte("script-src 'none'")) {
		t.Error("no Content-Security-Policy forbidding scripts")
	}
	// The k column is tagged text:"-" and stays out, as in the CLI tables.
	if strings.Contains(string(page), "<th>k</th>") {
		t.Error("column tagged text:\"-\" shown")
	}
}

func TestWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []word
	}{
		{"", nil},
		{"go", []word{{"go", false}}},
		{" go to\n 2 ", []word{{" ", true}, {"go", false}, {" ", true}, {"to", false}, {"\n ", true}, {"2", false}, {" ", true}}},
		{"héllo wörld", []word{{"héllo", false}, {" ", true}, {"wörld", false}}},
	} {
		if got := words(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("words(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestReportWriteTables: every table of the report is written in full, and
// the page names the file of a table it shows in part.
func TestReportWriteTables(t *testing.T) {
	r := sampleReport("x")
	dir := filepath.Join(t.TempDir(), "tables")
	files, err := r.WriteTables(dir, "csv")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range r.Sections {
		n += len(s.Tables)
	}
	if len(files) != n || n == 0 {
		t.Fatalf("%d files for %d tables", len(files), n)
	}
	var long string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if lines := strings.Count(string(b), "\n"); lines == 31 { // header and the 30 rows of the long table
			long = f
		}
	}
	if long == "" {
		t.Fatalf("no file with all 30 rows of the long table among %v", files)
	}
	var b bytes.Buffer
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Showing the first 20 of 30 rows; every row is in "+long) {
		t.Errorf("the page does not name %s under the table shown in part", long)
	}
}

// TestReportControlCharacters checks that strings which are not valid XML
// text (control characters, invalid UTF-8) in labels do not break the
// report: they are drawn as U+FFFD.
func TestReportControlCharacters(t *testing.T) {
	r := sampleReport("bad\x01byte\xff")
	var b bytes.Buffer
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b.Bytes(), []byte("bad\uFFFDbyte\uFFFD")) {
		t.Error("label with control character not drawn with U+FFFD")
	}
}

func TestInlineSVGRefuses(t *testing.T) {
	head := `<svg width="10pt" height="10pt" viewBox="0 0 10 10" xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">`
	for name, body := range map[string]string{
		"script":        `<script>alert(1)</script>`,
		"handler":       `<path d="M0,0L1,1" onclick="alert(1)"/>`,
		"foreignObject": `<foreignObject><div>x</div></foreignObject>`,
		"url style":     `<path d="M0,0L1,1" style="fill:url(http://x/y)"/>`,
		"remote image":  `<image x="0" y="0" width="1" height="1" xlink:href="http://example.com/a.png"/>`,
		"js image":      `<image x="0" y="0" width="1" height="1" xlink:href="javascript:alert(1)"/>`,
		"nested svg":    `<svg></svg>`,
		"bad path":      `<path d="M0,0 javascript"/>`,
	} {
		_, err := inlineSVG([]byte(head+body+`</svg>`), "x", 100)
		if !errors.Is(err, errUnsafeSVG) {
			t.Errorf("%s: err = %v, want errUnsafeSVG", name, err)
		}
	}
	out, err := inlineSVG([]byte(head+`<text x="1" y="2" style="font-size:9px">&lt;script&gt; &amp; "q"</text>`+`</svg>`), `a"<b>`, 60)
	if err != nil {
		t.Fatal(err)
	}
	if want := `<svg class="plot" role="img" aria-label="a&#34;&lt;b&gt;" style="width:60%" width="10pt" height="10pt" viewBox="0 0 10 10"><text x="1" y="2" style="font-size:9px">&lt;script&gt; &amp; &#34;q&#34;</text></svg>`; out != want {
		t.Errorf("inlineSVG =\n%s\nwant\n%s", out, want)
	}
}
