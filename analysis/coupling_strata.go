package analysis

import (
	"math"
	"math/rand/v2"

	"github.com/gradcouple/gradcouple/coupling"
	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/metrics"
	"gonum.org/v1/gonum/stat"
)

// StrataOptions tune the per-stratum coupling table (DESIGN.md §4, pair
// strata and nulls). The zero value means the defaults on each field.
type StrataOptions struct {
	// Null and Boot are the permutation-null and bootstrap draws per
	// statistic; 0 means 999 and 1000, negative none.
	Null, Boot int
	// TwinDistance is the largest normalised token edit distance of twin
	// prompts; 0 means 0.1 (coupling.StrataConfig).
	TwinDistance float64
	// RandomPairs is the size of the random stratum; 0 means 4096.
	RandomPairs int
	// Off skips the strata.
	Off bool
}

// DefaultEditEdges are the bands of normalised token edit similarity
// 1 - d/max(len) in which harmful coupling is reported; pairs below the
// first edge fall in [0, first edge) without their distance being computed.
var DefaultEditEdges = []float64{0, 0.8, 0.85, 0.9, 0.95, 1}

// DefaultHiddenEdges are the bands of hidden-state cosine (last prompt
// token, last layer) in which harmful coupling is reported.
var DefaultHiddenEdges = []float64{-1, 0.5, 0.8, 0.9, 0.95, 0.99, 1}

// maxBandCells bounds the edit-distance work of the similarity bands: DP
// cells of the banded Levenshtein (coupling.EditDistance with k =
// floor(0.2 max(len)), after the token-histogram lower bound has set aside
// the pairs that cannot reach the first edge), counted once per sample set
// since prompts do not change between checkpoints. 1<<29 cells take about a
// second; pairs beyond the bound are counted in TwinSearch.Unmeasured and
// left out of the edit bands.
const maxBandCells = 1 << 29

// StrataRow is the coupling of one stratum of sample pairs at one
// checkpoint: each statistic with its 95% bootstrap interval over samples,
// its permutation-null mean and its two-sided p-value (coupling.TestPairs;
// twins, same_state, same_action_label and random: partners shuffled
// within action and label inside the stratum; all: labels shuffled within
// action). Seed, Null and Boot record the draws.
type StrataRow struct {
	Run       string `parquet:"run"`
	Iteration int    `parquet:"iteration"`
	Stratum   string `parquet:"stratum"`
	Pairs     int    `parquet:"pairs"`
	Available int    `parquet:"available" text:"-"` // pairs of the stratum before the cap (random: distinct-state pairs)
	GoodGood  int    `parquet:"good_good" text:"-"`
	BadBad    int    `parquet:"bad_bad" text:"-"`
	GoodBad   int    `parquet:"good_bad" text:"-"`
	Eligible  int    `parquet:"harmful_pairs"`

	CosGood      float64 `parquet:"cos_good" text:"-"`
	CosGoodLo    float64 `parquet:"cos_good_lo" text:"-"`
	CosGoodHi    float64 `parquet:"cos_good_hi" text:"-"`
	CosGoodNull  float64 `parquet:"cos_good_null" text:"-"`
	CosGoodP     float64 `parquet:"cos_good_p" text:"-"`
	CosBad       float64 `parquet:"cos_bad" text:"-"`
	CosBadLo     float64 `parquet:"cos_bad_lo" text:"-"`
	CosBadHi     float64 `parquet:"cos_bad_hi" text:"-"`
	CosBadNull   float64 `parquet:"cos_bad_null" text:"-"`
	CosBadP      float64 `parquet:"cos_bad_p" text:"-"`
	CosGoodBad   float64 `parquet:"cos_good_bad"`
	CosGoodBadLo float64 `parquet:"cos_good_bad_lo" text:"-"`
	CosGoodBadHi float64 `parquet:"cos_good_bad_hi" text:"-"`
	CosGoodBadN  float64 `parquet:"cos_good_bad_null" text:"-"`
	CosGoodBadP  float64 `parquet:"cos_good_bad_p"`
	HarmfulRate  float64 `parquet:"harmful_rate"`
	HarmfulLo    float64 `parquet:"harmful_rate_lo"`
	HarmfulHi    float64 `parquet:"harmful_rate_hi"`
	HarmfulNull  float64 `parquet:"harmful_rate_null"`
	HarmfulP     float64 `parquet:"harmful_rate_p"`
	HarmfulMass  float64 `parquet:"harmful_mass" text:"-"`
	MassLo       float64 `parquet:"harmful_mass_lo" text:"-"`
	MassHi       float64 `parquet:"harmful_mass_hi" text:"-"`
	MassNull     float64 `parquet:"harmful_mass_null" text:"-"`
	MassP        float64 `parquet:"harmful_mass_p" text:"-"`
	// The measured effect, twins only and only where the model is at
	// hand (run directories, not stores or shards; NaN otherwise): over
	// the harmful-rate pairs (i good with A_i > 0, j its bad twin), the
	// change of log pi(a_j|s_j) after sample i's real step (eta A_i g_i
	// under the run's kernel, as the heatmap measures it): its mean and
	// the share of pairs where it is > 0, each with a 95% bootstrap
	// interval over pairs.
	Measured       float64 `parquet:"measured_delta"`
	MeasuredLo     float64 `parquet:"measured_delta_lo" text:"-"`
	MeasuredHi     float64 `parquet:"measured_delta_hi" text:"-"`
	MeasuredRaised float64 `parquet:"measured_raised"`
	RaisedLo       float64 `parquet:"measured_raised_lo" text:"-"`
	RaisedHi       float64 `parquet:"measured_raised_hi" text:"-"`

	Seed uint64 `parquet:"seed" text:"-"`
	Null int    `parquet:"null_draws" text:"-"`
	Boot int    `parquet:"boot_draws" text:"-"`
}

// BandRow is harmful coupling of the eligible pairs (i good with A_i > 0,
// j bad, distinct states) whose similarity lies in [Lo, Hi): Measure
// "edit" (normalised token edit similarity of the prompts) or "hidden"
// (cosine of the hidden states at the last prompt token).
type BandRow struct {
	Run         string  `parquet:"run"`
	Iteration   int     `parquet:"iteration"`
	Measure     string  `parquet:"measure"`
	Lo          float64 `parquet:"sim_lo"`
	Hi          float64 `parquet:"sim_hi"`
	Pairs       int     `parquet:"pairs"`
	HarmfulRate float64 `parquet:"harmful_rate"`
	HarmfulMass float64 `parquet:"harmful_mass"`
	MeanCosine  float64 `parquet:"mean_cosine"`
}

// TwinSearch reports how the twins of a sample set were found.
type TwinSearch struct {
	Twins, Candidates, Compared int
	Truncated                   bool
	// Unmeasured counts eligible pairs whose edit similarity was not
	// computed because the band work bound was reached.
	Unmeasured int
}

// strataSink classifies the samples' pairs once and collects the
// per-stratum rows of every checkpoint (the Gram changes, the pairs do not).
type strataSink struct {
	opts     StrataOptions
	seed     uint64
	actions  []int
	tokens   [][]int32
	found    coupling.StrataResult
	search   TwinSearch
	editSim  []float64 // per eligible pair, NaN below the first edge
	eligible []coupling.SamplePair
	rows     []StrataRow
	bands    []BandRow
	// The last checkpoint's Gram, for the hidden-state bands.
	last struct {
		run   string
		it    int
		k     []float32
		norms []float64
		adv   []float64
		eta   float64
	}
}

// tokenIDs maps the prompts' env.Tokens to shared ids for edit distances.
func tokenIDs(prompts []string) [][]int32 {
	ids := map[string]int32{}
	out := make([][]int32, len(prompts))
	for i, p := range prompts {
		for _, t := range env.Tokens(p) {
			id, ok := ids[t]
			if !ok {
				id = int32(len(ids))
				ids[t] = id
			}
			out[i] = append(out[i], id)
		}
	}
	return out
}

// actionIDs gives equal actions equal ids; nil actions give every sample
// its own id (no same-action pairs).
func actionIDs(actions []string, n int) []int {
	out := make([]int, n)
	idx := map[string]int{}
	for i := range n {
		if actions == nil {
			out[i] = i
			continue
		}
		v, ok := idx[actions[i]]
		if !ok {
			v = len(idx)
			idx[actions[i]] = v
		}
		out[i] = v
	}
	return out
}

// withStrata attaches a strata sink to meta: prompts (nil: no twins, no
// edit bands) and actions (nil: none known) of its samples.
func withStrata(meta sampleMeta, prompts, actions []string, opts StrataOptions, seed uint64) sampleMeta {
	if opts.Off {
		return meta
	}
	n := len(meta.labels)
	s := &strataSink{opts: opts, seed: seed, actions: actionIDs(actions, n)}
	if prompts != nil {
		s.tokens = tokenIDs(prompts)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5157))
	s.found = coupling.FindStrata(coupling.StrataInput{Labels: meta.labels, Actions: s.actions, States: meta.states, Tokens: s.tokens},
		coupling.StrataConfig{TwinDistance: opts.TwinDistance, RandomPairs: opts.RandomPairs}, rng)
	f := s.found
	s.search = TwinSearch{Twins: len(f.Pairs[coupling.Twin]), Candidates: f.Candidates, Compared: f.Compared, Truncated: f.Truncated}
	// Eligible pairs for the bands: i good with A_i > 0, j bad, distinct states.
	for i := range n {
		if meta.labels[i] != 1 || !(meta.adv[i] > 0) {
			continue
		}
		for j := range n {
			if meta.labels[j] == 0 && meta.states[i] != meta.states[j] {
				s.eligible = append(s.eligible, coupling.SamplePair{I: i, J: j})
			}
		}
	}
	if s.tokens != nil {
		lo := DefaultEditEdges[1]
		var cells int64
		s.editSim = make([]float64, len(s.eligible))
		for p, q := range s.eligible {
			a, b := s.tokens[q.I], s.tokens[q.J]
			k := int(math.Floor((1 - lo) * float64(max(len(a), len(b)))))
			if coupling.EditLowerBound(a, b) > k {
				s.editSim[p] = 0 // below the first band edge: [0, lo)
				continue
			}
			cost := int64(min(len(a), len(b))+1) * int64(2*k+1)
			if cells+cost > maxBandCells {
				s.editSim[p] = math.Inf(-1) // unmeasured
				s.search.Unmeasured++
				continue
			}
			cells += cost
			v := coupling.EditSimilarity(a, b, 1-lo)
			if math.IsNaN(v) {
				v = 0 // below the first band edge: [0, lo)
			}
			s.editSim[p] = v
		}
	}
	meta.strata = s
	return meta
}

// add computes the strata rows and the edit bands of one checkpoint from
// its Gram k and squared norms. A nil sink does nothing.
func (s *strataSink) add(row *CouplingRow, k []float32, norms []float64, meta sampleMeta, eta float64) {
	if s == nil {
		return
	}
	n := len(meta.labels)
	data := coupling.PairData{K: k, N: n, Norms: norms, Labels: meta.labels, Adv: meta.adv, States: meta.states, Actions: s.actions, Eta: eta}
	for si, st := range coupling.Strata {
		kind := coupling.NullPartners
		if st == coupling.All {
			kind = coupling.NullLabels
		}
		cfg := coupling.TestConfig{Null: s.opts.Null, Boot: s.opts.Boot, Seed: s.seed, Stream: uint64(row.Iteration)<<3 | uint64(si)}
		pt := coupling.TestPairs(data, s.found.Pairs[st], kind, cfg)
		t := pt.Tests
		r := StrataRow{Run: row.Run, Iteration: row.Iteration, Stratum: st.String(), Pairs: pt.Stats.Pairs, Available: s.found.Available[st],
			GoodGood: pt.Stats.GoodGood, BadBad: pt.Stats.BadBad, GoodBad: pt.Stats.GoodBad, Eligible: pt.Stats.Eligible,
			CosGood: t[0].Value, CosGoodLo: t[0].Lo, CosGoodHi: t[0].Hi, CosGoodNull: t[0].NullMean, CosGoodP: t[0].P,
			CosBad: t[1].Value, CosBadLo: t[1].Lo, CosBadHi: t[1].Hi, CosBadNull: t[1].NullMean, CosBadP: t[1].P,
			CosGoodBad: t[2].Value, CosGoodBadLo: t[2].Lo, CosGoodBadHi: t[2].Hi, CosGoodBadN: t[2].NullMean, CosGoodBadP: t[2].P,
			HarmfulRate: t[3].Value, HarmfulLo: t[3].Lo, HarmfulHi: t[3].Hi, HarmfulNull: t[3].NullMean, HarmfulP: t[3].P,
			HarmfulMass: t[4].Value, MassLo: t[4].Lo, MassHi: t[4].Hi, MassNull: t[4].NullMean, MassP: t[4].P,
			Measured: nan, MeasuredLo: nan, MeasuredHi: nan, MeasuredRaised: nan, RaisedLo: nan, RaisedHi: nan,
			Seed: s.seed, Null: drawsOr(s.opts.Null, 999), Boot: drawsOr(s.opts.Boot, 1000)}
		s.rows = append(s.rows, r)
	}
	if s.editSim != nil {
		s.bands = append(s.bands, bandRows(row.Run, row.Iteration, "edit", DefaultEditEdges, s.eligible, s.editSim, k, n, norms, meta.adv, eta)...)
	}
	s.last.run, s.last.it, s.last.k, s.last.norms, s.last.adv, s.last.eta = row.Run, row.Iteration, k, norms, meta.adv, eta
}

// hidden adds the hidden-state bands of the last checkpoint added, from
// the n hidden states (row length h) at the last prompt token.
func (s *strataSink) hidden(states []float64, h int) {
	if s == nil || s.last.k == nil {
		return
	}
	sim := make([]float64, len(s.eligible))
	for p, q := range s.eligible {
		sim[p] = cosine64(states[q.I*h:(q.I+1)*h], states[q.J*h:(q.J+1)*h])
	}
	n := len(s.last.adv)
	s.bands = append(s.bands, bandRows(s.last.run, s.last.it, "hidden", DefaultHiddenEdges, s.eligible, sim, s.last.k, n, s.last.norms, s.last.adv, s.last.eta)...)
}

func drawsOr(v, def int) int {
	if v == 0 {
		return def
	}
	return max(v, 0)
}

// bandRows bins the eligible pairs by sim (values outside the edges, such
// as -Inf for unmeasured pairs, are left out) and gives each band's harmful
// rate, mass and mean gradient cosine.
func bandRows(run string, it int, measure string, edges []float64, pairs []coupling.SamplePair, sim []float64, k []float32, n int, norms, adv []float64, eta float64) []BandRow {
	rows := make([]BandRow, len(edges)-1)
	var cos []float64
	for b := range rows {
		rows[b] = BandRow{Run: run, Iteration: it, Measure: measure, Lo: edges[b], Hi: edges[b+1]}
	}
	cos = make([]float64, len(rows))
	harm := make([]float64, len(rows))
	mass := make([]float64, len(rows))
	for p, q := range pairs {
		v := sim[p]
		b := -1
		for e := range rows {
			if v >= edges[e] && (v < edges[e+1] || e == len(rows)-1 && v == edges[e+1]) {
				b = e
				break
			}
		}
		if b < 0 {
			continue
		}
		kij := float64(k[q.I*n+q.J])
		d := eta * adv[q.I] * kij
		rows[b].Pairs++
		if d > 0 {
			harm[b]++
			mass[b] += d
		}
		if norms[q.I] > 0 && norms[q.J] > 0 {
			cos[b] += kij / math.Sqrt(norms[q.I]*norms[q.J])
		}
	}
	for b := range rows {
		p := float64(rows[b].Pairs)
		if rows[b].Pairs == 0 {
			p = math.NaN()
		}
		rows[b].HarmfulRate, rows[b].HarmfulMass, rows[b].MeanCosine = harm[b]/p, mass[b]/p, cos[b]/p
	}
	return rows
}

// probeStrata attaches the strata of a probe set's pairs to meta.
func probeStrata(meta sampleMeta, ps *ProbeSet, opts CouplingOptions) sampleMeta {
	prompts := make([]string, len(ps.Probes))
	actions := make([]string, len(ps.Probes))
	for i, p := range ps.Probes {
		prompts[i], actions[i] = p.Prompt, p.Action
	}
	return withStrata(meta, prompts, actions, opts.Strata, opts.Seed)
}

// fill copies the collected rows into rep. A nil sink does nothing.
// twinSteps are the twin pairs of the harmful rate, oriented (i good with
// A_i > 0, j bad).
func (s *strataSink) twinSteps(meta sampleMeta) []coupling.SamplePair {
	if s == nil {
		return nil
	}
	var out []coupling.SamplePair
	for _, p := range s.found.Pairs[coupling.Twin] {
		i, j := p.I, p.J
		if meta.labels[i] == 0 {
			i, j = j, i
		}
		if meta.labels[i] == 1 && meta.labels[j] == 0 && meta.adv[i] > 0 && meta.states[i] != meta.states[j] {
			out = append(out, coupling.SamplePair{I: i, J: j})
		}
	}
	return out
}

// measured fills the measured columns of the twins row of the checkpoint
// (run, it) from the measured changes of the twinSteps pairs, with
// percentile bootstrap intervals over pairs (Boot draws, stream seeded by
// the sink's seed and the iteration).
func (s *strataSink) measured(run string, it int, delta []float64) {
	if s == nil || len(delta) == 0 {
		return
	}
	for k := range s.rows {
		r := &s.rows[k]
		if r.Run != run || r.Iteration != it || r.Stratum != coupling.Twin.String() {
			continue
		}
		mean := func(x [][]float64) float64 { return stat.Mean(x[0], nil) }
		raised := func(x [][]float64) float64 {
			n := 0
			for _, v := range x[0] {
				if v > 0 {
					n++
				}
			}
			return float64(n) / float64(len(x[0]))
		}
		cfg := metrics.BootstrapConfig{Resamples: drawsOr(s.opts.Boot, 1000)}
		data := [][]float64{delta}
		r.Measured, r.MeasuredRaised = mean(data), raised(data)
		iv := metrics.StratifiedBootstrap(data, mean, cfg, rand.New(rand.NewPCG(s.seed, uint64(it)<<8|0x71)))
		r.MeasuredLo, r.MeasuredHi = iv.Lo, iv.Hi
		iv = metrics.StratifiedBootstrap(data, raised, cfg, rand.New(rand.NewPCG(s.seed, uint64(it)<<8|0x72)))
		r.RaisedLo, r.RaisedHi = iv.Lo, iv.Hi
	}
}

func (s *strataSink) fill(rep *CouplingReport) {
	if s == nil {
		return
	}
	rep.Strata, rep.Bands, rep.Twins = s.rows, s.bands, s.search
}
