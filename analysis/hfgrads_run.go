package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/coupling"
	"github.com/gradcouple/gradcouple/internal/table"
	"github.com/gradcouple/gradcouple/trajlog"
)

// actorInputs are the step records of a log encoded by an Actor.
type actorInputs struct {
	pairs   []scorePair
	samples []GradSample
	prompts []string
	actions []string
	states  []string // state_key, "" when the record has none
	sources Sources
	tokens  TokenStats
}

// readActorInputs reads and encodes the records of patterns (at most
// limit; 0: all). A record the actor cannot encode is an error naming the
// file and row; a log without records is ErrNoRecords.
func readActorInputs(ctx context.Context, a Actor, patterns []string, limit int) (actorInputs, error) {
	var in actorInputs
	src, err := readRecords(ctx, patterns, limit, func(file string, row int64, r *trajlog.Record) error {
		p, err := a.encode(file, row, r)
		if err != nil {
			return err
		}
		in.pairs = append(in.pairs, p)
		in.samples = append(in.samples, GradSample{Row: int64(len(in.samples)), Run: r.Run, Iteration: r.Iteration,
			TrajID: r.TrajID, Turn: r.Turn, StateKey: r.StateKey, Action: r.Action, Label: r.Label,
			Advantage: r.Advantage, LoggedLogProb: r.Logprob, UnkTokens: int32(p.unknown)})
		in.prompts = append(in.prompts, r.Prompt)
		in.actions = append(in.actions, r.Action)
		in.states = append(in.states, r.StateKey)
		return nil
	})
	if err != nil {
		return actorInputs{}, err
	}
	if len(in.pairs) == 0 {
		return actorInputs{}, fmt.Errorf("%w in %s", ErrNoRecords, strings.Join(patterns, " "))
	}
	in.sources, in.tokens = src, a.stats()
	return in, nil
}

// HFGradsEstimate is what a run of per-sample gradients of a Hugging Face
// model is expected to cost, stated before it starts.
type HFGradsEstimate struct {
	Samples, Groups int
	Tokens          int64   // prompt tokens (once per group) and action tokens
	GFLOP           float64 // matrix-product work, forward and backward
	GFLOPS          float64 // the machine's measured rate of kernel.Gemm at this precision
	Seconds         float64 // GFLOP / GFLOPS
	Bytes           int64   // peak memory: weights, caches, activations, rows or held gradients
}

// WriteGradsHF writes the per-sample gradients of a Hugging Face model
// (opts.Form GradRows or GradBergson) for the records of patterns as a
// gradient store at out in format (checkpoint.FormatSafetensors,
// FormatNPY or FormatBergson) with its sample table, as WriteGradsAs does
// for the bundled actor; coupling --grads reads it. With GradBergson the
// columns are Bergson's p x p blocks, one per module, named as Bergson
// names modules. estimate, if not nil, is told the expected cost before
// the first gradient.
func WriteGradsHF(ctx context.Context, a Actor, patterns []string, out, format string, dt checkpoint.DType, opts GradsOptions, hopts HFGradOptions, estimate func(HFGradsEstimate)) (GradsReport, error) {
	if hopts.Form == GradExact {
		return GradsReport{}, fmt.Errorf("exact inner products have no rows to store; use dense rows or --project")
	}
	if err := CheckExport(format, dt); err != nil {
		return GradsReport{}, err
	}
	if format == "" {
		format = checkpoint.FormatSafetensors
	}
	if dt == "" {
		dt = checkpoint.F32
	}
	g, err := newHFGrads(a, hopts)
	if err != nil {
		return GradsReport{}, err
	}
	in, err := readActorInputs(ctx, a, patterns, opts.Limit)
	if err != nil {
		return GradsReport{}, err
	}
	N, D := len(in.pairs), g.cols()
	if estimate != nil {
		estimate(estimateHF(g, in.pairs, hopts))
	}
	mods := g.modules()
	params := g.params()
	pj, err := json.Marshal(params)
	if err != nil {
		return GradsReport{}, err
	}
	def := "row n = grad_theta log pi(action_n | prompt_n), summed over the action's tokens and its end token"
	if hopts.Form == GradBergson {
		def += fmt.Sprintf("; per module Bergson's projection L G R^T (p = %d, Rademacher, MD5-seeded, jl scale)", hopts.Project)
	}
	meta := map[string]string{GradsParamsKey: string(pj), GradsDefinitionKey: def, "model": a.Describe()}
	if opts.Checkpoint != "" {
		meta[GradsCheckpointKey] = opts.Checkpoint
	}
	produce := func(emit func([]float32) error) error {
		return g.run(ctx, in.pairs, func(i int, row []float32, logp float64, _ heldGrad) error {
			in.samples[i].LogProb = logp
			if opts.Progress != nil {
				opts.Progress(i+1, N)
			}
			return emit(row)
		})
	}
	sm := func(w io.Writer) error {
		return table.WriteParquet(w, in.samples, map[string]string{"grads": filepath.Base(out), "n": strconv.Itoa(N), "d": strconv.Itoa(D)})
	}
	files, err := writeGradStore(out, format, dt, N, D, mods, meta, sm, produce)
	if err != nil {
		return GradsReport{}, err
	}
	rep := GradsReport{N: N, D: D, Params: params, SamplesPath: storeSamplesPath(out, format), Tokens: in.tokens, Sources: in.sources}
	if st, err := os.Stat(files[0]); err == nil && !st.IsDir() {
		rep.Bytes = st.Size()
	} else if st, err := os.Stat(filepath.Join(out, checkpoint.BergsonGradientsFile)); err == nil {
		rep.Bytes = st.Size()
	}
	return rep, nil
}

// CouplingHFOptions tune CouplingHF.
type CouplingHFOptions struct {
	CouplingOptions
	HFGradOptions
	// Limit reads at most this many records (0: all).
	Limit int
	// Name is the run column of the result ("" means the model directory's
	// base name).
	Name string
	// Samples, if not nil, is told how many gradients are done.
	Samples func(done, total int)
	// Estimate, if not nil, is told the expected cost before the first
	// gradient.
	Estimate func(HFGradsEstimate)
	// Preconditioner is the diagonal of the optimizer's preconditioner P
	// over the dense columns (the selected tensors in GradTensors order;
	// e.g. Adam's 1/(sqrt(v_hat)+eps) exported from the trainer's
	// optimizer state): the kernel is then <g_i, P g_j> (kernel "diag").
	// GradRows only; nil means the sgd kernel.
	Preconditioner []float32
}

// CouplingHF computes the coupling statistics of a Hugging Face model on
// the records of a log: each record's gradient g_n = grad log pi(a_n |
// s_n) under the model, labelled by the record (label, advantage,
// state_key, or its prompt when state_key is empty; prompts give the
// similarity bins, actions the strata), with the kernel K_ij = <g_i, g_j>
// (sgd: a user's checkpoint carries no optimizer state here) computed from
// dense rows (GradRows), Bergson's per-module projections (GradBergson) or
// exactly from per-position factors (GradExact). What needs the bundled
// trainer (heatmap, measured steps, representation separation) is NaN.
func CouplingHF(ctx context.Context, a Actor, patterns []string, opts CouplingHFOptions) (*CouplingReport, error) {
	start := time.Now()
	g, err := newHFGrads(a, opts.HFGradOptions)
	if err != nil {
		return nil, err
	}
	in, err := readActorInputs(ctx, a, patterns, opts.Limit)
	if err != nil {
		return nil, err
	}
	n, dim := len(in.pairs), g.cols()
	if n < 2 {
		return nil, fmt.Errorf("%d records: coupling needs at least 2", n)
	}
	if opts.Form != GradExact {
		if err := checkBudget(n, dim, opts.CouplingOptions); err != nil {
			return nil, err
		}
	}
	if opts.Preconditioner != nil && opts.Form != GradRows {
		return nil, &OptionsError{Msg: "a diagonal preconditioner applies to dense rows (no --exact or --project): it scales every coordinate of the gradient"}
	}
	scale, err := preconditionerScale(opts.Preconditioner, dim, "the selected tensors")
	if err != nil {
		return nil, err
	}
	est := estimateHF(g, in.pairs, opts.HFGradOptions)
	if b := opts.maxBytes(); b >= 0 && opts.Form == GradExact && est.Bytes > b {
		return nil, fmt.Errorf("%w: exact inner products of %d samples hold about %.1f MB of per-position factors and gradients, more than the budget of %.1f MB; use --project, fewer --modules or records, or raise --max-bytes",
			coupling.ErrTooLarge, n, float64(est.Bytes)/1e6, float64(b)/1e6)
	}
	if opts.Estimate != nil {
		opts.Estimate(est)
	}
	meta := sampleMeta{labels: make([]int8, n), adv: make([]float64, n), states: make([]int, n)}
	stateIdx := map[string]int{}
	probes := make([]Probe, n)
	for i, s := range in.samples {
		meta.labels[i], meta.adv[i] = s.Label, float64(s.Advantage)
		key := "\x00" + in.states[i]
		if in.states[i] == "" {
			key = "\x01" + in.prompts[i]
		}
		st, ok := stateIdx[key]
		if !ok {
			st = len(stateIdx)
			stateIdx[key] = st
		}
		meta.states[i] = st
		probes[i] = Probe{Prompt: in.prompts[i]}
	}
	meta.sim = newJaccardIndex(probes).at
	meta = withStrata(meta, in.prompts, in.actions, opts.Strata, opts.Seed)

	var rows []float32
	var held []heldGrad
	if opts.Form == GradExact {
		held = make([]heldGrad, n)
	} else {
		rows = make([]float32, n*dim)
	}
	err = g.run(ctx, in.pairs, func(i int, row []float32, _ float64, h heldGrad) error {
		if h != nil {
			held[i] = h
		} else {
			dst := rows[i*dim : (i+1)*dim]
			copy(dst, row)
			for c, s := range scale {
				dst[c] *= s
			}
		}
		if opts.Samples != nil {
			opts.Samples(i+1, n)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	name := opts.Name
	if name == "" {
		name = "model"
	}
	row := emptyRow(name, 0, n, dim)
	row.Kernel = string(coupling.KernelSGD)
	if scale != nil {
		row.Kernel = KernelDiag
	}
	rep := &CouplingReport{}
	var bins []SimilarityRow
	if opts.Form == GradExact {
		k := make([]float32, n*n)
		g.gram(k, held)
		norms := make([]float64, n)
		for i := range n {
			norms[i] = float64(k[i*n+i])
		}
		gs := coupling.GramGroupMeans(k, n, coupling.GoodBadGroups(nil, meta.labels), 2)
		bins = kernelStats(&row, k, norms, gs, n, meta, opts.CouplingOptions)
	} else if bins, err = gramStats(&row, rows, n, dim, meta, opts.CouplingOptions); err != nil {
		return nil, err
	}
	row.Seconds = time.Since(start).Seconds()
	rep.Rows, rep.BySim = []CouplingRow{row}, bins
	meta.strata.fill(rep)
	return rep, nil
}

// estimateHF states the cost of the gradients of pairs: the work of the
// matrix products (2 multiply-adds per weight and token forward, twice
// that backward through the selected layers, the attention's T^2 terms),
// timed by a short kernel.Gemm run at the model's precision, and the
// memory of the weights, caches, activations and results. It is an
// estimate (within a factor of about 2), not a measurement.
func estimateHF(g hfGrads, pairs []scorePair, opts HFGradOptions) HFGradsEstimate {
	var e HFGradsEstimate
	e.Samples = len(pairs)
	cfg, prec, lowest := g.shape()
	L := float64(cfg.Layers)
	layerW := float64(cfg.Hidden)*float64(cfg.QDim()+2*cfg.KVDim()) + float64(cfg.QDim())*float64(cfg.Hidden) + 3*float64(cfg.Hidden)*float64(cfg.Intermediate)
	head := float64(cfg.Hidden) * float64(cfg.VocabSize)
	top := L - float64(lowest) // layers the backward runs through
	var flop float64
	maxT := 0
	for i := 0; i < len(pairs); {
		j := i + 1
		for j < len(pairs) && j-i < opts.maxGroup() && slices.Equal(pairs[j].hseq.Prompt, pairs[i].hseq.Prompt) {
			j++
		}
		P := float64(len(pairs[i].hseq.Prompt))
		e.Groups++
		e.Tokens += int64(P)
		flop += 2 * P * (L*layerW + L*P*float64(cfg.QDim()))
		for k := i; k < j; k++ {
			A := float64(len(pairs[k].hseq.Action))
			T := P + A
			maxT = max(maxT, int(T))
			e.Tokens += int64(A)
			flop += 2*A*(L*layerW+L*T*2*float64(cfg.QDim())) + 2*A*head       // forward of the action
			flop += 4*T*top*layerW + 4*T*T*top*float64(cfg.QDim()) + 4*A*head // backward
		}
		i = j
	}
	e.GFLOP = flop / 1e9
	e.GFLOPS = gemmRate(prec)
	if e.GFLOPS > 0 {
		e.Seconds = e.GFLOP / e.GFLOPS
	}
	bytesF := int64(prec)
	e.Bytes = int64(cfg.NumParams()) * bytesF
	e.Bytes += int64(cfg.Layers) * int64(maxT) * int64(2*cfg.KVDim()) * bytesF                         // keys and values
	e.Bytes += int64(top) * int64(maxT) * int64(6*cfg.Hidden+3*cfg.Intermediate+2*cfg.QDim()) * bytesF // saved activations
	e.Bytes += 64 * int64(cfg.VocabSize) * 8                                                           // logits of the scored positions
	switch opts.Form {
	case GradExact:
		per := int64(0)
		for _, m := range g.modules() {
			per += int64(m.Size)
		}
		e.Bytes += int64(len(pairs)) * min(per, int64(maxT)*int64(cfg.Hidden+cfg.VocabSize)) * bytesF
	default:
		e.Bytes += int64(len(pairs))*int64(g.cols())*4 + int64(len(pairs))*int64(len(pairs))*4
	}
	return e
}

// gemmRate measures kernel.Gemm's GFLOP/s on one goroutine at a precision
// of prec bytes (4 or 8): the best of three 256^3 products.
func gemmRate(prec int) float64 {
	const n = 256
	best := math.Inf(1)
	run := func(f func()) {
		for range 3 {
			t := time.Now()
			f()
			best = min(best, time.Since(t).Seconds())
		}
	}
	if prec == 4 {
		a := make([]float32, n*n)
		for i := range a {
			a[i] = float32(i%7) - 3
		}
		c := make([]float32, n*n)
		run(func() { gemm32(a, c, n) })
	} else {
		a := make([]float64, n*n)
		for i := range a {
			a[i] = float64(i%7) - 3
		}
		c := make([]float64, n*n)
		run(func() { gemm64(a, c, n) })
	}
	if best <= 0 {
		return 0
	}
	return 2 * n * n * n / best / 1e9
}
