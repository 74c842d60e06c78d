package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// run runs gradcouple with args against buffers and returns stdout, stderr and
// the exit status main would use.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{
		Stdin:  strings.NewReader(""),
		Stdout: &out,
		Stderr: &errb,
		Now:    func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
	}
	err := Run(context.Background(), append([]string{"gradcouple"}, args...), env)
	if err != nil {
		errb.WriteString("gradcouple: " + err.Error() + "\n")
	}
	return out.String(), errb.String(), ExitCode(err)
}

func TestVersionAndHelp(t *testing.T) {
	out, _, code := run(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "gradcouple version ") {
		t.Errorf("--version: code %d, out %q", code, out)
	}
	out, _, code = run(t, "--help")
	if code != 0 || !strings.Contains(out, "inspect") || !strings.Contains(out, "--log-level") {
		t.Errorf("--help: code %d, out %q", code, out)
	}
}

// TestEveryCommandHasHelp walks the command tree: every command and every flag
// has a usage text, and `CMD --help` exits 0.
func TestEveryCommandHasHelp(t *testing.T) {
	app := NewApp(&Env{})
	var walk func(prefix []string, cmds []*ucliCommand)
	walk = func(prefix []string, cmds []*ucliCommand) {
		for _, c := range cmds {
			path := append(append([]string{}, prefix...), c.Name)
			if c.Usage == "" {
				t.Errorf("%s: no usage text", strings.Join(path, " "))
			}
			for _, f := range c.Flags {
				if df, ok := f.(interface{ GetUsage() string }); ok && df.GetUsage() == "" {
					t.Errorf("%s: flag %v has no usage text", strings.Join(path, " "), f.Names())
				}
			}
			out, _, code := run(t, append(path, "--help")...)
			if code != 0 || !strings.Contains(out, "USAGE") {
				t.Errorf("%s --help: code %d\n%s", strings.Join(path, " "), code, out)
			}
			walk(path, c.Subcommands)
		}
	}
	walk(nil, app.Commands)
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"--bogus"},
		{"--log-level", "loud", "inspect", "x"},
		{"inspect"},
		{"inspect", "--bogus", "x"},
		{"inspect", "--out", "t.xlsx", "x"},
	} {
		_, stderr, code := run(t, args...)
		if code != ExitBadInput {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, ExitBadInput, stderr)
		}
	}
}

func TestMissingFileExit2(t *testing.T) {
	_, stderr, code := run(t, "inspect", "does/not/exist.parquet")
	if code != ExitBadInput || !strings.Contains(stderr, "does/not/exist.parquet") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
