package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/gradcouple/gradcouple/analysis"
	ucli "github.com/urfave/cli/v2"
)

// InspectOptions are the inputs of `gradcouple inspect`.
type InspectOptions struct {
	Logs        []string // files, directories or globs
	Out         string
	MaxProblems int
}

func newInspectCommand(env *Env) *ucli.Command {
	return &ucli.Command{
		Name:      "inspect",
		Usage:     "summarise step-record logs: runs, iterations, groups, success, zero-std groups, advantage conventions, problems",
		ArgsUsage: "LOGS...",
		Description: "LOGS are step-record files (.parquet or .jsonl), directories of per-iteration files\n" +
			"(a run directory's logs/ is found), or globs. Convert other trainers' logs first with\n" +
			"'gradcouple convert'. The advantage_fit column says which GRPO convention reproduces the\n" +
			"logged advantages from the logged outcomes: std (verl, eps 1e-6), std-eps1e-4 (TRL), no-std\n" +
			"(Dr. GRPO), zero (evaluation rows) or none.",
		Flags: []ucli.Flag{
			outFlag,
			&ucli.IntFlag{Name: "max-problems", Value: 20, Usage: "list at most `N` problems (0: none)"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 {
				return &UsageError{Msg: "inspect: want LOGS...; see 'gradcouple inspect --help'"}
			}
			opts := InspectOptions{Logs: c.Args().Slice(), Out: c.String("out"), MaxProblems: c.Int("max-problems")}
			return runInspect(c.Context, opts, env)
		},
	}
}

func runInspect(ctx context.Context, opts InspectOptions, env *Env) error {
	if err := firstErr(checkOut(opts.Out), guardOutputs(opts.Logs, output{flag: "out", path: opts.Out})); err != nil {
		return err
	}
	rep, err := analysis.Inspect(ctx, opts.Logs)
	if err != nil {
		return err
	}
	logSources(env, rep.Sources)
	w := env.Stdout
	fmt.Fprintf(w, "%d step records from %d file(s)\n", rep.Sources.Rows, len(rep.Sources.Files))
	if len(rep.Sources.Derived) > 0 {
		fmt.Fprintf(w, "derived by an adapter, not logged: %s\n", strings.Join(rep.Sources.Derived, ", "))
	}
	fmt.Fprintln(w)
	if err := emit(w, opts.Out, rep.Rows, nil); err != nil {
		return err
	}
	if len(rep.Problems) == 0 {
		fmt.Fprintln(w, "\nno problems found")
		return nil
	}
	fmt.Fprintf(w, "\n%d problem(s)\n", len(rep.Problems))
	for i, p := range rep.Problems {
		if i == opts.MaxProblems {
			fmt.Fprintf(w, "  ... %d more (--max-problems)\n", len(rep.Problems)-i)
			break
		}
		fmt.Fprintf(w, "  %s iteration %d %s %s: %s: %s\n", p.Run, p.Iteration, p.Split, p.Where, p.Kind, p.Detail)
	}
	return nil
}
