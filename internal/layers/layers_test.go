package layers

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/gradcouple/gradcouple/"

// globalRand matches calls of math/rand/v2's package-level functions, which
// draw from the unseeded global source.
var globalRand = regexp.MustCompile(`\brand\.(Int|IntN|Int32|Int32N|Int64|Int64N|Uint32|Uint32N|Uint64|Uint64N|UintN|Float32|Float64|NormFloat64|ExpFloat64|Perm|Shuffle|N)\(`)

// rank orders the packages of DESIGN.md §2 from the top of the stack down; a
// package may import only packages of lower rank. Subpackages take the rank
// of their parent (trajlog/adapter is trajlog's).
var rank = map[string]int{
	"cmd/gradcouple":      100,
	"internal/cli":        90,
	"analysis":            80,
	"figure":              70,
	"trainer":             60,
	"policy":              50,
	"policy/bpe":          48, // tokenizer.json, used by policy/hf
	"policy/chat":         48, // chat templates, used by policy/hf
	"judge":               45,
	"env":                 40,
	"trajlog":             30,
	"checkpoint":          25,
	"coupling":            10,
	"metrics":             10,
	"internal/table":      5,
	"internal/cluster":    5, // array-job engines: shard index, job files
	"internal/atomicfile": 1,
	"internal/buildinfo":  1,
	"internal/cpuinfo":    1,
	"internal/pqguard":    1,
	"internal/pqnum":      1,
	"internal/kernel":     1,
	"internal/layers":     0,
}

func rankOf(pkg string) (int, bool) {
	for p := pkg; p != "." && p != ""; p = filepath.Dir(p) {
		if r, ok := rank[p]; ok {
			return r, true
		}
	}
	return 0, false
}

func TestLayers(t *testing.T) {
	root := "../.."
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if name == "testdata" || name == "node_modules" || (strings.HasPrefix(name, ".") && path != root) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		r, ok := rankOf(pkg)
		if !ok {
			t.Errorf("%s: package %s has no place in the stack (add it to rank)", path, pkg)
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			switch {
			case strings.HasPrefix(p, module):
				dep := strings.TrimPrefix(p, module)
				dr, ok := rankOf(dep)
				if ok && dr >= r && !strings.HasPrefix(dep+"/", pkg+"/") && !strings.HasPrefix(pkg+"/", dep+"/") {
					t.Errorf("%s: %s imports %s, which is not below it", path, pkg, dep)
				}
			case p == "math/rand":
				t.Errorf("%s: use math/rand/v2 with an explicit seeded source, not math/rand", path)
			case strings.HasPrefix(p, "github.com/urfave/cli") && pkg != "internal/cli":
				t.Errorf("%s: only internal/cli may import urfave/cli", path)
			case pkg == "metrics" || pkg == "coupling":
				if strings.Contains(strings.SplitN(p, "/", 2)[0], ".") && !strings.HasPrefix(p, "gonum.org/") {
					t.Errorf("%s: %s may import only the standard library and gonum, not %s", path, pkg, p)
				}
				if p == "os" || p == "io/ioutil" || p == "flag" {
					t.Errorf("%s: %s is pure math and may not import %s", path, pkg, p)
				}
			}
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if pkg != "cmd/gradcouple" && strings.Contains(string(src), "os.Exit(") {
			t.Errorf("%s: only cmd/gradcouple may call os.Exit", path)
		}
		if m := globalRand.FindString(string(src)); m != "" {
			t.Errorf("%s: %s uses the global random source; inject a *rand.Rand", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
