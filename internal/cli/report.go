package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/figure"
	ucli "github.com/urfave/cli/v2"
)

// ReportOptions are the inputs of `gradcouple report` and of writeReport.
type ReportOptions struct {
	// Input is a run directory or a directory of run directories; Runs, if
	// set, lists the run directories instead.
	Input string
	Runs  []string
	Out   string // the HTML file; "" means report.html
	Title string // "" means "gradcouple report: INPUT"
	// Tables, if not empty, is a directory that receives every table of
	// the report in full, in TablesFormat (csv, parquet or json; "" means
	// csv).
	Tables       string
	TablesFormat string
	// Study sets the analyses; start from defaultStudyFlags() (its zero
	// value skips resampling and coupling and is refused by check).
	Study StudyFlags
}

func newReportCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:      "report",
		Usage:     "one self-contained HTML page with every figure and table of a run or a directory of runs, and what each shows",
		ArgsUsage: "RUN|DIR|LOGS",
		Description: "RUN is a run directory (metrics.jsonl, logs/, checkpoints/); DIR a directory with runs\n" +
			"below it (DIR/NAME or DIR/ENV/NAME); LOGS the step records of one run made elsewhere: a log\n" +
			"file, a directory of log files or a quoted glob of them, in any format the log commands read\n" +
			"(canonical step records; converted verl, verl-agent, TRL and rLLM logs). From logs alone the\n" +
			"report has the sections that need only logs (repetition, consistency and Lemma 3.1 from the\n" +
			"logs, the inspect summary of the advantages, the simulators, success over iterations) and says\n" +
			"which sections need checkpoints or gradients and how to get them (also on stderr).\n" +
			"Every analysis of `gradcouple figures` runs on every run;\n" +
			"runs are grouped by algorithm (and environment, when there are several; run.json), and when\n" +
			"there are several algorithms (GRPO and GCD) the report includes their comparison over seeds:\n" +
			"bootstrap bands, final IQM and probability of improvement. The page is one file with inline\n" +
			"SVG figures and no script or network access; every text from the logs (action texts) is\n" +
			"escaped. It is written atomically: on error no file is left. --out and --tables are checked\n" +
			"before any work (the directory of --out must exist). Tables in the page show their first rows;\n" +
			"--tables DIR writes every table in full. Results are cached beside the inputs (--cache,\n" +
			"--no-cache; see gradcouple figures --help). A selection without records (logs without train\n" +
			"rows) is a warning on stderr, not an error: the exit status is 0 and the section is empty.",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "report.html", Usage: "write the report to `FILE` (.html)"},
			&ucli.StringFlag{Name: "title", Usage: "`TITLE` of the report (default: gradcouple report: RUN|DIR|LOGS)"},
			&ucli.StringFlag{Name: "tables", Usage: "also write every table of the report in full into `DIR`"},
			&ucli.StringFlag{Name: "tables-format", Value: "csv", Usage: "`FORMAT` of --tables: csv, parquet or json"},
		}, studyFlags()...),
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 1, "RUN|DIR|LOGS"); err != nil {
				return err
			}
			sf, err := studyFlagsOf(c)
			if err != nil {
				return err
			}
			return writeReport(c.Context, ReportOptions{Input: c.Args().First(), Out: c.String("out"), Title: c.String("title"),
				Tables: c.String("tables"), TablesFormat: c.String("tables-format"), Study: sf}, e)
		},
	}
}

// looksLikeRun reports whether dir has any of the files of a run directory.
func looksLikeRun(dir string) bool {
	for _, f := range []string{analysis.MetricsFile, "run.json", "logs", "checkpoints"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// reportRuns resolves RUN|DIR|LOGS into the inputs of a study: RUN
// itself; the run directories found up to three levels below DIR (runs/NAME,
// or runs/ENV/NAME as the reference study lays them out), sorted; or, for a
// directory without runs below it that holds files, a file, or a glob of
// files, the step records of one run. A glob that matches directories gives
// each as a run.
func reportRuns(input string) ([]string, error) {
	st, err := os.Stat(input)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && strings.ContainsAny(input, "*?[") {
			return expandRuns("", []string{input})
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &analysis.RunError{Dir: input, Msg: "no such run directory, directory of runs or log file", Err: err}
		}
		return nil, err
	}
	if !st.IsDir() || looksLikeRun(input) {
		return []string{input}, nil
	}
	var runs []string
	var find func(dir string, depth int) error
	find = func(dir string, depth int) error {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			d := filepath.Join(dir, e.Name())
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if st, err := os.Stat(d); err != nil || !st.IsDir() { // Stat follows symbolic links
				continue
			}
			switch {
			case looksLikeRun(d):
				runs = append(runs, d)
			case depth > 1:
				if err := find(d, depth-1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := find(input, 3); err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		if hasLogFiles(input) {
			return []string{input}, nil
		}
		return nil, &analysis.RunError{Dir: input, Msg: "neither a run directory (metrics.jsonl, run.json, logs/), a directory of runs, nor a directory of log files"}
	}
	sort.Strings(runs)
	return runs, nil
}

// hasLogFiles reports whether dir holds a non-hidden regular file (the
// log readers decide whether it is a log).
func hasLogFiles(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if st, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && st.Mode().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			return true
		}
	}
	return false
}

// writeReport studies the runs of o, builds the report and writes it to
// o.Out atomically, showing progress on stderr. The quickstart calls it.
func writeReport(ctx context.Context, o ReportOptions, e *Env) error {
	if err := o.Study.check(); err != nil {
		return err
	}
	if o.Out == "" {
		o.Out = "report.html"
	}
	if ext := strings.ToLower(filepath.Ext(o.Out)); ext != ".html" && ext != ".htm" {
		return &UsageError{Msg: fmt.Sprintf("--out %q: want an .html file", o.Out)}
	}
	if o.TablesFormat == "" {
		o.TablesFormat = "csv"
	}
	if o.Tables != "" {
		if err := checkTables(o.TablesFormat); err != nil {
			return &UsageError{Msg: strings.Replace(err.Error(), "--tables", "--tables-format", 1)}
		}
	}
	runs := o.Runs
	if len(runs) == 0 {
		var err error
		if runs, err = reportRuns(o.Input); err != nil {
			return err
		}
	}
	if err := firstErr(guardOutputs(append([]string{o.Input}, runs...), output{flag: "out", path: o.Out}, output{flag: "tables", path: o.Tables}),
		checkOutFile("out", o.Out), checkOutDir("tables", o.Tables)); err != nil {
		return err
	}
	report, done := studyProgress(e)
	st, err := analysis.StudyRuns(ctx, runs, o.Study.options(report, e))
	if err != nil {
		done()
		return err
	}
	groups := analysis.GroupByEnvAlgo(st)
	if len(st.Runs) == 1 {
		groups = analysis.GroupByRun(st)
	}
	cmp, err := analysis.Compare(st, groups, analysis.CompareOptions{})
	if err != nil {
		done()
		return err
	}
	for _, w := range cmp.Warnings {
		warnf(e, "%s", w)
	}
	title := o.Title
	if title == "" {
		in := o.Input
		if in == "" {
			in = strings.Join(runs, ", ")
		}
		title = "gradcouple report: " + in
	}
	report("rendering the report")
	rep := buildReport(st, cmp, title, e.Now().UTC().Format(time.RFC3339), figOptionsOf(o.Study))
	var tables []string
	if o.Tables != "" {
		rep.TablesDir = o.Tables
		tables, err = rep.WriteTables(o.Tables, o.TablesFormat)
	}
	if err == nil {
		err = rep.WriteFile(o.Out)
	}
	done()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "wrote %s (%d runs, %d sections)\n", o.Out, len(st.Runs), len(rep.Sections))
	if len(tables) > 0 {
		fmt.Fprintf(e.Stdout, "wrote %d tables in full to %s\n", len(tables), o.Tables)
	}
	printNotes(e, st)
	printGaps(e, st)
	return nil
}

// Claims of DESIGN.md §1, as the report names them.
const (
	claimLemma    = "Claim 1 (Lemma 3.1): the expected advantage of a flawed action is negative."
	claimSqueeze  = "Claim 2 (Theorem 3.2): the squeezing effect does not make GRPO reinforce flawed actions overall."
	claimCoupling = "Claim 3: gradient coupling between similar states, not reward miscalibration, is what raises flawed actions."
	claimGCD      = "Claim 4: GCD (the verdict task, cold start and prompt correction) separates good from bad representations and reduces harmful coupling."
	claimEvidence = "Claim 5: high-consistency repeated actions, including bad ones, rise during GRPO training; GCD improves out-of-domain success."
)

// upperFirst capitalises the first letter of s.
func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// consistencyTableRow is a resampling row with both labelings shown.
type consistencyTableRow struct {
	Run           string  `parquet:"run"`
	Iteration     int     `parquet:"iteration"`
	Kind          string  `parquet:"kind"`
	States        int     `parquet:"states"`
	Mean          float64 `parquet:"mean_modal_count"`
	High          float64 `parquet:"high"`
	HighJudgeGood float64 `parquet:"high_judge_good"`
	HighJudgeBad  float64 `parquet:"high_judge_bad"`
	HighTrueGood  float64 `parquet:"high_true_good"`
	HighTrueBad   float64 `parquet:"high_true_bad"`
}

// separationTableRow is the separation part of a coupling row.
type separationTableRow struct {
	Run             string  `parquet:"run"`
	Iteration       int     `parquet:"iteration"`
	N               int     `parquet:"probes"`
	ProbeState      float64 `parquet:"probe_acc_state"`
	ProbeVerdict    float64 `parquet:"probe_acc_verdict"`
	FisherState     float64 `parquet:"fisher_state"`
	FisherVerdict   float64 `parquet:"fisher_verdict"`
	SilhouetteState float64 `parquet:"silhouette_state"`
	SilhouetteVerd  float64 `parquet:"silhouette_verdict"`
	ProbeAction     float64 `parquet:"probe_acc_action"`
	FisherAction    float64 `parquet:"fisher_action"`
	SilhouetteAct   float64 `parquet:"silhouette_action"`
}

// couplingTableRow is the coupling part of a coupling row.
type couplingTableRow struct {
	Run         string  `parquet:"run"`
	Iteration   int     `parquet:"iteration"`
	N           int     `parquet:"probes"`
	HarmfulRate float64 `parquet:"harmful_rate"`
	HarmfulMass float64 `parquet:"harmful_mass"`
	CosGood     float64 `parquet:"cos_good"`
	CosBad      float64 `parquet:"cos_bad"`
	CosGoodBad  float64 `parquet:"cos_good_bad"`
	PairCos     float64 `parquet:"pair_cos_jaccard"`
	HeatPearson float64 `parquet:"heat_pearson"`
	HeatRelErr  float64 `parquet:"heat_rel_err"`
}

// noteRow is one note of the study.
type noteRow struct {
	Note string `parquet:"note"`
}

// settingRow is one setting of the study.
type settingRow struct {
	Setting string `parquet:"setting"`
	Value   string `parquet:"value"`
}

// buildReport lays the study out as the report: a summary, the figures
// (a)-(i) each with what it shows, how to read it and which claim of
// DESIGN.md §1 it tests, and the settings.
func buildReport(st *analysis.Study, cmp *analysis.Comparison, title, generated string, opt figOptions) *figure.Report {
	rep := &figure.Report{Title: title, Version: version(), Generated: generated}
	for _, r := range st.Runs {
		rep.Runs = append(rep.Runs, figure.RunInfo{Name: r.Name, Env: r.Env, Algo: r.Algo, Seed: r.Seed, Version: r.Version, Iterations: r.Iterations})
	}
	figs := studyFigures(st, cmp, opt)
	fig := func(letter string) []namedFigure {
		var out []namedFigure
		for _, f := range figs {
			if f.Letter == letter {
				out = append(out, f)
			}
		}
		return out
	}
	var groups []string
	for _, g := range cmp.Groups {
		groups = append(groups, fmt.Sprintf("%s (%d run(s))", g.Name, len(g.Runs)))
	}
	multi := false
	for _, g := range cmp.Groups {
		multi = multi || len(g.Runs) > 1
	}
	bands := "With one run per group there are no confidence bands: several seeds per method give the bootstrap intervals."
	if multi {
		bands = fmt.Sprintf("Lines are means over the runs of a group; shaded bands are 95%% percentile bootstrap intervals of the mean (%d resamples of the runs, seed %d); faint lines are the single runs.",
			st.Options.Bootstrap.Resamples, st.Seed)
	}

	summary := figure.Section{Title: "Summary",
		Text: fmt.Sprintf("This report analyses %d run(s), grouped as %s. Every analysis is seeded with seed %d, so the same command on the same runs gives the same numbers. "+
			"The sections follow the figures of the study, (a) to (j); each says what the figure shows, how to read it and which claim of the research it tests (DESIGN.md §1). "+
			"Final performance below is the success rate at each run's last evaluation, summarised per group by the interquartile mean (IQM) with a stratified bootstrap interval.",
			len(st.Runs), strings.Join(groups, ", "), st.Seed),
		Tables: []figure.Table{{Caption: "final performance per group", Rows: cmp.Final}}}
	if len(cmp.Improvements) > 0 {
		summary.Tables = append(summary.Tables, figure.Table{Caption: "probability of improvement P(x > y)", Rows: cmp.Improvements})
	}
	if len(cmp.Paired) > 0 {
		summary.Tables = append(summary.Tables, figure.Table{Caption: "paired difference x - y (same environment and seed) with the minimum detectable effect at 80% power", Rows: cmp.Paired})
	}
	if len(cmp.Claims) > 0 {
		summary.Tables = append(summary.Tables, figure.Table{Caption: "the claims of DESIGN.md §1 tested on these runs: effect over seeds with its 95% bootstrap interval, " +
			"the share of bootstrap means on the claimed side, the minimum detectable effect at 80% power and the verdict (reproduced: the interval lies on the claimed side of 0; " +
			"not reproduced: it lies on the other side, or excludes every claimed effect as large as the MDE; else inconclusive)", Rows: cmp.Claims})
	}
	if len(cmp.Warnings) > 0 {
		summary.Text += " Caveat: " + strings.Join(cmp.Warnings, " ")
	}
	if len(st.Notes) > 0 {
		var notes []noteRow
		for _, n := range st.Notes {
			notes = append(notes, noteRow{n})
		}
		summary.Tables = append(summary.Tables, figure.Table{Caption: "what was skipped, and why", Rows: notes})
	}
	ckpt := hasCheckpoints(st)
	if len(st.NoCheckpoints) > 0 && ckpt {
		summary.Text += "\n\n" + checkpointHelp(st)
	}
	if len(st.Empty) > 0 {
		summary.Text += "\n\nEmpty selections: " + strings.Join(st.Empty, "; ") + "."
	}
	rep.Sections = append(rep.Sections, summary)
	if !ckpt {
		rep.Sections = append(rep.Sections, figure.Section{Title: "What needs checkpoints or gradients",
			Text: "The inputs are step records without the policy's checkpoints, so this report has the sections that logs alone support: " +
				"repetition (b), consistency where states recur in the logs, the squeezing simulator (d), Lemma 3.1 from the logs and by Monte Carlo (e), " +
				"success over iterations (f, i) and the inspect summary of groups and advantages.\n\n" + checkpointHelp(st)})
	}

	// (a) consistency.
	var cons []consistencyTableRow
	for _, r := range st.Consistency {
		cons = append(cons, consistencyTableRow{Run: r.Run, Iteration: r.Iteration, Kind: r.Kind, States: r.States, Mean: r.MeanConsistency,
			High: r.High, HighJudgeGood: r.HighJudgeGood, HighJudgeBad: r.HighJudgeBad, HighTrueGood: r.HighGood, HighTrueBad: r.HighBad})
	}
	status := map[string]int{}
	for _, p := range st.ConsistencyProbes {
		status[p.Status]++
	}
	var statusText []string
	for _, s := range []string{"ok", "corrected", "prompt-mismatch", "state-mismatch", "not-replayable"} {
		if status[s] > 0 {
			statusText = append(statusText, fmt.Sprintf("%d %s", status[s], s))
		}
	}
	consText := fmt.Sprintf("What it shows: the share of probe states at which the policy of each checkpoint produces its most frequent action with high consistency "+
		"(at least %d of %d samples), split by the judge's label of that action (green: good, vermillion: bad). "+
		"Probe states are taken from the logs (%d states where the agent repeated an action earlier in its trajectory and %d drawn at random, per environment), "+
		"rebuilt exactly by replaying the trajectory in the environment, and the same states are resampled at every checkpoint of every run.",
		st.Options.ConsistencyMin, st.Options.ConsistencyK, st.Options.ConsistencyStates, st.Options.ConsistencyStates)
	if len(statusText) > 0 {
		consText += " Reconstruction of the probe states: " + strings.Join(statusText, ", ") + "."
	}
	consText += "\n\nHow to read it: a rising bad line means the policy grows confident in flawed actions at states it has seen; the good line should rise as it learns. " +
		bands + " The table also gives the split by the oracle's truth (the action is on a shortest plan), which the judge approximates with noise." +
		"\n\nClaim tested: " + claimEvidence + " " + claimCoupling
	secA := figure.Section{Title: "(a) Action consistency over training, by judge label", Text: consText, Figure: fig("a")[0].Fig,
		Tables: []figure.Table{{Caption: "consistency by resampling (all, repeated and random probe states)", Rows: cons}}}
	if len(st.ConsistencyStates) > 0 {
		secA.Tables = append(secA.Tables, figure.Table{Caption: "modal action of every probe state at the last checkpoint", Rows: st.ConsistencyStates, MaxRows: 40})
	}
	if ckpt {
		rep.Sections = append(rep.Sections, secA)
	}
	var logCons []analysis.ConsistencyRow
	for _, r := range st.LogConsistency {
		if r.Split == "train" {
			logCons = append(logCons, r)
		}
	}
	if len(st.LogConsistency) > 0 {
		var logConsFig *figure.Figure
		for _, g := range cmp.Groups {
			// A curve over training needs two iterations; one point is in the table.
			if gc, ok := cmp.Curve(g.Name, analysis.SeriesLogConsistencyHigh); ok && len(gc.Iterations) > 1 && logConsFig == nil {
				logConsFig = logConsistencyFigure(cmp, opt)
			}
		}
		rep.Sections = append(rep.Sections, figure.Section{Title: "Consistency where states recur in the logs",
			Figure: logConsFig,
			Text: "What it shows: at states that recur in the training rollouts of one iteration (the same state key, at least K times), the share whose most frequent logged action " +
				"reaches the threshold (K and threshold in the table), split by the judge label of that action where the logs have labels. " +
				"Unlike (a) it needs no checkpoint: the rollouts themselves are the samples, so it exists only where the logs revisit states.\n\n" +
				"How to read it: a rising line means the policy grows confident in its actions at recurring states; the states column says how many states each point rests on, " +
				"and few states make a noisy share. " + bands + "\n\nClaim tested: " + claimEvidence,
			Tables: []figure.Table{{Caption: "consistency at recurring states per iteration (train split)", Rows: logCons, MaxRows: 40},
				{Caption: "every split", Rows: st.LogConsistency, MaxRows: 40}}})
	}

	// (b) repetition.
	var repRows []analysis.RepetitionRow
	for _, r := range st.Repetition {
		if r.Split == "train" {
			repRows = append(repRows, r)
		}
	}
	rep.Sections = append(rep.Sections, figure.Section{Title: "(b) Repetition in successful and failed trajectories", Figure: fig("b")[0].Fig,
		Text: "What it shows: the share of steps of training rollouts whose action repeats an earlier action of the same trajectory, " +
			"separately for trajectories that solved their task (blue) and those that failed (orange), per training iteration.\n\n" +
			"How to read it: repetition concentrated in failed trajectories is the symptom under study: agents that keep repeating an action that does not help. " +
			"If repetition also falls in successful trajectories, the outcome reward alone cannot explain it (a flawed step of a successful trajectory gets a positive advantage). " + bands +
			"\n\nClaim tested: the symptom behind " + claimEvidence,
		Tables: []figure.Table{{Caption: "repetition per iteration (train split)", Rows: repRows}}})

	// (c) heatmap.
	for _, nf := range fig("c") {
		if !ckpt {
			break
		}
		title := "(c) Coupling heatmap: predicted and measured"
		var cells []analysis.HeatRow
		var agreement string
		if nf.Run != "" {
			title += ", " + nf.Run
			cells = heatCells(st, nf.Run)
			for _, r := range st.Coupling {
				if r.Run == nf.Run && len(cells) > 0 && r.Iteration == cells[0].Iteration {
					agreement = fmt.Sprintf(" At iteration %d of %s the first-order prediction and the measured change agree with Pearson r = %.4f and relative error %.2g (largest |predicted| %.2g).",
						r.Iteration, r.Run, r.HeatPearson, r.HeatRelErr, r.HeatScale)
				}
			}
		}
		sec := figure.Section{Title: title, Figure: nf.Fig,
			Text: fmt.Sprintf("What it shows: how a policy-gradient step that rewards a good sample i (rows: good actions with a positive advantage) "+
				"changes the log-probability of a bad action j in a different state (columns: the bad probes whose prompts are most similar). "+
				"The left panel is the first-order prediction Δ_ij = η A_i ⟨g_i, g_j⟩ from exact per-sample gradients; the right panel is measured by applying the step θ + η A_i g_i "+
				"to a copy of the model at the run's last analysed checkpoint (η = %g).%s\n\n"+
				"How to read it: red cells are harmful coupling, a good update that raises a bad action elsewhere; blue cells lower it. "+
				"Matching panels show that the heatmap has an exact meaning and that the first-order influence is accurate at this step size.\n\n"+
				"Claim tested: %s", st.Options.Eta, agreement, claimCoupling)}
		if len(cells) > 0 {
			sec.Tables = []figure.Table{{Caption: "heatmap cells", Rows: cells, MaxRows: 64}}
		}
		rep.Sections = append(rep.Sections, sec)
	}

	// (d) squeezing.
	var sq []analysis.SqueezeRow
	for _, r := range st.Squeeze {
		if r.Step%10 == 0 {
			sq = append(sq, r)
		}
	}
	p, l := analysis.SqueezeSuccess, analysis.SqueezeLogits
	sqText := fmt.Sprintf("What it shows: a softmax policy over three actions, good (success probability %g), a less harmful bad action bad₂ (%g) and a harmful one bad₁ (%g), "+
		"starting from logits %v (the bad actions more likely), under exact expected GRPO updates; left the full update, right only its negative-advantage part "+
		"(the updates of the actions whose success is below the mean). The dashed black line is the total probability of the bad actions. "+
		"This is a simulation of the theory, the same for every run.", p[0], p[1], p[2], l)
	for _, ss := range st.SqueezeSummary {
		sqText += fmt.Sprintf(" %s: total bad mass %.3f → %.3f over %d updates, bad₂ %.3f → peak %.3f at update %d → %.3f, good %.3f → %.3f.",
			upperFirst(ss.Variant), ss.BadStart, ss.BadEnd, ss.Steps, ss.Bad2Start, ss.Bad2Peak, ss.Bad2PeakStep, ss.Bad2End, ss.GoodStart, ss.GoodEnd)
	}
	sqText += "\n\nHow to read it: a negative-advantage update pushes probability towards the currently most likely action; on its own (right) it squeezes bad₁'s mass into bad₂ " +
		"and need not lower the total bad mass. The full update (left) is what GRPO applies: bad₂ may rise for a while, but the dashed total falls and the good action gains, " +
		"so squeezing does not make GRPO reinforce flawed actions overall.\n\nClaim tested: " + claimSqueeze
	rep.Sections = append(rep.Sections, figure.Section{Title: "(d) The squeezing effect", Figure: fig("d")[0].Fig, Text: sqText,
		Tables: []figure.Table{{Caption: "summary", Rows: st.SqueezeSummary}, {Caption: "policy every 10 updates", Rows: sq}}})

	// (e) Lemma 3.1.
	adv := figure.Section{Title: "(e) Lemma 3.1: predicted and empirical advantage mass", Figure: fig("e")[0].Fig,
		Text: fmt.Sprintf("What it shows: left, the flawed actions, (state, action) pairs whose 95%% interval of r lies above zero, at states the training rollouts visited at least %d times (iterations pooled): "+
			"the advantage mass predicted by Lemma 3.1, q r (q−1), with q the share of visits taking the action and r the success rate without it minus with it, "+
			"against the mass measured from the logged advantages, both with 95%% bootstrap intervals over rollout groups (the table has every pair, flawed or not). "+
			"The logged advantages are divided by the group's standard deviation, so the measured mass is larger in magnitude than the prediction, which is in units of reward; the sign is what the lemma predicts. "+
			"Right, a Monte Carlo of GRPO groups of the runs' size and normalisation: the simulated mass of a flawed action (points with intervals) against the prediction (lines: the exact finite-group value without std normalisation, the large-group limit with it).\n\n"+
			"How to read it: flawed actions sit below zero on both axes: on average GRPO already pushes them down, so reward miscalibration does not explain their rise. "+
			"The first table below counts, per run, the flawed pairs and how many have a negative measured mass. Few points mean few recurring states; lower --min-visits.\n\nClaim tested: %s",
			st.Options.MinVisits, claimLemma),
		Tables: []figure.Table{
			{Caption: "flawed actions per run: r's interval above 0, and how many have a negative mass", Rows: st.AdvantageSummary},
			{Caption: "(state, action) estimates", Rows: st.Advantage, MaxRows: 40},
			{Caption: "Monte Carlo", Rows: st.LemmaSim},
		}}
	rep.Sections = append(rep.Sections, adv)

	// (f) learning curves.
	rep.Sections = append(rep.Sections, figure.Section{Title: "(f) Learning curves in-domain and out-of-domain", Figure: fig("f")[0].Fig,
		Text: "What it shows: the success rate of evaluation episodes with the policy of each iteration, on tasks of the training distribution (in-domain) " +
			"and on held-out object types and layouts (out-of-domain), as the trainer logged it in metrics.jsonl. " + bands +
			"\n\nHow to read it: the gap between the panels is the generalisation gap; a method that generalises better keeps the out-of-domain curve closer to the in-domain one. " +
			"Evaluation uses a fixed set of tasks, so small differences are within noise; the final-performance section gives intervals.\n\nClaim tested: " + claimEvidence,
		Tables: []figure.Table{{Caption: "metrics.jsonl per iteration", Rows: st.Curves, MaxRows: 40}}})

	// (g) coupling over training.
	var cp []couplingTableRow
	var sep []separationTableRow
	for _, r := range st.Coupling {
		cp = append(cp, couplingTableRow{Run: r.Run, Iteration: r.Iteration, N: r.N, HarmfulRate: r.HarmfulRate, HarmfulMass: r.HarmfulMass,
			CosGood: r.CosGood, CosBad: r.CosBad, CosGoodBad: r.CosGoodBad, PairCos: r.PairCosJaccard, HeatPearson: r.HeatPearson, HeatRelErr: r.HeatRelErr})
		sep = append(sep, separationTableRow{Run: r.Run, Iteration: r.Iteration, N: r.N, ProbeState: r.ProbeState, ProbeVerdict: r.ProbeVerdict,
			FisherState: r.FisherState, FisherVerdict: r.FisherVerdict, SilhouetteState: r.SilhouetteState, SilhouetteVerd: r.SilhouetteVerd,
			ProbeAction: r.ProbeAction, FisherAction: r.FisherAction, SilhouetteAct: r.SilhouetteAction})
	}
	secG := figure.Section{Title: "(g) Gradient coupling over training", Figure: fig("g")[0].Fig,
		Text: fmt.Sprintf("What it shows: at every checkpoint, for one fixed probe set of %d labelled (state, action) samples drawn from the logs (half good, half bad; the same samples for every run of an environment): "+
			"left, the harmful-coupling rate, the share of pairs (i good with A_i > 0, j bad in another state) whose predicted influence Δ_ij = η A_i K_ij raises the bad action; "+
			"right, the mean cosine between the per-sample gradients of good and of bad samples. "+
			"K_ij = ⟨g_i, P g_j⟩ is the kernel of the optimiser that trained the run: for Adam, P = diag(1/(√v̂ + ε)) from the checkpoint's second moments, so that K measures how much one Adam step on sample i moves sample j; "+
			"the gradients are those of log π as the trainer optimises it (restricted to the admissible actions).\n\n"+
			"How to read it: the lower both are, the less an update that rewards good actions also rewards bad ones. "+
			"Since the probes are fixed, changes over training are changes of the model, not of the samples. %s\n\n"+
			"The strata table splits the pairs by what the mechanism needs. A twin pair is two distinct states whose prompts differ in a few tokens (normalised token edit distance ≤ 0.1) where the same action is good in one and bad in the other: "+
			"say \"... you see a cup 1 on the desk ... > take cup 1 from desk 1\" is on the way to the goal, and the same prompt with a mug instead makes the same action a detour. "+
			"Twins are oversampled into the probe set (%d pairs asked); random pairs are the baseline. "+
			"Each statistic has a 95%% bootstrap interval over probes, the mean of its permutation null (for twins: each twin re-paired with another probe of the same action and label; for all pairs: labels shuffled within each action) and a two-sided p-value. "+
			"Read a row as a finding only when its interval excludes the null mean and p is small: a twin harmful rate of 0.96 with null 0.96 and p = 1 says twins couple strongly, but no more than any two probes sharing the action.\n\nClaim tested: %s %s",
			st.Options.CouplingProbes, bands, st.Options.Twins, claimCoupling, claimGCD),
		Tables: []figure.Table{{Caption: "coupling per checkpoint", Rows: cp, MaxRows: 40},
			{Caption: "coupling per pair stratum (twins, same state, same action and label, random, all): intervals, null means, p-values", Rows: st.Strata, MaxRows: 40},
			{Caption: "harmful coupling by prompt similarity (token Jaccard)", Rows: st.BySim, MaxRows: 40}}}

	// (h) separation.
	secH := figure.Section{Title: "(h) Representation separation of good and bad actions", Figure: fig("h")[0].Fig,
		Text: "What it shows: how well the actor's hidden states (last layer) tell the probe set's good actions from its bad ones, at the last prompt token, at the verdict marker that GCD trains, " +
			"and at the positions that feed the action (the outputs at positions P−1 … P+A−1 of prompt ++ action, which predict the action's tokens and <eos>, averaged; this is where the policy gradient enters the network): " +
			"the cross-validated accuracy of a linear probe (0.5 is chance for balanced probes) and the Fisher ratio of the two classes per sample.\n\n" +
			"How to read it: higher is more separated. The last prompt token cannot see the action (causal attention), so it separates good from bad only where the state alone decides the label; " +
			"the action positions see the action, so they separate whenever the representation the gradient flows through distinguishes a good action from a bad one. " +
			"Coupling needs similar representations at those positions: separation there is what should lower the coupling of (g). " +
			"GCD's classification task is meant to raise separation at the verdict marker, and with it at the action positions. " + bands +
			"\n\nClaim tested: " + claimGCD,
		Tables: []figure.Table{{Caption: "separation per checkpoint", Rows: sep, MaxRows: 40}}}
	if ckpt {
		rep.Sections = append(rep.Sections, secG, secH)
	}

	// (i) final performance.
	finalText := "What it shows: each group's final success rate (the last evaluation of each run), in-domain and out-of-domain, as the interquartile mean over runs " +
		"with a 95% stratified bootstrap interval (environments are the strata); with two or more groups, the probability that a run of one group ends better than a run of the other, P(X > Y), with its interval." +
		"\n\nHow to read it: an interval of P(X > Y) above 0.5 means X improves on Y beyond seed noise; an interval that contains 0.5 does not. "
	if !multi {
		finalText += "With one run per group the IQM is that run's value and there are no intervals. "
	}
	finalText += "\n\nClaim tested: " + claimEvidence + " " + claimGCD
	rep.Sections = append(rep.Sections, figure.Section{Title: "(i) Final performance", Figure: fig("i")[0].Fig, Text: finalText,
		Tables: []figure.Table{{Caption: "final value per run", Rows: cmp.FinalRuns}, {Caption: "IQM per group", Rows: cmp.Final}, {Caption: "probability of improvement", Rows: cmp.Improvements},
			{Caption: "paired difference (same environment and seed)", Rows: cmp.Paired}}})

	// (j) where coupling lives.
	if ckpt {
		var tensors []analysis.TensorRow
		for _, r := range st.CouplingTensors {
			if r.Group != analysis.TensorEmbeddings {
				tensors = append(tensors, r)
			}
		}
		rep.Sections = append(rep.Sections, figure.Section{Title: "(j) Where coupling lives: the Gram by parameter tensor group", Figure: fig("j")[0].Fig,
			Text: "What it shows: the gradient Gram K of (g) is a sum over parameter tensors, K = Σ_b K^b, one block of columns per group: the embeddings, each layer's attention (ln_1, attn.c_attn, attn.c_proj) and MLP (ln_2, mlp.c_fc, mlp.c_proj), and the final norm (ln_f). " +
				"The token embedding is tied to the LM head, so its gradient is the sum of an input use (the rows of the tokens read) and an output use (every row the softmax runs over); " +
				"its block is split into the input use (with wpe), the LM head, and their cross term ⟨in_i, head_j⟩ + ⟨head_i, in_j⟩, so that the rows still add up to K. " +
				"Per checkpoint and group, for the first run of each group of runs: top, the group's share of the inner-product mass (mean |K^b_ij| over probe pairs, over the sum of the groups); " +
				"bottom, its share of the net predicted influence η A_i K^b_ij of good updates on bad actions over the harmful-coupling pairs of (g). The table has every run, with the mean cosines within good, within bad and across, and the harmful rate under each group's kernel alone.\n\n" +
				"How to read it: a group with a large share is where the gradients of different samples overlap; a group with a large positive share of the net influence is the one through which rewarding good actions raises bad ones. " +
				"If coupling comes from shared representations of similar states, as the paper argues, it should sit in the blocks that read those representations (attention and MLP of the upper layers, the LM head) rather than in the embeddings of individual tokens. " +
				"The cross term has no cosine; its shares may be negative.\n\nClaim tested: " + claimCoupling,
			Tables: []figure.Table{{Caption: "coupling by tensor group per checkpoint", Rows: tensors, MaxRows: 60}}})
	}

	// Log sanity.
	if len(st.Inspect) > 0 {
		sec := figure.Section{Title: "Log sanity: groups, success and advantages",
			Text: "What it shows: the summary of `gradcouple inspect` for each run, iteration and split: rollout groups and trajectories, the success rate, " +
				"zero_std_frac (the share of groups of two or more whose outcomes are all equal, so that GRPO gives them no signal), invalid actions, " +
				"label coverage, and advantage_fit, the GRPO convention that reproduces the logged advantages from the logged outcomes " +
				"(std: (R − mean)/(std + 1e-6) as verl; std-eps1e-4 as TRL; no-std: R − mean; zero: evaluation rows; none: no convention fits, " +
				"and adv_mismatch_trajs counts the trajectories that fit none).\n\n" +
				"How to read it: a high zero_std_frac means most groups teach nothing; advantage_fit none means the advantages in the logs are not the GRPO " +
				"advantages of the logged outcomes (another estimator, or a logging bug), and the Lemma 3.1 check (e) rests on them.",
			Tables: []figure.Table{{Caption: "inspect summary per run, iteration and split", Rows: st.Inspect, MaxRows: 40}}}
		if len(st.Problems) > 0 {
			sec.Tables = append(sec.Tables, figure.Table{Caption: "problems found", Rows: st.Problems, MaxRows: 40})
		}
		rep.Sections = append(rep.Sections, sec)
	}

	// Settings.
	o := st.Options
	settings := []settingRow{
		{"seed", st.SeedString()},
		{"bootstrap", fmt.Sprintf("%d resamples, %.0f%% percentile intervals", o.Bootstrap.Resamples, 100*o.Bootstrap.Level)},
		{"consistency", fmt.Sprintf("%d repeated + %d random probe states per environment, K = %d, high at >= %d", o.ConsistencyStates, o.ConsistencyStates, o.ConsistencyK, o.ConsistencyMin)},
		{"coupling", fmt.Sprintf("%d probes per environment, heatmap %d x %d, eta %g", o.CouplingProbes, o.HeatSide, o.HeatSide, o.Eta)},
		{"Lemma 3.1", fmt.Sprintf("states with >= %d visits, iterations pooled; Monte Carlo %d groups per point", o.MinVisits, o.LemmaGroups)},
	}
	if len(o.Checkpoints) > 0 {
		settings = append(settings, settingRow{"checkpoints", fmt.Sprint(o.Checkpoints)})
	}
	rep.Sections = append(rep.Sections, figure.Section{Title: "Settings and timing",
		Text: "How the study was made, and how long each step took (cached: the results came from the analysis cache). Every table of this report, in full, is written by `gradcouple report --tables DIR`.",
		Tables: []figure.Table{{Caption: "settings", Rows: settings}, {Caption: "steps (wall-clock seconds)", Rows: st.Steps},
			{Caption: "comparison over training: every metric, mean over runs with 95% interval", Rows: cmp.Rows, MaxRows: 30}}})
	return rep
}
