package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/trainer"
	"github.com/gradcouple/gradcouple/trajlog"
)

// trainTinyRun trains a run small enough for a unit test (about a second)
// with the trainer, so that figures, compare and report read exactly what
// `gradcouple train` writes.
func trainTinyRun(t *testing.T, dir, algo string, seed uint64) string {
	t.Helper()
	c, err := trainer.Defaults(trainer.PresetDefault, algo)
	if err != nil {
		t.Fatal(err)
	}
	c.Run = filepath.Base(dir)
	c.Seed = seed
	c.Iterations = 3
	c.TrainTasks = 20
	c.CheckpointEvery = 2
	c.Model = trainer.ModelConfig{Dim: 8, Layers: 1, Heads: 2, Context: 320, History: 1}
	c.ColdStart = trainer.ColdStartConfig{Demos: 20, Steps: 60, Batch: 16, LR: 3e-2}
	if algo == trainer.AlgoGCD {
		c.ColdStart.VerdictWeight = 0.5
	}
	c.Rollout.Tasks, c.Rollout.GroupSize, c.Rollout.MaxSteps = 3, 4, 10
	c.Update.Epochs, c.Update.MiniBatches, c.Update.LR = 1, 1, 1e-2
	c.Eval = trainer.EvalConfig{Every: 2, Tasks: 4, Greedy: true}
	if _, err := trainer.Run(context.Background(), c, trainer.Options{Dir: dir, Version: "test"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fastStudy are study flags that keep the commands on tiny runs fast.
var fastStudy = []string{"--consistency-states", "4", "--probes", "16", "--min-visits", "2", "--resamples", "100"}

func args(base []string, more ...string) []string {
	return append(append(append([]string{}, base...), more...), fastStudy...)
}

// listFiles returns the names in dir (nil if it does not exist).
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

var figureNames = []string{"a-consistency", "b-repetition", "c-heatmap", "d-squeeze", "e-lemma", "f-learning-curves", "g-coupling", "h-separation", "i-final", "j-tensors"}

func TestStudyCommands(t *testing.T) {
	root := t.TempDir()
	runs := filepath.Join(root, "runs")
	for _, r := range []struct {
		algo string
		seed uint64
	}{{"grpo", 1}, {"grpo", 2}, {"gcd", 1}, {"gcd", 2}} {
		trainTinyRun(t, filepath.Join(runs, r.algo+"-"+string(rune('0'+r.seed))), r.algo, r.seed)
	}

	t.Run("figures", func(t *testing.T) {
		out := filepath.Join(root, "fig")
		stdout, stderr, code := run(t, args([]string{"figures", filepath.Join(runs, "grpo-1"), "--out", out, "--format", "svg,png"})...)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		for _, n := range figureNames {
			for _, ext := range []string{".svg", ".png"} {
				if _, err := os.Stat(filepath.Join(out, n+ext)); err != nil {
					t.Errorf("%s%s not written: %v\n%s", n, ext, err, stdout)
				}
			}
		}
		if !strings.Contains(stderr, "coupling") || !strings.Contains(stderr, "rendering") {
			t.Errorf("no progress on stderr:\n%s", stderr)
		}
	})

	t.Run("compare", func(t *testing.T) {
		out := filepath.Join(root, "cmp")
		stdout, stderr, code := run(t, args([]string{"compare", "--a", filepath.Join(runs, "grpo-*"), "--b", filepath.Join(runs, "gcd-*"),
			"--out", out, "--format", "svg", "--tables", "csv"})...)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		for _, want := range []string{"group grpo: 2 run(s)", "group gcd: 2 run(s)", "Final performance", "eval_out_greedy_success",
			"Probability of improvement", "p_x_gt_y", "harmful_rate", "seed 1;", "Claims of DESIGN.md", "4 GCD reduces harmful coupling"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, stdout)
			}
		}
		got := strings.Join(listFiles(t, out), " ")
		for _, n := range figureNames {
			if n == "c-heatmap" {
				n = "c-heatmap-grpo-1" // one heatmap per group
			}
			if !strings.Contains(got, n+".svg") {
				t.Errorf("%s.svg not written (have %s)", n, got)
			}
		}
		rows := readCSV(t, filepath.Join(out, "tables", "final.csv"))
		if len(rows) != 4 || rows[0]["group"] != "grpo" || rows[0]["seed"] != "1" {
			t.Errorf("final.csv: %v", rows)
		}
		// The claims: GRPO and GCD paired by seed (2 pairs) on household.
		claims := readCSV(t, filepath.Join(out, "tables", "claims.csv"))
		paired := 0
		for _, r := range claims {
			if !slices.Contains([]string{analysis.Reproduced, analysis.NotReproduced, analysis.Inconclusive}, r["verdict"]) {
				t.Errorf("claims.csv: verdict %q", r["verdict"])
			}
			if strings.Contains(r["test"], "paired by seed") {
				paired++
				if r["seeds"] != "2" || r["env"] != "household" {
					t.Errorf("claims.csv: paired test %v", r)
				}
			}
		}
		if paired != 2 {
			t.Errorf("claims.csv: %d paired tests, want 2 (harmful rate, out-of-domain success): %v", paired, claims)
		}
	})

	t.Run("report", func(t *testing.T) {
		out := filepath.Join(root, "report.html")
		stdout, stderr, code := run(t, args([]string{"report", runs, "--out", out})...)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		if !strings.Contains(stdout, "wrote "+out+" (4 runs") {
			t.Errorf("stdout %q", stdout)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		page := string(b)
		want := 11 // two heatmaps: one per algorithm; j-tensors
		if regexp.MustCompile(`(?s)<h2>Consistency where states recur in the logs</h2>((?:[^<]|<[^/]|</[^s])*?)<figure class="plot">`).MatchString(page) {
			want++ // drawn when a run has recurring states at two iterations
		}
		if n := strings.Count(page, `<figure class="plot">`); n != want {
			t.Errorf("%d figures, want %d", n, want)
		}
		if n := strings.Count(page, `<svg class="plot wide"`); n == 0 || n != strings.Count(page, `<svg class="plot narrow"`) {
			t.Errorf("%d wide figures, %d narrow ones: want a narrow drawing of each figure of several panels", n, strings.Count(page, `<svg class="plot narrow"`))
		}
		for _, l := range "abcdefghi" {
			if !strings.Contains(page, "<h2>("+string(l)+")") {
				t.Errorf("no section (%c)", l)
			}
		}
		for _, want := range []string{"probability of improvement", "Claim 1 (Lemma 3.1)", "Claim 3", "gcd &gt; grpo", "Content-Security-Policy"} {
			if !strings.Contains(page, want) {
				t.Errorf("report lacks %q", want)
			}
		}
		if strings.Contains(strings.ToLower(page), "<script") || regexp.MustCompile(`(?i)(src|href)="https?:`).MatchString(page) {
			t.Error("report has a script or an external reference")
		}
	})
}

// TestReportEscapesActionText puts a script element into action texts of a
// run's logs and checks that the report shows it as text, never as markup.
func TestReportEscapesActionText(t *testing.T) {
	const hostile = `<script>alert(1)</script>`
	dir := trainTinyRun(t, filepath.Join(t.TempDir(), "grpo-1"), "grpo", 1)
	logs, _ := filepath.Glob(filepath.Join(dir, "logs", "*.parquet"))
	changed := 0
	for _, f := range logs {
		recs, err := trajlog.ReadAll(f, trajlog.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			if recs[i].Label == trajlog.LabelBad {
				recs[i].Action = hostile
				changed++
			}
		}
		if err := trajlog.WriteFile(f, recs, trajlog.Meta{Run: "grpo-1"}); err != nil {
			t.Fatal(err)
		}
	}
	if changed == 0 {
		t.Fatal("no bad-labelled step to change")
	}
	out := filepath.Join(t.TempDir(), "r.html")
	_, stderr, code := run(t, args([]string{"report", dir, "--out", out})...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	b, _ := os.ReadFile(out)
	page := string(b)
	if strings.Contains(strings.ToLower(page), "<script") {
		t.Fatal("the action text is in the report as a script element")
	}
	// In data tables (heatmap cells, probes) and in the heatmap's SVG labels.
	esc := "&lt;script&gt;alert(1)&lt;/script&gt;"
	if n := strings.Count(page, esc); n < 2 {
		t.Errorf("the escaped action text appears %d times, want it in tables and figure labels", n)
	}
	if !regexp.MustCompile(`<td class="cell"><div class="t"><span class="w">` + regexp.QuoteMeta(esc) + `</span></div></td>`).MatchString(page) {
		t.Error("the action text is not shown as a table cell")
	}
	if !regexp.MustCompile(`<text[^>]*>` + regexp.QuoteMeta(esc)).MatchString(page) {
		t.Error("the action text is not drawn as SVG text in the heatmap")
	}
}

// TestStudyCommandsBadInput: a missing directory, a run without
// metrics.jsonl and a malformed metrics line are bad input (exit 2) with the
// file (and line) named, and leave no output file behind.
func TestStudyCommandsBadInput(t *testing.T) {
	root := t.TempDir()
	noMetrics := filepath.Join(root, "nometrics")
	os.MkdirAll(filepath.Join(noMetrics, "logs"), 0o755)
	os.WriteFile(filepath.Join(noMetrics, "run.json"), []byte(`{"run": "nometrics"}`), 0o644)
	malformed := filepath.Join(root, "malformed")
	os.MkdirAll(malformed, 0o755)
	os.WriteFile(filepath.Join(malformed, "metrics.jsonl"), []byte("{\"iteration\": 0, \"train_success\": 0.5}\n{\"iteration\": 1, \"train_success\": }\n"), 0o644)
	notDir := filepath.Join(root, "file.txt")
	os.WriteFile(notDir, []byte("x"), 0o644)
	empty := filepath.Join(root, "empty")
	os.MkdirAll(empty, 0o755)

	out := filepath.Join(root, "out")
	os.MkdirAll(out, 0o755)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report", filepath.Join(root, "missing"), "--out", filepath.Join(out, "r.html")}, "missing: no such run directory"},
		{[]string{"report", noMetrics, "--out", filepath.Join(out, "r.html")}, filepath.Join(noMetrics, "logs") + ": no .parquet or .jsonl"},
		{[]string{"report", malformed, "--out", filepath.Join(out, "r.html")}, filepath.Join(malformed, "metrics.jsonl") + " line 2"},
		{[]string{"report", notDir, "--out", filepath.Join(out, "r.html")}, notDir},
		{[]string{"report", empty, "--out", filepath.Join(out, "r.html")}, "neither a run directory"},
		{[]string{"report", malformed, "--out", filepath.Join(out, "r.pdf")}, "want an .html file"},
		{[]string{"report", filepath.Join(root, "missing"), "--out", filepath.Join(out, "r.html")}, "missing: no such run directory"},
		{[]string{"figures", filepath.Join(root, "missing"), "--out", out}, "no such run directory"},
		{[]string{"figures", malformed, "--out", out}, "metrics.jsonl line 2"},
		{[]string{"figures", noMetrics, "--out", out}, filepath.Join(noMetrics, "logs") + ": no .parquet or .jsonl"},
		{[]string{"figures", malformed, "--out", out, "--format", "gif"}, "--format"},
		{[]string{"figures", malformed, "--out", out, "--smooth", "1"}, "--smooth"},
		{[]string{"compare", "--a", filepath.Join(root, "nothing-*"), "--b", malformed, "--out", out}, "no such run directory"},
		{[]string{"compare", "--a", malformed, "--b", noMetrics, "--out", out}, "metrics.jsonl line 2"},
		{[]string{"compare", "--a", malformed, "--out", out}, "want --a RUNS and --b RUNS"},
		{[]string{"compare", "--a", malformed, "--b", malformed, "--out", out}, "in both --a and --b"},
	} {
		_, stderr, code := run(t, tc.args...)
		if code != ExitBadInput || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args[:2], code, stderr, tc.want)
		}
		if files := listFiles(t, out); len(files) > 0 {
			t.Errorf("%v: output left behind: %v", tc.args[:2], files)
		}
	}
}

// TestReportRuns: a directory of runs is searched up to three levels deep
// (DIR/NAME, DIR/ENV/NAME), following symbolic links, skipping hidden
// directories and not descending into runs.
func TestReportRuns(t *testing.T) {
	root := t.TempDir()
	mk := func(rel string) string {
		d := filepath.Join(root, rel)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "metrics.jsonl"), []byte("{\"iteration\": 0}\n"), 0o644)
		return d
	}
	a := mk("study/household/grpo-1")
	b := mk("study/lab/gcd-1")
	mk("study/household/grpo-1/figures/nested") // inside a run: not a run of its own
	mk("study/.hidden/x")
	c := mk("elsewhere/gcd-2")
	os.Symlink(c, filepath.Join(root, "study", "linked"))
	got, err := reportRuns(filepath.Join(root, "study"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{a, b, filepath.Join(root, "study", "linked")}
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("runs %v, want %v", got, want)
	}
	if got, _ := reportRuns(a); len(got) != 1 || got[0] != a {
		t.Errorf("a run directory: %v", got)
	}
}
