// Package cli holds gradcouple's commands. Each command file has an Options
// struct, a constructor for the urfave/cli command and a run function; actions
// only turn flags into options and call one function of a lower package.
//
// The conventions every command shares live here and in global.go,
// output.go, suggest.go and completion.go: the global flags (accepted before
// and after the command name), tables as data on stdout (--json, --format,
// --out -), one line and the usage line for a missing argument, suggestions
// for mistyped commands and flags, and the help, version and completion
// commands.
package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gradcouple/gradcouple/internal/buildinfo"
	ucli "github.com/urfave/cli/v2"
)

// version is the version string of this build (buildinfo.Info.String),
// written into run.json, the report and every parquet output.
func version() string { return buildinfo.Read().String() }

// NewApp builds the gradcouple application on env. The command hooks that
// apply the global flags change *env for the duration of the run (env.Stdout
// becomes a data stdout with --json, env.Stderr io.Discard with --quiet).
func NewApp(env *Env) *ucli.App {
	base := *env
	var shadowed shadows
	app := &ucli.App{
		Name:                 "gradcouple",
		Usage:                "find out why GRPO-trained agents repeat flawed actions: gradient coupling, consistency and advantage diagnostics",
		Version:              version(),
		HideVersion:          true, // -v is --verbose; --version is ours (rootFlags)
		Reader:               env.Stdin,
		Writer:               env.Stdout,
		ErrWriter:            env.Stderr,
		EnableBashCompletion: true,
		HideHelpCommand:      true, // our help command checks its arguments (helpCommand)
		Flags:                append(globalFlags(), rootFlags()...),
		Before: func(c *ucli.Context) error {
			return configure(c, env, base, shadowed)
		},
		Action: func(c *ucli.Context) error {
			if c.Bool("version") {
				fmt.Fprintln(env.Stdout, "gradcouple version "+version())
				return nil
			}
			if c.NArg() == 0 {
				return ucli.ShowAppHelp(c)
			}
			return unknownCommand(c.App.VisibleCommands(), c.Args().First(), "gradcouple")
		},
		// Errors are returned to main, which maps them to exit codes after every
		// deferred Close has run (STYLE.md: thin commands).
		ExitErrHandler: func(*ucli.Context, error) {},
		OnUsageError: func(c *ucli.Context, err error, _ bool) error {
			return flagError(c, err)
		},
		Commands: append(commands(env), newHelpCommand(), newVersionCommand(env), newCompletionCommand(env)),
	}
	shadowed = shadows{}
	for _, cmd := range app.Commands {
		setConventions(cmd, env, base, shadowed)
	}
	return app
}

// Run runs gradcouple with args (args[0] is the program name) and returns the
// error of the command, nil on success.
func Run(ctx context.Context, args []string, env *Env) error {
	if env.Log == nil {
		env.Log = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	app := NewApp(env)
	err := app.RunContext(ctx, interspersed(app, args))
	var h *helpRequest
	if errors.As(err, &h) {
		// `gradcouple help env sample` is `gradcouple env sample --help`.
		return Run(ctx, append(append([]string{args[0]}, h.path...), "--help"), env)
	}
	if err != nil {
		for _, prefix := range []string{"flag provided but not defined", "Required flag", "invalid value"} {
			if strings.HasPrefix(err.Error(), prefix) {
				return &UsageError{Msg: err.Error()}
			}
		}
	}
	return err
}

// argsN checks that a command got exactly n positional arguments; the error
// names what is wanted and gives the command's usage line.
func argsN(c *ucli.Context, n int, names string) error {
	if c.NArg() != n {
		return &UsageError{
			Msg:   fmt.Sprintf("%s: want %s, got %d argument(s)", commandPath(c.Command), names, c.NArg()),
			Usage: usageLine(c.Command, nil),
		}
	}
	return nil
}
