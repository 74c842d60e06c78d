package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gradcouple/gradcouple/trainer"
	ucli "github.com/urfave/cli/v2"
)

// TrainOptions are the inputs of `gradcouple train`.
type TrainOptions struct {
	Dir    string
	Resume bool
	DryRun bool
	// Config is the resolved configuration (nil with Resume: run.json's).
	Config *trainer.Config
	Preset string
	// MaxBytes is the memory budget (trainer.Options.MaxBytes).
	MaxBytes int64
}

// trainFlag ties a flag to the configuration field it sets.
type trainFlag struct {
	flag ucli.Flag
	set  func(c *ucli.Context, cfg *trainer.Config)
}

func intF(name, usage string, field func(*trainer.Config) *int) trainFlag {
	return trainFlag{&ucli.IntFlag{Name: name, Usage: usage, DefaultText: presetDefault(func(c *trainer.Config) any { return *field(c) })},
		func(c *ucli.Context, cfg *trainer.Config) { *field(cfg) = c.Int(name) }}
}

func floatF(name, usage string, field func(*trainer.Config) *float64) trainFlag {
	return trainFlag{&ucli.Float64Flag{Name: name, Usage: usage, DefaultText: presetDefault(func(c *trainer.Config) any { return *field(c) })},
		func(c *ucli.Context, cfg *trainer.Config) { *field(cfg) = c.Float64(name) }}
}

func stringF(name, usage string, field func(*trainer.Config) *string) trainFlag {
	return trainFlag{&ucli.StringFlag{Name: name, Usage: usage, DefaultText: presetDefault(func(c *trainer.Config) any { return *field(c) })},
		func(c *ucli.Context, cfg *trainer.Config) { *field(cfg) = c.String(name) }}
}

func boolF(name, usage string, field func(*trainer.Config) *bool) trainFlag {
	return trainFlag{&ucli.BoolFlag{Name: name, Usage: usage, DefaultText: presetDefault(func(c *trainer.Config) any { return *field(c) })},
		func(c *ucli.Context, cfg *trainer.Config) { *field(cfg) = c.Bool(name) }}
}

// presetDefault is the help text of a flag's default, which comes from the
// preset and the algorithm rather than from the flag: "150", or
// "150; quick 30", or "grpo 0, gcd 1" when they differ.
func presetDefault(get func(*trainer.Config) any) string {
	val := func(preset, algo string) string {
		c, err := trainer.Defaults(preset, algo)
		if err != nil {
			panic(err) // the presets and algorithms are constants
		}
		return fmt.Sprint(get(&c))
	}
	byAlgo := func(preset string) string {
		g, d := val(preset, trainer.AlgoGRPO), val(preset, trainer.AlgoGCD)
		if g == d {
			return g
		}
		return "grpo " + g + ", gcd " + d
	}
	text := byAlgo(trainer.PresetDefault)
	for _, p := range trainer.Presets() {
		if p == trainer.PresetDefault {
			continue
		}
		if q := byAlgo(p); q != text {
			text += "; " + p + ": " + q
		}
	}
	return text
}

// trainConfigFlags are the flags that override configuration fields; each
// applies only when given on the command line.
var trainConfigFlags = []trainFlag{
	{&ucli.StringFlag{Name: "env", Usage: "environment `NAME`: household, lab, or the one-step bandit bandit[-kK][-fL][-dD][-alias] (env/README.md)", DefaultText: "household"},
		func(c *ucli.Context, cfg *trainer.Config) { cfg.Env = c.String("env") }},
	{&ucli.StringFlag{Name: "run", Usage: "run `NAME` in the step records", DefaultText: "the directory's name"},
		func(c *ucli.Context, cfg *trainer.Config) { cfg.Run = c.String("run") }},
	{&ucli.Uint64Flag{Name: "seed", Usage: "`SEED` of every random stream", DefaultText: "1"},
		func(c *ucli.Context, cfg *trainer.Config) { cfg.Seed = c.Uint64("seed") }},
	{&ucli.StringFlag{Name: "init", Usage: "start from checkpoint `DIR` instead of the cold start (same model size and environment)"},
		func(c *ucli.Context, cfg *trainer.Config) { cfg.Init = c.String("init") }},
	intF("iterations", "GRPO updates `N`; iteration N only evaluates", func(c *trainer.Config) *int { return &c.Iterations }),
	intF("train-tasks", "pool of train tasks `N` (seeds 0..N-1)", func(c *trainer.Config) *int { return &c.TrainTasks }),
	intF("checkpoint-every", "keep a checkpoint every `N` iterations (and the first and last)", func(c *trainer.Config) *int { return &c.CheckpointEvery }),
	intF("dim", "model width `D`", func(c *trainer.Config) *int { return &c.Model.Dim }),
	intF("layers", "transformer blocks `L`", func(c *trainer.Config) *int { return &c.Model.Layers }),
	intF("heads", "attention heads `H`", func(c *trainer.Config) *int { return &c.Model.Heads }),
	intF("context", "model context `T` in tokens", func(c *trainer.Config) *int { return &c.Model.Context }),
	intF("history", "past (observation, action) pairs `H` in the prompt; 0 for none", func(c *trainer.Config) *int { return &c.Model.History }),
	boolF("memory", "add a line of everything the observations have shown to every prompt (raise --context)", func(c *trainer.Config) *bool { return &c.Model.Memory }),
	stringF("tokenizer", "the actor's tokenizer `T`: word (one token per word of the environment's vocabulary) or char (one per character: new names compose; raise --context)", func(c *trainer.Config) *string { return &c.Model.Tokenizer }),
	intF("cold-start-demos", "demonstrated tasks `N` of the cold start; 0 turns it off", func(c *trainer.Config) *int { return &c.ColdStart.Demos }),
	intF("cold-start-steps", "Adam steps `N` of the cold start", func(c *trainer.Config) *int { return &c.ColdStart.Steps }),
	boolF("freeze-unseen", "the cold start leaves the embedding rows of tokens its demonstrations never use as initialised", func(c *trainer.Config) *bool { return &c.ColdStart.FreezeUnseen }),
	intF("cold-start-batch", "samples `N` per cold-start step", func(c *trainer.Config) *int { return &c.ColdStart.Batch }),
	floatF("cold-start-lr", "learning rate `LR` of the cold start", func(c *trainer.Config) *float64 { return &c.ColdStart.LR }),
	floatF("cold-start-verdict", "weight `W` of the verdict loss in the cold start; 0 for none", func(c *trainer.Config) *float64 { return &c.ColdStart.VerdictWeight }),
	intF("tasks", "tasks `B` per iteration", func(c *trainer.Config) *int { return &c.Rollout.Tasks }),
	intF("group-size", "rollouts `G` per task (a GRPO group)", func(c *trainer.Config) *int { return &c.Rollout.GroupSize }),
	floatF("temperature", "sampling temperature `T`", func(c *trainer.Config) *float64 { return &c.Rollout.Temperature }),
	boolF("unconstrained", "sample free text instead of admissible actions only", func(c *trainer.Config) *bool { return &c.Rollout.Unconstrained }),
	intF("max-action-tokens", "longest unconstrained action `N` in tokens", func(c *trainer.Config) *int { return &c.Rollout.MaxActionTokens }),
	intF("max-steps", "end an episode unsolved after `N` steps; 0 for the environment's limit", func(c *trainer.Config) *int { return &c.Rollout.MaxSteps }),
	floatF("invalid-penalty", "outcome penalty `P` per invalid step", func(c *trainer.Config) *float64 { return &c.Rollout.InvalidPenalty }),
	floatF("twin-share", "twin environments (bandit, household-twin, lab-twin): probability `P` that a drawn task's twin joins its batch (0: uniform draw)", func(c *trainer.Config) *float64 { return &c.Rollout.TwinShare }),
	intF("epochs", "PPO epochs `N` per iteration", func(c *trainer.Config) *int { return &c.Update.Epochs }),
	intF("minibatches", "mini-batches `N` (Adam steps) per epoch", func(c *trainer.Config) *int { return &c.Update.MiniBatches }),
	floatF("clip", "PPO clip `EPS`", func(c *trainer.Config) *float64 { return &c.Update.Clip }),
	floatF("kl-beta", "coefficient `BETA` of the k3 KL to the cold-start policy", func(c *trainer.Config) *float64 { return &c.Update.KLBeta }),
	boolF("no-std", "Dr. GRPO advantages: do not divide by the group std", func(c *trainer.Config) *bool { return &c.Update.NoStd }),
	floatF("lr", "learning rate `LR` of the RL updates", func(c *trainer.Config) *float64 { return &c.Update.LR }),
	floatF("grad-clip", "global gradient-norm clip `C`; 0 for none", func(c *trainer.Config) *float64 { return &c.Update.GradClip }),
	floatF("lambda", "GCD: weight `L` of the verdict cross-entropy; 0 ablates it", func(c *trainer.Config) *float64 { return &c.GCD.Lambda }),
	boolF("correction", "GCD: prompt-based correction in rollouts (--correction=false ablates it)", func(c *trainer.Config) *bool { return &c.GCD.Correction }),
	boolF("train-corrected", "GCD: corrected steps are policy-gradient samples too (off: they train the verdict only)", func(c *trainer.Config) *bool { return &c.GCD.TrainCorrected }),
	boolF("correct-eval", "GCD: apply prompt correction in evaluation too", func(c *trainer.Config) *bool { return &c.GCD.CorrectEval }),
	floatF("threshold", "GCD: correct when the actor's p(bad) exceeds `P`", func(c *trainer.Config) *float64 { return &c.GCD.Threshold }),
	intF("repeats", "GCD: correct an action taken `M` times already; 0 for never", func(c *trainer.Config) *int { return &c.GCD.Repeats }),
	intF("max-tries", "GCD: corrections `N` per step at most", func(c *trainer.Config) *int { return &c.GCD.MaxTries }),
	intF("judge-j", "judgments `J` per action", func(c *trainer.Config) *int { return &c.Judge.J }),
	floatF("judge-eps", "probability `E` that one judgment is wrong", func(c *trainer.Config) *float64 { return &c.Judge.Eps }),
	stringF("judge-labels", "the judge's truth `T`: state (full state), revealed (what was observed) or identifiable (full state, steps that depend on the unobserved unlabelled)", func(c *trainer.Config) *string { return &c.Judge.Labels }),
	intF("eval-every", "evaluate every `K` iterations (and the last); 0 for never", func(c *trainer.Config) *int { return &c.Eval.Every }),
	intF("eval-tasks", "tasks `N` per eval split", func(c *trainer.Config) *int { return &c.Eval.Tasks }),
	boolF("eval-greedy", "evaluate greedy play", func(c *trainer.Config) *bool { return &c.Eval.Greedy }),
	boolF("eval-sampled", "evaluate sampled play", func(c *trainer.Config) *bool { return &c.Eval.Sampled }),
}

func newTrainCommand(e *Env) *ucli.Command {
	flags := []ucli.Flag{
		&ucli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "read the configuration from `FILE` (YAML, or TOML if it ends in .toml; flags override it)"},
		&ucli.StringFlag{Name: "preset", Value: trainer.PresetDefault, Usage: "`PRESET` of defaults: default (150 iterations, ~7-15 min on 2 cores), quick (30, a few minutes) or study (40, the reference study)"},
		&ucli.StringFlag{Name: "algo", Usage: "`ALGO`: grpo, or gcd (GRPO + verdict loss + prompt correction)", DefaultText: "grpo"},
		&ucli.BoolFlag{Name: "resume", Usage: "continue the interrupted run in DIR with its run.json"},
		&ucli.BoolFlag{Name: "dry-run", Usage: "print the resolved configuration (YAML) and exit"},
		&ucli.StringFlag{Name: "max-bytes", Value: "4G", Usage: "memory budget `BYTES` of the run (e.g. 512M, 16G; -1: none); larger model and rollout sizes are refused before anything is written"},
	}
	for _, f := range trainConfigFlags {
		flags = append(flags, f.flag)
	}
	return &ucli.Command{
		Name:      "train",
		Usage:     "train the bundled actor with GRPO or GCD and write a complete, resumable run directory",
		ArgsUsage: "DIR",
		Description: "Cold start on oracle demonstrations, then GRPO iterations: B tasks x G rollouts, group advantages,\n" +
			"PPO-clip epochs with a k3 KL to the cold-start policy, Adam. --algo gcd adds the verdict loss\n" +
			"lambda * CE with the judge's labels and prompt-based correction. DIR receives run.json,\n" +
			"metrics.jsonl, timing.jsonl, logs/iter-NNNNNN.parquet (every train and eval step) and\n" +
			"checkpoints/iter-NNNNNN/. Defaults come from --preset and --algo, then --config, then flags.\n" +
			"After an interruption (even kill -9), --resume continues from the last checkpoint and ends\n" +
			"with the same directory an uninterrupted run writes.",
		Flags: flags,
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 1, "the run directory DIR"); err != nil {
				return err
			}
			opts := TrainOptions{Dir: c.Args().First(), Resume: c.Bool("resume"), DryRun: c.Bool("dry-run"), Preset: c.String("preset")}
			var err error
			if opts.MaxBytes, err = parseBytes("max-bytes", c.String("max-bytes")); err != nil {
				return err
			}
			if opts.Resume {
				for _, name := range c.FlagNames() {
					if c.IsSet(name) && name != "resume" && name != "dry-run" && name != "log-level" && name != "max-bytes" {
						return &UsageError{Msg: fmt.Sprintf("--resume takes the configuration from %s; --%s is not allowed with it", filepath.Join(opts.Dir, trainer.ManifestFile), name)}
					}
				}
				return runTrain(c.Context, opts, e)
			}
			cfg, err := trainConfig(c)
			if err != nil {
				return err
			}
			opts.Config = &cfg
			return runTrain(c.Context, opts, e)
		},
	}
}

// trainConfig resolves the configuration: the preset's defaults for the
// algorithm (--algo, else the file's algo, else grpo), the file over them,
// then the flags given.
func trainConfig(c *ucli.Context) (trainer.Config, error) {
	var file []byte
	path := c.String("config")
	if path != "" {
		var err error
		if file, err = os.ReadFile(path); err != nil {
			return trainer.Config{}, badInput(err)
		}
	}
	algo := c.String("algo")
	if algo == "" && file != nil {
		a, err := trainer.PeekAlgo(strings.NewReader(string(file)), path)
		if err != nil {
			return trainer.Config{}, badInput(err)
		}
		algo = a
	}
	if algo == "" {
		algo = trainer.AlgoGRPO
	}
	cfg, err := trainer.Defaults(c.String("preset"), algo)
	if err != nil {
		return trainer.Config{}, &UsageError{Msg: err.Error()}
	}
	if file != nil {
		if cfg, err = trainer.DecodeConfig(strings.NewReader(string(file)), path, cfg); err != nil {
			return trainer.Config{}, badInput(err)
		}
		cfg.Algo = algo
	}
	for _, f := range trainConfigFlags {
		if c.IsSet(f.flag.Names()[0]) {
			f.set(c, &cfg)
		}
	}
	if cfg.Run == "" {
		cfg.Run = filepath.Base(filepath.Clean(c.Args().First()))
	}
	if err := cfg.Validate(); err != nil {
		if path != "" {
			return trainer.Config{}, badInput(fmt.Errorf("%s and flags: %w", path, err))
		}
		return trainer.Config{}, &UsageError{Msg: err.Error()}
	}
	return cfg, nil
}

func runTrain(ctx context.Context, opts TrainOptions, e *Env) error {
	if opts.DryRun {
		if opts.Resume {
			man, err := trainer.ReadManifest(opts.Dir)
			if err != nil {
				return badInput(err)
			}
			return man.Config.WriteYAML(e.Stdout)
		}
		return opts.Config.WriteYAML(e.Stdout)
	}
	pr := newTrainProgress(e)
	topts := trainer.Options{Dir: opts.Dir, Version: version(), Preset: opts.Preset, Now: e.Now, Progress: pr.report, MaxBytes: opts.MaxBytes}
	start := e.Now()
	var res *trainer.Result
	var err error
	if opts.Resume {
		res, err = trainer.Resume(ctx, topts)
	} else {
		res, err = trainer.Run(ctx, *opts.Config, topts)
	}
	pr.done()
	if err != nil {
		if errors.Is(err, trainer.ErrConfig) || errors.Is(err, trainer.ErrRunExists) || errors.Is(err, trainer.ErrLocked) || errors.Is(err, trainer.ErrNoRun) || errors.Is(err, trainer.ErrRunDir) {
			return badInput(err)
		}
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("training interrupted; continue with: gradcouple train --resume %s", opts.Dir)
		}
		return err
	}
	if res.AlreadyFinished {
		fmt.Fprintf(e.Stdout, "%s: the run is already finished (%d iterations)\n", opts.Dir, len(res.Metrics)-1)
		return writeTrainSummary(e.Stdout, res.Metrics)
	}
	fmt.Fprintf(e.Stdout, "\n%s: %d iterations in %s", opts.Dir, len(res.Metrics)-1, e.Now().Sub(start).Round(time.Second))
	if opts.Resume {
		fmt.Fprintf(e.Stdout, " (resumed from iteration %d)", res.From)
	}
	fmt.Fprintln(e.Stdout)
	return writeTrainSummary(e.Stdout, res.Metrics)
}
