package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gradcouple/gradcouple/coupling"
	"github.com/gradcouple/gradcouple/policy"
)

// DefaultEta is the step size of the first-order influence Delta_ij =
// eta A_i K_ij and of the measured one-sample step when CouplingOptions.Eta
// is 0. The harmful-coupling rate does not depend on it; the mass scales
// with it; the agreement of predicted and measured changes is a first-order
// statement, good while eta A_i K_ij << 1. Per-sample gradients of the
// bundled actor (d 64, 2 layers) have squared norms of 10^2 to 10^3, where
// eta = 1e-5 gives Pearson r > 0.999 and relative errors near 1e-2 (the
// error shrinks in proportion to eta; README-analysis.md).
const DefaultEta = 1e-5

// DefaultSimEdges are the bins of prompt token Jaccard similarity in which
// harmful coupling is reported.
var DefaultSimEdges = []float64{0, 0.5, 0.6, 0.7, 0.8, 0.9, 1}

// CouplingOptions tune the coupling analyses. The zero value means the
// defaults written on each field.
type CouplingOptions struct {
	// Checkpoints are the iterations analysed in every run; none means
	// every checkpoint.
	Checkpoints []int
	// Tensors restricts the per-sample gradients to these parameter
	// tensors (policy's Model.Select names); none means every parameter.
	// The measured one-sample step then moves only these tensors, so that
	// prediction and measurement refer to the same gradient.
	Tensors []string
	// Eta is the step size; 0 means DefaultEta.
	Eta float64
	// Kernel is the optimizer whose first-order step defines coupling,
	// K_ij = <g_i, P g_j> (coupling.Kernel): "sgd" (P = I) or "adam" (P
	// from the checkpoint's Adam moments, coupling.AdamStep); "" means the
	// run's optimizer, adam for runs of the bundled trainer.
	Kernel string
	// LogProb is the log pi the probe gradients differentiate:
	// LogProbTrained (""), the trainer's constrained log pi with forced
	// tokens dropped, or LogProbFull, the full-vocabulary log pi.
	LogProb string
	// Project, if positive, replaces each gradient row by a seeded random
	// projection to Project dimensions (coupling.Projection, Rademacher,
	// JL scaling) before the statistics; rows are projected as they are
	// computed, so only N x Project floats are held. The heatmap always
	// uses the exact gradients.
	Project     int
	ProjectSeed uint64
	// MaxBytes is the memory budget of the dense matrices held at once (the
	// N x D gradient rows and the N x N Gram, float32); 0 means
	// coupling.DefaultMaxBytes, negative no limit. A larger analysis is
	// refused with an error matching coupling.ErrTooLarge that names the
	// ways around it.
	MaxBytes int64
	// SimEdges are the prompt-similarity bins; nil means DefaultSimEdges.
	SimEdges []float64
	// Seed seeds the linear probes' folds.
	Seed uint64
	// Workers bounds the goroutines of the Gram; 0 means GOMAXPROCS.
	Workers int
	// ChunkBytes bounds the gradient rows computed (or read) at once before
	// they are projected or stored; 0 means 64 MiB.
	ChunkBytes int
	// Shard, if set, writes the Gram tiles of one shard per checkpoint
	// instead of the statistics (MergeShards combines them).
	Shard *ShardOptions
	// Export, if set, also writes each checkpoint's exact per-sample
	// gradients of the probes as a gradient store.
	Export *ExportOptions
	// Progress, if not nil, is told what is being done.
	Progress func(what string)
	// Strata tune the per-stratum table with its nulls and intervals
	// (coupling_strata.go); they are seeded with Seed.
	Strata StrataOptions
}

func (o CouplingOptions) eta() float64 {
	if o.Eta == 0 {
		return DefaultEta
	}
	return o.Eta
}

func (o CouplingOptions) edges() []float64 {
	if o.SimEdges == nil {
		return DefaultSimEdges
	}
	return o.SimEdges
}

func (o CouplingOptions) maxBytes() int64 {
	if o.MaxBytes == 0 {
		return coupling.DefaultMaxBytes
	}
	return o.MaxBytes
}

func (o CouplingOptions) chunkBytes() int {
	if o.ChunkBytes <= 0 {
		return 64 << 20
	}
	return o.ChunkBytes
}

func (o CouplingOptions) progress(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(fmt.Sprintf(format, args...))
	}
}

// CouplingRow is the coupling of one checkpoint (or gradient store): group
// coupling, harmful coupling, coupling of similar-state pairs, representation
// separation and the agreement of predicted and measured influence. Fields
// that do not apply (no model for an external store, no heatmap samples) are
// NaN.
type CouplingRow struct {
	Run       string `parquet:"run"`
	Iteration int    `parquet:"iteration"`
	// Kernel is the coupling kernel of the Gram, the harmful coupling and
	// the heatmap: sgd, adam or diagonal (CouplingOptions.Kernel).
	Kernel string `parquet:"kernel"`
	// LogProb is the log pi of the gradients: trained or full.
	LogProb string `parquet:"logprob" text:"-"`
	N       int    `parquet:"n"`   // probes (rows)
	Dim     int    `parquet:"dim"` // gradient length (Project when projected)
	// Mean cosines of the per-sample gradients within good, within bad and
	// across good x bad (coupling.GroupMeans), and the mean inner products.
	CosGood     float64 `parquet:"cos_good"`
	CosBad      float64 `parquet:"cos_bad"`
	CosGoodBad  float64 `parquet:"cos_good_bad"`
	InnerGood   float64 `parquet:"inner_good" text:"-"`
	InnerBad    float64 `parquet:"inner_bad" text:"-"`
	InnerGoodBd float64 `parquet:"inner_good_bad" text:"-"`
	// Harmful coupling (coupling.HarmfulCoupling at Eta): ordered pairs (i
	// good with A_i > 0, j bad in another state), the share with Delta_ij >
	// 0, the mean positive Delta per pair, and the mean Delta.
	Pairs       int     `parquet:"harmful_pairs" text:"-"`
	HarmfulRate float64 `parquet:"harmful_rate"`
	HarmfulMass float64 `parquet:"harmful_mass"`
	NetDelta    float64 `parquet:"net_delta" text:"-"`
	// Mean gradient cosine of the similar-state pairs of the probe set, by
	// prompt Jaccard and by hidden-state cosine, and the mean hidden-state
	// cosine (last prompt token) of the Jaccard pairs at this checkpoint.
	PairCosJaccard float64 `parquet:"pair_cos_jaccard"`
	PairCosHidden  float64 `parquet:"pair_cos_hidden" text:"-"`
	PairHiddenCos  float64 `parquet:"pair_hidden_cos" text:"-"`
	// Representation separation of good and bad probes at the last prompt
	// token and at the verdict marker (last layer): Fisher ratio per sample
	// (J / n), cosine silhouette, cross-validated linear-probe accuracy.
	FisherState     float64 `parquet:"fisher_state" text:"-"`
	SilhouetteState float64 `parquet:"silhouette_state" text:"-"`
	ProbeState      float64 `parquet:"probe_acc_state"`
	FisherVerdict   float64 `parquet:"fisher_verdict" text:"-"`
	SilhouetteVerd  float64 `parquet:"silhouette_verdict" text:"-"`
	ProbeVerdict    float64 `parquet:"probe_acc_verdict"`
	// The same at the positions that feed the action tokens and <eos>
	// (P-1..P+A-1, mean over positions, last layer; policy.ActionHidden),
	// where the policy gradient enters the network.
	FisherAction     float64 `parquet:"fisher_action" text:"-"`
	SilhouetteAction float64 `parquet:"silhouette_action" text:"-"`
	ProbeAction      float64 `parquet:"probe_acc_action" text:"-"`
	// Agreement of the heatmap's predicted Delta_ij = eta A_i K_ij and the
	// measured change of log pi(a_j|s_j) after the step theta + eta A_i g_i:
	// Pearson correlation, relative L2 error |meas - pred| / |meas|, and the
	// least-squares slope of measured on predicted.
	HeatPearson float64 `parquet:"heat_pearson"`
	HeatRelErr  float64 `parquet:"heat_rel_err"`
	HeatSlope   float64 `parquet:"heat_slope" text:"-"`
	// HeatScale is the largest |predicted Delta| of the heatmap: first
	// order holds while it is small (say below 0.05).
	HeatScale float64 `parquet:"heat_scale" text:"-"`
	Seconds   float64 `parquet:"seconds"`
}

// SimilarityRow is harmful coupling restricted to pairs of probes whose
// prompts have a token Jaccard similarity in [Lo, Hi).
type SimilarityRow struct {
	Run         string  `parquet:"run"`
	Iteration   int     `parquet:"iteration"`
	Lo          float64 `parquet:"sim_lo"`
	Hi          float64 `parquet:"sim_hi"`
	Pairs       int     `parquet:"pairs"`
	HarmfulRate float64 `parquet:"harmful_rate"`
	HarmfulMass float64 `parquet:"harmful_mass"`
	NetDelta    float64 `parquet:"net_delta"`
	MeanCosine  float64 `parquet:"mean_cosine"`
}

// HeatRow is one cell of the heatmap (paper Fig. 3b): the step that rewards
// good sample I (theta' = theta + eta A_I g_I) and its effect on bad sample J.
type HeatRow struct {
	Run        string  `parquet:"run"`
	Iteration  int     `parquet:"iteration"`
	I          int     `parquet:"i"` // probe index of the good sample
	J          int     `parquet:"j"` // probe index of the bad sample
	GoodAction string  `parquet:"good_action"`
	BadAction  string  `parquet:"bad_action"`
	AdvI       float64 `parquet:"adv_i"`
	Jaccard    float64 `parquet:"jaccard"`
	Cosine     float64 `parquet:"cosine"`
	Kernel     string  `parquet:"kernel"`    // the kernel of Inner, Cosine and Predicted
	Inner      float64 `parquet:"inner"`     // K_IJ = <g_I, P g_J>, float64
	Predicted  float64 `parquet:"predicted"` // eta A_I c K_IJ (c = 1 for sgd)
	Measured   float64 `parquet:"measured"`  // log pi'(a_J|s_J) - log pi(a_J|s_J)
}

// CouplingReport is the result of Coupling and CouplingStore.
type CouplingReport struct {
	Rows  []CouplingRow
	BySim []SimilarityRow
	Heat  []HeatRow
	// Strata is the coupling per pair stratum with intervals and nulls,
	// Bands harmful coupling by edit and hidden-state similarity, Twins how
	// the twins were found (coupling_strata.go).
	Strata []StrataRow
	Bands  []BandRow
	Twins  TwinSearch
	// Tensors is the coupling by group of parameter tensors
	// (coupling_tensors.go; exact gradients only, not with Project).
	Tensors []TensorRow
	// Shards and Exports list the files written (shard and export modes).
	Shards []string
	// Kept counts the shard files found finished and not computed again.
	Kept    int
	Exports []string
	// Unknown counts probe tokens out of a checkpoint's vocabulary.
	Unknown int
	// FullLogProb counts the probes kept at the full-vocabulary log pi
	// under LogProbTrained: their prompt lists no admissible actions or
	// their action is not among them (coupling_kernel.go).
	FullLogProb int
}

// nan is a NaN for fields that do not apply.
var nan = math.NaN()

func emptyRow(run string, it, n, dim int) CouplingRow {
	return CouplingRow{Run: run, Iteration: it, N: n, Dim: dim,
		CosGood: nan, CosBad: nan, CosGoodBad: nan, InnerGood: nan, InnerBad: nan, InnerGoodBd: nan,
		HarmfulRate: nan, HarmfulMass: nan, NetDelta: nan,
		PairCosJaccard: nan, PairCosHidden: nan, PairHiddenCos: nan,
		FisherState: nan, SilhouetteState: nan, ProbeState: nan, FisherVerdict: nan, SilhouetteVerd: nan, ProbeVerdict: nan,
		FisherAction: nan, SilhouetteAction: nan, ProbeAction: nan,
		HeatPearson: nan, HeatRelErr: nan, HeatSlope: nan, HeatScale: nan}
}

// sampleMeta is what the statistics need to know about the rows.
type sampleMeta struct {
	labels []int8
	adv    []float64
	states []int
	sim    func(i, j int) float64 // nil: no prompts
	pairs  []ProbePair
	strata *strataSink // nil: no strata
}

func probeMeta(ps *ProbeSet) sampleMeta {
	jac := newJaccardIndex(ps.Probes)
	return sampleMeta{labels: ps.Labels(), adv: ps.Advantages(), states: ps.States(), sim: jac.at, pairs: ps.Pairs}
}

// budgetError is the refusal of an analysis that does not fit the budget.
func budgetError(n, dim int, budget int64) error {
	need := 4 * (int64(n)*int64(dim) + int64(n)*int64(n))
	return fmt.Errorf("%w: %d samples x %d gradient coordinates need %.1f MB for the rows and the %d x %d Gram, more than the budget of %.1f MB; "+
		"use --project K (e.g. 4096) to keep N x K rows, --tensors to restrict the parameters, fewer samples, "+
		"--shard i/n with `gradcouple merge` to split the Gram, or raise --max-bytes",
		coupling.ErrTooLarge, n, dim, float64(need)/1e6, n, n, float64(budget)/1e6)
}

// checkBudget refuses n rows of dim coordinates plus their Gram (or, in
// shard mode, one shard's tiles) above the budget.
func checkBudget(n, dim int, opts CouplingOptions) error {
	b := opts.maxBytes()
	if b < 0 {
		return nil
	}
	gram := int64(n) * int64(n)
	if opts.Shard != nil {
		gram = 0 // tiles stream to disk
	}
	if 4*(int64(n)*int64(dim)+gram) > b {
		return budgetError(n, dim, b)
	}
	return nil
}

// gramStats fills the gradient-only statistics of row from the n rows of g
// (length dim): group means, the Gram, harmful coupling overall and by
// prompt similarity, and the gradient cosine of the probe set's pairs.
func gramStats(row *CouplingRow, g []float32, n, dim int, meta sampleMeta, opts CouplingOptions) ([]SimilarityRow, error) {
	gs := coupling.GroupMeans(g, n, dim, coupling.GoodBadGroups(nil, meta.labels), 2)
	gc := coupling.GramConfig{MaxBytes: opts.maxBytes(), Workers: opts.Workers}
	k, err := coupling.Gram(nil, g, n, dim, gc)
	if err != nil {
		if errors.Is(err, coupling.ErrTooLarge) {
			return nil, budgetError(n, dim, opts.maxBytes())
		}
		return nil, err
	}
	return kernelStats(row, k, coupling.SquaredNorms(nil, g, n, dim), gs, n, meta, opts), nil
}

// kernelStats fills the statistics of row from the n x n kernel matrix k
// (inner products of the samples' gradients), the squared norms (its
// diagonal, in float64 when the rows were at hand) and the group means gs.
func kernelStats(row *CouplingRow, k []float32, norms []float64, gs coupling.GroupStats, n int, meta sampleMeta, opts CouplingOptions) []SimilarityRow {
	row.CosGood, row.CosBad, row.CosGoodBad = gs.Mean(coupling.GroupGood, coupling.GroupGood), gs.Mean(coupling.GroupBad, coupling.GroupBad), gs.Mean(coupling.GroupGood, coupling.GroupBad)
	row.InnerGood, row.InnerBad, row.InnerGoodBd = gs.Inner[0], gs.Inner[3], gs.Inner[1]
	hc := coupling.HarmfulConfig{Eta: opts.eta(), Advantages: meta.adv, Labels: meta.labels, States: meta.states}
	if meta.sim != nil {
		hc.Similarity, hc.Edges = meta.sim, opts.edges()
	}
	h := coupling.HarmfulCoupling(k, n, norms, hc)
	row.Pairs, row.HarmfulRate, row.HarmfulMass, row.NetDelta = h.Pairs, h.Rate, h.Mass, h.Net
	meta.strata.add(row, k, norms, meta, opts.eta())
	var bins []SimilarityRow
	for _, b := range h.Bins {
		bins = append(bins, SimilarityRow{Run: row.Run, Iteration: row.Iteration, Lo: b.Lo, Hi: b.Hi, Pairs: b.Pairs,
			HarmfulRate: b.Rate, HarmfulMass: b.Mass, NetDelta: b.Net, MeanCosine: b.MeanCosine})
	}
	cos := func(a, b int) float64 {
		if norms[a] == 0 || norms[b] == 0 {
			return 0
		}
		return float64(k[a*n+b]) / math.Sqrt(norms[a]*norms[b])
	}
	row.PairCosJaccard, row.PairCosHidden = meanPairs(meta.pairs, "jaccard", cos), meanPairs(meta.pairs, "hidden", cos)
	return bins
}

// meanPairs is the mean of f over the pairs of a kind (NaN without any).
func meanPairs(pairs []ProbePair, kind string, f func(a, b int) float64) float64 {
	var s float64
	n := 0
	for _, p := range pairs {
		if p.Kind == kind {
			s += f(p.A, p.B)
			n++
		}
	}
	if n == 0 {
		return nan
	}
	return s / float64(n)
}

// Coupling analyses every checkpoint (opts.Checkpoints) of every run with
// the one probe set ps (DESIGN.md §4): per checkpoint the exact per-sample
// gradients g_n = grad log pi(a_n|s_n) of the probes (over opts.Tensors),
// their group coupling, harmful coupling overall and by prompt similarity,
// the coupling of similar-state pairs, the representation separation of
// good and bad probes, and the heatmap of predicted and measured influence.
// In shard mode (opts.Shard) it writes Gram tiles instead; opts.Export also
// writes the gradients. On error no file is left: the shards and exports
// of the checkpoints done before the failure are removed.
func Coupling(ctx context.Context, runs []Run, ps *ProbeSet, opts CouplingOptions) (_ *CouplingReport, err error) {
	rep := &CouplingReport{}
	defer func() {
		if err != nil {
			rep.removeFiles()
		}
	}()
	meta := probeStrata(probeMeta(ps), ps, opts)
	for _, run := range runs {
		its, err := run.selectCheckpoints(opts.Checkpoints)
		if err != nil {
			return nil, err
		}
		for _, it := range its {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if err := couplingCheckpoint(ctx, rep, run, it, ps, meta, opts); err != nil {
				return nil, err
			}
		}
	}
	meta.strata.fill(rep)
	return rep, nil
}

// couplingCheckpoint analyses one checkpoint and appends its rows to rep.
func couplingCheckpoint(ctx context.Context, rep *CouplingReport, run Run, it int, ps *ProbeSet, meta sampleMeta, opts CouplingOptions) error {
	start := time.Now()
	dir := run.CheckpointDir(it)
	if so := opts.Shard; so != nil && opts.Export == nil {
		// A finished task is not done again: a re-submitted array task
		// (or a whole re-submitted array) only computes what is missing.
		path := filepath.Join(so.Dir, shardName(shardSource{Run: run.Name, Dir: run.Dir, Iteration: it, Checkpoint: dir}, so.Index, so.Count))
		if shardComplete(path, so.Index, so.Count, meta.labels, meta.adv) {
			opts.progress("%s iteration %d: shard %d of %d already written, kept", run.Name, it, so.Index, so.Count)
			rep.Shards = append(rep.Shards, path)
			rep.Kept++
			return nil
		}
	}
	m, tok, err := policy.Load(dir)
	if err != nil {
		return &RunError{Dir: run.Dir, Msg: fmt.Sprintf("checkpoint of iteration %d: %v", it, err), Err: err}
	}
	sel, err := m.Select(opts.Tensors...)
	if err != nil {
		return &RunError{Dir: dir, Msg: "tensors: " + strings.TrimPrefix(err.Error(), "policy: "), Err: err}
	}
	seqs, err := encodeProbes(ps, m, tok)
	if err != nil {
		return &RunError{Dir: dir, Msg: err.Error(), Err: err}
	}
	for _, s := range seqs {
		for _, ids := range [][]int{s.Prompt, s.Action} {
			for _, id := range ids {
				if id == policy.UnkID {
					rep.Unknown++
				}
			}
		}
	}
	n, D := len(seqs), m.SelectionDim(sel)
	dim := D
	if opts.Project > 0 {
		dim = opts.Project
	}
	if err := checkBudget(n, dim, opts); err != nil {
		return err
	}
	opts.progress("%s iteration %d: %d per-sample gradients of %d parameters", run.Name, it, n, D)
	terms, logprob, err := probeTerms(rep, run, ps, seqs, tok, opts)
	if err != nil {
		return &RunError{Dir: dir, Msg: err.Error(), Err: err}
	}
	kname, err := kernelName(opts.Kernel)
	if err != nil {
		return err
	}
	kern, err := loadKernel(dir, m, opts.Tensors, kname)
	if err != nil {
		return &RunError{Dir: dir, Msg: "kernel " + string(kname) + ": " + err.Error(), Err: err}
	}
	g := make([]float32, n*dim)
	logp := make([]float64, n)
	var proj *coupling.Projection
	if opts.Project > 0 {
		proj = &coupling.Projection{D: D, K: opts.Project, Kind: coupling.Rademacher, Seed: opts.ProjectSeed, Workers: opts.Workers}
	}
	chunk := max(1, min(n, opts.chunkBytes()/(4*max(D, 1))))
	produce := func(emit func(rows []float32) error) error {
		buf := make([]float32, chunk*D)
		for lo := 0; lo < n; lo += chunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			hi := min(n, lo+chunk)
			rows := m.PerSampleGrads32Values(buf[:(hi-lo)*D], logp[lo:hi], terms[lo:hi], sel)
			if emit != nil { // exports hold the plain gradients
				if err := emit(rows); err != nil {
					return err
				}
			}
			kern.scale(rows, hi-lo) // sqrt(P) g: the Gram of the rows is the kernel's
			if proj != nil {
				proj.Project(g[lo*dim:hi*dim], rows, hi-lo)
			} else {
				copy(g[lo*dim:hi*dim], rows)
			}
		}
		return nil
	}
	if opts.Export != nil {
		path, err := exportCheckpoint(run, it, ps, m, opts, n, D, logp, produce)
		if err != nil {
			return err
		}
		rep.Exports = append(rep.Exports, path...)
	} else if err := produce(nil); err != nil {
		return err
	}
	row := emptyRow(run.Name, it, n, dim)
	row.Kernel, row.LogProb = string(kern.name), logprob
	kopts := opts
	kopts.Eta = opts.eta() * kern.gain // Delta_ij = eta A_i c K_ij in log-pi units
	if opts.Shard != nil {
		files, err := writeShard(g, n, dim, meta, shardSource{Run: run.Name, Dir: run.Dir, Iteration: it, Checkpoint: dir}, kopts, string(kern.name))
		if err != nil {
			return err
		}
		rep.Shards = append(rep.Shards, files)
		return nil
	}
	opts.progress("%s iteration %d: coupling statistics", run.Name, it)
	bins, err := gramStats(&row, g, n, dim, meta, kopts)
	if err != nil {
		return err
	}
	rep.BySim = append(rep.BySim, bins...)
	if opts.Project == 0 {
		opts.progress("%s iteration %d: coupling by tensor group", run.Name, it)
		trows, err := tensorStats(run.Name, it, m, g, n, dim, terms, kern.sqrt, meta, kopts)
		if err != nil {
			return &RunError{Dir: dir, Msg: "tensor groups: " + err.Error(), Err: err}
		}
		rep.Tensors = append(rep.Tensors, trows...)
	}

	// Representation separation and the hidden-state cosine of the pairs.
	h := m.Config().Dim
	layer := m.Config().Layers
	states := m.Hidden(nil, seqs, layer, policy.LastPrompt)
	meta.strata.hidden(states, h)
	verdict := m.Hidden(nil, seqs, layer, policy.AtVerdict)
	labels := meta.labels
	row.FisherState = coupling.FisherRatio(states, n, h, labels, coupling.FisherConfig{}) / float64(n)
	row.FisherVerdict = coupling.FisherRatio(verdict, n, h, labels, coupling.FisherConfig{}) / float64(n)
	row.SilhouetteState = coupling.Silhouette(states, n, h, labels, coupling.SilhouetteConfig{})
	row.SilhouetteVerd = coupling.Silhouette(verdict, n, h, labels, coupling.SilhouetteConfig{})
	if pr, err := coupling.LinearProbe(states, n, h, labels, coupling.ProbeConfig{}, rand.New(rand.NewPCG(opts.Seed, uint64(it)))); err == nil {
		row.ProbeState = pr.Accuracy
	}
	if pr, err := coupling.LinearProbe(verdict, n, h, labels, coupling.ProbeConfig{}, rand.New(rand.NewPCG(opts.Seed, uint64(it)))); err == nil {
		row.ProbeVerdict = pr.Accuracy
	}
	actionSeparation(&row, m, seqs, labels, opts.Seed, it)
	row.PairHiddenCos = meanPairs(meta.pairs, "jaccard", func(a, b int) float64 {
		return cosine64(states[a*h:(a+1)*h], states[b*h:(b+1)*h])
	})

	// The heatmap: predicted and measured influence of one-sample steps.
	heat, err := heatmap(m, seqs, terms, sel, opts.Tensors, ps, meta, logp, opts.eta(), kern)
	if err != nil {
		return err
	}
	if pairs := meta.strata.twinSteps(meta); len(pairs) > 0 {
		opts.progress("%s iteration %d: measured steps of %d twin pairs", run.Name, it, len(pairs))
		meta.strata.measured(run.Name, it, measureSteps(m, seqs, terms, sel, opts.Tensors, pairs, meta.adv, logp, opts.eta(), kern))
	}
	for i := range heat {
		heat[i].Run, heat[i].Iteration, heat[i].Kernel = run.Name, it, string(kern.name)
	}
	rep.Heat = append(rep.Heat, heat...)
	row.HeatPearson, row.HeatRelErr, row.HeatSlope = HeatAgreement(heat)
	if len(heat) > 0 {
		row.HeatScale = 0
		for _, h := range heat {
			row.HeatScale = max(row.HeatScale, math.Abs(h.Predicted))
		}
	}
	row.Seconds = time.Since(start).Seconds()
	rep.Rows = append(rep.Rows, row)
	return nil
}

// heatmap computes, for the heatmap's good samples i and bad samples j, the
// first-order prediction Delta_ij = eta A_i c K_ij under the kernel k
// (K_ij = <g_i, P g_j>, exact float64 gradients over the selected tensors;
// c = 1 and P = I for sgd, coupling.AdamStep's gain and preconditioner for
// adam) and the measured change of log pi(a_j|s_j) after sample i's real
// step applied to a copy of the model (stepper: theta + eta A_i g_i for sgd;
// for adam the change Delta(G) - Delta(0) of the trainer's Adam update that
// the sample's loss gradient G = -eta A_i g_i causes; only the selected
// tensors move).
func heatmap(m *policy.Model, seqs []policy.Seq, terms []policy.Term, sel policy.Selection, tensors []string,
	ps *ProbeSet, meta sampleMeta, logp []float64, eta float64, kern *probeKernel) ([]HeatRow, error) {
	good, bad := ps.Heat()
	if len(good) == 0 || len(bad) == 0 {
		return nil, nil
	}
	idx := append(append([]int{}, good...), bad...)
	sub := make([]policy.Term, len(idx))
	for k, i := range idx {
		sub[k] = terms[i]
	}
	D := m.SelectionDim(sel)
	g := m.PerSampleGrads(nil, sub, sel)
	pairs := make([]coupling.SamplePair, 0, len(good)*len(bad))
	for _, i := range good {
		for _, j := range bad {
			pairs = append(pairs, coupling.SamplePair{I: i, J: j})
		}
	}
	measured := measureSteps(m, seqs, terms, sel, tensors, pairs, meta.adv, logp, eta, kern)
	var rows []HeatRow
	for a, i := range good {
		gi := g[a*D : (a+1)*D]
		step := eta * meta.adv[i]
		for b, j := range bad {
			gj := g[(len(good)+b)*D : (len(good)+b+1)*D]
			k, ni, nj := kern.inner(gi, gj)
			c := 0.0
			if ni > 0 && nj > 0 {
				c = k / math.Sqrt(ni*nj)
			}
			jac := nan
			if meta.sim != nil {
				jac = meta.sim(i, j)
			}
			rows = append(rows, HeatRow{I: i, J: j, GoodAction: ps.Probes[i].Action, BadAction: ps.Probes[j].Action,
				AdvI: meta.adv[i], Jaccard: jac, Cosine: c, Inner: k, Predicted: step * kern.gain * k, Measured: measured[a*len(bad)+b]})
		}
	}
	return rows, nil
}

// measureSteps returns, for each pair (i, j), the measured change of
// log pi(a_j|s_j) after sample i's real step applied to a copy of the model
// (stepper: theta + eta A_i g_i for sgd; for adam the change of the
// trainer's Adam update that the sample's loss gradient -eta A_i g_i
// causes; only the selected tensors move); logp holds log pi(a_j|s_j) at
// theta. Pairs of one i share its step; i's gradient is computed once.
func measureSteps(m *policy.Model, seqs []policy.Seq, terms []policy.Term, sel policy.Selection, tensors []string,
	pairs []coupling.SamplePair, adv, logp []float64, eta float64, kern *probeKernel) []float64 {
	var good []int
	partners := map[int][]int{} // i -> indices into pairs
	for k, p := range pairs {
		if _, ok := partners[p.I]; !ok {
			good = append(good, p.I)
		}
		partners[p.I] = append(partners[p.I], k)
	}
	sub := make([]policy.Term, len(good))
	for k, i := range good {
		sub[k] = terms[i]
	}
	D := m.SelectionDim(sel)
	g := m.PerSampleGrads(nil, sub, sel)
	st := newStepper(kern, m, tensors)
	clone := m.Clone()
	out := make([]float64, len(pairs))
	for a, i := range good {
		ks := partners[i]
		js := make([]policy.Seq, len(ks))
		for b, k := range ks {
			js[b] = seqs[pairs[k].J]
		}
		after := make([]float64, len(ks))
		st.apply(clone, g[a*D:(a+1)*D], eta*adv[i])
		clone.LogProbs(after, js)
		for b, k := range ks {
			out[k] = after[b] - logp[pairs[k].J]
		}
	}
	return out
}

// selectedRanges returns the (offset in Params, size) of the tensors that
// names select in m, in the flat order (selectedTensors).
func selectedRanges(m *policy.Model, names []string) [][2]int {
	var out [][2]int
	for _, t := range selectedTensors(m, names) {
		out = append(out, [2]int{t.Offset, t.Size})
	}
	return out
}

// HeatAgreement measures how well the heatmap's first-order predictions
// match the measured changes: the Pearson correlation r, the relative error
// |measured - predicted|_2 / |measured|_2 and the least-squares slope of
// measured on predicted (1 for perfect agreement). Fewer than two cells
// give NaN.
func HeatAgreement(rows []HeatRow) (pearson, relErr, slope float64) {
	if len(rows) < 2 {
		return nan, nan, nan
	}
	var mp, mm float64
	for _, r := range rows {
		mp += r.Predicted
		mm += r.Measured
	}
	n := float64(len(rows))
	mp /= n
	mm /= n
	var spp, smm, spm, diff, meas, pp, pm float64
	for _, r := range rows {
		dp, dm := r.Predicted-mp, r.Measured-mm
		spp += dp * dp
		smm += dm * dm
		spm += dp * dm
		e := r.Measured - r.Predicted
		diff += e * e
		meas += r.Measured * r.Measured
		pp += r.Predicted * r.Predicted
		pm += r.Predicted * r.Measured
	}
	pearson, relErr, slope = nan, nan, nan
	if spp > 0 && smm > 0 {
		pearson = spm / math.Sqrt(spp*smm)
	}
	if meas > 0 {
		relErr = math.Sqrt(diff / meas)
	}
	if pp > 0 {
		slope = pm / pp
	}
	return pearson, relErr, slope
}

// removeFiles removes the shard and export files listed in rep (after a
// failure, so that no partial output is left).
func (rep *CouplingReport) removeFiles() {
	for _, f := range rep.Shards {
		os.RemoveAll(f)
	}
	for _, f := range rep.Exports {
		os.RemoveAll(f)
	}
}
