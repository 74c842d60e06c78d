package cli

import (
	"fmt"
	"strings"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/metrics"
	"github.com/gradcouple/gradcouple/trajlog/adapter"
	ucli "github.com/urfave/cli/v2"
)

// ReadOptions are the flags that say how other trainers' logs (verl,
// verl-agent, TRL, rLLM) become step records: shared by convert and by every
// analysis command that reads logs directly.
type ReadOptions struct {
	Format           string // "" or "auto": detect
	NoStd            bool
	SuccessThreshold float64
	RewardColumns    []string
	SingleTurn       bool
	RawAction        bool
	Advantage        string // verl-agent: trajectory, cross-step or gigpo
	State            string // state rule: a preset or regex:PATTERN
	LabelColumn      string
	Labels           string // label table file
}

// stateUsage lists the state rules for help texts.
var stateUsage = "state rule `RULE` making state_key: prompt (the whole prompt, the default of verl, TRL, rLLM), " +
	"verl-agent (the prompt without verl-agent's history and step counter), observation (the task and the text after " +
	"\"current observation is:\": the keys of verl-agent's anchor_obs), last-user (the last user turn of a chat-templated prompt), " +
	"or regex:PATTERN (the pattern's capture groups, or the whole match); a prompt the rule finds no state in is an error (exit 2)"

// readFlags are the flags of ReadOptions. The input format is --log-format
// (convert: --format, its own name before analyses read logs directly): on
// the analysis commands --format is the global flag of the output format.
func readFlags(convert bool) []ucli.Flag {
	format := &ucli.StringFlag{Name: "log-format", Value: "auto", Usage: "format `F` of logs that are not canonical step records: auto (detect), verl, verl-agent, trl or rllm"}
	if convert {
		format = &ucli.StringFlag{Name: "format", Aliases: []string{"log-format"}, Value: "auto", Usage: "input format `F`: auto, verl, verl-agent, trl or rllm"}
	}
	return []ucli.Flag{
		format,
		&ucli.StringFlag{Name: "state", Usage: stateUsage},
		&ucli.StringFlag{Name: "label-column", Usage: "judge labels from field `NAME` of each verl/verl-agent line, TRL column or rLLM step (1/0/-1, true/false, \"good\"/\"bad\")"},
		&ucli.StringFlag{Name: "labels", Usage: "judge labels from table `FILE` (.csv, .jsonl, .parquet) with label, optional label_votes, keyed by traj_id and turn or by state_key and action; overrides --label-column where it has a row"},
		&ucli.BoolFlag{Name: "no-std", Usage: "recompute missing advantages as Dr. GRPO R - mean R"},
		&ucli.Float64Flag{Name: "success-threshold", Usage: "a trajectory succeeds when its outcome is above `X`"},
		&ucli.StringFlag{Name: "reward-columns", Usage: "TRL: the reward-function columns `A,B` summed into the outcome (default: every float column)"},
		&ucli.StringFlag{Name: "advantage", Value: "trajectory", Usage: "verl-agent, where advantages are not dumped: `MODE` trajectory (GRPO over the group's distinct trajectories), cross-step (verl-agent's default: mean and std over every step sample of the group, copies included); gigpo is refused (dump its advantages)"},
		&ucli.BoolFlag{Name: "single-turn", Usage: "verl: read a dump that looks multi-turn as single-turn anyway (every line a one-step trajectory)"},
		&ucli.BoolFlag{Name: "raw-action", Usage: "verl-agent: keep the whole response as the action instead of the text between <action> and </action>"},
	}
}

// readOptionsOf reads the flags of readFlags.
func readOptionsOf(c *ucli.Context) ReadOptions {
	var cols []string
	if s := c.String("reward-columns"); s != "" {
		cols = strings.Split(s, ",")
	}
	return ReadOptions{
		Format: c.String("log-format"), NoStd: c.Bool("no-std"), SuccessThreshold: c.Float64("success-threshold"),
		RewardColumns: cols, SingleTurn: c.Bool("single-turn"), RawAction: c.Bool("raw-action"),
		Advantage: c.String("advantage"), State: c.String("state"), LabelColumn: c.String("label-column"),
		Labels: c.String("labels"),
	}
}

// adapterOptions checks o and turns it into adapter options; it reads the
// label table. Flag mistakes are usage errors, a bad label table bad input.
func (o ReadOptions) adapterOptions() (adapter.Options, error) {
	format := adapter.Format("")
	if o.Format != "" && o.Format != "auto" {
		f, err := adapter.ParseFormat(o.Format)
		if err != nil {
			return adapter.Options{}, &UsageError{Msg: fmt.Sprintf("--format: %v", err)}
		}
		if f == adapter.FormatCanonical {
			f = "" // canonical logs are read as they are
		}
		format = f
	}
	mode, err := adapter.ParseGroupAdvantageMode(o.Advantage)
	if err != nil {
		return adapter.Options{}, &UsageError{Msg: "--advantage: " + err.Error()}
	}
	state, err := adapter.ParseStateRule(o.State)
	if err != nil {
		return adapter.Options{}, &UsageError{Msg: "--state: " + err.Error()}
	}
	opts := adapter.Options{
		SuccessThreshold: o.SuccessThreshold, RewardColumns: o.RewardColumns,
		Advantage: metrics.AdvantageConfig{NoStd: o.NoStd}, Format: format,
		SingleTurn: o.SingleTurn, RawAction: o.RawAction, GroupAdvantage: mode,
		State: state, LabelColumn: o.LabelColumn,
	}
	if o.Labels != "" {
		l, err := adapter.ReadLabels(o.Labels)
		if err != nil {
			return adapter.Options{}, badInput(fmt.Errorf("--labels: %w", err))
		}
		opts.Labels = l
	}
	return opts, nil
}

// logsDescription ends the help of the commands that read logs.
const logsDescription = "\n\nLOGS are canonical step-record files (.parquet or .jsonl), directories of them (a run\n" +
	"directory's logs/ is found) or globs, or other trainers' logs read directly through the adapter\n" +
	"'gradcouple convert' uses (verl {step}.jsonl dumps, verl-agent dumps, TRL completions_{step}.parquet,\n" +
	"rLLM episode_*.json; detected, or --log-format). Which adapter read which input is said on stderr.\n" +
	"For those logs --state RULE says which part of the prompt is the state, --label-column and\n" +
	"--labels where the judge labels are; converting once with the same flags is faster for repeated\n" +
	"analyses."

// stateFix says which flag makes states recur in the inputs of src.
func stateFix(src analysis.Sources) string {
	var adapters, canonical, agent bool
	for _, in := range src.Inputs {
		if in.Adapter() {
			adapters = true
			agent = agent || in.Format == string(adapter.FormatVerlAgent) || in.Format == string(adapter.FormatVerl)
		} else {
			canonical = true
		}
	}
	rules := "--state last-user (chat prompts) or --state regex:PATTERN"
	if agent {
		rules = "--state verl-agent (history and step counter removed), --state observation (task and current observation), --state last-user (chat prompts) or --state regex:PATTERN"
	}
	switch {
	case adapters && !canonical:
		return "the state key hashes the whole prompt (history, step counters); say what the state is with " + rules
	case adapters:
		return "for the logs read through an adapter use " + rules + "; convert the canonical ones again from their original logs with the same flag"
	}
	return "the state key of these logs was made when they were converted; convert the original logs again with " + rules
}

// labelFix says how to get judge labels.
const labelFix = "name the label field with --label-column NAME or give a table with --labels FILE (or label the steps with an LLM judge: 'gradcouple label', docs/label.md)"
