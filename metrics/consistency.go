package metrics

import (
	"cmp"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// Defaults of ConsistencyConfig (DESIGN.md §4; Liu et al., arXiv 2509.23870:
// "high consistency" is the same action in at least 5 of 10 samples).
const (
	DefaultConsistencyK         = 10
	DefaultConsistencyThreshold = 5
	// MaxConsistencyK bounds K so that the hypergeometric sums stay inside
	// float64 range (they are scaled to at most e^K).
	MaxConsistencyK = 500
)

// Label values of ConsistencySample.Label, as in the step-record schema.
const (
	LabelBad     int8 = 0
	LabelGood    int8 = 1
	LabelUnknown int8 = -1
)

// ConsistencyConfig sets the action-consistency protocol. The zero value is
// K = 10, Threshold = 5.
type ConsistencyConfig struct {
	// K is the number of actions sampled per state; a state is eligible when it
	// occurs at least K times in an iteration. Zero means 10.
	K int
	// Threshold: a K-sample has high consistency when its modal count is at
	// least Threshold. Zero means 5. A Threshold above K is never reached.
	Threshold int
}

func (c ConsistencyConfig) withDefaults() ConsistencyConfig {
	if c.K == 0 {
		c.K = DefaultConsistencyK
	}
	if c.Threshold == 0 {
		c.Threshold = DefaultConsistencyThreshold
	}
	if c.K < 0 || c.K > MaxConsistencyK || c.Threshold < 0 {
		panic("metrics: invalid ConsistencyConfig")
	}
	return c
}

// ConsistencySample is one occurrence of a state with the action taken there.
type ConsistencySample struct {
	Iteration int
	State     string // state key; equal keys are the same state
	Action    string
	Label     int8 // judge label of Action at State: 1 good, 0 bad, -1 unknown (other values: unknown)
}

// StateConsistency is the consistency of one (iteration, state) with at least K
// occurrences.
type StateConsistency struct {
	Iteration   int
	State       string
	Occurrences int // n, the number of samples of this state
	Actions     int // distinct actions among them
	// ModalAction is the most frequent action over all n occurrences (ties: the
	// lexicographically smallest), with its count and label.
	ModalAction string
	ModalCount  int
	ModalLabel  int8
	// Consistency is E[M], the expected modal count of K occurrences drawn
	// without replacement (equal to the observed modal count when n == K).
	Consistency float64
	// High is P(M >= Threshold) under the same draw, and HighGood, HighBad,
	// HighUnknown split it by the label of the modal action of the draw (ties
	// in the mode split equally among the tied actions); they sum to High.
	High, HighGood, HighBad, HighUnknown float64
}

// ConsistencyRow is the action consistency of one iteration.
type ConsistencyRow struct {
	Iteration int
	States    int // distinct states seen
	Eligible  int // states with at least K occurrences
	// MeanConsistency is the mean of StateConsistency.Consistency over eligible
	// states; NaN when Eligible == 0.
	MeanConsistency float64
	// High is the share of eligible states with high consistency (the mean of
	// StateConsistency.High), and HighGood/HighBad/HighUnknown the shares whose
	// high-consistency modal action is good/bad/unknown; the three sum to High.
	// NaN when Eligible == 0.
	High, HighGood, HighBad, HighUnknown float64
	// Intervals of the five means above at ConsistencyLevel, by BoundedMean
	// over the eligible states (each per-state value lies in [0, 1], the
	// consistency in [1, K]); their Point is the mean itself. The states are
	// the units, so these intervals cover the choice of recurring states and
	// the finite occurrences of each. NaN bounds when Eligible == 0.
	MeanConsistencyCI, HighCI, HighGoodCI, HighBadCI, HighUnknownCI Interval
}

// ConsistencyLevel is the confidence level of the intervals of
// ConsistencyRow.
const ConsistencyLevel = 0.95

// ConsistencyCounter measures action consistency from logs where a state key
// recurs (DESIGN.md §4 "Action consistency"; Liu et al., arXiv 2509.23870: the
// share of repeated actions produced with high consistency, >= 5 of 10 samples,
// split by the judge label of the action).
//
// The probe protocol draws K actions at a state and takes M, the count of the
// most frequent action; the state is "high" when M >= Threshold. From logs, a
// state of one iteration occurs n >= K times with action counts c_1..c_m. We
// define its consistency as the average of the protocol's value over all
// C(n, K) subsets of K occurrences, i.e. the expectation under the
// multivariate hypergeometric law:
//
//	P(k_1..k_m) = prod_i C(c_i, k_i) / C(n, K),  sum k_i = K
//	Consistency = E[M] = sum_{j=0}^{K-1} (1 - P(M <= j)),  M = max_i k_i
//	High        = P(M >= Threshold)
//	P(M <= j)   = [x^K] prod_i sum_{h=0}^{min(c_i, j)} C(c_i, h) x^h / C(n, K)
//
// Why this choice: if the n occurrences are independent draws from the
// iteration's policy at that state, the subset average is a U-statistic and
// hence an unbiased estimator of the protocol's E[M] and P(M >= Threshold) for
// K fresh draws; it equals the protocol exactly when n == K, and it is
// deterministic (no subsampling). The plug-in "modal share x K" is not: it
// underestimates E[M] (for 10 equally likely actions it gives 1, while E[M] of
// 10 draws is about 2.75), so states with n > K and n == K would not be
// comparable. The label split attributes a high draw to the label of its modal
// action, splitting ties in the mode equally; it is computed exactly with a
// second generating variable counting tied actions.
//
// The label of an action at a state is the majority of the known labels (1 or
// 0) given with its samples; a tie or no known label is unknown (-1). Memory
// is O(distinct (iteration, state, action) keys). Cost per eligible state is
// O(m K^3) arithmetic for m distinct actions. The zero value is ready to use
// with the default configuration. Not safe for concurrent use.
type ConsistencyCounter struct {
	cfg      ConsistencyConfig
	names    interner // states and actions
	stateIdx map[consStateKey]int32
	states   []consState
	actIdx   map[uint64]int32 // pair(state index, action id) -> index into acts
	acts     []consAct
}

type consStateKey struct {
	iter  int
	state int32
}

type consState struct {
	iter  int
	state int32
	n     int
}

type consAct struct {
	st, action int32
	count      int
	good, bad  int32
}

// NewConsistencyCounter returns a counter with the given configuration. A
// negative K or Threshold, or K > MaxConsistencyK, panics.
func NewConsistencyCounter(cfg ConsistencyConfig) *ConsistencyCounter {
	return &ConsistencyCounter{cfg: cfg.withDefaults()}
}

// Add records one occurrence of a state.
func (c *ConsistencyCounter) Add(s ConsistencySample) {
	if c.stateIdx == nil {
		c.stateIdx = make(map[consStateKey]int32)
		c.actIdx = make(map[uint64]int32)
	}
	key := consStateKey{s.Iteration, c.names.id(s.State)}
	st, ok := c.stateIdx[key]
	if !ok {
		st = int32(len(c.states))
		c.stateIdx[key] = st
		c.states = append(c.states, consState{iter: s.Iteration, state: key.state})
	}
	c.states[st].n++
	action := c.names.id(s.Action)
	a, ok := c.actIdx[pair(st, action)]
	if !ok {
		a = int32(len(c.acts))
		c.actIdx[pair(st, action)] = a
		c.acts = append(c.acts, consAct{st: st, action: action})
	}
	act := &c.acts[a]
	act.count++
	switch s.Label {
	case LabelGood:
		act.good++
	case LabelBad:
		act.bad++
	}
}

// States returns one row per eligible (iteration, state), ordered by iteration
// then state key.
func (c *ConsistencyCounter) States() []StateConsistency {
	cfg := c.cfg.withDefaults()
	// Group actions by state (counting sort keeps it deterministic).
	start := make([]int, len(c.states)+1)
	for _, a := range c.acts {
		start[a.st+1]++
	}
	for i := range c.states {
		start[i+1] += start[i]
	}
	order := make([]int32, len(c.acts))
	fill := slices.Clone(start[:len(c.states)])
	for i, a := range c.acts {
		order[fill[a.st]] = int32(i)
		fill[a.st]++
	}

	// The per-state estimates are independent: eligible states are split into
	// contiguous chunks computed in parallel, each row written to its own slot,
	// so the result does not depend on GOMAXPROCS.
	var eligible []int
	for si, s := range c.states {
		if s.n >= cfg.K && s.n > 0 {
			eligible = append(eligible, si)
		}
	}
	rows := make([]StateConsistency, len(eligible))
	workers := min(runtime.GOMAXPROCS(0), 1+len(eligible)/64)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := w*len(eligible)/workers, (w+1)*len(eligible)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ms modalScratch
			var counts []int
			var labels []int8
			for i := lo; i < hi; i++ {
				si := eligible[i]
				s := c.states[si]
				ids := order[start[si]:start[si+1]]
				name := c.names.strs
				slices.SortFunc(ids, func(x, y int32) int { return strings.Compare(name[c.acts[x].action], name[c.acts[y].action]) })
				counts, labels = counts[:0], labels[:0]
				row := StateConsistency{Iteration: s.iter, State: name[s.state], Occurrences: s.n, Actions: len(ids)}
				for _, id := range ids {
					a := c.acts[id]
					lab := LabelUnknown
					if a.good > a.bad {
						lab = LabelGood
					} else if a.bad > a.good {
						lab = LabelBad
					}
					counts = append(counts, a.count)
					labels = append(labels, lab)
					if a.count > row.ModalCount {
						row.ModalAction, row.ModalCount, row.ModalLabel = name[a.action], a.count, lab
					}
				}
				var split [3]float64
				row.Consistency, row.High, split = ms.modalStats(counts, labels, cfg.K, cfg.Threshold)
				row.HighGood, row.HighBad, row.HighUnknown = split[0], split[1], split[2]
				rows[i] = row
			}
		}()
	}
	wg.Wait()
	slices.SortFunc(rows, func(a, b StateConsistency) int {
		if c := cmp.Compare(a.Iteration, b.Iteration); c != 0 {
			return c
		}
		return strings.Compare(a.State, b.State)
	})
	return rows
}

// Result returns one row per iteration seen (including iterations with no
// eligible state), in increasing iteration order. It equals ConsistencyRows of
// States, plus the count of all states seen.
func (c *ConsistencyCounter) Result() []ConsistencyRow {
	rows, _ := c.Report()
	return rows
}

// Report returns Result and States together, computing the per-state
// estimates (the costly part) once.
func (c *ConsistencyCounter) Report() ([]ConsistencyRow, []StateConsistency) {
	states := c.States()
	rows := ConsistencyRows(states, c.cfg)
	seen := make(map[int]int)
	for _, s := range c.states {
		seen[s.iter]++
	}
	byIter := make(map[int]int, len(rows))
	for i, r := range rows {
		byIter[r.Iteration] = i
	}
	for it, n := range seen {
		if i, ok := byIter[it]; ok {
			rows[i].States = n
			continue
		}
		nan := math.NaN()
		none := Interval{Point: nan, Lo: nan, Hi: nan}
		rows = append(rows, ConsistencyRow{Iteration: it, States: n,
			MeanConsistency: nan, High: nan, HighGood: nan, HighBad: nan, HighUnknown: nan,
			MeanConsistencyCI: none, HighCI: none, HighGoodCI: none, HighBadCI: none, HighUnknownCI: none})
	}
	slices.SortFunc(rows, func(a, b ConsistencyRow) int { return cmp.Compare(a.Iteration, b.Iteration) })
	return rows, states
}

// ConsistencyRows aggregates per-state rows into per-iteration rows: means
// over the states of each iteration (summed in the order given) with their
// BoundedMean intervals at ConsistencyLevel, the consistency bounded by
// [1, cfg.K] (cfg with its defaults; K = 1 leaves the consistency interval
// NaN, as every state then has consistency 1). States is set to Eligible,
// since ineligible states are not in the input. Empty input returns nil.
func ConsistencyRows(states []StateConsistency, cfg ConsistencyConfig) []ConsistencyRow {
	cfg = cfg.withDefaults()
	type acc struct {
		row                       ConsistencyRow
		cons, high, good, bad, un []float64
	}
	byIter := make(map[int]*acc)
	var order []int
	for _, s := range states {
		a := byIter[s.Iteration]
		if a == nil {
			a = &acc{row: ConsistencyRow{Iteration: s.Iteration}}
			byIter[s.Iteration] = a
			order = append(order, s.Iteration)
		}
		a.row.Eligible++
		a.cons = append(a.cons, s.Consistency)
		a.high = append(a.high, s.High)
		a.good = append(a.good, s.HighGood)
		a.bad = append(a.bad, s.HighBad)
		a.un = append(a.un, s.HighUnknown)
	}
	slices.Sort(order)
	unit := func(x []float64) Interval { return BoundedMean(x, 0, 1, ConsistencyLevel) }
	var rows []ConsistencyRow
	for _, it := range order {
		a := byIter[it]
		r := a.row
		r.States = r.Eligible
		r.HighCI, r.HighGoodCI, r.HighBadCI, r.HighUnknownCI = unit(a.high), unit(a.good), unit(a.bad), unit(a.un)
		if cfg.K > 1 {
			r.MeanConsistencyCI = BoundedMean(a.cons, 1, float64(cfg.K), ConsistencyLevel)
		} else {
			r.MeanConsistencyCI = Interval{Point: mean(a.cons), Lo: math.NaN(), Hi: math.NaN()}
		}
		r.MeanConsistency, r.High, r.HighGood, r.HighBad, r.HighUnknown =
			r.MeanConsistencyCI.Point, r.HighCI.Point, r.HighGoodCI.Point, r.HighBadCI.Point, r.HighUnknownCI.Point
		rows = append(rows, r)
	}
	return rows
}

func mean(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// modalScratch holds buffers reused across states.
type modalScratch struct {
	w          []float64 // weights, flat
	off        []int     // offsets into w per action
	poly, next []float64
	pre, suf   []float64
}

// modalStats returns E[M], P(M >= t) and P(M >= t) split by the label of the
// modal action (index 0 good, 1 bad, 2 unknown; ties split equally) when K of
// the n = sum(c) items are drawn without replacement, c_i items of action i.
//
// Binomials are scaled to stay in range: with rho = K/n every weight
// w_i(h) = C(c_i, h) rho^h is at most K^h/h!, and the normaliser
// Z = C(n, K) rho^K lies in [1, e^K]; probabilities are ratios to Z.
func (s *modalScratch) modalStats(c []int, lab []int8, K, t int) (mean, high float64, split [3]float64) {
	m := len(c)
	n, cmax := 0, 0
	for _, ci := range c {
		n += ci
		cmax = max(cmax, ci)
	}
	rho := float64(K) / float64(n)
	s.off = s.off[:0]
	s.w = s.w[:0]
	for _, ci := range c {
		s.off = append(s.off, len(s.w))
		hmax := min(ci, K)
		v := 1.0
		s.w = append(s.w, v)
		for h := 1; h <= hmax; h++ {
			v *= float64(ci-h+1) / float64(h) * rho
			s.w = append(s.w, v)
		}
	}
	z := 1.0
	for h := 1; h <= K; h++ {
		z *= float64(n-h+1) / float64(h) * rho
	}
	if cap(s.poly) < K+1 {
		s.poly, s.next = make([]float64, K+1), make([]float64, K+1)
	}
	poly, next := s.poly[:K+1], s.next[:K+1]
	// cdf(j) = P(M <= j).
	cdf := func(j int) float64 {
		if j >= cmax {
			return 1
		}
		clear(poly)
		poly[0] = 1
		deg := 0
		for i, ci := range c {
			w := s.w[s.off[i]:]
			hmax := min(ci, j)
			clear(next)
			for d := 0; d <= deg; d++ {
				p := poly[d]
				if p == 0 {
					continue
				}
				for h := 0; h <= hmax && d+h <= K; h++ {
					next[d+h] += p * w[h]
				}
			}
			deg = min(K, deg+hmax)
			poly, next = next, poly
		}
		return min(1, max(0, poly[K]/z))
	}
	for j := 0; j < K; j++ {
		mean += 1 - cdf(j)
	}
	if t > K || t > cmax {
		return mean, 0, split
	}
	high = 1 - cdf(t-1)

	// Label split: for every mode value j >= t and every action i with
	// c_i >= j, the probability that k_i = j, r other actions also have j and
	// the rest fewer, weighted 1/(r+1). The product over the other actions
	// l != i of g_l(x, y) = sum_{h<j} w_l(h) x^h + y w_l(j) x^j is taken from
	// prefix and suffix products; y counts the tied actions.
	for j := t; j <= min(K, cmax); j++ {
		D := K - j
		R := D / j
		S := (R + 1) * (D + 1)
		need := (m + 1) * S
		if cap(s.pre) < need {
			s.pre, s.suf = make([]float64, need), make([]float64, need)
		}
		pre, suf := s.pre[:need], s.suf[:need]
		clear(pre)
		clear(suf)
		pre[0] = 1   // pre[0] = 1
		suf[m*S] = 1 // suf[m] = 1
		mul := func(dst, src []float64, i int) {
			w := s.w[s.off[i]:]
			hmax := min(c[i], j-1, D)
			for r := 0; r <= R; r++ {
				for d := 0; d <= D; d++ {
					p := src[r*(D+1)+d]
					if p == 0 {
						continue
					}
					for h := 0; h <= hmax && d+h <= D; h++ {
						dst[r*(D+1)+d+h] += p * w[h]
					}
					if c[i] >= j && r < R && d+j <= D {
						dst[(r+1)*(D+1)+d+j] += p * w[j]
					}
				}
			}
		}
		for i := 0; i < m; i++ {
			mul(pre[(i+1)*S:(i+2)*S], pre[i*S:(i+1)*S], i)
		}
		for i := m - 1; i >= 0; i-- {
			mul(suf[i*S:(i+1)*S], suf[(i+1)*S:(i+2)*S], i)
		}
		for i := 0; i < m; i++ {
			if c[i] < j {
				continue
			}
			p, q := pre[i*S:(i+1)*S], suf[(i+1)*S:(i+2)*S]
			var acc float64
			for r1 := 0; r1 <= R; r1++ {
				for r2 := 0; r1+r2 <= R; r2++ {
					var sum float64
					for d := 0; d <= D; d++ {
						sum += p[r1*(D+1)+d] * q[r2*(D+1)+D-d]
					}
					acc += sum / float64(r1+r2+1)
				}
			}
			v := acc * s.w[s.off[i]+j] / z
			switch lab[i] {
			case LabelGood:
				split[0] += v
			case LabelBad:
				split[1] += v
			default:
				split[2] += v
			}
		}
	}
	return mean, high, split
}
