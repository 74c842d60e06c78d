package cli

import (
	"context"
	"fmt"
	"strconv"

	"github.com/gradcouple/gradcouple/analysis"
	ucli "github.com/urfave/cli/v2"
)

// TwinsOptions are the inputs of `gradcouple twins RUN...`.
type TwinsOptions struct {
	Inputs    []string
	Threshold float64
	Out       string // the per-run table
	CurvesOut string // the per-iteration table
	Read      ReadOptions
}

func newTwinsCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:      "twins",
		Usage:     "are the decisions that tell twin tasks apart learned later than the other steps? (household-twin, lab-twin)",
		ArgsUsage: "RUN... | LOGS...",
		Description: "Replays every logged trajectory of a twin world in its task and, action for action, in its twin's\n" +
			"(the task one cue token apart). The first step where the two tasks' optimal actions differ is the\n" +
			"decision; the steps before it, where the twins agree, are its controls. Per run and iteration it\n" +
			"prints how often the rollouts took an optimal action at each kind of step (95% Wilson interval),\n" +
			"and per run the iteration from which each kind stays at or above --threshold (-1: never) and\n" +
			"the difference, decision minus control. env/README.md#twin-tasks-household-twin-lab-twin.",
		Flags: append([]ucli.Flag{
			&ucli.Float64Flag{Name: "threshold", Value: 0.8, Usage: "optimal-action rate `P` at which a kind of step counts as learned"},
			outFlag,
			&ucli.StringFlag{Name: "curves-out", Usage: "write the per-iteration table to `FILE` (.parquet, .csv or .json)"},
		}, readFlags(false)...),
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 {
				return &UsageError{Msg: "twins: want RUN... or LOGS...; see 'gradcouple twins --help'"}
			}
			return runTwins(c.Context, TwinsOptions{Inputs: c.Args().Slice(), Threshold: c.Float64("threshold"),
				Out: c.String("out"), CurvesOut: c.String("curves-out"), Read: readOptionsOf(c)}, e)
		},
	}
}

func runTwins(ctx context.Context, o TwinsOptions, e *Env) error {
	if err := firstErr(checkOut(o.Out), checkOut(o.CurvesOut),
		guardOutputs(o.Inputs, output{flag: "out", path: o.Out}, output{flag: "curves-out", path: o.CurvesOut})); err != nil {
		return err
	}
	if !(o.Threshold > 0 && o.Threshold <= 1) {
		return &UsageError{Msg: fmt.Sprintf("twins: --threshold %v: want a rate in (0, 1]", o.Threshold)}
	}
	aopts, err := o.Read.adapterOptions()
	if err != nil {
		return err
	}
	rep, err := analysis.TwinDecisions(ctx, o.Inputs, analysis.TwinOptions{Threshold: o.Threshold, Adapter: aopts})
	if err != nil {
		return badInput(formatError(err))
	}
	if o.CurvesOut != "" {
		if err := emitFile(e.Stdout, o.CurvesOut, rep.Curves, nil); err != nil {
			return err
		}
	}
	meta := map[string]string{"threshold": strconv.FormatFloat(o.Threshold, 'g', -1, 64)}
	return emit(e.Stdout, o.Out, rep.Learned, meta)
}
