package analysis

import (
	"context"
	"math"
	"testing"

	"github.com/gradcouple/gradcouple/metrics"
)

// TestLogDiagnosticsIntervals: consistency rows carry the Wilson-type
// interval over their eligible states (metrics.BoundedMean); repetition rows
// carry a seeded cluster bootstrap over trajectories, with the seed recorded,
// degenerate when every trajectory repeats at the same rate.
func TestLogDiagnosticsIntervals(t *testing.T) {
	ctx := context.Background()
	// As in TestRepetitionAndConsistencyByHand: 3 tasks x 5 turns = 15
	// states per iteration, all high, 3 with a good modal action.
	cfg := synthConfig{Iterations: 2, Tasks: 3, G: 10, Turns: 5, Q: 0, R: 0, P: 0.5, RepeatProb: 1, PromptBytes: 20, Seed: 1}
	dir := writeSynth(t, t.TempDir(), cfg)
	crow, _, _, err := Consistency(ctx, []string{dir}, LogFilter{}, metrics.ConsistencyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	high, good := metrics.Wilson(15, 15, 0.95), metrics.Wilson(3, 15, 0.95)
	for _, r := range crow {
		if math.Abs(r.HighLo-high.Lo) > 1e-12 || r.HighHi != 1 || math.Abs(r.HighGoodLo-good.Lo) > 1e-12 || math.Abs(r.HighGoodHi-good.Hi) > 1e-12 {
			t.Errorf("iteration %d: high [%g, %g], good [%g, %g]; want %+v, %+v", r.Iteration, r.HighLo, r.HighHi, r.HighGoodLo, r.HighGoodHi, high, good)
		}
		if math.Abs(r.MeanConsistencyLo-(1+9*high.Lo)) > 1e-9 || r.MeanConsistencyHi != 10 {
			t.Errorf("iteration %d: consistency [%g, %g]", r.Iteration, r.MeanConsistencyLo, r.MeanConsistencyHi)
		}
	}
	rows, _, err := Repetition(ctx, []string{dir}, LogFilter{Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.RepeatLo != r.RepeatRate || r.RepeatHi != r.RepeatRate || r.Seed != 4 {
			t.Errorf("equal trajectories: repeat %g [%g, %g], seed %d", r.RepeatRate, r.RepeatLo, r.RepeatHi, r.Seed)
		}
	}

	// Trajectories that differ: a proper interval, reproducible for a seed.
	cfg.RepeatProb, cfg.Seed = 0.5, 2
	dir = writeSynth(t, t.TempDir(), cfg)
	a, _, err := Repetition(ctx, []string{dir}, LogFilter{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := Repetition(ctx, []string{dir}, LogFilter{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := Repetition(ctx, []string{dir}, LogFilter{Seed: 8})
	if err != nil {
		t.Fatal(err)
	}
	differs := false
	for i, r := range a {
		for _, iv := range [][3]float64{{r.RepeatLo, r.RepeatRate, r.RepeatHi}, {r.SuccessRepeatLo, r.SuccessRepeat, r.SuccessRepeatHi}, {r.FailureRepeatLo, r.FailureRepeat, r.FailureRepeatHi}} {
			if !(iv[0] < iv[1] && iv[1] < iv[2]) {
				t.Errorf("iteration %d: interval %v does not bracket its rate", r.Iteration, iv)
			}
		}
		if !(r.SuccessRepeatingLo <= r.SuccessRepeating && r.SuccessRepeating <= r.SuccessRepeatingHi) {
			t.Errorf("iteration %d: repeating share %g [%g, %g]", r.Iteration, r.SuccessRepeating, r.SuccessRepeatingLo, r.SuccessRepeatingHi)
		}
		if r != b[i] {
			t.Errorf("same seed, different rows:\n%+v\n%+v", r, b[i])
		}
		// The rates lie on a lattice (multiples of 1/steps), so a bound
		// may coincide across seeds; all twelve bounds rarely do.
		d := c[i]
		for _, pr := range [][2]float64{{r.RepeatLo, d.RepeatLo}, {r.RepeatHi, d.RepeatHi}, {r.LoopLo, d.LoopLo}, {r.LoopHi, d.LoopHi},
			{r.SuccessRepeatLo, d.SuccessRepeatLo}, {r.SuccessRepeatHi, d.SuccessRepeatHi}, {r.FailureRepeatLo, d.FailureRepeatLo}, {r.FailureRepeatHi, d.FailureRepeatHi},
			{r.SuccessLoopLo, d.SuccessLoopLo}, {r.SuccessLoopHi, d.SuccessLoopHi}, {r.FailureLoopLo, d.FailureLoopLo}, {r.FailureLoopHi, d.FailureLoopHi}} {
			differs = differs || pr[0] != pr[1]
		}
	}
	if !differs {
		t.Error("seed 8 gave the intervals of seed 7")
	}
}
