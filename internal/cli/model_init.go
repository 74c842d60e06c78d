package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/policy"
	"github.com/gradcouple/gradcouple/trainer"
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
	// Force replaces an existing checkpoint directory Out (only one that
	// holds nothing but the files model init writes).
	Force bool
	// MaxBytes is the memory budget of the model (trainer.ModelBytes).
	MaxBytes int64
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
			&ucli.BoolFlag{Name: "force", Usage: "replace an existing checkpoint directory --out (refused if it holds other files)"},
			&ucli.StringFlag{Name: "max-bytes", Value: "4G", Usage: "memory budget `BYTES` of the model (e.g. 512M, 16G; -1: none)"},
		},
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 0, "no arguments"); err != nil {
				return err
			}
			maxBytes, err := parseBytes("max-bytes", c.String("max-bytes"))
			if err != nil {
				return err
			}
			return runModelInit(ModelInitOptions{
				Out: c.String("out"), Env: c.String("env"), Dim: c.Int("dim"), Layers: c.Int("layers"),
				Heads: c.Int("heads"), Context: c.Int("context"), Seed: c.Int64("seed"), Force: c.Bool("force"), MaxBytes: maxBytes,
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
	if err := checkModelSize(opts); err != nil {
		return err
	}
	if err := checkInitOut(opts.Out, opts.Force); err != nil {
		return err
	}
	if err := guardOutputs(nil, output{flag: "out", path: opts.Out}); err != nil {
		return err
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

// initCopies is the number of float64 parameter vectors model init holds at
// once: the model and its float32 checkpoint (half a vector), rounded up.
const initCopies = 2

// checkModelSize refuses a model that would not fit opts.MaxBytes (0: the
// trainer's default budget, negative: none), before anything is allocated.
func checkModelSize(opts ModelInitOptions) error {
	budget := opts.MaxBytes
	if budget == 0 {
		budget = trainer.DefaultMaxBytes
	}
	if budget < 0 {
		return nil
	}
	vocab := 0
	for _, name := range []string{env.Household, env.Lab} {
		if opts.Env == name || opts.Env == analysis.AllEnvs {
			vocab += trainer.Tokenizer(name).Size()
		}
	}
	size := policy.Config{VocabSize: vocab, Dim: opts.Dim, Layers: opts.Layers, Heads: opts.Heads, Context: opts.Context}
	if need := trainer.ModelBytes(size, initCopies); !(need <= float64(budget)) {
		return &UsageError{Msg: fmt.Sprintf("model init: --dim %d, --layers %d, --heads %d, --context %d need about %s, more than the memory budget of %s; choose smaller sizes or raise --max-bytes",
			opts.Dim, opts.Layers, opts.Heads, opts.Context, trainer.FormatBytes(need), trainer.FormatBytes(float64(budget)))}
	}
	return nil
}

// initFiles are the files model init writes into a checkpoint directory.
var initFiles = []string{checkpoint.ConfigFileName, checkpoint.VocabFileName, checkpoint.ModelFileName, checkpoint.ChecksumFileName}

// checkInitOut refuses an existing, non-empty --out unless force is set, and
// even then one that holds files model init did not write (they would be
// deleted with the directory it replaces).
func checkInitOut(out string, force bool) error {
	st, err := os.Stat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return badInput(fmt.Errorf("model init --out: %w", err))
	}
	if !st.IsDir() {
		return &UsageError{Msg: fmt.Sprintf("model init: --out %s exists and is not a directory", out)}
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		return badInput(fmt.Errorf("model init --out: %w", err))
	}
	var foreign []string
	n := 0
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") && (strings.Contains(name, ".tmp-") || strings.Contains(name, ".old-")) {
			continue // an interrupted write's temporary
		}
		n++
		if !slices.Contains(initFiles, name) || e.IsDir() {
			foreign = append(foreign, name)
		}
	}
	switch {
	case n == 0:
		return nil
	case !force:
		return &UsageError{Msg: fmt.Sprintf("model init: --out %s already exists; give --force to replace it", out)}
	case len(foreign) > 0:
		return &UsageError{Msg: fmt.Sprintf("model init: --out %s holds files model init did not write (%s); refusing to replace it even with --force",
			out, strings.Join(foreign, ", "))}
	}
	return nil
}
