package figure

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/gradcouple/gradcouple/internal/atomicfile"
	"github.com/gradcouple/gradcouple/internal/table"
)

// Report is one self-contained HTML page: a header naming the runs, then
// sections, each with a heading, a short explanation, a figure and data
// tables. The page loads nothing: figures are inline SVG, the style sheet is
// inline, there is no script, and its Content-Security-Policy forbids
// scripts and every network fetch. Every string is escaped (html/template for
// the page; figure SVG is checked against an allow-list of elements and
// attributes and re-serialised with its text escaped), so action texts, run
// names and state keys from logs appear as text, never as markup.
type Report struct {
	Title string
	// Version is the gradcouple version that wrote the report; Generated a
	// timestamp or any note on when it was made (the caller's clock).
	Version, Generated string
	Runs               []RunInfo
	Sections           []Section
	// TablesDir, if not empty, is where WriteTables writes (or wrote)
	// every table in full; the note under a table shown in part names its
	// file there.
	TablesDir    string
	tablesFormat string // the format WriteTables wrote
}

// RunInfo is one run in the report header (from its run.json manifest).
type RunInfo struct {
	Name, Env, Algo string
	Seed            uint64
	Version         string // gradcouple version that trained it
	Iterations      int
}

// Section is one part of the report. Text is plain text; a blank line starts
// a new paragraph. Figure and Tables are optional.
type Section struct {
	Title  string
	Text   string
	Figure *Figure
	Tables []Table
}

// Table is a data table: Rows is a slice of structs whose columns are named
// and formatted as in the text tables of the CLI (internal/table: the
// `parquet` tag names a column, `text:"-"` leaves it out). At most MaxRows
// rows are shown (zero means 50); the note under the table says how many
// were left out and where the whole table is (Report.WriteTables). Long
// tables start folded. Rows that are not a slice of structs panic (a
// programmer error).
type Table struct {
	Caption string
	Rows    any
	MaxRows int
}

// page is what the template sees.
type page struct {
	Title, Version, Generated string
	Runs                      []RunInfo
	Sections                  []pageSection
}

type pageSection struct {
	ID         string
	Title      string
	Paragraphs []string
	SVG        template.HTML // produced by inlineSVG only
	Tables     []pageTable
}

type pageTable struct {
	Caption string
	Header  []string
	Numeric []bool
	Rows    [][]string
	Total   int
	Open    bool
	File    string // the file with every row ("" when not written)
}

// word is a piece of a text cell: a run of non-space characters, drawn
// unbreakable, or a run of spaces, where lines may break. Table cells thus
// never break inside a word; a table too wide for the screen scrolls.
type word struct {
	Text  string
	Space bool
}

func words(s string) []word {
	var out []word
	for s != "" {
		r, _ := utf8.DecodeRuneInString(s)
		sp := unicode.IsSpace(r)
		i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) != sp })
		if i < 0 {
			i = len(s)
		}
		out = append(out, word{Text: s[:i], Space: sp})
		s = s[i:]
	}
	return out
}

// WriteTo renders the report as HTML to w; it implements io.WriterTo. The
// page is built in memory first, so on error nothing is written.
func (r *Report) WriteTo(w io.Writer) (int64, error) {
	pg := page{Title: r.Title, Version: r.Version, Generated: r.Generated, Runs: r.Runs}
	if pg.Title == "" {
		pg.Title = "gradcouple report"
	}
	files := r.tableFiles()
	for i, s := range r.Sections {
		ps := pageSection{ID: "s" + strconv.Itoa(i+1), Title: s.Title, Paragraphs: paragraphs(s.Text)}
		if s.Figure != nil {
			var b bytes.Buffer
			if err := s.Figure.Render(&b, SVG); err != nil {
				return 0, fmt.Errorf("rendering figure of section %q: %w", s.Title, err)
			}
			label := s.Figure.Title
			if label == "" {
				label = s.Title
			}
			// Draw every figure at the same scale: a full-width figure
			// fills the column, a single panel takes its share of it.
			pct := int(math.Round(float64(100 * s.Figure.Width / fullWidth)))
			svg, err := inlineSVG(b.Bytes(), label, pct)
			if err != nil {
				return 0, fmt.Errorf("inlining figure of section %q: %w", s.Title, err)
			}
			// On a narrow screen a figure of several panels side by side
			// would shrink its text below legibility: a second drawing
			// with one panel per row, at the width of a single panel,
			// replaces it there (style sheet).
			if n := narrowFigure(s.Figure); n != nil {
				b.Reset()
				s.Figure.mu.Lock() // n draws the same plots
				err := n.Render(&b, SVG)
				s.Figure.mu.Unlock()
				if err != nil {
					return 0, fmt.Errorf("rendering figure of section %q: %w", s.Title, err)
				}
				narrow, err := inlineSVG(b.Bytes(), label, 100)
				if err != nil {
					return 0, fmt.Errorf("inlining figure of section %q: %w", s.Title, err)
				}
				svg = strings.Replace(svg, `<svg class="plot"`, `<svg class="plot wide"`, 1) +
					strings.Replace(narrow, `<svg class="plot"`, `<svg class="plot narrow"`, 1)
			}
			ps.SVG = template.HTML(svg) // allow-listed and re-escaped by inlineSVG
		}
		for j, t := range s.Tables {
			pt := newPageTable(t)
			if r.TablesDir != "" {
				pt.File = filepath.Join(r.TablesDir, files[i][j]+"."+cmp.Or(r.tablesFormat, "csv"))
			}
			ps.Tables = append(ps.Tables, pt)
		}
		pg.Sections = append(pg.Sections, ps)
	}
	var b bytes.Buffer
	if err := reportTemplate.Execute(&b, pg); err != nil {
		return 0, fmt.Errorf("writing report: %w", err)
	}
	return b.WriteTo(w)
}

// WriteFile writes the report to path atomically: on error no file is left.
func (r *Report) WriteFile(path string) error {
	err := atomicfile.Write(path, func(w io.Writer) error {
		_, err := r.WriteTo(w)
		return err
	})
	if err != nil {
		return fmt.Errorf("writing report %s: %w", path, err)
	}
	return nil
}

// narrowFigure lays f out again with one panel per row at the width of a
// single panel, for narrow screens; nil when f has one column (it scales to
// the screen as it is). The new figure draws f's plots: render it while
// holding f.mu.
func narrowFigure(f *Figure) *Figure {
	if f.layout == nil || len(f.layout.panels) == 0 || len(f.layout.panels[0]) < 2 {
		return nil
	}
	var rows [][]*plot.Plot
	for _, row := range f.layout.panels {
		for _, p := range row {
			if p != nil {
				rows = append(rows, []*plot.Plot{p})
			}
		}
	}
	l := layout{panels: rows, legend: f.layout.legend, colorBar: f.layout.colorBar}
	h := f.Height / vg.Length(len(f.layout.panels)) * vg.Length(len(rows))
	return l.figure(f.Title, singleWidth, h)
}

// tableFiles names the file of every table of the report, by section and
// table: NN-caption, numbered through the report.
func (r *Report) tableFiles() [][]string {
	out := make([][]string, len(r.Sections))
	k := 0
	for i, s := range r.Sections {
		for _, t := range s.Tables {
			k++
			name := slug(t.Caption)
			if name == "" {
				name = slug(s.Title)
			}
			out[i] = append(out[i], fmt.Sprintf("%02d-%s", k, name))
		}
	}
	return out
}

// slug keeps lowercase letters and digits of s, joined by '-', at most 48
// bytes.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
		if b.Len() >= 48 {
			break
		}
	}
	return b.String()
}

// WriteTables writes every table of the report in full into dir (created if
// needed), one file per table in format (csv, parquet or json; see
// internal/table), named NN-caption.FORMAT, each atomically, and sets
// TablesDir so that the page names the files. It returns the paths written.
func (r *Report) WriteTables(dir, format string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("writing the report's tables: %w", err)
	}
	files := r.tableFiles()
	var out []string
	for i, s := range r.Sections {
		for j, t := range s.Tables {
			files[i][j] += "." + format
			path := filepath.Join(dir, files[i][j])
			if err := table.WriteFile(path, t.Rows, nil); err != nil {
				return out, err
			}
			out = append(out, path)
		}
	}
	r.TablesDir = dir
	r.tablesFormat = format
	return out, nil
}

func newPageTable(t Table) pageTable {
	header, numeric, cells := table.Cells(t.Rows)
	limit := t.MaxRows
	if limit <= 0 {
		limit = 50
	}
	pt := pageTable{Caption: t.Caption, Header: header, Numeric: numeric, Total: len(cells), Open: len(cells) <= 12}
	if len(cells) > limit {
		cells = cells[:limit]
	}
	pt.Rows = cells
	return pt
}

// paragraphs splits plain text at blank lines.
func paragraphs(s string) []string {
	var out []string
	for _, p := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"minus": func(a, b int) int { return a - b },
	"words": words,
}).Parse(reportHTML))

// The style sheet forces a font stack metric-compatible with the Liberation
// Sans that gonum/plot measured text with (SVG text carries an inline
// font-family, which only !important overrides).
const reportHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'none'; base-uri 'none'; form-action 'none'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font: 15px/1.5 "Liberation Sans", Arimo, Arial, Helvetica, sans-serif; color: #1b1f23; max-width: 1100px; margin: 0 auto; padding: 24px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; overflow-wrap: anywhere; }
p, li, summary { overflow-wrap: anywhere; }
h2 { font-size: 20px; margin: 36px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
.meta { color: #57606a; margin: 0 0 12px; }
nav ol { columns: 2; padding-left: 20px; }
figure.plot { margin: 12px 0; padding: 8px; border: 1px solid #bcc4cc; background: #fff; }
svg.plot { display: block; width: 100%; height: auto; margin: 0 auto; }
svg.plot.narrow { display: none; }
svg.plot text { font-family: "Liberation Sans", Arimo, Arial, Helvetica, sans-serif !important; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
th, td { border: 1px solid #d0d7de; padding: 2px 8px; text-align: left; vertical-align: top; white-space: nowrap; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f6f8fa; }
.scroll { overflow-x: auto; }
details { margin: 8px 0; }
summary { cursor: pointer; font-weight: bold; }
.note { color: #57606a; font-size: 13px; }
td.cell { white-space: normal; }
.t { white-space: pre-wrap; width: max-content; max-width: 40em; }
.w { white-space: nowrap; }
@media (max-width: 640px) {
  body { padding: 12px; }
  nav ol { columns: 1; }
  figure.plot { margin: 12px 0; padding: 4px; }
  svg.plot { width: 100% !important; }
  svg.plot.wide { display: none; }
  svg.plot.narrow { display: block; }
}
</style>
</head>
<body>
<header>
<h1>{{.Title}}</h1>
<p class="meta">{{if .Version}}gradcouple {{.Version}}{{end}}{{if and .Version .Generated}} · {{end}}{{.Generated}}</p>
{{- if .Runs}}
<div class="scroll"><table class="runs">
<thead><tr><th>run</th><th>env</th><th>algo</th><th>seed</th><th>iterations</th><th>version</th></tr></thead>
<tbody>
{{- range .Runs}}
<tr><td class="cell"><div class="t">{{range words .Name}}{{if .Space}}{{.Text}}{{else}}<span class="w">{{.Text}}</span>{{end}}{{end}}</div></td><td>{{.Env}}</td><td>{{.Algo}}</td><td class="n">{{.Seed}}</td><td class="n">{{.Iterations}}</td><td>{{.Version}}</td></tr>
{{- end}}
</tbody></table></div>
{{- end}}
{{- if .Sections}}
<nav><ol>
{{- range .Sections}}
<li><a href="#{{.ID}}">{{.Title}}</a></li>
{{- end}}
</ol></nav>
{{- end}}
</header>
<main>
{{- range .Sections}}
<section id="{{.ID}}">
<h2>{{.Title}}</h2>
{{- range .Paragraphs}}
<p>{{.}}</p>
{{- end}}
{{- if .SVG}}
<figure class="plot">{{.SVG}}</figure>
{{- end}}
{{- range .Tables}}
<details{{if .Open}} open{{end}}>
<summary>{{if .Caption}}{{.Caption}}{{else}}data{{end}} ({{.Total}} rows)</summary>
<div class="scroll"><table>
<thead><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{- $num := .Numeric}}
{{- range .Rows}}
<tr>{{range $i, $c := .}}{{if index $num $i}}<td class="n">{{$c}}</td>{{else}}<td class="cell"><div class="t">{{range words $c}}{{if .Space}}{{.Text}}{{else}}<span class="w">{{.Text}}</span>{{end}}{{end}}</div></td>{{end}}{{end}}</tr>
{{- end}}
</tbody></table></div>
{{- if lt (len .Rows) .Total}}
<p class="note">Showing the first {{len .Rows}} of {{.Total}} rows; {{if .File}}every row is in {{.File}}{{else}}{{minus .Total (len .Rows)}} more: <code>gradcouple report --tables DIR</code> writes every table in full{{end}}.</p>
{{- end}}
</details>
{{- end}}
</section>
{{- end}}
</main>
</body>
</html>
`
