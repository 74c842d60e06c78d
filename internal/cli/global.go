package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// Output formats of tables written to stdout (--format).
const (
	formatJSON = "json"
	formatCSV  = "csv"
)

// globalFlags are the flags every command accepts, before or after its name
// (`gradcouple -q inspect x` and `gradcouple inspect x -q`). Each call
// returns new flags: urfave/cli records in a flag whether it was set.
func globalFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "log-level", Value: "warn", Usage: "messages on stderr at this `LEVEL` and above: debug, info, warn, error"},
		&ucli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only errors on stderr: no progress, notes or warnings"},
		&ucli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print debug messages on stderr (--log-level debug)"},
		&ucli.BoolFlag{Name: "json", Usage: "print the command's table(s) as JSON on stdout, everything else on stderr (one JSON array per table)"},
		&ucli.StringFlag{Name: "format", Value: formatJSON, Usage: "print the command's table(s) on stdout as `F`: json or csv (with --out -, or on its own); everything else goes to stderr"},
	}
}

// rootFlags are the flags of gradcouple itself, before any command.
func rootFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.BoolFlag{Name: "version", Usage: "print the version and exit (see also 'gradcouple version')"},
		// urfave/cli adds its help flag only when there is no help command.
		ucli.HelpFlag,
	}
}

// shadows records, per command, the global flags that the command defines
// itself with another meaning (convert --format is the input format): for
// those, the command's own flag wins and the global one is not added.
type shadows map[*ucli.Command]map[string]bool

// setConventions applies the shared conventions to cmd and its subcommands:
// the column glossary (columnHelp) is appended to the description,
// the global flags are appended to its flags, required flags are checked by
// us (one line, not a help dump), usage errors get suggestions, a command
// group without its subcommand says so in one line, and a missing
// positional argument gives the usage line.
func setConventions(cmd *ucli.Command, env *Env, base Env, sh shadows) {
	setConventionsAt(cmd.Name, cmd, env, base, sh)
}

func setConventionsAt(path string, cmd *ucli.Command, env *Env, base Env, sh shadows) {
	cmd.Description += columnHelp(path)
	var required []ucli.Flag
	flags := make([]ucli.Flag, 0, len(cmd.Flags)+5)
	for _, f := range cmd.Flags {
		if sf, ok := f.(*ucli.StringFlag); ok && sf.Required {
			// A copy: flags are shared between commands and app instances.
			cp := *sf
			cp.Required = false
			f = &cp
			required = append(required, f)
		}
		flags = append(flags, f)
	}
	for _, g := range globalFlags() {
		if definesAny(flags, g.Names()) {
			if sh[cmd] == nil {
				sh[cmd] = map[string]bool{}
			}
			sh[cmd][g.Names()[0]] = true
			continue
		}
		flags = append(flags, g)
	}
	cmd.Flags = flags
	cmd.OnUsageError = func(c *ucli.Context, err error, _ bool) error {
		return flagError(c, err)
	}
	before := cmd.Before
	cmd.Before = func(c *ucli.Context) error {
		if err := configure(c, env, base, sh); err != nil {
			return err
		}
		for _, f := range required {
			if !c.IsSet(f.Names()[0]) {
				name, usage := placeholder(f.(*ucli.StringFlag).Usage)
				return &UsageError{
					Msg:   fmt.Sprintf("%s: missing --%s %s: %s", commandPath(c.Command), f.Names()[0], name, usage),
					Usage: usageLine(c.Command, required),
				}
			}
		}
		if before != nil {
			return before(c)
		}
		return nil
	}
	switch {
	case cmd.Action == nil && len(cmd.Subcommands) > 0:
		cmd.Action = func(c *ucli.Context) error {
			if c.NArg() == 0 {
				return &UsageError{
					Msg:   fmt.Sprintf("%s: missing a command: %s", commandPath(c.Command), strings.Join(commandNames(visible(c.Command.Subcommands)), ", ")),
					Usage: usageLine(c.Command, nil),
				}
			}
			return unknownCommand(visible(c.Command.Subcommands), c.Args().First(), c.Command.HelpName)
		}
	case cmd.Action != nil:
		action := cmd.Action
		cmd.Action = func(c *ucli.Context) error {
			err := action(c)
			var ue *UsageError
			if errors.As(err, &ue) && ue.Usage == "" && c.NArg() < minArgs(c.Command.ArgsUsage) {
				ue.Usage = usageLine(c.Command, required)
			}
			if d, ok := env.Stdout.(*dataStdout); ok && err == nil && d.tables == 0 {
				fmt.Fprintf(env.Stderr, "gradcouple %s prints no table; --json, --format and --out - have no effect\n", commandPath(c.Command))
			}
			return err
		}
	}
	for _, sub := range cmd.Subcommands {
		setConventionsAt(path+" "+sub.Name, sub, env, base, sh)
	}
}

// configure applies the global flags seen from c (the innermost context that
// set a flag wins) to env, starting again from base, so that the hooks of a
// command group and of its subcommand may both run.
func configure(c *ucli.Context, env *Env, base Env, sh shadows) error {
	*env = base
	level := slog.LevelWarn
	lc, levelSet := globalSet(c, sh, "log-level")
	if levelSet {
		if err := level.UnmarshalText([]byte(lc.String("log-level"))); err != nil {
			return &UsageError{Msg: fmt.Sprintf("--log-level %q: want debug, info, warn or error", lc.String("log-level"))}
		}
	}
	_, quiet := globalSet(c, sh, "quiet")
	_, verbose := globalSet(c, sh, "verbose")
	switch {
	case quiet && (verbose || levelSet):
		return &UsageError{Msg: "-q/--quiet with -v/--verbose or --log-level: give one of them"}
	case verbose && levelSet:
		return &UsageError{Msg: "-v/--verbose with --log-level: give one of them"}
	case quiet:
		level = slog.LevelError
		env.Stderr, env.Terminal = io.Discard, false
	case verbose:
		level = slog.LevelDebug
	}
	env.Log = slog.New(slog.NewTextHandler(base.Stderr, &slog.HandlerOptions{Level: level}))

	_, asJSON := globalSet(c, sh, "json")
	fc, formatSet := globalSet(c, sh, "format")
	out := ""
	if definesAny(c.Command.Flags, []string{"out"}) {
		out = c.String("out")
	}
	for _, f := range c.Command.Flags {
		if _, ok := f.(*ucli.StringFlag); !ok {
			continue
		}
		if n := f.Names()[0]; n != "out" && strings.HasSuffix(n, "out") && c.String(n) == "-" {
			return &UsageError{Msg: fmt.Sprintf("--%s -: only --out writes its table to stdout; give --%s a file name", n, n)}
		}
	}
	if !asJSON && !formatSet && out != "-" {
		return nil
	}
	format := formatJSON
	if formatSet {
		format = fc.String("format")
	}
	switch {
	case format != formatJSON && format != formatCSV:
		return &UsageError{Msg: fmt.Sprintf("--format %q: want json or csv", format)}
	case asJSON && format != formatJSON:
		return &UsageError{Msg: fmt.Sprintf("--json with --format %s: give one of them", format)}
	}
	env.Stdout = &dataStdout{prose: env.Stderr, data: base.Stdout, format: format}
	return nil
}

// globalSet finds the innermost context of c's lineage in which the global
// flag name was set, skipping commands that define a flag of that name
// themselves (shadows).
func globalSet(c *ucli.Context, sh shadows, name string) (*ucli.Context, bool) {
	for _, x := range c.Lineage() {
		if x.App == nil || x.Command == nil || sh[x.Command][name] {
			continue
		}
		var names []string
		for _, f := range x.Command.Flags {
			if slices.Contains(f.Names(), name) {
				names = f.Names()
			}
		}
		local := x.LocalFlagNames()
		for _, n := range names {
			if slices.Contains(local, n) {
				return x, true
			}
		}
	}
	return nil, false
}

func definesAny(flags []ucli.Flag, names []string) bool {
	for _, f := range flags {
		for _, n := range f.Names() {
			if slices.Contains(names, n) {
				return true
			}
		}
	}
	return false
}

// usageLine is the one-line synopsis of cmd: its full name, its required
// flags with their placeholders, [options], its arguments, and COMMAND for a
// command group.
func usageLine(cmd *ucli.Command, required []ucli.Flag) string {
	parts := []string{cmd.HelpName}
	if cmd.HelpName == "" {
		parts[0] = "gradcouple " + cmd.FullName()
	}
	for _, f := range required {
		name, _ := placeholder(f.(*ucli.StringFlag).Usage)
		parts = append(parts, "--"+f.Names()[0]+" "+name)
	}
	parts = append(parts, "[options]")
	if strings.TrimSpace(cmd.ArgsUsage) == "" && len(visible(cmd.Subcommands)) > 0 {
		parts = append(parts, "COMMAND")
	}
	if a := strings.TrimSpace(cmd.ArgsUsage); a != "" {
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// minArgs is the least number of positional arguments an ArgsUsage text
// asks for: alternatives are separated by "|", a "--flag VALUE" pair and a
// "[OPTIONAL]" word count nothing. "LOGS..." is 1, "RUN... | --grads STORE
// --samples TABLE" is 0.
func minArgs(usage string) int {
	least := -1
	for _, alt := range strings.Split(usage, "|") {
		n, value := 0, false
		for _, tok := range strings.Fields(alt) {
			switch {
			case value:
				value = false
			case strings.HasPrefix(tok, "-"):
				value = true
			case !strings.HasPrefix(tok, "["):
				n++
			}
		}
		if least < 0 || n < least {
			least = n
		}
	}
	return max(least, 0)
}

func commandNames(cmds []*ucli.Command) []string {
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.Name
	}
	return names
}

// visible lists the commands of cmds that help shows, without urfave/cli's
// own help subcommand.
func visible(cmds []*ucli.Command) []*ucli.Command {
	var out []*ucli.Command
	for _, c := range cmds {
		if !c.Hidden && c.Name != "help" {
			out = append(out, c)
		}
	}
	return out
}

// placeholder splits a flag usage text into the name quoted in backticks
// ("FILE") and the text without the backticks, as help shows them.
func placeholder(usage string) (name, text string) {
	before, rest, ok := strings.Cut(usage, "`")
	if !ok {
		return "VALUE", usage
	}
	name, after, ok := strings.Cut(rest, "`")
	if !ok {
		return "VALUE", usage
	}
	return name, before + name + after
}

// commandPath is the name of cmd as typed after gradcouple ("env sample").
func commandPath(cmd *ucli.Command) string {
	if cmd.HelpName == "" {
		return cmd.FullName()
	}
	return strings.TrimPrefix(cmd.HelpName, "gradcouple ")
}
