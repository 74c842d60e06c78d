package metrics

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

var benchSizes = []int{10_000, 1_000_000}

func reportRows(b *testing.B, n int) {
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// Groups of 8 binary outcomes, shuffled so groups are not contiguous.
func BenchmarkAdvantages(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			rewards := make([]float64, n)
			group := make([]int, n)
			for i := range rewards {
				rewards[i] = float64(rng.IntN(2))
				group[i] = i / 8
			}
			rng.Shuffle(n, func(i, j int) { group[i], group[j] = group[j], group[i] })
			dst := make([]float64, n)
			b.ResetTimer()
			for range b.N {
				Advantages(dst, rewards, group, AdvantageConfig{})
			}
			reportRows(b, n)
		})
	}
}

// Trajectories of 20 steps over 10 iterations, 50 actions and 200 states,
// arriving interleaved; Add for every step plus Result.
func BenchmarkRepetitionCounter(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(2, 2))
			actions, states := stringPool("go to cabinet ", 50), stringPool("state-", 200)
			trajs := stringPool("traj-", n/20+1)
			steps := make([]RepStep, n)
			for i := range steps {
				tr := i / 20
				steps[i] = RepStep{Iteration: tr % 10, Traj: trajs[tr], Turn: i % 20,
					Action: actions[rng.IntN(50)], State: states[rng.IntN(200)], Success: tr%3 == 0}
			}
			rng.Shuffle(n, func(i, j int) { steps[i], steps[j] = steps[j], steps[i] })
			b.ResetTimer()
			for range b.N {
				var c RepetitionCounter
				for _, s := range steps {
					c.Add(s)
				}
				c.Result()
			}
			reportRows(b, n)
		})
	}
}

// 10 iterations, states recurring 20 times on average with 8 candidate
// actions each (all eligible for K = 10); Add for every sample plus Result,
// which runs the hypergeometric computation for every eligible state.
func BenchmarkConsistencyCounter(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(3, 3))
			nStates := n / 20 / 10
			states, actions := stringPool("state-", nStates), stringPool("take apple ", 8)
			samples := make([]ConsistencySample, n)
			for i := range samples {
				a := min(rng.IntN(8), rng.IntN(8)) // skewed towards low indices
				samples[i] = ConsistencySample{Iteration: i % 10, State: states[rng.IntN(nStates)],
					Action: actions[a], Label: int8(a%3 - 1)}
			}
			b.ResetTimer()
			for range b.N {
				var c ConsistencyCounter
				for _, s := range samples {
					c.Add(s)
				}
				c.Result()
			}
			reportRows(b, n)
		})
	}
}

// The Monte Carlo simulator: rows are simulated trajectories (groups x G).
func BenchmarkSimulateLemma(b *testing.B) {
	rng := rand.New(rand.NewPCG(4, 4))
	const groups, G = 100_000, 8
	for range b.N {
		if _, err := SimulateLemma(0.3, 0.2, 0.6, LemmaSimConfig{G: G, Groups: groups}, rng); err != nil {
			b.Fatal(err)
		}
	}
	reportRows(b, groups*G)
}

func stringPool(prefix string, n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprint(prefix, i)
	}
	return s
}
