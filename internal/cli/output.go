package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/gradcouple/gradcouple/analysis"

	"github.com/gradcouple/gradcouple/internal/table"
	ucli "github.com/urfave/cli/v2"
)

// outFlag is the --out flag shared by every command that produces a table.
var outFlag = &ucli.StringFlag{
	Name:    "out",
	Aliases: []string{"o"},
	Usage:   "also write the table to `FILE` (.parquet, .csv or .json, chosen by extension); - writes it to stdout (--format json or csv) instead of the text table",
}

// checkOut validates --out before any work is done, so a typo costs nothing.
// "-" is stdout (see configure).
func checkOut(path string) error {
	if path == "" || path == "-" {
		return nil
	}
	if _, err := table.FormatOf(path); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	return nil
}

// dataStdout is the stdout of a command run with --json, --format or
// --out -: its tables are data. emit writes each table to the real stdout
// in format (one JSON array, or CSV with a header line; several tables are
// separated by an empty line), and everything else written to it (counts,
// notes, "wrote FILE") goes to stderr, so that stdout holds only tables.
type dataStdout struct {
	prose  io.Writer // stderr
	data   io.Writer // the real stdout
	format string    // formatJSON or formatCSV
	tables int       // tables written so far
}

// Write sends prose to stderr.
func (d *dataStdout) Write(p []byte) (int, error) { return d.prose.Write(p) }

// table writes rows to stdout.
func (d *dataStdout) table(rows any) error {
	if d.tables > 0 {
		if _, err := io.WriteString(d.data, "\n"); err != nil {
			return err
		}
	}
	d.tables++
	if d.format == formatCSV {
		return table.WriteCSV(d.data, rows)
	}
	return table.WriteJSON(d.data, rows)
}

// emit prints rows on w and, when out is set, writes them to out (atomically)
// with meta as parquet key-value metadata. On a data stdout (--json,
// --format, --out -) the rows go to stdout as data instead of a text table.
func emit(w io.Writer, out string, rows any, meta map[string]string) error {
	return emitShown(w, out, rows, rows, meta)
}

// emitShown is emit for a command whose text table shows a selection of the
// rows (shown) while files and a data stdout get all of them.
func emitShown(w io.Writer, out string, shown, rows any, meta map[string]string) error {
	if d, ok := w.(*dataStdout); ok {
		if err := d.table(rows); err != nil {
			return err
		}
	} else if err := table.WriteText(w, shown); err != nil {
		return err
	}
	if out == "" || out == "-" {
		return nil
	}
	return emitFile(w, out, rows, meta)
}

// emitFile writes rows to out (atomically) and says so on w; out "-" is
// stdout as data (JSON unless w is a data stdout in CSV).
func emitFile(w io.Writer, out string, rows any, meta map[string]string) error {
	if out == "-" {
		if d, ok := w.(*dataStdout); ok {
			return d.table(rows)
		}
		return table.WriteJSON(w, rows)
	}
	if err := table.WriteFile(out, rows, meta); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s\n", out)
	return nil
}

// logSources says on stderr which adapter read which input (an input read
// through an adapter is worth a line: its fields were derived, not logged)
// and reports at debug level which files an analysis read.
func logSources(env *Env, src analysis.Sources) {
	for _, in := range src.Inputs {
		if !in.Adapter() {
			continue
		}
		fmt.Fprintf(env.Stderr, "read %s as %s (adapter: %d file(s), %d step records; %s)\n",
			in.Pattern, formatName(in.Format), in.Files, in.Rows, inputNotes(in))
	}
	for _, f := range src.Files {
		env.Log.Debug("read step records", "file", f)
	}
	env.Log.Info("scanned logs", "files", len(src.Files), "rows", src.Rows, "derived", src.Derived)
}

// formatName describes an adapter format for messages.
func formatName(f string) string {
	switch f {
	case "verl":
		return "a verl rollout dump"
	case "verl-agent":
		return "a verl-agent rollout dump"
	case "trl":
		return "TRL GRPO completion tables"
	case "rllm":
		return "rLLM episodes"
	}
	return f + " logs"
}

// inputNotes lists what an adapter derived and how states and labels were
// made.
func inputNotes(in analysis.Input) string {
	var notes []string
	if len(in.Derived) > 0 {
		notes = append(notes, "derived: "+strings.Join(in.Derived, ", "))
	}
	state := in.State
	if state == "" {
		state = "default"
	}
	notes = append(notes, "state rule: "+state)
	if in.LabelColumn != "" || in.LabelFile != "" {
		from := in.LabelColumn
		if in.LabelFile != "" {
			if from != "" {
				from += ", "
			}
			from += fmt.Sprintf("%s (%d rows)", in.LabelFile, in.LabelsFromTable)
		}
		notes = append(notes, fmt.Sprintf("labelled: %d (%s)", in.Labelled, from))
	}
	if in.Copies > 0 {
		notes = append(notes, fmt.Sprintf("%d exact copies dropped", in.Copies))
	}
	if in.ZeroedSingleton > 0 {
		notes = append(notes, fmt.Sprintf("%d derived groups of one: advantage 0", in.ZeroedSingleton))
	}
	return strings.Join(notes, "; ")
}
