package trainer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/trajlog"
)

// Evaluation modes.
const (
	modeGreedy  = "greedy"
	modeSampled = "sampled"
)

// evaluate plays the eval tasks of eval-in and eval-out with the current
// policy, greedily and sampled (no prompt correction), fills the eval fields
// of m and returns the step records (split eval-in or eval-out, advantage 0;
// group "i<iteration>:<mode>:<task>").
func (t *trainer) evaluate(i int, m *Metrics) ([]trajlog.Record, error) {
	type key struct{ split, mode string }
	var jobs []playJob
	var keys []key
	E := t.cfg.Eval.Tasks
	for si, split := range []string{env.SplitEvalIn, env.SplitEvalOut} {
		for mi, mode := range []string{modeGreedy, modeSampled} {
			if (mode == modeGreedy && !t.cfg.Eval.Greedy) || (mode == modeSampled && !t.cfg.Eval.Sampled) {
				continue
			}
			pc := t.playConfig(false)
			pc.draw.greedy = mode == modeGreedy
			for j, task := range t.evalTasks[split] {
				idx := (si*2+mi)*E + j
				job := playJob{task: task, pc: pc, judgeRNG: stream(t.cfg.Seed, i, purposeEvalJudge, idx)}
				if mode == modeSampled {
					job.rng = stream(t.cfg.Seed, i, purposeEval, idx)
				}
				jobs = append(jobs, job)
				keys = append(keys, key{split, mode})
			}
		}
	}
	trajs, err := playAll(t.model, t.tok, jobs)
	if err != nil {
		return nil, err
	}
	stats := map[key]*rolloutStats{}
	type outcomes struct {
		tasks  []env.Task
		solved []bool
	}
	parts := map[key]*outcomes{}
	var all rolloutStats
	var recs []trajlog.Record
	for n := range trajs {
		tr, k := &trajs[n], keys[n]
		if stats[k] == nil {
			stats[k], parts[k] = &rolloutStats{}, &outcomes{}
		}
		stats[k].add(tr)
		parts[k].tasks, parts[k].solved = append(parts[k].tasks, tr.task), append(parts[k].solved, tr.solved)
		all.add(tr)
		group := fmt.Sprintf("i%06d:%s:%s", i, k.mode, tr.task.ID)
		recs = t.appendRecords(recs, i, k.split, group, group+":0", tr, 0)
	}
	m.EvalByFamily = map[string]map[string]float64{}
	m.EvalSteps = map[string]float64{}
	m.EvalBy = map[string]float64{}
	for k, s := range stats {
		name := k.split + "/" + k.mode
		m.EvalByFamily[name] = s.families()
		m.EvalSteps[name] = s.steps / s.trajs
		maps.Copy(m.EvalBy, evalBreakdown(k.split, k.mode, parts[k].tasks, parts[k].solved))
		v := ptr(s.success())
		switch k {
		case key{env.SplitEvalIn, modeGreedy}:
			m.EvalInGreedy = v
		case key{env.SplitEvalIn, modeSampled}:
			m.EvalInSampled = v
		case key{env.SplitEvalOut, modeGreedy}:
			m.EvalOutGreedy = v
		case key{env.SplitEvalOut, modeSampled}:
			m.EvalOutSampled = v
		}
	}
	m.EvalVerdictAcc = ratio(all.vAgree, all.labelled)
	return recs, nil
}

// appendRecords appends the step records of one trajectory.
func (t *trainer) appendRecords(recs []trajlog.Record, i int, split, group, traj string, tr *trajectory, adv float64) []trajlog.Record {
	for k := range tr.steps {
		s := &tr.steps[k]
		label := trajlog.LabelBad
		switch {
		case s.excluded:
			label = trajlog.LabelUnknown
		case s.good:
			label = trajlog.LabelGood
		}
		reward := s.reward
		if !s.valid {
			reward -= t.cfg.Rollout.InvalidPenalty
		}
		recs = append(recs, trajlog.Record{
			Run: t.cfg.Run, Iteration: int32(i), Split: split, Env: t.cfg.Env,
			TaskType: tr.task.Type, TaskID: tr.task.ID, GroupID: group, TrajID: traj,
			Turn: int32(s.turn), StateKey: s.stateKey, Prompt: s.prompt, Action: s.action,
			Valid: s.valid, Logprob: float32(s.logp), Label: label, LabelVotes: int8(s.votes),
			Corrected: s.corrected, StepReward: float32(reward), Outcome: float32(tr.outcome),
			Success: tr.solved, Advantage: float32(adv),
		})
	}
	return recs
}

// evalMetric is the metrics.jsonl name of the success rate of an eval split
// and mode: "eval_in_greedy_success", "eval_out_sampled_success", ...
func evalMetric(split, mode string) string {
	return "eval_" + strings.TrimPrefix(split, "eval-") + "_" + mode + "_success"
}

// evalBreakdown returns the success rates of eval episodes of one split and
// mode (tasks[i] solved or not, solved[i]) per task family, under
// "<metric>/<family>", and per shift type of the tasks that have one
// (env.Task.Shift: eval-out), under "<metric>/<shift>"; metric is
// evalMetric(split, mode). Families and shift types have different names.
// It panics if the lengths differ.
func evalBreakdown(split, mode string, tasks []env.Task, solved []bool) map[string]float64 {
	if len(tasks) != len(solved) {
		panic("trainer: evalBreakdown length mismatch")
	}
	base := evalMetric(split, mode)
	counts := map[string][2]float64{} // solved, total
	add := func(k string, ok bool) {
		c := counts[k]
		c[1]++
		if ok {
			c[0]++
		}
		counts[k] = c
	}
	for i, task := range tasks {
		add(base+"/"+task.Type, solved[i])
		if task.Shift != "" {
			add(base+"/"+task.Shift, solved[i])
		}
	}
	out := make(map[string]float64, len(counts))
	for k, c := range counts {
		out[k] = c[0] / c[1]
	}
	return out
}

// metricsFields is Metrics without its JSON methods.
type metricsFields Metrics

// MarshalJSON encodes m as its fields do, followed by the entries of
// EvalBy as top-level keys in sorted order (NaN and infinite values left
// out), so that readers of metrics.jsonl that flatten it
// (analysis.ReadMetrics) see "eval_out_greedy_success/names" next to
// "eval_out_greedy_success".
func (m Metrics) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(metricsFields(m))
	if err != nil || len(m.EvalBy) == 0 {
		return b, err
	}
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1])
	first := len(b) == 2 // "{}"
	for _, k := range slices.Sorted(maps.Keys(m.EvalBy)) {
		v := m.EvalBy[k]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(v)
		if !first {
			buf.WriteByte(',')
		}
		first = false
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// UnmarshalJSON decodes what MarshalJSON encodes: the fields, and every
// top-level key "eval_..._success/..." into EvalBy.
func (m *Metrics) UnmarshalJSON(b []byte) error {
	var f metricsFields
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for k, v := range raw {
		if !strings.HasPrefix(k, "eval_") || !strings.Contains(k, "_success/") {
			continue
		}
		var x float64
		if err := json.Unmarshal(v, &x); err != nil {
			return fmt.Errorf("metrics key %q: %w", k, err)
		}
		if f.EvalBy == nil {
			f.EvalBy = map[string]float64{}
		}
		f.EvalBy[k] = x
	}
	*m = Metrics(f)
	return nil
}
