package cli

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	ucli "github.com/urfave/cli/v2"
)

// docCommand is one `gradcouple ...` command line found in the documentation.
type docCommand struct {
	file string
	line int
	args []string
}

// docCommands returns the gradcouple command lines of the code blocks of
// README.md and docs/*.md: lines starting with "$ gradcouple", "gradcouple"
// or "go run ./cmd/gradcouple", continuation lines joined; a line marked
// "# a typo" shows a mistake on purpose and is skipped.
func docCommands(t *testing.T) []docCommand {
	t.Helper()
	files, _ := filepath.Glob("../../docs/*.md")
	files = append([]string{"../../README.md"}, files...)
	var cmds []docCommand
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		inBlock, n := false, 0
		var pending string
		start := 0
		for sc.Scan() {
			n++
			l := sc.Text()
			if strings.HasPrefix(strings.TrimSpace(l), "```") {
				inBlock = !inBlock
				pending = ""
				continue
			}
			if !inBlock {
				continue
			}
			if pending != "" {
				pending += " " + strings.TrimSpace(l)
			} else {
				s := strings.TrimSpace(l)
				if strings.Contains(s, "# a typo") {
					continue // a mistyped command shown for its error message
				}
				s = strings.TrimPrefix(s, "$ ")
				s = strings.TrimPrefix(s, "go run ./cmd/gradcouple ")
				if !strings.HasPrefix(s, "gradcouple ") && !strings.HasPrefix(l, "go run ./cmd/gradcouple ") {
					continue
				}
				pending = strings.TrimPrefix(s, "gradcouple ")
				start = n
			}
			if strings.HasSuffix(pending, "\\") {
				pending = strings.TrimSuffix(pending, "\\")
				continue
			}
			cmds = append(cmds, docCommand{filepath.Base(f), start, shellWords(pending)})
			pending = ""
		}
		fh.Close()
	}
	return cmds
}

var commentRe = regexp.MustCompile(`\s+#.*$`)

// shellWords splits a documented command line into words: comments and
// shell redirections dropped, quotes removed, a loop or pipe ends it.
func shellWords(s string) []string {
	s = commentRe.ReplaceAllString(s, "")
	var words []string
	for _, w := range strings.Fields(s) {
		if w == "|" || w == ";" || w == "&&" || strings.HasPrefix(w, ">") || strings.HasPrefix(w, "2>") {
			break
		}
		words = append(words, strings.Trim(w, `'"`))
	}
	return words
}

// TestDocumentedCommandsExist: every gradcouple command line in the README and
// docs/ names a real command and only flags that command (or the app) has, so
// the documentation cannot drift from the CLI unnoticed.
func TestDocumentedCommandsExist(t *testing.T) {
	env := &Env{Stdin: strings.NewReader(""), Stdout: os.Stdout, Stderr: os.Stderr, Now: time.Now}
	app := NewApp(env)
	global := map[string]bool{"help": true, "h": true, "version": true, "v": true}
	for _, f := range app.Flags {
		for _, n := range f.Names() {
			global[n] = true
		}
	}
	cmds := docCommands(t)
	if len(cmds) < 20 {
		t.Fatalf("only %d documented commands found: the extraction is broken", len(cmds))
	}
	for _, dc := range cmds {
		where := dc.file + ":" + strconv.Itoa(dc.line)
		args := dc.args
		if len(args) == 0 {
			continue
		}
		if args[0] == "--help" || args[0] == "-h" || args[0] == "--version" {
			continue
		}
		var cmd *ucli.Command
		list := app.Commands
		i := 0
		for ; i < len(args); i++ {
			var found *ucli.Command
			for _, c := range list {
				if c.HasName(args[i]) {
					found = c
				}
			}
			if found == nil {
				break
			}
			cmd, list = found, found.Subcommands
		}
		if cmd == nil {
			t.Errorf("%s: unknown command %q in %q", where, args[0], strings.Join(args, " "))
			continue
		}
		flags := map[string]bool{}
		for _, f := range cmd.Flags {
			for _, n := range f.Names() {
				flags[n] = true
			}
		}
		for _, a := range args[i:] {
			if !strings.HasPrefix(a, "-") || a == "-" {
				continue
			}
			name := strings.TrimLeft(a, "-")
			name, _, _ = strings.Cut(name, "=")
			if !flags[name] && !global[name] {
				t.Errorf("%s: %s has no flag --%s (in %q)", where, cmd.Name, name, strings.Join(args, " "))
			}
		}
	}
}
