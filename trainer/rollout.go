package trainer

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/policy"
)

// correctionText is the line prompt-based correction adds to a prompt,
// before its final "Your action:" line, for each rejected action.
const correctionText = "Warning: %s is likely a wrong action here, choose another one."

// promptTail ends every env.Prompt.
const promptTail = "\nYour action:"

// corrected returns prompt with a correction line naming action.
func corrected(prompt, action string) string {
	head, ok := strings.CutSuffix(prompt, promptTail)
	if !ok {
		return prompt + "\n" + fmt.Sprintf(correctionText, action)
	}
	return head + "\n" + fmt.Sprintf(correctionText, action) + promptTail
}

// playConfig sets how one trajectory is played.
type playConfig struct {
	draw           drawOptions // trie is filled in per state when constrained
	constrained    bool
	prompt         env.PromptConfig
	judge          env.Judge
	invalidPenalty float64
	maxSteps       int // 0: the environment's limit
	// correction (training rollouts of GCD)
	correction bool
	threshold  float64
	repeats    int
	maxTries   int
}

// step is one played agent step.
type step struct {
	turn     int
	stateKey string
	prompt   string // the prompt the action was drawn from (with correction lines)
	seq      policy.Seq
	action   string
	conLogp  []float64 // log pi_old of each action token and <eos> under the sampling policy (constrained, temperature 1)
	forced   []bool    // tokens the constraint forced
	logp     float64
	// Sums over the drawn tokens (see draw) and their number.
	entropy, entVocab, mass float64
	ntok                    int
	verdict                 policy.Verdict // the actor's own verdict on (prompt, action)
	pGood                   float64        // its p(good) over {good, bad}
	valid                   bool
	optimal                 bool // ground truth: the action is on a shortest plan
	good                    bool // the judge's verdict
	excluded                bool // the judge leaves this step unlabelled (env.Judge.Excludes)
	votes                   int
	corrected               bool
	tries                   int // actions rejected by correction before this one
	reward                  float64
}

// trajectory is one played episode.
type trajectory struct {
	task    env.Task
	steps   []step
	solved  bool
	failed  bool
	invalid int
	outcome float64
}

// play runs one episode of task. rng draws the actions, judgeRNG the judge's
// noise; both are the trajectory's own streams.
func (s *sampler) play(task env.Task, pc playConfig, rng, judgeRNG *rand.Rand) (trajectory, error) {
	e, _, err := env.Start(task)
	if err != nil {
		return trajectory{}, err
	}
	ctx := s.m.Config().Context
	tr := trajectory{task: task}
	var past []env.Turn
	for !e.Done() && (pc.maxSteps == 0 || e.Steps() < pc.maxSteps) {
		st := step{turn: e.Steps(), stateKey: e.StateKey(), prompt: env.Prompt(e, past, pc.prompt)}
		adm := e.Admissible()
		o := pc.draw
		if pc.constrained {
			o.trie = policy.NewTrie(s.tok, adm)
		}
		ids := s.tok.Encode(st.prompt)
		if !s.fits(len(ids), o) {
			return trajectory{}, fmt.Errorf("trainer: %s step %d: prompt of %d tokens does not fit the context of %d with the longest action: %w (raise model.context or lower model.history)",
				task.ID, st.turn, len(ids), ctx, policy.ErrTooLong)
		}
		d := s.draw(ids, o, rng)
		if pc.correction {
			for st.tries < pc.maxTries && s.shouldCorrect(d, past, pc) {
				p := corrected(st.prompt, d.text)
				pids := s.tok.Encode(p)
				if !s.fits(len(pids), o) {
					break
				}
				st.prompt, ids = p, pids
				d = s.draw(ids, o, rng)
				st.tries++
			}
			st.corrected = st.tries > 0
		}
		st.action = env.ParseAction(d.text)
		st.seq = policy.Seq{Prompt: ids, Action: d.tokens, Allowed: d.allowed}
		st.conLogp, st.forced, st.logp, st.ntok = d.conLogp, d.forced, d.logp, len(d.tokLogp)
		st.entropy, st.entVocab, st.mass = d.entropy, d.entVocab, d.mass
		if !d.ended {
			st.ntok-- // the forced <eos> was not drawn
		}
		st.verdict, st.pGood = d.verdict, d.verdict.PGood()
		st.valid = contains(adm, st.action)
		st.optimal = env.IsOptimal(e, st.action)
		st.excluded = pc.judge.Excludes(e)
		st.good, st.votes = pc.judge.Verdict(e, st.action, judgeRNG)
		past = append(past, env.Turn{Observation: e.Observation(), Action: st.action})
		_, st.reward, _ = e.Step(st.action)
		if !st.valid {
			tr.invalid++
		}
		tr.steps = append(tr.steps, st)
	}
	tr.solved, tr.failed = e.Solved(), e.Failed()
	tr.outcome = -pc.invalidPenalty * float64(tr.invalid)
	if tr.solved {
		tr.outcome++
	}
	return tr, nil
}

// shouldCorrect reports whether prompt-based correction rejects the drawn
// action: the actor's own p(bad) is above the threshold, or the action was
// taken pc.repeats times already in this trajectory.
func (s *sampler) shouldCorrect(d draw, past []env.Turn, pc playConfig) bool {
	if 1-d.verdict.PGood() > pc.threshold {
		return true
	}
	if pc.repeats > 0 {
		a, n := env.ParseAction(d.text), 0
		for _, t := range past {
			if t.Action == a {
				n++
			}
		}
		return n >= pc.repeats
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// playJob is one trajectory to play.
type playJob struct {
	task     env.Task
	pc       playConfig
	rng      *rand.Rand // nil for greedy play
	judgeRNG *rand.Rand
}

// playAll plays the jobs in parallel (GOMAXPROCS workers, each with its own
// sampler) and returns the trajectories in job order. Each job has its own
// random streams, so the result does not depend on the number of workers
// or on the order in which they finish.
func playAll(m *policy.Model, tok *policy.Tokenizer, jobs []playJob) ([]trajectory, error) {
	out := make([]trajectory, len(jobs))
	errs := make([]error, len(jobs))
	workers := min(runtime.GOMAXPROCS(0), len(jobs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newSampler(m, tok)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				j := jobs[i]
				out[i], errs[i] = s.play(j.task, j.pc, j.rng, j.judgeRNG)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
