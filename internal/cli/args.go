package cli

import (
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// interspersed moves each command's flags before its positional arguments, so
// that `gradcouple convert IN --out OUT` works as users expect: urfave/cli v2
// stops parsing flags at the first positional argument. A flag that takes a
// value keeps the token after it; "--" ends reordering. The hidden
// --generate-bash-completion flag stays last, where urfave/cli looks for it.
func interspersed(app *ucli.App, args []string) []string {
	if len(args) == 0 {
		return args
	}
	if n := len(args); n > 1 && args[n-1] == "--generate-bash-completion" {
		return append(interspersed(app, args[:n-1:n-1]), args[n-1])
	}
	out := []string{args[0]}
	cmds, flags := app.Commands, app.Flags
	i := 1
	for i < len(args) {
		var opts, pos []string
		var next *ucli.Command
		for ; i < len(args); i++ {
			a := args[i]
			if a == "--" {
				pos = append(pos, args[i:]...)
				i = len(args)
				break
			}
			if strings.HasPrefix(a, "-") && len(a) > 1 {
				opts = append(opts, a)
				if takesValue(flags, a) && !strings.Contains(a, "=") && i+1 < len(args) {
					i++
					opts = append(opts, args[i])
				}
				continue
			}
			if len(pos) == 0 {
				if c := findCommand(cmds, a); c != nil {
					next = c
					break
				}
			}
			pos = append(pos, a)
		}
		out = append(out, opts...)
		out = append(out, pos...)
		if next == nil {
			break
		}
		out = append(out, args[i])
		i++
		cmds, flags = next.Subcommands, next.Flags
	}
	return out
}

func findCommand(cmds []*ucli.Command, name string) *ucli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// takesValue reports whether the flag token (-x, --name) names a flag of
// flags that takes a value, i.e. anything but a boolean flag.
func takesValue(flags []ucli.Flag, tok string) bool {
	name := strings.TrimLeft(tok, "-")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				if _, ok := f.(*ucli.BoolFlag); ok {
					return false
				}
				return true
			}
		}
	}
	return false
}
