package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// createIndexInfo returns info.json as bergson's create_index (bergson/data.py,
// v0.11 and later) writes it: json.dump of {"attribute_tokens": False,
// "num_items": n, "num_grads": n, "grad_sizes": sizes, "base_dtype": base}
// with indent=2, keys in insertion order, no trailing newline. With tokens,
// it is create_token_index's form: attribute_tokens true, num_items items and
// n token rows.
func createIndexInfo(n int, sizes []GradModule, base string, tokens bool, items int) string {
	var b strings.Builder
	if tokens {
		fmt.Fprintf(&b, "{\n  \"attribute_tokens\": true,\n  \"num_items\": %d,\n", items)
	} else {
		fmt.Fprintf(&b, "{\n  \"attribute_tokens\": false,\n  \"num_items\": %d,\n", n)
	}
	fmt.Fprintf(&b, "  \"num_grads\": %d,\n  \"grad_sizes\": {\n", n)
	for i, m := range sizes {
		fmt.Fprintf(&b, "    %q: %d%s", m.Name, m.Size, sep(i, len(sizes)))
	}
	fmt.Fprintf(&b, "  },\n  \"base_dtype\": %q\n}", base)
	return b.String()
}

// bergsonIndexFixture is testdata/gradstores/bergson-index: a store as
// bergson's current create_index writes it (no structured dtype), float16,
// 3 items, the modules in an order that is not alphabetical.
func bergsonIndexFixture() (info string, bin []byte, want []float32) {
	g := make([]float32, 3*10)
	for i := range g {
		g[i] = float32(i-13) / 8 // exact in float16
	}
	return createIndexInfo(3, testModules, "float16", false, 0), AppendFloats(nil, g, F16), g
}

// TestBergsonCurrentIndex reads the committed store written the way
// bergson's create_index has written since July 2026 (no "dtype" in
// info.json), keeps it equal to the generator (rewritten with -update), and
// checks the module order comes from grad_sizes in file order.
func TestBergsonCurrentIndex(t *testing.T) {
	dir := filepath.Join("..", "testdata", "gradstores", "bergson-index")
	info, bin, want := bergsonIndexFixture()
	if *update {
		os.RemoveAll(dir)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, BergsonInfoFile), []byte(info), 0o644)
		os.WriteFile(filepath.Join(dir, BergsonGradientsFile), bin, 0o644)
	}
	for name, b := range map[string][]byte{BergsonInfoFile: []byte(info), BergsonGradientsFile: bin} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("%s differs from the generator (run go test -update ./checkpoint/): %v", name, err)
		}
	}
	if strings.Contains(info, `"dtype"`) {
		t.Fatal("the fixture must not have a dtype field")
	}
	s, err := OpenGradStore(dir, GradStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Rows() != 3 || s.Cols() != 10 || s.DType() != F16 || !slices.Equal(s.Modules(), testModules) {
		t.Fatalf("%dx%d %s %v", s.Rows(), s.Cols(), s.DType(), s.Modules())
	}
	if got := readAllRows(t, s); !slices.Equal(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
}

// TestBergsonInfoForms: both forms of info.json give the same store; the
// dtype of the current form comes from base_dtype, its module order from
// grad_sizes; per-token stores are refused by the key that marks them.
func TestBergsonInfoForms(t *testing.T) {
	mods := []GradModule{{"z.weight", 0, 3}, {"a.bias", 3, 2}}
	for _, base := range []string{"float16", "float32", "float64", "bfloat16", "<f4"} {
		cur, err := ParseBergsonInfo([]byte(createIndexInfo(4, mods, base, false, 0)), "info.json")
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		dt, _ := bergsonDType(base)
		if cur.NumGrads != 4 || cur.DType != dt || cur.ItemSize != 5*dt.Bits()/8 || !slices.Equal(cur.Modules, mods) {
			t.Errorf("%s: %+v", base, cur)
		}
		old, err := MarshalBergsonInfo(cur)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseBergsonInfo(old, "old.json")
		if err != nil || !slices.Equal(back.Modules, cur.Modules) || back.DType != cur.DType || back.ItemSize != cur.ItemSize {
			t.Errorf("%s: written form %s: %+v %v", base, old, back, err)
		}
	}
	for _, c := range []struct{ name, info, field, want string }{
		{"attribute_tokens", createIndexInfo(7, mods, "float32", true, 2), "attribute_tokens", "per-token store"},
		{"attribute_tokens not bool", strings.Replace(createIndexInfo(2, mods, "float32", false, 0), "false", `"no"`, 1), "attribute_tokens", "not true or false"},
		{"token_attributions", `{"token_attributions": true, "num_grads": 2, "grad_sizes": {"a": 1}, "base_dtype": "float32"}`, "token_attributions", "per-token store"},
		{"num_items", strings.Replace(createIndexInfo(2, mods, "float32", false, 0), `"num_items": 2`, `"num_items": 1`, 1), "num_items", "1 items but 2 gradients"},
		{"no base_dtype", strings.Replace(createIndexInfo(2, mods, "float32", false, 0), `,
  "base_dtype": "float32"`, "", 1), "base_dtype", "missing, and no structured dtype"},
		{"no grad_sizes", `{"num_grads": 2, "base_dtype": "float32"}`, "grad_sizes", "missing or empty, and no dtype"},
		{"empty grad_sizes", `{"num_grads": 2, "grad_sizes": {}, "base_dtype": "float32"}`, "grad_sizes", "missing or empty"},
		{"duplicate module", `{"num_grads": 2, "grad_sizes": {"a": 1, "a": 2}, "base_dtype": "float32"}`, "grad_sizes", "appears twice"},
		{"negative size", `{"num_grads": 2, "grad_sizes": {"a": -1}, "base_dtype": "float32"}`, "grad_sizes", "not a non-negative integer"},
		{"grad_sizes array", `{"num_grads": 2, "grad_sizes": [1], "base_dtype": "float32"}`, "grad_sizes", "not a JSON object"},
		{"int base", `{"num_grads": 2, "grad_sizes": {"a": 1}, "base_dtype": "int8"}`, "base_dtype", "not a little-endian float"},
		{"empty name", `{"num_grads": 2, "grad_sizes": {"": 1}, "base_dtype": "float32"}`, "grad_sizes", "empty module name"},
	} {
		_, err := ParseBergsonInfo([]byte(c.info), "info.json")
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want field %s and %q", c.name, err, c.field, c.want)
		}
	}
}
