package cli

import (
	"fmt"

	"github.com/gradcouple/gradcouple/env"
	ucli "github.com/urfave/cli/v2"
)

// EnvStatsOptions are the inputs of `gradcouple env stats`.
type EnvStatsOptions struct {
	Envs      []string
	Tasks     int
	Seed      uint64
	History   int
	Out       string // per-family table
	SplitsOut string // per-split table
}

func newEnvStatsCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:  "stats",
		Usage: "task families, split sizes, oracle plan lengths, random-policy success and prompt similarity",
		Description: "Generates --tasks tasks per split (seeds SEED..SEED+N-1) and plays each once with the oracle\n" +
			"and once with the uniform random policy. The split table gives distinct instances, layouts,\n" +
			"goals, the words used (new_words: not used by the train split) and the instances shared with\n" +
			"the train sample (0: disjoint). The family table gives oracle plan lengths, success of both\n" +
			"policies, admissible-list sizes, prompt lengths in word tokens and the token Jaccard of\n" +
			"consecutive prompts of a trajectory.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "env", Value: "all", Usage: "environment `NAME`: household, lab or all"},
			&ucli.IntFlag{Name: "tasks", Value: env.DefaultStatsTasks, Usage: "tasks `N` per split"},
			&ucli.Uint64Flag{Name: "seed", Value: 0, Usage: "seed `S` of the first task of each split"},
			envHistory,
			outFlag,
			&ucli.StringFlag{Name: "splits-out", Usage: "also write the split table to `FILE` (.parquet, .csv or .json)"},
		},
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 0, "no arguments"); err != nil {
				return err
			}
			envs := []string{c.String("env")}
			if envs[0] == "all" {
				envs = env.Names()
			}
			return runEnvStats(EnvStatsOptions{Envs: envs, Tasks: c.Int("tasks"), Seed: c.Uint64("seed"),
				History: c.Int("history"), Out: c.String("out"), SplitsOut: c.String("splits-out")}, e)
		},
	}
}

func runEnvStats(opts EnvStatsOptions, e *Env) error {
	if err := firstErr(checkOut(opts.Out), checkOut(opts.SplitsOut), guardOutputs(nil, output{flag: "out", path: opts.Out}, output{flag: "splits-out", path: opts.SplitsOut})); err != nil {
		return err
	}
	for _, name := range opts.Envs {
		if err := checkEnvName(name); err != nil {
			return &UsageError{Msg: fmt.Sprintf("--env %q: want household, lab or all", name)}
		}
	}
	if opts.Tasks < 1 {
		return &UsageError{Msg: fmt.Sprintf("--tasks %d: want 1 or more", opts.Tasks)}
	}
	pcfg, err := promptConfig(opts.History)
	if err != nil {
		return err
	}
	rows, splits, err := env.Stats(env.StatsConfig{Envs: opts.Envs, Tasks: opts.Tasks, Seed: opts.Seed, Prompt: pcfg})
	if err != nil {
		return err
	}
	w := e.Stdout
	fmt.Fprintf(w, "%d tasks per split, seeds %d..%d; prompt history %d\n\n", opts.Tasks, opts.Seed, opts.Seed+uint64(opts.Tasks)-1, opts.History)
	if err := emit(w, opts.SplitsOut, splits, nil); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return emit(w, opts.Out, rows, nil)
}
