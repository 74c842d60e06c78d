package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/internal/table"
	ucli "github.com/urfave/cli/v2"
)

// ResampleOptions are the inputs of `gradcouple consistency RUN...` on run
// directories: consistency by resampling from every checkpoint.
type ResampleOptions struct {
	Runs        []string
	Split       string
	K           int
	Threshold   int
	Checkpoints []int
	Temperature float64
	Repeated    int
	Random      int
	Seed        uint64
	Out         string
	StatesOut   string
	ProbesOut   string
}

// resampleFlags are the consistency flags that only resampling uses.
var resampleFlags = []ucli.Flag{
	&ucli.BoolFlag{Name: "resample", Usage: "resample from checkpoints (the default when every argument is a run directory)"},
	&ucli.StringFlag{Name: "checkpoints", Usage: "resampling: checkpoint iterations `LIST` (default: every checkpoint)"},
	&ucli.Float64Flag{Name: "temperature", Usage: "resampling: draw at temperature `T` (default: the run's rollout temperature)"},
	&ucli.IntFlag{Name: "repeated", Value: 100, Usage: "resampling: `N` probe states where the agent repeated an action"},
	&ucli.IntFlag{Name: "random", Value: 100, Usage: "resampling: `N` probe states drawn uniformly"},
	&ucli.Uint64Flag{Name: "seed", Value: 1, Usage: "resampling: `SEED` of the state choice, the draws and the noisy judge"},
	&ucli.StringFlag{Name: "probes-out", Usage: "resampling: write the probe states and their reconstruction status to `FILE`"},
}

// resampleDescription documents the resampling mode in consistency --help.
const resampleDescription = "\n\nRUN directories (runs/NAME with checkpoints/) switch to consistency by resampling, as the\n" +
	"paper measures it: probe states are taken from the runs' logs (--repeated states where the agent\n" +
	"repeated an action earlier in its trajectory, and --random states drawn uniformly; seeded; the\n" +
	"same states for every run). Each is reconstructed exactly by replaying the trajectory's earlier\n" +
	"actions in the environment; the state key must match and the prompt is rebuilt as logged\n" +
	"(mismatches are reported; corrected prompts are resampled without the correction). At every\n" +
	"checkpoint K actions are drawn at the rollout temperature (run.json, or --temperature),\n" +
	"constrained to the admissible actions. high is the share of states whose modal action is drawn\n" +
	"at least --threshold times; high_good/high_bad split it by whether that action is on a shortest\n" +
	"plan (the oracle's truth), high_judge_* (in --out) by the run's noisy judge. For the log-based\n" +
	"measure on a run, pass RUN/logs."

// isResample reports whether consistency should resample: --resample, or
// every argument a run directory. A mix is a usage error.
func isResample(c *ucli.Context) (bool, error) {
	runs := 0
	for _, a := range c.Args().Slice() {
		if analysis.IsRunDir(a) {
			runs++
		}
	}
	switch {
	case c.Bool("resample") || (runs > 0 && runs == c.NArg()):
		return true, nil
	case runs > 0:
		return false, &UsageError{Msg: "consistency: some arguments are run directories and some are logs; give run directories (resampling) or logs (RUN/logs), not both"}
	}
	for _, f := range []string{"checkpoints", "temperature", "repeated", "random", "probes-out"} {
		if c.IsSet(f) {
			return false, &UsageError{Msg: fmt.Sprintf("consistency: --%s applies to resampling from run directories (with checkpoints/), not to logs", f)}
		}
	}
	return false, nil
}

func resampleAction(c *ucli.Context, env *Env) error {
	o := ResampleOptions{Runs: c.Args().Slice(), Split: c.String("split"), K: c.Int("k"), Threshold: c.Int("threshold"),
		Temperature: c.Float64("temperature"), Repeated: c.Int("repeated"), Random: c.Int("random"), Seed: c.Uint64("seed"),
		Out: c.String("out"), StatesOut: c.String("states-out"), ProbesOut: c.String("probes-out")}
	if s := c.String("checkpoints"); s != "" {
		var err error
		if o.Checkpoints, err = parseInts("checkpoints", s); err != nil {
			return err
		}
	}
	return runResample(c.Context, o, env)
}

func runResample(ctx context.Context, o ResampleOptions, env *Env) error {
	if err := firstErr(checkOut(o.Out), checkOut(o.StatesOut), checkOut(o.ProbesOut), checkSplit(o.Split),
		guardOutputs(o.Runs, output{flag: "out", path: o.Out}, output{flag: "states-out", path: o.StatesOut}, output{flag: "probes-out", path: o.ProbesOut})); err != nil {
		return err
	}
	if o.K < 1 || o.Threshold < 1 || o.Threshold > o.K {
		return &UsageError{Msg: fmt.Sprintf("consistency: want 1 <= --threshold <= --k, got threshold %d, k %d", o.Threshold, o.K)}
	}
	if o.Temperature < 0 || o.Repeated < 0 || o.Random < 0 || o.Repeated+o.Random == 0 {
		return &UsageError{Msg: "consistency: --temperature, --repeated and --random must be >= 0, with some states"}
	}
	var runs []analysis.Run
	for _, d := range o.Runs {
		r, err := analysis.OpenRun(d)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	opts := analysis.ResampleOptions{Checkpoints: o.Checkpoints, K: o.K, Threshold: o.Threshold, Temperature: o.Temperature,
		Repeated: o.Repeated, Random: o.Random, Split: o.Split, Seed: o.Seed}
	if o.Repeated == 0 {
		opts.Repeated = -1
	}
	if o.Random == 0 {
		opts.Random = -1
	}
	if env.Terminal {
		opts.Progress = func(what string) { fmt.Fprintf(env.Stderr, "\r\033[K%s", what) }
		defer fmt.Fprint(env.Stderr, "\r\033[K")
	}
	rep, err := analysis.Resample(ctx, runs, opts)
	if err != nil {
		return err
	}
	logSources(env, rep.Sources)
	w := env.Stdout
	kinds := map[string]int{}
	for _, p := range rep.Probes {
		kinds[p.Kind]++
	}
	var status []string
	for _, s := range []string{"ok", "corrected", "prompt-mismatch", "state-mismatch", "not-replayable"} {
		if n := rep.Status[s]; n > 0 {
			status = append(status, fmt.Sprintf("%d %s", n, s))
		}
	}
	fmt.Fprintf(w, "%d probe states (%d repeated, %d random) from %d step records; reconstruction: %s\n",
		len(rep.Probes), kinds[analysis.KindRepeated], kinds[analysis.KindRandom], rep.Sources.Rows, strings.Join(status, ", "))
	for _, p := range rep.Probes {
		if p.Status == "prompt-mismatch" || p.Status == "state-mismatch" {
			fmt.Fprintf(w, "  %s: probe %d (%s turn %d): %s\n", p.Status, p.Probe, p.TrajID, p.Turn, p.Detail)
			break // the first; --probes-out lists them all
		}
	}
	temps := map[float64]bool{}
	for _, r := range rep.Rows {
		temps[r.Temperature] = true
	}
	var ts []string
	for t := range temps {
		ts = append(ts, fmt.Sprint(t))
	}
	slices.Sort(ts)
	fmt.Fprintf(w, "%d actions per state at temperature %s, high consistency at >= %d\n\n", o.K, strings.Join(ts, ", "), o.Threshold)
	if err := emit(w, o.Out, rep.Rows, nil); err != nil {
		return err
	}
	if o.StatesOut != "" {
		if err := table.WriteFile(o.StatesOut, rep.States, nil); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s\n", o.StatesOut)
	}
	if o.ProbesOut != "" {
		if err := table.WriteFile(o.ProbesOut, rep.Probes, nil); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s\n", o.ProbesOut)
	}
	return nil
}
