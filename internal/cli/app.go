// Package cli holds gradcouple's commands. Each command file has an Options
// struct, a constructor for the urfave/cli command and a run function; actions
// only turn flags into options and call one function of a lower package.
package cli

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// Version is the version printed by --version; the build may set it with
// -ldflags "-X github.com/gradcouple/gradcouple/internal/cli.Version=v1.2.3".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// NewApp builds the gradcouple application on env.
func NewApp(env *Env) *ucli.App {
	app := &ucli.App{
		Name:                 "gradcouple",
		Usage:                "find out why GRPO-trained agents repeat flawed actions: gradient coupling, consistency and advantage diagnostics",
		Version:              version(),
		Reader:               env.Stdin,
		Writer:               env.Stdout,
		ErrWriter:            env.Stderr,
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		Flags: []ucli.Flag{
			&ucli.StringFlag{
				Name:  "log-level",
				Value: "warn",
				Usage: "messages on stderr at this level and above: debug, info, warn, error",
			},
		},
		Before: func(c *ucli.Context) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
				return &UsageError{Msg: fmt.Sprintf("--log-level %q: want debug, info, warn or error", c.String("log-level"))}
			}
			env.Log = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
			return nil
		},
		// Errors are returned to main, which maps them to exit codes after every
		// deferred Close has run (STYLE.md: thin commands).
		ExitErrHandler: func(*ucli.Context, error) {},
		OnUsageError: func(c *ucli.Context, err error, _ bool) error {
			return &UsageError{Msg: err.Error()}
		},
		Commands: commands(env),
	}
	for _, cmd := range app.Commands {
		setUsageErrors(cmd)
	}
	return app
}

// setUsageErrors makes flag errors of every subcommand usage errors (exit 2).
func setUsageErrors(cmd *ucli.Command) {
	cmd.OnUsageError = func(c *ucli.Context, err error, _ bool) error {
		return &UsageError{Msg: err.Error()}
	}
	for _, sub := range cmd.Subcommands {
		setUsageErrors(sub)
	}
}

// Run runs gradcouple with args (args[0] is the program name) and returns the
// error of the command, nil on success.
func Run(ctx context.Context, args []string, env *Env) error {
	if env.Log == nil {
		env.Log = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	app := NewApp(env)
	var unknown string
	app.CommandNotFound = func(c *ucli.Context, name string) { unknown = name }
	err := app.RunContext(ctx, interspersed(app, args))
	if err != nil {
		for _, prefix := range []string{"flag provided but not defined", "Required flag", "invalid value"} {
			if strings.HasPrefix(err.Error(), prefix) {
				return &UsageError{Msg: err.Error()}
			}
		}
		return err
	}
	if unknown != "" {
		return &UsageError{Msg: fmt.Sprintf("unknown command %q; see 'gradcouple --help'", unknown)}
	}
	return nil
}

// argsN checks that a command got exactly n positional arguments.
func argsN(c *ucli.Context, n int, names string) error {
	if c.NArg() != n {
		return &UsageError{Msg: fmt.Sprintf("%s: want %s, got %d argument(s); see 'gradcouple %s --help'", c.Command.FullName(), names, c.NArg(), c.Command.FullName())}
	}
	return nil
}
