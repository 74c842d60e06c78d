package analysis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/coupling"
	"github.com/gradcouple/gradcouple/internal/kernel"
	"github.com/gradcouple/gradcouple/policy/hf"
)

// Per-sample gradients of a Hugging Face model (qwen2, qwen3, llama;
// package policy/hf): g_n = grad log pi(action_n | prompt_n), the summed
// log-probability of the action's tokens and its end token, as Score
// scores it, over the tensors that module globs select. Records whose
// prompts are equal and adjacent in the log (a GRPO group) share one
// forward pass of the prompt.

// GradForm is the form in which per-sample gradients of a Hugging Face
// model are kept.
type GradForm int

const (
	// GradRows keeps dense rows: the selected tensors' gradients
	// concatenated in GradTensors order.
	GradRows GradForm = iota
	// GradBergson keeps Bergson's per-module projection of every selected
	// linear weight, P = L G R^T (p x p, coupling.BergsonMatrix), so rows
	// compare one for one with a Bergson index of the same modules; as
	// Bergson, it leaves out biases, norms and the input embedding.
	GradBergson
	// GradExact keeps each tensor's gradient as per-position factors when
	// they are smaller than the dense matrix, and computes the Gram
	// <G_i, G_j> exactly from them (hf.Factors.Dot) without rows.
	GradExact
)

// HFGradOptions select the tensors and form of a Hugging Face model's
// per-sample gradients.
type HFGradOptions struct {
	// Modules are tensor globs as hf.Model.SelectTensors takes them
	// (Hugging Face module or tensor names, e.g. "model.layers.23.*",
	// "lm_head"); none selects every tensor.
	Modules []string
	// Form is GradRows (default), GradBergson or GradExact.
	Form GradForm
	// Project is p, the side of Bergson's projection (GradBergson).
	Project int
	// MaxGroup bounds how many adjacent records share one prompt pass
	// (0: 64).
	MaxGroup int
}

func (o HFGradOptions) maxGroup() int {
	if o.MaxGroup <= 0 {
		return 64
	}
	return o.MaxGroup
}

// hfGrads computes per-sample gradients of one Hugging Face model.
type hfGrads interface {
	// modules are the columns of a row (GradRows, GradBergson).
	modules() []checkpoint.GradModule
	// params are the columns of a row with their shapes: a tensor's
	// (GradRows), p x p (GradBergson).
	params() []GradParam
	// cols is the length of a row.
	cols() int
	// run computes the gradients of pairs in order, sharing the prompt
	// pass of adjacent pairs with equal prompts, and passes each sample's
	// row (nil for GradExact) and log-probability to emit, with the
	// sample's held factors for GradExact.
	run(ctx context.Context, pairs []scorePair, emit func(i int, row []float32, logp float64, held heldGrad) error) error
	// gram fills k (n x n, row-major) with the exact inner products of
	// held gradients (GradExact).
	gram(k []float32, held []heldGrad)
	// heldBytes is the memory a held gradient takes.
	heldBytes(h heldGrad) int64
	// shape is the model's config, its precision in bytes and the lowest
	// layer the backward pass reaches (Layers when only the final norm or
	// the LM head is selected).
	shape() (hf.Config, int, int)
}

// heldGrad is one sample's gradient kept for GradExact: an opaque value of
// the model's precision.
type heldGrad any

// newHFGrads returns the gradient computation of a's network for opts, or
// an error when a is not a Hugging Face model or the globs select nothing.
func newHFGrads(a Actor, opts HFGradOptions) (hfGrads, error) {
	ta, ok := a.(*textActor)
	if !ok {
		return nil, errors.New("per-sample gradients of this kind are for Hugging Face qwen2, qwen3 and llama models (the bundled actor's are model grads' own)")
	}
	switch n := ta.net.(type) {
	case hfNet[float32]:
		return newHFGradsOf(n.m, opts)
	case hfNet[float64]:
		return newHFGradsOf(n.m, opts)
	}
	return nil, errors.New("per-sample gradients of a Hugging Face GPT-2 directory are computed on the bundled actor's network: use model grads without --modules, --project or --exact")
}

// hfGradsOf is hfGrads for a model of precision F.
type hfGradsOf[F float32 | float64] struct {
	m       *hf.Model[F]
	sel     []hf.Tensor
	opts    HFGradOptions
	mods    []checkpoint.GradModule
	D       int
	left    [][]F // GradBergson: L of each selected tensor, p x Out
	right   [][]F // GradBergson: R, p x In
	factors []bool
	decided bool
}

func newHFGradsOf[F float32 | float64](m *hf.Model[F], opts HFGradOptions) (*hfGradsOf[F], error) {
	sel, err := m.SelectTensors(opts.Modules)
	if err != nil {
		return nil, err
	}
	opts.MaxGroup = opts.maxGroup()
	if opts.Form == GradBergson {
		// Bergson collects nn.Linear modules without their biases (its
		// include_bias off), never norms or the input embedding.
		sel = slices.DeleteFunc(sel, func(t hf.Tensor) bool { return !linearWeight(t) })
		if len(sel) == 0 {
			return nil, fmt.Errorf("modules %s: Bergson projects the weights of linear modules only (q/k/v/o_proj, gate/up/down_proj, lm_head), and none is selected", strings.Join(opts.Modules, ","))
		}
	}
	g := &hfGradsOf[F]{m: m, sel: sel, opts: opts, factors: make([]bool, len(sel))}
	off := 0
	for _, t := range sel {
		size := t.Size
		name := t.Name
		if opts.Form == GradBergson {
			if opts.Project < 1 {
				return nil, fmt.Errorf("Bergson projection of side %d: want at least 1", opts.Project)
			}
			size = opts.Project * opts.Project
			name = strings.TrimSuffix(t.Name, ".weight")
			out, in := t.Shape[0], t.Shape[1]
			g.left = append(g.left, toF[F](coupling.BergsonMatrix(name, "left", opts.Project, out)))
			g.right = append(g.right, toF[F](coupling.BergsonMatrix(name, "right", opts.Project, in)))
		}
		g.mods = append(g.mods, checkpoint.GradModule{Name: name, Offset: off, Size: size})
		off += size
	}
	g.D = off
	return g, nil
}

// linearWeight reports whether t is the weight of an nn.Linear module (or
// the LM head): a matrix that is not the input embedding.
func linearWeight(t hf.Tensor) bool {
	return len(t.Shape) == 2 && t.Name != hf.EmbedName && strings.HasSuffix(t.Name, ".weight")
}

func toF[F float32 | float64](v []float32) []F {
	out := make([]F, len(v))
	for i, x := range v {
		out[i] = F(x)
	}
	return out
}

func (g *hfGradsOf[F]) modules() []checkpoint.GradModule { return slices.Clone(g.mods) }

func (g *hfGradsOf[F]) params() []GradParam {
	out := make([]GradParam, len(g.mods))
	for i, m := range g.mods {
		shape := slices.Clone(g.sel[i].Shape)
		if g.opts.Form == GradBergson {
			shape = []int{g.opts.Project, g.opts.Project}
		}
		out[i] = GradParam{Name: m.Name, Offset: m.Offset, Shape: shape}
	}
	return out
}

func (g *hfGradsOf[F]) shape() (hf.Config, int, int) {
	c := g.m.Config()
	var zero F
	lowest := c.Layers
	for _, t := range g.sel {
		if t.Name == hf.EmbedName {
			lowest = 0
		}
		if rest, ok := strings.CutPrefix(t.Name, "model.layers."); ok {
			num, _, _ := strings.Cut(rest, ".")
			if l, err := strconv.Atoi(num); err == nil {
				lowest = min(lowest, l)
			}
		}
	}
	return c, int(unsafe.Sizeof(zero)), lowest
}

// gemm32 and gemm64 compute c = a a for n x n matrices (the rate
// measurement of estimateHF).
func gemm32(a, c []float32, n int) {
	var w kernel.GemmBuf[float32]
	kernel.Gemm(&w, false, false, n, n, n, a, n, a, n, c, n, false)
}

func gemm64(a, c []float64, n int) {
	var w kernel.GemmBuf[float64]
	kernel.Gemm(&w, false, false, n, n, n, a, n, a, n, c, n, false)
}
func (g *hfGradsOf[F]) cols() int { return g.D }

// held is a GradExact sample: per selected tensor, factors or a dense
// gradient.
type held[F float32 | float64] struct {
	fac   []*hf.Factors[F]
	dense [][]F
}

func (g *hfGradsOf[F]) run(ctx context.Context, pairs []scorePair, emit func(i int, row []float32, logp float64, h heldGrad) error) error {
	form := hf.GradDense
	if g.opts.Form != GradRows {
		form = hf.GradFactors
	}
	gr, err := g.m.NewGrader(g.sel, hf.GradOptions{Form: form})
	if err != nil {
		return err
	}
	row := make([]float32, g.D)
	var w kernel.GemmBuf[F]
	var dl, ar, p []F
	for lo := 0; lo < len(pairs); {
		if err := ctx.Err(); err != nil {
			return err
		}
		prompt := pairs[lo].hseq.Prompt
		hi := lo + 1
		for hi < len(pairs) && hi-lo < g.opts.MaxGroup && slices.Equal(pairs[hi].hseq.Prompt, prompt) {
			hi++
		}
		actions := make([][]int, hi-lo)
		for i := range actions {
			actions[i] = pairs[lo+i].hseq.Action
		}
		_, err := gr.GroupGrads(prompt, actions, func(i int, sg *hf.SampleGrad[F]) error {
			switch g.opts.Form {
			case GradRows:
				for k, tg := range sg.Tensors {
					dst := row[g.mods[k].Offset : g.mods[k].Offset+g.mods[k].Size]
					for j, v := range tg.Dense {
						dst[j] = float32(v)
					}
				}
				return emit(lo+i, row, sg.LogProb, nil)
			case GradBergson:
				P := g.opts.Project
				for k, tg := range sg.Tensors {
					f := tg.Factors
					T := f.Rows()
					dl = slices.Grow(dl[:0], T*P)[:T*P]
					ar = slices.Grow(ar[:0], T*P)[:T*P]
					p = slices.Grow(p[:0], P*P)[:P*P]
					// (Delta L^T) is T x p, (Act R^T) is T x p; P = (Delta L^T)^T (Act R^T).
					kernel.Gemm(&w, false, true, T, P, f.Out, f.Delta, f.Out, g.left[k], f.Out, dl, P, false)
					kernel.Gemm(&w, false, true, T, P, f.In, f.Act, f.In, g.right[k], f.In, ar, P, false)
					kernel.Gemm(&w, true, false, P, P, T, dl, P, ar, P, p, P, false)
					dst := row[g.mods[k].Offset : g.mods[k].Offset+g.mods[k].Size]
					for j, v := range p {
						dst[j] = float32(v)
					}
				}
				return emit(lo+i, row, sg.LogProb, nil)
			}
			h := &held[F]{fac: make([]*hf.Factors[F], len(sg.Tensors)), dense: make([][]F, len(sg.Tensors))}
			if !g.decided {
				// Factors when they are smaller than the dense matrix, judged
				// on the first sample; the same form for every sample.
				for k, tg := range sg.Tensors {
					f := tg.Factors
					g.factors[k] = f != nil && int64(f.Rows())*int64(f.Out+f.In) < int64(f.Out)*int64(f.In)
				}
				g.decided = true
			}
			for k, tg := range sg.Tensors {
				switch {
				case tg.Factors != nil && g.factors[k]:
					h.fac[k] = tg.Factors.Clone()
				case tg.Factors != nil:
					h.dense[k] = tg.Factors.Dense(nil)
				default:
					h.dense[k] = slices.Clone(tg.Dense)
				}
			}
			return emit(lo+i, nil, sg.LogProb, h)
		})
		if err != nil {
			return err
		}
		lo = hi
	}
	return nil
}

func (g *hfGradsOf[F]) heldBytes(x heldGrad) int64 {
	h := x.(*held[F])
	var zero F
	size := int64(0)
	for k := range h.fac {
		if f := h.fac[k]; f != nil {
			size += int64(len(f.Delta) + len(f.Act) + len(f.Tokens) + len(f.Pos))
		} else {
			size += int64(len(h.dense[k]))
		}
	}
	return size * int64(unsafe.Sizeof(zero))
}

// gram computes K_ij = sum over tensors <G_i, G_j>: factors by
// hf.Factors.Dot, dense gradients by a float64 dot product.
func (g *hfGradsOf[F]) gram(k []float32, hs []heldGrad) {
	n := len(hs)
	for i := range n {
		a := hs[i].(*held[F])
		for j := i; j < n; j++ {
			b := hs[j].(*held[F])
			var s float64
			for t := range a.fac {
				if a.fac[t] != nil {
					s += a.fac[t].Dot(b.fac[t])
					continue
				}
				for l, v := range a.dense[t] {
					s += float64(v) * float64(b.dense[t][l])
				}
			}
			k[i*n+j], k[j*n+i] = float32(s), float32(s)
		}
	}
}
