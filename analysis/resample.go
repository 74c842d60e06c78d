package analysis

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/metrics"
	"github.com/gradcouple/gradcouple/policy"
	"github.com/gradcouple/gradcouple/trajlog"
)

// Action consistency by resampling (DESIGN.md §4; Liu et al., arXiv
// 2509.23870, Figs. 1 and 5): probe states are taken from a run's logs,
// reconstructed exactly in the environment, and at every checkpoint the
// policy draws K actions at each of them; a state is highly consistent when
// its most frequent action is drawn at least Threshold times.

// Kinds of resampling probe states.
const (
	KindRepeated = "repeated" // the agent took an action it had taken before in the trajectory
	KindRandom   = "random"   // a seeded uniform draw of all states
	KindAll      = "all"      // both
)

// ResampleOptions tune Resample. The zero value means the defaults written
// on each field.
type ResampleOptions struct {
	// Checkpoints are the iterations resampled in every run; none means
	// every checkpoint.
	Checkpoints []int
	// K is the number of actions drawn per state (default 10) and
	// Threshold the modal count of high consistency (default 5).
	K, Threshold int
	// Temperature overrides the runs' rollout temperature (run.json) when
	// positive.
	Temperature float64
	// Repeated and Random are the numbers of probe states of each kind;
	// 0 means 100, negative none.
	Repeated, Random int
	// Split is the split of the records the states are drawn from; "" means
	// train. Iterations are the log iterations drawn from (none: all).
	Split      string
	Iterations []int
	// Seed makes every draw: the choice of states (a hash of the seed and
	// the record, independent of file order), the policy's actions at
	// checkpoint c and state p (PCG(Seed, c<<32|p), the same for every run,
	// so runs are compared with common random numbers) and the noisy
	// judge's verdict on each (state, action).
	Seed uint64
	// Workers bounds the goroutines; 0 means GOMAXPROCS. Results do not
	// depend on it.
	Workers  int
	Progress func(what string)
}

func (o ResampleOptions) withDefaults() ResampleOptions {
	if o.K == 0 {
		o.K = metrics.DefaultConsistencyK
	}
	if o.Threshold == 0 {
		o.Threshold = metrics.DefaultConsistencyThreshold
	}
	if o.Repeated == 0 {
		o.Repeated = 100
	}
	if o.Random == 0 {
		o.Random = 100
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	o.Split = splitOr(o.Split)
	return o
}

// ResampleProbe is one probe state: where it was found in the logs and how
// its reconstruction went.
type ResampleProbe struct {
	Probe     int    `parquet:"probe"`
	Kind      string `parquet:"kind"` // KindRepeated or KindRandom
	Run       string `parquet:"run"`  // the run whose log it came from
	Iteration int32  `parquet:"iteration"`
	TaskID    string `parquet:"task_id"`
	TrajID    string `parquet:"traj_id"`
	Turn      int32  `parquet:"turn"`
	StateKey  string `parquet:"state_key"`
	Action    string `parquet:"logged_action"`
	// Status is "ok" (state key and prompt reproduced), "corrected" (the
	// logged prompt is the reproduced one plus prompt-correction lines;
	// the uncorrected prompt is resampled), "prompt-mismatch" (the state is
	// reproduced but the prompt differs: the logged prompt is resampled),
	// "state-mismatch" (the replay reached another state: not resampled) or
	// "not-replayable" (not a bundled environment's task, or the
	// trajectory's earlier turns are missing: not resampled).
	Status string `parquet:"status"`
	Detail string `parquet:"detail" text:"-"`
	prompt string
	env    env.Env
}

// ResampleRow is the consistency of one (run, checkpoint, kind of state):
// the share of states whose modal count of K draws reaches the threshold,
// split by the truth of the modal action (on a shortest plan: good) and by
// the run's noisy judge (J judgments, majority).
type ResampleRow struct {
	Run             string  `parquet:"run"`
	Iteration       int     `parquet:"iteration"` // the checkpoint
	Kind            string  `parquet:"kind"`
	States          int     `parquet:"states"`
	MeanConsistency float64 `parquet:"mean_consistency"` // mean modal count
	High            float64 `parquet:"high"`
	HighGood        float64 `parquet:"high_good"`
	HighBad         float64 `parquet:"high_bad"`
	HighJudgeGood   float64 `parquet:"high_judge_good" text:"-"`
	HighJudgeBad    float64 `parquet:"high_judge_bad" text:"-"`
	Temperature     float64 `parquet:"temperature" text:"-"`
}

// ResampleStateRow is one state at one checkpoint.
type ResampleStateRow struct {
	Run         string `parquet:"run"`
	Iteration   int    `parquet:"iteration"`
	Probe       int    `parquet:"probe"`
	Kind        string `parquet:"kind"`
	ModalAction string `parquet:"modal_action"`
	ModalCount  int    `parquet:"modal_count"`
	Distinct    int    `parquet:"distinct"`
	ModalGood   bool   `parquet:"modal_good"`  // on a shortest plan (the judge's truth)
	ModalJudge  int8   `parquet:"modal_judge"` // the noisy judge's verdict
	Admissible  int    `parquet:"admissible"`
}

// ResampleReport is the result of Resample.
type ResampleReport struct {
	Rows   []ResampleRow
	States []ResampleStateRow
	Probes []ResampleProbe
	// Status counts the probes by reconstruction status.
	Status  map[string]int
	Sources Sources
}

// logStep is what the reconstruction keeps of a record (no prompt).
type logStep struct {
	turn      int32
	action    string
	stateKey  string
	corrected bool
}

type rsTraj struct {
	run  int
	iter int32
	traj string
}

// Resample measures action consistency by resampling (see the package
// documentation above): it takes probe states from the logs of runs
// (opts.Repeated states where the agent repeated an action in its
// trajectory, and opts.Random states drawn uniformly; distinct (task, state
// key) pairs, seeded), reconstructs each exactly by replaying the
// trajectory's earlier actions in the environment (env.ParseTaskID, Start,
// Step), checks the state key and rebuilds the prompt (env.Prompt with the
// run's history), and at every checkpoint of every run draws opts.K actions
// at the rollout temperature, constrained to the admissible actions. The
// same probe states and random streams serve every run.
func Resample(ctx context.Context, runs []Run, opts ResampleOptions) (*ResampleReport, error) {
	opts = opts.withDefaults()
	if opts.K < 1 || opts.K > metrics.MaxConsistencyK || opts.Threshold < 1 || opts.Threshold > opts.K {
		return nil, fmt.Errorf("resampling: want 1 <= threshold <= K <= %d, got threshold %d, K %d", metrics.MaxConsistencyK, opts.Threshold, opts.K)
	}
	rep := &ResampleReport{Status: map[string]int{}}
	kindOrder := map[string]int{KindAll: 0, KindRepeated: 1, KindRandom: 2}
	probes, src, err := resampleProbes(ctx, runs, opts)
	rep.Sources = src
	if err != nil {
		return nil, err
	}
	rep.Probes = probes
	for _, p := range probes {
		rep.Status[p.Status]++
	}
	var live []int
	for i, p := range probes {
		if p.env != nil {
			live = append(live, i)
		}
	}
	if len(live) == 0 {
		return rep, fmt.Errorf("%w: none of the %d probe states could be reconstructed (see the status column)", ErrNoRecords, len(probes))
	}
	for _, run := range runs {
		its, err := run.selectCheckpoints(opts.Checkpoints)
		if err != nil {
			return nil, err
		}
		temp := run.Temperature
		if opts.Temperature > 0 {
			temp = opts.Temperature
		}
		counters := map[string]*[2]*metrics.ConsistencyCounter{}
		for _, k := range []string{KindAll, KindRepeated, KindRandom} {
			cfg := metrics.ConsistencyConfig{K: opts.K, Threshold: opts.Threshold}
			counters[k] = &[2]*metrics.ConsistencyCounter{metrics.NewConsistencyCounter(cfg), metrics.NewConsistencyCounter(cfg)}
		}
		for _, it := range its {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if opts.Progress != nil {
				opts.Progress(fmt.Sprintf("%s iteration %d: %d draws at %d states", run.Name, it, opts.K, len(live)))
			}
			m, tok, err := policy.Load(run.CheckpointDir(it))
			if err != nil {
				return nil, &RunError{Dir: run.Dir, Msg: fmt.Sprintf("checkpoint of iteration %d: %v", it, err), Err: err}
			}
			draws, err := drawAll(ctx, m, tok, probes, live, it, temp, run.Judge, opts)
			if err != nil {
				return nil, err
			}
			for k, i := range live {
				p := &probes[i]
				d := draws[k]
				for _, kind := range []string{KindAll, p.Kind} {
					c := counters[kind]
					for _, a := range d.actions {
						c[0].Add(metrics.ConsistencySample{Iteration: it, State: strconv.Itoa(i), Action: a, Label: d.truth[a]})
						c[1].Add(metrics.ConsistencySample{Iteration: it, State: strconv.Itoa(i), Action: a, Label: d.judge[a]})
					}
				}
				modal, count, distinct := modalOf(d.actions)
				rep.States = append(rep.States, ResampleStateRow{Run: run.Name, Iteration: it, Probe: i, Kind: p.Kind,
					ModalAction: modal, ModalCount: count, Distinct: distinct, ModalGood: d.truth[modal] == 1,
					ModalJudge: d.judge[modal], Admissible: d.admissible})
			}
		}
		var rows []ResampleRow
		for _, kind := range []string{KindAll, KindRepeated, KindRandom} {
			truth, _ := counters[kind][0].Report()
			judge, _ := counters[kind][1].Report()
			for r := range truth {
				t, j := truth[r], judge[r]
				if t.Eligible == 0 {
					continue
				}
				rows = append(rows, ResampleRow{Run: run.Name, Iteration: t.Iteration, Kind: kind, States: t.Eligible,
					MeanConsistency: t.MeanConsistency, High: t.High, HighGood: t.HighGood, HighBad: t.HighBad,
					HighJudgeGood: j.HighGood, HighJudgeBad: j.HighBad, Temperature: temp})
			}
		}
		slices.SortFunc(rows, func(a, b ResampleRow) int {
			if a.Iteration != b.Iteration {
				return a.Iteration - b.Iteration
			}
			return kindOrder[a.Kind] - kindOrder[b.Kind]
		})
		rep.Rows = append(rep.Rows, rows...)
	}
	return rep, nil
}

// modalOf returns the most frequent action (ties: the smallest), its count
// and the number of distinct actions.
func modalOf(actions []string) (string, int, int) {
	c := map[string]int{}
	for _, a := range actions {
		c[a]++
	}
	return modalOfCounts(c)
}

// stateDraws are the K actions drawn at one state with the labels of each
// distinct action.
type stateDraws struct {
	actions      []string
	truth, judge map[string]int8
	admissible   int
}

// drawAll draws K actions at each live probe state under m, in parallel;
// every state has its own random stream, so the result does not depend on
// the number of workers.
func drawAll(ctx context.Context, m *policy.Model, tok *policy.Tokenizer, probes []ResampleProbe, live []int, it int,
	temp float64, judge env.Judge, opts ResampleOptions) ([]stateDraws, error) {
	out := make([]stateDraws, len(live))
	errs := make([]error, len(live))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(opts.Workers, len(live)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= len(live) || ctx.Err() != nil {
					return
				}
				i := live[k]
				out[k], errs[k] = drawState(m, tok, &probes[i], i, it, temp, judge, opts)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func drawState(m *policy.Model, tok *policy.Tokenizer, p *ResampleProbe, i, it int, temp float64, judge env.Judge, opts ResampleOptions) (stateDraws, error) {
	e := p.env.Clone()
	adm := e.Admissible()
	trie := policy.NewTrie(tok, adm)
	ids := tok.Encode(p.prompt)
	rng := rand.New(rand.NewPCG(opts.Seed, uint64(it)<<32|uint64(uint32(i))))
	got, err := m.Sample(ids, opts.K, trie, policy.SampleOptions{Temperature: temp}, rng)
	if err != nil {
		return stateDraws{}, fmt.Errorf("probe state %d (%s turn %d): %w", i, p.TrajID, p.Turn, err)
	}
	d := stateDraws{truth: map[string]int8{}, judge: map[string]int8{}, admissible: len(adm)}
	for _, s := range got {
		a := s.Text
		d.actions = append(d.actions, a)
		if _, ok := d.truth[a]; ok {
			continue
		}
		d.truth[a] = metrics.LabelBad
		if env.IsOptimal(e, a) {
			d.truth[a] = metrics.LabelGood
		}
		h := fnv.New64a()
		h.Write([]byte(a))
		good, _ := judge.Verdict(e, a, rand.New(rand.NewPCG(opts.Seed^0x6a75646765, uint64(i)<<32^h.Sum64())))
		d.judge[a] = metrics.LabelBad
		if good {
			d.judge[a] = metrics.LabelGood
		}
	}
	return d, nil
}

// resampleProbes chooses the probe states from the logs and reconstructs
// them.
func resampleProbes(ctx context.Context, runs []Run, opts ResampleOptions) ([]ResampleProbe, Sources, error) {
	// Pass 1: every trajectory's steps (without prompts).
	trajs := map[rsTraj][]logStep{}
	tasks := map[rsTraj]string{}
	var src Sources
	for ri, run := range runs {
		s, err := scan(ctx, []string{run.Logs()}, trajlog.ReadOptions{SkipPrompt: true}, func(r *trajlog.Record) error {
			if r.Split != opts.Split || !keepIteration(opts.Iterations, r.Iteration) {
				return nil
			}
			k := rsTraj{ri, r.Iteration, r.TrajID}
			if _, ok := tasks[k]; !ok {
				k.traj = strings.Clone(r.TrajID)
				tasks[k] = strings.Clone(r.TaskID)
			}
			trajs[k] = append(trajs[k], logStep{turn: r.Turn, action: strings.Clone(r.Action), stateKey: strings.Clone(r.StateKey), corrected: r.Corrected})
			return nil
		})
		src.Files, src.Rows = append(src.Files, s.Files...), src.Rows+s.Rows
		if err != nil {
			return nil, src, err
		}
	}
	// Candidates: distinct (task, state key), ranked by the seeded hash.
	rep := &bottomK{k: max(opts.Repeated, 0), byID: map[string]*candidate{}}
	rnd := &bottomK{k: max(opts.Random, 0) + max(opts.Repeated, 0), byID: map[string]*candidate{}}
	for k, steps := range trajs {
		slices.SortFunc(steps, func(a, b logStep) int { return int(a.turn - b.turn) })
		seen := map[string]bool{}
		for _, st := range steps {
			key := tasks[k] + "\x00" + st.stateKey
			prio := recordPriority(opts.Seed, runs[k.run].Name, k.iter, k.traj, st.turn)
			p := Probe{Run: runs[k.run].Name, Iteration: k.iter, TaskID: tasks[k], TrajID: k.traj, Turn: st.turn, StateKey: st.stateKey, Action: st.action}
			build := func() Probe { return p }
			if seen[st.action] {
				rep.add(prio, key, build)
			}
			rnd.add(prio, key, build)
			seen[st.action] = true
		}
	}
	var chosen []ResampleProbe
	taken := map[string]bool{}
	for _, c := range rep.sorted() {
		taken[c.key] = true
		chosen = append(chosen, probeOf(c.p, KindRepeated))
	}
	nr := 0
	for _, c := range rnd.sorted() {
		if nr >= max(opts.Random, 0) {
			break
		}
		if !taken[c.key] {
			chosen = append(chosen, probeOf(c.p, KindRandom))
			nr++
		}
	}
	// Pass 2: the logged prompts of the chosen states.
	want := map[rsTraj]map[int32]int{}
	runIdx := map[string]int{}
	for ri, r := range runs {
		runIdx[r.Name] = ri
	}
	for i, p := range chosen {
		k := rsTraj{runIdx[p.Run], p.Iteration, p.TrajID}
		if want[k] == nil {
			want[k] = map[int32]int{}
		}
		want[k][p.Turn] = i
	}
	for ri, run := range runs {
		_, err := scan(ctx, []string{run.Logs()}, trajlog.ReadOptions{}, func(r *trajlog.Record) error {
			if i, ok := want[rsTraj{ri, r.Iteration, r.TrajID}][r.Turn]; ok && r.Split == opts.Split {
				chosen[i].prompt = strings.Clone(r.Prompt)
			}
			return nil
		})
		if err != nil {
			return nil, src, err
		}
	}
	for i := range chosen {
		p := &chosen[i]
		p.Probe = i
		reconstruct(p, trajs[rsTraj{runIdx[p.Run], p.Iteration, p.TrajID}], runs[runIdx[p.Run]])
	}
	return chosen, src, nil
}

func probeOf(p Probe, kind string) ResampleProbe {
	return ResampleProbe{Kind: kind, Run: p.Run, Iteration: p.Iteration, TaskID: p.TaskID, TrajID: p.TrajID,
		Turn: p.Turn, StateKey: p.StateKey, Action: p.Action}
}

// reconstruct replays the trajectory's actions before p's turn and sets
// p's environment, prompt and status.
func reconstruct(p *ResampleProbe, steps []logStep, run Run) {
	task, err := env.ParseTaskID(p.TaskID)
	if err != nil {
		p.Status, p.Detail = "not-replayable", err.Error()
		return
	}
	e, _, err := env.Start(task)
	if err != nil {
		p.Status, p.Detail = "not-replayable", err.Error()
		return
	}
	var past []env.Turn
	var at *logStep
	for k := range steps {
		st := &steps[k]
		if st.turn != int32(k) {
			p.Status, p.Detail = "not-replayable", fmt.Sprintf("turn %d of the trajectory is missing from the logs", k)
			return
		}
		if e.StateKey() != st.stateKey {
			p.Status, p.Detail = "state-mismatch", fmt.Sprintf("turn %d: replay reached state %s, the log says %s", k, e.StateKey(), st.stateKey)
			return
		}
		if st.turn == p.Turn {
			at = st
			break
		}
		past = append(past, env.Turn{Observation: e.Observation(), Action: st.action})
		e.Step(st.action)
	}
	if at == nil {
		p.Status, p.Detail = "not-replayable", "the probe's turn is not in the trajectory"
		return
	}
	rebuilt := env.Prompt(e, past, run.Prompt)
	p.env = e
	switch {
	case rebuilt == p.prompt:
		p.Status = "ok"
	case at.corrected && withoutCorrections(p.prompt) == rebuilt:
		p.Status = "corrected"
	default:
		p.Status = "prompt-mismatch"
		p.Detail = firstDifference(rebuilt, p.prompt)
		if p.prompt == "" {
			p.Detail = "no logged prompt"
		}
	}
	if p.Status != "prompt-mismatch" || p.prompt == "" {
		p.prompt = rebuilt
	}
}

// withoutCorrections removes the lines that prompt-based correction adds
// ("Warning: ACTION is likely a wrong action here, choose another one.").
func withoutCorrections(prompt string) string {
	lines := strings.Split(prompt, "\n")
	out := lines[:0]
	for _, l := range lines {
		if strings.HasPrefix(l, "Warning: ") && strings.HasSuffix(l, "choose another one.") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// firstDifference describes where two prompts first differ.
func firstDifference(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	ctx := func(s string) string {
		lo, hi := max(0, i-20), min(len(s), i+40)
		return strings.ReplaceAll(s[lo:hi], "\n", `\n`)
	}
	return fmt.Sprintf("byte %d: rebuilt %q, logged %q", i, ctx(a), ctx(b))
}
