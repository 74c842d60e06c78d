package env

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gradcouple/gradcouple/metrics"
)

// Identifiable labels (DESIGN.md §5): a label is identifiable when what the
// actor is shown determines it. Two things break that, and this file measures
// both on oracle demonstrations:
//
//   - a blind step (Blind, BlindInPrompt): the optimal set depends on
//     contents the observations never described;
//   - an ambiguous prompt (PromptIndex): the same prompt text occurs in
//     states with different optimal sets, so no model of the prompt can
//     label both right.
//
// Twins are the near misses of the second: two prompts a few token edits
// apart whose optimal sets differ.

// PromptIndex collects the prompts of visited steps with their optimal sets
// and answers which prompts are ambiguous. The zero value is empty and ready.
type PromptIndex struct {
	sets map[string][]string // prompt -> distinct optimal-set keys, sorted
}

// optimalKey is a canonical key of an optimal set.
func optimalKey(opt []string) string {
	s := slices.Clone(opt)
	slices.Sort(s)
	return strings.Join(s, "\x00")
}

// Add records that prompt was shown in a state whose optimal set is opt
// (OptimalActions; the order does not matter).
func (x *PromptIndex) Add(prompt string, opt []string) {
	if x.sets == nil {
		x.sets = map[string][]string{}
	}
	k := optimalKey(opt)
	s := x.sets[prompt]
	if i, found := slices.BinarySearch(s, k); !found {
		x.sets[prompt] = slices.Insert(s, i, k)
	}
}

// Ambiguous reports whether prompt was added with two or more different
// optimal sets: whatever a model answers on it, some of its occurrences are
// labelled against it.
func (x *PromptIndex) Ambiguous(prompt string) bool { return len(x.sets[prompt]) > 1 }

// Identifiable reports whether the label of the current step of e, shown as
// prompt, can be told from the prompt: the step is not BlindInPrompt(e, cfg)
// and prompt is not Ambiguous in x (a nil x checks blindness only).
func (x *PromptIndex) Identifiable(e Env, prompt string, cfg PromptConfig) bool {
	return !BlindInPrompt(e, cfg) && (x == nil || !x.Ambiguous(prompt))
}

// Twins finds the pairs of distinct prompts of x whose word-token sequences
// (Tokens) are at most maxEdits token insertions, deletions or substitutions
// apart (Levenshtein distance over tokens) and that were added with
// different optimal sets (some optimal set of one is not an optimal set of
// the other). It returns the number of pairs and the prompts that are in at
// least one. maxEdits < 1 finds nothing.
//
// Candidates come from the pigeonhole filter of Pass-Join (Li, Deng, Wang,
// Feng 2011, "Pass-Join: a partition-based method for similarity joins",
// PVLDB 5(3)): split a sequence into maxEdits+1 segments; maxEdits edits leave
// one of them intact in the other sequence, shifted by at most maxEdits
// positions. Each candidate is then checked with the banded edit-distance
// recurrence, so the count is exact.
func (x *PromptIndex) Twins(maxEdits int) (pairs int, twinned map[string]bool) {
	twinned = map[string]bool{}
	if maxEdits < 1 || len(x.sets) == 0 {
		return 0, twinned
	}
	prompts := make([]string, 0, len(x.sets))
	for p := range x.sets {
		prompts = append(prompts, p)
	}
	slices.Sort(prompts)
	ids := map[string]int32{}
	seqs := make([][]int32, len(prompts))
	for i, p := range prompts {
		for _, t := range Tokens(p) {
			id, ok := ids[t]
			if !ok {
				id = int32(len(ids))
				ids[t] = id
			}
			seqs[i] = append(seqs[i], id)
		}
	}
	k := maxEdits
	hashes := make([][]uint64, len(seqs)) // prefix hashes
	maxLen := 0
	for i, s := range seqs {
		h := make([]uint64, len(s)+1)
		for j, t := range s {
			h[j+1] = h[j]*hashBase + uint64(t) + 1
		}
		hashes[i] = h
		maxLen = max(maxLen, len(s))
	}
	pow := make([]uint64, maxLen+1)
	pow[0] = 1
	for i := 1; i <= maxLen; i++ {
		pow[i] = pow[i-1] * hashBase
	}
	sub := func(i, from, to int) uint64 { return hashes[i][to] - hashes[i][from]*pow[to-from] }
	seg := func(n, i int) (int, int) { return i * n / (k + 1), (i + 1) * n / (k + 1) }
	type segKey struct {
		n, i int
		h    uint64
	}
	index := map[segKey][]int32{}
	short := map[int][]int32{} // sequences shorter than k+1 by length: an empty segment matches anything
	for p, s := range seqs {
		if len(s) <= k {
			short[len(s)] = append(short[len(s)], int32(p))
			continue
		}
		for i := 0; i <= k; i++ {
			a, b := seg(len(s), i)
			key := segKey{len(s), i, sub(p, a, b)}
			index[key] = append(index[key], int32(p))
		}
	}
	stamp := make([]int32, len(seqs))
	for i := range stamp {
		stamp[i] = -1
	}
	var row0, row1 []int
	for q, s := range seqs {
		// consider checks candidate p of length n <= len(s) once per q.
		consider := func(p int32, n int) {
			if int(p) == q || stamp[p] == int32(q) || (n == len(s) && int(p) > q) {
				return
			}
			stamp[p] = int32(q)
			if !differentSets(x.sets[prompts[p]], x.sets[prompts[q]]) {
				return
			}
			var ed int
			ed, row0, row1 = editsWithin(seqs[p], s, k, row0, row1)
			if ed <= k {
				pairs++
				twinned[prompts[p]], twinned[prompts[q]] = true, true
			}
		}
		for n := max(0, len(s)-k); n <= len(s); n++ {
			if n <= k {
				for _, p := range short[n] {
					consider(p, n)
				}
				continue
			}
			for i := 0; i <= k; i++ {
				a, b := seg(n, i)
				for d := -k; d <= k; d++ {
					if a+d < 0 || b+d > len(s) {
						continue
					}
					for _, p := range index[segKey{n, i, sub(q, a+d, b+d)}] {
						consider(p, n)
					}
				}
			}
		}
	}
	return pairs, twinned
}

const hashBase = 0x100000001b3 // an odd multiplier (the FNV-1a 64 prime)

// differentSets reports whether two sorted sets of optimal-set keys hold two
// different keys between them.
func differentSets(a, b []string) bool {
	if len(a) > 1 || len(b) > 1 {
		return true
	}
	return a[0] != b[0]
}

// editsWithin returns the Levenshtein distance of a and b when it is at most
// k, else k+1, with the dynamic programme restricted to the diagonal band of
// width 2k+1 (Ukkonen 1985, "Algorithms for approximate string matching",
// Inf. Control 64). row0 and row1 are scratch rows, returned for reuse.
func editsWithin(a, b []int32, k int, row0, row1 []int) (int, []int, []int) {
	if d := len(a) - len(b); d > k || -d > k {
		return k + 1, row0, row1
	}
	inf := k + 1
	n := len(b)
	row0 = slices.Grow(row0[:0], n+1)[:n+1]
	row1 = slices.Grow(row1[:0], n+1)[:n+1]
	for j := range row0 {
		row0[j] = min(j, inf)
	}
	for i := 1; i <= len(a); i++ {
		// Cells outside the band are inf; only the two next to it are read.
		lo, hi := max(1, i-k), min(n, i+k)
		row1[lo-1] = inf
		if lo == 1 {
			row1[0] = min(i, inf)
		}
		if hi < n {
			row1[hi+1] = inf
		}
		best := inf
		if lo == 1 {
			best = row1[0]
		}
		for j := lo; j <= hi; j++ {
			c := row0[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			c = min(c, row0[j]+1, row1[j-1]+1, inf)
			row1[j] = c
			best = min(best, c)
		}
		if best > k {
			return inf, row0, row1
		}
		row0, row1 = row1, row0
	}
	return min(row0[n], inf), row0, row1
}

// DefaultTwinEdits is the most token edits between twin prompts of a zero
// IdentifiabilityConfig.
const DefaultTwinEdits = 2

// IdentifiabilityConfig configures Identifiability. Zero values mean the
// defaults noted.
type IdentifiabilityConfig struct {
	Envs   []string // environments; nil means both
	Splits []string // splits; nil means all three
	Tasks  int      // tasks per split, seeds Seed..Seed+Tasks-1; 0 means DefaultStatsTasks
	Seed   uint64
	// Prompt is the prompt of the steps; its Memory is ignored: every split
	// is measured without and with the memory line.
	Prompt PromptConfig
	// TwinEdits is the most token edits between twin prompts; 0 means
	// DefaultTwinEdits.
	TwinEdits int
	// Level is the level of the Wilson intervals; 0 means 0.95.
	Level float64
}

// IdentifiabilityRow measures the oracle demonstrations (Demonstration) of
// one split, with or without the memory line. Shares are of steps, with
// Wilson score intervals (metrics.Wilson) at the configured level.
type IdentifiabilityRow struct {
	Env    string `parquet:"env" json:"env"`
	Split  string `parquet:"split" json:"split"`
	Memory bool   `parquet:"memory" json:"memory"`
	Tasks  int    `parquet:"tasks" json:"tasks"`
	Steps  int    `parquet:"steps" json:"steps"`
	// Search: the action goes to a place (household receptacle, lab room)
	// whose contents no observation so far described.
	Search float64 `parquet:"search" json:"search"`
	// Blind: Blind, relative to the whole observation history (the same
	// with and without memory: a prompt cannot show what was never seen).
	Blind   float64 `parquet:"blind" json:"blind"`
	BlindLo float64 `parquet:"blind_lo" json:"blind_lo"`
	BlindHi float64 `parquet:"blind_hi" json:"blind_hi"`
	// BlindPrompt: BlindInPrompt, relative to what the prompt shows (equal
	// to Blind with memory).
	BlindPrompt   float64 `parquet:"blind_prompt" json:"blind_prompt"`
	BlindPromptLo float64 `parquet:"blind_prompt_lo" json:"blind_prompt_lo"`
	BlindPromptHi float64 `parquet:"blind_prompt_hi" json:"blind_prompt_hi"`
	// Ambiguous: the step's prompt occurs in the split's demonstrations in a
	// state with a different optimal set.
	Ambiguous   float64 `parquet:"ambiguous" json:"ambiguous"`
	AmbiguousLo float64 `parquet:"ambiguous_lo" json:"ambiguous_lo"`
	AmbiguousHi float64 `parquet:"ambiguous_hi" json:"ambiguous_hi"`
	// Unidentifiable: blind in the prompt or ambiguous.
	Unidentifiable   float64 `parquet:"unidentifiable" json:"unidentifiable"`
	UnidentifiableLo float64 `parquet:"unidentifiable_lo" json:"unidentifiable_lo"`
	UnidentifiableHi float64 `parquet:"unidentifiable_hi" json:"unidentifiable_hi"`
	// TwinPairs: pairs of distinct prompts at most TwinEdits tokens apart
	// with different optimal sets (PromptIndex.Twins); Twinned the share of
	// steps whose prompt is in such a pair.
	TwinEdits int     `parquet:"twin_edits" json:"twin_edits"`
	TwinPairs int     `parquet:"twin_pairs" json:"twin_pairs"`
	Twinned   float64 `parquet:"twinned" json:"twinned"`
	TwinnedLo float64 `parquet:"twinned_lo" json:"twinned_lo"`
	TwinnedHi float64 `parquet:"twinned_hi" json:"twinned_hi"`
	// PromptMax is the longest prompt in word tokens.
	PromptMax int `parquet:"prompt_tokens_max" json:"prompt_tokens_max"`
}

// searcher is implemented by the bundled environments.
type searcher interface {
	// searches reports whether the admissible action i goes to a place whose
	// contents no observation so far described.
	searches(i int) bool
}

// idStep is one step of a demonstration as Identifiability sees it.
type idStep struct {
	prompts                      [2]string // without, with memory
	opt                          []string
	search, blind, blindInPrompt bool
}

// Identifiability measures, per environment and split of cfg, how many steps
// of the oracle demonstrations of cfg.Tasks tasks have a label the prompt
// cannot determine: two rows per split, without and with the memory line
// (PromptConfig.Memory).
func Identifiability(cfg IdentifiabilityConfig) ([]IdentifiabilityRow, error) {
	envs := cfg.Envs
	if envs == nil {
		envs = Names()
	}
	n := cfg.Tasks
	if n == 0 {
		n = DefaultStatsTasks
	}
	k := cfg.TwinEdits
	if k == 0 {
		k = DefaultTwinEdits
	}
	level := cfg.Level
	if level == 0 {
		level = 0.95
	}
	if !(level > 0 && level < 1) {
		return nil, fmt.Errorf("env: identifiability: level %v is not in (0, 1)", level)
	}
	splits := cfg.Splits
	if splits == nil {
		splits = Splits()
	}
	var rows []IdentifiabilityRow
	for _, name := range envs {
		for _, split := range splits {
			tasks, err := Tasks(name, split, cfg.Seed, n)
			if err != nil {
				return nil, err
			}
			var steps []idStep
			for _, task := range tasks {
				st, err := demoSteps(task, cfg.Prompt)
				if err != nil {
					return nil, err
				}
				steps = append(steps, st...)
			}
			for m := range 2 {
				rows = append(rows, identifyRow(name, split, len(tasks), m == 1, steps, k, level))
			}
		}
	}
	return rows, nil
}

// demoSteps plays the demonstration of task and records its steps.
func demoSteps(task Task, pcfg PromptConfig) ([]idStep, error) {
	demo, err := Demonstration(task)
	if err != nil {
		return nil, err
	}
	e, _, err := Start(task)
	if err != nil {
		return nil, err
	}
	mcfg := pcfg
	pcfg.Memory, mcfg.Memory = false, true
	var past []Turn
	var steps []idStep
	for _, a := range demo {
		s := idStep{prompts: [2]string{Prompt(e, past, pcfg), Prompt(e, past, mcfg)}, opt: OptimalActions(e)}
		s.blind, s.blindInPrompt = Blind(e), BlindInPrompt(e, pcfg)
		if sr, ok := e.(searcher); ok {
			s.search = sr.searches(indexOf(e.Admissible(), a))
		}
		steps = append(steps, s)
		past = append(past, Turn{Observation: e.Observation(), Action: a})
		e.Step(a)
	}
	return steps, nil
}

func identifyRow(name, split string, tasks int, memory bool, steps []idStep, k int, level float64) IdentifiabilityRow {
	m := 0
	if memory {
		m = 1
	}
	var x PromptIndex
	for _, s := range steps {
		x.Add(s.prompts[m], s.opt)
	}
	pairs, twinned := x.Twins(k)
	r := IdentifiabilityRow{Env: name, Split: split, Memory: memory, Tasks: tasks, Steps: len(steps), TwinEdits: k, TwinPairs: pairs}
	var search, blind, blindP, amb, unid, twin float64
	for _, s := range steps {
		p := s.prompts[m]
		r.PromptMax = max(r.PromptMax, len(Tokens(p)))
		bp := s.blindInPrompt
		if memory {
			bp = s.blind
		}
		a := x.Ambiguous(p)
		for _, c := range []struct {
			n  *float64
			on bool
		}{{&search, s.search}, {&blind, s.blind}, {&blindP, bp}, {&amb, a}, {&unid, a || bp}, {&twin, twinned[p]}} {
			if c.on {
				*c.n++
			}
		}
	}
	ns := float64(len(steps))
	if ns > 0 {
		r.Search = search / ns
	}
	set := func(c float64, p, lo, hi *float64) {
		iv := metrics.Wilson(c, ns, level)
		*p, *lo, *hi = iv.Point, iv.Lo, iv.Hi
	}
	set(blind, &r.Blind, &r.BlindLo, &r.BlindHi)
	set(blindP, &r.BlindPrompt, &r.BlindPromptLo, &r.BlindPromptHi)
	set(amb, &r.Ambiguous, &r.AmbiguousLo, &r.AmbiguousHi)
	set(unid, &r.Unidentifiable, &r.UnidentifiableLo, &r.UnidentifiableHi)
	set(twin, &r.Twinned, &r.TwinnedLo, &r.TwinnedHi)
	return r
}
