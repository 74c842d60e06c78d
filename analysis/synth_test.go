package analysis

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/metrics"
	"github.com/gradcouple/gradcouple/trajlog"
)

// synthConfig describes synthetic GRPO logs with known ground truth: at the first
// state of every task the policy takes the flawed action "look" with probability
// Q, which lowers the success probability from P to P-R; the later turns walk a
// fixed path whose states recur across the group, with a repeated "look" now and
// then (a repetition that does not change the outcome).
type synthConfig struct {
	Iterations, Tasks, G, Turns int
	Q, R, P                     float64
	RepeatProb                  float64 // chance that a later turn repeats "look"
	PromptBytes                 int     // approximate prompt length
	StateCycle                  int     // >0: turn t is in state t mod StateCycle (states recur within a trajectory)
	Seed                        uint64
}

const flawed = "look"

// synthLogs generates the records of cfg, iteration by iteration.
func synthLogs(cfg synthConfig, emit func(iter int, recs []trajlog.Record)) {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	filler := strings.Repeat("You are in the middle of a room. Looking quickly around you, you see a cabinet 1, a countertop 1, a drawer 2. ", 1+cfg.PromptBytes/110)
	rewards := make([]float64, cfg.G)
	for it := 0; it < cfg.Iterations; it++ {
		var recs []trajlog.Record
		for task := 0; task < cfg.Tasks; task++ {
			start := len(recs)
			for j := 0; j < cfg.G; j++ {
				tookFlawed := rng.Float64() < cfg.Q
				p := cfg.P
				if tookFlawed {
					p -= cfg.R
				}
				success := rng.Float64() < p
				rewards[j] = 0
				if success {
					rewards[j] = 1
				}
				for t := 0; t < cfg.Turns; t++ {
					action := fmt.Sprintf("go to cabinet %d", t+1)
					label := trajlog.LabelGood
					if (t == 0 && tookFlawed) || (t > 0 && rng.Float64() < cfg.RepeatProb) {
						action, label = flawed, trajlog.LabelBad
					}
					prompt := fmt.Sprintf("Task %d. %s Turn %d.", task, filler[:cfg.PromptBytes], t)
					recs = append(recs, trajlog.Record{
						Run: "synth", Iteration: int32(it), Split: trajlog.SplitTrain, Env: "synth",
						TaskType: "walk", TaskID: fmt.Sprint("task-", task),
						GroupID: fmt.Sprintf("it%d-task%d", it, task), TrajID: fmt.Sprintf("it%d-task%d-%d", it, task, j),
						Turn: int32(t), StateKey: fmt.Sprintf("task%d/s%d", task, stateOf(cfg, t)), Prompt: prompt, Action: action,
						Valid: true, Label: label, LabelVotes: 5 * label, Outcome: float32(rewards[j]), Success: success,
					})
				}
			}
			adv := metrics.GroupAdvantages(nil, rewards, metrics.AdvantageConfig{})
			for i := start; i < len(recs); i++ {
				recs[i].Advantage = float32(adv[(i-start)/cfg.Turns])
			}
		}
		emit(it, recs)
	}
}

// writeSynth writes cfg's logs as one parquet file per iteration under dir/logs.
func writeSynth(tb testing.TB, dir string, cfg synthConfig) string {
	tb.Helper()
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		tb.Fatal(err)
	}
	synthLogs(cfg, func(it int, recs []trajlog.Record) {
		p := filepath.Join(logs, fmt.Sprintf("iter-%06d.parquet", it))
		if err := trajlog.WriteFile(p, recs, trajlog.Meta{Run: "synth", Seed: int64(cfg.Seed), HasSeed: true}); err != nil {
			tb.Fatal(err)
		}
	})
	return dir
}

func stateOf(cfg synthConfig, turn int) int {
	if cfg.StateCycle > 0 {
		return turn % cfg.StateCycle
	}
	return turn
}
