package trainer

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/gradcouple/gradcouple/policy"
)

// BenchmarkIteration times one training iteration of the default
// configuration (B x G rollouts and the PPO update; no evaluation, no
// files) and reports its split: rollout-s and update-s per iteration, and
// the samples (agent steps) it trained on. The policy is the checkpoint
// named by GRADCOUPLE_BENCH_INIT (e.g. checkpoint 0 of a default run, for
// the trajectory lengths of a real run), or else a briefly cold-started
// model (50 demonstrations, 100 steps: a weak policy whose trajectories
// run long, the slow end).
func BenchmarkIteration(b *testing.B) {
	for _, algo := range []string{AlgoGRPO, AlgoGCD} {
		b.Run(algo, func(b *testing.B) {
			cfg, err := Defaults(PresetDefault, algo)
			if err != nil {
				b.Fatal(err)
			}
			cfg.Run = "bench"
			t, err := newTrainer(cfg, Options{})
			if err != nil {
				b.Fatal(err)
			}
			if init := os.Getenv("GRADCOUPLE_BENCH_INIT"); init != "" {
				if t.model, _, err = policy.Load(init); err != nil {
					b.Fatal(err)
				}
			} else {
				t.cfg.ColdStart.Demos, t.cfg.ColdStart.Steps = 50, 100
				if _, err := t.coldStart(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			t.ref = t.model.Clone()
			var roll, upd time.Duration
			samples := 0
			i := 0
			for b.Loop() {
				t0 := time.Now()
				trajs, err := t.rollouts(i)
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				var m Metrics
				t.train(i, trajs, &m)
				roll += t1.Sub(t0)
				upd += time.Since(t1)
				samples += m.Samples
				i++
			}
			n := float64(b.N)
			b.ReportMetric(roll.Seconds()/n, "rollout-s/op")
			b.ReportMetric(upd.Seconds()/n, "update-s/op")
			b.ReportMetric(float64(samples)/n, "samples/op")
		})
	}
}
