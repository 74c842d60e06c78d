package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/trajlog"
)

// Run is what the checkpoint analyses need from a run directory (DESIGN.md
// §3.2): its name, environment, the rollout settings that resampling must
// reproduce, and its checkpoints. OpenRun reads it.
type Run struct {
	Dir  string
	Name string // run.json's run, else the directory's base name
	Env  string
	Algo string
	// Temperature is the rollout temperature (config.rollout.temperature;
	// 1 when absent).
	Temperature float64
	// Prompt is the prompt configuration of the rollouts
	// (config.model.history: 0 means no history, as the trainer reads it).
	Prompt env.PromptConfig
	// Judge is the run's judge (config.judge), for the noisy labels.
	Judge env.Judge
	// Unconstrained is config.rollout.unconstrained: the run sampled free
	// text, so log pi as trained is the full-vocabulary one.
	Unconstrained bool
	// Checkpoints are the iterations with a checkpoint directory
	// checkpoints/iter-NNNNNN, increasing.
	Checkpoints []int
}

// runManifest is the part of run.json the analyses read. Unknown fields are
// ignored: the trainer's configuration grows, and runs made by other tools
// need only these.
type runManifest struct {
	Run    string `json:"run"`
	Env    string `json:"env"`
	Algo   string `json:"algo"`
	Config struct {
		Model *struct {
			History *int `json:"history"`
		} `json:"model"`
		Rollout *struct {
			Temperature   *float64 `json:"temperature"`
			Unconstrained bool     `json:"unconstrained"`
		} `json:"rollout"`
		Judge *struct {
			J   int     `json:"j"`
			Eps float64 `json:"eps"`
		} `json:"judge"`
	} `json:"config"`
}

// RunError is a run directory that cannot be used: it names the directory
// and says what is wrong. It is bad input (exit status 2).
type RunError struct {
	Dir string
	Msg string
	Err error
}

func (e *RunError) Error() string  { return e.Dir + ": " + e.Msg }
func (e *RunError) Unwrap() error  { return e.Err }
func (e *RunError) BadInput() bool { return true }

var checkpointName = regexp.MustCompile(`^iter-(\d{6,})$`)

// IsRunDir reports whether dir is a run directory with checkpoints: it has
// a checkpoints/ subdirectory.
func IsRunDir(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "checkpoints"))
	return err == nil && st.IsDir()
}

// OpenRun reads the run directory dir: run.json (for the environment, the
// rollout temperature, the prompt history and the judge) and the list of
// checkpoints. A directory without run.json, without checkpoints or with a
// malformed run.json is a *RunError.
func OpenRun(dir string) (Run, error) {
	r := Run{Dir: dir, Name: filepath.Base(filepath.Clean(dir)), Temperature: 1}
	b, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return r, &RunError{Dir: dir, Msg: "not a run directory: no run.json (see `gradcouple train`)", Err: err}
		}
		return r, err
	}
	var m runManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return r, &RunError{Dir: dir, Msg: "malformed run.json: " + err.Error(), Err: err}
	}
	if m.Run != "" {
		r.Name = m.Run
	}
	r.Env, r.Algo = m.Env, m.Algo
	if md := m.Config.Model; md != nil && md.History != nil {
		r.Prompt.History = *md.History
		if r.Prompt.History == 0 {
			r.Prompt.History = -1 // the trainer's 0 is no history; PromptConfig's 0 is the default
		}
	}
	if ro := m.Config.Rollout; ro != nil && ro.Temperature != nil {
		r.Temperature = *ro.Temperature
	}
	if ro := m.Config.Rollout; ro != nil {
		r.Unconstrained = ro.Unconstrained
	}
	if r.Temperature <= 0 {
		return r, &RunError{Dir: dir, Msg: fmt.Sprintf("run.json: config.rollout.temperature %v is not positive", r.Temperature)}
	}
	if j := m.Config.Judge; j != nil {
		r.Judge = env.Judge{J: j.J, Eps: j.Eps}
	}
	ents, err := os.ReadDir(filepath.Join(dir, "checkpoints"))
	if err != nil {
		return r, &RunError{Dir: dir, Msg: "no checkpoints/ directory", Err: err}
	}
	for _, e := range ents {
		if m := checkpointName.FindStringSubmatch(e.Name()); m != nil && e.IsDir() {
			it, err := strconv.Atoi(m[1])
			if err == nil {
				r.Checkpoints = append(r.Checkpoints, it)
			}
		}
	}
	slices.Sort(r.Checkpoints)
	if len(r.Checkpoints) == 0 {
		return r, &RunError{Dir: dir, Msg: "no checkpoint in checkpoints/ (iter-NNNNNN directories)"}
	}
	return r, nil
}

// CheckpointDir is the directory of the checkpoint of iteration it.
func (r Run) CheckpointDir(it int) string {
	return filepath.Join(r.Dir, "checkpoints", fmt.Sprintf("iter-%06d", it))
}

// Logs is the run's log directory (logs/), for trajlog.Open.
func (r Run) Logs() string { return filepath.Join(r.Dir, "logs") }

// selectCheckpoints returns the checkpoints of r that want names (all when
// want is empty); a wanted iteration without a checkpoint is a *RunError.
func (r Run) selectCheckpoints(want []int) ([]int, error) {
	if len(want) == 0 {
		return r.Checkpoints, nil
	}
	var out []int
	for _, it := range want {
		if !slices.Contains(r.Checkpoints, it) {
			return nil, &RunError{Dir: r.Dir, Msg: fmt.Sprintf("no checkpoint of iteration %d (have %v)", it, r.Checkpoints)}
		}
		if !slices.Contains(out, it) {
			out = append(out, it)
		}
	}
	slices.Sort(out)
	return out, nil
}

// keepIteration reports whether iteration it is among want (every
// iteration when want is empty).
func keepIteration(want []int, it int32) bool {
	return len(want) == 0 || slices.Contains(want, int(it))
}

// splitOr returns split, or trajlog.SplitTrain when it is empty.
func splitOr(split string) string {
	if split == "" {
		return trajlog.SplitTrain
	}
	return split
}
