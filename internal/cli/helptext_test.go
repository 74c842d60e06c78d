package cli

import (
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/internal/table"
)

// TestHelpExplainsColumns: every column of a command's text table (taken from
// the row struct's tags) is named in `CMD --help`, and so is the meaning of
// "-". An interval column X_lo / X_hi counts as explained when X is named and
// the help explains the _lo, _hi convention.
func TestHelpExplainsColumns(t *testing.T) {
	for _, c := range []struct {
		cmd  string
		rows any
	}{
		{"advantage", []analysis.AdvantageRow{}},
		{"inspect", []analysis.InspectRow{}},
		{"repetition", []analysis.RepetitionRow{}},
		{"consistency", []analysis.ConsistencyRow{}},
		{"coupling", []analysis.CouplingRow{}},
		{"compare", []analysis.FinalRow{}},
		{"compare", []analysis.ImprovementRow{}},
		{"compare", []analysis.CompareRow{}},
	} {
		help, _, code := run(t, c.cmd, "--help")
		if code != 0 {
			t.Fatalf("%s --help: exit %d", c.cmd, code)
		}
		header, _, _ := table.Cells(c.rows)
		for _, col := range header {
			base := col
			for _, suffix := range []string{"_lo", "_hi"} {
				if b, ok := strings.CutSuffix(col, suffix); ok && strings.Contains(help, "X_lo, X_hi") {
					base = b
				}
			}
			if !strings.Contains(help, base) {
				t.Errorf("%s --help does not explain column %s", c.cmd, col)
			}
		}
		if !strings.Contains(help, "- is a value that is not defined") {
			t.Errorf("%s --help does not say what - means", c.cmd)
		}
	}
	help, _, _ := run(t, "advantage", "--help")
	if !strings.Contains(help, "- when every trajectory at the state took the action") {
		t.Errorf("advantage --help does not say when r is -")
	}
}
