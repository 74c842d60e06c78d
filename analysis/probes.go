package analysis

import (
	"cmp"
	"container/heap"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/coupling"
	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/internal/table"
	"github.com/gradcouple/gradcouple/policy"
	"github.com/gradcouple/gradcouple/trajlog"
)

// Probe is one labelled (state, action) sample of a probe set: a row of the
// probe file. Its gradient, log-probability and hidden states are measured
// at every checkpoint of every run being compared.
type Probe struct {
	Probe     int32   `parquet:"probe"` // index, from 0
	Run       string  `parquet:"run"`   // the run whose log it was drawn from
	Iteration int32   `parquet:"iteration"`
	Split     string  `parquet:"split"`
	TaskID    string  `parquet:"task_id"`
	TrajID    string  `parquet:"traj_id"`
	Turn      int32   `parquet:"turn"`
	StateKey  string  `parquet:"state_key"`
	Prompt    string  `parquet:"prompt" text:"-"`
	Action    string  `parquet:"action"`
	Label     int8    `parquet:"label"`     // judge label: 1 good, 0 bad
	Advantage float32 `parquet:"advantage"` // the logged advantage, A_n of Delta_ij = eta A_i K_ij
	// Heat is "good" or "bad" for the samples of the heatmap (paper Fig. 3b),
	// "" otherwise.
	Heat string `parquet:"heat"`
}

// ProbePair is a pair of probes, one good (A) and one bad (B), in different
// states with similar prompts: by token Jaccard of the prompts (Kind
// "jaccard") or by the cosine of the hidden states at the last prompt token
// under the reference checkpoint (Kind "hidden").
type ProbePair struct {
	A       int     `json:"a"`
	B       int     `json:"b"`
	Kind    string  `json:"kind"`
	Jaccard float64 `json:"jaccard"`
	Hidden  float64 `json:"hidden"` // the reference cosine; NaN (null) for Jaccard pairs without a reference
}

// MarshalJSON writes a NaN cosine as null.
func (p ProbePair) MarshalJSON() ([]byte, error) {
	type raw ProbePair
	h := any(p.Hidden)
	if math.IsNaN(p.Hidden) {
		h = nil
	}
	return json.Marshal(struct {
		raw
		Hidden any `json:"hidden"`
	}{raw(p), h})
}

// UnmarshalJSON reads a null cosine as NaN.
func (p *ProbePair) UnmarshalJSON(b []byte) error {
	type raw ProbePair
	var v struct {
		raw
		Hidden *float64 `json:"hidden"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*p = ProbePair(v.raw)
	p.Hidden = math.NaN()
	if v.Hidden != nil {
		p.Hidden = *v.Hidden
	}
	return nil
}

// ProbeOptions choose a probe set from the logs of runs. The zero value
// means the defaults written on each field.
type ProbeOptions struct {
	// Split is the split of the records drawn from; "" means train (where
	// advantages are nonzero).
	Split string
	// Iterations are the log iterations drawn from; none means every one.
	Iterations []int
	// Samples is the number of probes; 0 means 256. Good and bad records are
	// drawn half and half (the other class fills in when one runs short).
	Samples int
	// Pairs is the number of similar-state pairs of each kind; 0 means 32,
	// negative none.
	Pairs int
	// Heatmap is the side of the heatmap: that many good samples with a
	// positive advantage and as many bad ones; 0 means 8, negative none.
	Heatmap int
	// PositiveGood is the share of the good probes drawn from good records
	// with a positive advantage (the updates that can couple harmfully;
	// in GRPO logs most good steps of failed or zero-variance groups have
	// A <= 0); the rest are drawn from all good records. 0 means 0.5,
	// negative draws every good probe uniformly.
	PositiveGood float64
	// Seed makes the draw: records are ranked by a hash of (Seed, run,
	// iteration, trajectory, turn), so the set does not depend on the order
	// of the files or on GOMAXPROCS.
	Seed uint64
	// Reference, if not empty, is the checkpoint directory whose hidden
	// states at the last prompt token rank the "hidden" pairs.
	Reference string
	// Twins, if positive, oversamples twin pairs (distinct states, the same
	// action labelled good in one and bad in the other, prompts within
	// TwinDistance normalised token edit distance; coupling.FindStrata)
	// into the probe set, up to Twins pairs; both samples of a pair are
	// probes, the rest is drawn as usual. Twins are searched among the
	// TwinPool records of lowest priority of each (action, label), a
	// seeded uniform subsample that bounds memory and work.
	Twins        int
	TwinDistance float64 // 0 means 0.1
}

// twinPool is the number of records kept per (action, label) for the twin
// search: the edit-distance work is at most sum over actions of
// twinPool^2 * L * (2k+1) cells and is capped by coupling.StrataConfig's
// MaxCells.
const twinPool = 32

// TwinCount says how many twin pairs a probe draw found and took.
type TwinCount struct {
	// Found is the number of twin pairs among the pooled records,
	// Compared the good x bad same-action pairs whose edit distance was
	// computed, of Candidates; Truncated when the work bound stopped the
	// search. Taken is the number of pairs in the probe set.
	Found, Compared, Candidates, Taken int
	Truncated                          bool
}

func (o ProbeOptions) withDefaults() ProbeOptions {
	if o.Samples == 0 {
		o.Samples = 256
	}
	if o.Pairs == 0 {
		o.Pairs = 32
	}
	if o.Heatmap == 0 {
		o.Heatmap = 8
	}
	if o.PositiveGood == 0 {
		o.PositiveGood = 0.5
	}
	o.PositiveGood = min(o.PositiveGood, 1)
	o.Split = splitOr(o.Split)
	return o
}

// ProbeSet is the fixed set of probes of a coupling analysis: the same
// samples at every checkpoint of every run compared.
type ProbeSet struct {
	Probes []Probe
	Pairs  []ProbePair
	// Options and Sources record how the set was drawn (probe file metadata).
	Options ProbeOptions
	Sources []string
	// Candidates counts the distinct (task, state, action) records of each
	// label the draw chose from: [bad, good].
	Candidates [2]int
	// Twins says how many twin pairs the draw found and took (Options.Twins).
	Twins TwinCount
}

// Heat returns the probes of the heatmap: the good ones (rows, the updated
// samples i) and the bad ones (columns, the affected samples j).
func (ps *ProbeSet) Heat() (good, bad []int) {
	for i, p := range ps.Probes {
		switch p.Heat {
		case "good":
			good = append(good, i)
		case "bad":
			bad = append(bad, i)
		}
	}
	return good, bad
}

// Labels returns the probes' labels.
func (ps *ProbeSet) Labels() []int8 {
	out := make([]int8, len(ps.Probes))
	for i, p := range ps.Probes {
		out[i] = p.Label
	}
	return out
}

// Advantages returns the probes' advantages.
func (ps *ProbeSet) Advantages() []float64 {
	out := make([]float64, len(ps.Probes))
	for i, p := range ps.Probes {
		out[i] = float64(p.Advantage)
	}
	return out
}

// States returns an index per distinct (task, state key) of the probes.
func (ps *ProbeSet) States() []int {
	idx := map[string]int{}
	out := make([]int, len(ps.Probes))
	for i, p := range ps.Probes {
		k := p.TaskID + "\x00" + p.StateKey
		if p.StateKey == "" {
			k = "\x01" + p.Prompt
		}
		v, ok := idx[k]
		if !ok {
			v = len(idx)
			idx[k] = v
		}
		out[i] = v
	}
	return out
}

// candidate is a record kept by the draw.
type candidate struct {
	prio uint64
	key  string // (task, state, action): one candidate per key
	p    Probe
}

// bottomK keeps the k candidates of lowest priority among distinct keys, a
// seeded uniform sample without replacement that does not depend on the
// order in which candidates arrive.
type bottomK struct {
	k    int
	h    candHeap
	byID map[string]*candidate
}

type candHeap []*candidate

func (h candHeap) Len() int { return len(h) }
func (h candHeap) Less(i, j int) bool {
	if h[i].prio != h[j].prio {
		return h[i].prio > h[j].prio
	}
	return h[i].key > h[j].key
}
func (h candHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *candHeap) Push(x any)   { *h = append(*h, x.(*candidate)) }
func (h *candHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func less(a, b *candidate) bool {
	return a.prio < b.prio || a.prio == b.prio && a.key < b.key
}

// add offers a candidate; build is called only if it is kept, so that the
// prompt is copied only for kept records.
func (b *bottomK) add(prio uint64, key string, build func() Probe) {
	if b.k <= 0 {
		return
	}
	c := &candidate{prio: prio, key: key}
	if old, ok := b.byID[key]; ok {
		if !less(c, old) {
			return
		}
		old.prio, old.p = prio, build()
		heap.Init(&b.h)
		return
	}
	if len(b.h) >= b.k && !less(c, b.h[0]) {
		return
	}
	c.p = build()
	b.byID[key] = c
	heap.Push(&b.h, c)
	if len(b.h) > b.k {
		x := heap.Pop(&b.h).(*candidate)
		delete(b.byID, x.key)
	}
}

func (b *bottomK) len() int { return len(b.h) }

// sorted returns the kept candidates by increasing priority.
func (b *bottomK) sorted() []*candidate {
	out := slices.Clone([]*candidate(b.h))
	slices.SortFunc(out, func(x, y *candidate) int {
		if less(x, y) {
			return -1
		}
		return 1
	})
	return out
}

// recordPriority is the seeded rank of a record in the draw.
func recordPriority(seed uint64, run string, it int32, traj string, turn int32) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(run))
	h.Write([]byte{0})
	h.Write([]byte(traj))
	binary.LittleEndian.PutUint64(b[:], uint64(uint32(it))<<32|uint64(uint32(turn)))
	h.Write(b[:])
	return splitmix(h.Sum64())
}

// splitmix is the SplitMix64 finaliser.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// SelectProbes draws a probe set from the logs of runs (DESIGN.md §4): from
// the records of opts.Split and opts.Iterations with a known judge label,
// one per distinct (task, state, action), a seeded uniform sample of
// opts.Samples, half good and half bad; then the heatmap samples (good
// samples with a positive advantage, and the bad samples in other states
// whose prompts are closest to theirs by mean token Jaccard) and the
// similar-state pairs: the good x bad pairs in different states with the
// highest prompt Jaccard and, with opts.Reference, the highest cosine of
// the hidden states at the last prompt token. The same set serves every
// checkpoint of every run.
func SelectProbes(ctx context.Context, runs []Run, opts ProbeOptions) (*ProbeSet, Sources, error) {
	opts = opts.withDefaults()
	if opts.Samples < 2 {
		return nil, Sources{}, fmt.Errorf("probe set of %d samples: want at least 2", opts.Samples)
	}
	keep := [2]*bottomK{{k: opts.Samples, byID: map[string]*candidate{}}, {k: opts.Samples, byID: map[string]*candidate{}}}
	pos := &bottomK{k: opts.Samples, byID: map[string]*candidate{}}
	distinct := [2]map[uint64]struct{}{{}, {}}
	pools := map[string]*bottomK{} // (label, action) -> pooled records for the twin search
	var patterns []string
	for _, r := range runs {
		patterns = append(patterns, r.Logs())
	}
	src, err := scan(ctx, patterns, trajlog.ReadOptions{}, func(r *trajlog.Record) error {
		if r.Split != opts.Split || (r.Label != 0 && r.Label != 1) || !keepIteration(opts.Iterations, r.Iteration) {
			return nil
		}
		key := r.TaskID + "\x00" + r.StateKey + "\x00" + r.Action
		if r.StateKey == "" {
			key = "\x01" + r.Prompt + "\x00" + r.Action
		}
		h := fnv.New64a()
		h.Write([]byte(key))
		distinct[r.Label][h.Sum64()] = struct{}{}
		prio := recordPriority(opts.Seed, r.Run, r.Iteration, r.TrajID, r.Turn)
		build := func() Probe {
			return Probe{Run: strings.Clone(r.Run), Iteration: r.Iteration, Split: strings.Clone(r.Split),
				TaskID: strings.Clone(r.TaskID), TrajID: strings.Clone(r.TrajID), Turn: r.Turn,
				StateKey: strings.Clone(r.StateKey), Prompt: strings.Clone(r.Prompt), Action: strings.Clone(r.Action),
				Label: r.Label, Advantage: r.Advantage}
		}
		keep[r.Label].add(prio, key, build)
		if opts.Twins > 0 {
			pk := strconv.Itoa(int(r.Label)) + "\x00" + r.Action
			pool, ok := pools[pk]
			if !ok {
				pool = &bottomK{k: twinPool, byID: map[string]*candidate{}}
				pools[strings.Clone(pk)] = pool
			}
			pool.add(prio, key, build)
		}
		if r.Label == 1 && r.Advantage > 0 && opts.PositiveGood > 0 {
			pos.add(prio, key, build)
		}
		return nil
	})
	if err != nil {
		return nil, src, err
	}
	good, bad := keep[1].sorted(), keep[0].sorted()
	ps := &ProbeSet{Options: opts}
	for _, r := range runs {
		ps.Sources = append(ps.Sources, r.Dir)
	}
	ps.Candidates = [2]int{len(distinct[0]), len(distinct[1])}
	ng := min(len(good), max(opts.Samples/2, opts.Samples-len(bad)))
	nb := min(len(bad), opts.Samples-ng)
	if ng == 0 || nb == 0 {
		return nil, src, fmt.Errorf("%w: need good and bad labelled %s records to draw probes from, found %d good and %d bad in %s",
			ErrNoRecords, opts.Split, len(good), len(bad), strings.Join(patterns, " "))
	}
	np := min(pos.len(), int(math.Round(opts.PositiveGood*float64(ng))))
	taken := map[string]bool{}
	if opts.Twins > 0 {
		tw, count := drawTwins(pools, opts)
		ps.Twins = count
		for _, c := range tw {
			if len(ps.Probes) >= opts.Samples {
				break
			}
			ps.Probes = append(ps.Probes, c.p)
			taken[c.key] = true
			if c.p.Label == 1 {
				ng--
			} else {
				nb--
			}
		}
		ps.Twins.Taken = len(ps.Probes) / 2
		ng, nb = max(ng, 0), max(nb, 0)
		np = min(np, ng)
	}
	base := len(ps.Probes)
	for _, c := range pos.sorted()[:max(np, 0)] {
		if !taken[c.key] {
			ps.Probes = append(ps.Probes, c.p)
			taken[c.key] = true
		}
	}
	for _, c := range good {
		if len(ps.Probes)-base >= ng {
			break
		}
		if !taken[c.key] {
			ps.Probes = append(ps.Probes, c.p)
			taken[c.key] = true
		}
	}
	added := 0
	for _, c := range bad {
		if added >= nb {
			break
		}
		if !taken[c.key] {
			ps.Probes = append(ps.Probes, c.p)
			added++
		}
	}
	for i := range ps.Probes {
		ps.Probes[i].Probe = int32(i)
	}
	jac := newJaccardIndex(ps.Probes)
	ps.chooseHeat(jac, opts.Heatmap)
	if opts.Pairs > 0 {
		ps.Pairs = jaccardPairs(ps, jac, opts.Pairs)
		if opts.Reference != "" {
			m, tok, err := policy.Load(opts.Reference)
			if err != nil {
				return nil, src, err
			}
			hp, err := hiddenPairs(ps, jac, m, tok, opts.Pairs)
			if err != nil {
				return nil, src, err
			}
			ps.Pairs = append(ps.Pairs, hp...)
		}
	}
	return ps, src, nil
}

// chooseHeat marks the heatmap samples: the first h good probes (in draw
// order) with a positive advantage, and the h bad probes in other states
// with the highest mean prompt Jaccard to them.
func (ps *ProbeSet) chooseHeat(jac *jaccardIndex, h int) {
	if h <= 0 {
		return
	}
	states := ps.States()
	var good []int
	goodState := map[int]bool{}
	for i, p := range ps.Probes {
		if p.Label == 1 && p.Advantage > 0 && len(good) < h {
			good = append(good, i)
			goodState[states[i]] = true
		}
	}
	if len(good) == 0 {
		return
	}
	type scored struct {
		i int
		s float64
	}
	var bad []scored
	for j, p := range ps.Probes {
		if p.Label != 0 || goodState[states[j]] {
			continue
		}
		var s float64
		for _, i := range good {
			s += jac.at(i, j)
		}
		bad = append(bad, scored{j, s / float64(len(good))})
	}
	slices.SortStableFunc(bad, func(a, b scored) int { return cmp.Compare(b.s, a.s) })
	if len(bad) == 0 {
		return
	}
	for _, i := range good {
		ps.Probes[i].Heat = "good"
	}
	for _, b := range bad[:min(h, len(bad))] {
		ps.Probes[b.i].Heat = "bad"
	}
}

// jaccardPairs returns the k good x bad pairs in different states with the
// highest prompt Jaccard (ties: lower indices first).
func jaccardPairs(ps *ProbeSet, jac *jaccardIndex, k int) []ProbePair {
	states := ps.States()
	var all []ProbePair
	for a, pa := range ps.Probes {
		if pa.Label != 1 {
			continue
		}
		for b, pb := range ps.Probes {
			if pb.Label == 0 && states[a] != states[b] {
				all = append(all, ProbePair{A: a, B: b, Kind: "jaccard", Jaccard: jac.at(a, b), Hidden: math.NaN()})
			}
		}
	}
	slices.SortStableFunc(all, func(x, y ProbePair) int { return cmp.Compare(y.Jaccard, x.Jaccard) })
	return all[:min(k, len(all))]
}

// hiddenPairs returns the k good x bad pairs in different states whose hidden
// states at the last prompt token (last layer) under m have the highest
// cosine.
func hiddenPairs(ps *ProbeSet, jac *jaccardIndex, m *policy.Model, tok *policy.Tokenizer, k int) ([]ProbePair, error) {
	seqs, err := encodeProbes(ps, m, tok)
	if err != nil {
		return nil, err
	}
	hd := m.Config().Dim
	hs := m.Hidden(nil, seqs, m.Config().Layers, policy.LastPrompt)
	states := ps.States()
	var all []ProbePair
	for a, pa := range ps.Probes {
		if pa.Label != 1 {
			continue
		}
		for b, pb := range ps.Probes {
			if pb.Label == 0 && states[a] != states[b] {
				c := cosine64(hs[a*hd:(a+1)*hd], hs[b*hd:(b+1)*hd])
				all = append(all, ProbePair{A: a, B: b, Kind: "hidden", Jaccard: jac.at(a, b), Hidden: c})
			}
		}
	}
	slices.SortStableFunc(all, func(x, y ProbePair) int { return cmp.Compare(y.Hidden, x.Hidden) })
	return all[:min(k, len(all))], nil
}

// cosine64 is the cosine of two float64 vectors (0 when one is zero).
func cosine64(x, y []float64) float64 {
	var xy, xx, yy float64
	for i := range x {
		xy += x[i] * y[i]
		xx += x[i] * x[i]
		yy += y[i] * y[i]
	}
	if xx == 0 || yy == 0 {
		return 0
	}
	return xy / math.Sqrt(xx*yy)
}

// encodeProbes tokenizes the probes for m; a pair that does not fit the
// context is an error naming the probe.
func encodeProbes(ps *ProbeSet, m *policy.Model, tok *policy.Tokenizer) ([]policy.Seq, error) {
	seqs := make([]policy.Seq, len(ps.Probes))
	for i, p := range ps.Probes {
		s, err := tok.EncodePair(p.Prompt, p.Action, m.Config().Context)
		if err != nil {
			return nil, fmt.Errorf("probe %d (%s turn %d): %w", i, p.TrajID, p.Turn, err)
		}
		seqs[i] = s
	}
	return seqs, nil
}

// jaccardIndex holds the prompts' token sets for the pairwise token Jaccard
// similarity of env.Jaccard (|A ∩ B| / |A ∪ B| of env.Tokens sets; 1 when
// both are empty).
type jaccardIndex struct {
	sets [][]int32 // sorted token ids
	memo map[[2]int]float64
}

func newJaccardIndex(probes []Probe) *jaccardIndex {
	ids := map[string]int32{}
	j := &jaccardIndex{sets: make([][]int32, len(probes)), memo: map[[2]int]float64{}}
	for i, p := range probes {
		var s []int32
		for _, t := range env.Tokens(p.Prompt) {
			id, ok := ids[t]
			if !ok {
				id = int32(len(ids))
				ids[t] = id
			}
			s = append(s, id)
		}
		slices.Sort(s)
		j.sets[i] = slices.Compact(s)
	}
	return j
}

// at returns the Jaccard similarity of the prompts of probes a and b.
func (j *jaccardIndex) at(a, b int) float64 {
	if a > b {
		a, b = b, a
	}
	if v, ok := j.memo[[2]int{a, b}]; ok {
		return v
	}
	x, y := j.sets[a], j.sets[b]
	inter := 0
	for p, q := 0, 0; p < len(x) && q < len(y); {
		switch {
		case x[p] == y[q]:
			inter++
			p++
			q++
		case x[p] < y[q]:
			p++
		default:
			q++
		}
	}
	union := len(x) + len(y) - inter
	v := 1.0
	if union > 0 {
		v = float64(inter) / float64(union)
	}
	j.memo[[2]int{a, b}] = v
	return v
}

// Metadata keys of a probe file.
const (
	probesFormatKey  = "gradcouple.probes"
	probesPairsKey   = "gradcouple.probe_pairs"
	probesOptionsKey = "gradcouple.probe_options"
	probesSourcesKey = "gradcouple.probe_sources"
	probesTwinsKey   = "gradcouple.probe_twins"
	probesFormat     = "1"
)

// WriteProbes writes the probe set to path (.parquet, atomically): one row
// per probe, with the pairs, the options and the sources in the key-value
// metadata. ReadProbes reads it back.
func WriteProbes(path string, ps *ProbeSet) error {
	if f, err := table.FormatOf(path); err != nil || f != table.FormatParquet {
		return fmt.Errorf("probe file %s: want a .parquet file (it carries the pairs in its metadata)", path)
	}
	pairs, err := json.Marshal(ps.Pairs)
	if err != nil {
		return err
	}
	o := ps.Options
	o.Reference = ""
	opt, _ := json.Marshal(struct {
		ProbeOptions
		Reference string `json:"reference"`
	}{o, ps.Options.Reference})
	src, _ := json.Marshal(ps.Sources)
	twins, _ := json.Marshal(ps.Twins)
	return table.WriteFile(path, ps.Probes, map[string]string{
		probesFormatKey: probesFormat, probesPairsKey: string(pairs),
		probesOptionsKey: string(opt), probesSourcesKey: string(src), probesTwinsKey: string(twins),
	})
}

// ReadProbes reads a probe file written by WriteProbes (or any table with
// the Probe columns prompt, action and label; the other columns are
// optional). Probes must be labelled good or bad; pairs must name probes.
func ReadProbes(path string) (*ProbeSet, error) {
	t, err := readLooseTable(path)
	if err != nil {
		return nil, err
	}
	for _, c := range []string{"prompt", "action", "label"} {
		if !t.has(c) {
			return nil, &TableError{File: path, Column: c, Msg: "missing column (a probe file has probe, run, ..., prompt, action, label, advantage, heat)"}
		}
	}
	ps := &ProbeSet{}
	for i := range t.n {
		lab, err := t.label("label", i)
		if err != nil {
			return nil, err
		}
		if lab != 0 && lab != 1 {
			return nil, t.errorf(i, "label", "a probe must be labelled good (1) or bad (0)")
		}
		if t.str("prompt", i) == "" {
			return nil, t.errorf(i, "prompt", "empty prompt")
		}
		adv, err := t.float("advantage", i, 0)
		if err != nil && t.has("advantage") {
			return nil, err
		}
		num := func(c string) int32 {
			v, err := t.float(c, i, 0)
			if err != nil || !t.has(c) {
				return 0
			}
			return int32(v)
		}
		p := Probe{Probe: int32(i), Run: t.str("run", i), Iteration: num("iteration"), Split: t.str("split", i),
			TaskID: t.str("task_id", i), TrajID: t.str("traj_id", i), Turn: num("turn"), StateKey: t.str("state_key", i),
			Prompt: t.str("prompt", i), Action: t.str("action", i), Label: lab, Advantage: float32(adv), Heat: t.str("heat", i)}
		if t.has("probe") && num("probe") != int32(i) {
			return nil, t.errorf(i, "probe", "probes must be numbered 0, 1, ... in order")
		}
		if p.Heat != "" && p.Heat != "good" && p.Heat != "bad" {
			return nil, t.errorf(i, "heat", "%q: want good, bad or empty", clip(p.Heat))
		}
		if p.Heat != "" && (p.Heat == "good") != (p.Label == 1) {
			return nil, t.errorf(i, "heat", "%s heatmap sample labelled %d", p.Heat, p.Label)
		}
		ps.Probes = append(ps.Probes, p)
	}
	if len(ps.Probes) < 2 {
		return nil, &TableError{File: path, Msg: fmt.Sprintf("%d probes: want at least 2", len(ps.Probes))}
	}
	if s := t.meta[probesPairsKey]; s != "" {
		if err := json.Unmarshal([]byte(s), &ps.Pairs); err != nil {
			return nil, &TableError{File: path, Msg: "malformed " + probesPairsKey + " metadata: " + err.Error()}
		}
		for _, p := range ps.Pairs {
			if p.A < 0 || p.A >= len(ps.Probes) || p.B < 0 || p.B >= len(ps.Probes) || (p.Kind != "jaccard" && p.Kind != "hidden") {
				return nil, &TableError{File: path, Msg: fmt.Sprintf("%s metadata: pair %d-%d (%s) does not name two probes", probesPairsKey, p.A, p.B, clip(p.Kind))}
			}
		}
	}
	if s := t.meta[probesOptionsKey]; s != "" {
		var o struct {
			ProbeOptions
			Reference string `json:"reference"`
		}
		if json.Unmarshal([]byte(s), &o) == nil {
			ps.Options = o.ProbeOptions
			ps.Options.Reference = o.Reference
		}
	}
	if s := t.meta[probesSourcesKey]; s != "" {
		json.Unmarshal([]byte(s), &ps.Sources)
	}
	if s := t.meta[probesTwinsKey]; s != "" {
		json.Unmarshal([]byte(s), &ps.Twins)
	}
	return ps, nil
}

// describePairs summarises the pairs of a probe set for a report line.
func (ps *ProbeSet) describePairs() string {
	n := map[string]int{}
	for _, p := range ps.Pairs {
		n[p.Kind]++
	}
	return strconv.Itoa(n["jaccard"]) + " by prompt Jaccard, " + strconv.Itoa(n["hidden"]) + " by hidden-state cosine"
}

// drawTwins finds twin pairs among the pooled records (coupling.FindStrata
// over each action's good and bad pools, states by task and state key) and
// returns the records of up to opts.Twins of them, good then bad of each
// pair, in a seeded order; a record is used once.
func drawTwins(pools map[string]*bottomK, opts ProbeOptions) ([]*candidate, TwinCount) {
	keys := make([]string, 0, len(pools))
	for k := range pools {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var recs []*candidate
	for _, k := range keys {
		recs = append(recs, pools[k].sorted()...)
	}
	labels := make([]int8, len(recs))
	prompts := make([]string, len(recs))
	actions := make([]string, len(recs))
	stateIdx := map[string]int{}
	states := make([]int, len(recs))
	for i, c := range recs {
		labels[i], prompts[i], actions[i] = c.p.Label, c.p.Prompt, c.p.Action
		sk := c.p.TaskID + "\x00" + c.p.StateKey
		if c.p.StateKey == "" {
			sk = "\x01" + c.p.Prompt
		}
		v, ok := stateIdx[sk]
		if !ok {
			v = len(stateIdx)
			stateIdx[sk] = v
		}
		states[i] = v
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x7717))
	st := coupling.FindStrata(coupling.StrataInput{Labels: labels, Actions: actionIDs(actions, len(recs)), States: states, Tokens: tokenIDs(prompts)},
		coupling.StrataConfig{TwinDistance: opts.TwinDistance, TwinsOnly: true}, rng)
	tw := st.Pairs[coupling.Twin]
	count := TwinCount{Found: len(tw), Compared: st.Compared, Candidates: st.Candidates, Truncated: st.Truncated}
	order := rng.Perm(len(tw))
	used := map[int]bool{}
	var out []*candidate
	for _, o := range order {
		if len(out)/2 >= opts.Twins {
			break
		}
		p := tw[o]
		if used[p.I] || used[p.J] {
			continue
		}
		used[p.I], used[p.J] = true, true
		out = append(out, recs[p.I], recs[p.J])
	}
	return out, count
}
