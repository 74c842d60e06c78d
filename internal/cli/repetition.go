package cli

import (
	"context"
	"fmt"

	"github.com/gradcouple/gradcouple/analysis"
	ucli "github.com/urfave/cli/v2"
)

// RepetitionOptions are the inputs of `gradcouple repetition`.
type RepetitionOptions struct {
	Logs  []string
	Split string
	Out   string
	Read  ReadOptions
}

var splitFlag = &ucli.StringFlag{
	Name:  "split",
	Usage: "keep only records of `SPLIT` (train, eval-in, eval-out); empty keeps all",
}

func checkSplit(s string) error {
	switch s {
	case "", "train", "eval-in", "eval-out":
		return nil
	}
	return &UsageError{Msg: fmt.Sprintf("--split %q: want train, eval-in or eval-out", s)}
}

func newRepetitionCommand(env *Env) *ucli.Command {
	return &ucli.Command{
		Name:      "repetition",
		Usage:     "repetition rates per iteration in success vs failure trajectories (paper Fig. 2)",
		ArgsUsage: "LOGS...",
		Description: "A step repeats when its action equals an earlier action of the same trajectory; it is a\n" +
			"loop when its state key is also the same. Rates are shares of steps; *_repeating_traj_frac\n" +
			"is the share of trajectories with at least one repeat." + logsDescription,
		Flags: append([]ucli.Flag{splitFlag, outFlag}, readFlags(false)...),
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 {
				return &UsageError{Msg: "repetition: want LOGS...; see 'gradcouple repetition --help'"}
			}
			return runRepetition(c.Context, RepetitionOptions{Logs: c.Args().Slice(), Split: c.String("split"), Out: c.String("out"),
				Read: readOptionsOf(c)}, env)
		},
	}
}

func runRepetition(ctx context.Context, opts RepetitionOptions, env *Env) error {
	if err := firstErr(checkOut(opts.Out), checkSplit(opts.Split), guardOutputs(opts.Logs, output{flag: "out", path: opts.Out})); err != nil {
		return err
	}
	aopts, err := opts.Read.adapterOptions()
	if err != nil {
		return err
	}
	rows, src, err := analysis.Repetition(ctx, opts.Logs, analysis.LogFilter{Split: opts.Split, Adapter: aopts})
	if err != nil {
		return formatError(err)
	}
	logSources(env, src)
	fmt.Fprintf(env.Stdout, "%d step records from %d file(s)\n\n", src.Rows, len(src.Files))
	return emit(env.Stdout, opts.Out, rows, nil)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
