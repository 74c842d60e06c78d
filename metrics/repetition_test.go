package metrics

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func TestRepetitionHandCounted(t *testing.T) {
	steps := []RepStep{
		// T1, iteration 1, success: repeats at turns 2, 3, 4; loops at 2 and 4.
		{1, "T1", 0, "go to cabinet 1", "s0", true},
		{1, "T1", 1, "open cabinet 1", "s1", true},
		{1, "T1", 2, "go to cabinet 1", "s0", true},
		{1, "T1", 3, "go to cabinet 1", "s2", true},
		{1, "T1", 4, "open cabinet 1", "s1", true},
		// T2, failure: "look" three times in the same state: 2 repeats, 2 loops.
		{1, "T2", 0, "look", "s0", false},
		{1, "T2", 1, "look", "s0", false},
		{1, "T2", 2, "look", "s0", false},
		// T3, failure, no repetition.
		{1, "T3", 0, "a", "s0", false},
		{1, "T3", 1, "b", "s1", false},
		// Iteration 2 reuses the id T1: a different trajectory.
		{2, "T1", 0, "go to cabinet 1", "s0", true},
	}
	var c RepetitionCounter
	for _, s := range steps {
		c.Add(s)
	}
	nan := math.NaN()
	want := []RepetitionRow{
		{Iteration: 1,
			All:     RepetitionStats{3, 10, 5, 4, 2, 0.5, 0.4},
			Success: RepetitionStats{1, 5, 3, 2, 1, 0.6, 0.4},
			Failure: RepetitionStats{2, 5, 2, 2, 1, 0.4, 0.4}},
		{Iteration: 2,
			All:     RepetitionStats{1, 1, 0, 0, 0, 0, 0},
			Success: RepetitionStats{1, 1, 0, 0, 0, 0, 0},
			Failure: RepetitionStats{0, 0, 0, 0, 0, nan, nan}},
	}
	if got := c.Result(); !equalRepRows(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestRepetitionMixedSuccess(t *testing.T) {
	var c RepetitionCounter
	c.Add(RepStep{Traj: "t", Turn: 0, Action: "a", Success: false})
	c.Add(RepStep{Traj: "t", Turn: 1, Action: "a", Success: true})
	r := c.Result()
	if len(r) != 1 || r[0].MixedSuccess != 1 || r[0].Success.Trajectories != 1 || r[0].Success.Repeated != 1 {
		t.Errorf("%+v", r)
	}
	var empty RepetitionCounter
	if got := empty.Result(); len(got) != 0 {
		t.Errorf("empty counter: %+v", got)
	}
}

// Steps arriving shuffled and interleaved give the same result as the
// definition applied to each trajectory in turn order.
// Lengths up to 300 steps with up to 30 x 12 distinct (action, state) pairs
// exercise both the linear scan and the set representation of long
// trajectories (repLinearMax).
func TestRepetitionOrderFreeMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	var steps []RepStep
	for it := range 3 {
		for tr := range 40 {
			success := rng.IntN(2) == 0
			n := 1 + rng.IntN(15)
			if tr%5 == 0 {
				n = 1 + rng.IntN(300)
			}
			for turn := range n {
				steps = append(steps, RepStep{
					Iteration: it, Traj: fmt.Sprint("traj", tr), Turn: turn,
					Action: fmt.Sprint("act", rng.IntN(4+26*(tr%2))), State: fmt.Sprint("s", rng.IntN(3+9*(tr%2))), Success: success,
				})
			}
		}
	}
	want := referenceRepetition(steps)
	for trial := range 3 {
		shuffled := slices.Clone(steps)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		var c RepetitionCounter
		for _, s := range shuffled {
			c.Add(s)
		}
		if got := c.Result(); !equalRepRows(got, want) {
			t.Fatalf("trial %d:\ngot  %+v\nwant %+v", trial, got, want)
		}
	}
}

// referenceRepetition applies the definition literally: sort each trajectory
// by turn and flag a step whose action (and state) appeared at an earlier turn.
func referenceRepetition(steps []RepStep) []RepetitionRow {
	type key struct {
		it   int
		traj string
	}
	byTraj := map[key][]RepStep{}
	for _, s := range steps {
		k := key{s.Iteration, s.Traj}
		byTraj[k] = append(byTraj[k], s)
	}
	rows := map[int]*RepetitionRow{}
	for k, ss := range byTraj {
		slices.SortFunc(ss, func(a, b RepStep) int { return cmp.Compare(a.Turn, b.Turn) })
		seenA, seenAS := map[string]bool{}, map[[2]string]bool{}
		var rep, loop int
		for _, s := range ss {
			if seenA[s.Action] {
				rep++
			}
			if seenAS[[2]string{s.Action, s.State}] {
				loop++
			}
			seenA[s.Action], seenAS[[2]string{s.Action, s.State}] = true, true
		}
		r := rows[k.it]
		if r == nil {
			r = &RepetitionRow{Iteration: k.it}
			rows[k.it] = r
		}
		r.All.add(len(ss), rep, loop)
		if ss[0].Success {
			r.Success.add(len(ss), rep, loop)
		} else {
			r.Failure.add(len(ss), rep, loop)
		}
	}
	var out []RepetitionRow
	for _, r := range rows {
		r.All.rates()
		r.Success.rates()
		r.Failure.rates()
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b RepetitionRow) int { return cmp.Compare(a.Iteration, b.Iteration) })
	return out
}

// equalRepRows compares rows, treating NaN rates as equal and rates to 1e-12.
func equalRepRows(a, b []RepetitionRow) bool {
	if len(a) != len(b) {
		return false
	}
	eq := func(x, y float64) bool { return math.Abs(x-y) <= 1e-12 || (math.IsNaN(x) && math.IsNaN(y)) }
	for i := range a {
		for _, p := range [][2]RepetitionStats{{a[i].All, b[i].All}, {a[i].Success, b[i].Success}, {a[i].Failure, b[i].Failure}} {
			x, y := p[0], p[1]
			if !eq(x.RepeatRate, y.RepeatRate) || !eq(x.LoopRate, y.LoopRate) {
				return false
			}
			x.RepeatRate, x.LoopRate, y.RepeatRate, y.LoopRate = 0, 0, 0, 0
			if !reflect.DeepEqual(x, y) {
				return false
			}
		}
		if a[i].Iteration != b[i].Iteration || a[i].MixedSuccess != b[i].MixedSuccess {
			return false
		}
	}
	return true
}

// Intervals: points equal Result's rates, the repeat interval is
// ClusterRatio over the trajectories, the repeating share is Wilson, and
// the order of Add calls does not change anything.
func TestRepetitionIntervals(t *testing.T) {
	var steps []RepStep
	// Iteration 0: successful trajectories s0 (a b a: 1 repeat of 3) and s1
	// (a b c d: none of 4), failed f0 (a a a a a: 4 of 5).
	for i, a := range []string{"a", "b", "a"} {
		steps = append(steps, RepStep{Iteration: 0, Traj: "s0", Turn: i, Action: a, State: "x", Success: true})
	}
	for i, a := range []string{"a", "b", "c", "d"} {
		steps = append(steps, RepStep{Iteration: 0, Traj: "s1", Turn: i, Action: a, State: "x", Success: true})
	}
	for i := range 5 {
		steps = append(steps, RepStep{Iteration: 0, Traj: "f0", Turn: i, Action: "a", State: fmt.Sprint(i % 2)})
	}
	rngOf := func(it int) *rand.Rand { return rand.New(rand.NewPCG(11, uint64(it))) }
	cfg := BootstrapConfig{Resamples: 500}
	var ref []RepetitionCI
	for trial := range 4 {
		var c RepetitionCounter
		for _, s := range steps {
			c.Add(s)
		}
		ci := c.Intervals(cfg, rngOf)
		res := c.Result()
		if len(ci) != 1 || len(res) != 1 {
			t.Fatalf("%d rows", len(ci))
		}
		r := ci[0]
		if r.All.Repeat.Point != res[0].All.RepeatRate || r.Success.Loop.Point != res[0].Success.LoopRate || r.Failure.Repeat.Point != 0.8 {
			t.Errorf("points %+v, rates %+v", r, res[0])
		}
		if trial == 0 {
			ref = ci
			// The same draws by hand: clusters sorted (failure first, then
			// by steps), All repeat then loop from one stream.
			rng := rngOf(0)
			rep := ClusterRatio([]float64{4, 1, 0}, []float64{5, 3, 4}, cfg, rng)
			if r.All.Repeat != rep {
				t.Errorf("all repeat %+v, want %+v", r.All.Repeat, rep)
			}
			if w := Wilson(2, 3, 0.95); r.All.Repeating != w {
				t.Errorf("repeating %+v, want %+v", r.All.Repeating, w)
			}
			if !(r.All.Repeat.Lo < r.All.Repeat.Point && r.All.Repeat.Point < r.All.Repeat.Hi) {
				t.Errorf("degenerate interval %+v", r.All.Repeat)
			}
			// One failed trajectory: no interval.
			if !math.IsNaN(r.Failure.Repeat.Lo) || !math.IsNaN(r.Failure.Loop.Hi) {
				t.Errorf("one trajectory: %+v", r.Failure)
			}
		} else if fmt.Sprint(ci) != fmt.Sprint(ref) { // NaN bounds compare equal as text
			t.Errorf("arrival order changed the intervals:\n%+v\n%+v", ci, ref)
		}
		rand.New(rand.NewPCG(uint64(trial), 0)).Shuffle(len(steps), func(i, j int) { steps[i], steps[j] = steps[j], steps[i] })
	}
}
