package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/internal/atomicfile"
	"github.com/gradcouple/gradcouple/internal/table"
	"github.com/gradcouple/gradcouple/metrics"
	ucli "github.com/urfave/cli/v2"
)

// InspectOptions are the inputs of `gradcouple inspect`.
type InspectOptions struct {
	Logs        []string // files, directories or globs
	Out         string
	MaxProblems int
	Strict      bool    // exit status 2 when problems are found
	MaxZeroStd  float64 // zero_std_frac above which a training iteration is a problem
	K           int     // occurrences from which a state recurs
	Read        ReadOptions
}

func newInspectCommand(env *Env) *ucli.Command {
	return &ucli.Command{
		Name:      "inspect",
		Usage:     "summarise step-record logs: runs, iterations, groups, success, zero-std groups, advantage conventions, problems",
		ArgsUsage: "LOGS...",
		Description: "The advantage_fit column says which GRPO convention reproduces the logged advantages from\n" +
			"the logged outcomes: std (verl, eps 1e-6), std-eps1e-4 (TRL), no-std (Dr. GRPO), zero\n" +
			"(evaluation rows) or none. recurring_states counts the states (state_key) that occur at least\n" +
			"--k times in the iteration, max_state_visits the occurrences of the most frequent one.\n\n" +
			"Problems: duplicate steps, trajectories whose steps disagree on outcome, success or advantage,\n" +
			"training groups of one, advantages no GRPO convention reproduces (advantage-mismatch), training\n" +
			"iterations whose zero_std_frac exceeds --max-zero-std (zero-signal), logs without records\n" +
			"(empty). Warnings (not problems): no state recurs --k times in any iteration, no step is\n" +
			"labelled; each names the flag that fixes it.\n\n" +
			"Exit status: 0, also when problems are found, unless --strict: then 2 when there is a problem\n" +
			"(bad input, as for a malformed file). With --out FILE.json the file is one object with rows,\n" +
			"problems, warnings and inputs; with .csv or .parquet the problems go to a second table beside\n" +
			"it, FILE.problems.csv or FILE.problems.parquet (written even when empty)." + logsDescription,
		Flags: append([]ucli.Flag{
			outFlag,
			&ucli.IntFlag{Name: "max-problems", Value: 20, Usage: "list at most `N` problems (0: none)"},
			&ucli.BoolFlag{Name: "strict", Usage: "exit with status 2 when a problem is found (for pipelines)"},
			&ucli.Float64Flag{Name: "max-zero-std", Value: analysis.DefaultMaxZeroStd, Usage: "a training iteration whose share of zero-std groups exceeds `F` is a problem (1: never)"},
			&ucli.IntFlag{Name: "k", Value: metrics.DefaultConsistencyK, Usage: "a state recurs when it occurs `K` times in an iteration"},
		}, readFlags(false)...),
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 {
				return &UsageError{Msg: "inspect: want LOGS...; see 'gradcouple inspect --help'"}
			}
			opts := InspectOptions{Logs: c.Args().Slice(), Out: c.String("out"), MaxProblems: c.Int("max-problems"),
				Strict: c.Bool("strict"), MaxZeroStd: c.Float64("max-zero-std"), K: c.Int("k"), Read: readOptionsOf(c)}
			return runInspect(c.Context, opts, env)
		},
	}
}

// problemsPath is the file beside a CSV or parquet --out that takes the
// problems table: x.csv -> x.problems.csv; "" for JSON and stdout.
func problemsPath(out string) string {
	ext := strings.ToLower(filepath.Ext(out))
	if out == "" || out == "-" || ext == ".json" {
		return ""
	}
	return strings.TrimSuffix(out, filepath.Ext(out)) + ".problems" + filepath.Ext(out)
}

// ProblemsError is the failure of `inspect --strict` on logs with problems:
// bad input, exit status 2.
type ProblemsError struct {
	N     int
	Kinds []string
}

func (e *ProblemsError) Error() string {
	return fmt.Sprintf("inspect --strict: %d problem(s) in the logs (%s)", e.N, strings.Join(e.Kinds, ", "))
}

// BadInput marks problems in the logs as bad input.
func (e *ProblemsError) BadInput() bool { return true }

func runInspect(ctx context.Context, opts InspectOptions, env *Env) error {
	if opts.MaxZeroStd <= 0 || opts.K < 2 {
		return &UsageError{Msg: fmt.Sprintf("inspect: want --max-zero-std > 0 and --k >= 2, got %g and %d", opts.MaxZeroStd, opts.K)}
	}
	outs := []output{{flag: "out", path: opts.Out}}
	if p := problemsPath(opts.Out); p != "" {
		outs = append(outs, output{flag: "out (problems table)", path: p})
	}
	if err := firstErr(checkOut(opts.Out), guardOutputs(opts.Logs, outs...)); err != nil {
		return err
	}
	aopts, err := opts.Read.adapterOptions()
	if err != nil {
		return err
	}
	rep, err := analysis.InspectWith(ctx, opts.Logs, analysis.InspectOptions{Adapter: aopts, RecurK: opts.K, MaxZeroStd: opts.MaxZeroStd})
	if err != nil {
		return formatError(err)
	}
	logSources(env, rep.Sources)
	w := env.Stdout
	fmt.Fprintf(w, "%d step records from %d file(s)\n", rep.Sources.Rows, len(rep.Sources.Files))
	if len(rep.Sources.Derived) > 0 {
		fmt.Fprintf(w, "derived by an adapter, not logged: %s\n", strings.Join(rep.Sources.Derived, ", "))
	}
	fmt.Fprintln(w)
	rowsOut := opts.Out
	if strings.EqualFold(filepath.Ext(opts.Out), ".json") {
		rowsOut = "" // one object, written below
	}
	if err := emit(w, rowsOut, rep.Rows, nil); err != nil {
		return err
	}
	warnings := inspectWarnings(rep)
	switch {
	case rowsOut != opts.Out:
		if err := writeInspectJSON(opts.Out, rep, warnings); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s\n", opts.Out)
	case problemsPath(opts.Out) != "":
		if err := emitFile(w, problemsPath(opts.Out), rep.Problems, nil); err != nil {
			return err
		}
	}
	for _, wn := range warnings {
		fmt.Fprintf(env.Stderr, "warning: %s; %s\n", wn.Detail, wn.Fix)
	}
	if len(rep.Problems) == 0 {
		fmt.Fprintln(w, "\nno problems found")
		return nil
	}
	fmt.Fprintf(w, "\n%d problem(s)\n", len(rep.Problems))
	for i, p := range rep.Problems {
		if i == opts.MaxProblems {
			fmt.Fprintf(w, "  ... %d more (--max-problems)\n", len(rep.Problems)-i)
			break
		}
		switch {
		case p.Kind == analysis.ProblemEmpty:
			fmt.Fprintf(w, "  %s: %s\n", p.Kind, p.Detail)
			continue
		case p.Where == "":
			fmt.Fprintf(w, "  %s iteration %d %s: %s: %s\n", p.Run, p.Iteration, p.Split, p.Kind, p.Detail)
			continue
		}
		fmt.Fprintf(w, "  %s iteration %d %s %s: %s: %s\n", p.Run, p.Iteration, p.Split, p.Where, p.Kind, p.Detail)
	}
	if opts.Strict {
		var kinds []string
		for _, p := range rep.Problems {
			if !slices.Contains(kinds, p.Kind) {
				kinds = append(kinds, p.Kind)
			}
		}
		return &ProblemsError{N: len(rep.Problems), Kinds: kinds}
	}
	return nil
}

// inspectWarning is an analysis.Warning with the flag that fixes it.
type inspectWarning struct {
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
	Fix    string `json:"fix"`
}

func inspectWarnings(rep *analysis.InspectReport) []inspectWarning {
	var out []inspectWarning
	for _, w := range rep.Warnings {
		fix := ""
		switch w.Kind {
		case analysis.WarnNoRecurringState:
			fix = stateFix(rep.Sources)
		case analysis.WarnNoLabel:
			fix = labelFix
			if !anyAdapter(rep.Sources) {
				fix = "convert the original logs again with --label-column NAME or --labels FILE (or label the steps with an LLM judge: gradcouple label)"
			}
		}
		out = append(out, inspectWarning{w.Kind, w.Detail, fix})
	}
	return out
}

func anyAdapter(src analysis.Sources) bool {
	for _, in := range src.Inputs {
		if in.Adapter() {
			return true
		}
	}
	return false
}

// writeInspectJSON writes the report to path as one JSON object: rows,
// problems (tables as table.WriteJSON writes them), warnings and inputs.
func writeInspectJSON(path string, rep *analysis.InspectReport, warnings []inspectWarning) error {
	var rows, problems bytes.Buffer
	if err := table.WriteJSON(&rows, rep.Rows); err != nil {
		return err
	}
	if err := table.WriteJSON(&problems, rep.Problems); err != nil {
		return err
	}
	if warnings == nil {
		warnings = []inspectWarning{}
	}
	warn, err := json.Marshal(warnings)
	if err != nil {
		return err
	}
	type input struct {
		Pattern string   `json:"pattern"`
		Format  string   `json:"format"`
		Files   int      `json:"files"`
		Rows    int64    `json:"rows"`
		Derived []string `json:"derived"`
		State   string   `json:"state_rule,omitempty"`
	}
	ins := []input{}
	for _, in := range rep.Sources.Inputs {
		ins = append(ins, input{in.Pattern, in.Format, in.Files, in.Rows, in.Derived, in.State})
	}
	inputs, err := json.Marshal(ins)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "{\"rows\": %s,\n\"problems\": %s,\n\"warnings\": %s,\n\"inputs\": %s}\n",
			bytes.TrimSpace(rows.Bytes()), bytes.TrimSpace(problems.Bytes()), warn, inputs)
		return err
	})
}
