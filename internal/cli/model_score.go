package cli

import (
	"context"
	"fmt"

	"github.com/gradcouple/gradcouple/analysis"
	ucli "github.com/urfave/cli/v2"
)

// ModelScoreOptions are the inputs of `gradcouple model score`.
type ModelScoreOptions struct {
	Checkpoint string
	Samples    string
	Out        string
	Limit      int
	Show       int
}

func newModelScoreCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:  "score",
		Usage: "log pi(action | prompt) under a checkpoint for every step record of a log",
		Description: "logprob sums the log-probabilities of the action's tokens and of the <eos> that ends it,\n" +
			"each given the prompt and the action tokens before it (full softmax, temperature 1);\n" +
			"logged_logprob is the log's own column. Words not in the checkpoint's vocabulary read as\n" +
			"<unk> and are counted; a pair longer than the context (with <eos> <verdict>) is an error.",
		Flags: []ucli.Flag{
			checkpointFlag, samplesFlag, outFlag, limitFlag,
			&ucli.IntFlag{Name: "show", Value: 20, Usage: "print the first `N` rows (0: all); --out gets them all"},
		},
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 0, "no arguments"); err != nil {
				return err
			}
			return runModelScore(c.Context, ModelScoreOptions{
				Checkpoint: c.String("checkpoint"), Samples: c.String("samples"), Out: c.String("out"),
				Limit: c.Int("limit"), Show: c.Int("show"),
			}, e)
		},
	}
}

func runModelScore(ctx context.Context, opts ModelScoreOptions, e *Env) error {
	if err := firstErr(checkOut(opts.Out), guardOutputs([]string{opts.Checkpoint, opts.Samples}, output{flag: "out", path: opts.Out})); err != nil {
		return err
	}
	if opts.Limit < 0 || opts.Show < 0 {
		return &UsageError{Msg: fmt.Sprintf("model score: want --limit >= 0 and --show >= 0, got %d and %d", opts.Limit, opts.Show)}
	}
	m, tok, err := loadModel(opts.Checkpoint)
	if err != nil {
		return err
	}
	prog, done := progress(e, "scored")
	rep, err := analysis.Score(ctx, m, tok, []string{opts.Samples}, analysis.ModelOptions{Limit: opts.Limit, Progress: prog})
	done()
	if err != nil {
		return err
	}
	logSources(e, rep.Sources)
	w := e.Stdout
	cfg := m.Config()
	fmt.Fprintf(w, "%d step records from %d file(s) scored by %s (%d tokens, %s)\n",
		len(rep.Rows), len(rep.Sources.Files), opts.Checkpoint, cfg.VocabSize, describeSize(cfg))
	fmt.Fprintf(w, "%d tokens read, %d out of the vocabulary (<unk>) in %d records\n", rep.Tokens.Tokens, rep.Tokens.Unknown, rep.Tokens.UnknownIn)
	if len(rep.Rows) > 0 {
		fmt.Fprintf(w, "mean log pi(action | prompt) %.4f; per predicted token (action and <eos>) %.4f\n", rep.MeanLogProb, rep.MeanTokenLogProb)
	}
	fmt.Fprintln(w)
	shown := rep.Rows
	if opts.Show > 0 && len(shown) > opts.Show {
		shown = shown[:opts.Show]
	}
	if err := emitShown(w, "", shown, rep.Rows, nil); err != nil {
		return err
	}
	if n := len(rep.Rows) - len(shown); n > 0 {
		fmt.Fprintf(w, "... %d more rows (--show 0 prints them; --out writes them all)\n", n)
	}
	if opts.Out != "" && opts.Out != "-" { // "-": emitShown wrote every row to stdout
		return emitFile(w, opts.Out, rep.Rows, map[string]string{"checkpoint": opts.Checkpoint})
	}
	return nil
}
