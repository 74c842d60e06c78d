package figure

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"

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
// were left out. Long tables start folded. Rows that are not a slice of
// structs panic (a programmer error).
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
}

// WriteTo renders the report as HTML to w; it implements io.WriterTo. The
// page is built in memory first, so on error nothing is written.
func (r *Report) WriteTo(w io.Writer) (int64, error) {
	pg := page{Title: r.Title, Version: r.Version, Generated: r.Generated, Runs: r.Runs}
	if pg.Title == "" {
		pg.Title = "gradcouple report"
	}
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
			ps.SVG = template.HTML(svg) // allow-listed and re-escaped by inlineSVG
		}
		for _, t := range s.Tables {
			ps.Tables = append(ps.Tables, newPageTable(t))
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
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
.meta { color: #57606a; margin: 0 0 12px; }
nav ol { columns: 2; padding-left: 20px; }
figure.plot { margin: 12px 0; padding: 8px; border: 1px solid #bcc4cc; background: #fff; }
svg.plot { display: block; width: 100%; height: auto; margin: 0 auto; }
svg.plot text { font-family: "Liberation Sans", Arimo, Arial, Helvetica, sans-serif !important; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
th, td { border: 1px solid #d0d7de; padding: 2px 8px; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f6f8fa; }
.scroll { overflow-x: auto; }
details { margin: 8px 0; }
summary { cursor: pointer; font-weight: bold; }
.note { color: #57606a; font-size: 13px; }
.cell { white-space: pre-wrap; word-break: break-word; max-width: 40em; }
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
<tr><td class="cell">{{.Name}}</td><td>{{.Env}}</td><td>{{.Algo}}</td><td class="n">{{.Seed}}</td><td class="n">{{.Iterations}}</td><td>{{.Version}}</td></tr>
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
<tr>{{range $i, $c := .}}<td class="{{if index $num $i}}n{{else}}cell{{end}}">{{$c}}</td>{{end}}</tr>
{{- end}}
</tbody></table></div>
{{- if lt (len .Rows) .Total}}
<p class="note">Showing the first {{len .Rows}} of {{.Total}} rows; {{minus .Total (len .Rows)}} more are in the exported table files.</p>
{{- end}}
</details>
{{- end}}
</section>
{{- end}}
</main>
</body>
</html>
`
