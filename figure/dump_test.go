package figure

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDumpSamples is not a check: with FIGURE_DUMP=DIR it writes every sample
// figure as PNG, SVG and PDF into DIR for a person to look at.
func TestDumpSamples(t *testing.T) {
	dir := os.Getenv("FIGURE_DUMP")
	if dir == "" {
		t.Skip()
	}
	for name, f := range samples() {
		for _, ext := range []string{".png", ".svg", ".pdf"} {
			if err := f.WriteFile(filepath.Join(dir, name+ext)); err != nil {
				t.Fatal(err)
			}
		}
	}
}
