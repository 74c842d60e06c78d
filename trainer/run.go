package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/metrics"
	"github.com/gradcouple/gradcouple/policy"
	"github.com/gradcouple/gradcouple/trajlog"
)

// Progress stages.
const (
	StageColdStart = "cold-start" // one event per cold-start step
	StageIteration = "iteration"  // one event per committed iteration
)

// Progress is reported to Options.Progress as the run advances.
type Progress struct {
	Stage string
	// Cold start: the Adam step done (1..Steps) and its loss.
	Step, Steps int
	Loss        float64
	// Iteration: the iteration committed, of Iterations, with its lines.
	Iteration, Iterations int
	Metrics               *Metrics
	Timing                *Timing
}

// Options are the inputs of Run and Resume that do not change the results.
type Options struct {
	// Dir is the run directory.
	Dir string
	// Version is the program version written to run.json.
	Version string
	// Preset names the preset the configuration came from (run.json only).
	Preset string
	// Now returns the wall-clock time for run.json; nil means time.Now.
	Now func() time.Time
	// Progress, if not nil, is called after each cold-start step and each
	// committed iteration.
	Progress func(Progress)
	// MaxBytes is the memory budget of the run (Config.CheckMemory): 0
	// means DefaultMaxBytes, negative means no limit.
	MaxBytes int64

	// hook, if not nil, is called after each stage of an iteration
	// (stageCheckpoint, ...); an error aborts the run there (tests use it to
	// interrupt a run at every point of the commit protocol).
	hook func(iteration int, stage string) error
}

// Stages of an iteration, in order, as the test hook sees them.
const (
	stageColdStart  = "cold-start"
	stageCheckpoint = "checkpoint"
	stageEval       = "eval"
	stageRollout    = "rollout"
	stageUpdate     = "update"
	stageLogs       = "logs"
	stageTiming     = "timing"
	stageMetrics    = "metrics" // the iteration is committed
)

// Result is what Run and Resume report.
type Result struct {
	// From is the first iteration this call ran (0 for a new run; the
	// checkpoint it restarted from for a resumed one).
	From int
	// AlreadyFinished is set when Resume found a finished run.
	AlreadyFinished bool
	// Metrics are all lines of metrics.jsonl, iteration 0 first.
	Metrics []Metrics
}

// trainer is one run in progress.
type trainer struct {
	cfg       Config
	opts      Options
	dir       string
	tok       *policy.Tokenizer
	model     *policy.Model
	ref       *policy.Model // the cold-start policy, for the KL term
	opt       *adam
	pcfg      env.PromptConfig
	judge     env.Judge
	evalTasks map[string][]env.Task
	cold      *ColdStartStats
}

// Run starts a new run of cfg in opts.Dir, which must be empty or absent,
// and trains it to the end. Every iteration is committed to the run
// directory as it finishes (see the package documentation), so an
// interrupted Run is continued with Resume. ctx cancels between stages.
// Run and Resume hold the directory's lock (LockFile) while they work: a
// second trainer on the same directory fails at once with ErrLocked.
func Run(ctx context.Context, cfg Config, opts Options) (*Result, error) {
	if cfg.Run == "" {
		cfg.Run = filepath.Base(filepath.Clean(opts.Dir))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.CheckMemory(opts.MaxBytes); err != nil {
		return nil, err
	}
	// The lock first, so that of two trainers started at once on the same
	// directory one is refused, naming the other, and neither sees the
	// other's files half-made.
	lock, err := lockRun(opts.Dir, opts.now())
	if err != nil {
		return nil, err
	}
	defer lock.release()
	if empty, err := isEmptyDir(opts.Dir); err != nil {
		return nil, err
	} else if !empty {
		return nil, fmt.Errorf("%w: %s (resume it, or choose another directory)", ErrRunExists, opts.Dir)
	}
	if err := clean(opts.Dir, 0, -1); err != nil { // an interrupted first run.json
		return nil, err
	}
	// run.json first: until it exists the directory holds nothing but the
	// lock, so an interrupted start can simply be started again.
	man := &Manifest{Format: FormatVersion, Version: opts.Version, Run: cfg.Run, Env: cfg.Env, Algo: cfg.Algo,
		Seed: cfg.Seed, Preset: opts.Preset, Config: cfg, Started: opts.now()}
	if err := writeManifest(opts.Dir, man); err != nil {
		return nil, err
	}
	if err := makeDirs(opts.Dir); err != nil {
		return nil, err
	}
	t, err := newTrainer(cfg, opts)
	if err != nil {
		return nil, err
	}
	return t.fresh(ctx, man)
}

// Resume continues the run in opts.Dir from its last complete checkpoint,
// with the configuration of its run.json (opts.Preset is ignored). What an
// interruption left behind is removed first: temporaries, logs and metrics
// lines of iterations after that checkpoint. The iterations from the
// checkpoint on are then run again; since every iteration is a function of
// the checkpoint, the configuration and the seed, the finished directory
// equals that of an uninterrupted run (up to run.json's wall-clock fields
// and timing.jsonl).
func Resume(ctx context.Context, opts Options) (*Result, error) {
	if _, err := os.Stat(opts.Dir); err != nil { // create no directory to lock
		_, err := ReadManifest(opts.Dir)
		return nil, err
	}
	lock, err := lockRun(opts.Dir, opts.now())
	if err != nil {
		return nil, err
	}
	defer lock.release()
	man, err := ReadManifest(opts.Dir)
	if err != nil {
		return nil, err
	}
	cfg := man.Config
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(opts.Dir, ManifestFile), err)
	}
	if err := cfg.CheckMemory(opts.MaxBytes); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(opts.Dir, ManifestFile), err)
	}
	lines, err := ReadMetrics(opts.Dir)
	if err != nil {
		return nil, err
	}
	if man.Finished != "" && len(lines) == cfg.Iterations+1 {
		return &Result{AlreadyFinished: true, Metrics: lines}, nil
	}
	opts.Preset = man.Preset
	if err := makeDirs(opts.Dir); err != nil {
		return nil, err
	}
	t, err := newTrainer(cfg, opts)
	if err != nil {
		return nil, err
	}
	// The latest checkpoint at or before the first uncommitted iteration
	// that loads (checkpoints appear atomically, so only outside damage
	// makes one fail; an earlier one then serves).
	iters, err := checkpointIters(opts.Dir)
	if err != nil {
		return nil, err
	}
	from := -1
	var loadErr error
	if slices.Contains(iters, 0) {
		for k := len(iters) - 1; k >= 0 && from < 0; k-- {
			if n := iters[k]; n <= len(lines) {
				if loadErr = t.load(n); loadErr == nil {
					from = n
				} else if errors.Is(loadErr, checkpoint.ErrChecksum) {
					// Corrupted after it was written (its SHA256SUMS says
					// so): refused, not passed over, since resuming from an
					// earlier checkpoint would discard the iterations after it.
					return nil, fmt.Errorf("resuming %s: %w (remove %s to resume from an earlier checkpoint)", opts.Dir, loadErr, CheckpointDir(n))
				}
			}
		}
	}
	if from < 0 {
		if len(lines) > 0 {
			return nil, fmt.Errorf("%w: %s has %d committed iterations but no usable checkpoint (%v)", ErrRunDir, opts.Dir, len(lines), loadErr)
		}
		// Interrupted before checkpoint 0 was written: start over in place,
		// from a new trainer (a failed load may have replaced parts of t).
		if t, err = newTrainer(cfg, opts); err != nil {
			return nil, err
		}
		if err := clean(opts.Dir, 0, -1); err != nil {
			return nil, err
		}
		for _, f := range []string{MetricsFile, TimingFile} {
			if err := os.Remove(filepath.Join(opts.Dir, f)); err != nil && !os.IsNotExist(err) {
				return nil, err
			}
		}
		man.Resumed = append(man.Resumed, ResumeLog{At: opts.now(), From: 0})
		if err := writeManifest(opts.Dir, man); err != nil {
			return nil, err
		}
		return t.fresh(ctx, man)
	}
	if err := clean(opts.Dir, from, from); err != nil {
		return nil, err
	}
	for _, f := range []string{MetricsFile, TimingFile} {
		if err := keepLines(filepath.Join(opts.Dir, f), from); err != nil {
			return nil, err
		}
	}
	man.Finished = ""
	man.Resumed = append(man.Resumed, ResumeLog{At: opts.now(), From: from})
	if err := writeManifest(opts.Dir, man); err != nil {
		return nil, err
	}
	return t.loop(ctx, man, from, true, 0)
}

// makeDirs creates the subdirectories of a run directory.
func makeDirs(dir string) error {
	for _, d := range []string{LogsDir, CheckpointsDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

func (o Options) now() string {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	return now().UTC().Format(time.RFC3339Nano)
}

// newTrainer builds the tokenizer, the initial model and the eval tasks.
func newTrainer(cfg Config, opts Options) (*trainer, error) {
	t := &trainer{cfg: cfg, opts: opts, dir: opts.Dir,
		pcfg:  env.PromptConfig{History: cfg.Model.History, Memory: cfg.Model.Memory},
		judge: env.Judge{J: cfg.Judge.J, Eps: cfg.Judge.Eps}}
	if cfg.Judge.Labels != "" {
		l, err := env.ParseLabels(cfg.Judge.Labels)
		if err != nil {
			return nil, fmt.Errorf("%w: judge.labels: %v", ErrConfig, err)
		}
		t.judge.Labels = l
	}
	if cfg.Model.History == 0 {
		t.pcfg.History = -1 // Config's 0 is no history; PromptConfig's 0 is the default
	}
	t.tok = RunTokenizer(cfg)
	mc := policy.Config{VocabSize: t.tok.Size(), Context: cfg.Model.Context, Dim: cfg.Model.Dim,
		Layers: cfg.Model.Layers, Heads: cfg.Model.Heads}
	m, err := policy.NewModel(mc, stream(cfg.Seed, -1, purposeInit, 0))
	if err != nil {
		return nil, fmt.Errorf("%w: model: %v", ErrConfig, err)
	}
	t.model = m
	t.opt = t.newOpt()
	t.evalTasks = map[string][]env.Task{}
	if cfg.Eval.Every > 0 {
		for _, split := range []string{env.SplitEvalIn, env.SplitEvalOut} {
			ts, err := env.Tasks(cfg.Env, split, 0, cfg.Eval.Tasks)
			if err != nil {
				return nil, err
			}
			t.evalTasks[split] = ts
		}
	}
	return t, nil
}

func (t *trainer) newOpt() *adam {
	u := t.cfg.Update
	return newAdam(t.model.NumParams(), u.LR, u.Beta1, u.Beta2, u.AdamEps, u.GradClip)
}

// Tokenizer returns the word tokenizer of a run on envName: the
// environment's words (env.Words) and those of the correction line.
func Tokenizer(envName string) *policy.Tokenizer {
	words := env.Words(envName)
	words = append(words, policy.Split(fmt.Sprintf(correctionText, ""))...)
	return policy.NewTokenizer(words)
}

// fresh runs the cold start and then every iteration from 0.
func (t *trainer) fresh(ctx context.Context, man *Manifest) (*Result, error) {
	start := time.Now()
	if t.cfg.Init != "" {
		m, tok, err := policy.Load(t.cfg.Init)
		if err != nil {
			return nil, fmt.Errorf("%w: init: %w", ErrConfig, err)
		}
		if !slices.Equal(tok.Tokens(), t.tok.Tokens()) {
			return nil, fmt.Errorf("%w: init: %s has another vocabulary than the %s tokenizer", ErrConfig, t.cfg.Init, t.cfg.Env)
		}
		if m.Config() != t.model.Config() {
			return nil, fmt.Errorf("%w: init: %s has model %+v, the configuration asks for %+v", ErrConfig, t.cfg.Init, m.Config(), t.model.Config())
		}
		t.model = m
	} else {
		cs, err := t.coldStart(ctx)
		if err != nil {
			return nil, err
		}
		if t.cfg.ColdStart.Demos > 0 {
			t.cold = &cs
		}
	}
	if err := t.hook(-1, stageColdStart); err != nil {
		return nil, err
	}
	t.ref = t.model.Clone()
	return t.loop(ctx, man, 0, false, time.Since(start).Seconds())
}

// load restores the model and optimizer of checkpoint from, the reference
// policy of checkpoint 0, and the cold-start summary stored with it.
func (t *trainer) load(from int) error {
	path := filepath.Join(t.dir, CheckpointDir(from))
	c, err := checkpoint.Load(path)
	if err != nil {
		return err
	}
	m, tok, err := policy.FromCheckpoint(c)
	if err != nil {
		return fmt.Errorf("loading %s: %w", path, err)
	}
	if tok.Size() != t.tok.Size() || m.NumParams() != t.model.NumParams() {
		return fmt.Errorf("%w: %s does not match the run's configuration", ErrRunDir, path)
	}
	t.model, t.tok = m, tok
	if err := t.opt.restore(m, c.Optimizer); err != nil {
		return fmt.Errorf("loading %s: %w", path, err)
	}
	ref0 := filepath.Join(t.dir, CheckpointDir(0))
	c0 := c
	if from != 0 {
		if c0, err = checkpoint.LoadWith(ref0, checkpoint.LoadOptions{SkipOptimizer: true}); err != nil {
			return fmt.Errorf("%w: the reference policy: %w", ErrRunDir, err)
		}
	}
	if t.ref, _, err = policy.FromCheckpoint(c0); err != nil {
		return fmt.Errorf("loading %s: %w", ref0, err)
	}
	if s, ok := c0.Extra["cold_start"]; ok {
		var cs ColdStartStats
		if err := json.Unmarshal([]byte(s), &cs); err != nil {
			return fmt.Errorf("%w: %s: cold_start: %v", ErrRunDir, ref0, err)
		}
		t.cold = &cs
	}
	return nil
}

func (t *trainer) hook(i int, stage string) error {
	if t.opts.hook == nil {
		return nil
	}
	return t.opts.hook(i, stage)
}

func (t *trainer) progress(p Progress) {
	if t.opts.Progress != nil {
		p.Iterations = t.cfg.Iterations
		t.opts.Progress(p)
	}
}

// loop runs iterations from..Iterations. haveCkpt says checkpoint from
// exists already (a resumed run).
func (t *trainer) loop(ctx context.Context, man *Manifest, from int, haveCkpt bool, coldSeconds float64) (*Result, error) {
	N := t.cfg.Iterations
	for i := from; i <= N; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cold := 0.0
		if i == from {
			cold = coldSeconds
		}
		m, tm, err := t.iteration(ctx, i, haveCkpt && i == from, cold)
		if err != nil {
			return nil, err
		}
		t.progress(Progress{Stage: StageIteration, Iteration: i, Metrics: m, Timing: tm})
	}
	man.Finished = t.opts.now()
	if err := writeManifest(t.dir, man); err != nil {
		return nil, err
	}
	lines, err := ReadMetrics(t.dir)
	if err != nil {
		return nil, err
	}
	return &Result{From: from, Metrics: lines}, nil
}

// iteration runs and commits iteration i: checkpoint (if due), evaluation
// (if due), rollouts and the update (unless i is the last), then the step
// records, the timing line and the metrics line, which commits it.
// coldSeconds is the cold start's duration, for the timing line.
func (t *trainer) iteration(ctx context.Context, i int, haveCkpt bool, coldSeconds float64) (*Metrics, *Timing, error) {
	cfg := t.cfg
	N := cfg.Iterations
	m := &Metrics{Iteration: i}
	tm := &Timing{Iteration: i, ColdStart: coldSeconds}
	t0 := time.Now()
	if i == 0 {
		m.ColdStart = t.cold
	}
	// 1. Checkpoint of the policy that collects this iteration's rollouts.
	if (i == 0 || i == N || (cfg.CheckpointEvery > 0 && i%cfg.CheckpointEvery == 0)) && !haveCkpt {
		ts := time.Now()
		if err := t.saveCheckpoint(i); err != nil {
			return nil, nil, err
		}
		tm.Checkpoint = time.Since(ts).Seconds()
	}
	if err := t.hook(i, stageCheckpoint); err != nil {
		return nil, nil, err
	}
	// 2. Evaluation.
	var evalRecs []trajlog.Record
	if cfg.Eval.Every > 0 && (i%cfg.Eval.Every == 0 || i == N) {
		ts := time.Now()
		var err error
		if evalRecs, err = t.evaluate(i, m); err != nil {
			return nil, nil, err
		}
		tm.Eval = time.Since(ts).Seconds()
	}
	if err := t.hook(i, stageEval); err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	// 3. Rollouts and update.
	var recs []trajlog.Record
	if i < N {
		ts := time.Now()
		trajs, err := t.rollouts(i)
		if err != nil {
			return nil, nil, err
		}
		tm.Rollout = time.Since(ts).Seconds()
		if err := t.hook(i, stageRollout); err != nil {
			return nil, nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		ts = time.Now()
		recs = t.train(i, trajs, m)
		tm.Update = time.Since(ts).Seconds()
		if err := t.hook(i, stageUpdate); err != nil {
			return nil, nil, err
		}
	}
	// 4. Step records, timing, metrics (the commit).
	ts := time.Now()
	recs = append(recs, evalRecs...)
	meta := trajlog.Meta{Run: cfg.Run, Extra: map[string]string{"iteration": strconv.Itoa(i), "algo": cfg.Algo, "env": cfg.Env}}
	if cfg.Seed <= math.MaxInt64 {
		meta.Seed, meta.HasSeed = int64(cfg.Seed), true
	}
	if err := trajlog.WriteFile(filepath.Join(t.dir, LogFile(i)), recs, meta); err != nil {
		return nil, nil, err
	}
	tm.Log = time.Since(ts).Seconds()
	if err := t.hook(i, stageLogs); err != nil {
		return nil, nil, err
	}
	tm.Total = time.Since(t0).Seconds()
	if err := appendLine(filepath.Join(t.dir, TimingFile), tm); err != nil {
		return nil, nil, err
	}
	if err := t.hook(i, stageTiming); err != nil {
		return nil, nil, err
	}
	if err := appendLine(filepath.Join(t.dir, MetricsFile), m); err != nil {
		return nil, nil, err
	}
	if err := t.hook(i, stageMetrics); err != nil {
		return nil, nil, err
	}
	return m, tm, nil
}

// saveCheckpoint writes checkpoints/iter-i: the model, the tokenizer and the
// Adam state (F64, exact), with the cold-start summary on checkpoint 0.
func (t *trainer) saveCheckpoint(i int) error {
	c, err := t.model.Checkpoint(t.tok)
	if err != nil {
		return err
	}
	if c.Config.Gradcouple != nil {
		c.Config.Gradcouple.Env = t.cfg.Env
		if t.cfg.Seed <= math.MaxInt64 {
			c.Config.Gradcouple.Seed = int64(t.cfg.Seed)
		}
	}
	c.Optimizer = t.opt.state(t.model)
	c.Extra = map[string]string{"run": t.cfg.Run, "iteration": strconv.Itoa(i), "algo": t.cfg.Algo,
		"seed": strconv.FormatUint(t.cfg.Seed, 10)}
	if i == 0 && t.cold != nil {
		b, err := json.Marshal(t.cold)
		if err != nil {
			return err
		}
		c.Extra["cold_start"] = string(b)
	}
	return checkpoint.Save(filepath.Join(t.dir, CheckpointDir(i)), c)
}

// playConfig is the play configuration of training (train true) or
// evaluation rollouts, with prompt correction when configured for them.
func (t *trainer) playConfig(train bool) playConfig {
	r := t.cfg.Rollout
	pc := playConfig{
		draw:           drawOptions{temp: r.Temperature, maxTokens: r.MaxActionTokens},
		constrained:    !r.Unconstrained,
		prompt:         t.pcfg,
		judge:          t.judge,
		invalidPenalty: r.InvalidPenalty,
		maxSteps:       r.MaxSteps,
	}
	if (train && t.cfg.GCD.Correction) || (!train && t.cfg.GCD.CorrectEval) {
		pc.correction = true
		pc.threshold, pc.repeats, pc.maxTries = t.cfg.GCD.Threshold, t.cfg.GCD.Repeats, t.cfg.GCD.MaxTries
	}
	return pc
}

// drawTasks returns the train seeds of iteration i's B tasks: the first B
// of a uniform permutation of the pool. With a twin share p > 0, the
// permutation is walked instead, and after each task taken its twin
// (env.TwinSeed) is taken too with probability p (one uniform of the twins
// stream per task taken), if it is in the pool, not yet taken and the
// batch has room. With p = 0 no twins stream is drawn: the batch is exactly
// that of a trainer without the knob.
func drawTasks(cfg Config, i int) []int {
	r := cfg.Rollout
	perm := stream(cfg.Seed, i, purposeTasks, 0).Perm(cfg.TrainTasks)
	if r.TwinShare == 0 {
		return perm[:r.Tasks]
	}
	coin := stream(cfg.Seed, i, purposeTwins, 0)
	seeds := make([]int, 0, r.Tasks)
	taken := make(map[int]bool, r.Tasks)
	for _, s := range perm {
		if len(seeds) == r.Tasks {
			break
		}
		if taken[s] {
			continue
		}
		seeds, taken[s] = append(seeds, s), true
		pair := coin.Float64() < r.TwinShare
		if tw := int(env.TwinSeed(uint64(s))); pair && tw < cfg.TrainTasks && !taken[tw] && len(seeds) < r.Tasks {
			seeds, taken[tw] = append(seeds, tw), true
		}
	}
	return seeds
}

// rollouts draws the iteration's B train tasks and plays G rollouts of each.
func (t *trainer) rollouts(i int) ([]trajectory, error) {
	r := t.cfg.Rollout
	seeds := drawTasks(t.cfg, i)
	pc := t.playConfig(true)
	jobs := make([]playJob, 0, r.Tasks*r.GroupSize)
	for b, seed := range seeds {
		task, err := env.NewTask(t.cfg.Env, env.SplitTrain, uint64(seed))
		if err != nil {
			return nil, err
		}
		for g := range r.GroupSize {
			j := b*r.GroupSize + g
			jobs = append(jobs, playJob{task: task, pc: pc,
				rng: stream(t.cfg.Seed, i, purposeRollout, j), judgeRNG: stream(t.cfg.Seed, i, purposeJudge, j)})
		}
	}
	return playAll(t.model, t.tok, jobs)
}

// train computes the group advantages of the rollouts, runs the PPO update,
// fills the train fields of m and returns the train step records.
func (t *trainer) train(i int, trajs []trajectory, m *Metrics) []trajlog.Record {
	cfg := t.cfg
	G := cfg.Rollout.GroupSize
	adv := make([]float64, len(trajs))
	outcomes := make([]float64, G)
	zero := 0
	for b := 0; b < len(trajs); b += G {
		for g := range G {
			outcomes[g] = trajs[b+g].outcome
		}
		metrics.GroupAdvantages(adv[b:b+G], outcomes, metrics.AdvantageConfig{NoStd: cfg.Update.NoStd})
		if G >= 2 && metrics.AllEqual(outcomes) { // a singleton is no zero-std group (verl: A = R)
			zero++
		}
	}
	var samples []*sample
	var recs []trajlog.Record
	var rs rolloutStats
	for n := range trajs {
		tr := &trajs[n]
		rs.add(tr)
		group := fmt.Sprintf("i%06d:%s", i, tr.task.ID)
		recs = t.appendRecords(recs, i, env.SplitTrain, group, fmt.Sprintf("%s:%d", group, n%G), tr, adv[n])
		for k := range tr.steps {
			s := &tr.steps[k]
			sm := &sample{seq: s.seq, oldLogp: s.conLogp, forced: s.forced, adv: adv[n], label: verdictID(s.good)}
			if s.excluded {
				sm.label = 0 // no label: no verdict target
			}
			if s.corrected && !cfg.GCD.TrainCorrected {
				// verdict only: no token takes part in the PG and KL terms
				sm.forced = make([]bool, len(s.conLogp))
				for t := range sm.forced {
					sm.forced[t] = true
				}
			}
			samples = append(samples, sm)
		}
	}
	lc := lossConfig{clip: cfg.Update.Clip, beta: cfg.Update.KLBeta, lambda: cfg.GCD.Lambda}
	if lc.beta > 0 {
		seqs := make([]policy.Seq, len(samples))
		for n, s := range samples {
			seqs[n] = s.seq
		}
		for n, lp := range t.ref.TokenLogProbs(seqs) {
			samples[n].refLogp = lp
		}
	}
	perm := func(e int) []int { return stream(cfg.Seed, i, purposeMinibatch, e).Perm(len(samples)) }
	st := ppoUpdate(t.model, t.opt, samples, lc, cfg.Update.Epochs, cfg.Update.MiniBatches, perm)

	m.TrainSuccess = ptr(rs.success())
	m.TrainOutcome = ptr(rs.outcome / rs.trajs)
	m.TrainSteps = ptr(rs.steps / rs.trajs)
	m.Samples = len(samples)
	m.InvalidRate = ratio(rs.invalid, rs.steps)
	m.OptimalRate = ratio(rs.optimal, rs.steps)
	m.GoodLabelRate = ratio(rs.goodLabel, rs.labelled)
	m.CorrectionRate = ratio(rs.corrected, rs.steps)
	multi := len(trajs) / G // groups of two or more
	if G < 2 {
		multi = 0
	}
	m.ZeroStdFrac = ratio(float64(zero), float64(multi))
	m.Entropy = ratio(rs.entropy, rs.entTokens)
	m.EntropyVocab = ratio(rs.entVocab, rs.entTokens)
	m.AllowedMass = ratio(rs.mass, rs.entTokens)
	m.VerdictAcc = ratio(rs.vAgree, rs.labelled)
	m.VerdictAccTrue = ratio(rs.vAgreeTrue, rs.labelled)
	m.VerdictBalAcc = rs.verdictBalAcc()
	m.VerdictCE = ratio(rs.ce, rs.labelled)
	m.TrainByFamily = rs.families()
	if st.tokens > 0 {
		pg := st.pg / float64(st.tokens)
		kl := st.kl / float64(st.tokens)
		gcd := 0.0
		if m.VerdictCE != nil {
			gcd = lc.lambda * *m.VerdictCE
		}
		m.LossPG, m.KL, m.LossKL, m.LossGCD = ptr(pg), ptr(kl), ptr(lc.beta*kl), ptr(gcd)
		m.Loss = ptr(pg + lc.beta*kl + gcd)
		m.ClipFrac = ptr(st.clipped / float64(st.tokens))
	}
	if st.steps > 0 {
		m.GradNorm = ptr(st.gradNorm / float64(st.steps))
	}
	m.OptSteps = st.steps
	m.AdamStep = t.opt.step
	m.LR = ptr(cfg.Update.LR)
	return recs
}
