package env

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/gradcouple/gradcouple/metrics"
	"github.com/gradcouple/gradcouple/trajlog"
)

// SampleConfig configures Sample. Zero values mean the defaults noted.
type SampleConfig struct {
	Env   string // Household or Lab
	Split string // SplitTrain, SplitEvalIn or SplitEvalOut
	Tasks int    // number of tasks; their seeds are Seed, Seed+1, ...
	Seed  uint64
	// GroupSize is the number of rollouts per task (a GRPO group); 0 means 1.
	GroupSize int
	// Policy is "oracle", "random" or "mix"; "" means "mix".
	Policy string
	// Eps is the random share of the mix policy.
	Eps    float64
	Prompt PromptConfig
	Judge  Judge
	// Run is the run name of the records; "" means "env-sample".
	Run string
	// GRPOAdvantage fills the advantage column with the GRPO advantage of
	// each group (DESIGN.md §4, std-normalised); otherwise it is 0.
	GRPOAdvantage bool
}

// SampleRow summarises sampled trajectories of one task family ("all" for
// the total).
type SampleRow struct {
	Env           string  `parquet:"env" json:"env"`
	Split         string  `parquet:"split" json:"split"`
	Family        string  `parquet:"family" json:"family"`
	Trajectories  int     `parquet:"trajectories" json:"trajectories"`
	Steps         int     `parquet:"steps" json:"steps"`
	SuccessRate   float64 `parquet:"success_rate" json:"success_rate"`
	FailedRate    float64 `parquet:"failed_rate" json:"failed_rate"` // failed irrevocably (lab)
	MeanSteps     float64 `parquet:"mean_steps" json:"mean_steps"`
	InvalidRate   float64 `parquet:"invalid_rate" json:"invalid_rate"`
	OptimalRate   float64 `parquet:"optimal_rate" json:"optimal_rate"`       // steps whose action was optimal
	GoodLabelRate float64 `parquet:"good_label_rate" json:"good_label_rate"` // steps the judge called good
	LabelAccuracy float64 `parquet:"label_accuracy" json:"label_accuracy"`   // judge verdict == truth
}

// Streams of the per-trajectory random generators (PCG stream bases).
var (
	policyStream = streamBase("policy")
	judgeStream  = streamBase("judge")
)

// TrajectoryRNGs returns the policy and judge generators of rollout j of a
// task: PCG seeded with the task seed on streams derived from the task ID and
// j, so that every rollout is reproducible on its own.
func TrajectoryRNGs(task Task, j int) (policy, judge *rand.Rand) {
	base := streamBase(task.ID) + uint64(j)*0x9e3779b97f4a7c15
	return rand.New(rand.NewPCG(task.Seed, base^policyStream)), rand.New(rand.NewPCG(task.Seed, base^judgeStream))
}

// Sample plays cfg.GroupSize rollouts of each of cfg.Tasks tasks with the
// configured policy, judges every step, and returns the step records
// (trajlog.Record, DESIGN.md §3.1: iteration 0, group = task, logprob 0)
// with a summary per task family.
func Sample(cfg SampleConfig) ([]trajlog.Record, []SampleRow, error) {
	g := cfg.GroupSize
	if g == 0 {
		g = 1
	}
	if g < 0 || cfg.Tasks < 0 {
		return nil, nil, fmt.Errorf("env: sample: negative tasks (%d) or group size (%d)", cfg.Tasks, cfg.GroupSize)
	}
	name := cfg.Policy
	if name == "" {
		name = "mix"
	}
	pol, err := NewPolicy(name, cfg.Eps)
	if err != nil {
		return nil, nil, err
	}
	run := cfg.Run
	if run == "" {
		run = "env-sample"
	}
	tasks, err := Tasks(cfg.Env, cfg.Split, cfg.Seed, cfg.Tasks)
	if err != nil {
		return nil, nil, err
	}
	var recs []trajlog.Record
	sum := newSampleSummary(cfg.Env, cfg.Split)
	rewards := make([]float64, g)
	adv := make([]float64, g)
	for _, task := range tasks {
		start := len(recs)
		lens := make([]int, g)
		for j := 0; j < g; j++ {
			prng, jrng := TrajectoryRNGs(task, j)
			tr, err := Play(task, pol, prng, PlayConfig{Prompt: cfg.Prompt, Judge: cfg.Judge, JudgeRNG: jrng})
			if err != nil {
				return nil, nil, err
			}
			sum.add(&tr)
			rewards[j] = tr.Return
			lens[j] = len(tr.Steps)
			traj := task.ID + "/" + strconv.Itoa(j)
			for _, s := range tr.Steps {
				label := trajlog.LabelBad
				switch {
				case s.Excluded:
					label = trajlog.LabelUnknown
				case s.Good:
					label = trajlog.LabelGood
				}
				recs = append(recs, trajlog.Record{
					Run: run, Split: task.Split, Env: task.Env, TaskType: task.Type, TaskID: task.ID,
					GroupID: task.ID, TrajID: traj, Turn: int32(s.Turn), StateKey: s.StateKey,
					Prompt: s.Prompt, Action: s.Action, Valid: s.Valid, Label: label, LabelVotes: int8(s.Votes),
					StepReward: float32(s.Reward), Outcome: float32(tr.Return), Success: tr.Solved,
				})
			}
		}
		if cfg.GRPOAdvantage {
			metrics.GroupAdvantages(adv, rewards, metrics.AdvantageConfig{})
			i := start
			for j := 0; j < g; j++ {
				for k := 0; k < lens[j]; k++ {
					recs[i].Advantage = float32(adv[j])
					i++
				}
			}
		}
	}
	return recs, sum.rows(), nil
}

// sampleSummary accumulates SampleRows by family.
type sampleSummary struct {
	env, split string
	order      []string
	by         map[string]*SampleRow
}

func newSampleSummary(env, split string) *sampleSummary {
	return &sampleSummary{env: env, split: split, by: map[string]*SampleRow{}}
}

func (s *sampleSummary) add(tr *Trajectory) {
	for _, fam := range []string{tr.Task.Type, "all"} {
		r := s.by[fam]
		if r == nil {
			r = &SampleRow{Env: s.env, Split: s.split, Family: fam}
			s.by[fam] = r
			if fam != "all" {
				s.order = append(s.order, fam)
			}
		}
		r.Trajectories++
		r.Steps += len(tr.Steps)
		if tr.Solved {
			r.SuccessRate++
		}
		if tr.Failed {
			r.FailedRate++
		}
		for _, st := range tr.Steps {
			if !st.Valid {
				r.InvalidRate++
			}
			if st.Optimal {
				r.OptimalRate++
			}
			if st.Good {
				r.GoodLabelRate++
			}
			if st.Good == st.Optimal {
				r.LabelAccuracy++
			}
		}
	}
}

// rows returns the families in name order, then "all".
func (s *sampleSummary) rows() []SampleRow {
	fams := append([]string(nil), s.order...)
	slices.Sort(fams)
	if len(fams) > 0 {
		fams = append(fams, "all")
	}
	out := make([]SampleRow, 0, len(fams))
	for _, f := range fams {
		r := *s.by[f]
		n, steps := float64(r.Trajectories), float64(r.Steps)
		r.SuccessRate /= n
		r.FailedRate /= n
		r.MeanSteps = steps / n
		if steps > 0 {
			r.InvalidRate /= steps
			r.OptimalRate /= steps
			r.GoodLabelRate /= steps
			r.LabelAccuracy /= steps
		}
		out = append(out, r)
	}
	return out
}
