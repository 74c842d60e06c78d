package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"time"

	"github.com/gradcouple/gradcouple/trainer"
)

// plannedRun is one training run of a study: an environment, an algorithm
// and a seed, trained with a preset into Dir.
type plannedRun struct {
	Env, Algo, Preset string
	Seed              uint64
	Dir               string
	// tweak, if not nil, changes the configuration after the preset (tests
	// shrink the runs with it).
	tweak func(*trainer.Config)
}

// name is the run's name in its step records: env-algo-seed.
func (p plannedRun) name() string { return fmt.Sprintf("%s-%s-%d", p.Env, p.Algo, p.Seed) }

// planRuns lays out every (env, algo, seed) under out as out/env/algo-seed.
func planRuns(out, preset string, envs, algos []string, seeds []uint64, tweak func(*trainer.Config)) []plannedRun {
	var runs []plannedRun
	for _, e := range envs {
		for _, a := range algos {
			for _, s := range seeds {
				runs = append(runs, plannedRun{Env: e, Algo: a, Preset: preset, Seed: s,
					Dir: filepath.Join(out, e, fmt.Sprintf("%s-%d", a, s)), tweak: tweak})
			}
		}
	}
	return runs
}

// config is the run's resolved configuration: the preset's defaults for
// its algorithm, with its environment, seed and name.
func (p plannedRun) config() (trainer.Config, error) {
	cfg, err := trainer.Defaults(p.Preset, p.Algo)
	if err != nil {
		return trainer.Config{}, err
	}
	cfg.Env, cfg.Seed, cfg.Run = p.Env, p.Seed, p.name()
	if p.tweak != nil {
		p.tweak(&cfg)
	}
	return cfg, cfg.Validate()
}

// trainRuns brings every planned run to its end, jobs at a time: a finished
// run is left as it is, an interrupted one is resumed (trainer.Resume: the
// result equals an uninterrupted run), a missing one is trained. Each run
// reports one line when it starts, at each evaluation and when it ends.
func trainRuns(ctx context.Context, runs []plannedRun, jobs int, e *Env) error {
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
				errs[k] = trainOne(ctx, runs[k], fmt.Sprintf("[%d/%d] %s", k+1, len(runs), runs[k].name()), say, jobs == 1 && e.Terminal, e)
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
		cfg, cerr := p.config()
		if cerr != nil {
			return cerr
		}
		if man.Config != cfg {
			return badInput(fmt.Errorf("%s holds a run of another configuration (%s %s seed %d, preset %q); move it away or choose another --out",
				p.Dir, man.Config.Env, man.Config.Algo, man.Config.Seed, man.Preset))
		}
		say("%s  resuming %s", tag, p.Dir)
		res, err = trainer.Resume(ctx, opts)
	case errors.Is(err, trainer.ErrNoRun) || errors.Is(err, fs.ErrNotExist):
		cfg, cerr := p.config()
		if cerr != nil {
			return cerr
		}
		say("%s  training into %s", tag, p.Dir)
		res, err = trainer.Run(ctx, cfg, opts)
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
