package figure_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gradcouple/gradcouple/figure"
	"github.com/gradcouple/gradcouple/internal/cli"
)

// gradcouple runs the command line in process and fails the test on error.
func gradcouple(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Now: time.Now}
	if err := cli.Run(context.Background(), append([]string{"gradcouple"}, args...), env); err != nil {
		t.Fatalf("gradcouple %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// TestGradcoupleReportInChromium opens a report made by `gradcouple report`
// from a directory of GRPO and GCD runs in headless Chromium: no console
// message, every figure drawn in the screenshot, one inline SVG per figure
// section in the DOM and no script. GRADCOUPLE_CHROMIUM_RUNS=DIR reports on
// the runs in DIR (say, the quick runs of the README); otherwise two tiny
// runs are trained first (`gradcouple train`, about a second each).
func TestGradcoupleReportInChromium(t *testing.T) {
	bin, dir := figure.Chromium(t)
	runs := os.Getenv("GRADCOUPLE_CHROMIUM_RUNS")
	var fast []string
	if runs == "" {
		runs = filepath.Join(t.TempDir(), "runs")
		for _, algo := range []string{"grpo", "gcd"} {
			gradcouple(t, "train", "--algo", algo, "--seed", "1", "--iterations", "3", "--train-tasks", "20", "--checkpoint-every", "2",
				"--dim", "8", "--layers", "1", "--heads", "2", "--context", "320", "--history", "1",
				"--cold-start-demos", "20", "--cold-start-steps", "60", "--cold-start-batch", "16", "--cold-start-lr", "0.03",
				"--tasks", "3", "--group-size", "4", "--max-steps", "10", "--epochs", "1", "--minibatches", "1", "--lr", "0.01",
				"--eval-every", "2", "--eval-tasks", "4", filepath.Join(runs, algo+"-1"))
		}
		fast = []string{"--consistency-states", "4", "--probes", "16", "--min-visits", "2", "--resamples", "200"}
	}
	page := filepath.Join(dir, "gradcouple-report.html")
	gradcouple(t, append([]string{"report", runs, "--out", page}, fast...)...)
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	// Every figure section (a)-(i) has its figure; the heatmap (c) may
	// come once per algorithm. Other sections may have figures too.
	sections := regexp.MustCompile(`(?s)<h2>\(([a-i])\)[^<]*</h2>.*?(?:</section>)`).FindAllSubmatch(html, -1)
	want, letters := 0, map[string]bool{}
	for _, s := range sections {
		letters[string(s[1])] = true
		if bytes.Contains(s[0], []byte(`<figure class="plot">`)) {
			want++
		} else {
			t.Errorf("section (%s) has no figure", s[1])
		}
	}
	if len(letters) != 9 {
		t.Errorf("figure sections %v, want (a) to (i)", letters)
	}
	want = bytes.Count(html, []byte(`<figure class="plot">`))

	shot := filepath.Join(dir, "gradcouple-report.png")
	log, _ := figure.RunChromium(t, bin, page, "--screenshot="+shot, fmt.Sprintf("--window-size=1280,%d", 2200*want))
	if lines := figure.ConsoleLines(log); len(lines) > 0 {
		t.Errorf("console messages while loading the report:\n%s", strings.Join(lines, "\n"))
	}
	img := figure.DecodePNG(t, shot)
	boxes := figure.FigureBoxes(img, 400)
	if len(boxes) != want {
		t.Errorf("found %d figures in the screenshot, want %d", len(boxes), want)
	}
	for i, r := range boxes {
		share, col := figure.Ink(img, r)
		t.Logf("figure %d at %v: %.1f%% ink, %d coloured pixels", i+1, r, 100*share, col)
		// A figure with data has coloured marks: a final-performance panel of
		// one run per group has only its points (about 70 coloured pixels
		// each), so fewer than 50 means no data was drawn.
		if share < 0.01 || col < 50 {
			t.Errorf("figure %d at %v looks blank: %.1f%% ink, %d coloured pixels", i+1, r, 100*share, col)
		}
	}
	_, dom := figure.RunChromium(t, bin, page, "--dump-dom")
	if n := bytes.Count(dom, []byte(`<figure class="plot">`)); n != want {
		t.Errorf("DOM has %d figures, want %d", n, want)
	}
	if bytes.Contains(bytes.ToLower(dom), []byte("<script")) {
		t.Error("DOM has a script element")
	}

	// From a narrow phone to a wide screen: no word broken in a table cell,
	// no figure beyond the viewport, figure text at least 9 px.
	for _, w := range []int{420, 1400} {
		figure.CheckLayout(t, bin, page, w, 9)
	}

	// A report on step records alone, converted from verl-agent logs.
	logs := filepath.Join(dir, "verl-agent.parquet")
	gradcouple(t, "convert", filepath.Join("..", "testdata", "adapters", "verl-agent", "patched"), "--out", logs)
	logsPage := filepath.Join(dir, "logs-report.html")
	gradcouple(t, "report", logs, "--out", logsPage, "--no-cache")
	for _, w := range []int{420, 1400} {
		figure.CheckLayout(t, bin, logsPage, w, 9)
	}
}
