package analysis

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/metrics"
	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/gradcouple/gradcouple/trajlog/adapter"
)

// Kinds of step of TwinDecisions.
const (
	TwinDecision = "decision" // the twins' optimal actions differ here
	TwinControl  = "control"  // a step before it in the same episode, where they agree
)

// TwinLearningRow is how often the policy took an optimal action at the
// steps of one kind in one iteration of a run's logs (the behaviour policy
// of that iteration's rollouts), with a 95% Wilson interval.
type TwinLearningRow struct {
	Run       string  `parquet:"run"`
	Iteration int     `parquet:"iteration"`
	Kind      string  `parquet:"kind"` // TwinDecision or TwinControl
	Steps     int     `parquet:"steps"`
	Optimal   float64 `parquet:"optimal_rate"`
	Lo        float64 `parquet:"optimal_lo"`
	Hi        float64 `parquet:"optimal_hi"`
}

// TwinLearnedRow says when a run learned each kind of step: the first
// iteration from which the optimal rate of every later iteration with
// steps of that kind stays at or above the threshold (-1: never).
type TwinLearnedRow struct {
	Run              string  `parquet:"run"`
	Threshold        float64 `parquet:"threshold"`
	DecisionLearned  int     `parquet:"decision_learned_at"`
	ControlLearned   int     `parquet:"control_learned_at"`
	DecisionFinal    float64 `parquet:"decision_final_rate"`
	ControlFinal     float64 `parquet:"control_final_rate"`
	DecisionSteps    int     `parquet:"decision_steps"`
	ControlSteps     int     `parquet:"control_steps"`
	NotReplayed      int     `parquet:"not_replayed"`
	FinalIteration   int     `parquet:"final_iteration"`
	DecisionMinusCtl float64 `parquet:"learned_later_by"` // DecisionLearned - ControlLearned; NaN when either is never
}

// TwinOptions tune TwinDecisions.
type TwinOptions struct {
	// Threshold of "learned"; 0 means 0.8.
	Threshold float64
	Adapter   adapter.Options
}

// TwinReport is the result of TwinDecisions.
type TwinReport struct {
	Curves  []TwinLearningRow
	Learned []TwinLearnedRow
}

type twinTraj struct {
	run, task string
	iteration int
	steps     []twinStep
}

type twinStep struct {
	turn   int32
	action string
}

// TwinDecisions measures whether the decisions that tell twins apart are
// learned later than the other steps of the same episodes. Each logged
// training trajectory (split train; evaluation episodes are left out) of a
// twin environment (env.HasTwins; household-twin, lab-twin,
// their aliases) is replayed in its own task and, with the same actions,
// in its twin's (seed s xor 1); the first step where the two tasks'
// optimal action sets differ is the decision (the cue decides), the steps
// before it are its controls (same episode, the twins agree), the steps
// after it are left out (its twin would not be there).
// Per run and iteration it gives the rate of optimal actions at each kind
// of step, and per run the iteration from which each kind stays learned.
// inputs are run directories (their logs/) or log files and globs.
func TwinDecisions(ctx context.Context, inputs []string, opts TwinOptions) (*TwinReport, error) {
	th := opts.Threshold
	if th == 0 {
		th = 0.8
	}
	var patterns []string
	for _, in := range inputs {
		if st, err := os.Stat(filepath.Join(in, "logs")); err == nil && st.IsDir() {
			in = filepath.Join(in, "logs")
		}
		patterns = append(patterns, in)
	}
	type key struct {
		run  string
		it   int
		traj string
	}
	trajs := map[key]*twinTraj{}
	var order []key
	_, err := scanFiles(ctx, patterns, trajlog.ReadOptions{}, opts.Adapter, func(file string, r *trajlog.Record) error {
		if !env.HasTwins(r.Env) || env.IsBandit(r.Env) {
			return fmt.Errorf("%s: run %s is of environment %q, which has no twin worlds (want household-twin, lab-twin or their -alias)", file, r.Run, r.Env)
		}
		if r.Split != env.SplitTrain {
			return nil // evaluation episodes: greedy, and eval-out tasks have no twins
		}
		k := key{r.Run, int(r.Iteration), r.TrajID}
		t := trajs[k]
		if t == nil {
			t = &twinTraj{run: r.Run, task: r.TaskID, iteration: int(r.Iteration)}
			trajs[k] = t
			order = append(order, k)
		}
		t.steps = append(t.steps, twinStep{r.Turn, r.Action})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("twins: no step records in %v", inputs)
	}
	type cell struct{ n, opt int }
	counts := map[[3]string]*cell{} // run, iteration, kind
	iters := map[string][]int{}
	notReplayed := map[string]int{}
	var runs []string
	for _, k := range order {
		t := trajs[k]
		if !slices.Contains(runs, t.run) {
			runs = append(runs, t.run)
		}
		if !slices.Contains(iters[t.run], t.iteration) {
			iters[t.run] = append(iters[t.run], t.iteration)
		}
		kinds, optimal, err := replayTwins(t)
		if err != nil {
			notReplayed[t.run]++
			continue
		}
		for i, kind := range kinds {
			ck := [3]string{t.run, fmt.Sprint(t.iteration), kind}
			c := counts[ck]
			if c == nil {
				c = &cell{}
				counts[ck] = c
			}
			c.n++
			if optimal[i] {
				c.opt++
			}
		}
	}
	rep := &TwinReport{}
	for _, run := range runs {
		its := iters[run]
		slices.Sort(its)
		lr := TwinLearnedRow{Run: run, Threshold: th, NotReplayed: notReplayed[run], FinalIteration: its[len(its)-1]}
		for _, kind := range []string{TwinDecision, TwinControl} {
			var rates []float64
			var at []int
			total := 0
			for _, it := range its {
				c := counts[[3]string{run, fmt.Sprint(it), kind}]
				if c == nil || c.n == 0 {
					continue
				}
				p := float64(c.opt) / float64(c.n)
				iv := metrics.Wilson(float64(c.opt), float64(c.n), 0.95)
				rep.Curves = append(rep.Curves, TwinLearningRow{Run: run, Iteration: it, Kind: kind, Steps: c.n, Optimal: p, Lo: iv.Lo, Hi: iv.Hi})
				rates, at = append(rates, p), append(at, it)
				total += c.n
			}
			learned, final := learnedAt(rates, at, th), math.NaN()
			if len(rates) > 0 {
				final = rates[len(rates)-1]
			}
			if kind == TwinDecision {
				lr.DecisionLearned, lr.DecisionFinal, lr.DecisionSteps = learned, final, total
			} else {
				lr.ControlLearned, lr.ControlFinal, lr.ControlSteps = learned, final, total
			}
		}
		lr.DecisionMinusCtl = math.NaN()
		if lr.DecisionLearned >= 0 && lr.ControlLearned >= 0 {
			lr.DecisionMinusCtl = float64(lr.DecisionLearned - lr.ControlLearned)
		}
		rep.Learned = append(rep.Learned, lr)
	}
	return rep, nil
}

// learnedAt is the first iteration at[k] from which rates[k:] all reach
// th, -1 when none (or no rates).
func learnedAt(rates []float64, at []int, th float64) int {
	k := len(rates)
	for k > 0 && rates[k-1] >= th {
		k--
	}
	if k == len(rates) {
		return -1
	}
	return at[k]
}

// replayTwins replays a trajectory in its task and, action for action, in
// its twin, and returns each step's kind and whether its action was
// optimal in its own task.
func replayTwins(t *twinTraj) (kinds []string, optimal []bool, err error) {
	task, err := env.ParseTaskID(t.task)
	if err != nil {
		return nil, nil, err
	}
	twin, err := env.NewTask(task.Env, task.Split, env.TwinSeed(task.Seed))
	if err != nil {
		return nil, nil, err
	}
	e, _, err := env.Start(task)
	if err != nil {
		return nil, nil, err
	}
	e2, _, err := env.Start(twin)
	if err != nil {
		return nil, nil, err
	}
	steps := slices.Clone(t.steps)
	slices.SortFunc(steps, func(a, b twinStep) int { return int(a.turn) - int(b.turn) })
	for k, s := range steps {
		if s.turn != int32(k) {
			return nil, nil, fmt.Errorf("turn %d of the trajectory is missing", k)
		}
		mine, theirs := env.OptimalActions(e), env.OptimalActions(e2)
		slices.Sort(mine)
		slices.Sort(theirs)
		kind := TwinControl
		if !slices.Equal(mine, theirs) {
			kind = TwinDecision
		}
		kinds = append(kinds, kind)
		optimal = append(optimal, slices.Contains(mine, s.action))
		if kind == TwinDecision {
			// The twins part here; later states of this trajectory are
			// ones its twin would not reach by its own plan.
			break
		}
		e.Step(s.action)
		e2.Step(s.action)
		if e2.Done() {
			// The twin ended (solved or failed) where this task goes on:
			// the steps after it have no twin to compare with.
			break
		}
	}
	return kinds, optimal, nil
}
