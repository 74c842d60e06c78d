package cli

import (
	"fmt"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/policy"
	ucli "github.com/urfave/cli/v2"
)

func newModelCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:  "model",
		Usage: "the actor on its own: a seeded random checkpoint, log pi(action | prompt) and per-sample gradients of logged steps",
		Description: "The actor is a GPT-2 causal language model over a word-level (or, with the trainer's model.tokenizer\n" +
			"char, character-level) vocabulary (README: The actor).\n" +
			"A checkpoint directory holds config.json (HF GPT2Config), model.safetensors (F32, HF GPT-2\n" +
			"tensor names) and vocab.json, and loads in PyTorch (scripts/torch/reference.py).",
		Subcommands: []*ucli.Command{newModelInitCommand(e), newModelScoreCommand(e), newModelGradsCommand(e), newModelTokenizeCommand(e), newModelTinyCommand(e), newModelDriftCommand(e)},
	}
}

// Flags shared by the model subcommands.
var (
	checkpointFlag = &ucli.StringFlag{Name: "checkpoint", Aliases: []string{"c"}, Required: true, Usage: "checkpoint directory `DIR`: the bundled actor's (config.json, model.safetensors, vocab.json) or, where said, a Hugging Face model's"}
	samplesFlag    = &ucli.StringFlag{Name: "samples", Aliases: []string{"s"}, Required: true, Usage: "step records `LOG`: a .parquet or .jsonl file, a directory or a glob"}
	limitFlag      = &ucli.IntFlag{Name: "limit", Usage: "use only the first `N` step records (0: all)"}
)

// loadModel loads a checkpoint; a checkpoint that cannot be loaded is bad
// input (exit status 2).
func loadModel(dir string) (*policy.Model, *policy.Tokenizer, error) {
	if mt, ok := analysis.HFModelType(dir); ok {
		return nil, nil, badInput(fmt.Errorf("%s holds a Hugging Face %s model; this command runs the bundled actor only (model score and consistency --model run Hugging Face models: docs/models.md)", dir, mt))
	}
	m, tok, err := policy.Load(dir)
	if err != nil {
		return nil, nil, badInput(err)
	}
	return m, tok, nil
}

// progress returns a callback that shows "what done/total" on a terminal
// (and nothing otherwise), and a function that ends the line.
func progress(e *Env, what string) (func(done, total int), func()) {
	if !e.Terminal {
		return nil, func() {}
	}
	shown := false
	return func(done, total int) {
			shown = true
			if total > 0 {
				fmt.Fprintf(e.Stderr, "\r%s %d/%d", what, done, total)
			} else {
				fmt.Fprintf(e.Stderr, "\r%s %d", what, done)
			}
		}, func() {
			if shown {
				fmt.Fprintln(e.Stderr)
			}
		}
}

// describeSize is a model size in words.
func describeSize(c policy.Config) string {
	return fmt.Sprintf("d %d, %d layers, %d heads, MLP %d, context %d", c.Dim, c.Layers, c.Heads, c.Inner(), c.Context)
}
