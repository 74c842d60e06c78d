package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gradcouple/gradcouple/metrics"
	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/gradcouple/gradcouple/trajlog/adapter"
	ucli "github.com/urfave/cli/v2"
)

// ConvertOptions are the inputs of `gradcouple convert`.
type ConvertOptions struct {
	Input            string
	Out              string
	Format           string // "" or "auto": detect
	Run              string
	Split            string
	NoStd            bool
	SuccessThreshold float64
	RewardColumns    []string
}

func newConvertCommand(env *Env) *ucli.Command {
	return &ucli.Command{
		Name:      "convert",
		Usage:     "convert verl, TRL or rLLM rollout logs into canonical step records (zstd parquet or JSONL)",
		ArgsUsage: "INPUT",
		Description: "INPUT is a file or directory of verl rollout dumps ({step}.jsonl from\n" +
			"trainer.rollout_data_dir), TRL GRPO completion tables (completions_{step:05d}.parquet) or rLLM\n" +
			"episodes (episodes/*/episode_*.json). Missing fields are derived: group_id from identical\n" +
			"prompts at the same step, advantage recomputed from the outcomes (std-normalised, or Dr. GRPO\n" +
			"with --no-std), state_key from the prompt text, label unknown. The derived fields are listed\n" +
			"on stdout and stored in the parquet metadata (gradcouple.derived).",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write step records to `FILE` (.parquet or .jsonl)"},
			&ucli.StringFlag{Name: "format", Value: "auto", Usage: "input format `F`: auto, verl, trl or rllm"},
			&ucli.StringFlag{Name: "run", Usage: "run `NAME` for every record (default: from the input's directory)"},
			&ucli.StringFlag{Name: "split", Usage: "set the split of every record to `SPLIT` (default: from the log, else train)"},
			&ucli.BoolFlag{Name: "no-std", Usage: "recompute missing advantages as Dr. GRPO R - mean R"},
			&ucli.Float64Flag{Name: "success-threshold", Usage: "a trajectory succeeds when its outcome is above `X`"},
			&ucli.StringFlag{Name: "reward-columns", Usage: "TRL: the reward-function columns `A,B` summed into the outcome (default: every float column)"},
		},
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 1, "INPUT"); err != nil {
				return err
			}
			var cols []string
			if s := c.String("reward-columns"); s != "" {
				cols = strings.Split(s, ",")
			}
			return runConvert(c.Context, ConvertOptions{
				Input: c.Args().First(), Out: c.String("out"), Format: c.String("format"), Run: c.String("run"),
				Split: c.String("split"), NoStd: c.Bool("no-std"), SuccessThreshold: c.Float64("success-threshold"),
				RewardColumns: cols,
			}, env)
		},
	}
}

func runConvert(ctx context.Context, opts ConvertOptions, env *Env) error {
	if opts.Out == "" {
		return &UsageError{Msg: "convert: --out FILE is required"}
	}
	if _, err := trajlog.FormatOf(opts.Out); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if err := checkSplit(opts.Split); err != nil {
		return err
	}
	format := adapter.Format("")
	if opts.Format != "" && opts.Format != "auto" {
		f, err := adapter.ParseFormat(opts.Format)
		if err != nil {
			return &UsageError{Msg: fmt.Sprintf("--format: %v", err)}
		}
		format = f
	}
	if format != "" {
		detected, err := adapter.Detect(opts.Input)
		if err != nil {
			return formatError(err)
		}
		if detected != format {
			return &UsageError{Msg: fmt.Sprintf("convert: %s looks like %s, not %s", opts.Input, detected, format)}
		}
	}
	res, err := adapter.Read(opts.Input, adapter.Options{
		Run: opts.Run, Split: opts.Split, SuccessThreshold: opts.SuccessThreshold, RewardColumns: opts.RewardColumns,
		Advantage: metrics.AdvantageConfig{NoStd: opts.NoStd},
	})
	if err != nil {
		return formatError(err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	run := ""
	if len(res.Records) > 0 {
		run = res.Records[0].Run
	}
	if err := trajlog.WriteFile(opts.Out, res.Records, trajlog.Meta{Run: run, Derived: res.Derived}); err != nil {
		return err
	}
	trajs := map[string]bool{}
	for i := range res.Records {
		trajs[fmt.Sprint(res.Records[i].Iteration, "/", res.Records[i].TrajID)] = true
	}
	w := env.Stdout
	fmt.Fprintf(w, "read %s log %s: %d step records, %d trajectories\n", res.Format, opts.Input, len(res.Records), len(trajs))
	if len(res.Derived) > 0 {
		fmt.Fprintf(w, "derived (not in the log): %s\n", strings.Join(res.Derived, ", "))
	}
	fmt.Fprintf(w, "wrote %s\n", opts.Out)
	return nil
}

// formatError marks the adapters' format errors (unknown, mixed, already
// canonical) as bad input.
func formatError(err error) error {
	for _, target := range []error{adapter.ErrUnknownFormat, adapter.ErrMixedFormats, adapter.ErrCanonical} {
		if errors.Is(err, target) {
			return badInput(err)
		}
	}
	return err
}
