package env

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The package sits below the trainer in the stack (DESIGN.md §2): its
// non-test files import the standard library, trajlog and metrics only, do no
// I/O of their own and use no global RNG.
func TestImportsFollowTheStack(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"github.com/gradcouple/gradcouple/trajlog": true,
		"github.com/gradcouple/gradcouple/metrics": true,
	}
	forbidden := map[string]bool{"os": true, "io/fs": true, "path/filepath": true, "math/rand": true, "log": true, "flag": true}
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
			case !std && !allowed[p]:
				t.Errorf("%s imports %s (only the standard library, trajlog and metrics)", f, p)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no source files found")
	}
}
