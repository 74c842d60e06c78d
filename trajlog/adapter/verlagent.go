package adapter

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// GroupAdvantageMode says over what a recomputed GRPO advantage takes its
// group mean and standard deviation, where a log has several step samples per
// trajectory (verl-agent).
type GroupAdvantageMode string

const (
	// AdvantageTrajectory (the default) is GRPO as DESIGN.md §4 defines it:
	// one outcome per distinct trajectory of the group, every step of
	// trajectory j getting A_j.
	AdvantageTrajectory GroupAdvantageMode = "trajectory"
	// AdvantageCrossStep is verl-agent's default
	// (compute_grpo_outcome_advantage with compute_mean_std_cross_steps=True):
	// the mean and sample standard deviation over every step sample of the
	// group, copies appended by adjust_batch included, of each sample's own
	// score (the episode reward minus the invalid-action penalty of that
	// step); a group of one sample has mean 0 and std 1.
	AdvantageCrossStep GroupAdvantageMode = "cross-step"
	// AdvantageGiGPO names verl-agent's GiGPO estimator, whose step-level part
	// (discounted step returns grouped by anchor observation, with its own
	// normalisation modes) cannot be recomputed from a dump: it is refused,
	// and its advantages must be dumped.
	AdvantageGiGPO GroupAdvantageMode = "gigpo"
)

// ErrGiGPO is returned when GiGPO advantages are asked to be recomputed.
var ErrGiGPO = errors.New("GiGPO advantages cannot be recomputed from a rollout dump: dump the advantages the update used (scripts/verl-agent/gradcouple_dump.py writes them as \"advantages\")")

// ParseGroupAdvantageMode returns the mode named s ("", "trajectory",
// "cross-step" or "gigpo").
func ParseGroupAdvantageMode(s string) (GroupAdvantageMode, error) {
	switch m := GroupAdvantageMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "", AdvantageTrajectory:
		return AdvantageTrajectory, nil
	case AdvantageCrossStep, AdvantageGiGPO:
		return m, nil
	}
	return "", fmt.Errorf("unknown advantage mode %q (want trajectory, cross-step or gigpo)", s)
}

// ReadVerlAgent reads one verl-agent rollout dump ({step}.jsonl whose lines
// carry the batch's fields, see the package documentation) from r. name is
// the file name used in errors and, when a line has no step, for the step.
// Exact copies of a step line are dropped.
func ReadVerlAgent(r io.Reader, name string, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	var rows []row
	if err := parseVerlAgent(r, name, opts, collect(&rows)); err != nil {
		return nil, err
	}
	return finish(FormatVerlAgent, rows, opts, defaultRun(name, FormatVerlAgent, false))
}

// parseVerlAgent parses the lines of one verl-agent dump ({step}.jsonl with
// the batch's fields, see the package documentation), handing each row to
// emit. Lines are per environment step, in any order, copies included.
func parseVerlAgent(r io.Reader, name string, opts Options, emit func(*row) error) error {
	fileStep := stepOfDumpName(filepath.Base(name))
	return dumpLines(r, name, "verl-agent rollout dump", func(text []byte, line int64) error {
		rw, err := verlAgentLine(text, name, line, fileStep, opts)
		if err != nil {
			return err
		}
		return emit(&rw)
	})
}

// verlAgentFix is the hint given when a dump lacks the batch's fields.
const verlAgentFix = "dump the batch's uid, traj_uid, turn and episode_rewards with scripts/verl-agent/gradcouple_dump.py"

// verlAgentLine maps one line of a verl-agent dump to a row.
func verlAgentLine(text []byte, name string, line, fileStep int64, opts Options) (row, error) {
	v, input, output, score, step, err := dumpHead(text, name, line, fileStep)
	if err != nil {
		return row{}, err
	}
	need := func(key, why string) (*jvalue, error) {
		f := v.get(key)
		if !f.present() {
			return nil, invalid(name, line, key, "missing: %s; %s", why, verlAgentFix)
		}
		return f, nil
	}
	uid, err := need("uid", "the GRPO group of the step")
	if err != nil {
		return row{}, err
	}
	traj, err := need("traj_uid", "the trajectory of the step")
	if err != nil {
		return row{}, err
	}
	for _, f := range []struct {
		key string
		v   *jvalue
	}{{"uid", uid}, {"traj_uid", traj}} {
		if f.v.kind != jString {
			return row{}, invalid(name, line, f.key, "is %s, want a string", f.v.kind)
		}
	}
	tv, err := need("turn", "the dump's order is scrambled (_balance_batch), so the step index must be dumped")
	if err != nil {
		return row{}, err
	}
	turn, err := iterationOf(tv, "turn", name, line)
	if err != nil {
		return row{}, err
	}
	ev, err := need("episode_rewards", "the trajectory's return, its GRPO outcome")
	if err != nil {
		return row{}, err
	}
	outcome, err := requireReward(ev, "episode_rewards", name, line)
	if err != nil {
		return row{}, err
	}

	rw := newRow()
	rw.file, rw.line = name, line
	rw.rec.Iteration = int32(step)
	rw.rec.TrajID = traj.str
	rw.groupSuffix = uid.str
	rw.rec.Turn = int32(turn)
	rw.rec.Prompt = input
	rw.rec.Outcome = float32(outcome)
	rw.outcome = outcome
	rw.score = score
	rw.dedupe = true
	if rw.rec.PromptIDs, rw.rec.ActionIDs, err = tokenIDs(v, "prompt_ids", "action_ids", "", name, line); err != nil {
		return row{}, err
	}
	rw.content = contentHash(input, output, score, rw.rec.PromptIDs, rw.rec.ActionIDs)

	action, tagged := actionOf(output)
	if opts.RawAction {
		action = output
	}
	rw.rec.Action = action
	rw.noActionTag = !tagged
	if vv := v.get("is_action_valid"); vv.present() {
		b, err := boolOf(vv, "is_action_valid", name, line)
		if err != nil {
			return row{}, err
		}
		rw.rec.Valid = b
		rw.hasValid = true
	} else {
		rw.rec.Valid = tagged
	}
	if rv := v.get("rewards"); rv.present() {
		sr, err := requireReward(rv, "rewards", name, line)
		if err != nil {
			return row{}, err
		}
		rw.rec.StepReward = float32(sr)
	} else {
		rw.stepRewardDerived = true
	}
	if wv := v.get("won"); wv.present() {
		b, err := boolOf(wv, "won", name, line)
		if err != nil {
			return row{}, err
		}
		rw.rec.Success = b
		rw.hasSuccess = true
	}
	if av := v.get("advantages"); av.present() {
		a, err := requireReward(av, "advantages", name, line)
		if err != nil {
			return row{}, err
		}
		rw.rec.Advantage = float32(a)
		rw.hasAdv = true
	}
	task := taskOf(input)
	rw.rec.TaskID = task
	if ov := v.get("anchor_obs"); ov.present() {
		if ov.kind != jString {
			return row{}, invalid(name, line, "anchor_obs", "is %s, want a string", ov.kind)
		}
		rw.stateText = "task: " + task + "\x00anchor: " + ov.str
	} else {
		rw.stateText = "prompt: " + StripHistory(input)
	}
	if opts.LabelColumn != "" {
		if rw.rec.Label, err = labelColumn(v, opts.LabelColumn, "", name, line); err != nil {
			return row{}, err
		}
	}
	if err := checkText(&rw); err != nil {
		return row{}, err
	}
	return rw, nil
}

// boolOf reads a JSON boolean, or a 0/1 number (numpy bools dumped through
// float arrays).
func boolOf(f *jvalue, field, file string, line int64) (bool, error) {
	switch {
	case f.kind == jBool:
		return f.b, nil
	case f.kind == jNumber && (f.num == 0 || f.num == 1):
		return f.num == 1, nil
	}
	return false, invalid(file, line, field, "is %s, want true or false", f.kind)
}

// actionOf extracts the action from a response as verl-agent's ALFWorld
// projection does (agent_system/environments/env_package/alfworld/projection.py):
// the lower-cased text between the first "<action>" and the first
// "</action>", trimmed. A response without both tags is an invalid action;
// the environment then receives its last 30 characters, lower-cased, which
// is what is returned, with tagged false.
func actionOf(output string) (action string, tagged bool) {
	low := strings.ToLower(output)
	s := strings.Index(low, "<action>")
	e := strings.Index(low, "</action>")
	if s < 0 || e < 0 || e < s+len("<action>") {
		r := []rune(low)
		if len(r) > 30 {
			r = r[len(r)-30:]
		}
		return string(r), false
	}
	return strings.TrimSpace(low[s+len("<action>") : e]), true
}

// taskOf returns the task of a verl-agent prompt: the rest of the line after
// "Your task is to: ", or "".
func taskOf(prompt string) string {
	_, after, ok := strings.Cut(prompt, "Your task is to: ")
	if !ok {
		return ""
	}
	task, _, _ := strings.Cut(after, "\n")
	return strings.TrimSpace(task)
}

var (
	// historyRe matches verl-agent's history sentence and the history lines
	// that follow it, up to the "You are now at step" line.
	historyRe = regexp.MustCompile(`(?s)Prior to this step, you have already taken \d+ step\(s\)\..*?\n(You are now at step)`)
	// stepNowRe matches the step counter before the current observation.
	stepNowRe = regexp.MustCompile(`You are now at step \d+ and your current observation is:`)
	// stepCounterRe finds the marks of a multi-turn prompt: a step counter or
	// a history line, in verl-agent's templates and in common agent prompts.
	stepCounterRe = regexp.MustCompile(`(?i)(you are now at step \d+|prior to this step|\[observation \d+:|\bstep \d+ of \d+\b|\bturn \d+\b|previous actions?:)`)
)

// StripHistory removes from a verl-agent prompt what changes with the
// trajectory rather than with the state: the history sentence with its
// "[Observation k: ..., Action k: ...]" lines, and the step number of "You
// are now at step k and your current observation is:", which becomes "Your
// current observation is:" as in the first step's template. What is left is
// the task, the current observation and the admissible actions. Other
// prompts are returned unchanged.
func StripHistory(prompt string) string {
	s := historyRe.ReplaceAllString(prompt, "$1")
	return stepNowRe.ReplaceAllString(s, "Your current observation is:")
}

// contentHash identifies a line's content (its text, score and token ids,
// if any), to tell an exact copy (same trajectory, turn and content) from two
// different lines claiming the same step.
func contentHash(input, output string, score float64, ids ...[]int32) uint64 {
	h := fnv.New64a()
	h.Write([]byte(input))
	h.Write([]byte{0})
	h.Write([]byte(output))
	h.Write([]byte{0})
	h.Write(strconv.AppendFloat(nil, score, 'g', -1, 64))
	var buf []byte
	for _, l := range ids {
		buf = append(appendIDs(buf[:0], l), ';')
		h.Write(buf)
	}
	return h.Sum64()
}

// multiTurnStats counts, over a verl dump read as single-turn, the signs
// that its lines are environment steps of multi-turn trajectories.
type multiTurnStats struct {
	lines       int64
	counters    int64               // lines whose prompt has a step counter or history
	exact       map[uint64]struct{} // hashes of the lines' content
	duplicates  int64               // lines equal to an earlier line
	firstFile   string
	firstLine   int64
	firstPrompt string
}

func (m *multiTurnStats) observe(r *row) {
	if m.exact == nil {
		m.exact = map[uint64]struct{}{}
	}
	m.lines++
	if stepCounterRe.MatchString(r.rec.Prompt) {
		if m.counters == 0 {
			m.firstFile, m.firstLine = r.file, r.line
			m.firstPrompt = stepCounterRe.FindString(r.rec.Prompt)
		}
		m.counters++
	}
	h := contentHash(r.rec.Prompt, r.rec.Action, r.score)
	if _, ok := m.exact[h]; ok {
		m.duplicates++
	} else {
		m.exact[h] = struct{}{}
	}
}

// MultiTurnError refuses a verl dump that looks like verl-agent's multi-turn
// dump without the fields that rebuild its trajectories.
type MultiTurnError struct {
	Path                        string
	Lines, Counters, Duplicates int64
	Groups, Singletons          int
	Example                     string // file:line and the step counter found
}

func (e *MultiTurnError) Error() string {
	var signs []string
	if e.Counters > 0 {
		signs = append(signs, fmt.Sprintf("%d of %d lines have a step counter or history in the prompt (e.g. %s)", e.Counters, e.Lines, e.Example))
	}
	if e.Singletons > 0 {
		signs = append(signs, fmt.Sprintf("%d of %d groups derived from identical prompts are single lines", e.Singletons, e.Groups))
	}
	if e.Duplicates > 0 {
		signs = append(signs, fmt.Sprintf("%d lines are exact copies of others (verl-agent's adjust_batch pads with copies)", e.Duplicates))
	}
	return fmt.Sprintf("%s looks like a multi-turn dump (verl-agent writes one line per environment step): %s. "+
		"Without uid, traj_uid and turn its trajectories, groups and advantages cannot be recovered; "+
		"%s and convert with --format verl-agent, or read every line as a one-step trajectory with --single-turn",
		e.Path, strings.Join(signs, "; "), verlAgentFix)
}

// BadInput marks the error as bad input (exit status 2).
func (e *MultiTurnError) BadInput() bool { return true }

// check returns a *MultiTurnError when the dump looks multi-turn: at least
// a fifth of the lines carry a step counter or history, or most derived groups
// are single lines while some lines are exact copies of others.
func (m *multiTurnStats) check(path string, groups, singletons int) error {
	if m.lines == 0 {
		return nil
	}
	counters := m.counters*5 >= m.lines
	copies := m.duplicates > 0 && singletons*2 > groups
	if !counters && !copies {
		return nil
	}
	return &MultiTurnError{Path: path, Lines: m.lines, Counters: m.counters, Duplicates: m.duplicates,
		Groups: groups, Singletons: singletons,
		Example: fmt.Sprintf("%q at %s:%d", m.firstPrompt, filepath.Base(m.firstFile), m.firstLine)}
}
