package analysis

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/metrics"
	"github.com/gradcouple/gradcouple/trajlog"
)

// Consistency by resampling from a model at logged states (DESIGN.md §4):
// for users' own runs, where no environment can rebuild a state, the probe
// states are the distinct states of a log (state_key as the readers derive
// it), each with the prompt logged for it, and the model under test (the
// bundled actor or a Hugging Face checkpoint; OpenActor) draws K actions at
// each. A state is highly consistent when its modal action is drawn at
// least Threshold times, as in Resample; a drawn action takes the label the
// log gives that action at that state (the majority of its logged labels),
// and is unknown when the log never took it there.

// LogResampleOptions tune ResampleLog. The zero value means the defaults
// written on each field.
type LogResampleOptions struct {
	// K is the number of actions drawn per state (default 10) and
	// Threshold the modal count of high consistency (default 5).
	K, Threshold int
	// States is the number of probe states (default 100; all when the log
	// has fewer), drawn by a hash of Seed and the state key, so the choice
	// does not depend on file order.
	States int
	// Draw sets temperature, top-p and length of the draws.
	Draw DrawOptions
	// Seed makes every draw: state p draws from PCG(Seed, p).
	Seed uint64
	// Filter selects the records and how foreign logs are read.
	Filter LogFilter
	// Progress, if not nil, is called after each state with the count done
	// and the total.
	Progress func(done, total int)
}

func (o LogResampleOptions) withDefaults() LogResampleOptions {
	if o.K == 0 {
		o.K = metrics.DefaultConsistencyK
	}
	if o.Threshold == 0 {
		o.Threshold = metrics.DefaultConsistencyThreshold
	}
	if o.States == 0 {
		o.States = 100
	}
	return o
}

// LogResampleState is one probe state with what the model drew there.
type LogResampleState struct {
	Probe       int     `parquet:"probe"`
	StateKey    string  `parquet:"state_key"`
	Logged      int     `parquet:"logged"`       // step records of this state in the log
	LoggedModal string  `parquet:"logged_modal"` // the most frequent logged action
	ModalAction string  `parquet:"modal_action"` // the most frequent drawn action (ties: the smallest)
	ModalCount  int     `parquet:"modal_count"`
	Distinct    int     `parquet:"distinct"`
	ModalLabel  int8    `parquet:"modal_label"` // the log's label of the drawn modal action (-1: never logged there)
	SameAsLog   bool    `parquet:"same_as_log"` // the drawn modal action is the logged modal action
	Consistency float64 `parquet:"consistency"`
}

// LogResampleReport is the result of ResampleLog.
type LogResampleReport struct {
	Model   string
	Rows    []ConsistencyRow
	States  []LogResampleState
	Sources Sources
}

// logState gathers one state of the log.
type logState struct {
	key, prompt string
	promptIDs   []int32 // the first record's logged prompt ids, if any
	n           int
	actions     map[string]*[2]int // good, bad votes per logged action
	count       map[string]int
}

// ResampleLog draws opts.K actions from actor at each of opts.States
// states of the logs that patterns name and measures their consistency.
func ResampleLog(ctx context.Context, actor Actor, patterns []string, opts LogResampleOptions) (*LogResampleReport, error) {
	opts = opts.withDefaults()
	if opts.K < 1 || opts.K > metrics.MaxConsistencyK || opts.Threshold < 1 || opts.Threshold > opts.K {
		return nil, fmt.Errorf("resampling: want 1 <= threshold <= K <= %d, got threshold %d, K %d", metrics.MaxConsistencyK, opts.Threshold, opts.K)
	}
	if opts.States < 0 {
		return nil, fmt.Errorf("resampling: want a positive number of states, got %d", opts.States)
	}
	states := map[string]*logState{}
	src, err := scanUnique(ctx, patterns, trajlog.ReadOptions{}, opts.Filter.Adapter, func(r *trajlog.Record) error {
		if !opts.Filter.keep(r) {
			return nil
		}
		key := r.StateKey
		if key == "" {
			key = r.Prompt
		}
		s := states[key]
		if s == nil {
			s = &logState{key: key, prompt: r.Prompt, promptIDs: r.PromptIDs, actions: map[string]*[2]int{}, count: map[string]int{}}
			states[key] = s
		}
		s.n++
		a := strings.TrimSpace(r.Action)
		s.count[a]++
		v := s.actions[a]
		if v == nil {
			v = new([2]int)
			s.actions[a] = v
		}
		switch r.Label {
		case metrics.LabelGood:
			v[0]++
		case metrics.LabelBad:
			v[1]++
		}
		return nil
	})
	rep := &LogResampleReport{Model: actor.Describe(), Sources: src}
	if err != nil {
		return rep, err
	}
	if len(states) == 0 {
		return rep, fmt.Errorf("%w: no step records to take states from", ErrNoRecords)
	}
	probes := chooseStates(states, opts.States, opts.Seed)
	counter := metrics.NewConsistencyCounter(metrics.ConsistencyConfig{K: opts.K, Threshold: opts.Threshold})
	for p, s := range probes {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		drawn, err := actor.sample(s.prompt, s.promptIDs, opts.K, opts.Draw, rand.New(rand.NewPCG(opts.Seed, uint64(p))))
		if err != nil {
			return rep, fmt.Errorf("probe state %d (%.60q): %w", p, s.key, err)
		}
		for _, a := range drawn {
			counter.Add(metrics.ConsistencySample{State: strconv.Itoa(p), Action: a, Label: s.label(a)})
		}
		modal, count, distinct := modalOf(drawn)
		logged, _, _ := modalOfCounts(s.count)
		rep.States = append(rep.States, LogResampleState{Probe: p, StateKey: s.key, Logged: s.n, LoggedModal: logged,
			ModalAction: modal, ModalCount: count, Distinct: distinct, ModalLabel: s.label(modal), SameAsLog: modal == logged})
		if opts.Progress != nil {
			opts.Progress(p+1, len(probes))
		}
	}
	rows, per := counter.Report()
	for i := range per {
		if p, err := strconv.Atoi(per[i].State); err == nil && p < len(rep.States) {
			rep.States[p].Consistency = per[i].Consistency
		}
	}
	for _, r := range rows {
		rep.Rows = append(rep.Rows, consistencyRowOf("", "", r, opts.K, opts.Threshold))
	}
	return rep, nil
}

// label is the log's label of action a at s: the majority of its logged
// labels, unknown on a tie or when a was never logged there.
func (s *logState) label(a string) int8 {
	v := s.actions[a]
	switch {
	case v == nil || v[0] == v[1]:
		return metrics.LabelUnknown
	case v[0] > v[1]:
		return metrics.LabelGood
	}
	return metrics.LabelBad
}

// chooseStates returns up to n states ordered by a hash of seed and the
// state key (a seeded choice independent of the order of the log).
func chooseStates(states map[string]*logState, n int, seed uint64) []*logState {
	type keyed struct {
		h uint64
		s *logState
	}
	all := make([]keyed, 0, len(states))
	for k, s := range states {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d\x00%s", seed, k)
		all = append(all, keyed{h.Sum64(), s})
	}
	slices.SortFunc(all, func(a, b keyed) int {
		if a.h != b.h {
			if a.h < b.h {
				return -1
			}
			return 1
		}
		return strings.Compare(a.s.key, b.s.key)
	})
	out := make([]*logState, 0, min(n, len(all)))
	for _, k := range all[:min(n, len(all))] {
		out = append(out, k.s)
	}
	return out
}

// modalOfCounts returns the most frequent of the counted actions (ties: the
// smallest), its count and the number of distinct actions.
func modalOfCounts(c map[string]int) (string, int, int) {
	best, n := "", 0
	for a, k := range c {
		if k > n || k == n && a < best {
			best, n = a, k
		}
	}
	return best, n, len(c)
}
