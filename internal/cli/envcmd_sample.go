package cli

import (
	"fmt"
	"math"
	"strconv"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/trajlog"
	ucli "github.com/urfave/cli/v2"
)

// EnvSampleOptions are the inputs of `gradcouple env sample`.
type EnvSampleOptions struct {
	Env           string
	Split         string
	Tasks         int
	GroupSize     int
	Policy        string
	Eps           float64
	Seed          uint64
	History       int
	JudgeJ        int
	JudgeEps      float64
	Run           string
	GRPOAdvantage bool
	Out           string // step records (.parquet or .jsonl)
	SummaryOut    string // summary table
}

func newEnvSampleCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:  "sample",
		Usage: "play tasks with the oracle, a random policy or an eps-mixture and write step records",
		Description: "Tasks ENV/SPLIT/SEED .. SEED+N-1 are each played --group-size times (a GRPO group) and every\n" +
			"step is judged (J judgments, each wrong with probability --judge-eps, majority verdict) before\n" +
			"it is taken. The records (iteration 0, group = task, logprob 0, advantage 0 unless\n" +
			"--grpo-advantage) feed inspect, repetition, consistency and advantage. The policy and judge\n" +
			"of rollout j of a task draw from their own PCG streams, so every rollout is reproducible.",
		Flags: []ucli.Flag{
			envNameFlag, envSplitArg,
			&ucli.IntFlag{Name: "tasks", Value: 10, Usage: "number of tasks `N`"},
			&ucli.IntFlag{Name: "group-size", Aliases: []string{"G"}, Value: 1, Usage: "rollouts `G` per task"},
			&ucli.StringFlag{Name: "policy", Value: "mix", Usage: "`POLICY`: oracle, random or mix"},
			&ucli.Float64Flag{Name: "eps", Value: 0.3, Usage: "random share `EPS` of the mix policy"},
			&ucli.Uint64Flag{Name: "seed", Value: 0, Usage: "seed `S` of the first task"},
			envHistory,
			&ucli.IntFlag{Name: "judge-j", Value: env.DefaultJudgments, Usage: "judgments `J` per action"},
			&ucli.Float64Flag{Name: "judge-eps", Value: 0.1, Usage: "probability `E` that one judgment is wrong"},
			&ucli.StringFlag{Name: "run", Value: "env-sample", Usage: "run `NAME` of the records"},
			&ucli.BoolFlag{Name: "grpo-advantage", Usage: "fill the advantage column with each group's GRPO advantage"},
			&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "write the step records to `FILE` (.parquet or .jsonl)"},
			&ucli.StringFlag{Name: "summary-out", Usage: "also write the summary table to `FILE` (.parquet, .csv or .json)"},
		},
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 0, "no arguments"); err != nil {
				return err
			}
			return runEnvSample(EnvSampleOptions{
				Env: c.String("env"), Split: c.String("split"), Tasks: c.Int("tasks"), GroupSize: c.Int("group-size"),
				Policy: c.String("policy"), Eps: c.Float64("eps"), Seed: c.Uint64("seed"), History: c.Int("history"),
				JudgeJ: c.Int("judge-j"), JudgeEps: c.Float64("judge-eps"), Run: c.String("run"),
				GRPOAdvantage: c.Bool("grpo-advantage"), Out: c.String("out"), SummaryOut: c.String("summary-out"),
			}, e)
		},
	}
}

func runEnvSample(opts EnvSampleOptions, e *Env) error {
	if err := firstErr(checkEnvName(opts.Env), checkEnvSplit(opts.Split), checkOut(opts.SummaryOut),
		guardOutputs(nil, output{flag: "out", path: opts.Out}, output{flag: "summary-out", path: opts.SummaryOut})); err != nil {
		return err
	}
	if _, err := trajlog.FormatOf(opts.Out); err != nil {
		return &UsageError{Msg: "--out: " + err.Error()}
	}
	switch {
	case opts.Tasks < 1 || opts.GroupSize < 1:
		return &UsageError{Msg: fmt.Sprintf("env sample: want --tasks >= 1 and --group-size >= 1, got %d and %d", opts.Tasks, opts.GroupSize)}
	case opts.Policy != "oracle" && opts.Policy != "random" && opts.Policy != "mix":
		return &UsageError{Msg: fmt.Sprintf("--policy %q: want oracle, random or mix", opts.Policy)}
	case !(opts.Eps >= 0 && opts.Eps <= 1) || !(opts.JudgeEps >= 0 && opts.JudgeEps <= 1):
		return &UsageError{Msg: fmt.Sprintf("env sample: --eps %v and --judge-eps %v must be in [0, 1]", opts.Eps, opts.JudgeEps)}
	case opts.JudgeJ < 1 || opts.JudgeJ > math.MaxInt8:
		return &UsageError{Msg: fmt.Sprintf("--judge-j %d: want 1 to %d", opts.JudgeJ, math.MaxInt8)}
	}
	pcfg, err := promptConfig(opts.History)
	if err != nil {
		return err
	}
	recs, rows, err := env.Sample(env.SampleConfig{
		Env: opts.Env, Split: opts.Split, Tasks: opts.Tasks, Seed: opts.Seed, GroupSize: opts.GroupSize,
		Policy: opts.Policy, Eps: opts.Eps, Prompt: pcfg, Judge: env.Judge{J: opts.JudgeJ, Eps: opts.JudgeEps},
		Run: opts.Run, GRPOAdvantage: opts.GRPOAdvantage,
	})
	if err != nil {
		return err
	}
	policy := opts.Policy
	if policy == "mix" {
		policy += " (eps " + strconv.FormatFloat(opts.Eps, 'g', -1, 64) + ")"
	}
	fmt.Fprintf(e.Stdout, "%d %s %s tasks (seeds %d..%d) x %d rollouts with policy %s: %d step records\n\n",
		opts.Tasks, opts.Env, opts.Split, opts.Seed, opts.Seed+uint64(opts.Tasks)-1, opts.GroupSize, policy, len(recs))
	if err := emit(e.Stdout, opts.SummaryOut, rows, nil); err != nil {
		return err
	}
	meta := trajlog.Meta{Run: opts.Run, Extra: map[string]string{
		"env": opts.Env, "split": opts.Split, "policy": opts.Policy,
		"eps":        strconv.FormatFloat(opts.Eps, 'g', -1, 64),
		"first_seed": strconv.FormatUint(opts.Seed, 10),
		"tasks":      strconv.Itoa(opts.Tasks), "group_size": strconv.Itoa(opts.GroupSize),
		"judge_j": strconv.Itoa(opts.JudgeJ), "judge_eps": strconv.FormatFloat(opts.JudgeEps, 'g', -1, 64),
		"history": strconv.Itoa(opts.History),
	}}
	if opts.Seed <= math.MaxInt64 {
		meta.Seed, meta.HasSeed = int64(opts.Seed), true
	}
	if err := trajlog.WriteFile(opts.Out, recs, meta); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "wrote %s\n", opts.Out)
	return nil
}
