package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gradcouple/gradcouple/trainer"
)

// plannedRun is one training run of a study: an arm on an environment
// with a seed (or the shared cold start of arms), trained with a preset
// into Dir.
type plannedRun struct {
	Env, Arm, Preset string
	Seed             uint64
	Dir              string
	// Cfg is the run's resolved configuration.
	Cfg trainer.Config
	// Cold is the index of the run's shared cold start in the plan's
	// ColdStarts, -1 for a run with its own cold start (or a cold start).
	Cold int
	out  string // the study's directory
}

// name is the run's name in its step records: env-arm-seed.
func (p plannedRun) name() string { return p.Cfg.Run }

// studyPlan is every run of a study: the shared cold starts, trained first,
// and the arms' runs.
type studyPlan struct {
	ColdStarts []plannedRun
	Runs       []plannedRun
}

// coldStartDir is the run directory of a shared cold start: four levels
// below out, so that `gradcouple report OUT` (which looks three deep) does
// not take it for a run of the study.
func coldStartDir(out, envName, tag string, seed uint64) string {
	return filepath.Join(out, "cold-start", envName, tag, fmt.Sprintf("seed-%d", seed))
}

// initDir is the checkpoint a run with a shared cold start starts from:
// checkpoint 0 of the cold-start run.
func initDir(coldDir string) string { return filepath.Join(coldDir, trainer.CheckpointDir(0)) }

// planRuns lays out every (env, arm, seed) under out as out/env/arm-seed
// with its configuration, and the shared cold starts they start from
// (coldStartDir), one per environment, seed and cold-start configuration;
// coldDefault is the recipe of arms that do not set cold.
// A configuration the trainer refuses is a usage error naming the arm.
func planRuns(out, preset string, envs []string, arms []studyArm, seeds []uint64, coldDefault string, tweak func(*trainer.Config)) (studyPlan, error) {
	var plan studyPlan
	cold := map[string]int{} // directory -> index in plan.ColdStarts
	for _, e := range envs {
		for _, a := range arms {
			for _, s := range seeds {
				cfg, err := a.config(preset, e, s, tweak)
				if err != nil {
					return plan, &UsageError{Msg: err.Error()}
				}
				cfg.Run = fmt.Sprintf("%s-%s-%d", e, a.Name, s)
				p := plannedRun{Env: e, Arm: a.Name, Preset: preset, Seed: s, Dir: filepath.Join(out, e, fmt.Sprintf("%s-%d", a.Name, s)), Cold: -1, out: out}
				ccfg, tag, shared, err := a.coldConfig(preset, e, s, coldDefault, tweak)
				if err != nil {
					return plan, &UsageError{Msg: err.Error()}
				}
				if shared {
					dir := coldStartDir(out, e, tag, s)
					k, ok := cold[dir]
					if !ok {
						if err := ccfg.Validate(); err != nil {
							return plan, &UsageError{Msg: fmt.Sprintf("--arms %s: its cold start: %v", a.Name, err)}
						}
						k = len(plan.ColdStarts)
						cold[dir] = k
						plan.ColdStarts = append(plan.ColdStarts, plannedRun{Env: e, Arm: "cold-" + tag, Preset: preset, Seed: s, Dir: dir, Cfg: ccfg, Cold: -1, out: out})
					}
					// The run starts from the cold start's policy, and its
					// run.json says how that was trained.
					cfg.Init, cfg.ColdStart, p.Cold = initDir(dir), plan.ColdStarts[k].Cfg.ColdStart, k
				}
				if err := cfg.Validate(); err != nil {
					return plan, &UsageError{Msg: fmt.Sprintf("--arms %s: %v", a.Name, err)}
				}
				p.Cfg = cfg
				plan.Runs = append(plan.Runs, p)
			}
		}
	}
	return plan, nil
}

// sameConfig reports whether a run directory's configuration (from its
// run.json) is the planned one. The init checkpoint is compared as the
// cold-start directory it names relative to the study, so that a study
// given as another spelling of its directory (relative, absolute, moved)
// is still the same study.
func sameConfig(have, want trainer.Config, out string) bool {
	if have.Init != "" && want.Init != "" && have.Init != want.Init {
		if rel, err := filepath.Rel(out, want.Init); err == nil &&
			(strings.HasSuffix(filepath.ToSlash(filepath.Clean(have.Init)), "/"+filepath.ToSlash(rel)) || absPath(have.Init) == absPath(want.Init)) {
			have.Init = want.Init
		}
	}
	return have == want
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// trainRuns brings every planned run to its end, jobs at a time: a finished
// run is left as it is, an interrupted one is resumed (trainer.Resume: the
// result equals an uninterrupted run), a missing one is trained. Each run
// reports one line when it starts, at each evaluation and when it ends.
func trainRuns(ctx context.Context, runs []plannedRun, jobs int, label string, e *Env) error {
	jobs = max(1, min(jobs, len(runs)))
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(e.Stderr, format+"\n", args...)
	}
	errs := make([]error, len(runs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				errs[k] = trainOne(ctx, runs[k], fmt.Sprintf("[%s%d/%d] %s", label, k+1, len(runs), runs[k].name()), say, jobs == 1 && e.Terminal, e)
			}
		}()
	}
feed:
	for k := range runs {
		select {
		case next <- k:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// trainOne trains, resumes or skips one run. With bar (one run at a time,
// on a terminal) it shows train's progress bar; otherwise one line at the
// end of the cold start and at each evaluation.
func trainOne(ctx context.Context, p plannedRun, tag string, say func(string, ...any), bar bool, e *Env) error {
	start := e.Now()
	opts := trainer.Options{Dir: p.Dir, Version: version(), Preset: p.Preset, Now: e.Now,
		Progress: func(ev trainer.Progress) {
			switch {
			case ev.Stage == trainer.StageColdStart && ev.Step == ev.Steps:
				say("%s  cold start done (%d steps, loss %.4f)", tag, ev.Steps, ev.Loss)
			case ev.Stage == trainer.StageIteration && (ev.Metrics.EvalInGreedy != nil || ev.Metrics.EvalInSampled != nil):
				say("%s  %s", tag, iterationLine(ev.Metrics, ev.Iterations))
			}
		}}
	if bar {
		pr := newTrainProgress(e)
		defer pr.done()
		opts.Progress = pr.report
	}
	var res *trainer.Result
	man, err := trainer.ReadManifest(p.Dir)
	switch {
	case err == nil:
		if !sameConfig(man.Config, p.Cfg, p.out) {
			return badInput(fmt.Errorf("%s holds a run of another configuration (%s %s seed %d, preset %q) than %s; move it away or choose another --out",
				p.Dir, man.Config.Env, man.Config.Algo, man.Config.Seed, man.Preset, p.name()))
		}
		say("%s  resuming %s", tag, p.Dir)
		res, err = trainer.Resume(ctx, opts)
	case errors.Is(err, trainer.ErrNoRun) || errors.Is(err, fs.ErrNotExist):
		say("%s  training into %s", tag, p.Dir)
		res, err = trainer.Run(ctx, p.Cfg, opts)
	default:
		return badInput(err)
	}
	if errors.Is(err, trainer.ErrLocked) || errors.Is(err, trainer.ErrConfig) {
		return badInput(err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", p.Dir, err)
	}
	if res.AlreadyFinished {
		say("%s  already finished: %s", tag, p.Dir)
		return nil
	}
	say("%s  done in %s", tag, e.Now().Sub(start).Round(time.Second))
	return nil
}
