package trainer

import (
	"fmt"

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
	var all rolloutStats
	var recs []trajlog.Record
	for n := range trajs {
		tr, k := &trajs[n], keys[n]
		if stats[k] == nil {
			stats[k] = &rolloutStats{}
		}
		stats[k].add(tr)
		all.add(tr)
		group := fmt.Sprintf("i%06d:%s:%s", i, k.mode, tr.task.ID)
		recs = t.appendRecords(recs, i, k.split, group, group+":0", tr, 0)
	}
	m.EvalByFamily = map[string]map[string]float64{}
	m.EvalSteps = map[string]float64{}
	for k, s := range stats {
		name := k.split + "/" + k.mode
		m.EvalByFamily[name] = s.families()
		m.EvalSteps[name] = s.steps / s.trajs
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
