package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// MassSample is one visit of a trajectory to a state, for the empirical
// check of Lemma 3.1.
type MassSample struct {
	State     string  // state key; equal keys are the same state
	Traj      string  // trajectory id (unique over the samples given)
	Group     string  // rollout group of Traj; "" means its own group
	Action    string  // action taken at this visit
	Success   bool    // the trajectory solved its task
	Advantage float64 // advantage used in the update for this step
}

// MassConfig sets MassAccumulator.Estimate. The zero value is MinVisits = 20
// and the BootstrapConfig defaults (2000 resamples, 95%).
type MassConfig struct {
	// MinVisits: only states with at least this many visits are estimated.
	// Zero means 20; a negative value admits every state.
	MinVisits int
	// MinClusters: the bootstrap resamples rollout groups only when the
	// trajectories visiting a state come from at least this many groups;
	// otherwise it resamples trajectories (a percentile bootstrap over very
	// few clusters is degenerate: one group gives a zero-width interval).
	// Zero means 20; values below 1 act as 1.
	MinClusters int
	Bootstrap   BootstrapConfig
}

// MassEstimate is the empirical Lemma 3.1 check for one (state, action).
type MassEstimate struct {
	State, Action      string
	Visits             int // visits to State
	ActionVisits       int // visits to State that took Action
	Trajectories       int // trajectories that visited State
	ActionTrajectories int // of those, trajectories that took Action there at least once
	// Clusters is the number of bootstrap resampling units: rollout groups
	// when ByGroup, else trajectories.
	Clusters int
	ByGroup  bool
	// Q, R, Mass and Prediction are point estimates with percentile bootstrap
	// intervals (see MassAccumulator).
	Q, R, Mass, Prediction Interval
	// Undefined counts bootstrap resamples in which R was undefined (one arm
	// empty); they are left out of the R and Prediction intervals. When the
	// point R is undefined (every trajectory took the action) R and Prediction
	// are NaN.
	Undefined int
}

// MassAccumulator estimates, from logs, the quantities of Lemma 3.1 of Liu et
// al. (arXiv 2509.23870) at recurring states (DESIGN.md §4
// "Expected-advantage check"). For a state s and an action a taken there,
// over the visits v to s (trajectory t(v), action a_v, advantage A_v) and the
// trajectories T_s that visited s:
//
//	q          = #{v : a_v = a} / #{v}
//	r          = succ(T_s without a) - succ(T_s with a)
//	Mass       = (1/#{v}) sum_v 1{a_v = a} A_v
//	Prediction = q r (q - 1)                        (AdvantageMass)
//
// where "T_s with a" are the trajectories that took a at s at least once and
// succ is their success rate. With one visit per trajectory this is exactly
// the lemma's setting; with loops, q counts visits and r trajectories. Mass
// uses the logged advantages, whose baseline is the group mean of the task's
// rollout group rather than the value of s; with Dr. GRPO and groups that all
// pass through s its expectation is (G-1)/G q r (q-1) (GroupAdvantageMass),
// and with std normalisation it is scaled by about 1/std (StdAdvantageMass).
//
// Intervals: percentile bootstrap over the trajectories of T_s, resampled with
// replacement by rollout group (a cluster bootstrap: the trajectories of one
// group that visited s, with all their visits, move together; a sample with
// an empty Group is its own cluster), the same resample for every action of
// s. Clustering matters for Mass: the advantages of one group sum to zero, so
// resampling single trajectories overstates the variance (in the tests, a
// nominal 95% interval then covered 99%; by group it covers 95%). When the
// state's trajectories come from fewer than cfg.MinClusters groups, single
// trajectories are resampled instead (conservative for Mass; ByGroup false).
// States are processed in key order, actions in text order and clusters in
// order of their first trajectory id, so the result is deterministic for a
// seeded rng.
//
// A NaN advantage makes Mass NaN for its (state, action). Memory is
// O(distinct (state, trajectory, action) keys). The zero value is ready to
// use; not safe for concurrent use.
type MassAccumulator struct {
	stateIdx map[string]int32
	states   []string
	trajIdx  map[string]int32
	trajs    []massTraj
	visitIdx map[[2]int32]int32 // (state, traj) -> visit
	visits   []massVisit
	actions  interner
	actIdx   map[uint64]int32 // pair(visit, action id) -> index into acts
	acts     []massAct
}

type massTraj struct {
	id, group string
	success   bool
}

type massVisit struct {
	st, traj int32
	n        int
}

type massAct struct {
	visit, action int32
	k             int
	sumAdv        float64
}

// Add records one visit.
func (m *MassAccumulator) Add(s MassSample) {
	if m.stateIdx == nil {
		m.stateIdx = make(map[string]int32)
		m.trajIdx = make(map[string]int32)
		m.visitIdx = make(map[[2]int32]int32)
		m.actIdx = make(map[uint64]int32)
	}
	st, ok := m.stateIdx[s.State]
	if !ok {
		st = int32(len(m.states))
		k := strings.Clone(s.State)
		m.stateIdx[k] = st
		m.states = append(m.states, k)
	}
	tr, ok := m.trajIdx[s.Traj]
	if !ok {
		tr = int32(len(m.trajs))
		k := strings.Clone(s.Traj)
		m.trajIdx[k] = tr
		m.trajs = append(m.trajs, massTraj{id: k, group: strings.Clone(s.Group)})
	}
	if s.Success {
		m.trajs[tr].success = true
	}
	v, ok := m.visitIdx[[2]int32{st, tr}]
	if !ok {
		v = int32(len(m.visits))
		m.visitIdx[[2]int32{st, tr}] = v
		m.visits = append(m.visits, massVisit{st: st, traj: tr})
	}
	m.visits[v].n++
	action := m.actions.id(s.Action)
	a, ok := m.actIdx[pair(v, action)]
	if !ok {
		a = int32(len(m.acts))
		m.actIdx[pair(v, action)] = a
		m.acts = append(m.acts, massAct{visit: v, action: action})
	}
	m.acts[a].k++
	m.acts[a].sumAdv += s.Advantage
}

// Estimate returns one MassEstimate per (state, action) at states with at
// least cfg.MinVisits visits, ordered by state key then action. A nil rng or
// an invalid cfg panics. A trajectory counts as successful if any of its
// samples says so.
func (m *MassAccumulator) Estimate(cfg MassConfig, rng *rand.Rand) []MassEstimate {
	if cfg.MinVisits == 0 {
		cfg.MinVisits = 20
	}
	if cfg.MinClusters == 0 {
		cfg.MinClusters = 20
	}
	bc := cfg.Bootstrap.withDefaults()
	if rng == nil {
		panic("metrics: nil rng")
	}
	// Group visits and actions by state.
	visitsOf := make([][]int32, len(m.states))
	for i, v := range m.visits {
		visitsOf[v.st] = append(visitsOf[v.st], int32(i))
	}
	actsOf := make([][]int32, len(m.visits))
	for i, a := range m.acts {
		actsOf[a.visit] = append(actsOf[a.visit], int32(i))
	}
	order := make([]int32, len(m.states))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(m.states[a], m.states[b]) })

	var out []MassEstimate
	for _, st := range order {
		vis := visitsOf[st]
		total := 0
		for _, v := range vis {
			total += m.visits[v].n
		}
		if total < cfg.MinVisits || total == 0 {
			continue
		}
		out = append(out, m.estimateState(st, vis, actsOf, cfg.MinClusters, bc, rng)...)
	}
	return out
}

// massCell is one trajectory's contribution to one action at a state.
type massCell struct {
	t      int // index into the state's trajectory list
	k      float64
	sumAdv float64
}

func (m *MassAccumulator) estimateState(st int32, vis []int32, actsOf [][]int32, minClusters int, bc BootstrapConfig, rng *rand.Rand) []MassEstimate {
	slices.SortFunc(vis, func(a, b int32) int {
		return strings.Compare(m.trajs[m.visits[a].traj].id, m.trajs[m.visits[b].traj].id)
	})
	T := len(vis)
	nv := make([]float64, T)   // visits of trajectory t to the state
	succ := make([]float64, T) // 1 if trajectory t succeeded
	unit := make([]int, T)     // resampling cluster of trajectory t
	unitOf := make(map[string]int)
	U := 0 // number of clusters
	cellsOf := make(map[string][]massCell)
	for t, v := range vis {
		tr := m.trajs[m.visits[v].traj]
		u, ok := unitOf[tr.group]
		if !ok || tr.group == "" {
			u = U
			U++
			if tr.group != "" {
				unitOf[tr.group] = u
			}
		}
		unit[t] = u
		nv[t] = float64(m.visits[v].n)
		if m.trajs[m.visits[v].traj].success {
			succ[t] = 1
		}
		for _, a := range actsOf[v] {
			act := m.acts[a]
			name := m.actions.strs[act.action]
			cellsOf[name] = append(cellsOf[name], massCell{t: t, k: float64(act.k), sumAdv: act.sumAdv})
		}
	}
	byGroup := U < T // some trajectories share a group
	if U < minClusters {
		for t := range unit {
			unit[t] = t
		}
		U, byGroup = T, false
	}
	actions := make([]string, 0, len(cellsOf))
	for a := range cellsOf {
		actions = append(actions, a)
	}
	slices.Sort(actions)

	type quad struct{ q, r, mass, pred float64 }
	// totals returns, for trajectory weights w (multiplicities in a resample),
	// the weighted visits V, trajectories N and successes S.
	totals := func(w []float64) (V, N, S float64) {
		for t := range w {
			V += w[t] * nv[t]
			N += w[t]
			S += w[t] * succ[t]
		}
		return V, N, S
	}
	eval := func(w []float64, V, N, S float64, cells []massCell) quad {
		var K, SA, Na, Sa float64
		for _, c := range cells {
			K += w[c.t] * c.k
			SA += w[c.t] * c.sumAdv
			Na += w[c.t]
			Sa += w[c.t] * succ[c.t]
		}
		q := K / V
		r := math.NaN()
		if Na > 0 && N-Na > 0 {
			r = (S-Sa)/(N-Na) - Sa/Na
		}
		return quad{q, r, SA / V, q * r * (q - 1)}
	}

	ones := make([]float64, T)
	for t := range ones {
		ones[t] = 1
	}
	B := bc.Resamples
	reps := make([][4][]float64, len(actions))
	for i := range reps {
		for k := range 4 {
			reps[i][k] = make([]float64, 0, B)
		}
	}
	mult := make([]float64, U)
	w := make([]float64, T)
	for range B {
		clear(mult)
		for range U {
			mult[rng.IntN(U)]++
		}
		for t := range w {
			w[t] = mult[unit[t]]
		}
		V, N, S := totals(w)
		for i, a := range actions {
			v := eval(w, V, N, S, cellsOf[a])
			reps[i][0] = append(reps[i][0], v.q)
			reps[i][1] = append(reps[i][1], v.r)
			reps[i][2] = append(reps[i][2], v.mass)
			reps[i][3] = append(reps[i][3], v.pred)
		}
	}

	out := make([]MassEstimate, 0, len(actions))
	var visits int
	for _, n := range nv {
		visits += int(n)
	}
	V, N, S := totals(ones)
	for i, a := range actions {
		cells := cellsOf[a]
		pt := eval(ones, V, N, S, cells)
		e := MassEstimate{State: m.states[st], Action: a, Visits: visits, Trajectories: T, ActionTrajectories: len(cells), Clusters: U, ByGroup: byGroup}
		for _, c := range cells {
			e.ActionVisits += int(c.k)
		}
		e.Q = percentileInterval(pt.q, reps[i][0], bc.Level)
		e.Mass = percentileInterval(pt.mass, reps[i][2], bc.Level)
		rr := dropNaN(reps[i][1])
		pr := dropNaN(reps[i][3])
		e.Undefined = B - len(rr)
		e.R = percentileInterval(pt.r, rr, bc.Level)
		e.Prediction = percentileInterval(pt.pred, pr, bc.Level)
		out = append(out, e)
	}
	return out
}

// dropNaN removes NaN values in place and returns the shortened slice.
func dropNaN(x []float64) []float64 {
	out := x[:0]
	for _, v := range x {
		if !math.IsNaN(v) {
			out = append(out, v)
		}
	}
	return out
}
