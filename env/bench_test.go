package env

import (
	"math/rand/v2"
	"testing"
)

// benchTasks is a fixed mix of train tasks of one environment.
func benchTasks(b *testing.B, name string) []Task {
	ts, err := Tasks(name, SplitTrain, 0, 64)
	if err != nil {
		b.Fatal(err)
	}
	return ts
}

// BenchmarkStep measures environment steps/s: the random policy's action
// text through ParseAction, admissibility, the transition and the rendered
// observation; episodes are reset when done.
func BenchmarkStep(b *testing.B) {
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			tasks := benchTasks(b, name)
			rng := rand.New(rand.NewPCG(1, 2))
			envs := make([]Env, len(tasks))
			for i, t := range tasks {
				envs[i], _, _ = Start(t)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e := envs[i%len(envs)]
				if e.Done() {
					e.Reset(e.Task())
				}
				adm := e.Admissible()
				e.Step(adm[rng.IntN(len(adm))])
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
		})
	}
}

// BenchmarkOptimalActions measures planner calls/s: OptimalActions (the
// exact optimal set, one distance evaluation per admissible action) on the
// states of eps-mixture rollouts. "cold" first drops the Env's cached
// admissible actions, as on the first call in a new state of a rollout.
func BenchmarkOptimalActions(b *testing.B) {
	for _, c := range []struct {
		env  string
		cold bool
	}{{Household, false}, {Lab, false}, {Household, true}, {Lab, true}} {
		label, name := c.env, c.env
		if c.cold {
			label += "/cold"
		}
		b.Run(label, func(b *testing.B) {
			var states []Env
			for _, t := range benchTasks(b, name) {
				rng := rand.New(rand.NewPCG(t.Seed, 3))
				e, _, _ := Start(t)
				for !e.Done() {
					states = append(states, e.Clone())
					e.Step(MixPolicy{Eps: 0.3}.Act(e, "", rng))
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e := states[i%len(states)]
				if c.cold {
					switch e := e.(type) {
					case *household:
						e.cached = false
					case *lab:
						e.cached = false
					}
				}
				OptimalActions(e)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

// BenchmarkPrompt measures building the actor prompt with the default
// history.
func BenchmarkPrompt(b *testing.B) {
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			task := benchTasks(b, name)[0]
			e, _, _ := Start(task)
			var past []Turn
			demo, _ := Demonstration(task)
			for _, a := range demo[:len(demo)/2] {
				past = append(past, Turn{e.Observation(), a})
				e.Step(a)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				Prompt(e, past, PromptConfig{})
			}
		})
	}
}

// BenchmarkNewTask measures task generation.
func BenchmarkNewTask(b *testing.B) {
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := NewTask(name, SplitEvalIn, uint64(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
