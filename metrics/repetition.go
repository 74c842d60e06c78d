package metrics

import (
	"cmp"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
)

// RepStep is the minimal description of one agent step that repetition needs.
// It is not a project type: callers map their step records into it.
type RepStep struct {
	Iteration int    // training iteration whose policy produced the step
	Traj      string // trajectory id, unique within an iteration
	Turn      int    // step index within the trajectory (orders the steps)
	Action    string // action text
	State     string // observation / state key (for loops)
	Success   bool   // the trajectory solved its task
}

// RepetitionStats are the repetition counts of a set of trajectories.
type RepetitionStats struct {
	Trajectories int // trajectories
	Steps        int // steps
	Repeated     int // steps whose action equals an earlier action of the same trajectory
	Loops        int // steps whose (action, state) equals an earlier step's of the same trajectory
	// RepeatingTrajectories counts trajectories with at least one repeated step.
	RepeatingTrajectories int
	RepeatRate            float64 // Repeated / Steps; NaN when Steps == 0
	LoopRate              float64 // Loops / Steps; NaN when Steps == 0
}

// RepetitionRow is the repetition of one training iteration, overall and split
// by trajectory outcome.
type RepetitionRow struct {
	Iteration int
	All       RepetitionStats
	Success   RepetitionStats // trajectories with Success
	Failure   RepetitionStats // trajectories without Success
	// MixedSuccess counts trajectories whose steps disagree about Success (bad
	// data); they are counted as successful.
	MixedSuccess int
}

// RepetitionCounter accumulates repetition statistics over a stream of agent
// steps (DESIGN.md §4 "Repetition"; the repeated-action analysis of Liu et al.,
// arXiv 2509.23870). Definitions, within one trajectory whose steps are
// ordered by Turn:
//
//	repeated(t) = 1{ exists t' < t : action(t') = action(t) }
//	loop(t)     = 1{ exists t' < t : action(t') = action(t) and state(t') = state(t) }
//
// Every occurrence of an action but the first (by turn) is a repeat, so a
// trajectory's repeat count is steps - #distinct actions and its loop count is
// steps - #distinct (action, state) pairs. The counter keeps only those distinct
// keys, so steps may arrive in any order, interleaved across trajectories and
// iterations, and the result does not depend on arrival order. Turn is part of
// the definition but not needed to evaluate it; duplicate turns are not
// detected. Strings are compared exactly; empty strings are ordinary keys.
// Memory is O(distinct (iteration, trajectory, action, state) keys); each
// distinct string is copied once, so callers' buffers are not retained.
//
// The zero value is ready to use. A RepetitionCounter is not safe for
// concurrent use.
type RepetitionCounter struct {
	names   interner // trajectory ids, actions and states
	trajIdx map[repTrajKey]int32
	trajs   []repTraj
	// The steps of a trajectory usually arrive together: the last one seen
	// is remembered to skip two map lookups.
	last    int32
	lastKey string
	lastIt  int
}

type repTrajKey struct {
	iter int
	traj int32
}

// repTraj holds one trajectory's distinct (action, state) pairs in a small
// slice: trajectories have tens of steps, where a linear scan beats a map.
type repTraj struct {
	iter                         int
	steps, distinctAct, distinct int
	success, failure             bool
	pairs                        []uint64 // pair(action, state), distinct
	// Long trajectories switch to sets once pairs reaches repLinearMax, so
	// that a step costs O(1) rather than O(steps).
	pairSet map[uint64]struct{}
	actSet  map[int32]struct{}
}

// repLinearMax is the number of distinct pairs up to which a trajectory is
// scanned linearly.
const repLinearMax = 48

// Add counts one step.
func (c *RepetitionCounter) Add(s RepStep) {
	if c.trajIdx == nil {
		c.trajIdx = make(map[repTrajKey]int32)
		c.last = -1
	}
	t := c.last
	if t < 0 || s.Iteration != c.lastIt || s.Traj != c.lastKey {
		key := repTrajKey{s.Iteration, c.names.id(s.Traj)}
		var ok bool
		t, ok = c.trajIdx[key]
		if !ok {
			t = int32(len(c.trajs))
			c.trajIdx[key] = t
			c.trajs = append(c.trajs, repTraj{iter: s.Iteration})
		}
		c.last, c.lastIt, c.lastKey = t, s.Iteration, c.names.str(key.traj)
	}
	tr := &c.trajs[t]
	tr.steps++
	if s.Success {
		tr.success = true
	} else {
		tr.failure = true
	}
	act, state := c.names.id(s.Action), c.names.id(s.State)
	p := pair(act, state)
	if tr.pairSet != nil {
		if _, ok := tr.pairSet[p]; ok {
			return
		}
		tr.pairSet[p] = struct{}{}
		tr.distinct++
		if _, ok := tr.actSet[act]; !ok {
			tr.actSet[act] = struct{}{}
			tr.distinctAct++
		}
		return
	}
	seenAct := false
	for _, q := range tr.pairs {
		if q == p {
			return // same action and state: a loop, hence also a repeat
		}
		seenAct = seenAct || int32(q>>32) == act
	}
	tr.pairs = append(tr.pairs, p)
	tr.distinct++
	if !seenAct {
		tr.distinctAct++
	}
	if len(tr.pairs) == repLinearMax {
		tr.pairSet = make(map[uint64]struct{}, 2*repLinearMax)
		tr.actSet = make(map[int32]struct{}, 2*repLinearMax)
		for _, q := range tr.pairs {
			tr.pairSet[q] = struct{}{}
			tr.actSet[int32(q>>32)] = struct{}{}
		}
		tr.pairs = nil
	}
}

// Result returns one row per iteration seen, in increasing iteration order.
// It does not reset the counter; more steps may be added afterwards.
func (c *RepetitionCounter) Result() []RepetitionRow {
	byIter := make(map[int]*RepetitionRow)
	for _, tr := range c.trajs {
		row := byIter[tr.iter]
		if row == nil {
			row = &RepetitionRow{Iteration: tr.iter}
			byIter[tr.iter] = row
		}
		if tr.success && tr.failure {
			row.MixedSuccess++
		}
		rep, loop := tr.steps-tr.distinctAct, tr.steps-tr.distinct
		row.All.add(tr.steps, rep, loop)
		if tr.success {
			row.Success.add(tr.steps, rep, loop)
		} else {
			row.Failure.add(tr.steps, rep, loop)
		}
	}
	rows := make([]RepetitionRow, 0, len(byIter))
	for _, r := range byIter {
		r.All.rates()
		r.Success.rates()
		r.Failure.rates()
		rows = append(rows, *r)
	}
	slices.SortFunc(rows, func(a, b RepetitionRow) int { return cmp.Compare(a.Iteration, b.Iteration) })
	return rows
}

func (s *RepetitionStats) add(steps, rep, loop int) {
	s.Trajectories++
	s.Steps += steps
	s.Repeated += rep
	s.Loops += loop
	if rep > 0 {
		s.RepeatingTrajectories++
	}
}

func (s *RepetitionStats) rates() {
	s.RepeatRate, s.LoopRate = math.NaN(), math.NaN()
	if s.Steps > 0 {
		s.RepeatRate = float64(s.Repeated) / float64(s.Steps)
		s.LoopRate = float64(s.Loops) / float64(s.Steps)
	}
}

// RepetitionIntervals are confidence intervals of the rates of a
// RepetitionStats; each Point is the rate itself.
type RepetitionIntervals struct {
	// Repeat and Loop are rates over steps, and the steps of one trajectory
	// are not independent (an agent stuck in a loop repeats many times): a
	// percentile cluster bootstrap over trajectories (ClusterRatio of the
	// per-trajectory repeat or loop counts over their step counts).
	Repeat, Loop Interval
	// Repeating is the share of trajectories with at least one repeat, a
	// proportion of trajectories: the Wilson score interval (Wilson).
	Repeating Interval
}

// RepetitionCI is the intervals of one RepetitionRow.
type RepetitionCI struct {
	Iteration             int
	All, Success, Failure RepetitionIntervals
}

// Intervals returns the confidence intervals of Result's rates, one row per
// iteration in the same order, at cfg's level. The bootstrap draws of an
// iteration come from rngOf(iteration), All first, then Success, then
// Failure (repeat before loop), so a row does not depend on which other
// iterations were seen. Trajectories of an iteration are taken in the order
// they were first seen; since that order can depend on arrival order, the
// draws are made over trajectories sorted by their counts, which makes the
// intervals independent of the order of Add calls. Fewer than two
// trajectories in a subset give NaN bounds. rngOf is called once per
// iteration, in increasing order, before any draw; the iterations are then
// computed in parallel. A nil rngOf, a nil stream or an invalid cfg panics.
func (c *RepetitionCounter) Intervals(cfg BootstrapConfig, rngOf func(iteration int) *rand.Rand) []RepetitionCI {
	cfg = cfg.withDefaults()
	byIter := make(map[int][]repCluster)
	for _, tr := range c.trajs {
		s := 0.0
		if tr.success {
			s = 1
		}
		byIter[tr.iter] = append(byIter[tr.iter], repCluster{float64(tr.steps), float64(tr.steps - tr.distinctAct), float64(tr.steps - tr.distinct), s})
	}
	iters := make([]int, 0, len(byIter))
	for it := range byIter {
		iters = append(iters, it)
	}
	slices.Sort(iters)
	rngs := make([]*rand.Rand, len(iters))
	for i, it := range iters {
		rngs[i] = rngOf(it)
	}
	out := make([]RepetitionCI, len(iters))
	// Iterations are independent (one stream each): they are computed in
	// parallel, each into its own slot, so the result does not depend on
	// GOMAXPROCS.
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(iters)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = repetitionCI(iters[i], byIter[iters[i]], cfg, rngs[i])
			}
		}()
	}
	for i := range iters {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

type repCluster struct{ steps, rep, loop, success float64 }

func repetitionCI(it int, cl []repCluster, cfg BootstrapConfig, rng *rand.Rand) RepetitionCI {
	slices.SortFunc(cl, func(a, b repCluster) int {
		return cmp.Or(cmp.Compare(a.success, b.success), cmp.Compare(a.steps, b.steps), cmp.Compare(a.rep, b.rep), cmp.Compare(a.loop, b.loop))
	})
	subset := func(keep func(repCluster) bool) RepetitionIntervals {
		var steps, rep, loop []float64
		repeating := 0.0
		for _, c := range cl {
			if keep(c) {
				steps, rep, loop = append(steps, c.steps), append(rep, c.rep), append(loop, c.loop)
				if c.rep > 0 {
					repeating++
				}
			}
		}
		return RepetitionIntervals{
			Repeat:    ClusterRatio(rep, steps, cfg, rng),
			Loop:      ClusterRatio(loop, steps, cfg, rng),
			Repeating: Wilson(repeating, float64(len(steps)), cfg.Level),
		}
	}
	return RepetitionCI{Iteration: it,
		All:     subset(func(repCluster) bool { return true }),
		Success: subset(func(c repCluster) bool { return c.success == 1 }),
		Failure: subset(func(c repCluster) bool { return c.success == 0 }),
	}
}
