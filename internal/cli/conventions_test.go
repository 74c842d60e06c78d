package cli

import (
	"encoding/csv"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/internal/table"
)

const testRun = "../../testdata/trajlog/run"

// TestJSONStdout: --json puts the table, and nothing else, on stdout; the
// counts and notes go to stderr. Global flags work after the command name.
func TestJSONStdout(t *testing.T) {
	for _, args := range [][]string{
		{"--json", "inspect", testRun},
		{"inspect", testRun, "--json"},
		{"repetition", "--json", testRun},
		{"advantage", testRun, "--min-visits", "2", "--resamples", "10", "--json"},
	} {
		out, stderr, code := run(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		var rows []map[string]any
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Errorf("%v: stdout is not one JSON array: %v\n%s", args, err, out)
		}
		if args[0] != "repetition" && !strings.Contains(stderr, "step records") {
			t.Errorf("%v: the count line should be on stderr, got %q", args, stderr)
		}
	}
}

// TestOutDashCSV: --out - --format csv writes the table as CSV to stdout,
// header from the row struct, and nothing else.
func TestOutDashCSV(t *testing.T) {
	out, stderr, code := run(t, "repetition", testRun, "--out", "-", "--format", "csv")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("stdout is not CSV: %v\n%s", err, out)
	}
	if want := table.Header([]analysis.RepetitionRow{}); strings.Join(recs[0], ",") != strings.Join(want, ",") {
		t.Errorf("header %v, want %v", recs[0], want)
	}
	if len(recs) < 2 {
		t.Errorf("no rows: %q", out)
	}
	// Without --format, --out - is JSON.
	out, _, code = run(t, "repetition", testRun, "--out", "-")
	if code != 0 || !json.Valid([]byte(out)) {
		t.Errorf("--out -: exit %d, stdout not JSON: %q", code, out)
	}
	for _, args := range [][]string{
		{"repetition", testRun, "--out", "-", "--format", "xml"},
		{"repetition", testRun, "--json", "--format", "csv"},
		{"consistency", testRun, "--states-out", "-"},
	} {
		if _, stderr, code := run(t, args...); code != ExitBadInput {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr)
		}
	}
}

func TestQuietVerbose(t *testing.T) {
	_, stderr, code := run(t, "inspect", testRun, "--json", "-q")
	if code != 0 || stderr != "" {
		t.Errorf("-q after the command: exit %d, stderr %q, want nothing", code, stderr)
	}
	for _, args := range [][]string{
		{"inspect", testRun, "-v"},
		{"-v", "inspect", testRun},
		{"inspect", testRun, "--log-level", "debug"},
	} {
		_, stderr, code := run(t, args...)
		if code != 0 || !strings.Contains(stderr, "level=DEBUG") {
			t.Errorf("%v: exit %d, stderr %q, want debug messages", args, code, stderr)
		}
	}
	if _, _, code := run(t, "inspect", testRun, "-q", "-v"); code != ExitBadInput {
		t.Errorf("-q -v: exit %d, want 2", code)
	}
}

func TestHelpAndVersionCommands(t *testing.T) {
	want, _, _ := run(t, "env", "sample", "--help")
	out, _, code := run(t, "help", "env", "sample")
	if code != 0 || out != want || !strings.Contains(out, "USAGE") {
		t.Errorf("help env sample: exit %d, output differs from env sample --help:\n%s", code, out)
	}
	out, _, code = run(t, "help")
	if code != 0 || !strings.Contains(out, "completion") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
	out, _, code = run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "gradcouple "+version()+"\n") || !strings.Contains(out, "revision: ") {
		t.Errorf("version: exit %d\n%s", code, out)
	}
}

func TestSuggestions(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"inspec", "x"}, "did you mean inspect?"},
		{[]string{"help", "inspec"}, "did you mean inspect?"},
		{[]string{"env", "smaple"}, "did you mean sample?"},
		{[]string{"repetition", "--spilt", "train", testRun}, "did you mean --split?"},
		{[]string{"advantage", "--min-vists", "3", testRun}, "did you mean --min-visits?"},
	} {
		_, stderr, code := run(t, c.args...)
		if code != ExitBadInput || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, stderr, c.want)
		}
	}
	if _, stderr, _ := run(t, "xyzzy"); strings.Contains(stderr, "did you mean") {
		t.Errorf("xyzzy: a far-fetched suggestion: %q", stderr)
	}
	for _, c := range []struct {
		typed string
		want  string
	}{{"inspec", "inspect"}, {"spilt", "split"}, {"coupl", "coupling"}, {"ab", ""}, {"zzzzzz", ""}} {
		if got := suggest(c.typed, []string{"inspect", "split", "coupling", "env", "o"}); got != c.want {
			t.Errorf("suggest(%q) = %q, want %q", c.typed, got, c.want)
		}
	}
}

// TestMissingArgumentOneLine: a missing argument, flag or subcommand is one
// line naming it plus the usage line, exit 2, never the help page.
func TestMissingArgumentOneLine(t *testing.T) {
	for _, c := range []struct {
		args       []string
		name, want string
	}{
		{[]string{"inspect"}, "LOGS", "usage: gradcouple inspect [options] LOGS..."},
		{[]string{"convert"}, "INPUT", "usage: gradcouple convert [options] INPUT"},
		{[]string{"env", "sample"}, "--out FILE", "usage: gradcouple env sample --out FILE [options]"},
		{[]string{"model", "init"}, "--out DIR", "usage: gradcouple model init --out DIR [options]"},
		{[]string{"env"}, "play, sample, stats", "usage: gradcouple env [options] COMMAND"},
		{[]string{"completion"}, "bash, zsh or fish", "usage: gradcouple completion [options] bash|zsh|fish"},
	} {
		out, stderr, code := run(t, c.args...)
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		if code != ExitBadInput || out != "" || len(lines) != 2 || !strings.Contains(lines[0], c.name) || lines[1] != c.want {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s\nwant 2 lines naming %q and %q", c.args, code, out, stderr, c.name, c.want)
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, stderr, code := run(t, "completion", shell)
		if code != 0 {
			t.Fatalf("completion %s: exit %d: %s", shell, code, stderr)
		}
		for _, w := range []string{"inspect", "coupling", "sample", "min-visits", "completion"} {
			if !strings.Contains(out, w) {
				t.Errorf("completion %s does not name %s", shell, w)
			}
		}
	}
	if _, _, code := run(t, "completion", "tcsh"); code != ExitBadInput {
		t.Errorf("completion tcsh: exit %d, want 2", code)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to run the bash script")
	}
	script, _, _ := run(t, "completion", "bash")
	for _, c := range []struct{ words, want string }{
		{"gradcouple env sa", "sample"},
		{"gradcouple inspect --max-p", "--max-problems"},
		{"gradcouple advantage sim", "simulate"},
		{"gradcouple repe", "repetition"},
	} {
		words := strings.Fields(c.words)
		prog := script + "\nCOMP_WORDS=(" + strings.Join(words, " ") + "); COMP_CWORD=" +
			string(rune('0'+len(words)-1)) + "; _gradcouple; echo \"${COMPREPLY[*]}\"\n"
		got, err := exec.Command(bash, "-c", prog).Output()
		if err != nil || strings.TrimSpace(string(got)) != c.want {
			t.Errorf("bash completion of %q: %q (%v), want %q", c.words, got, err, c.want)
		}
	}
}
