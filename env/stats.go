package env

import (
	"slices"
)

// DefaultStatsTasks is the number of tasks per split of a zero StatsConfig.
const DefaultStatsTasks = 200

// StatsConfig configures Stats. Zero values mean the defaults noted.
type StatsConfig struct {
	Envs   []string // environments; nil means both
	Tasks  int      // tasks per split, seeds Seed..Seed+Tasks-1; 0 means DefaultStatsTasks
	Seed   uint64
	Prompt PromptConfig
}

// StatsRow describes the tasks of one family of one split (Family "all" for
// the split). Every task is played once by the oracle and once by the random
// policy (TrajectoryRNGs rollout 0); prompt statistics pool the prompts of
// both.
type StatsRow struct {
	Env            string  `parquet:"env" json:"env"`
	Split          string  `parquet:"split" json:"split"`
	Family         string  `parquet:"family" json:"family"`
	Tasks          int     `parquet:"tasks" json:"tasks"`
	PlanMean       float64 `parquet:"plan_mean" json:"plan_mean"` // oracle plan length from the initial state
	PlanMin        int     `parquet:"plan_min" json:"plan_min"`
	PlanMax        int     `parquet:"plan_max" json:"plan_max"`
	OracleSuccess  float64 `parquet:"oracle_success" json:"oracle_success"`
	RandomSuccess  float64 `parquet:"random_success" json:"random_success"`
	RandomFailed   float64 `parquet:"random_failed" json:"random_failed"` // random episodes that failed irrevocably
	RandomSteps    float64 `parquet:"random_steps" json:"random_steps"`   // mean random episode length
	AdmissibleMean float64 `parquet:"admissible_mean" json:"admissible_mean"`
	AdmissibleMax  int     `parquet:"admissible_max" json:"admissible_max"`
	PromptMean     float64 `parquet:"prompt_tokens_mean" json:"prompt_tokens_mean"` // Tokens per prompt
	PromptMax      int     `parquet:"prompt_tokens_max" json:"prompt_tokens_max"`
	JaccardOracle  float64 `parquet:"jaccard_oracle" json:"jaccard_oracle"` // consecutive prompts, oracle episodes
	JaccardRandom  float64 `parquet:"jaccard_random" json:"jaccard_random"` // consecutive prompts, random episodes
}

// SplitRow describes one split of one environment.
type SplitRow struct {
	Env      string `parquet:"env" json:"env"`
	Split    string `parquet:"split" json:"split"`
	Tasks    int    `parquet:"tasks" json:"tasks"`
	Distinct int    `parquet:"distinct" json:"distinct"`           // distinct instances (fingerprints)
	Layouts  int    `parquet:"layouts" json:"layouts"`             // distinct layout templates used
	Goals    int    `parquet:"goals" json:"goals"`                 // distinct goal texts
	Words    int    `parquet:"words" json:"words"`                 // distinct tokens in prompts and actions
	NewWords int    `parquet:"new_words" json:"new_words"`         // of which never used by the train split's sample
	Vocab    int    `parquet:"vocab" json:"vocab"`                 // len(Words(env)), all splits
	Overlap  int    `parquet:"train_overlap" json:"train_overlap"` // instances also in the train sample (0: disjoint)
}

type statsAcc struct {
	row                StatsRow
	plans              []int
	admissible, prompt float64
	steps              float64 // prompts counted
	jo, jon, jr, jrn   float64
}

// Stats measures the tasks of cfg.Envs: per split and family, oracle plan
// lengths, oracle and random-policy success, admissible list sizes, prompt
// lengths and the token Jaccard of consecutive prompts; per split, its size,
// distinctness and vocabulary.
func Stats(cfg StatsConfig) ([]StatsRow, []SplitRow, error) {
	envs := cfg.Envs
	if envs == nil {
		envs = Names()
	}
	n := cfg.Tasks
	if n == 0 {
		n = DefaultStatsTasks
	}
	var rows []StatsRow
	var splits []SplitRow
	for _, name := range envs {
		vocab := len(Words(name))
		var trainWords, trainFP map[string]bool
		for _, split := range Splits() {
			tasks, err := Tasks(name, split, cfg.Seed, n)
			if err != nil {
				return nil, nil, err
			}
			accs := map[string]*statsAcc{}
			var fams []string
			words, fps, layouts, goals := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
			for _, task := range tasks {
				fps[task.Fingerprint()] = true
				layouts[task.Layout] = true
				goals[task.Goal] = true
				e, _, err := Start(task)
				if err != nil {
					return nil, nil, err
				}
				plan := PlanLength(e)
				prng, _ := TrajectoryRNGs(task, 0)
				oracle, err := Play(task, OraclePolicy{}, prng, PlayConfig{Prompt: cfg.Prompt})
				if err != nil {
					return nil, nil, err
				}
				prng, _ = TrajectoryRNGs(task, 0)
				random, err := Play(task, RandomPolicy{}, prng, PlayConfig{Prompt: cfg.Prompt})
				if err != nil {
					return nil, nil, err
				}
				for _, fam := range []string{task.Type, "all"} {
					a := accs[fam]
					if a == nil {
						a = &statsAcc{row: StatsRow{Env: name, Split: split, Family: fam}}
						accs[fam] = a
						if fam != "all" {
							fams = append(fams, fam)
						}
					}
					a.row.Tasks++
					a.plans = append(a.plans, plan)
					if oracle.Solved {
						a.row.OracleSuccess++
					}
					if random.Solved {
						a.row.RandomSuccess++
					}
					if random.Failed {
						a.row.RandomFailed++
					}
					a.row.RandomSteps += float64(len(random.Steps))
					for k, tr := range []*Trajectory{&oracle, &random} {
						for i, st := range tr.Steps {
							toks := Tokens(st.Prompt)
							a.prompt += float64(len(toks))
							a.row.PromptMax = max(a.row.PromptMax, len(toks))
							a.steps++
							nadm := st.Admissible
							a.admissible += float64(nadm)
							a.row.AdmissibleMax = max(a.row.AdmissibleMax, nadm)
							if i > 0 {
								j := Jaccard(tr.Steps[i-1].Prompt, st.Prompt)
								if k == 0 {
									a.jo += j
									a.jon++
								} else {
									a.jr += j
									a.jrn++
								}
							}
							if fam == "all" {
								for _, t := range toks {
									words[t] = true
								}
							}
						}
					}
				}
			}
			slices.Sort(fams)
			for _, fam := range append(fams, "all") {
				a := accs[fam]
				r := a.row
				t := float64(r.Tasks)
				r.OracleSuccess /= t
				r.RandomSuccess /= t
				r.RandomFailed /= t
				r.RandomSteps /= t
				r.AdmissibleMean = a.admissible / a.steps
				r.PromptMean = a.prompt / a.steps
				r.JaccardOracle = a.jo / a.jon
				r.JaccardRandom = a.jr / a.jrn
				r.PlanMin, r.PlanMax = slices.Min(a.plans), slices.Max(a.plans)
				sum := 0
				for _, p := range a.plans {
					sum += p
				}
				r.PlanMean = float64(sum) / t
				rows = append(rows, r)
			}
			sr := SplitRow{Env: name, Split: split, Tasks: len(tasks), Distinct: len(fps), Layouts: len(layouts),
				Goals: len(goals), Words: len(words), Vocab: vocab}
			if split == SplitTrain {
				trainWords, trainFP = words, fps
			} else {
				for w := range words {
					if !trainWords[w] {
						sr.NewWords++
					}
				}
				for fp := range fps {
					if trainFP[fp] {
						sr.Overlap++
					}
				}
			}
			splits = append(splits, sr)
		}
	}
	return rows, splits, nil
}
