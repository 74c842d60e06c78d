package cli

import (
	"fmt"
	"io"

	"github.com/gradcouple/gradcouple/analysis"

	"github.com/gradcouple/gradcouple/internal/table"
	ucli "github.com/urfave/cli/v2"
)

// outFlag is the --out flag shared by every command that produces a table.
var outFlag = &ucli.StringFlag{
	Name:    "out",
	Aliases: []string{"o"},
	Usage:   "also write the table to `FILE` (.parquet, .csv or .json, chosen by extension)",
}

// checkOut validates --out before any work is done, so a typo costs nothing.
func checkOut(path string) error {
	if path == "" {
		return nil
	}
	if _, err := table.FormatOf(path); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	return nil
}

// emit prints rows as a text table on w and, when out is set, writes them to
// out (atomically) with meta as parquet key-value metadata.
func emit(w io.Writer, out string, rows any, meta map[string]string) error {
	if err := table.WriteText(w, rows); err != nil {
		return err
	}
	if out == "" {
		return nil
	}
	return emitFile(w, out, rows, meta)
}

// emitFile writes rows to out (atomically) and says so on w.
func emitFile(w io.Writer, out string, rows any, meta map[string]string) error {
	if err := table.WriteFile(out, rows, meta); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s\n", out)
	return nil
}

// logSources reports at debug level which files an analysis read.
func logSources(env *Env, src analysis.Sources) {
	for _, f := range src.Files {
		env.Log.Debug("read step records", "file", f)
	}
	env.Log.Info("scanned logs", "files", len(src.Files), "rows", src.Rows, "derived", src.Derived)
}
