package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/figure"
	ucli "github.com/urfave/cli/v2"
)

// CompareOptions are the inputs of `gradcouple compare`.
type CompareOptions struct {
	A, B         []string // run directories or glob patterns of each group
	NameA, NameB string   // group names; "" means the runs' algorithm (or A, B)
	Out          string   // figure directory
	Formats      []figure.Format
	Tables       string
	Study        StudyFlags
}

func newCompareCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:  "compare",
		Usage: "compare two groups of runs over seeds (GRPO vs GCD): per-iteration means with bootstrap intervals, final IQM, probability of improvement, figures",
		Description: "--a and --b name the runs of each group, repeatable: run directories, step records of\n" +
			"one run (a log file in any format the log commands read, a directory of log files), or quoted\n" +
			"glob patterns: one that matches directories ('runs/grpo-*') gives one run per directory, one\n" +
			"that matches files ('verl/seed1/*.jsonl') one run with those files. Every run is analysed as by `gradcouple figures` (one probe set\n" +
			"per environment, shared by both groups), then summarised per group: every per-iteration\n" +
			"metric as the mean over the group's runs with a 95% percentile bootstrap interval (runs\n" +
			"resampled); final performance (the last evaluation's success, in-domain and out-of-domain) as\n" +
			"the interquartile mean over runs with a stratified bootstrap interval (environments are the\n" +
			"strata); and P(B > A), the probability that a run of B ends better than a run of A (Agarwal\n" +
			"et al. 2021). Tables go to stdout, figures (a)-(i) to --out. Runs given as logs alone get the\n" +
			"figures that need only logs (b, d, e, f, i); stderr says how to get the others. Analyses are\n" +
			"cached beside the inputs (--cache, --no-cache; see gradcouple figures --help).",
		Flags: append([]ucli.Flag{
			&ucli.StringSliceFlag{Name: "a", Usage: "runs `DIR|GLOB` of group A (repeatable)"},
			&ucli.StringSliceFlag{Name: "b", Usage: "runs `DIR|GLOB` of group B (repeatable)"},
			&ucli.StringFlag{Name: "a-name", Usage: "`NAME` of group A (default: its runs' algorithm)"},
			&ucli.StringFlag{Name: "b-name", Usage: "`NAME` of group B (default: its runs' algorithm)"},
			&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "compare", Usage: "write the figures to `DIR`"},
			formatFlag, tablesFlag,
		}, studyFlags()...),
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return &UsageError{Msg: fmt.Sprintf("compare: unexpected argument %q; give the groups with --a and --b (quote glob patterns)", c.Args().First())}
			}
			sf, err := studyFlagsOf(c)
			if err != nil {
				return err
			}
			formats, err := parseFormats(c.String("format"))
			if err != nil {
				return err
			}
			return runCompare(c.Context, CompareOptions{A: c.StringSlice("a"), B: c.StringSlice("b"),
				NameA: c.String("a-name"), NameB: c.String("b-name"), Out: c.String("out"), Formats: formats,
				Tables: c.String("tables"), Study: sf}, e)
		},
	}
}

// expandRuns expands the inputs of a group: a run directory, a log file or
// a directory of log files is one run; a glob pattern that matches
// directories is one run per directory (sorted), and one that matches files
// is one run whose step records are those files. A pattern that matches
// nothing is bad input.
func expandRuns(flag string, patterns []string) ([]string, error) {
	name := "--" + flag
	if flag == "" {
		name = "input"
	}
	var out []string
	add := func(d string) {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	for _, p := range patterns {
		if _, err := os.Stat(p); err == nil {
			add(p)
			continue
		}
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, &UsageError{Msg: fmt.Sprintf("%s %q: %v", name, p, err)}
		}
		if len(m) == 0 {
			return nil, &UsageError{Msg: fmt.Sprintf("%s %q: no such run directory or log file", name, p)}
		}
		sort.Strings(m)
		dirs := true
		for _, d := range m {
			st, err := os.Stat(d)
			dirs = dirs && err == nil && st.IsDir()
		}
		if !dirs {
			add(p) // the step records of one run
			continue
		}
		for _, d := range m {
			add(d)
		}
	}
	return out, nil
}

// groupName is the algorithm shared by the runs, else def.
func groupName(st *analysis.Study, runs []string, def string) string {
	algo := ""
	for i, rn := range runs {
		r, _ := st.Run(rn)
		if i == 0 {
			algo = r.Algo
		} else if r.Algo != algo {
			return def
		}
	}
	if algo == "" {
		return def
	}
	return algo
}

func runCompare(ctx context.Context, o CompareOptions, e *Env) error {
	if err := firstErr(o.Study.check(), checkTables(o.Tables)); err != nil {
		return err
	}
	if len(o.A) == 0 || len(o.B) == 0 {
		return &UsageError{Msg: "compare: want --a RUNS and --b RUNS (directories or quoted glob patterns)"}
	}
	a, err := expandRuns("a", o.A)
	if err != nil {
		return err
	}
	b, err := expandRuns("b", o.B)
	if err != nil {
		return err
	}
	for _, d := range b {
		if slices.Contains(a, d) {
			return &UsageError{Msg: fmt.Sprintf("compare: %s is in both --a and --b", d)}
		}
	}
	if err := firstErr(guardOutputs(append(append([]string{}, a...), b...), output{flag: "out", path: o.Out}), checkOutDir("out", o.Out)); err != nil {
		return err
	}
	report, done := studyProgress(e)
	st, err := analysis.StudyRuns(ctx, append(append([]string{}, a...), b...), o.Study.options(report, e))
	done()
	if err != nil {
		return err
	}
	var na, nb []string
	for i, r := range st.Runs {
		if i < len(a) {
			na = append(na, r.Name)
		} else {
			nb = append(nb, r.Name)
		}
	}
	ga := analysis.RunGroup{Name: o.NameA, Runs: na}
	gb := analysis.RunGroup{Name: o.NameB, Runs: nb}
	if ga.Name == "" {
		ga.Name = groupName(st, na, "A")
	}
	if gb.Name == "" {
		gb.Name = groupName(st, nb, "B")
	}
	if ga.Name == gb.Name {
		if o.NameA != "" && o.NameA == o.NameB {
			return &UsageError{Msg: fmt.Sprintf("compare: --a-name and --b-name are both %q", o.NameA)}
		}
		ga.Name, gb.Name = ga.Name+" (A)", gb.Name+" (B)"
	}
	cmp, err := analysis.Compare(st, []analysis.RunGroup{ga, gb}, analysis.CompareOptions{})
	if err != nil {
		return err
	}
	for _, w := range cmp.Warnings {
		warnf(e, "%s", w)
	}
	if err := printComparison(e, st, cmp); err != nil {
		return err
	}
	figs := withCheckpoints(st, studyFigures(st, cmp, figOptionsOf(o.Study)))
	if err := writeFigures(e, o.Out, figs, o.Formats, report); err != nil {
		return err
	}
	printNotes(e, st)
	printGaps(e, st)
	if o.Tables != "" {
		return writeStudyTables(e, filepath.Join(o.Out, "tables"), o.Tables, st, cmp)
	}
	return nil
}

// compareHeadline are the metrics compare prints per iteration.
var compareHeadline = []string{
	analysis.MetricEvalInGreedy, analysis.MetricEvalOutGreedy,
	analysis.SeriesHighJudgeBad, analysis.SeriesHarmfulRate, analysis.SeriesCosGoodBad, analysis.SeriesProbeAccVerdict,
}

// printFinal prints the groups, the final performance and the probability
// of improvement.
func printFinal(w io.Writer, st *analysis.Study, cmp *analysis.Comparison) error {
	for _, g := range cmp.Groups {
		fmt.Fprintf(w, "group %s: %d run(s): %v\n", g.Name, len(g.Runs), g.Runs)
	}
	fmt.Fprintf(w, "seed %d; intervals: 95%% percentile bootstrap, %d resamples\n\n", st.Seed, st.Options.Bootstrap.Resamples)
	fmt.Fprintln(w, "Final performance (last evaluation): IQM over runs, stratified bootstrap interval")
	if err := emit(w, "", cmp.Final, nil); err != nil {
		return err
	}
	if len(cmp.Improvements) > 0 {
		fmt.Fprintln(w, "\nProbability of improvement P(x > y) of final performance")
		if err := emit(w, "", cmp.Improvements, nil); err != nil {
			return err
		}
	}
	if len(cmp.Paired) > 0 {
		fmt.Fprintln(w, "\nPaired difference x - y over runs with the same environment and seed: mean, bootstrap interval, P(mean > 0), minimum detectable effect (80% power, 5% two-sided)")
		return emit(w, "", cmp.Paired, nil)
	}
	return nil
}

// printComparison prints the groups, the final performance, the
// probability of improvement and the headline metrics over training.
func printComparison(e *Env, st *analysis.Study, cmp *analysis.Comparison) error {
	w := e.Stdout
	if err := printFinal(w, st, cmp); err != nil {
		return err
	}
	var rows []analysis.CompareRow
	for _, m := range compareHeadline {
		for _, r := range cmp.Rows {
			if r.Metric == m {
				rows = append(rows, r)
			}
		}
	}
	if len(rows) > 0 {
		fmt.Fprintln(w, "\nOver training: mean over runs with 95% bootstrap interval (every metric: --tables)")
		if err := emit(w, "", rows, nil); err != nil {
			return err
		}
	}
	if err := printClaims(w, cmp); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return nil
}

// printClaims prints the tests of the claims of DESIGN.md §1
// (analysis.Claims), if the runs hold any.
func printClaims(w io.Writer, cmp *analysis.Comparison) error {
	if len(cmp.Claims) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nClaims of DESIGN.md §1: effect over seeds, 95% bootstrap interval, share of resamples on the claimed side, MDE (80% power); "+
		"reproduced = interval on the claimed side of 0, not reproduced = on the other side or excluding every claimed effect >= MDE")
	return emit(w, "", cmp.Claims, nil)
}
