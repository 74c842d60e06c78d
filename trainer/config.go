package trainer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/gradcouple/gradcouple/env"
	"go.yaml.in/yaml/v3"
)

// Algorithms.
const (
	AlgoGRPO = "grpo" // GRPO: PPO-clip on group-relative outcome advantages
	AlgoGCD  = "gcd"  // GRPO + generative classification disentanglement + prompt correction
)

// Presets.
const (
	PresetDefault = "default" // the run of the README: GRPO or GCD on household in ~10 minutes on 2 cores
	PresetQuick   = "quick"   // a smaller run for the quickstart: a few minutes on 2 cores
	PresetStudy   = "study"   // the reference study's runs: 40 iterations, a few minutes each
	// PresetPower is the study preset evaluated on 500 tasks per split
	// (every 20 iterations, to bound the cost): the runs of `gradcouple
	// study --preset power`, which trains 10 paired seeds per arm.
	PresetPower = "power"
)

// Config is the complete, resolved configuration of a run. It is written to
// run.json, and with the seed it determines every record of the run.
//
// Unlike most settings structs of gradcouple, a zero field does not mean
// "default" here: zero is a meaningful value for many fields (lambda = 0,
// no cold start, beta = 0), and run.json must show the values actually
// used. Start from Defaults and change fields.
type Config struct {
	// Run names the run in every step record (default: the run
	// directory's base name).
	Run  string `yaml:"run" json:"run"`
	Env  string `yaml:"env" json:"env"`   // env.Household, env.Lab or a bandit name (env.Bandit, canonical spelling)
	Algo string `yaml:"algo" json:"algo"` // AlgoGRPO or AlgoGCD
	Seed uint64 `yaml:"seed" json:"seed"`
	// Iterations is the number of GRPO updates. Iteration i collects
	// rollouts with the policy after i updates; iteration Iterations only
	// evaluates the final policy.
	Iterations int `yaml:"iterations" json:"iterations"`
	// TrainTasks is the pool of train tasks, seeds 0..TrainTasks-1 of the
	// train split; each iteration draws Rollout.Tasks of them.
	TrainTasks int `yaml:"train_tasks" json:"train_tasks"`
	// Init, if not empty, is a checkpoint directory to start from instead
	// of a new model and the cold start (e.g. the checkpoint 0 of another
	// run, so that GRPO and GCD start from the same policy). Its
	// vocabulary must be this environment's (Tokenizer).
	Init string `yaml:"init" json:"init"`
	// CheckpointEvery keeps checkpoints/iter-i for i a multiple of it (and
	// the last iteration); 0 keeps only the first and the last. Resuming
	// restarts from the last checkpoint, so it also bounds the work redone.
	CheckpointEvery int `yaml:"checkpoint_every" json:"checkpoint_every"`

	Model     ModelConfig     `yaml:"model" json:"model"`
	ColdStart ColdStartConfig `yaml:"cold_start" json:"cold_start"`
	Rollout   RolloutConfig   `yaml:"rollout" json:"rollout"`
	Update    UpdateConfig    `yaml:"update" json:"update"`
	GCD       GCDConfig       `yaml:"gcd" json:"gcd"`
	Judge     JudgeConfig     `yaml:"judge" json:"judge"`
	Eval      EvalConfig      `yaml:"eval" json:"eval"`
}

// ModelConfig is the actor's size and prompt (policy.Config).
type ModelConfig struct {
	Dim     int `yaml:"dim" json:"dim"`         // embedding width
	Layers  int `yaml:"layers" json:"layers"`   // transformer blocks
	Heads   int `yaml:"heads" json:"heads"`     // attention heads (divide dim)
	Context int `yaml:"context" json:"context"` // positions: the longest prompt + action + 2
	History int `yaml:"history" json:"history"` // past (observation, action) pairs in a prompt; 0: none
	// Memory adds to every prompt a line with everything the observations
	// so far have shown (env.PromptConfig.Memory), so that labels are
	// identifiable from the prompt; prompts grow (raise context).
	Memory bool `yaml:"memory,omitempty" json:"memory,omitempty"`
	// Tokenizer is the actor's tokenizer: "word" (policy.NewTokenizer over
	// the environment's words; "", the default, means word and is omitted
	// from run.json) or "char" (policy.NewCharTokenizer: one token per
	// character, so a new name is a new sequence of known tokens).
	// Character prompts are ~4.4 tokens per word: over random rollouts of
	// every split (1,200 episodes of 20 steps each), the longest is 577
	// characters in household and 688 in lab without history, 804 and 863
	// with history 1, 913 and 979 with history 2 (words: 202 at most with
	// history 1). With char, household and lab need context >= 1024 (history
	// 0 or 1; history 2 needs ~1,100), and unconstrained rollouts
	// max_action_tokens >= 40 (actions are up to 39 characters). Attention
	// costs grow with the square of the length (policy's documentation).
	Tokenizer string `yaml:"tokenizer,omitempty" json:"tokenizer,omitempty"`
}

// ColdStartConfig is the supervised warm-up on oracle demonstrations
// (DESIGN.md §4) that runs before iteration 0.
type ColdStartConfig struct {
	// Demos is the number of demonstrated train tasks (seeds 0..Demos-1 of
	// the train split, every step of env.Demonstration); 0 turns the cold
	// start off.
	Demos int     `yaml:"demos" json:"demos"`
	Steps int     `yaml:"steps" json:"steps"` // Adam steps
	Batch int     `yaml:"batch" json:"batch"` // samples per step
	LR    float64 `yaml:"lr" json:"lr"`
	// VerdictWeight, when > 0, also trains the verdict (GCD) on the
	// demonstrations: each demonstrated step as "good", and one uniformly
	// drawn non-optimal admissible action of the same state as "bad", with
	// the judge's labels; the loss is the token-mean NLL of the
	// demonstrations plus VerdictWeight times the mean verdict CE. Imitation
	// and the verdict share the parameters, and a weight well below 1 keeps
	// the verdict from slowing imitation down (measured: with weight 1 the
	// cold-start policy solves 0.25 of eval-in tasks greedily, with 0.2
	// about as many as without verdict training).
	VerdictWeight float64 `yaml:"verdict_weight" json:"verdict_weight"`
	// FreezeUnseen keeps the embedding rows (wte, which is also the tied
	// LM head) of the tokens that occur nowhere in the cold-start data
	// fixed during the cold start: their gradient is zeroed before Adam, so
	// their moments stay 0 and their values bit for bit what the
	// initialisation drew. Without it the full softmax gives every row a
	// small gradient (push the logits of tokens never seen down), which
	// Adam's per-coordinate normalisation turns into steps of ~lr, the same
	// for all unseen rows (measured with `model drift`, docs/actor.md: in
	// a study-preset household cold start the 170 unseen rows, held-out
	// names among them, go from mean mutual cosine 0.000 to 0.97). RL
	// updates all rows as before. false (the default) is omitted from
	// run.json.
	FreezeUnseen bool `yaml:"freeze_unseen,omitempty" json:"freeze_unseen,omitempty"`
}

// RolloutConfig is how training rollouts are collected.
type RolloutConfig struct {
	Tasks     int `yaml:"tasks" json:"tasks"`           // B: tasks per iteration
	GroupSize int `yaml:"group_size" json:"group_size"` // G: rollouts per task
	// Temperature of the training rollouts (and sampled evaluation). The
	// update treats drawn tokens as samples of the temperature-1 policy, so
	// a temperature other than 1 makes rollouts slightly off-policy (PPO's
	// clip bounds the effect).
	Temperature float64 `yaml:"temperature" json:"temperature"`
	// Unconstrained samples free text (up to MaxActionTokens tokens)
	// instead of restricting tokens to the admissible actions; text that is
	// no admissible action is an invalid step ("Nothing happens.").
	Unconstrained   bool `yaml:"unconstrained" json:"unconstrained"`
	MaxActionTokens int  `yaml:"max_action_tokens" json:"max_action_tokens"`
	// MaxSteps ends an episode (unsolved) after this many steps, in
	// training and evaluation; 0 means the environment's own limit (30).
	MaxSteps int `yaml:"max_steps" json:"max_steps"`
	// InvalidPenalty is subtracted from the outcome for every invalid step:
	// outcome = success - InvalidPenalty * invalid steps.
	InvalidPenalty float64 `yaml:"invalid_penalty" json:"invalid_penalty"`
	// TwinShare, in environments with twin tasks (env.HasTwins: the
	// bandit, household-twin, lab-twin), is the probability that a drawn train task's twin
	// (env.TwinSeed) is drawn into the same batch too, when it is in the
	// pool and the batch has room. 0 (the default, omitted from run.json
	// and YAML) draws Tasks tasks uniformly as before, so twins meet only
	// by chance; 1 fills the batch with whole twin pairs.
	TwinShare float64 `yaml:"twin_share,omitempty" json:"twin_share,omitzero"`
}

// UpdateConfig is the PPO-clip update and its Adam optimizer.
type UpdateConfig struct {
	Epochs      int     `yaml:"epochs" json:"epochs"`           // passes over an iteration's samples
	MiniBatches int     `yaml:"minibatches" json:"minibatches"` // optimizer steps per epoch
	Clip        float64 `yaml:"clip" json:"clip"`               // PPO clip epsilon
	KLBeta      float64 `yaml:"kl_beta" json:"kl_beta"`         // coefficient of the k3 KL to the reference (the cold-start policy)
	NoStd       bool    `yaml:"no_std" json:"no_std"`           // Dr. GRPO advantages (no division by the group std)
	LR          float64 `yaml:"lr" json:"lr"`
	Beta1       float64 `yaml:"beta1" json:"beta1"`
	Beta2       float64 `yaml:"beta2" json:"beta2"`
	AdamEps     float64 `yaml:"adam_eps" json:"adam_eps"`
	GradClip    float64 `yaml:"grad_clip" json:"grad_clip"` // global gradient-norm clip; 0: none
}

// GCDConfig is generative classification disentanglement (DESIGN.md §4):
// the verdict loss and prompt-based correction.
type GCDConfig struct {
	// Lambda weighs the verdict cross-entropy: L = L_GRPO + Lambda * CE
	// (mean over a mini-batch's samples). 0 switches it off.
	Lambda float64 `yaml:"lambda" json:"lambda"`
	// Correction turns on prompt-based correction in training rollouts:
	// when the actor's own p(bad) for the action it drew is above
	// Threshold, or the action was already taken Repeats times in the
	// trajectory, a line naming the action is added to the prompt and the
	// action is drawn again, at most MaxTries times per step. The repeat
	// rule is off by default (Repeats 0): in household runs it fired on
	// about half of the corrected steps, mostly on legitimate revisits
	// ("go to countertop 1"), and held back the policy (seed 1, greedy
	// eval-in success from 0.46 at the cold start: 0.39-0.44 at iterations
	// 20-80 and 0.50 at 100 with Repeats 2; 0.43, 0.46, 0.64 at 25, 50, 75
	// without the rule).
	Correction bool `yaml:"correction" json:"correction"`
	// TrainCorrected makes corrected steps policy-gradient samples like any
	// other. Off, a corrected step trains only the verdict: the correction
	// steers which states the rollout visits, and the policy learns from
	// the prompts evaluation sees (without correction lines).
	TrainCorrected bool `yaml:"train_corrected" json:"train_corrected"`
	// CorrectEval applies the same correction in evaluation, as part of
	// the agent (its own verdict triggers it); off, evaluation measures the
	// policy alone.
	CorrectEval bool    `yaml:"correct_eval" json:"correct_eval"`
	Threshold   float64 `yaml:"threshold" json:"threshold"`
	Repeats     int     `yaml:"repeats" json:"repeats"` // 0: no repeat rule
	MaxTries    int     `yaml:"max_tries" json:"max_tries"`
}

// JudgeConfig is the environment's judge (env.Judge) that labels every step.
type JudgeConfig struct {
	J   int     `yaml:"j" json:"j"`
	Eps float64 `yaml:"eps" json:"eps"`
	// Labels is what the judge's truth is relative to (env.ParseLabels):
	// "" or "state", the full state (an action on a shortest plan);
	// "revealed", what the observations so far have shown
	// (env.IsRevealedOptimal); "identifiable", the full state, with the
	// steps whose optimal set depends on something never shown (env.Blind)
	// left unlabelled: label -1 in the logs, no verdict target in the
	// update or the cold start.
	Labels string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// EvalConfig is the evaluation on eval-in and eval-out.
type EvalConfig struct {
	// Every evaluates at iterations that are multiples of it and at the
	// last; 0 turns evaluation off.
	Every int `yaml:"every" json:"every"`
	// Tasks is the number of tasks per split (seeds 0..Tasks-1), each
	// played once greedily and once sampled at the rollout temperature.
	Tasks   int  `yaml:"tasks" json:"tasks"`
	Greedy  bool `yaml:"greedy" json:"greedy"`
	Sampled bool `yaml:"sampled" json:"sampled"`
}

// Presets returns the preset names.
func Presets() []string { return []string{PresetDefault, PresetQuick, PresetStudy, PresetPower} }

// Defaults returns the configuration of a preset and algorithm. For GCD the
// verdict loss, correction and cold-start verdict training are on; for GRPO
// they are off.
func Defaults(preset, algo string) (Config, error) {
	c := Config{
		Env: env.Household, Algo: algo, Seed: 1,
		Iterations: 150, TrainTasks: 1000, CheckpointEvery: 10,
		Model:     ModelConfig{Dim: 64, Layers: 2, Heads: 4, Context: 320, History: 1},
		ColdStart: ColdStartConfig{Demos: 1500, Steps: 600, Batch: 32, LR: 2e-3},
		Rollout:   RolloutConfig{Tasks: 8, GroupSize: 8, Temperature: 1, MaxSteps: 20, MaxActionTokens: 12},
		Update: UpdateConfig{Epochs: 1, MiniBatches: 2, Clip: 0.2, KLBeta: 0.01, LR: 3e-4,
			Beta1: 0.9, Beta2: 0.999, AdamEps: 1e-8, GradClip: 1},
		GCD:   GCDConfig{Threshold: 0.9, MaxTries: 2},
		Judge: JudgeConfig{J: env.DefaultJudgments, Eps: 0.1},
		Eval:  EvalConfig{Every: 25, Tasks: 100, Greedy: true, Sampled: true},
	}
	switch preset {
	case PresetDefault, "":
	case PresetQuick:
		c.Iterations = 30
		c.CheckpointEvery = 5
		c.ColdStart.Demos, c.ColdStart.Steps = 300, 300
		c.Eval.Every, c.Eval.Tasks = 10, 50
	case PresetStudy:
		c.Iterations = 40
		c.CheckpointEvery = 10
		c.ColdStart.Demos, c.ColdStart.Steps = 1000, 400
		c.Eval.Every, c.Eval.Tasks = 10, 50
	case PresetPower:
		c.Iterations = 40
		c.CheckpointEvery = 10
		c.ColdStart.Demos, c.ColdStart.Steps = 1000, 400
		c.Eval.Every, c.Eval.Tasks = 20, 500
	default:
		return Config{}, fmt.Errorf("%w: preset %q (want %s)", ErrConfig, preset, strings.Join(Presets(), " or "))
	}
	switch algo {
	case AlgoGRPO:
	case AlgoGCD:
		c.GCD.Lambda = 1
		c.GCD.Correction = true
		c.ColdStart.VerdictWeight = 0.2
	default:
		return Config{}, fmt.Errorf("%w: algo %q (want grpo or gcd)", ErrConfig, algo)
	}
	return c, nil
}

// Validate checks that c describes a run the trainer can do. The error wraps
// ErrConfig and names the field by its YAML path.
func (c Config) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: %s = %v: want %s", ErrConfig, field, v, want)
	}
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	switch {
	case !knownEnv(c.Env):
		return bad("env", c.Env, "household, lab or a bandit name in canonical spelling (bandit[-kK][-fL][-dD][-alias], options that differ from the defaults only, in this order)")
	case c.Algo != AlgoGRPO && c.Algo != AlgoGCD:
		return bad("algo", c.Algo, "grpo or gcd")
	case c.Algo == AlgoGRPO && (c.GCD.Lambda != 0 || c.GCD.Correction || c.GCD.CorrectEval):
		return fmt.Errorf("%w: algo grpo with gcd.lambda %v, gcd.correction %v, gcd.correct_eval %v: GCD parts need algo gcd",
			ErrConfig, c.GCD.Lambda, c.GCD.Correction, c.GCD.CorrectEval)
	case c.Iterations < 0:
		return bad("iterations", c.Iterations, ">= 0")
	case c.TrainTasks < 1:
		return bad("train_tasks", c.TrainTasks, ">= 1")
	case c.CheckpointEvery < 0:
		return bad("checkpoint_every", c.CheckpointEvery, ">= 0")
	case c.Model.Dim < 1 || c.Model.Layers < 1 || c.Model.Heads < 1 || c.Model.Dim%c.Model.Heads != 0:
		return fmt.Errorf("%w: model dim %d, layers %d, heads %d: want positive sizes with heads dividing dim", ErrConfig, c.Model.Dim, c.Model.Layers, c.Model.Heads)
	case c.Model.Context < 32 || c.Model.Context > 4096:
		return bad("model.context", c.Model.Context, "32 to 4096")
	case c.Model.History < 0:
		return bad("model.history", c.Model.History, ">= 0")
	case !knownTokenizer(c.Model.Tokenizer):
		return bad("model.tokenizer", c.Model.Tokenizer, "word or char")
	case charText(c) && c.Model.Context < minCharContext:
		return bad("model.context", c.Model.Context, fmt.Sprintf(">= %d with model.tokenizer char on %s (prompts of up to ~1,000 characters)", minCharContext, c.Env))
	case charText(c) && c.Rollout.Unconstrained && c.Rollout.MaxActionTokens < minCharActionTokens:
		return bad("rollout.max_action_tokens", c.Rollout.MaxActionTokens, fmt.Sprintf(">= %d with model.tokenizer char on %s (actions of up to 39 characters)", minCharActionTokens, c.Env))
	case c.ColdStart.Demos < 0:
		return bad("cold_start.demos", c.ColdStart.Demos, ">= 0")
	case c.ColdStart.Demos > 0 && (c.ColdStart.Steps < 0 || c.ColdStart.Batch < 1):
		return fmt.Errorf("%w: cold_start steps %d, batch %d: want steps >= 0 and batch >= 1", ErrConfig, c.ColdStart.Steps, c.ColdStart.Batch)
	case !(c.ColdStart.LR >= 0) || !finite(c.ColdStart.LR):
		return bad("cold_start.lr", c.ColdStart.LR, "a finite value >= 0")
	case !(c.ColdStart.VerdictWeight >= 0) || !finite(c.ColdStart.VerdictWeight):
		return bad("cold_start.verdict_weight", c.ColdStart.VerdictWeight, "a finite value >= 0")
	case c.Rollout.Tasks < 1 || c.Rollout.Tasks > c.TrainTasks:
		return bad("rollout.tasks", c.Rollout.Tasks, fmt.Sprintf("1 to train_tasks (%d)", c.TrainTasks))
	case c.Rollout.GroupSize < 1:
		return bad("rollout.group_size", c.Rollout.GroupSize, ">= 1")
	case !(c.Rollout.Temperature > 0) || !finite(c.Rollout.Temperature):
		return bad("rollout.temperature", c.Rollout.Temperature, "> 0")
	case c.Rollout.MaxSteps < 0:
		return bad("rollout.max_steps", c.Rollout.MaxSteps, ">= 0")
	case c.Rollout.MaxActionTokens < 1:
		return bad("rollout.max_action_tokens", c.Rollout.MaxActionTokens, ">= 1")
	case !(c.Rollout.InvalidPenalty >= 0) || !finite(c.Rollout.InvalidPenalty):
		return bad("rollout.invalid_penalty", c.Rollout.InvalidPenalty, "a finite value >= 0")
	case !(c.Rollout.TwinShare >= 0 && c.Rollout.TwinShare <= 1):
		return bad("rollout.twin_share", c.Rollout.TwinShare, "in [0, 1]")
	case c.Rollout.TwinShare > 0 && !env.HasTwins(c.Env):
		return bad("rollout.twin_share", c.Rollout.TwinShare, "0: "+c.Env+" has no twin tasks (the bandit, household-twin and lab-twin have)")
	case c.Update.Epochs < 1:
		return bad("update.epochs", c.Update.Epochs, ">= 1")
	case c.Update.MiniBatches < 1:
		return bad("update.minibatches", c.Update.MiniBatches, ">= 1")
	case !(c.Update.Clip > 0 && c.Update.Clip < 1):
		return bad("update.clip", c.Update.Clip, "in (0, 1)")
	case !(c.Update.KLBeta >= 0) || !finite(c.Update.KLBeta):
		return bad("update.kl_beta", c.Update.KLBeta, "a finite value >= 0")
	case !(c.Update.LR >= 0) || !finite(c.Update.LR):
		return bad("update.lr", c.Update.LR, "a finite value >= 0")
	case !(c.Update.Beta1 >= 0 && c.Update.Beta1 < 1):
		return bad("update.beta1", c.Update.Beta1, "in [0, 1)")
	case !(c.Update.Beta2 >= 0 && c.Update.Beta2 < 1):
		return bad("update.beta2", c.Update.Beta2, "in [0, 1)")
	case !(c.Update.AdamEps > 0) || !finite(c.Update.AdamEps):
		return bad("update.adam_eps", c.Update.AdamEps, "> 0")
	case !(c.Update.GradClip >= 0) || !finite(c.Update.GradClip):
		return bad("update.grad_clip", c.Update.GradClip, ">= 0")
	case c.Judge.Labels != "" && !validLabels(c.Judge.Labels):
		return fmt.Errorf("%w: judge.labels %q: want state, revealed or identifiable", ErrConfig, c.Judge.Labels)
	case !(c.GCD.Lambda >= 0) || !finite(c.GCD.Lambda):
		return bad("gcd.lambda", c.GCD.Lambda, "a finite value >= 0")
	case !(c.GCD.Threshold >= 0 && c.GCD.Threshold <= 1):
		return bad("gcd.threshold", c.GCD.Threshold, "in [0, 1]")
	case c.GCD.Repeats < 0:
		return bad("gcd.repeats", c.GCD.Repeats, ">= 0")
	case c.GCD.MaxTries < 0:
		return bad("gcd.max_tries", c.GCD.MaxTries, ">= 0")
	case c.Judge.J < 1 || c.Judge.J > math.MaxInt8:
		return bad("judge.j", c.Judge.J, "1 to 127")
	case !(c.Judge.Eps >= 0 && c.Judge.Eps <= 1):
		return bad("judge.eps", c.Judge.Eps, "in [0, 1]")
	case c.Eval.Every < 0:
		return bad("eval.every", c.Eval.Every, ">= 0")
	case c.Eval.Every > 0 && c.Eval.Tasks < 1:
		return bad("eval.tasks", c.Eval.Tasks, ">= 1")
	case c.Eval.Every > 0 && !c.Eval.Greedy && !c.Eval.Sampled:
		return fmt.Errorf("%w: eval.every %d with neither eval.greedy nor eval.sampled", ErrConfig, c.Eval.Every)
	}
	return nil
}

// knownEnv reports whether name is an environment the trainer runs on, in
// its canonical spelling (so that run.json, the step records and the task
// IDs name it alike).
func knownEnv(name string) bool {
	c, err := env.CanonicalName(name)
	return err == nil && c == name
}

// DecodeConfig reads a configuration from r over base: keys present in the
// file replace base's values, absent keys keep them. Unknown keys are an
// error (a typo must not be silently ignored). The file is YAML, or TOML
// when name ends in ".toml" (same keys: TOML tables for the sections).
// name is the file name used in errors. The result is not validated.
func DecodeConfig(r io.Reader, name string, base Config) (Config, error) {
	data, err := readConfig(r, name)
	if err != nil {
		return Config{}, err
	}
	c := base
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return base, nil // an empty file
		}
		return Config{}, fmt.Errorf("%w: %s: %v", ErrConfig, name, err)
	}
	return c, nil
}

// PeekAlgo returns the algo key of a configuration file ("" if absent), so
// that a caller can pick the defaults before decoding the rest over them.
func PeekAlgo(r io.Reader, name string) (string, error) {
	var v struct {
		Algo string `yaml:"algo"`
	}
	data, err := readConfig(r, name)
	if err != nil {
		return "", err
	}
	if err := yaml.Unmarshal(data, &v); err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrConfig, name, err)
	}
	return v.Algo, nil
}

// readConfig reads a configuration file of at most 1 MiB as YAML: a TOML
// file (name ending in ".toml") is parsed and re-encoded as YAML, so both
// syntaxes go through the one strict decoder.
func readConfig(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if !strings.EqualFold(filepath.Ext(name), ".toml") {
		return data, nil
	}
	var tree map[string]any
	if _, err := toml.Decode(string(data), &tree); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrConfig, name, err)
	}
	if len(tree) == 0 {
		return nil, nil
	}
	out, err := yaml.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrConfig, name, err)
	}
	return out, nil
}

// WriteYAML writes c as YAML, in the form DecodeConfig reads.
func (c Config) WriteYAML(w io.Writer) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return err
	}
	return enc.Close()
}

// validLabels reports whether s names a judge truth (env.ParseLabels).
func validLabels(s string) bool {
	_, err := env.ParseLabels(s)
	return err == nil
}
