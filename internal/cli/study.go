package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/figure"
	"github.com/gradcouple/gradcouple/trainer"
	ucli "github.com/urfave/cli/v2"
)

// StudyOptions are the inputs of `gradcouple study` and `gradcouple
// quickstart`: which runs to train, and where the analyses go.
type StudyOptions struct {
	Out    string // runs are trained into Out/ENV/ALGO-SEED
	Envs   []string
	Algos  []string
	Seeds  []uint64
	Preset string
	Jobs   int // runs trained at once
	// Export, if not empty, receives every table as parquet and CSV; the
	// figures (PNG and SVG) go to Out/figures and the report to
	// Out/report.html.
	Export string
	Title  string
	Study  StudyFlags

	tweak func(*trainer.Config) // tests: shrink the runs after the preset
}

func newStudyCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:      "study",
		Usage:     "train GRPO and GCD over environments and seeds, analyse every run, compare the methods, export the tables",
		ArgsUsage: " ",
		Description: "Trains every (environment, algorithm, seed) into OUT/ENV/ALGO-SEED with the preset's\n" +
			"configuration (a finished run is kept, an interrupted one resumed: run the same command again\n" +
			"after an interruption), then runs the analyses of `gradcouple report` on all of them with one\n" +
			"probe set per environment, compares the algorithms within each environment over seeds, and\n" +
			"writes the figures (OUT/figures), the report (OUT/report.html) and, with --export, every\n" +
			"table as parquet and CSV. The reference study of the README is this command with its defaults.",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "runs/study", Usage: "train the runs into `DIR`/ENV/ALGO-SEED and write figures and report there"},
			&ucli.StringFlag{Name: "envs", Value: "household,lab", Usage: "environments `LIST`"},
			&ucli.StringFlag{Name: "algos", Value: "grpo,gcd", Usage: "algorithms `LIST`"},
			&ucli.StringFlag{Name: "seeds", Value: "1,2,3", Usage: "training seeds `LIST`"},
			&ucli.StringFlag{Name: "preset", Value: trainer.PresetStudy, Usage: "training `PRESET` (see gradcouple train --help)"},
			&ucli.IntFlag{Name: "jobs", Value: 1, Usage: "train `N` runs at once (each uses every core for its rollouts)"},
			&ucli.StringFlag{Name: "export", Usage: "also write every table as parquet and CSV into `DIR` (e.g. notebooks-data)"},
		}, studyFlags()...),
		Action: func(c *ucli.Context) error {
			if c.Args().Len() > 0 {
				return &UsageError{Msg: fmt.Sprintf("study takes no arguments (got %q); the runs go to --out", c.Args().First())}
			}
			sf, err := studyFlagsOf(c)
			if err != nil {
				return err
			}
			o := StudyOptions{Out: c.String("out"), Preset: c.String("preset"), Jobs: c.Int("jobs"), Export: c.String("export"), Study: sf}
			if o.Envs, err = parseNames("envs", c.String("envs"), env.Names()); err != nil {
				return err
			}
			if o.Algos, err = parseNames("algos", c.String("algos"), []string{trainer.AlgoGRPO, trainer.AlgoGCD}); err != nil {
				return err
			}
			if o.Seeds, err = parseSeeds(c.String("seeds")); err != nil {
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
			"at the quick preset. It writes DIR/household/{grpo-1,gcd-1} (run directories), DIR/figures,\n" +
			"DIR/tables (parquet and CSV) and DIR/report.html. Run it again after an interruption to continue.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "quickstart", Usage: "write everything into `DIR`"},
		},
		Action: func(c *ucli.Context) error {
			if c.Args().Len() > 0 {
				return &UsageError{Msg: fmt.Sprintf("quickstart takes no arguments (got %q); use --out DIR", c.Args().First())}
			}
			out := c.String("out")
			return runStudy(c.Context, StudyOptions{Out: out, Envs: []string{env.Household}, Algos: []string{trainer.AlgoGRPO, trainer.AlgoGCD},
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
	runs := planRuns(o.Out, o.Preset, o.Envs, o.Algos, o.Seeds, o.tweak)
	fmt.Fprintf(e.Stderr, "training %d runs (preset %s) into %s\n", len(runs), o.Preset, o.Out)
	if err := trainRuns(ctx, runs, o.Jobs, e); err != nil {
		return err
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
	cmp, err := analysis.Compare(st, analysis.GroupByEnvAlgo(st), analysis.CompareOptions{})
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
			title = fmt.Sprintf("gradcouple study: %s, %s, seeds %s", strings.Join(o.Algos, " vs "), strings.Join(o.Envs, " and "), seedList(o.Seeds))
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
	if err := printFinal(w, st, cmp); err != nil {
		return err
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
		return emit(w, "", rows, nil)
	}
	return nil
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

// parseSeeds parses a comma-separated list of seeds.
func parseSeeds(s string) ([]uint64, error) {
	ints, err := parseInts("seeds", s)
	if err != nil {
		return nil, err
	}
	seeds := make([]uint64, len(ints))
	for k, v := range ints {
		if v < 0 {
			return nil, &UsageError{Msg: fmt.Sprintf("--seeds: %d is negative", v)}
		}
		seeds[k] = uint64(v)
	}
	return seeds, nil
}

func seedList(seeds []uint64) string {
	s := make([]string, len(seeds))
	for k, v := range seeds {
		s[k] = fmt.Sprint(v)
	}
	return strings.Join(s, ",")
}
