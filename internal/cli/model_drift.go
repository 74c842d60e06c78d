package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/gradcouple/gradcouple/analysis"
	ucli "github.com/urfave/cli/v2"
)

// ModelDriftOptions are the inputs of `gradcouple model drift`.
type ModelDriftOptions struct {
	Run         string
	Iterations  []int
	Checkpoints []string
	Out         string
}

func newModelDriftCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:      "drift",
		Usage:     "how far the embedding rows of tokens the cold start never saw moved, per checkpoint of a run",
		ArgsUsage: "RUN",
		Description: "The run's cold-start data is rebuilt from run.json (same tasks, prompts and draws); its\n" +
			"tokens are the seen group, the rest of the vocabulary (held-out names, for the word tokenizer)\n" +
			"the unseen group. Each checkpoint's embedding rows (wte, the tied LM head) of each group are\n" +
			"compared with the run's initial model, rebuilt from its seed (model init).\n\n" +
			"Columns: model (init, iter-NNNNNN, or a --checkpoint directory), group (unseen or seen),\n" +
			"rows (tokens in the group), norm (mean row norm), cos (mean cosine over pairs of rows),\n" +
			"moved (rows that differ from init in any bit), shift (mean norm of row - init row),\n" +
			"shift_cos (mean cosine over pairs of the moved rows' shifts: 1 is one common direction),\n" +
			"init_cos (mean cosine of a row with its init value). - is a value that is not defined\n" +
			"(a mean over no pair).",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "checkpoints", Usage: "read the run's checkpoint iterations `LIST` (default: every checkpoint)"},
			&ucli.StringSliceFlag{Name: "checkpoint", Usage: "also read checkpoint directory `DIR` (same vocabulary and size, e.g. of the same run with or without cold_start.freeze_unseen); repeatable"},
			outFlag,
		},
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 1, "want RUN"); err != nil {
				return err
			}
			o := ModelDriftOptions{Run: c.Args().First(), Checkpoints: c.StringSlice("checkpoint"), Out: c.String("out")}
			if s := c.String("checkpoints"); s != "" {
				var err error
				if o.Iterations, err = parseInts("checkpoints", s); err != nil {
					return err
				}
			}
			return runModelDrift(c.Context, o, e)
		},
	}
}

func runModelDrift(ctx context.Context, opts ModelDriftOptions, e *Env) error {
	if err := firstErr(checkOut(opts.Out), guardOutputs(append([]string{opts.Run}, opts.Checkpoints...), output{flag: "out", path: opts.Out})); err != nil {
		return err
	}
	rep, err := analysis.Drift(ctx, opts.Run, analysis.DriftOptions{Iterations: opts.Iterations, Checkpoints: opts.Checkpoints})
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return badInput(err) // a run directory or checkpoint that cannot be read as one
	}
	frozen := "no"
	if rep.FreezeUnseen {
		frozen = "yes"
	}
	fmt.Fprintf(e.Stdout, "%s, %s tokenizer, cold_start.freeze_unseen %s: %d of %d tokens absent from the cold-start data: %s\n\n",
		rep.Env, rep.Tokenizer, frozen, len(rep.Unseen), rep.Vocab, quoteTokens(rep.Unseen))
	return emit(e.Stdout, opts.Out, rep.Rows, nil)
}

// quoteTokens lists tokens separated by spaces, quoting those that are
// white space.
func quoteTokens(toks []string) string {
	out := make([]string, len(toks))
	for i, t := range toks {
		if strings.TrimSpace(t) == "" {
			t = fmt.Sprintf("%q", t)
		}
		out[i] = t
	}
	return strings.Join(out, " ")
}
