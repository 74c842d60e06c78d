package cli

import (
	"context"
	"fmt"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/internal/table"
	"github.com/gradcouple/gradcouple/metrics"
	ucli "github.com/urfave/cli/v2"
)

// ConsistencyOptions are the inputs of `gradcouple consistency LOGS`.
type ConsistencyOptions struct {
	Logs      []string
	Split     string
	K         int
	Threshold int
	Out       string
	StatesOut string
	Read      ReadOptions
}

func newConsistencyCommand(env *Env) *ucli.Command {
	return &ucli.Command{
		Name:      "consistency",
		Usage:     "action consistency where states recur in the logs, or by resampling from a run's checkpoints (paper Figs. 1, 5)",
		ArgsUsage: "LOGS... | RUN...",
		Description: "A state (state_key) that occurs at least K times in an iteration is eligible. Its\n" +
			"consistency is the expected count of the most frequent action among K of its occurrences\n" +
			"drawn without replacement (exactly the observed modal count when it occurs K times), and\n" +
			"it is high when that count reaches the threshold (default 5 of 10). high_good, high_bad and\n" +
			"high_unknown split the share of high states by the judge label of the modal action." + logsDescription + resampleDescription + modelResampleDescription,
		Flags: append([]ucli.Flag{
			splitFlag,
			&ucli.IntFlag{Name: "k", Value: metrics.DefaultConsistencyK, Usage: "actions per state, `K`"},
			&ucli.IntFlag{Name: "threshold", Value: metrics.DefaultConsistencyThreshold, Usage: "modal count `M` at which consistency is high"},
			outFlag,
			&ucli.StringFlag{Name: "states-out", Usage: "write the per-state table to `FILE` (.parquet, .csv or .json)"},
		}, append(append(readFlags(false), resampleFlags...), modelResampleFlags...)...),
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 {
				return &UsageError{Msg: "consistency: want LOGS... or RUN...; see 'gradcouple consistency --help'"}
			}
			if c.IsSet("model") {
				return modelResampleAction(c, env)
			}
			if resample, err := isResample(c); err != nil || resample {
				if err != nil {
					return err
				}
				return resampleAction(c, env)
			}
			return runConsistency(c.Context, ConsistencyOptions{
				Logs: c.Args().Slice(), Split: c.String("split"), K: c.Int("k"), Threshold: c.Int("threshold"),
				Out: c.String("out"), StatesOut: c.String("states-out"), Read: readOptionsOf(c),
			}, env)
		},
	}
}

func runConsistency(ctx context.Context, opts ConsistencyOptions, env *Env) error {
	if err := firstErr(checkOut(opts.Out), checkOut(opts.StatesOut), checkSplit(opts.Split),
		guardOutputs(opts.Logs, output{flag: "out", path: opts.Out}, output{flag: "states-out", path: opts.StatesOut})); err != nil {
		return err
	}
	if opts.K < 1 || opts.Threshold < 1 || opts.Threshold > opts.K {
		return &UsageError{Msg: fmt.Sprintf("consistency: want 1 <= --threshold <= --k, got threshold %d, k %d", opts.Threshold, opts.K)}
	}
	aopts, err := opts.Read.adapterOptions()
	if err != nil {
		return err
	}
	rows, states, src, err := analysis.Consistency(ctx, opts.Logs, analysis.LogFilter{Split: opts.Split, Adapter: aopts},
		metrics.ConsistencyConfig{K: opts.K, Threshold: opts.Threshold})
	if err != nil {
		return formatError(err)
	}
	logSources(env, src)
	fmt.Fprintf(env.Stdout, "%d step records from %d file(s); %d states occur at least %d times\n\n",
		src.Rows, len(src.Files), len(states), opts.K)
	if len(states) == 0 && src.Rows > 0 {
		fmt.Fprintf(env.Stderr, "warning: no state occurs %d times in an iteration; %s\n", opts.K, stateFix(src))
	}
	if err := emit(env.Stdout, opts.Out, rows, nil); err != nil {
		return err
	}
	if opts.StatesOut != "" {
		if err := table.WriteFile(opts.StatesOut, states, nil); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "wrote %s\n", opts.StatesOut)
	}
	return nil
}
