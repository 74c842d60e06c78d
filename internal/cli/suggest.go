package cli

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// unknownCommand is the usage error for a command name that is not one of
// cmds, with the closest name as a suggestion; parent is what was run
// ("gradcouple", "gradcouple env").
func unknownCommand(cmds []*ucli.Command, name, parent string) error {
	var names []string
	for _, c := range cmds {
		names = append(names, c.Names()...)
	}
	msg := fmt.Sprintf("unknown command %q", name)
	if s := suggest(name, names); s != "" {
		msg += fmt.Sprintf("; did you mean %s?", s)
	}
	return &UsageError{Msg: msg + fmt.Sprintf(" (see '%s --help')", parent)}
}

// flagError turns a flag-parsing error of the command run in c into a usage
// error; an unknown flag gets the closest flag name of the command as a
// suggestion.
func flagError(c *ucli.Context, err error) error {
	name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: ")
	if !ok {
		return &UsageError{Msg: err.Error()}
	}
	name = strings.TrimLeft(name, "-")
	var names []string
	for _, f := range c.Command.Flags {
		if v, ok := f.(ucli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		names = append(names, f.Names()...)
	}
	where, msg := "gradcouple", "unknown flag "+dashed(name)
	if c.Command != nil && c.Command.Name != "" {
		where = "gradcouple " + commandPath(c.Command)
		msg = commandPath(c.Command) + ": " + msg
	}
	if s := suggest(name, names); s != "" {
		msg += fmt.Sprintf("; did you mean %s?", dashed(s))
	}
	return &UsageError{Msg: msg + fmt.Sprintf(" (see '%s --help')", where)}
}

func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// suggest returns the candidate closest to typed by edit distance (optimal
// string alignment: insertions, deletions, substitutions and transpositions
// of adjacent letters cost 1), or "" when none is close: the distance may be
// at most 1 for names of up to 4 letters and 2 beyond. A candidate that
// starts with typed (3 letters or more) also counts, at distance 1. Ties go
// to the earlier candidate.
func suggest(typed string, candidates []string) string {
	best, bestD := "", 0
	for _, c := range candidates {
		if len(c) < 2 && len(typed) > 1 {
			continue // do not offer -o for --oot
		}
		d := osaDistance(typed, c)
		if len(typed) >= 3 && strings.HasPrefix(c, typed) && d > 1 {
			d = 1
		}
		limit := 2
		if len(typed) <= 4 {
			limit = 1
		}
		if d == 0 || d > limit {
			continue
		}
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// osaDistance is the optimal string alignment distance between a and b, in
// bytes.
func osaDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
