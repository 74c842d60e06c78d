package adapter

import (
	"crypto/sha256"
	"encoding/binary"
	"hash/maphash"
	"math"
	"slices"
	"strconv"

	"github.com/gradcouple/gradcouple/metrics"
	"github.com/gradcouple/gradcouple/trajlog"
)

// A deriver applies the derivation rules of the package documentation in two
// passes over the same sequence of rows: observe sees every row once to
// collect, per group, the outcomes of its trajectories; after compute, apply
// turns each row, in the same order, into its finished record. Its memory is
// a few words per group and two per trajectory, whatever the length of the
// prompts and actions: groups are keyed by a 128-bit hash of their identity
// and trajectories by a 64-bit hash of their id, never by the text.
type deriver struct {
	opts    Options
	format  Format
	run     string
	derived map[string]bool
	groups  map[groupHash]*groupStat
	// next is, per (split, iteration), the index of the next derived group.
	next     map[iterKey]int32
	seed     maphash.Seed // of the trajectory hashes
	records  int64
	trajs    int64
	computed bool

	// steps maps a hash of (iteration, traj_id, turn) of a deduplicated row
	// to the hash of its content (first pass); emitted holds the keys handed
	// out (second pass). An exact copy is dropped, a different line claiming
	// the same step is an error.
	steps   map[uint64]uint64
	emitted map[uint64]struct{}
	// copies counts the exact copies dropped; noTag the responses without an
	// <action> tag; zeroed the trajectories of derived groups of one, whose
	// advantage is set to 0.
	copies, noTag, zeroed int64
	// labelled counts the records emitted with a known label, fromTable
	// those whose label came from Options.Labels (second pass).
	labelled, fromTable int64
	// mt gathers the signs of a multi-turn log read as single-turn verl.
	mt *multiTurnStats
}

type iterKey struct {
	split string
	iter  int32
}

// groupHash identifies a group: SHA-256 (first 128 bits) of its id read from
// the log, or of the split, iteration and text that define a derived group.
type groupHash [16]byte

// groupStat is what the deriver keeps of one group.
type groupStat struct {
	index int32 // derived group "…/g-<index>"; -1 for a group id from the log
	// trajs holds the hashes of the group's trajectory ids in order of first
	// appearance; vals the trajectory outcomes, and after compute, for a
	// group being recomputed, the trajectories' advantages.
	trajs     []uint64
	vals      []float64
	byHash    map[uint64]int32 // index of trajs, once the group is large
	recompute bool
	// n, mean and m2 accumulate (Welford) the scores of every line of the
	// group, copies included, for AdvantageCrossStep; after compute, mean
	// and m2 hold the group's mean and std + eps.
	n        int64
	mean, m2 float64
}

// groupMapMin is the number of trajectories from which a group indexes them
// with a map rather than a linear search.
const groupMapMin = 32

// traj returns the index of trajectory hash h in g, or -1.
func (g *groupStat) traj(h uint64) int {
	if g.byHash != nil {
		if i, ok := g.byHash[h]; ok {
			return int(i)
		}
		return -1
	}
	for i := len(g.trajs) - 1; i >= 0; i-- { // the latest trajectory is the likeliest
		if g.trajs[i] == h {
			return i
		}
	}
	return -1
}

// addTraj appends trajectory hash h with its outcome.
func (g *groupStat) addTraj(h uint64, outcome float64) {
	g.trajs = append(g.trajs, h)
	g.vals = append(g.vals, outcome)
	if g.byHash == nil && len(g.trajs) >= groupMapMin {
		g.byHash = make(map[uint64]int32, 2*len(g.trajs))
		for i, x := range g.trajs {
			g.byHash[x] = int32(i)
		}
	} else if g.byHash != nil {
		g.byHash[h] = int32(len(g.trajs) - 1)
	}
}

func newDeriver(opts Options, run string, format Format) *deriver {
	if opts.Run != "" {
		run = opts.Run
	}
	d := &deriver{
		opts: opts, run: run, format: format,
		derived: map[string]bool{"label": true, "label_votes": true, "state_key": true},
		groups:  map[groupHash]*groupStat{},
		next:    map[iterKey]int32{},
		seed:    maphash.MakeSeed(),
	}
	if opts.LabelColumn != "" {
		delete(d.derived, "label")
	}
	if opts.Labels != nil {
		delete(d.derived, "label")
		if opts.Labels.HasVote {
			delete(d.derived, "label_votes")
		}
	}
	if format == FormatVerl && !opts.SingleTurn {
		d.mt = &multiTurnStats{}
	}
	return d
}

// stepKey hashes the step a deduplicated row claims.
func (d *deriver) stepKey(r *row) uint64 {
	var h maphash.Hash
	h.SetSeed(d.seed)
	var b [8]byte
	binary.LittleEndian.PutUint32(b[:4], uint32(r.rec.Iteration))
	binary.LittleEndian.PutUint32(b[4:], uint32(r.rec.Turn))
	h.Write(b[:])
	h.WriteString(r.rec.TrajID)
	return h.Sum64()
}

// split returns the split r ends up with.
func (d *deriver) split(r *row) string {
	if d.opts.Split != "" {
		return d.opts.Split
	}
	return r.rec.Split
}

// logGroupID returns the group id that r's log gives it, "" when the group
// is derived from prompts.
func (d *deriver) logGroupID(r *row) string {
	if r.rec.GroupID != "" {
		return r.rec.GroupID
	}
	if r.groupSuffix != "" {
		return groupPrefix(d.split(r), r.rec.Iteration) + "/" + r.groupSuffix
	}
	return ""
}

// key hashes the identity of r's group.
func (d *deriver) key(r *row) (groupHash, string) {
	h := sha256.New()
	id := d.logGroupID(r)
	if id != "" {
		h.Write([]byte{'L'})
		h.Write([]byte(id))
	} else {
		h.Write([]byte{'D'})
		h.Write([]byte(d.split(r)))
		h.Write([]byte{0})
		h.Write(strconv.AppendInt(nil, int64(r.rec.Iteration), 10))
		h.Write([]byte{0})
		h.Write([]byte(r.groupKey))
	}
	var k groupHash
	copy(k[:], h.Sum(nil))
	return k, id
}

// observe is the first pass over one row. It returns an error for a line
// that claims the step of an earlier, different line.
func (d *deriver) observe(r *row) error {
	if d.computed {
		panic("adapter: observe after compute")
	}
	if d.mt != nil {
		d.mt.observe(r)
	}
	k, id := d.key(r)
	copied := false
	if r.dedupe {
		if d.steps == nil {
			d.steps = map[uint64]uint64{}
		}
		sk := d.stepKey(r)
		if c, ok := d.steps[sk]; ok {
			if c != r.content {
				return invalid(r.file, r.line, "turn", "trajectory %s has two different lines for turn %d (an exact copy is dropped, a different line is an error)", r.rec.TrajID, r.rec.Turn)
			}
			copied = true
		} else {
			d.steps[sk] = r.content
		}
	}
	g := d.groups[k]
	if g == nil {
		g = &groupStat{index: -1}
		if id == "" {
			ik := iterKey{d.split(r), r.rec.Iteration}
			g.index = d.next[ik]
			d.next[ik]++
		}
		d.groups[k] = g
	}
	// Every line counts in verl-agent's cross-step statistics, copies too.
	g.n++
	delta := r.score - g.mean
	g.mean += delta / float64(g.n)
	g.m2 += delta * (r.score - g.mean)
	if copied {
		d.copies++
		return nil
	}
	d.records++
	if r.noActionTag {
		d.noTag++
	}
	// A trajectory's outcome is that of its first row, as every row of it
	// carries the same one.
	if h := maphash.String(d.seed, r.rec.TrajID); g.traj(h) < 0 {
		g.addTraj(h, r.outcome)
		d.trajs++
	}
	if !r.hasAdv {
		g.recompute = true
	}
	if d.opts.Split == "" && r.splitDerived {
		d.derived["split"] = true
	}
	if g.index >= 0 {
		d.derived["group_id"] = true
	}
	if !r.hasSuccess {
		d.derived["success"] = true
	}
	if !r.hasLogprob {
		d.derived["logprob"] = true
	}
	if r.trajDerived {
		d.derived["traj_id"] = true
	}
	if !r.hasValid {
		d.derived["valid"] = true
	}
	if r.stepRewardDerived {
		d.derived["step_reward"] = true
	}
	return nil
}

// compute ends the first pass: groups with a step lacking a logged advantage
// get their advantages (DESIGN.md §4): by default one per trajectory from the
// trajectories' outcomes; with AdvantageCrossStep the statistics of every
// line's score. A group derived from identical prompts that holds a single
// trajectory is a group the log did not say, not a group of one: its
// advantage is 0, never its reward. It returns ErrGiGPO when GiGPO
// advantages would have to be recomputed, and a *MultiTurnError for a verl
// dump that looks multi-turn.
func (d *deriver) compute(path string) error {
	if d.computed {
		return nil
	}
	if d.mt != nil {
		groups, singles := 0, 0
		for _, g := range d.groups {
			if g.index >= 0 {
				groups++
				if len(g.trajs) == 1 {
					singles++
				}
			}
		}
		if err := d.mt.check(path, groups, singles); err != nil {
			return err
		}
		d.mt = nil
	}
	d.steps = nil // the second pass rebuilds the set as it emits
	for _, g := range d.groups {
		if !g.recompute {
			continue
		}
		d.derived["advantage"] = true
		switch {
		case d.opts.GroupAdvantage == AdvantageGiGPO:
			return ErrGiGPO
		case d.opts.GroupAdvantage == AdvantageCrossStep:
			// verl-agent: a group of one sample has mean 0 and std 1.
			mean, std := 0.0, 1.0
			if g.n > 1 {
				mean, std = g.mean, math.Sqrt(g.m2/float64(g.n-1))
			}
			g.mean, g.m2 = mean, std+d.opts.Advantage.Eps
			if d.opts.Advantage.Eps == 0 {
				g.m2 = std + metrics.AdvantageEps
			}
		case g.index >= 0 && len(g.trajs) == 1:
			g.vals[0] = 0
			d.zeroed++
		default:
			g.vals = metrics.GroupAdvantages(nil, g.vals, d.opts.Advantage)
		}
	}
	d.computed = true
	return nil
}

// apply is the second pass over one row: it returns the finished record, and
// false for an exact copy of an earlier row, which is dropped.
func (d *deriver) apply(r *row) (trajlog.Record, bool, error) {
	if !d.computed {
		panic("adapter: apply before compute")
	}
	if r.dedupe {
		if d.emitted == nil {
			d.emitted = map[uint64]struct{}{}
		}
		sk := d.stepKey(r)
		if _, ok := d.emitted[sk]; ok {
			return trajlog.Record{}, false, nil
		}
		d.emitted[sk] = struct{}{}
	}
	k, id := d.key(r)
	g := d.groups[k]
	if g == nil {
		return trajlog.Record{}, false, invalid(r.file, r.line, "", "the log changed while it was being read (a group appeared in the second pass)")
	}
	rec := r.rec
	rec.Run = d.run
	rec.Split = d.split(r)
	if id != "" {
		rec.GroupID = id
	} else {
		rec.GroupID = groupPrefix(rec.Split, rec.Iteration) + "/g-" + strconv.Itoa(int(g.index))
	}
	if !r.hasSuccess {
		rec.Success = r.outcome > d.opts.SuccessThreshold
	}
	if !r.hasLogprob {
		rec.Logprob = 0
	}
	switch {
	case !d.opts.State.IsZero():
		text, msg := d.opts.State.text(rec.Prompt)
		if msg != "" {
			return trajlog.Record{}, false, invalid(r.file, r.line, "prompt", "%s", msg)
		}
		rec.StateKey = StateKey(text)
	case r.stateText != "":
		rec.StateKey = StateKey(r.stateText)
	default:
		rec.StateKey = StateKey(rec.Prompt)
	}
	if d.opts.Labels != nil {
		if e, ok := d.opts.Labels.lookup(&rec); ok {
			rec.Label, rec.LabelVotes = e.label, e.votes
			d.fromTable++
		}
	}
	if rec.Label != trajlog.LabelUnknown {
		d.labelled++
	}
	ti := g.traj(maphash.String(d.seed, rec.TrajID))
	if ti < 0 {
		return trajlog.Record{}, false, invalid(r.file, r.line, "", "the log changed while it was being read (a trajectory appeared in the second pass)")
	}
	switch {
	case g.recompute && d.opts.GroupAdvantage == AdvantageCrossStep:
		if d.opts.Advantage.NoStd {
			rec.Advantage = float32(r.score - g.mean)
		} else {
			rec.Advantage = float32((r.score - g.mean) / g.m2)
		}
	case g.recompute:
		rec.Advantage = float32(g.vals[ti])
	}
	if rec.Split != trajlog.SplitTrain {
		rec.Advantage = 0 // no update is made from evaluation rows
	}
	// A derived value can still break the schema, e.g. a Dr. GRPO
	// advantage of outcomes near the float32 limit overflowing to Inf.
	if field, msg := rec.Validate(); field != "" {
		return trajlog.Record{}, false, invalid(r.file, r.line, field, "derived record is invalid: %s", msg)
	}
	return rec, true, nil
}

// derivedFields returns the sorted names of the derived fields.
func (d *deriver) derivedFields() []string {
	var out []string
	for k := range d.derived {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// finish runs both passes over rows held in memory (the io.Reader entry
// points, which read one file).
func finish(format Format, rows []row, opts Options, run string) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	d := newDeriver(opts, run, format)
	for i := range rows {
		if err := d.observe(&rows[i]); err != nil {
			return nil, err
		}
	}
	name := run
	if len(rows) > 0 {
		name = rows[0].file
	}
	if err := d.compute(name); err != nil {
		return nil, err
	}
	res := &Result{Format: format, Records: make([]trajlog.Record, 0, len(rows))}
	for i := range rows {
		rec, keep, err := d.apply(&rows[i])
		if err != nil {
			return nil, err
		}
		if keep {
			res.Records = append(res.Records, rec)
		}
	}
	res.Derived = d.derivedFields()
	return res, nil
}
