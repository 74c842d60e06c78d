package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gradcouple/gradcouple/trajlog"
)

// figuresFromLogs are the figures that logs alone support.
var figuresFromLogs = []string{"b-repetition", "d-squeeze", "e-lemma", "f-learning-curves", "i-final"}

// TestStudyCommandsOnLogs: report, figures and compare take step records
// alone (one parquet file, a directory holding logs/, a glob, converted
// verl-agent logs), render the sections that need only logs and say, in
// the report and on stderr, which sections need checkpoints and how to get
// them; logs without train rows are a warning with exit status 0.
func TestStudyCommandsOnLogs(t *testing.T) {
	root := t.TempDir()
	grpo := trainTinyRun(t, filepath.Join(root, "runs", "grpo-1"), "grpo", 1)
	gcd := trainTinyRun(t, filepath.Join(root, "runs", "gcd-1"), "gcd", 1)
	onefile := func(run, path string, keep func(trajlog.Record) bool) string {
		recs, err := trajlog.ReadAll(filepath.Join(run, "logs"), trajlog.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []trajlog.Record
		for _, r := range recs {
			if keep == nil || keep(r) {
				out = append(out, r)
			}
		}
		if err := trajlog.WriteFile(path, out, trajlog.Meta{Run: filepath.Base(run)}); err != nil {
			t.Fatal(err)
		}
		return path
	}
	grpoFile := onefile(grpo, filepath.Join(root, "grpo.parquet"), nil)
	gcdFile := onefile(gcd, filepath.Join(root, "gcd.parquet"), nil)
	// A directory with logs/ only.
	logsOnly := filepath.Join(root, "logs-only")
	os.MkdirAll(filepath.Join(logsOnly, "logs"), 0o755)
	files, _ := filepath.Glob(filepath.Join(grpo, "logs", "*.parquet"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(logsOnly, "logs", filepath.Base(f)), b, 0o644)
	}
	// Converted verl-agent logs.
	verlAgent := filepath.Join(root, "verl-agent.parquet")
	if _, stderr, code := run(t, "convert", filepath.Join("..", "..", "testdata", "adapters", "verl-agent", "patched"), "--out", verlAgent); code != 0 {
		t.Fatalf("convert: exit %d\n%s", code, stderr)
	}

	checkGaps := func(t *testing.T, stderr string) {
		t.Helper()
		for _, want := range []string{"(c) coupling heatmap", "gradcouple coupling --grads STORE --samples TABLE", "gradcouple train", "not supported yet"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr does not say %q:\n%s", want, stderr)
			}
		}
	}
	for _, in := range []string{grpoFile, logsOnly, filepath.Join(grpo, "logs", "*.parquet"), verlAgent} {
		t.Run("report "+filepath.Base(in), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.html")
			stdout, stderr, code := run(t, args([]string{"report", in, "--out", out, "--cache", t.TempDir()})...)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			if !strings.Contains(stdout, "wrote "+out+" (1 runs") {
				t.Errorf("stdout %q", stdout)
			}
			checkGaps(t, stderr)
			b, _ := os.ReadFile(out)
			page := string(b)
			for _, want := range []string{"<h2>(b) Repetition", "<h2>(d) The squeezing effect", "<h2>(e) Lemma 3.1", "<h2>(f) Learning curves", "<h2>(i) Final performance",
				"<h2>What needs checkpoints or gradients</h2>", "<h2>Log sanity: groups, success and advantages</h2>", "gradcouple coupling --grads STORE --samples TABLE"} {
				if !strings.Contains(page, want) {
					t.Errorf("report lacks %q", want)
				}
			}
			for _, absent := range []string{"<h2>(a)", "<h2>(c)", "<h2>(g)", "<h2>(h)"} {
				if strings.Contains(page, absent) {
					t.Errorf("report of logs alone has the checkpoint section %s", absent)
				}
			}
		})
	}

	t.Run("figures", func(t *testing.T) {
		out := filepath.Join(root, "fig")
		stdout, stderr, code := run(t, args([]string{"figures", grpoFile, "--out", out, "--format", "svg", "--no-cache"})...)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		checkGaps(t, stderr)
		got := listFiles(t, out)
		if len(got) != len(figuresFromLogs) {
			t.Errorf("figures %v, want %v\n%s", got, figuresFromLogs, stdout)
		}
		for _, n := range figuresFromLogs {
			if _, err := os.Stat(filepath.Join(out, n+".svg")); err != nil {
				t.Errorf("%s.svg not written", n)
			}
		}
		if _, err := os.Stat(filepath.Join(root, ".gradcouple-cache")); err == nil {
			t.Error("--no-cache wrote a cache")
		}
		// Without --out: NAME-figures beside the file.
		if _, stderr, code := run(t, args([]string{"figures", grpoFile, "--format", "svg"})...); code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		if _, err := os.Stat(filepath.Join(root, "grpo-figures", "b-repetition.svg")); err != nil {
			t.Errorf("default output beside the log file: %v", err)
		}
		if _, err := os.Stat(filepath.Join(root, ".gradcouple-cache")); err != nil {
			t.Errorf("no cache beside the log file: %v", err)
		}
	})

	t.Run("compare", func(t *testing.T) {
		out := filepath.Join(root, "cmp")
		stdout, stderr, code := run(t, args([]string{"compare", "--a", grpoFile, "--b", gcdFile, "--out", out, "--format", "svg"})...)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		checkGaps(t, stderr)
		for _, want := range []string{"group A: 1 run(s): [grpo]", "group B: 1 run(s): [gcd]", "Final performance"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, stdout)
			}
		}
		if got := listFiles(t, out); len(got) != len(figuresFromLogs) {
			t.Errorf("figures %v", got)
		}
	})

	t.Run("no train rows", func(t *testing.T) {
		eval := onefile(grpo, filepath.Join(root, "eval.parquet"), func(r trajlog.Record) bool { return r.Split != "train" })
		out := filepath.Join(root, "eval.html")
		_, stderr, code := run(t, args([]string{"report", eval, "--out", out})...)
		if code != 0 {
			t.Fatalf("exit %d, want 0 with a warning\n%s", code, stderr)
		}
		if !strings.Contains(stderr, "warning: eval: no train-split step records") {
			t.Errorf("no warning on stderr:\n%s", stderr)
		}
	})
}

// TestStudyCommandsCache: figures, then figures again and report on the
// same run with the same options compute coupling once; a changed log
// recomputes it; a corrupt entry is recomputed with a warning; --no-cache
// recomputes.
func TestStudyCommandsCache(t *testing.T) {
	root := t.TempDir()
	dir := trainTinyRun(t, filepath.Join(root, "grpo-1"), "grpo", 1)
	cache := filepath.Join(root, "cache")
	computed := func(stderr string) bool { return strings.Contains(stderr, "per-sample gradients of") }
	step := func(args_ ...string) string {
		t.Helper()
		_, stderr, code := run(t, args(args_, "--cache", cache)...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", args_, code, stderr)
		}
		return stderr
	}
	if s := step("figures", dir, "--out", filepath.Join(root, "f1"), "--format", "svg"); !computed(s) {
		t.Fatalf("first figures computed no gradients:\n%s", s)
	}
	if s := step("figures", dir, "--out", filepath.Join(root, "f2"), "--format", "svg"); computed(s) {
		t.Errorf("second figures recomputed coupling:\n%s", s)
	}
	if s := step("report", dir, "--out", filepath.Join(root, "r.html")); computed(s) {
		t.Errorf("report after figures recomputed coupling:\n%s", s)
	}
	b, _ := os.ReadFile(filepath.Join(root, "r.html"))
	if !regexp.MustCompile(`<td class="cell"><div class="t"><span class="w">coupling</span></div></td><td class="n">[0-9.]+</td><td class="cell"><div class="t"><span class="w">true</span>`).Match(b) {
		t.Error("the report's timing table does not say that coupling came from the cache")
	}
	f1, _ := os.ReadFile(filepath.Join(root, "f1", "g-coupling.svg"))
	f2, _ := os.ReadFile(filepath.Join(root, "f2", "g-coupling.svg"))
	if len(f1) == 0 || string(f1) != string(f2) {
		t.Error("the coupling figure from the cache differs from the computed one")
	}

	logs, _ := filepath.Glob(filepath.Join(dir, "logs", "*.parquet"))
	later := time.Now().Add(time.Hour)
	os.Chtimes(logs[len(logs)-1], later, later)
	if s := step("figures", dir, "--out", filepath.Join(root, "f3"), "--format", "svg"); !computed(s) {
		t.Errorf("figures after a log changed did not recompute coupling:\n%s", s)
	}

	entries, _ := filepath.Glob(filepath.Join(cache, "coupling-*.gob"))
	if len(entries) != 1 {
		t.Fatalf("coupling entries %v", entries)
	}
	os.WriteFile(entries[0], []byte("gradcouple cache\ntruncated"), 0o644)
	s := step("figures", dir, "--out", filepath.Join(root, "f4"), "--format", "svg")
	if !computed(s) || !strings.Contains(s, "warning: cache entry "+entries[0]+" ignored") {
		t.Errorf("a corrupt entry was not ignored with a warning and recomputed:\n%s", s)
	}
	_, s, _ = run(t, args([]string{"figures", dir, "--out", filepath.Join(root, "f5"), "--format", "svg", "--no-cache"})...)
	if !computed(s) {
		t.Errorf("--no-cache did not recompute:\n%s", s)
	}
	if _, s, code := run(t, args([]string{"figures", dir, "--no-cache", "--cache", cache})...); code != ExitBadInput || !strings.Contains(s, "--no-cache") {
		t.Errorf("--cache with --no-cache: exit %d, %s", code, s)
	}
}

// TestReportTablesAndOutputs: --tables writes every table in full and the
// page names the file of a table it shows in part; an --out in a missing
// directory or a --tables over a file fails before any work with exit 2,
// naming the user's path.
func TestReportTablesAndOutputs(t *testing.T) {
	root := t.TempDir()
	dir := trainTinyRun(t, filepath.Join(root, "grpo-1"), "grpo", 1)
	tables := filepath.Join(root, "tables")
	out := filepath.Join(root, "r.html")
	stdout, stderr, code := run(t, args([]string{"report", dir, "--out", out, "--tables", tables, "--min-visits", "2"})...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	files := listFiles(t, tables)
	b, _ := os.ReadFile(out)
	page := string(b)
	if n := strings.Count(page, "<summary>"); len(files) != n || n == 0 {
		t.Errorf("%d table files for %d tables in the page: %v", len(files), n, files)
	}
	if !strings.Contains(stdout, "wrote "+strconv.Itoa(len(files))+" tables in full to "+tables) {
		t.Errorf("stdout %q", stdout)
	}
	// Every table shown in part names its file, which has every row.
	partial := regexp.MustCompile(`Showing the first (\d+) of (\d+) rows; every row is in ([^<]+)\.</p>`).FindAllStringSubmatch(page, -1)
	for _, m := range partial {
		rows := readCSV(t, m[3])
		if strconv.Itoa(len(rows)) != m[2] {
			t.Errorf("%s has %d rows, want %s", m[3], len(rows), m[2])
		}
	}
	t.Logf("%d tables, %d shown in part", len(files), len(partial))

	file := filepath.Join(root, "file")
	os.WriteFile(file, nil, 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report", dir, "--out", filepath.Join(root, "nodir", "x.html")}, "--out " + filepath.Join(root, "nodir", "x.html") + ": directory " + filepath.Join(root, "nodir") + " does not exist"},
		{[]string{"report", dir, "--out", out, "--tables", filepath.Join(file, "t")}, "--tables " + filepath.Join(file, "t") + ": " + file + " is not a directory"},
		{[]string{"report", dir, "--out", out, "--tables", tables, "--tables-format", "xml"}, "--tables-format"},
		{[]string{"figures", dir, "--out", filepath.Join(file, "figs")}, "--out " + filepath.Join(file, "figs")},
		{[]string{"compare", "--a", dir, "--b", tables, "--out", file}, "--out " + file + ": not a directory"},
	} {
		_, stderr, code := run(t, tc.args...)
		if code != ExitBadInput || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
		if strings.Contains(stderr, "reading "+dir) {
			t.Errorf("%v: the work started before the output check:\n%s", tc.args, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "nodir")); err == nil {
		t.Error("the missing --out directory was created")
	}
}
