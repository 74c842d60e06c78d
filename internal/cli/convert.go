package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/gradcouple/gradcouple/trajlog/adapter"
	ucli "github.com/urfave/cli/v2"
)

// ConvertOptions are the inputs of `gradcouple convert`.
type ConvertOptions struct {
	Input string
	Out   string
	Run   string
	Split string
	Read  ReadOptions
}

func newConvertCommand(env *Env) *ucli.Command {
	return &ucli.Command{
		Name:      "convert",
		Usage:     "convert verl, verl-agent, TRL or rLLM rollout logs into canonical step records (zstd parquet or JSONL)",
		ArgsUsage: "INPUT",
		Description: "INPUT is a file or directory of verl rollout dumps ({step}.jsonl from\n" +
			"trainer.rollout_data_dir), TRL GRPO completion tables (completions_{step:05d}.parquet) or rLLM\n" +
			"episodes (episodes/*/episode_*.json). Missing fields are derived: group_id from identical\n" +
			"prompts at the same step, advantage recomputed from the outcomes (std-normalised, or Dr. GRPO\n" +
			"with --no-std), state_key from the prompt text, label unknown. The derived fields are listed\n" +
			"on stdout and stored in the parquet metadata (gradcouple.derived). The log is read twice and\n" +
			"streamed to the output, so memory does not grow with its text. For TRL, the reward columns\n" +
			"summed into the outcome are listed on stderr. --format picks the reader instead of detecting it.\n\n" +
			"verl-agent writes one line per environment step, in a scrambled order, padded with copies. A\n" +
			"dump that carries the batch's uid, traj_uid, turn and episode_rewards (scripts/verl-agent/\n" +
			"gradcouple_dump.py) is read as multi-turn trajectories (detected by its traj_uid): exact copies\n" +
			"dropped, action = the text between <action> and </action>, state_key from anchor_obs (or from\n" +
			"the prompt with its history and step counter removed). A stock dump whose lines look multi-turn\n" +
			"(step counters or histories in the prompts, exact copies) is refused with exit status 2 unless\n" +
			"--single-turn.",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write step records to `FILE` (.parquet or .jsonl)"},
			&ucli.StringFlag{Name: "run", Usage: "run `NAME` for every record (default: from the input's directory)"},
			&ucli.StringFlag{Name: "split", Usage: "set the split of every record to `SPLIT` (default: from the log, else train)"},
		}, readFlags(true)...),
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 1, "INPUT"); err != nil {
				return err
			}
			return runConvert(c.Context, ConvertOptions{
				Input: c.Args().First(), Out: c.String("out"), Run: c.String("run"), Split: c.String("split"),
				Read: readOptionsOf(c),
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
	if err := firstErr(checkSplit(opts.Split), guardOutputs([]string{opts.Input}, output{flag: "out", path: opts.Out})); err != nil {
		return err
	}
	if f := opts.Read.Format; f != "" && f != "auto" {
		if pf, err := adapter.ParseFormat(f); err == nil && pf == adapter.FormatCanonical {
			return &UsageError{Msg: fmt.Sprintf("--format canonical: %s needs no conversion; the analysis commands read it as it is", opts.Input)}
		}
	}
	aopts, err := opts.Read.adapterOptions()
	if err != nil {
		return err
	}
	aopts.Run, aopts.Split = opts.Run, opts.Split
	// Two passes over the log (adapter.Scan, then Emit), so that memory
	// stays bounded by the number of groups, not by the log's text.
	log, err := adapter.Scan(opts.Input, aopts)
	if err != nil {
		return formatError(err)
	}
	if cols, byDefault := log.RewardColumns(); byDefault && len(cols) > 0 {
		fmt.Fprintf(env.Stderr, "TRL reward columns summed into the outcome (default: every float column): %s\n", strings.Join(cols, ", "))
		var odd []string
		for _, c := range cols {
			if !adapter.LooksLikeReward(c) {
				odd = append(odd, c)
			}
		}
		if len(odd) > 0 {
			fmt.Fprintf(env.Stderr, "note: %s does not look like a reward; if it is not one, name the reward columns with --reward-columns %s\n",
				strings.Join(odd, ", "), strings.Join(likeRewards(cols), ","))
		}
	}
	err = trajlog.WriteFileFunc(opts.Out, trajlog.Meta{Run: log.Run(), Derived: log.Derived()}, func(write func([]trajlog.Record) error) error {
		return log.Emit(1024, func(recs []trajlog.Record) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return write(recs)
		})
	})
	if err != nil {
		return err
	}
	w := env.Stdout
	fmt.Fprintf(w, "read %s log %s: %d step records, %d trajectories\n", log.Format(), opts.Input, log.Records(), log.Trajectories())
	if n := log.Copies(); n > 0 {
		fmt.Fprintf(w, "dropped %d exact copies of step lines (verl-agent pads its batch with copies: adjust_batch)\n", n)
	}
	if n := log.NoActionTag(); n > 0 {
		fmt.Fprintf(w, "%d responses without an <action>...</action> block: invalid actions (valid = false unless the dump says otherwise)\n", n)
	}
	if n := log.ZeroedSingletons(); n > 0 {
		fmt.Fprintf(w, "%d groups derived from identical prompts hold one trajectory: advantage 0 (the log does not say their group)\n", n)
	}
	if d := log.Derived(); len(d) > 0 {
		fmt.Fprintf(w, "derived (not in the log): %s\n", strings.Join(d, ", "))
	}
	if r := log.State(); !r.IsZero() {
		fmt.Fprintf(w, "state_key from state rule %s\n", r)
	}
	if aopts.LabelColumn != "" || aopts.Labels != nil {
		fmt.Fprintf(w, "%d of %d step records labelled%s\n", log.Labelled(), log.Records(), labelFrom(aopts, log.LabelsFromTable()))
	}
	fmt.Fprintf(w, "wrote %s\n", opts.Out)
	return nil
}

// labelFrom says where labels came from, for messages.
func labelFrom(o adapter.Options, fromTable int64) string {
	var from []string
	if o.LabelColumn != "" {
		from = append(from, "column "+o.LabelColumn)
	}
	if o.Labels != nil {
		from = append(from, fmt.Sprintf("%d from %s", fromTable, o.Labels.File))
	}
	return " (" + strings.Join(from, "; ") + ")"
}

// likeRewards returns the columns that look like rewards, or all of them
// when none does (the suggestion must name at least one column).
func likeRewards(cols []string) []string {
	var out []string
	for _, c := range cols {
		if adapter.LooksLikeReward(c) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return cols
	}
	return out
}

// formatError marks the adapters' format errors (unknown, mixed, already
// canonical) as bad input.
func formatError(err error) error {
	for _, target := range []error{adapter.ErrUnknownFormat, adapter.ErrMixedFormats, adapter.ErrCanonical, adapter.ErrGiGPO} {
		if errors.Is(err, target) {
			return badInput(err)
		}
	}
	return err
}
