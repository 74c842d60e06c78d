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
	// Scorer tunes a Hugging Face model (prompt format, end token,
	// precision); the bundled actor ignores it.
	Scorer analysis.ActorOptions
}

func newModelScoreCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:  "score",
		Usage: "log pi(action | prompt) under a checkpoint for every step record of a log",
		Description: "logprob sums the log-probabilities of the action's tokens and of the end token after it\n" +
			"(<eos>; a Hugging Face model's first eos_token_id, e.g. <|im_end|>, unless --no-end), each\n" +
			"given the prompt and the action tokens before it (full softmax, temperature 1);\n" +
			"logged_logprob is the log's own column. --checkpoint is a gradcouple checkpoint of the\n" +
			"bundled actor or a Hugging Face directory (qwen2, qwen3, llama; docs/models.md). Words not\n" +
			"in the bundled actor's vocabulary read as <unk> and are counted; a pair longer than the\n" +
			"context is an error.",
		Flags: []ucli.Flag{
			checkpointFlag, samplesFlag, outFlag, limitFlag,
			&ucli.IntFlag{Name: "show", Value: 20, Usage: "print the first `N` rows (0: all); --out gets them all"},
			&ucli.StringFlag{Name: "prompt", Value: analysis.PromptRaw, Usage: "Hugging Face models: the logged prompt is `FORMAT` raw (the model's input text) or chat (one user message, rendered with the chat template)"},
			&ucli.BoolFlag{Name: "no-end", Usage: "Hugging Face models: do not score an end-of-turn token after the action"},
			&ucli.StringFlag{Name: "precision", Value: "float32", Usage: "Hugging Face models: compute in `TYPE` float32 or float64"},
		},
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 0, "no arguments"); err != nil {
				return err
			}
			prec := c.String("precision")
			if prec != "float32" && prec != "float64" {
				return &UsageError{Msg: fmt.Sprintf("model score: --precision %q: want float32 or float64", prec)}
			}
			return runModelScore(c.Context, ModelScoreOptions{
				Checkpoint: c.String("checkpoint"), Samples: c.String("samples"), Out: c.String("out"),
				Limit: c.Int("limit"), Show: c.Int("show"),
				Scorer: analysis.ActorOptions{Prompt: c.String("prompt"), NoEnd: c.Bool("no-end"), Float64: prec == "float64"},
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
	if p := opts.Scorer.Prompt; p != "" && p != analysis.PromptRaw && p != analysis.PromptChat {
		return &UsageError{Msg: fmt.Sprintf("model score: --prompt %q: want raw or chat", p)}
	}
	sc, err := analysis.OpenActor(opts.Checkpoint, opts.Scorer)
	if err != nil {
		return badInput(err)
	}
	prog, done := progress(e, "scored")
	rep, err := analysis.Score(ctx, sc, []string{opts.Samples}, analysis.ModelOptions{Limit: opts.Limit, Progress: prog})
	done()
	if err != nil {
		return err
	}
	logSources(e, rep.Sources)
	w := e.Stdout
	fmt.Fprintf(w, "%d step records from %d file(s) scored by %s: %s\n",
		len(rep.Rows), len(rep.Sources.Files), opts.Checkpoint, sc.Describe())
	fmt.Fprintf(w, "%d tokens read, %d out of the vocabulary (<unk>) in %d records", rep.Tokens.Tokens, rep.Tokens.Unknown, rep.Tokens.UnknownIn)
	if n := rep.Tokens.LoggedIDs; n > 0 {
		fmt.Fprintf(w, "; %d of %d records scored on their logged token ids (prompt_ids, action_ids), not their text", n, len(rep.Rows))
	}
	fmt.Fprintln(w)
	if len(rep.Rows) > 0 {
		fmt.Fprintf(w, "mean log pi(action | prompt) %.4f; per predicted token (action and end token) %.4f\n", rep.MeanLogProb, rep.MeanTokenLogProb)
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
