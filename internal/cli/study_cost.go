package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/internal/cpuinfo"
	"github.com/gradcouple/gradcouple/trainer"
)

// The reference costs of a study's estimate: CPU seconds measured with
// `gradcouple train --preset study` on household on the 2-core development
// machine (AMD EPYC; other jobs shared it, load average 4-7, so a quiet
// machine is somewhat faster), d 64, 2 layers, B x G = 8 x 8 (~1,000
// samples per iteration):
//
//	6 GRPO iterations from a cold-start checkpoint, evaluation off   31 s CPU
//	6 GCD iterations, the same                                       34 s
//	cold start, GCD's recipe (400 steps of 32)                       87 s
//	cold start, imitation only (400 steps of 32)                     34 s
//	evaluation of 100 tasks x 2 splits x greedy and sampled           9.8 s
//
// Lab costs the same to within 10%. A run uses both cores for its rollouts
// and update: 12m24s of CPU in 6m28s of wall time (docs/training.md), so
// wall time on 2 cores is CPU time / 1.9.
const (
	costMachine     = "the 2-core development machine (AMD EPYC)"
	costIterGRPO    = 31.0 / 6 // CPU s per RL iteration (rollouts + update)
	costIterGCD     = 34.0 / 6
	costColdVerdict = 87.0 / (400 * 32) // CPU s per cold-start sample
	costColdPlain   = 34.0 / (400 * 32)
	costEvalEpisode = 9.8 / 400 // CPU s per evaluation episode
	costParallel    = 1.9       // CPU seconds per wall second on 2 cores
	costRefSamples  = 8 * 8     // B x G of the reference
	costTokens      = 200       // tokens of a typical sample, for the size scaling
)

// costCharTokens is how many more tokens a sample has under the character
// tokenizer: prompts are ~4.4 characters per word token (docs/actor.md,
// where a character cold start took 3.9-5.9x and its evaluation 4.5-7.5x
// the word one's time).
const costCharTokens = 4.4

// costSize is the compute per sample of a model relative to the reference
// (d 64, 2 layers, word tokens): L (12 d^2 + 2 T d), the matrix products
// of a block and attention over T tokens, per token, times the tokens of a
// sample relative to word tokens (costCharTokens for char).
func costSize(m trainer.ModelConfig) float64 {
	f := func(d, l int) float64 { return float64(l) * (12*float64(d)*float64(d) + 2*costTokens*float64(d)) }
	size := f(m.Dim, m.Layers) / f(64, 2)
	if m.Tokenizer == "char" {
		size *= costCharTokens
	}
	return size
}

// runCost is the estimated work of a run from iteration from on (its cold
// start when from is 0 and it has its own): CPU seconds, RL iterations and
// evaluations.
type runCost struct {
	CPU          float64
	Iterations   int
	Evaluations  int
	ColdStarts   int
	EvalEpisodes int
}

func (c *runCost) add(o runCost) {
	c.CPU += o.CPU
	c.Iterations += o.Iterations
	c.Evaluations += o.Evaluations
	c.ColdStarts += o.ColdStarts
	c.EvalEpisodes += o.EvalEpisodes
}

// costParts are the reference CPU seconds of one cold start, one RL
// iteration and one evaluation of a configuration.
func costParts(cfg trainer.Config) (cold, iter, eval float64) {
	size := costSize(cfg.Model)
	if cfg.Init == "" && cfg.ColdStart.Demos > 0 {
		rate := costColdPlain
		if cfg.ColdStart.VerdictWeight > 0 {
			rate = costColdVerdict
		}
		cold = float64(cfg.ColdStart.Steps*cfg.ColdStart.Batch) * rate * size
	}
	base := costIterGRPO
	if cfg.Algo == trainer.AlgoGCD {
		base = costIterGCD
	}
	// A third of an iteration is rollouts, two thirds the update (one
	// epoch in the reference).
	iter = base * float64(cfg.Rollout.Tasks*cfg.Rollout.GroupSize) / costRefSamples * size * (1 + 2*float64(cfg.Update.Epochs)) / 3
	modes := 0
	if cfg.Eval.Greedy {
		modes++
	}
	if cfg.Eval.Sampled {
		modes++
	}
	eval = float64(cfg.Eval.Tasks*2*modes) * costEvalEpisode * size
	return cold, iter, eval
}

// estimate is the reference cost of the iterations from..Iterations of a
// run (iteration Iterations only evaluates), with its cold start when from
// is 0.
func estimate(cfg trainer.Config, from int) runCost {
	cold, iter, eval := costParts(cfg)
	var c runCost
	if from == 0 && cold > 0 {
		c.CPU += cold
		c.ColdStarts++
	}
	for i := from; i <= cfg.Iterations; i++ {
		if i < cfg.Iterations {
			c.CPU += iter
			c.Iterations++
		}
		if cfg.Eval.Every > 0 && (i%cfg.Eval.Every == 0 || i == cfg.Iterations) {
			c.CPU += eval
			c.Evaluations++
			c.EvalEpisodes += int(eval / (costEvalEpisode * costSize(cfg.Model)))
		}
	}
	return c
}

// progressOf says where a planned run stands: finished, and the iteration
// training would continue from (its last checkpoint within the committed
// iterations; 0 for a run not started). measured and reference are the
// wall seconds of its committed iterations (timing.jsonl) and what the
// reference costs predict for them.
func progressOf(p plannedRun) (finished bool, from int, measured, reference float64) {
	man, err := trainer.ReadManifest(p.Dir)
	if err != nil {
		return false, 0, 0, 0
	}
	if man.Finished != "" {
		return true, 0, 0, 0
	}
	lines, err := analysis.ReadMetricsFile(filepath.Join(p.Dir, trainer.MetricsFile))
	if err != nil {
		return false, 0, 0, 0
	}
	for _, l := range lines {
		if l.Iteration <= len(lines) {
			if _, err := os.Stat(filepath.Join(p.Dir, trainer.CheckpointDir(l.Iteration))); err == nil {
				from = l.Iteration
			}
		}
	}
	if f, err := os.Open(filepath.Join(p.Dir, trainer.TimingFile)); err == nil {
		measured, reference = timingCost(f, p.Cfg)
		f.Close()
	}
	return false, from, measured, reference
}

// timingCost sums the wall seconds of a run's timing.jsonl lines and the
// reference wall seconds of the same work.
func timingCost(r io.Reader, cfg trainer.Config) (measured, reference float64) {
	cold, iter, eval := costParts(cfg)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var t trainer.Timing
		if json.Unmarshal(sc.Bytes(), &t) != nil {
			continue
		}
		measured += t.Total + t.ColdStart
		if t.ColdStart > 0 {
			reference += cold / costParallel
		}
		if t.Rollout > 0 {
			reference += iter / costParallel
		}
		if t.Eval > 0 {
			reference += eval / costParallel
		}
	}
	return measured, reference
}

// printCost states on stderr, before training, what the study's training
// will cost on 2 cores: the reference costs scaled to every run left to
// train, calibrated by the iterations already trained in OUT when there
// are enough of them, and the processor it runs on.
func printCost(w io.Writer, plan studyPlan, arms, envs, seeds int) {
	var total runCost
	var measured, reference float64
	finished := 0
	for _, p := range append(append([]plannedRun{}, plan.ColdStarts...), plan.Runs...) {
		done, from, m, r := progressOf(p)
		if done {
			finished++
			continue
		}
		measured, reference = measured+m, reference+r
		total.add(estimate(p.Cfg, from))
	}
	wall := total.CPU / costParallel
	calib := ""
	if measured >= 60 && reference > 0 {
		f := measured / reference
		wall *= f
		calib = fmt.Sprintf("; calibrated by the %s already trained here, which took %.2fx the reference", roundDuration(measured), f)
	}
	fmt.Fprintf(w, "plan: %d arm(s) x %d environment(s) x %d seed(s) = %d runs and %d shared cold start(s)", arms, envs, seeds, len(plan.Runs), len(plan.ColdStarts))
	if finished > 0 {
		fmt.Fprintf(w, ", %d already finished", finished)
	}
	fmt.Fprintln(w)
	if total.CPU == 0 {
		fmt.Fprintln(w, "cost: nothing left to train")
		return
	}
	fmt.Fprintf(w, "cost: about %s on 2 cores (%s of CPU) for %d RL iterations, %d cold start(s) and %d evaluations (%d episodes) still to train;\n"+
		"  an estimate from times measured on %s at the study preset, scaled by each run's model size, batch and evaluation tasks%s; this machine: %s\n",
		roundDuration(wall), roundDuration(total.CPU), total.Iterations, total.ColdStarts, total.Evaluations, total.EvalEpisodes,
		costMachine, calib, strings.TrimSpace(cpuinfo.Model()))
}
