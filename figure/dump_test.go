package figure

import (
	"os"
	"path/filepath"
	"testing"
)

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
