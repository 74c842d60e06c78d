package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGradStoreInputs runs `coupling --grads` and `merge` on the committed
// gradient-store and Gram-shard fixtures: a store as bergson's current
// create_index writes it is read; a per-token store and non-finite values
// are exit status 2 naming the file (and the row and column).
func TestGradStoreInputs(t *testing.T) {
	stores := filepath.Join("..", "..", "testdata", "gradstores")
	dir := t.TempDir()
	table := func(rows int) string {
		p := filepath.Join(dir, strings.Repeat("x", rows)+".csv")
		body := "label,advantage\n"
		for i := range rows {
			body += []string{"1,1\n", "0,-1\n"}[i%2]
		}
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	bergson := filepath.Join(stores, "bergson-index")
	stdout, stderr, code := run(t, "coupling", "--grads", bergson, "--samples", table(3), "--out", filepath.Join(dir, "b.csv"))
	if code != 0 || !strings.Contains(stdout, "bergson store "+bergson+": 3 x 10 F16") {
		t.Errorf("current Bergson store: exit %d: %s\n%s", code, stderr, stdout)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"coupling", "--grads", filepath.Join(stores, "malformed", "npy-nan.npy"), "--samples", table(2)}, "npy-nan.npy: row 1, column 1 (0-based): NaN"},
		{[]string{"coupling", "--grads", filepath.Join(stores, "malformed", "bergson-inf"), "--samples", table(2)}, filepath.Join("bergson-inf", "gradients.bin") + ": row 1, column 7 (0-based): +Inf"},
		{[]string{"coupling", "--grads", filepath.Join(stores, "malformed", "st-nan.safetensors"), "--samples", table(2)}, `st-nan.safetensors: tensor "grads": row 1, column 0`},
		{[]string{"coupling", "--grads", filepath.Join(stores, "malformed", "bergson-attribute-tokens"), "--samples", table(7)}, "field attribute_tokens: true"},
		{[]string{"merge", filepath.Join("..", "..", "testdata", "malformed", "gram-shard-nan-tile.safetensors")}, `gram-shard-nan-tile.safetensors: tensor "tile.000001.000002": row 3, column 4 (0-based): NaN`},
		{[]string{"merge", filepath.Join("..", "..", "testdata", "malformed", "gram-shard-inf-advantage.safetensors")}, `tensor "advantages": row 2`},
	} {
		stdout, stderr, code := run(t, c.args...)
		if code != ExitBadInput || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, stderr, c.want)
		}
		if strings.Contains(stdout, "harmful") {
			t.Errorf("%v: printed a table:\n%s", c.args, stdout)
		}
	}
}
