package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/figure"
	"github.com/gradcouple/gradcouple/internal/table"
	"github.com/gradcouple/gradcouple/metrics"
	ucli "github.com/urfave/cli/v2"
)

// StudyFlags are the settings of the study behind figures, compare and
// report (analysis.StudyOptions).
type StudyFlags struct {
	Seed              uint64
	Checkpoints       []int
	ConsistencyStates int // 0: no resampling
	CouplingProbes    int // 0: no coupling
	MinVisits         int
	Resamples         int
	Smooth            float64
	// Cache is the directory of the analysis cache ("": beside each
	// input, INPUT/.gradcouple-cache); NoCache recomputes everything and
	// leaves the cache alone.
	Cache   string
	NoCache bool
	// IndependentScales gives every panel and heatmap its own scale; by
	// default the panels and heatmaps meant to be compared share one.
	IndependentScales bool
}

// defaultStudyFlags are the defaults of the study flags (for callers such
// as the quickstart that build ReportOptions without flags).
func defaultStudyFlags() StudyFlags {
	return StudyFlags{Seed: 1, ConsistencyStates: 32, CouplingProbes: 128, MinVisits: 10, Resamples: 2000}
}

// studyFlags are the flags of StudyFlags, shared by figures, compare and
// report.
func studyFlags() []ucli.Flag {
	d := defaultStudyFlags()
	return []ucli.Flag{
		&ucli.Uint64Flag{Name: "seed", Value: d.Seed, Usage: "`SEED` of every draw: probe states, samples, bootstrap (recorded in the outputs)"},
		&ucli.StringFlag{Name: "checkpoints", Usage: "resample and measure coupling at checkpoint iterations `LIST` (default: every checkpoint)"},
		&ucli.IntFlag{Name: "consistency-states", Value: d.ConsistencyStates, Usage: "resampling probe states `N` of each kind (repeated, random) per environment; 0 skips resampling"},
		&ucli.IntFlag{Name: "probes", Value: d.CouplingProbes, Usage: "coupling probe samples `N` per environment (half good, half bad); 0 skips coupling"},
		&ucli.IntFlag{Name: "min-visits", Value: d.MinVisits, Usage: "Lemma 3.1 check at states with at least `N` visits (iterations pooled)"},
		&ucli.IntFlag{Name: "resamples", Value: d.Resamples, Usage: "bootstrap resamples `B` of every interval"},
		&ucli.Float64Flag{Name: "smooth", Usage: "EMA weight `W` in [0, 1) of the learning curves (raw data stay visible); 0: none"},
		&ucli.StringFlag{Name: "cache", Usage: "keep the results of the analyses in `DIR` (default: .gradcouple-cache beside each input) and reuse them when inputs, code and options are unchanged"},
		&ucli.BoolFlag{Name: "no-cache", Usage: "recompute every analysis; do not read or write the cache"},
		&ucli.BoolFlag{Name: "independent-scales", Usage: "give every panel and heatmap its own scale (default: panels and heatmaps meant to be compared share one, so equal heights and colours mean equal values)"},
	}
}

// studyFlagsOf reads the study flags of a command.
func studyFlagsOf(c *ucli.Context) (StudyFlags, error) {
	f := StudyFlags{Seed: c.Uint64("seed"), ConsistencyStates: c.Int("consistency-states"), CouplingProbes: c.Int("probes"),
		MinVisits: c.Int("min-visits"), Resamples: c.Int("resamples"), Smooth: c.Float64("smooth"),
		Cache: c.String("cache"), NoCache: c.Bool("no-cache"), IndependentScales: c.Bool("independent-scales")}
	if s := c.String("checkpoints"); s != "" {
		var err error
		if f.Checkpoints, err = parseInts("checkpoints", s); err != nil {
			return f, err
		}
	}
	return f, nil
}

func (f StudyFlags) check() error {
	switch {
	case f.ConsistencyStates < 0 || f.CouplingProbes < 0:
		return &UsageError{Msg: "--consistency-states and --probes must be >= 0 (0 skips the analysis)"}
	case f.CouplingProbes == 1:
		return &UsageError{Msg: "--probes 1: want at least 2 probes (one good, one bad), or 0 to skip coupling"}
	case f.MinVisits < 2:
		return &UsageError{Msg: fmt.Sprintf("--min-visits %d: want at least 2", f.MinVisits)}
	case f.Resamples < 1:
		return &UsageError{Msg: fmt.Sprintf("--resamples %d: want at least 1", f.Resamples)}
	case !(f.Smooth >= 0 && f.Smooth < 1):
		return &UsageError{Msg: fmt.Sprintf("--smooth %v: want a weight in [0, 1)", f.Smooth)}
	case f.NoCache && f.Cache != "":
		return &UsageError{Msg: "--cache and --no-cache: give one"}
	}
	if f.Cache != "" {
		if st, err := os.Stat(f.Cache); err == nil && !st.IsDir() {
			return &UsageError{Msg: fmt.Sprintf("--cache %s: not a directory", f.Cache)}
		}
	}
	return nil
}

// options turns the flags into study options; progress may be nil. Warnings
// of the study (a cache it cannot use) go to e's stderr.
func (f StudyFlags) options(progress func(string), e *Env) analysis.StudyOptions {
	o := analysis.StudyOptions{Seed: f.Seed, Checkpoints: f.Checkpoints, ConsistencyStates: f.ConsistencyStates,
		CouplingProbes: f.CouplingProbes, MinVisits: f.MinVisits, Bootstrap: metrics.BootstrapConfig{Resamples: f.Resamples},
		Progress: progress, Warn: func(msg string) { warnf(e, "%s", msg) }}
	if !f.NoCache {
		o.Cache = &analysis.StudyCache{Dir: f.Cache}
	}
	if f.ConsistencyStates == 0 {
		o.ConsistencyStates = -1
	}
	if f.CouplingProbes == 0 {
		o.CouplingProbes = -1
	}
	return o
}

// warnf writes a warning line to stderr (clearing a progress line on a
// terminal first).
func warnf(e *Env, format string, args ...any) {
	if e.Terminal {
		fmt.Fprint(e.Stderr, "\r\033[K")
	}
	fmt.Fprintf(e.Stderr, "warning: "+format+"\n", args...)
}

// studyProgress reports the steps of long work on stderr: redrawn in place on a
// terminal, one line per step otherwise (so that batch logs show where a
// job is). The study's messages say which step of how many, which unit of
// the step of how many, and the time left in the step. done clears the line.
func studyProgress(e *Env) (report func(string), done func()) {
	start := e.Now()
	stamp := func() string { return fmt.Sprintf("[%3.0fs]", e.Now().Sub(start).Seconds()) }
	if e.Terminal {
		return func(what string) { fmt.Fprintf(e.Stderr, "\r\033[K%s %s", stamp(), what) },
			func() { fmt.Fprint(e.Stderr, "\r\033[K") }
	}
	return func(what string) { fmt.Fprintf(e.Stderr, "%s %s\n", stamp(), what) }, func() {}
}

// FiguresOptions are the inputs of `gradcouple figures RUN`.
type FiguresOptions struct {
	Run     string
	Out     string // directory; "" means RUN/figures
	Formats []figure.Format
	Tables  string // "" or a table format: csv, parquet, json
	Study   StudyFlags
}

// formatFlag is --format of figures and compare.
var formatFlag = &ucli.StringFlag{Name: "format", Value: "png,svg,pdf", Usage: "figure formats `LIST` (png, svg, pdf)"}

// tablesFlag is --tables of figures and compare.
var tablesFlag = &ucli.StringFlag{Name: "tables", Usage: "also write every table of the study to DIR/tables/ in `FORMAT` (csv, parquet or json)"}

func parseFormats(s string) ([]figure.Format, error) {
	var out []figure.Format
	for _, f := range splitList(s) {
		switch ff := figure.Format(strings.ToLower(f)); ff {
		case figure.PNG, figure.SVG, figure.PDF:
			out = append(out, ff)
		default:
			return nil, &UsageError{Msg: fmt.Sprintf("--format %q: want a list of png, svg and pdf", s)}
		}
	}
	if len(out) == 0 {
		return nil, &UsageError{Msg: "--format: want at least one of png, svg and pdf"}
	}
	return out, nil
}

func checkTables(s string) error {
	switch s {
	case "", "csv", "parquet", "json":
		return nil
	}
	return &UsageError{Msg: fmt.Sprintf("--tables %q: want csv, parquet or json", s)}
}

func newFiguresCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:      "figures",
		Usage:     "every figure of a run: consistency, repetition, heatmap, squeezing, Lemma 3.1, learning curves, coupling, separation, final performance, coupling by tensor group",
		ArgsUsage: "RUN|LOGS",
		Description: "Runs every analysis on the run directory RUN (metrics.jsonl, logs/, checkpoints/), or on LOGS,\n" +
			"the step records of a run made elsewhere (a log file, a directory of log files or a quoted glob\n" +
			"of them, in any format the log commands read), and writes the figures of the study, (a) to (j),\n" +
			"to --out (default RUN/figures, or NAME-figures beside LOGS) in each --format:\n" +
			"  a-consistency       share of high-consistency actions over training by judge label (resampling)\n" +
			"  b-repetition        repeated actions in successful and failed trajectories\n" +
			"  c-heatmap           coupling heatmap at the last checkpoint, predicted and measured\n" +
			"  d-squeeze           the squeezing simulator (Theorem 3.2)\n" +
			"  e-lemma             Lemma 3.1: predicted vs empirical advantage mass of flawed actions; Monte Carlo\n" +
			"  f-learning-curves   in-domain and out-of-domain evaluation success\n" +
			"  g-coupling          harmful-coupling rate and good x bad gradient cosine over training\n" +
			"  h-separation        representation separation of good and bad actions over training\n" +
			"  i-final             final performance (IQM) and probability of improvement\n" +
			"  j-tensors           where coupling lives: the gradient Gram by parameter tensor group\n" +
			"a, c, g, h and j need the policy's checkpoints: from logs alone they are left out and stderr says\n" +
			"how to get them; f and i come from metrics.jsonl, or from the success of the step records.\n" +
			"Resampling and coupling are the slow parts (seconds per checkpoint); --consistency-states and\n" +
			"--probes size them, --checkpoints restricts them. Progress on stderr gives the step (k of n),\n" +
			"the unit within it (k of n) and the time left in the step.\n" +
			"Analyses are computed once: their results are cached in .gradcouple-cache beside each input (or\n" +
			"in --cache DIR), keyed by the identity of the input files (path, size, modification time; the\n" +
			"content of files up to 1 MiB), the code version and the options, so figures, compare and report\n" +
			"on the same runs reuse them; a corrupt entry is recomputed, --no-cache recomputes everything.\n" +
			"A selection without records (logs without train rows) is a warning on stderr with exit status 0.\n" +
			"Use `gradcouple compare` for groups of runs and `gradcouple report` for one HTML page.",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write the figures to `DIR` (default RUN/figures)"},
			formatFlag, tablesFlag,
		}, studyFlags()...),
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 1, "RUN"); err != nil {
				return err
			}
			sf, err := studyFlagsOf(c)
			if err != nil {
				return err
			}
			formats, err := parseFormats(c.String("format"))
			if err != nil {
				return err
			}
			return runFigures(c.Context, FiguresOptions{Run: c.Args().First(), Out: c.String("out"), Formats: formats,
				Tables: c.String("tables"), Study: sf}, e)
		},
	}
}

func runFigures(ctx context.Context, o FiguresOptions, e *Env) error {
	out := o.Out
	if out == "" {
		out = defaultFiguresDir(o.Run)
	}
	if err := firstErr(o.Study.check(), checkTables(o.Tables), guardOutputs([]string{o.Run}, output{flag: "out", path: out}),
		checkOutDir("out", out)); err != nil {
		return err
	}
	report, done := studyProgress(e)
	st, err := analysis.StudyRuns(ctx, []string{o.Run}, o.Study.options(report, e))
	done()
	if err != nil {
		return err
	}
	cmp, err := analysis.Compare(st, analysis.GroupByRun(st), analysis.CompareOptions{})
	if err != nil {
		return err
	}
	for _, w := range cmp.Warnings {
		warnf(e, "%s", w)
	}
	figs := withCheckpoints(st, studyFigures(st, cmp, figOptionsOf(o.Study)))
	if err := writeFigures(e, out, figs, o.Formats, report); err != nil {
		return err
	}
	printNotes(e, st)
	printGaps(e, st)
	if o.Tables != "" {
		return writeStudyTables(e, filepath.Join(out, "tables"), o.Tables, st, cmp)
	}
	return nil
}

// defaultFiguresDir is where figures go without --out: RUN/figures for a
// run directory, NAME-figures beside logs given alone (a log file, a
// directory of log files, a glob).
func defaultFiguresDir(input string) string {
	if st, err := os.Stat(input); err == nil && st.IsDir() && looksLikeRun(input) {
		return filepath.Join(input, "figures")
	}
	parent := filepath.Dir(filepath.Clean(input))
	if strings.ContainsAny(filepath.Base(input), "*?[") {
		if _, err := os.Stat(input); err != nil {
			parent = filepath.Dir(parent)
		}
	}
	return filepath.Join(parent, analysis.LogsName(input)+"-figures")
}

// checkOutDir checks before any work that the output directory dir can be
// made: it is a directory or can be created below its nearest existing
// ancestor, which must be a writable directory. The error names the flag
// and the user's path.
func checkOutDir(flag, dir string) error {
	if dir == "" {
		return nil
	}
	p := filepath.Clean(dir)
	for {
		st, err := os.Stat(p)
		if err == nil {
			if !st.IsDir() {
				if p == filepath.Clean(dir) {
					return &UsageError{Msg: fmt.Sprintf("--%s %s: not a directory", flag, dir)}
				}
				return &UsageError{Msg: fmt.Sprintf("--%s %s: %s is not a directory", flag, dir, p)}
			}
			return checkWritable(flag, dir, p)
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return &UsageError{Msg: fmt.Sprintf("--%s %s: %v", flag, dir, err)}
		}
		up := filepath.Dir(p)
		if up == p {
			return &UsageError{Msg: fmt.Sprintf("--%s %s: no existing directory above it", flag, dir)}
		}
		p = up
	}
}

// checkOutFile checks before any work that the file path can be written:
// its directory exists (it is not created: a missing directory is more
// likely a typo) and is writable, and path is not a directory.
func checkOutFile(flag, path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return &UsageError{Msg: fmt.Sprintf("--%s %s: is a directory, want a file", flag, path)}
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &UsageError{Msg: fmt.Sprintf("--%s %s: directory %s does not exist", flag, path, dir)}
	case err != nil:
		return &UsageError{Msg: fmt.Sprintf("--%s %s: %v", flag, path, err)}
	case !st.IsDir():
		return &UsageError{Msg: fmt.Sprintf("--%s %s: %s is not a directory", flag, path, dir)}
	}
	return checkWritable(flag, path, dir)
}

// checkWritable tries a temporary file in dir, the directory that will
// hold the output path of flag.
func checkWritable(flag, path, dir string) error {
	f, err := os.CreateTemp(dir, ".gradcouple-write-check-*")
	if err != nil {
		return &UsageError{Msg: fmt.Sprintf("--%s %s: cannot write into %s: %v", flag, path, dir, errors.Unwrap(err))}
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// printNotes prints what the study skipped, and on stderr which inputs an
// adapter read.
func printNotes(e *Env, st *analysis.Study) {
	logSources(e, analysis.Sources{Inputs: st.Inputs})
	for _, n := range st.Notes {
		fmt.Fprintf(e.Stdout, "note: %s\n", n)
	}
}

// hasCheckpoints reports whether any run of the study has checkpoints.
func hasCheckpoints(st *analysis.Study) bool { return len(st.NoCheckpoints) < len(st.Runs) }

// checkpointHelp says which sections need checkpoints or gradients and how
// to get them, for runs given as logs (or run directories without
// checkpoints).
func checkpointHelp(st *analysis.Study) string {
	return fmt.Sprintf("Not computed: %s need the policy's checkpoints, and there are none for %s. To get them: "+
		"coupling from per-sample gradients computed elsewhere (EleutherAI Bergson, .npy or .safetensors, with a table of the samples): "+
		"`gradcouple coupling --grads STORE --samples TABLE`; every section: runs trained by the bundled trainer (`gradcouple train`, "+
		"`gradcouple quickstart`), which write checkpoints. Reading your own Hugging Face checkpoints is not supported yet.",
		strings.Join(analysis.CheckpointSections, ", "), strings.Join(st.NoCheckpoints, ", "))
}

// printGaps warns on stderr about empty selections and about the sections
// that need checkpoints. Neither is an error: the exit status stays 0.
func printGaps(e *Env, st *analysis.Study) {
	for _, m := range st.Empty {
		warnf(e, "%s", m)
	}
	if len(st.NoCheckpoints) > 0 {
		fmt.Fprintf(e.Stderr, "%s\n", checkpointHelp(st))
	}
}

// withCheckpoints leaves out the figures that need checkpoints when no run
// of the study has any (they would be empty frames).
func withCheckpoints(st *analysis.Study, figs []namedFigure) []namedFigure {
	if hasCheckpoints(st) {
		return figs
	}
	var out []namedFigure
	for _, f := range figs {
		if !checkpointFigure(f.Letter) {
			out = append(out, f)
		}
	}
	return out
}

// checkpointFigure reports whether figure letter needs checkpoints
// (analysis.CheckpointSections).
func checkpointFigure(letter string) bool {
	return letter == "a" || letter == "c" || letter == "g" || letter == "h" || letter == "j"
}

// namedFigure is one figure of a study with its file name and letter.
type namedFigure struct {
	Letter string // a..i
	Name   string // file name without extension, "a-consistency"
	Fig    *figure.Figure
	Run    string // the run of a per-run figure (the heatmap), else ""
}

// writeFigures writes every figure in every format into dir (each file
// atomically) and lists them on stdout.
func writeFigures(e *Env, dir string, figs []namedFigure, formats []figure.Format, report func(string)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	start := e.Now()
	for _, nf := range figs {
		for _, f := range formats {
			path := filepath.Join(dir, nf.Name+"."+string(f))
			if report != nil {
				report("rendering " + path)
			}
			if err := nf.Fig.WriteFile(path); err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "wrote %s\n", path)
		}
	}
	if e.Log != nil {
		e.Log.Info("figures rendered", "figures", len(figs), "formats", len(formats), "seconds", e.Now().Sub(start).Round(time.Millisecond).Seconds())
	}
	return nil
}

// writeStudyTables writes the tables of a study (and comparison) to dir.
func writeStudyTables(e *Env, dir, format string, st *analysis.Study, cmp *analysis.Comparison) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	meta := map[string]string{"seed": st.SeedString()}
	tables := []struct {
		name string
		rows any
	}{
		{"runs", st.Runs}, {"curves", st.Curves}, {"repetition", st.Repetition}, {"log_consistency", st.LogConsistency},
		{"consistency", st.Consistency}, {"consistency_states", st.ConsistencyStates}, {"consistency_probes", st.ConsistencyProbes},
		{"coupling", st.Coupling}, {"coupling_by_similarity", st.BySim}, {"coupling_tensors", st.CouplingTensors}, {"coupling_strata", st.Strata}, {"heatmap", st.Heat}, {"coupling_probes", st.Probes},
		{"advantage", st.Advantage}, {"advantage_summary", st.AdvantageSummary}, {"lemma_sim", st.LemmaSim},
		{"squeeze", st.Squeeze}, {"squeeze_summary", st.SqueezeSummary}, {"inspect", st.Inspect}, {"problems", st.Problems},
		{"series", st.Series}, {"steps", st.Steps},
	}
	if cmp != nil {
		tables = append(tables, []struct {
			name string
			rows any
		}{{"compare", cmp.Rows}, {"final_runs", cmp.FinalRuns}, {"final", cmp.Final}, {"improvement", cmp.Improvements}, {"paired", cmp.Paired}, {"claims", cmp.Claims}}...)
	}
	for _, t := range tables {
		path := filepath.Join(dir, t.name+"."+format)
		if err := table.WriteFile(path, t.rows, meta); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "wrote %s\n", path)
	}
	return nil
}

// figOptions are the settings of the figures.
type figOptions struct {
	Smooth float64
	// Independent gives every panel and heatmap its own scale
	// (--independent-scales).
	Independent bool
}

// figOptionsOf are the figure settings of the study flags.
func figOptionsOf(f StudyFlags) figOptions {
	return figOptions{Smooth: f.Smooth, Independent: f.IndependentScales}
}

func (o figOptions) scales() figure.Scales { return figure.Scales{Independent: o.Independent} }

// studyFigures maps a study and its comparison onto the figures (a)-(i).
// Per-group figures have one panel or line per group of cmp; the heatmap is
// drawn for the first run of each group that has one.
func studyFigures(st *analysis.Study, cmp *analysis.Comparison, opt figOptions) []namedFigure {
	figs := []namedFigure{
		{Letter: "a", Name: "a-consistency", Fig: consistencyFigure(cmp, opt)},
		{Letter: "b", Name: "b-repetition", Fig: repetitionFigure(cmp, opt)},
	}
	// The heatmaps of several runs share one colour scale unless asked
	// otherwise, so that equal colours mean equal values across runs.
	heat := heatmapRuns(st, cmp)
	panels := make([][2]figure.Heatmap, len(heat))
	var all []figure.Heatmap
	for i, run := range heat {
		p, m := heatmapPanels(st, run)
		panels[i] = [2]figure.Heatmap{p, m}
		all = append(all, p, m)
	}
	scale := 0.0
	if !opt.Independent && len(all) > 0 {
		scale = figure.HeatmapScale(all...)
	}
	for i, run := range heat {
		name := "c-heatmap"
		if len(heat) > 1 {
			name += "-" + fileSafe(run)
		}
		fig := figure.CouplingScaled(panels[i][0], panels[i][1], figure.CouplingOptions{Scale: scale})
		figs = append(figs, namedFigure{Letter: "c", Name: name, Fig: fig, Run: run})
	}
	if len(heat) == 0 {
		p, m := heatmapPanels(st, "")
		figs = append(figs, namedFigure{Letter: "c", Name: "c-heatmap", Fig: figure.Coupling(p, m)})
	}
	figs = append(figs,
		namedFigure{Letter: "d", Name: "d-squeeze", Fig: squeezeFigure(st)},
		namedFigure{Letter: "e", Name: "e-lemma", Fig: lemmaFigure(st, cmp)},
		namedFigure{Letter: "f", Name: "f-learning-curves", Fig: learningFigure(cmp, opt)},
		namedFigure{Letter: "g", Name: "g-coupling", Fig: couplingFigure(cmp)},
		namedFigure{Letter: "h", Name: "h-separation", Fig: separationFigure(cmp)},
		namedFigure{Letter: "i", Name: "i-final", Fig: finalFigure(cmp)},
		namedFigure{Letter: "j", Name: "j-tensors", Fig: tensorsFigure(st, cmp)},
	)
	return figs
}

// fileSafe keeps letters, digits, '-', '_' and '.' of a run name.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// curveSeries is the figure series of one group's metric: the mean over
// runs with its bootstrap band (when any point has one) and the run curves
// faint behind it (when there are several).
func curveSeries(cmp *analysis.Comparison, group, metric, label string) (figure.Series, bool) {
	gc, ok := cmp.Curve(group, metric)
	if !ok {
		return figure.Series{}, false
	}
	s := figure.Series{Label: label, X: make([]float64, len(gc.Iterations)), Y: append([]float64(nil), gc.Mean...)}
	for i, it := range gc.Iterations {
		s.X[i] = float64(it)
	}
	for i := range gc.Lo {
		if !math.IsNaN(gc.Lo[i]) {
			s.Lo, s.Hi = append([]float64(nil), gc.Lo...), append([]float64(nil), gc.Hi...)
			break
		}
	}
	if len(gc.Seeds) > 1 {
		for _, sd := range gc.Seeds {
			s.Raw = append(s.Raw, append([]float64(nil), sd...))
		}
	}
	return s, true
}

// groupSeries is curveSeries for every group, labelled by group.
func groupSeries(cmp *analysis.Comparison, metric string) []figure.Series {
	var out []figure.Series
	for _, g := range cmp.Groups {
		if s, ok := curveSeries(cmp, g.Name, metric, g.Name); ok {
			out = append(out, s)
		}
	}
	return out
}

// labelledGroups builds one figure.Group per group with the given metrics
// as series under fixed labels.
func labelledGroups(cmp *analysis.Comparison, metrics, labels []string) []figure.Group {
	var out []figure.Group
	for _, g := range cmp.Groups {
		fg := figure.Group{Name: g.Name}
		for i, m := range metrics {
			if s, ok := curveSeries(cmp, g.Name, m, labels[i]); ok {
				fg.Series = append(fg.Series, s)
			}
		}
		out = append(out, fg)
	}
	return out
}

func consistencyFigure(cmp *analysis.Comparison, opt figOptions) *figure.Figure {
	return figure.ConsistencyScaled(opt.scales(), labelledGroups(cmp,
		[]string{analysis.SeriesHighJudgeGood, analysis.SeriesHighJudgeBad},
		[]string{figure.LabelGood, figure.LabelBad})...)
}

// logConsistencyFigure draws the share of high-consistency states where
// states recur in the logs (train split), one panel per group.
func logConsistencyFigure(cmp *analysis.Comparison, opt figOptions) *figure.Figure {
	return figure.ConsistencyScaled(opt.scales(), labelledGroups(cmp, []string{analysis.SeriesLogConsistencyHigh}, []string{"recurring states in the logs"})...)
}

func repetitionFigure(cmp *analysis.Comparison, opt figOptions) *figure.Figure {
	return figure.RepetitionScaled(opt.scales(), labelledGroups(cmp,
		[]string{analysis.SeriesRepeatSuccess, analysis.SeriesRepeatFailure},
		[]string{figure.LabelSuccess, figure.LabelFailure})...)
}

// heatmapRuns are the runs whose heatmap is drawn: the first run of each
// group that has heatmap cells.
func heatmapRuns(st *analysis.Study, cmp *analysis.Comparison) []string {
	has := map[string]bool{}
	for _, h := range st.Heat {
		has[h.Run] = true
	}
	var out []string
	for _, g := range cmp.Groups {
		for _, r := range g.Runs {
			if has[r] {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// heatCells returns the heatmap cells of a run (its last analysed
// checkpoint).
func heatCells(st *analysis.Study, run string) []analysis.HeatRow {
	var out []analysis.HeatRow
	for _, h := range st.Heat {
		if h.Run == run {
			out = append(out, h)
		}
	}
	return out
}

// heatmapPanels lays a run's heatmap cells out as matrices, predicted and
// measured: rows are the good samples i (updated), columns the bad samples j
// (affected), labelled with their action texts.
func heatmapPanels(st *analysis.Study, run string) (predicted, measured figure.Heatmap) {
	cells := heatCells(st, run)
	var rows, cols []int
	rowIdx, colIdx := map[int]int{}, map[int]int{}
	var rowLab, colLab []string
	for _, h := range cells {
		if _, ok := rowIdx[h.I]; !ok {
			rowIdx[h.I] = len(rows)
			rows = append(rows, h.I)
			rowLab = append(rowLab, h.GoodAction)
		}
		if _, ok := colIdx[h.J]; !ok {
			colIdx[h.J] = len(cols)
			cols = append(cols, h.J)
			colLab = append(colLab, h.BadAction)
		}
	}
	pred, meas := make([][]float64, len(rows)), make([][]float64, len(rows))
	for i := range rows {
		pred[i], meas[i] = make([]float64, len(cols)), make([]float64, len(cols))
		for j := range cols {
			pred[i][j], meas[i][j] = math.NaN(), math.NaN()
		}
	}
	it := -1
	for _, h := range cells {
		pred[rowIdx[h.I]][colIdx[h.J]] = h.Predicted
		meas[rowIdx[h.I]][colIdx[h.J]] = h.Measured
		it = h.Iteration
	}
	title := func(s string) string {
		if it >= 0 {
			return fmt.Sprintf("%s, iteration %d", s, it)
		}
		return s
	}
	ylab := "updated good sample i"
	xlab := "affected bad sample j"
	return figure.Heatmap{Title: title("predicted (first order)"), XLabel: xlab, YLabel: ylab, Rows: rowLab, Cols: colLab, Values: pred},
		figure.Heatmap{Title: title("measured"), XLabel: xlab, YLabel: ylab, Rows: rowLab, Cols: colLab, Values: meas}
}

func squeezeFigure(st *analysis.Study) *figure.Figure {
	p := analysis.SqueezeSuccess
	actions := []string{fmt.Sprintf("good (p = %g)", p[0]), fmt.Sprintf("bad₂ (p = %g)", p[1]), fmt.Sprintf("bad₁ (p = %g)", p[2])}
	var panels []figure.SqueezePanel
	for _, v := range []string{analysis.SqueezeFull, analysis.SqueezeNegative} {
		sp := figure.SqueezePanel{Title: v, Actions: actions, Bad: []bool{false, true, true}}
		for _, r := range st.Squeeze {
			if r.Variant == v {
				sp.Pi = append(sp.Pi, []float64{r.PiGood, r.PiBad2, r.PiBad1})
			}
		}
		panels = append(panels, sp)
	}
	return figure.Squeeze(panels...)
}

// groupOf maps run names to their group names.
func groupOf(cmp *analysis.Comparison) map[string]string {
	m := map[string]string{}
	for _, g := range cmp.Groups {
		for _, r := range g.Runs {
			m[r] = g.Name
		}
	}
	return m
}

// lemmaFigure draws the empirical Lemma 3.1 check of the flawed actions
// (r's interval above zero: the pairs the lemma is about), coloured by
// group, and the Monte Carlo curves, one per r.
func lemmaFigure(st *analysis.Study, cmp *analysis.Comparison) *figure.Figure {
	gof := groupOf(cmp)
	var points []figure.LemmaPoint
	for _, g := range cmp.Groups { // legend in group order
		for _, r := range st.Advantage {
			if gof[r.Run] != g.Name || !(r.RLo > 0) { // flawed actions only: r's interval above 0
				continue
			}
			points = append(points, figure.LemmaPoint{Group: g.Name,
				Predicted: metrics.Interval{Point: r.Prediction, Lo: r.PredLo, Hi: r.PredHi},
				Empirical: metrics.Interval{Point: r.Mass, Lo: r.MassLo, Hi: r.MassHi}})
		}
	}
	var curves []figure.LemmaCurve
	var rs []float64
	byR := map[float64]*figure.LemmaCurve{}
	for _, r := range st.LemmaSim {
		c := byR[r.R]
		if c == nil {
			c = &figure.LemmaCurve{Label: fmt.Sprintf("r = %g (Monte Carlo, G = %d, %s)", r.R, r.G, r.Norm)}
			byR[r.R] = c
			rs = append(rs, r.R)
		}
		c.Q = append(c.Q, r.Q)
		c.Predicted = append(c.Predicted, r.Predicted)
		c.Empirical = append(c.Empirical, metrics.Interval{Point: r.Mass, Lo: r.MassLo, Hi: r.MassHi})
	}
	for _, r := range rs {
		curves = append(curves, *byR[r])
	}
	return figure.Lemma(points, curves)
}

// evalMetric is the in- or out-of-domain success metric drawn: greedy when
// any group has it, else sampled.
func evalMetric(cmp *analysis.Comparison, greedy, sampled string) string {
	for _, g := range cmp.Groups {
		if _, ok := cmp.Curve(g.Name, greedy); ok {
			return greedy
		}
	}
	return sampled
}

func learningFigure(cmp *analysis.Comparison, opt figOptions) *figure.Figure {
	in := evalMetric(cmp, analysis.MetricEvalInGreedy, analysis.MetricEvalInSampled)
	out := evalMetric(cmp, analysis.MetricEvalOutGreedy, analysis.MetricEvalOutSampled)
	ylabel := "success rate (greedy)"
	if in == analysis.MetricEvalInSampled {
		ylabel = "success rate (sampled)"
	}
	return figure.LearningCurves(groupSeries(cmp, in), groupSeries(cmp, out), figure.CurveOptions{Smooth: opt.Smooth, YLabel: ylabel, IndependentScales: opt.Independent})
}

func couplingFigure(cmp *analysis.Comparison) *figure.Figure {
	return figure.CouplingDynamics(groupSeries(cmp, analysis.SeriesHarmfulRate), groupSeries(cmp, analysis.SeriesCosGoodBad))
}

func separationFigure(cmp *analysis.Comparison) *figure.Figure {
	return figure.Separation(
		figure.Panel{Title: "linear probe, prompt token", YLabel: "probe accuracy", Series: groupSeries(cmp, analysis.SeriesProbeAccState)},
		figure.Panel{Title: "linear probe, verdict marker", YLabel: "probe accuracy", Series: groupSeries(cmp, analysis.SeriesProbeAccVerdict)},
		figure.Panel{Title: "linear probe, action positions", YLabel: "probe accuracy", Series: groupSeries(cmp, analysis.SeriesProbeAccAction)},
		figure.Panel{Title: "Fisher ratio, prompt token", YLabel: "Fisher ratio per sample", Series: groupSeries(cmp, analysis.SeriesFisherState)},
		figure.Panel{Title: "Fisher ratio, action positions", YLabel: "Fisher ratio per sample", Series: groupSeries(cmp, analysis.SeriesFisherAction)},
	)
}

// tensorsFigure draws the coupling by tensor group of the first run of
// each group that has it (figure.Tensors): groups in the order of the
// table, checkpoints in order.
func tensorsFigure(st *analysis.Study, cmp *analysis.Comparison) *figure.Figure {
	has := map[string]bool{}
	for _, r := range st.CouplingTensors {
		has[r.Run] = true
	}
	var panels []figure.TensorPanel
	for _, g := range cmp.Groups {
		for _, run := range g.Runs {
			if has[run] {
				panels = append(panels, tensorPanel(st.CouplingTensors, run))
				break
			}
		}
	}
	return figure.Tensors(panels)
}

// tensorPanel lays out one run's tensor rows as group x checkpoint
// matrices of share and net share (NaN where a cell is missing). When the
// tied embedding is split, the unsplit embeddings row is left out: the
// rows drawn are the ones that add up to the Gram.
func tensorPanel(all []analysis.TensorRow, run string) figure.TensorPanel {
	split := false
	for _, r := range all {
		split = split || r.Run == run && r.Group == analysis.TensorInputUse
	}
	var rows []analysis.TensorRow
	for _, r := range all {
		if r.Run == run && !(split && r.Group == analysis.TensorEmbeddings) {
			rows = append(rows, r)
		}
	}
	p := figure.TensorPanel{Run: run}
	gi, ci := map[string]int{}, map[int]int{}
	var its []int
	for _, r := range rows {
		if _, ok := gi[r.Group]; !ok {
			gi[r.Group] = len(p.Groups)
			p.Groups = append(p.Groups, r.Group)
		}
		if _, ok := ci[r.Iteration]; !ok {
			ci[r.Iteration] = 0
			its = append(its, r.Iteration)
		}
	}
	slices.Sort(its)
	for c, it := range its {
		ci[it] = c
		p.Iterations = append(p.Iterations, strconv.Itoa(it))
	}
	p.Share, p.NetShare = make([][]float64, len(p.Groups)), make([][]float64, len(p.Groups))
	for g := range p.Groups {
		p.Share[g], p.NetShare[g] = make([]float64, len(its)), make([]float64, len(its))
		for c := range its {
			p.Share[g][c], p.NetShare[g][c] = math.NaN(), math.NaN()
		}
	}
	for _, r := range rows {
		p.Share[gi[r.Group]][ci[r.Iteration]] = r.Share
		p.NetShare[gi[r.Group]][ci[r.Iteration]] = r.NetShare
	}
	return p
}

// finalTitles names the final-performance metrics in figures and tables.
var finalTitles = map[string]string{
	analysis.MetricEvalInGreedy:   "in-domain",
	analysis.MetricEvalInSampled:  "in-domain (sampled)",
	analysis.MetricEvalOutGreedy:  "out-of-domain",
	analysis.MetricEvalOutSampled: "out-of-domain (sampled)",
}

func finalTitle(m string) string {
	if t, ok := finalTitles[m]; ok {
		return t
	}
	return m
}

// finalFigure draws the overall final metrics; their breakdowns per task
// family or shift (METRIC/SUFFIX, which a study compares too) are in the
// tables, as a panel each would crowd the figure.
func finalFigure(cmp *analysis.Comparison) *figure.Figure {
	var scores []figure.ScorePanel
	for _, m := range cmp.FinalMetrics() {
		if strings.Contains(m, "/") {
			continue
		}
		sp := figure.ScorePanel{Title: finalTitle(m), XLabel: "IQM of final success rate", Unit: true}
		for _, f := range cmp.Final {
			if f.Metric == m {
				sp.Scores = append(sp.Scores, figure.Score{Label: f.Group, Interval: metrics.Interval{Point: f.IQM, Lo: f.Lo, Hi: f.Hi}, Note: f.Note})
			}
		}
		scores = append(scores, sp)
	}
	var imps []figure.Improvement
	for _, im := range cmp.Improvements {
		if strings.Contains(im.Metric, "/") {
			continue
		}
		imps = append(imps, figure.Improvement{X: im.X, Y: im.Y + ", " + finalTitle(im.Metric),
			Interval: metrics.Interval{Point: im.P, Lo: im.Lo, Hi: im.Hi}, Note: im.Note})
	}
	return figure.FinalPerformance(scores, imps)
}
