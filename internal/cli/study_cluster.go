package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/internal/cluster"
	"github.com/gradcouple/gradcouple/trainer"
)

// Stages of a study (--stage): the shared cold starts, the arms' runs and
// the analysis with its report. A study without --stage does all three in
// this order; a cluster runs them as three jobs (emitStudy).
const (
	stageCold   = "cold"
	stageTrain  = "train"
	stageReport = "report"
)

func parseStage(s string) (string, error) {
	switch s {
	case "", stageCold, stageTrain, stageReport:
		return s, nil
	}
	return "", &UsageError{Msg: fmt.Sprintf("--stage %q: want %s, %s or %s", s, stageCold, stageTrain, stageReport)}
}

// runFinished reports whether the planned run's directory holds the
// finished run. A directory holding a run of another configuration is an
// error, as it is for training.
func runFinished(p plannedRun) (bool, error) {
	man, err := trainer.ReadManifest(p.Dir)
	switch {
	case errors.Is(err, trainer.ErrNoRun) || errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, badInput(err)
	case !sameConfig(man.Config, p.Cfg, p.out):
		return false, badInput(fmt.Errorf("%s holds a run of another configuration (%s %s seed %d, preset %q) than %s; move it away or choose another --out",
			p.Dir, man.Config.Env, man.Config.Algo, man.Config.Seed, man.Preset, p.name()))
	}
	return man.Finished != "", nil
}

// stageRuns are the runs of a training stage.
func stageRuns(plan studyPlan, stage string) []plannedRun {
	if stage == stageCold {
		return plan.ColdStarts
	}
	return plan.Runs
}

// trainStage trains the runs of a stage (cold or train): all of them, or
// with --task i/n or auto the one task i of the stage's n (n must be the
// number of runs in the stage, as in the job files). A run of the train
// stage needs its shared cold start finished.
func trainStage(ctx context.Context, o StudyOptions, plan studyPlan, e *Env) error {
	runs := stageRuns(plan, o.Stage)
	label := ""
	if o.Stage == stageCold {
		label = "cold start "
	}
	if o.Task != "" {
		i, n, err := cluster.Shard(o.Task, os.Getenv)
		if err != nil {
			return &UsageError{Msg: "study --task: " + err.Error()}
		}
		if n != len(runs) {
			return &UsageError{Msg: fmt.Sprintf("study --task %s: this study's %s stage has %d tasks, not %d: the plan changed since the job files were written (write them again with --emit)",
				o.Task, o.Stage, len(runs), n)}
		}
		runs = runs[i : i+1]
		label = fmt.Sprintf("task %d of %d: %s", i, n, label)
	}
	if len(runs) == 0 {
		fmt.Fprintf(e.Stderr, "the %s stage has no runs (--cold-start own)\n", o.Stage)
		return nil
	}
	if o.Stage == stageTrain {
		for _, r := range runs {
			if r.Cold < 0 {
				continue
			}
			c := plan.ColdStarts[r.Cold]
			done, err := runFinished(c)
			if err != nil {
				return err
			}
			if !done {
				return badInput(fmt.Errorf("%s starts from the shared cold start %s, which is not finished: run --stage %s first", r.name(), c.Dir, stageCold))
			}
		}
	}
	return trainRuns(ctx, runs, o.Jobs, label, e)
}

// missingRuns are the planned runs whose directories hold no finished run.
func missingRuns(runs []plannedRun) ([]plannedRun, error) {
	var missing []plannedRun
	for _, r := range runs {
		done, err := runFinished(r)
		if err != nil {
			return nil, err
		}
		if !done {
			missing = append(missing, r)
		}
	}
	return missing, nil
}

// finishedRuns are the runs the report stage studies: all planned runs when
// all are finished; otherwise, with --partial, the finished ones (the
// missing ones listed as a warning), and without it an error that lists
// the missing ones by their train-stage task.
func finishedRuns(o StudyOptions, plan studyPlan, e *Env) ([]plannedRun, error) {
	missing, err := missingRuns(plan.Runs)
	if err != nil || len(missing) == 0 {
		return plan.Runs, err
	}
	var list []string
	var have []plannedRun
	for k, r := range plan.Runs {
		if slices.ContainsFunc(missing, func(m plannedRun) bool { return m.Dir == r.Dir }) {
			list = append(list, fmt.Sprintf("task %d (%s)", k, r.name()))
		} else {
			have = append(have, r)
		}
	}
	what := fmt.Sprintf("%d of the %d runs are not finished: %s", len(missing), len(plan.Runs), strings.Join(list, ", "))
	if !o.Partial {
		return nil, badInput(fmt.Errorf("study --stage report: %s; train them (--stage train --task K/%d, or the job file with sbatch --array=K) or pass --partial to report the others", what, len(plan.Runs)))
	}
	warnf(e, "--partial: %s; reporting the %d finished", what, len(have))
	if len(have) == 0 {
		return nil, badInput(errors.New("study --stage report --partial: no run is finished"))
	}
	return have, nil
}

// studyArgs are the arguments that give another process this study's
// plan and analysis: the flags of the command line that parsed o, with
// --out absolute.
func studyArgs(o StudyOptions, out string) []string {
	arms := make([]string, len(o.Arms))
	for k, a := range o.Arms {
		arms[k] = a.Spec
	}
	cold := o.ColdStart
	if cold == "" {
		cold = coldVerdict
	}
	args := []string{"gradcouple", "study", "--out", out, "--envs", strings.Join(o.Envs, ","), "--arms", strings.Join(arms, ","),
		"--seeds", seedList(o.Seeds), "--preset", o.Preset, "--cold-start", cold}
	return append(args, o.Study.args()...)
}

// emitStudy writes the job files of the study into OUT/jobs: the array of
// its shared cold starts, the array of its runs and the report after them,
// for Slurm or Kubernetes. OUT must be shared by every node.
func emitStudy(o StudyOptions, plan studyPlan, e *Env) error {
	if o.Emit != "slurm" && o.Emit != "k8s" {
		return &UsageError{Msg: fmt.Sprintf("study --emit %q: want slurm or k8s", o.Emit)}
	}
	if o.Stage != "" || o.Task != "" || o.Partial {
		return &UsageError{Msg: "study --emit: the job files choose --stage, --task and --partial; drop them"}
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return err
	}
	base := studyArgs(o, out)
	task := func(stage string) []string {
		return append(append([]string{}, base...), "--stage", stage, "--task", "auto")
	}
	var stages []cluster.Stage
	if len(plan.ColdStarts) > 0 {
		stages = append(stages, cluster.Stage{Name: stageCold, Tasks: len(plan.ColdStarts), Argv: task(stageCold)})
	}
	stages = append(stages, cluster.Stage{Name: stageTrain, Tasks: len(plan.Runs), Argv: task(stageTrain)})
	report := append(append([]string{}, base...), "--stage", stageReport)
	if o.Export != "" {
		export, err := filepath.Abs(o.Export)
		if err != nil {
			return err
		}
		report = append(report, "--export", export)
	}
	stages = append(stages, cluster.Stage{Name: stageReport, Argv: report})
	j := o.Cluster
	name := jobName(filepath.Base(out))
	if len(name) > 38 { // room for "study-" and "-report" in 52
		name = strings.Trim(name[:38], "-")
	}
	j.Name, j.Stages, j.Workdir = "study-"+name, stages, out
	dir := filepath.Join(out, "jobs")
	submit, err := writeJobFiles("study", o.Emit, dir, j, e)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "%d shared cold starts, then %d runs, then the report; %s must be shared by every node.\n"+
		"Submit with %s. Run it again to resume after a failure: finished cold starts and runs are skipped, an interrupted run resumes.\n",
		len(plan.ColdStarts), len(plan.Runs), out, submit)
	return nil
}

// args are the flags that give another process these study flags.
func (f StudyFlags) args() []string {
	a := []string{"--seed", strconv.FormatUint(f.Seed, 10), "--consistency-states", strconv.Itoa(f.ConsistencyStates),
		"--probes", strconv.Itoa(f.CouplingProbes), "--min-visits", strconv.Itoa(f.MinVisits), "--resamples", strconv.Itoa(f.Resamples),
		"--smooth", strconv.FormatFloat(f.Smooth, 'g', -1, 64)}
	if len(f.Checkpoints) > 0 {
		a = append(a, "--checkpoints", joinInts(f.Checkpoints))
	}
	if f.Cache != "" {
		a = append(a, "--cache", absPath(f.Cache))
	}
	if f.NoCache {
		a = append(a, "--no-cache")
	}
	if f.IndependentScales {
		a = append(a, "--independent-scales")
	}
	return a
}
