package cli

import (
	"fmt"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/policy"
	ucli "github.com/urfave/cli/v2"
)

// ModelInitOptions are the inputs of `gradcouple model init`.
type ModelInitOptions struct {
	Out     string
	Env     string
	Dim     int
	Layers  int
	Heads   int
	Context int
	Seed    int64
}

func newModelInitCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:  "init",
		Usage: "write a checkpoint of a seeded random actor with an environment's vocabulary",
		Description: "Weights are drawn as Hugging Face initialises GPT-2 (N(0, 0.02^2), residual projections\n" +
			"scaled by 1/sqrt(2 layers), zero biases, unit LayerNorm weights) from PCG(seed, \"actor\"),\n" +
			"rounded to float32. The vocabulary is every word the environment(s) can produce plus the\n" +
			"special tokens; config.json records the environment and the seed.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "write the checkpoint directory `DIR`"},
			&ucli.StringFlag{Name: "env", Value: analysis.AllEnvs, Usage: "vocabulary of environment `NAME`: household, lab or all"},
			&ucli.IntFlag{Name: "dim", Value: policy.DefaultDim, Usage: "embedding width `D`"},
			&ucli.IntFlag{Name: "layers", Value: policy.DefaultLayers, Usage: "transformer blocks `L`"},
			&ucli.IntFlag{Name: "heads", Value: policy.DefaultHeads, Usage: "attention heads `H` (must divide --dim)"},
			&ucli.IntFlag{Name: "context", Value: policy.DefaultContext, Usage: "positions `T`, the longest prompt+action+2"},
			&ucli.Int64Flag{Name: "seed", Value: 0, Usage: "seed `S` of the weights"},
		},
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 0, "no arguments"); err != nil {
				return err
			}
			return runModelInit(ModelInitOptions{
				Out: c.String("out"), Env: c.String("env"), Dim: c.Int("dim"), Layers: c.Int("layers"),
				Heads: c.Int("heads"), Context: c.Int("context"), Seed: c.Int64("seed"),
			}, e)
		},
	}
}

func runModelInit(opts ModelInitOptions, e *Env) error {
	if opts.Env != analysis.AllEnvs {
		if err := checkEnvName(opts.Env); err != nil {
			return &UsageError{Msg: fmt.Sprintf("--env %q: want household, lab or all", opts.Env)}
		}
	}
	if opts.Dim < 1 || opts.Layers < 1 || opts.Heads < 1 || opts.Context < 3 {
		return &UsageError{Msg: fmt.Sprintf("model init: want --dim, --layers, --heads >= 1 and --context >= 3, got %d, %d, %d, %d",
			opts.Dim, opts.Layers, opts.Heads, opts.Context)}
	}
	if opts.Dim%opts.Heads != 0 {
		return &UsageError{Msg: fmt.Sprintf("model init: --heads %d does not divide --dim %d", opts.Heads, opts.Dim)}
	}
	sum, err := analysis.InitModel(opts.Out, analysis.ModelInitConfig{
		Env:  opts.Env,
		Size: policy.Config{Dim: opts.Dim, Layers: opts.Layers, Heads: opts.Heads, Context: opts.Context},
		Seed: opts.Seed,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "GPT-2 actor, seed %d: vocabulary of %s (%d tokens), %s: %d parameters\n",
		sum.Seed, sum.Env, sum.Config.VocabSize, describeSize(sum.Config), sum.Params)
	fmt.Fprintf(e.Stdout, "wrote %s\n", opts.Out)
	return nil
}
