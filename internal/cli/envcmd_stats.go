package cli

import (
	"fmt"
	"math"
	"strconv"

	"github.com/gradcouple/gradcouple/env"
	ucli "github.com/urfave/cli/v2"
)

// EnvStatsOptions are the inputs of `gradcouple env stats`.
type EnvStatsOptions struct {
	Envs      []string
	Tasks     int
	Seed      uint64
	History   int
	Out       string // per-family table
	SplitsOut string // per-split table
	TwinEdits int    // most token edits between twin prompts (identifiability table)
	IdentOut  string // identifiability table, every column
}

func newEnvStatsCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:  "stats",
		Usage: "task families, split sizes, oracle plan lengths, random-policy success and prompt similarity",
		Description: "Generates --tasks tasks per split (seeds SEED..SEED+N-1) and plays each once with the oracle\n" +
			"and once with the uniform random policy. The split table gives distinct instances, layouts,\n" +
			"goals, the words used (new_words: not used by the train split) and the instances shared with\n" +
			"the train sample (0: disjoint). The family table gives oracle plan lengths, success of both\n" +
			"policies, admissible-list sizes, prompt lengths in word tokens and the token Jaccard of\n" +
			"consecutive prompts of a trajectory.\n\n" +
			"The identifiability table measures, on the oracle demonstration of every task (env.Demonstration),\n" +
			"the steps whose good/bad label the prompt cannot determine, once without and once with the\n" +
			"memory line (memory: the prompt's \"Your observations:\" line listing everything observed so far).\n" +
			"Shares are of steps, printed as percent with a 95% Wilson interval; the --identifiability-out file\n" +
			"has every column, the bounds as X_lo, X_hi. Columns:\n" +
			"  steps            demonstration steps of the split\n" +
			"  search           the action goes to a place (receptacle, room) no observation so far described\n" +
			"  blind            the optimal set depends on contents the observations never described: moving one\n" +
			"                   hidden object to another unseen place where it could be changes it (env.Blind);\n" +
			"                   the same with and without memory\n" +
			"  blind_prompt     the same relative to what the prompt shows: without memory only the last --history\n" +
			"                   observations (env.BlindInPrompt)\n" +
			"  ambiguous        the step's prompt text also occurs in the split's demonstrations in a state with a\n" +
			"                   different optimal set (it grows with --tasks: more prompts to collide with)\n" +
			"  unidentifiable   blind_prompt or ambiguous\n" +
			"  twin_pairs       pairs of distinct prompts at most --twin-edits word-token edits apart whose optimal\n" +
			"                   sets differ (twin_edits); with --env household-twin or lab-twin they include the\n" +
			"                   designed twins (seeds 2s and 2s+1, one cue token apart) at their decision state; with\n" +
			"                   -twin-alias those prompts are equal, so the decision steps are ambiguous instead\n" +
			"  twinned          steps whose prompt is in such a pair\n" +
			"  prompt_tokens_max  the longest prompt in word tokens\n" +
			"A value of - is a value that is not defined (no steps).",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "env", Value: "all", Usage: "environment `NAME`: household, lab, household-twin, lab-twin (-twin-alias: the cue hidden) or all"},
			&ucli.IntFlag{Name: "tasks", Value: env.DefaultStatsTasks, Usage: "tasks `N` per split"},
			&ucli.Uint64Flag{Name: "seed", Value: 0, Usage: "seed `S` of the first task of each split"},
			envHistory,
			outFlag,
			&ucli.StringFlag{Name: "splits-out", Usage: "also write the split table to `FILE` (.parquet, .csv or .json)"},
			&ucli.IntFlag{Name: "twin-edits", Value: env.DefaultTwinEdits, Usage: "twin prompts are at most `K` word-token edits apart"},
			&ucli.StringFlag{Name: "identifiability-out", Usage: "also write the identifiability table, every column, to `FILE` (.parquet, .csv or .json)"},
		},
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 0, "no arguments"); err != nil {
				return err
			}
			envs := []string{c.String("env")}
			if envs[0] == "all" {
				envs = env.Names()
			}
			return runEnvStats(EnvStatsOptions{Envs: envs, Tasks: c.Int("tasks"), Seed: c.Uint64("seed"),
				History: c.Int("history"), Out: c.String("out"), SplitsOut: c.String("splits-out"),
				TwinEdits: c.Int("twin-edits"), IdentOut: c.String("identifiability-out")}, e)
		},
	}
}

func runEnvStats(opts EnvStatsOptions, e *Env) error {
	if err := firstErr(checkOut(opts.Out), checkOut(opts.SplitsOut), checkOut(opts.IdentOut),
		guardOutputs(nil, output{flag: "out", path: opts.Out}, output{flag: "splits-out", path: opts.SplitsOut},
			output{flag: "identifiability-out", path: opts.IdentOut})); err != nil {
		return err
	}
	for _, name := range opts.Envs {
		if _, err := env.ParseWorld(name); err != nil {
			return &UsageError{Msg: fmt.Sprintf("--env %q: want household, lab (each optionally with -twin or -twin-alias) or all", name)}
		}
	}
	if opts.Tasks < 1 {
		return &UsageError{Msg: fmt.Sprintf("--tasks %d: want 1 or more", opts.Tasks)}
	}
	if opts.TwinEdits < 1 {
		return &UsageError{Msg: fmt.Sprintf("--twin-edits %d: want 1 or more", opts.TwinEdits)}
	}
	pcfg, err := promptConfig(opts.History)
	if err != nil {
		return err
	}
	rows, splits, err := env.Stats(env.StatsConfig{Envs: opts.Envs, Tasks: opts.Tasks, Seed: opts.Seed, Prompt: pcfg})
	if err != nil {
		return err
	}
	ident, err := env.Identifiability(env.IdentifiabilityConfig{Envs: opts.Envs, Tasks: opts.Tasks, Seed: opts.Seed,
		Prompt: pcfg, TwinEdits: opts.TwinEdits})
	if err != nil {
		return err
	}
	w := e.Stdout
	fmt.Fprintf(w, "%d tasks per split, seeds %d..%d; prompt history %d\n\n", opts.Tasks, opts.Seed, opts.Seed+uint64(opts.Tasks)-1, opts.History)
	if err := emit(w, opts.SplitsOut, splits, nil); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := emit(w, opts.Out, rows, nil); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nLabel identifiability on the oracle demonstrations (%% of steps, 95%% Wilson interval; twins within %d token edits)\n\n", opts.TwinEdits)
	return emitShown(w, opts.IdentOut, identShownRows(ident), ident, nil)
}

// identShown is a row of the identifiability table as printed: each share
// with its interval in one column.
type identShown struct {
	Env            string `parquet:"env"`
	Split          string `parquet:"split"`
	Memory         bool   `parquet:"memory"`
	Steps          int    `parquet:"steps"`
	Search         string `parquet:"search"`
	Blind          string `parquet:"blind"`
	BlindPrompt    string `parquet:"blind_prompt"`
	Ambiguous      string `parquet:"ambiguous"`
	Unidentifiable string `parquet:"unidentifiable"`
	TwinPairs      int    `parquet:"twin_pairs"`
	Twinned        string `parquet:"twinned"`
	PromptMax      int    `parquet:"prompt_tokens_max"`
}

func identShownRows(rows []env.IdentifiabilityRow) []identShown {
	out := make([]identShown, len(rows))
	for i, r := range rows {
		out[i] = identShown{Env: r.Env, Split: r.Split, Memory: r.Memory, Steps: r.Steps, Search: pct(r.Search),
			Blind: pctIn(r.Blind, r.BlindLo, r.BlindHi), BlindPrompt: pctIn(r.BlindPrompt, r.BlindPromptLo, r.BlindPromptHi),
			Ambiguous: pctIn(r.Ambiguous, r.AmbiguousLo, r.AmbiguousHi), Unidentifiable: pctIn(r.Unidentifiable, r.UnidentifiableLo, r.UnidentifiableHi),
			TwinPairs: r.TwinPairs, Twinned: pctIn(r.Twinned, r.TwinnedLo, r.TwinnedHi), PromptMax: r.PromptMax}
	}
	return out
}

// pct prints a share as a percentage, "-" when it is not defined.
func pct(p float64) string {
	if math.IsNaN(p) {
		return "-"
	}
	return strconv.FormatFloat(100*p, 'f', 1, 64) + "%"
}

// pctIn prints a share with its interval: "16.4% [14.4, 18.6]".
func pctIn(p, lo, hi float64) string {
	if math.IsNaN(p) {
		return "-"
	}
	return pct(p) + " [" + strconv.FormatFloat(100*lo, 'f', 1, 64) + ", " + strconv.FormatFloat(100*hi, 'f', 1, 64) + "]"
}
