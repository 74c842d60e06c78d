package metrics

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The package is pure math (DESIGN.md §2): its non-test files import only the
// standard library and gonum, and nothing that does I/O.
func TestImportsArePure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	forbidden := map[string]bool{"os": true, "io": true, "io/fs": true, "log": true, "log/slog": true,
		"flag": true, "net": true, "net/http": true, "path/filepath": true, "syscall": true, "unsafe": true, "math/rand": true}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			std := !strings.Contains(strings.Split(p, "/")[0], ".")
			switch {
			case forbidden[p]:
				t.Errorf("%s imports %s (I/O or global RNG)", f, p)
			case !std && !strings.HasPrefix(p, "gonum.org/v1/gonum/"):
				t.Errorf("%s imports %s (only the standard library and gonum)", f, p)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no source files found")
	}
}
