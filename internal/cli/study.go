package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/figure"
	"github.com/gradcouple/gradcouple/internal/cluster"
	"github.com/gradcouple/gradcouple/trainer"
	ucli "github.com/urfave/cli/v2"
)

// StudyOptions are the inputs of `gradcouple study` and `gradcouple
// quickstart`: which runs to train, and where the analyses go.
type StudyOptions struct {
	Out   string // runs are trained into Out/ENV/ARM-SEED, shared cold starts into Out/cold-start
	Envs  []string
	Arms  []studyArm
	Seeds []uint64
	// Preset is the trainer preset of every run.
	Preset string
	// ColdStart is the cold-start recipe of arms that do not set one:
	// coldVerdict, coldPlain or coldOwn; "" means coldVerdict.
	ColdStart string
	Jobs      int // runs trained at once
	// Export, if not empty, receives every table as parquet and CSV; the
	// figures (PNG and SVG) go to Out/figures and the report to
	// Out/report.html.
	Export string
	Title  string
	Study  StudyFlags
	// Stage, if not empty, does one stage of the study (stageCold,
	// stageTrain or stageReport); Task, with the cold or train stage, one
	// task of it ("i/n", or "auto" from the engine's array variables).
	// Partial lets the report stage study the finished runs when others
	// are missing.
	Stage, Task string
	Partial     bool
	// Emit writes job files for an engine ("slurm" or "k8s") into OUT/jobs
	// instead of training; Cluster holds the resources of one task.
	Emit    string
	Cluster cluster.Job

	tweak func(*trainer.Config) // tests: shrink the runs after the preset
}

// powerSeeds is the number of paired seeds of --preset power.
const powerSeeds = 10

func newStudyCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:      "study",
		Usage:     "train arms (GRPO, GCD, ablations, sweeps) over environments and seeds from shared cold starts, analyse every run, compare the arms, export the tables",
		ArgsUsage: " ",
		Description: "Trains every (environment, arm, seed) into OUT/ENV/ARM-SEED with the preset's configuration,\n" +
			"every arm of an environment and seed starting from one shared cold start (OUT/cold-start/ENV/RECIPE/seed-N,\n" +
			"trained first), so that arms differ only in RL. It states the estimated cost on 2 cores before it starts. A\n" +
			"finished run is kept, an interrupted one resumed: run the same command again after an interruption. It\n" +
			"then runs the analyses of `gradcouple report` on all runs with one probe set per environment, compares\n" +
			"the arms within each environment over seeds (final performance with per-family and per-shift success when\n" +
			"the runs log it, probability of improvement, paired differences by seed with bootstrap intervals,\n" +
			"P(improvement) and the minimum detectable effect), and writes the figures (OUT/figures), the report\n" +
			"(OUT/report.html) and, with --export, every table as parquet and CSV. The reference study of the README\n" +
			"is this command with its defaults; --preset power trains 10 paired seeds evaluated on 500 tasks per split.\n\n" +
			"On a cluster: --emit slurm|k8s writes job files into OUT/jobs (an array of the cold starts, an array of the\n" +
			"runs, then the report; OUT must be shared by every node) and a script that submits them. They run the\n" +
			"stages of this command, which also work by hand: --stage cold|train [--task i/n|auto], --stage report\n" +
			"[--partial]. See docs/cluster.md.\n\n" +
			armsHelp(),
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "runs/study", Usage: "train the runs into `DIR`/ENV/ARM-SEED and write figures and report there"},
			&ucli.StringFlag{Name: "envs", Value: "household,lab", Usage: "environments `LIST`: household, lab, their variants (household-twin, lab-twin-alias, ...) or bandits"},
			&ucli.StringFlag{Name: "arms", Aliases: []string{"algos"}, Value: "grpo,gcd", Usage: "arms `LIST`: named arms or ARM:KEY=VALUE,... (see ARMS above)"},
			&ucli.StringFlag{Name: "seeds", Value: "1,2,3", Usage: "training seeds `LIST` (A-B for a range); --preset power: 1-10"},
			&ucli.StringFlag{Name: "preset", Value: trainer.PresetStudy, Usage: "training `PRESET`: " + strings.Join(trainer.Presets(), ", ") + " (see gradcouple train --help)"},
			&ucli.StringFlag{Name: "cold-start", Value: coldVerdict, Usage: "cold-start `RECIPE` of arms that set no cold key: verdict (shared, GCD's), plain (shared, imitation only) or own (each run its own, as before shared cold starts)"},
			&ucli.IntFlag{Name: "jobs", Value: 1, Usage: "train `N` runs at once (each uses every core for its rollouts)"},
			&ucli.StringFlag{Name: "export", Usage: "also write every table as parquet and CSV into `DIR` (e.g. notebooks-data)"},
			&ucli.StringFlag{Name: "stage", Usage: "do one `STAGE` of the study: cold (the shared cold starts), train (the runs, from finished cold starts) or report (the analyses of the finished runs)"},
			&ucli.StringFlag{Name: "task", Usage: "--stage cold or train: only task `SPEC` of the stage, i/n (0 <= i < n, n the stage's runs) or auto (from a Slurm array or Kubernetes Indexed Job)"},
			&ucli.BoolFlag{Name: "partial", Usage: "--stage report: report the finished runs when others are missing (they are listed)"},
			&ucli.StringFlag{Name: "emit", Usage: "write job files for `ENGINE` slurm or k8s into OUT/jobs instead of training: the cold starts' array, the runs' array and the report after them"},
		}, append(emitFlags(), studyFlags()...)...),
		Action: func(c *ucli.Context) error {
			if c.Args().Len() > 0 {
				return &UsageError{Msg: fmt.Sprintf("study takes no arguments (got %q); the runs go to --out", c.Args().First())}
			}
			sf, err := studyFlagsOf(c)
			if err != nil {
				return err
			}
			o := StudyOptions{Out: c.String("out"), Preset: c.String("preset"), Jobs: c.Int("jobs"), Export: c.String("export"), Study: sf,
				Task: c.String("task"), Partial: c.Bool("partial"), Emit: c.String("emit"), Cluster: emitJobOf(c)}
			if o.Stage, err = parseStage(c.String("stage")); err != nil {
				return err
			}
			if o.ColdStart, err = parseColdStart(c.String("cold-start")); err != nil {
				return err
			}
			if o.Envs, err = parseEnvs("envs", c.String("envs")); err != nil {
				return err
			}
			if o.Arms, err = parseArms("arms", c.String("arms")); err != nil {
				return err
			}
			seeds := c.String("seeds")
			if o.Preset == trainer.PresetPower && !c.IsSet("seeds") {
				seeds = fmt.Sprintf("1-%d", powerSeeds)
			}
			if o.Seeds, err = parseSeeds(seeds); err != nil {
				return err
			}
			return runStudy(c.Context, o, e)
		},
	}
}

func newQuickstartCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:      "quickstart",
		Usage:     "train small GRPO and GCD runs on household, run every analysis and write the HTML report (minutes on 2 cores)",
		ArgsUsage: " ",
		Description: "The tour in one command: `gradcouple study` with one seed of GRPO and of GCD on household\n" +
			"at the quick preset, both from one shared cold start. It writes DIR/household/{grpo-1,gcd-1} (run\n" +
			"directories), DIR/cold-start (their cold start), DIR/figures, DIR/tables (parquet and CSV) and\n" +
			"DIR/report.html. Run it again after an interruption to continue.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "quickstart", Usage: "write everything into `DIR`"},
		},
		Action: func(c *ucli.Context) error {
			if c.Args().Len() > 0 {
				return &UsageError{Msg: fmt.Sprintf("quickstart takes no arguments (got %q); use --out DIR", c.Args().First())}
			}
			out := c.String("out")
			arms, err := parseArms("arms", "grpo,gcd")
			if err != nil {
				return err
			}
			return runStudy(c.Context, StudyOptions{Out: out, Envs: []string{env.Household}, Arms: arms,
				Seeds: []uint64{1}, Preset: trainer.PresetQuick, Jobs: 1, Export: filepath.Join(out, "tables"),
				Title: "gradcouple quickstart: GRPO vs GCD on household", Study: defaultStudyFlags()}, e)
		},
	}
}

// runStudy trains the planned runs, studies them together, and writes the
// figures, the tables and the report.
func runStudy(ctx context.Context, o StudyOptions, e *Env) error {
	if err := o.Study.check(); err != nil {
		return err
	}
	if _, err := trainer.Defaults(o.Preset, trainer.AlgoGRPO); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	start := e.Now()
	cold := o.ColdStart
	if cold == "" {
		cold = coldVerdict
	}
	plan, err := planRuns(o.Out, o.Preset, o.Envs, o.Arms, o.Seeds, cold, o.tweak)
	if err != nil {
		return err
	}
	if o.Task != "" && o.Stage != stageCold && o.Stage != stageTrain {
		return &UsageError{Msg: "study --task: give --stage cold or --stage train (a task is one run of a training stage)"}
	}
	if o.Partial && o.Stage != stageReport {
		return &UsageError{Msg: "study --partial: only with --stage report (a whole study trains every run)"}
	}
	if o.Task == "" && o.Stage != stageReport {
		printCost(e.Stderr, plan, len(o.Arms), len(o.Envs), len(o.Seeds))
		if o.Preset == trainer.PresetPower && len(o.Seeds) < powerSeeds {
			warnf(e, "--preset power with %d seed(s): the paired differences rest on fewer than the %d paired seeds per arm the preset is made for", len(o.Seeds), powerSeeds)
		}
	}
	switch {
	case o.Emit != "":
		return emitStudy(o, plan, e)
	case o.Stage == stageCold || o.Stage == stageTrain:
		return trainStage(ctx, o, plan, e)
	}
	runs := plan.Runs
	if o.Stage == stageReport {
		if runs, err = finishedRuns(o, plan, e); err != nil {
			return err
		}
	} else {
		if len(plan.ColdStarts) > 0 {
			fmt.Fprintf(e.Stderr, "training %d shared cold start(s) (preset %s) into %s\n", len(plan.ColdStarts), o.Preset, filepath.Join(o.Out, "cold-start"))
			if err := trainRuns(ctx, plan.ColdStarts, o.Jobs, "cold start ", e); err != nil {
				return err
			}
		}
		fmt.Fprintf(e.Stderr, "training %d runs (preset %s) into %s\n", len(runs), o.Preset, o.Out)
		if err := trainRuns(ctx, runs, o.Jobs, "", e); err != nil {
			return err
		}
	}
	dirs := make([]string, len(runs))
	for k, r := range runs {
		dirs[k] = r.Dir
	}
	report, done := studyProgress(e)
	st, err := analysis.StudyRuns(ctx, dirs, o.Study.options(report, e))
	if err != nil {
		done()
		return err
	}
	cmp, err := analysis.Compare(st, armGroups(runs, len(o.Envs) > 1), analysis.CompareOptions{Final: st.FinalMetrics()})
	if err != nil {
		done()
		return err
	}
	for _, w := range cmp.Warnings {
		warnf(e, "%s", w)
	}
	figDir := filepath.Join(o.Out, "figures")
	// The files are listed by count at the end, not one line each.
	quiet := *e
	quiet.Stdout = io.Discard
	figs := studyFigures(st, cmp, figOptionsOf(o.Study))
	formats := []figure.Format{figure.PNG, figure.SVG}
	err = writeFigures(&quiet, figDir, figs, formats, report)
	if err == nil && o.Export != "" {
		for _, format := range []string{"parquet", "csv"} {
			if err = writeStudyTables(&quiet, o.Export, format, st, cmp); err != nil {
				break
			}
		}
	}
	path := filepath.Join(o.Out, "report.html")
	if err == nil {
		title := o.Title
		if title == "" {
			title = fmt.Sprintf("gradcouple study: %s, %s, seeds %s", strings.Join(armNames(o.Arms), " vs "), strings.Join(o.Envs, " and "), seedList(o.Seeds))
		}
		report("rendering the report")
		rep := buildReport(st, cmp, title, e.Now().UTC().Format(time.RFC3339), figOptionsOf(o.Study))
		if err = os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
			err = rep.WriteFile(path)
		}
	}
	done()
	if err != nil {
		return err
	}
	if err := printStudySummary(e, st, cmp); err != nil {
		return err
	}
	printNotes(e, st)
	fmt.Fprintf(e.Stdout, "\nfigures: %s (%d figures, %s)\n", figDir, len(figs), "PNG and SVG")
	if o.Export != "" {
		fmt.Fprintf(e.Stdout, "tables:  %s (parquet and CSV)\n", o.Export)
	}
	fmt.Fprintf(e.Stdout, "report:  %s\n\n%d runs studied in %s (analysis seed %d)\n", path, len(runs), e.Now().Sub(start).Round(time.Second), o.Study.Seed)
	return nil
}

// studyChange is a headline metric of a group at the first and last
// iteration where it was measured, with the bootstrap interval over runs.
type studyChange struct {
	Group     string  `parquet:"group"`
	Metric    string  `parquet:"metric"`
	Runs      int     `parquet:"runs"`
	First     int     `parquet:"first_iteration"`
	FirstMean float64 `parquet:"first_mean"`
	Last      int     `parquet:"last_iteration"`
	LastMean  float64 `parquet:"last_mean"`
	LastLo    float64 `parquet:"last_ci_lo"`
	LastHi    float64 `parquet:"last_ci_hi"`
}

// printStudySummary prints the groups, the final performance and the
// probability of improvement (as compare does), and the headline metrics
// at their first and last measurement (compare and the tables have every
// iteration).
func printStudySummary(e *Env, st *analysis.Study, cmp *analysis.Comparison) error {
	w := e.Stdout
	fmt.Fprintln(w)
	// The per-family and per-shift breakdowns (METRIC/SUFFIX) are in the
	// tables and the report; stdout has the overall rates.
	head := *cmp
	head.Final = slices.DeleteFunc(slices.Clone(cmp.Final), func(r analysis.FinalRow) bool { return strings.Contains(r.Metric, "/") })
	head.Improvements = slices.DeleteFunc(slices.Clone(cmp.Improvements), func(r analysis.ImprovementRow) bool { return strings.Contains(r.Metric, "/") })
	head.Paired = slices.DeleteFunc(slices.Clone(cmp.Paired), func(r analysis.PairedRow) bool { return strings.Contains(r.Metric, "/") })
	if err := printFinal(w, st, &head); err != nil {
		return err
	}
	if n := len(cmp.FinalMetrics()) - len(head.FinalMetrics()); n > 0 {
		fmt.Fprintf(w, "\n%d per-family and per-shift success metrics (METRIC/FAMILY): final performance, P(x > y) and paired differences in the report and the tables final, improvement and paired\n", n)
	}
	var rows []studyChange
	for _, g := range cmp.Groups {
		for _, m := range compareHeadline {
			var first, last *analysis.CompareRow
			for k := range cmp.Rows {
				r := &cmp.Rows[k]
				if r.Group != g.Name || r.Metric != m {
					continue
				}
				if first == nil || r.Iteration < first.Iteration {
					first = r
				}
				if last == nil || r.Iteration > last.Iteration {
					last = r
				}
			}
			if first != nil {
				rows = append(rows, studyChange{Group: g.Name, Metric: m, Runs: last.Runs, First: first.Iteration, FirstMean: first.Mean,
					Last: last.Iteration, LastMean: last.Mean, LastLo: last.Lo, LastHi: last.Hi})
			}
		}
	}
	if len(rows) > 0 {
		fmt.Fprintln(w, "\nOver training: mean over runs at the first and last measurement (every iteration: the tables and the report)")
		if err := emit(w, "", rows, nil); err != nil {
			return err
		}
	}
	return printClaims(w, cmp)
}

// parseNames parses a comma-separated list of names, each one of valid.
func parseNames(flag, s string, valid []string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		ok := false
		for _, v := range valid {
			ok = ok || f == v
		}
		if !ok {
			return nil, &UsageError{Msg: fmt.Sprintf("--%s: %q is not one of %s", flag, f, strings.Join(valid, ", "))}
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, &UsageError{Msg: fmt.Sprintf("--%s: empty list", flag)}
	}
	return out, nil
}

// parseEnvs parses a comma-separated list of environment names: household,
// lab, their variants (household-twin, lab-twin-alias, ...) and bandits,
// each in its canonical spelling (env.CanonicalName) and given once.
func parseEnvs(flag, s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		name, err := env.CanonicalName(f)
		if err != nil {
			return nil, &UsageError{Msg: fmt.Sprintf("--%s: %v", flag, err)}
		}
		if slices.Contains(out, name) {
			return nil, &UsageError{Msg: fmt.Sprintf("--%s: %s is given twice", flag, name)}
		}
		out = append(out, name)
	}
	if len(out) == 0 {
		return nil, &UsageError{Msg: fmt.Sprintf("--%s: empty list", flag)}
	}
	return out, nil
}

// parseSeeds parses a comma-separated list of seeds and ranges A-B.
func parseSeeds(s string) ([]uint64, error) {
	var seeds []uint64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		lo, hi, isRange := strings.Cut(f, "-")
		if !isRange {
			hi = lo
		}
		a, errA := strconv.ParseUint(strings.TrimSpace(lo), 10, 64)
		b, errB := strconv.ParseUint(strings.TrimSpace(hi), 10, 64)
		switch {
		case errA != nil || errB != nil:
			return nil, &UsageError{Msg: fmt.Sprintf("--seeds %q: %q is not a seed (a non-negative integer) or a range A-B", s, f)}
		case b < a || b-a >= 10000:
			return nil, &UsageError{Msg: fmt.Sprintf("--seeds %q: range %q is empty or longer than 10000 seeds", s, f)}
		}
		for v := a; ; v++ {
			if slices.Contains(seeds, v) {
				return nil, &UsageError{Msg: fmt.Sprintf("--seeds %q: seed %d is given twice", s, v)}
			}
			seeds = append(seeds, v)
			if v == b {
				break
			}
		}
	}
	return seeds, nil
}

// parseColdStart checks the value of --cold-start.
func parseColdStart(s string) (string, error) {
	switch s {
	case coldVerdict, coldPlain, coldOwn:
		return s, nil
	}
	return "", &UsageError{Msg: fmt.Sprintf("--cold-start %q: want %s, %s or %s", s, coldVerdict, coldPlain, coldOwn)}
}

// armNames are the names of the arms.
func armNames(arms []studyArm) []string {
	out := make([]string, len(arms))
	for k, a := range arms {
		out[k] = a.Name
	}
	return out
}

// armGroups groups the study's runs by arm, environment by environment,
// in the order planned (the first arm, GRPO by default, is the baseline of
// the probability of improvement and the paired differences: every later
// group is compared with every earlier one of its environment). With
// several environments a group is named "ENV ARM".
func armGroups(runs []plannedRun, byEnv bool) []analysis.RunGroup {
	var out []analysis.RunGroup
	idx := map[string]int{}
	for _, r := range runs {
		name := r.Arm
		if byEnv {
			name = r.Env + " " + r.Arm
		}
		k, ok := idx[name]
		if !ok {
			k = len(out)
			idx[name] = k
			out = append(out, analysis.RunGroup{Name: name})
		}
		out[k].Runs = append(out[k].Runs, r.name())
	}
	return out
}

func seedList(seeds []uint64) string {
	s := make([]string, len(seeds))
	for k, v := range seeds {
		s[k] = fmt.Sprint(v)
	}
	return strings.Join(s, ",")
}
