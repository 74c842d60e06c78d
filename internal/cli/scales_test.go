package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// colourBarTicks returns the tick labels of a coupling heatmap's colour
// bar: the numbers drawn as text in the SVG.
func colourBarTicks(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var ticks []string
	for _, m := range regexp.MustCompile(`>(−?-?[0-9.]+(e[−-]?[0-9]+)?)<`).FindAllStringSubmatch(string(b), -1) {
		ticks = append(ticks, m[1])
	}
	slices.Sort(ticks)
	return slices.Compact(ticks)
}

// TestHeatmapsShareScale: compare draws one heatmap per group; by default
// the two share one colour scale (equal colour bars), and with
// --independent-scales each gets its own.
func TestHeatmapsShareScale(t *testing.T) {
	if testing.Short() {
		t.Skip("trains no model, but computes coupling on two runs")
	}
	a, b := runFixture(t, "a", 3), runFixture(t, "b", 9)
	ticks := func(extra ...string) (ta, tb []string, stderr string) {
		out := filepath.Join(t.TempDir(), "cmp")
		args := append([]string{"compare", "--a", a, "--b", b, "--out", out, "--format", "svg", "--probes", "16", "--consistency-states", "0", "--no-cache"}, extra...)
		_, stderr, code := run(t, args...)
		if code != 0 {
			t.Fatalf("compare %v: exit %d: %s", extra, code, stderr)
		}
		files, _ := filepath.Glob(filepath.Join(out, "c-heatmap-*.svg"))
		if len(files) != 2 {
			t.Fatalf("heatmap files %v, want 2", files)
		}
		return colourBarTicks(t, files[0]), colourBarTicks(t, files[1]), stderr
	}
	ta, tb, _ := ticks()
	if !slices.Equal(ta, tb) || len(ta) == 0 {
		t.Errorf("shared scale: colour bars differ: %v vs %v", ta, tb)
	}
	ia, ib, _ := ticks("--independent-scales")
	if slices.Equal(ia, ib) {
		t.Errorf("--independent-scales: colour bars equal: %v", ia)
	}
}
