package adapter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/trajlog"
)

// ReadRLLM reads one rLLM episode file (episode_*.json, one Episode) from r,
// at most MaxEpisodeBytes. name is the file's path, used in errors, for the step
// and mode when the file has no training_step (from a {mode}_step_{n}_epoch_{e}
// directory in it) and for the run name. Groups and advantages are derived
// within this one episode; use Read on the episodes directory to read a run,
// so that the rollouts of a task form one group.
//
// See the package documentation for the mapping. Bad input gives a
// *trajlog.ValidationError naming name, the 1-based line of the offending
// value and its path (e.g. trajectories[0].steps[2].reward).
func ReadRLLM(r io.Reader, name string, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	var rows []row
	if err := parseRLLM(r, name, opts, collect(&rows)); err != nil {
		return nil, err
	}
	return finish(FormatRLLM, rows, opts, defaultRun(name, FormatRLLM, false))
}

// rllmModeStep finds the nearest {mode}_step_{n}_epoch_{e} directory in path
// (rLLM's EpisodeLogger.get_step_dir) and returns its mode and step.
func rllmModeStep(path string) (mode string, step int64, ok bool) {
	for dir := filepath.Dir(path); ; {
		if m := rllmStepDir.FindStringSubmatch(filepath.Base(dir)); m != nil {
			if n, err := strconv.ParseInt(m[2], 10, 64); err == nil {
				return m[1], n, true
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", 0, false
		}
		dir = parent
	}
}

// splitOfMode maps rLLM's mode ("train", "val") to a split.
func splitOfMode(mode string) (string, bool) {
	switch strings.ToLower(mode) {
	case "train":
		return trajlog.SplitTrain, true
	case "val", "valid", "validation", "test", "eval":
		return trajlog.SplitEvalIn, true
	}
	return trajlog.SplitTrain, false
}

// parseRLLM parses one episode file, handing its rows to emit.
func parseRLLM(r io.Reader, name string, opts Options, emit func(*row) error) error {
	rows, err := parseEpisode(r, name, opts)
	if err != nil {
		return err
	}
	for i := range rows {
		if err := checkText(&rows[i]); err != nil {
			return err
		}
		if err := emit(&rows[i]); err != nil {
			return err
		}
	}
	return nil
}

// parseEpisode parses one episode file into rows.
func parseEpisode(r io.Reader, name string, opts Options) ([]row, error) {
	data, err := readAllLimited(r, MaxEpisodeBytes, name)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, utf8BOM)
	ep, err := parsePyJSON(data, 1)
	if err != nil {
		var line int64
		var je *jsonError
		if errors.As(err, &je) {
			line = je.line
		}
		return nil, invalid(name, line, "", "invalid JSON: %v", err)
	}
	if ep.kind != jObject {
		return nil, invalid(name, ep.line, "", "episode is %s, want a JSON object", ep.kind)
	}

	// Episode id: EpisodeLogger writes episode_id, Episode.to_dict id. rLLM
	// ids are "{task_id}:{rollout_idx}" (Episode.task_id splits at ':').
	var epID string
	for _, key := range []string{"episode_id", "id"} {
		if v := ep.get(key); v.present() {
			if v.kind != jString {
				return nil, invalid(name, v.line, key, "is %s, want a string", v.kind)
			}
			epID = v.str
			break
		}
	}
	taskID := ""
	if i := strings.IndexByte(epID, ':'); i >= 0 {
		taskID = epID[:i]
	} else if v := ep.get("task_hash"); v.present() && v.kind == jString {
		taskID = "hash-" + v.str
	}
	if epID == "" {
		epID = strings.TrimSuffix(filepath.Base(name), ".json")
	}

	mode, dirStep, hasDir := rllmModeStep(name)
	var step int64
	if v := ep.get("training_step"); v.present() {
		if step, err = iterationOf(v, "training_step", name, v.line); err != nil {
			return nil, err
		}
	} else if hasDir {
		if dirStep > math.MaxInt32 {
			return nil, invalid(name, ep.line, "training_step", "step %d of the directory name exceeds int32", dirStep)
		}
		step = dirStep
	} else {
		return nil, invalid(name, ep.line, "training_step", "missing, and no {mode}_step_{n}_epoch_{e} directory in the path")
	}
	split, splitKnown := splitOfMode(mode)

	var correct, hasCorrect bool
	if v := ep.get("is_correct"); v.present() {
		if v.kind != jBool {
			return nil, invalid(name, v.line, "is_correct", "is %s, want a boolean", v.kind)
		}
		correct, hasCorrect = v.b, true
	}

	trajs := ep.get("trajectories")
	switch {
	case trajs == nil:
		return nil, invalid(name, ep.line, "trajectories", "missing")
	case trajs.kind != jArray:
		return nil, invalid(name, trajs.line, "trajectories", "is %s, want an array", trajs.kind)
	}
	var rows []row
	for ti, tv := range trajs.elems {
		tpath := fmt.Sprintf("trajectories[%d]", ti)
		if tv.kind != jObject {
			return nil, invalid(name, tv.line, tpath, "is %s, want an object", tv.kind)
		}
		tname, err := optionalString(tv, "name", tpath, name)
		if err != nil {
			return nil, err
		}
		uid, err := optionalString(tv, "uid", tpath, name)
		if err != nil {
			return nil, err
		}
		trajReward, hasTrajReward := 0.0, false
		if v := tv.get("reward"); v.present() {
			if trajReward, err = requireReward(v, tpath+".reward", name, v.line); err != nil {
				return nil, err
			}
			hasTrajReward = true
		}
		steps := tv.get("steps")
		switch {
		case steps == nil:
			return nil, invalid(name, tv.line, tpath+".steps", "missing")
		case steps.kind != jArray:
			return nil, invalid(name, steps.line, tpath+".steps", "is %s, want an array", steps.kind)
		}
		trajID, trajDerived := uid, false
		if trajID == "" {
			trajID, trajDerived = epID+"/"+strconv.Itoa(ti), true
		}
		first := len(rows)
		var stepSum float64
		for si, sv := range steps.elems {
			spath := fmt.Sprintf("%s.steps[%d]", tpath, si)
			rw, err := rllmStep(sv, spath, name, opts)
			if err != nil {
				return nil, err
			}
			if si > math.MaxInt32 {
				return nil, invalid(name, sv.line, spath, "more than %d steps in a trajectory", math.MaxInt32)
			}
			stepSum += float64(rw.rec.StepReward)
			rw.rec.Iteration = int32(step)
			rw.rec.Split, rw.splitDerived = split, !splitKnown
			rw.rec.TaskID = taskID
			rw.rec.TrajID, rw.trajDerived = trajID, trajDerived
			rw.rec.Turn = int32(si)
			rows = append(rows, rw)
		}
		// Outcome: the trajectory reward; when the log has none, the sum of
		// the step rewards, which is what rLLM's Workflow.compute_trajectory_reward
		// assigns by default.
		outcome := trajReward
		if !hasTrajReward {
			outcome = stepSum
			if math.IsInf(float64(float32(outcome)), 0) {
				return nil, invalid(name, tv.line, tpath+".reward", "sum of step rewards %g is outside the float32 range", outcome)
			}
		}
		for i := first; i < len(rows); i++ {
			rw := &rows[i]
			rw.outcome = outcome
			rw.rec.Outcome = float32(outcome)
			if hasCorrect {
				rw.rec.Success, rw.hasSuccess = correct, true
			}
			rw.groupKey = rows[first].rec.Prompt
			if taskID != "" {
				rw.groupSuffix = taskID
				if tname != "" {
					rw.groupSuffix += ":" + tname
				}
			}
		}
	}
	return rows, nil
}

// optionalString returns the string field key of object v, "" when absent or null.
func optionalString(v *jvalue, key, path, file string) (string, error) {
	f := v.get(key)
	if !f.present() {
		return "", nil
	}
	if f.kind != jString {
		return "", invalid(file, f.line, path+"."+key, "is %s, want a string", f.kind)
	}
	return f.str, nil
}

// rllmStep maps one rLLM Step to a row (without the episode-level fields).
func rllmStep(sv *jvalue, path, file string, opts Options) (row, error) {
	if sv.kind != jObject {
		return row{}, invalid(file, sv.line, path, "is %s, want an object", sv.kind)
	}
	rw := newRow()
	rw.file, rw.line = file, sv.line
	prompt, err := rllmPrompt(sv, path, file)
	if err != nil {
		return row{}, err
	}
	rw.rec.Prompt = prompt
	action, err := rllmAction(sv, path, file)
	if err != nil {
		return row{}, err
	}
	rw.rec.Action = action
	if opts.LabelColumn != "" {
		if rw.rec.Label, err = labelColumn(sv, opts.LabelColumn, path, file, sv.line); err != nil {
			return row{}, err
		}
	}
	if v := sv.get("reward"); v != nil {
		r, err := requireReward(v, path+".reward", file, v.line)
		if err != nil {
			return row{}, err
		}
		rw.rec.StepReward = float32(r)
	}
	if v := sv.get("logprobs"); v.present() {
		if v.kind != jArray {
			return row{}, invalid(file, v.line, path+".logprobs", "is %s, want an array of numbers", v.kind)
		}
		var sum float64
		for i, e := range v.elems {
			if e.kind != jNumber || math.IsNaN(e.num) || math.IsInf(e.num, 0) {
				return row{}, invalid(file, e.line, fmt.Sprintf("%s.logprobs[%d]", path, i), "is %s, want a finite number", describeValue(e))
			}
			sum += e.num
		}
		if len(v.elems) > 0 && !math.IsInf(float64(float32(sum)), 0) {
			rw.rec.Logprob = float32(sum)
			rw.hasLogprob = true
		}
	}
	// Token ids: Step.to_dict writes prompt_ids and response_ids (filled
	// from the rollout engine's ModelOutput, whose own prompt_ids and
	// completion_ids are the fallback). EpisodeLogger writes neither.
	if rw.rec.PromptIDs, rw.rec.ActionIDs, err = tokenIDs(sv, "prompt_ids", "response_ids", path+".", file, sv.line); err != nil {
		return row{}, err
	}
	if mo := sv.get("model_output"); rw.rec.PromptIDs == nil && mo.present() && mo.kind == jObject {
		if rw.rec.PromptIDs, rw.rec.ActionIDs, err = tokenIDs(mo, "prompt_ids", "completion_ids", path+".model_output.", file, mo.line); err != nil {
			return row{}, err
		}
	}
	if v := sv.get("advantage"); v.present() && v.kind == jNumber {
		// A scalar advantage (Step.to_dict); a per-token list is not one
		// number and is recomputed instead.
		if math.IsNaN(v.num) || math.IsInf(float64(float32(v.num)), 0) {
			return row{}, invalid(file, v.line, path+".advantage", "is %s; an advantage must be finite", v.raw)
		}
		rw.rec.Advantage = float32(v.num)
		rw.hasAdv = true
	}
	return rw, nil
}

// describeValue names a value for an error: its kind, or the literal for a number.
func describeValue(v *jvalue) string {
	if v.kind == jNumber {
		return v.raw
	}
	return v.kind.String()
}

// rllmPrompt returns the text the actor was conditioned on at this step: the
// step's chat_completions without the final assistant message (the response
// this step produced), rendered one "role: content" block per message; when
// there are no chat messages, the observation.
func rllmPrompt(sv *jvalue, path, file string) (string, error) {
	cc := sv.get("chat_completions")
	if cc.present() {
		if cc.kind != jArray {
			return "", invalid(file, cc.line, path+".chat_completions", "is %s, want an array of messages", cc.kind)
		}
		msgs := cc.elems
		var roles, contents []string
		for i, m := range msgs {
			mpath := fmt.Sprintf("%s.chat_completions[%d]", path, i)
			if m.kind != jObject {
				return "", invalid(file, m.line, mpath, "is %s, want a message object", m.kind)
			}
			role, err := optionalString(m, "role", mpath, file)
			if err != nil {
				return "", err
			}
			roles = append(roles, role)
			contents = append(contents, contentText(m.get("content")))
		}
		if n := len(roles); n > 0 && roles[n-1] == "assistant" {
			roles, contents = roles[:n-1], contents[:n-1]
		}
		if len(roles) > 0 {
			var sb strings.Builder
			for i := range roles {
				if i > 0 {
					sb.WriteString("\n\n")
				}
				sb.WriteString(roles[i])
				sb.WriteString(": ")
				sb.WriteString(contents[i])
			}
			return sb.String(), nil
		}
	}
	obs := sv.get("observation")
	if obs == nil && !cc.present() {
		return "", invalid(file, sv.line, path+".observation", "missing, and no chat_completions: the step has no prompt")
	}
	return valueText(obs), nil
}

// contentText renders a chat message's content: a string as is, a list of
// parts as their text (an image part as "<image>"), anything else as JSON.
func contentText(c *jvalue) string {
	if c == nil || c.kind != jArray {
		return valueText(c)
	}
	var sb strings.Builder
	for _, part := range c.elems {
		switch t := part.get("text"); {
		case part.kind == jString:
			sb.WriteString(part.str)
		case t != nil && t.kind == jString:
			sb.WriteString(t.str)
		case part.get("type") != nil && strings.Contains(valueText(part.get("type")), "image"):
			sb.WriteString("<image>")
		default:
			sb.WriteString(valueText(part))
		}
	}
	return sb.String()
}

// valueText renders a value as text: a string as is, null as "", anything else
// as compact JSON.
func valueText(v *jvalue) string {
	switch {
	case v == nil || v.kind == jNull:
		return ""
	case v.kind == jString:
		return v.str
	}
	return string(v.appendJSON(nil))
}

// rllmAction returns the action text of a step: the parsed action when it is
// set (rLLM's EpisodeLogger serialises an Action object with str(), giving
// "Action(action='...')", which is unwrapped), otherwise the raw model_response.
func rllmAction(sv *jvalue, path, file string) (string, error) {
	if a := sv.get("action"); a.present() {
		var text string
		if a.kind == jString {
			text = unwrapActionRepr(a.str)
		} else {
			text = valueText(a)
		}
		if text != "" {
			return text, nil
		}
	}
	resp, err := optionalString(sv, "model_response", path, file)
	if err != nil {
		return "", err
	}
	return resp, nil
}

// unwrapActionRepr turns the Python text of an rLLM Action into the action:
// the repr "Action(action='go to desk 1')" of older releases and the str of
// the current pydantic model, "action='go to desk 1'", both give "go to desk
// 1", also when further fields follow ("Action(action='x', id=3)",
// "action='x' id=3"). Other strings are returned unchanged.
func unwrapActionRepr(s string) string {
	inner, wrapped := strings.CutPrefix(s, "Action(")
	if wrapped {
		var ok bool
		if inner, ok = strings.CutSuffix(inner, ")"); !ok {
			return s
		}
	}
	val, ok := strings.CutPrefix(inner, "action=")
	if !ok {
		return s
	}
	lit, rest, ok := cutPythonStr(val)
	if !ok {
		if wrapped && !strings.ContainsAny(val, ",=") {
			return val // Action(action=look): not a str repr, kept as written
		}
		return s
	}
	sep := " "
	if wrapped {
		sep = ", "
	}
	if rest != "" {
		field, ok := strings.CutPrefix(rest, sep)
		if !ok || !isPythonField(field) {
			return s
		}
	}
	return lit
}

// cutPythonStr decodes the Python str literal at the start of s, returning
// it and what follows it.
func cutPythonStr(s string) (lit, rest string, ok bool) {
	if s == "" || (s[0] != '\'' && s[0] != '"') {
		return "", "", false
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case s[0]:
			lit, ok := unquotePythonStr(s[:i+1])
			return lit, s[i+1:], ok
		}
	}
	return "", "", false
}

// isPythonField reports whether s starts with "name=", a further field of a
// pydantic str or repr.
func isPythonField(s string) bool {
	name, _, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return false
	}
	for i, c := range name {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// unquotePythonStr decodes a Python str repr ('...' or "..."), reporting false
// when s is not one.
func unquotePythonStr(s string) (string, bool) {
	if len(s) < 2 || (s[0] != '\'' && s[0] != '"') || s[len(s)-1] != s[0] {
		return "", false
	}
	q := s[0]
	body := s[1 : len(s)-1]
	var sb strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == q {
			return "", false // an unescaped quote: not a single literal
		}
		if c != '\\' {
			sb.WriteByte(c)
			continue
		}
		if i+1 >= len(body) {
			return "", false
		}
		i++
		switch e := body[i]; e {
		case '\\', '\'', '"':
			sb.WriteByte(e)
		case 'n':
			sb.WriteByte('\n')
		case 't':
			sb.WriteByte('\t')
		case 'r':
			sb.WriteByte('\r')
		case 'x', 'u', 'U':
			width := 2
			switch e {
			case 'u':
				width = 4
			case 'U':
				width = 8
			}
			if i+1+width > len(body) {
				return "", false
			}
			n, err := strconv.ParseUint(body[i+1:i+1+width], 16, 32)
			if err != nil {
				return "", false
			}
			sb.WriteRune(rune(n))
			i += width
		default:
			sb.WriteByte('\\')
			sb.WriteByte(e)
		}
	}
	return sb.String(), true
}
