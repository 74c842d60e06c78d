package cli

import (
	"fmt"

	"github.com/gradcouple/gradcouple/metrics"
	ucli "github.com/urfave/cli/v2"
)

// SqueezeOptions are the inputs of `gradcouple squeeze`.
type SqueezeOptions struct {
	Logits       []float64 // good, bad2, bad1
	P            []float64 // success probabilities, same order
	Eta          float64
	Steps        int
	NegativeOnly bool
	Std          bool
	Every        int
	Out          string
}

// SqueezeRow is the policy after Step expected updates.
type SqueezeRow struct {
	Step      int     `parquet:"step"`
	PiGood    float64 `parquet:"pi_good"`
	PiBad2    float64 `parquet:"pi_bad2"`
	PiBad1    float64 `parquet:"pi_bad1"`
	PiBad     float64 `parquet:"pi_bad_total"`
	ExpReward float64 `parquet:"expected_reward"`
}

func newSqueezeCommand(env *Env) *ucli.Command {
	return &ucli.Command{
		Name:  "squeeze",
		Usage: "3-action squeezing simulator: exact expected GRPO updates of a softmax policy (paper Thm. 3.2, Fig. 4)",
		Description: "Actions are (good, bad2, bad1) with success probabilities p_g > p_b2 > p_b1. Each step\n" +
			"applies the exact expected GRPO update theta_k += eta pi_k (p_k - pbar) (with --negative-only,\n" +
			"only the updates of actions whose advantage is negative). The table shows whether pi_bad2\n" +
			"rises while the total bad mass pi_bad2 + pi_bad1 falls: the squeezing effect does not make\n" +
			"GRPO reinforce flawed actions overall.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "logits", Value: "0,1,1.5", Usage: "initial logits `G,B2,B1`"},
			&ucli.StringFlag{Name: "p", Value: "0.9,0.5,0.1", Usage: "success probabilities `PG,PB2,PB1`"},
			&ucli.Float64Flag{Name: "eta", Value: 0.5, Usage: "step size `ETA`"},
			&ucli.IntFlag{Name: "steps", Value: 60, Usage: "number of updates `T`"},
			&ucli.BoolFlag{Name: "negative-only", Usage: "apply only the negative-advantage part of the update"},
			&ucli.BoolFlag{Name: "std", Usage: "divide by the reward's std sqrt(pbar(1-pbar)) (GRPO's normalisation, G -> infinity)"},
			&ucli.IntFlag{Name: "every", Value: 5, Usage: "print every `N`th step (the --out file has all)"},
			outFlag,
		},
		Action: func(c *ucli.Context) error {
			logits, err1 := parseFloats("logits", c.String("logits"))
			p, err2 := parseFloats("p", c.String("p"))
			if err := firstErr(err1, err2); err != nil {
				return err
			}
			return runSqueeze(SqueezeOptions{Logits: logits, P: p, Eta: c.Float64("eta"), Steps: c.Int("steps"),
				NegativeOnly: c.Bool("negative-only"), Std: c.Bool("std"), Every: c.Int("every"), Out: c.String("out")}, env)
		},
	}
}

func runSqueeze(opts SqueezeOptions, env *Env) error {
	if err := firstErr(checkOut(opts.Out), guardOutputs(nil, output{flag: "out", path: opts.Out})); err != nil {
		return err
	}
	switch {
	case len(opts.Logits) != 3 || len(opts.P) != 3:
		return &UsageError{Msg: "squeeze: --logits and --p take three values: good, bad2, bad1"}
	case !(opts.P[0] > opts.P[1] && opts.P[1] > opts.P[2]) || opts.P[2] < 0 || opts.P[0] > 1:
		return &UsageError{Msg: fmt.Sprintf("squeeze: want 1 >= p_g > p_b2 > p_b1 >= 0, got %v", opts.P)}
	case opts.Eta <= 0 || opts.Steps < 1 || opts.Every < 1:
		return &UsageError{Msg: "squeeze: want --eta > 0, --steps >= 1 and --every >= 1"}
	}
	path := metrics.SqueezePath(opts.Logits, opts.P, metrics.SqueezeConfig{
		Eta: opts.Eta, Steps: opts.Steps, NegativeOnly: opts.NegativeOnly, Std: opts.Std,
	})
	rows := make([]SqueezeRow, len(path))
	for t, pi := range path {
		rows[t] = SqueezeRow{Step: t, PiGood: pi[0], PiBad2: pi[1], PiBad1: pi[2], PiBad: pi[1] + pi[2],
			ExpReward: pi[0]*opts.P[0] + pi[1]*opts.P[1] + pi[2]*opts.P[2]}
	}
	var shown []SqueezeRow
	for t := range rows {
		if t%opts.Every == 0 || t == len(rows)-1 {
			shown = append(shown, rows[t])
		}
	}
	w := env.Stdout
	if err := emitShown(w, "", shown, rows, nil); err != nil {
		return err
	}
	first, last := rows[0], rows[len(rows)-1]
	peak := first
	for _, r := range rows {
		if r.PiBad2 > peak.PiBad2 {
			peak = r
		}
	}
	fmt.Fprintf(w, "\npi_bad2 %.4f -> peak %.4f at step %d -> %.4f; pi_bad2+pi_bad1 %.4f -> %.4f; pi_good %.4f -> %.4f\n",
		first.PiBad2, peak.PiBad2, peak.Step, last.PiBad2, first.PiBad, last.PiBad, first.PiGood, last.PiGood)
	if peak.PiBad2 > first.PiBad2 && last.PiBad < first.PiBad {
		fmt.Fprintln(w, "squeezing: the less harmful bad action rose while total bad mass fell")
	}
	if opts.Out != "" && opts.Out != "-" { // "-": emitShown wrote every row to stdout
		return emitFile(w, opts.Out, rows, nil)
	}
	return nil
}
