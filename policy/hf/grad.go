package hf

import (
	"errors"
	"fmt"
	"math"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// ErrNoTensor: a tensor glob of SelectTensors that names no tensor of the
// model, or a Tensor given to GroupGrads that is not one of its tensors.
var ErrNoTensor = errors.New("no such tensor")

// HeadName is the Hugging Face name of the LM head's weight. In a model
// with tie_word_embeddings it is not a tensor of Params (Config.Tensors),
// but SelectTensors and GroupGrads accept it: it then names the embedding
// matrix through its output-projection use only.
const HeadName = "lm_head.weight"

// EmbedName is the Hugging Face name of the token embedding. As a selected
// tensor it means the embedding through its input use only (the rows the
// tokens look up); in a tied model the output use is HeadName.
const EmbedName = "model.embed_tokens.weight"

// GradTensors returns every tensor whose gradient GroupGrads computes: the
// tensors of Params in Tensors order, and for a model with tied
// embeddings a last entry named HeadName with the embedding's shape,
// Offset and Size (the same parameters; the gradient of the tied matrix
// is the sum of the EmbedName and HeadName gradients).
func (m *Model[F]) GradTensors() []Tensor {
	ts := m.Tensors()
	if m.cfg.TieWordEmbeddings {
		e := ts[0]
		ts = append(ts, Tensor{Name: HeadName, Shape: slices.Clone(e.Shape), Offset: e.Offset, Size: e.Size})
	}
	return ts
}

// SelectTensors returns the tensors of GradTensors that the globs name, in
// GradTensors order (each once). A glob is a path.Match pattern ('*'
// matches any run of characters, dots included; '?', '[...]' and '\\' as
// in path.Match) matched against a tensor's name and against each of its
// module names, the name cut at a dot: "model.layers.23.mlp" selects the
// MLP's three weights, "model.layers.2[23].*" everything in layers 22
// and 23, "model.layers.*.mlp.down_proj" every layer's down_proj.weight,
// "lm_head" the LM head (tied or not), as Bergson names modules. No globs
// select every tensor. A malformed glob, or one that selects nothing, is an
// error naming it (wrapping ErrNoTensor in the second case).
func (m *Model[F]) SelectTensors(globs []string) ([]Tensor, error) {
	all := m.GradTensors()
	if len(globs) == 0 {
		return all, nil
	}
	chosen := make([]bool, len(all))
	for _, g := range globs {
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("hf: tensor glob %q: %w", g, err)
		}
		found := false
		for i, t := range all {
			if globMatches(g, t.Name) {
				chosen[i], found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("hf: tensor glob %q matches no tensor of this %s model (names as in model.safetensors, e.g. model.layers.0.mlp.down_proj.weight, %s): %w", g, m.cfg.ModelType, HeadName, ErrNoTensor)
		}
	}
	var out []Tensor
	for i, t := range all {
		if chosen[i] {
			out = append(out, t)
		}
	}
	return out, nil
}

// globMatches reports whether g matches name or one of its prefixes that
// end before a dot.
func globMatches(g, name string) bool {
	for p := name; ; {
		if ok, _ := path.Match(g, p); ok {
			return true
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}

// GradForm chooses the forms in which GroupGrads returns gradients.
type GradForm int

const (
	// GradDense returns the dense gradient of every selected tensor.
	GradDense GradForm = iota
	// GradFactors returns per-position factors (Factors) for the tensors
	// that have them, nn.Linear weights, the LM head and the input
	// embedding, without materialising their dense gradients, and the
	// dense gradient of the others (norm weights, biases).
	GradFactors
	// GradDenseAndFactors returns both.
	GradDenseAndFactors
)

// GradOptions set what GroupGrads returns. The zero value returns dense
// gradients.
type GradOptions struct {
	// Form is GradDense (default), GradFactors or GradDenseAndFactors.
	Form GradForm
}

// SampleGrad is the gradient of one action's log-probability.
type SampleGrad[F float] struct {
	// LogProb is log pi(action | prompt), summed over the action tokens;
	// it equals GroupLogProbs' sum bit for bit.
	LogProb float64
	// Tensors holds one entry per selected tensor, in the order given.
	Tensors []TensorGrad[F]
}

// TensorGrad is the gradient of one selected tensor.
type TensorGrad[F float] struct {
	Tensor Tensor
	// Dense is the gradient in the tensor's layout (Tensor.Shape,
	// row-major); nil when only factors were asked for and the tensor has
	// them.
	Dense []F
	// Factors are the per-position factors of an nn.Linear weight, the LM
	// head or the input embedding when factors were asked for; else nil.
	Factors *Factors[F]
}

// Factors hold the gradient G of a weight as a sum over positions,
// G = sum_t Delta_t Act_t^T, without forming G. For an nn.Linear weight W
// ([out, in], output y_t = W a_t (+ b)) or the LM head ([V, d], logits
// z_t = W h_t), Delta_t = dL/dy_t is the gradient of the summed action
// log-probability L with respect to the layer's output at position t and
// Act_t = a_t its input there, so G[i][j] = sum_t Delta[t][i] Act[t][j].
// For the input embedding E ([V, d], row lookup x_t = E[tok_t]; OneHot
// set), Delta_t = dL/dx_t and the input is the one-hot vector of
// Tokens[t] (Act is nil): G[v] = sum_{t: Tokens[t] = v} Delta_t (E is
// stored [in, out]).
//
// The positions are those of the sequence prompt ++ action (from 0; the
// last action token is never an input) whose output the log-probability
// depends on: the scored positions len(prompt)-1 .. for what lies above
// the key/value path of the top layer (its q_proj, o_proj, MLP, the LM
// head), every position for the keys and values and for every layer below
// the top one.
type Factors[F float] struct {
	Out, In int   // G is Out x In (for the input embedding: In = vocab_size, Out = hidden size, stored [In, Out])
	Pos     []int // positions of the rows
	Delta   []F   // len(Pos) x Out
	Act     []F   // len(Pos) x In; nil for the input embedding
	OneHot  bool  // the input embedding: the input at row t is the one-hot vector of Tokens[t]
	Tokens  []int // OneHot only: the token id at each row
}

// Rows is the number of positions.
func (f *Factors[F]) Rows() int { return len(f.Pos) }

// tensor kinds of the gradient computation
type gradKind uint8

const (
	kEmbed gradKind = iota
	kHead
	kNorm
	kQ
	kQBias
	kK
	kKBias
	kV
	kVBias
	kO
	kQNorm
	kKNorm
	kGate
	kUp
	kDown
	kInNorm
	kPostNorm
	numKinds
)

// layer tensor suffixes by kind
var layerKinds = map[string]gradKind{
	"self_attn.q_proj.weight": kQ, "self_attn.q_proj.bias": kQBias,
	"self_attn.k_proj.weight": kK, "self_attn.k_proj.bias": kKBias,
	"self_attn.v_proj.weight": kV, "self_attn.v_proj.bias": kVBias,
	"self_attn.o_proj.weight": kO,
	"self_attn.q_norm.weight": kQNorm, "self_attn.k_norm.weight": kKNorm,
	"mlp.gate_proj.weight": kGate, "mlp.up_proj.weight": kUp, "mlp.down_proj.weight": kDown,
	"input_layernorm.weight": kInNorm, "post_attention_layernorm.weight": kPostNorm,
}

// factored reports whether a kind has Factors.
func (k gradKind) factored() bool {
	switch k {
	case kEmbed, kHead, kQ, kK, kV, kO, kGate, kUp, kDown:
		return true
	}
	return false
}

// Stages of a layer's backward pass, in the order it runs; a selected
// tensor needs its layer's pass down to its stage.
const (
	lvDown     = 1 + iota // dL/d down_proj from the layer's output gradient
	lvGateUp              // through SiLU: gate_proj, up_proj
	lvPostNorm            // post_attention_layernorm, gradient of the residual after attention
	lvO                   // o_proj
	lvAttn                // through the attention: q_norm, k_norm
	lvQKV                 // q_proj, k_proj, v_proj and biases
	lvInNorm              // input_layernorm
	lvIn                  // gradient of the layer's input
)

func (k gradKind) level() int {
	switch k {
	case kDown:
		return lvDown
	case kGate, kUp:
		return lvGateUp
	case kPostNorm:
		return lvPostNorm
	case kO:
		return lvO
	case kQNorm, kKNorm:
		return lvAttn
	case kQ, kQBias, kK, kKBias, kV, kVBias:
		return lvQKV
	case kInNorm:
		return lvInNorm
	}
	return 0
}

// gradPlan is a checked selection: what GroupGrads computes.
type gradPlan struct {
	kinds   []gradKind
	layers  []int // layer of each selected tensor, -1 outside the layers
	top     [numKinds]int
	lsel    [][numKinds]int // per layer: index in the selection, -1 when not selected
	deep    []int           // per layer: the stage its backward pass reaches (0: none)
	l0      int             // lowest layer the backward pass runs through (Layers: none)
	embed   bool            // the input embedding is selected
	below   bool            // the pass goes below the LM head (final norm, layers or embedding)
	dense   bool
	factors bool
}

// plan checks sel against the model's tensors.
func (m *Model[F]) plan(sel []Tensor, opt GradOptions) (*gradPlan, error) {
	if opt.Form < GradDense || opt.Form > GradDenseAndFactors {
		return nil, fmt.Errorf("hf: GradOptions.Form %d", opt.Form)
	}
	L := m.cfg.Layers
	p := &gradPlan{
		kinds: make([]gradKind, len(sel)), layers: make([]int, len(sel)),
		lsel: make([][numKinds]int, L), deep: make([]int, L), l0: L,
		dense: opt.Form != GradFactors, factors: opt.Form != GradDense,
	}
	for k := range p.top {
		p.top[k] = -1
	}
	for l := range p.lsel {
		for k := range p.lsel[l] {
			p.lsel[l][k] = -1
		}
	}
	known := map[string]Tensor{}
	for _, t := range m.GradTensors() {
		known[t.Name] = t
	}
	for i, t := range sel {
		want, ok := known[t.Name]
		if !ok || !slices.Equal(want.Shape, t.Shape) || want.Offset != t.Offset || want.Size != t.Size {
			return nil, fmt.Errorf("hf: selected tensor %q (shape %v) is not a tensor of this %s model: %w", t.Name, t.Shape, m.cfg.ModelType, ErrNoTensor)
		}
		k, l := tensorKind(t.Name)
		if l >= 0 {
			if p.lsel[l][k] >= 0 {
				return nil, fmt.Errorf("hf: tensor %q selected twice", t.Name)
			}
			p.lsel[l][k] = i
			p.deep[l] = max(p.deep[l], k.level())
			p.l0 = min(p.l0, l)
		} else {
			if p.top[k] >= 0 {
				return nil, fmt.Errorf("hf: tensor %q selected twice", t.Name)
			}
			p.top[k] = i
		}
		p.kinds[i], p.layers[i] = k, l
	}
	if p.top[kEmbed] >= 0 {
		p.embed, p.l0 = true, 0
	}
	p.below = p.l0 < L || p.top[kNorm] >= 0
	return p, nil
}

// tensorKind parses a name of GradTensors.
func tensorKind(name string) (gradKind, int) {
	switch name {
	case EmbedName:
		return kEmbed, -1
	case HeadName:
		return kHead, -1
	case "model.norm.weight":
		return kNorm, -1
	}
	rest, _ := strings.CutPrefix(name, "model.layers.")
	num, suffix, _ := strings.Cut(rest, ".")
	l, _ := strconv.Atoi(num)
	return layerKinds[suffix], l
}

// A Grader computes exact per-sample gradients of one selection of
// tensors (GroupGrads), keeping its buffers from call to call (they grow
// when a longer prompt or action needs it). Reuse one for many groups:
// buffers allocated per call would be garbage as large as the activations
// and dense gradients, which Go's collector lets accumulate up to the size
// of the live heap (the weights) before reclaiming it. A Grader is not
// safe for concurrent use; one Model serves any number of Graders.
type Grader[F float] struct {
	m   *Model[F]
	run *gradRun[F]
}

// NewGrader returns a Grader of the tensors sel (from SelectTensors or
// GradTensors) in the forms opt asks for. A tensor not of this model
// (ErrNoTensor) or selected twice is an error. It runs the garbage
// collector once (runtime.GC) before allocating the dense gradients, and
// the first GroupGrads allocates the other buffers: both are hundreds of
// MB for a 0.5B model, and without the collection they would come on top
// of the garbage that loading the model leaves (about 140 MB for a 0.5B
// checkpoint), which Go's collector would otherwise keep until the heap
// doubles the weights.
func (m *Model[F]) NewGrader(sel []Tensor, opt GradOptions) (*Grader[F], error) {
	p, err := m.plan(sel, opt)
	if err != nil {
		return nil, err
	}
	runtime.GC()
	return &Grader[F]{m: m, run: newGradRun(m, p, slices.Clone(sel))}, nil
}

// GroupGrads is NewGrader(sel, opt) followed by its GroupGrads: for one
// group. Use a Grader for many.
func (m *Model[F]) GroupGrads(prompt []int, actions [][]int, sel []Tensor, opt GradOptions, fn func(i int, g *SampleGrad[F]) error) ([]float64, error) {
	g, err := m.NewGrader(sel, opt)
	if err != nil {
		return nil, err
	}
	return g.GroupGrads(prompt, actions, fn)
}

// GroupGrads computes, for each action a_i after one prompt, the
// log-probability L_i = log pi(a_i | prompt) = sum_t log
// softmax(z_{P-1+t})[a_i,t] (the quantity LogProbs and GroupLogProbs sum,
// over all vocab_size logits at temperature 1) and its exact gradient
// with respect to each selected tensor, and calls fn(i, g) with them, for
// i = 0, 1, ... in order (never concurrently); it returns the sums L_i. An
// error from fn stops the computation and is returned.
//
// The prompt runs once: every layer below the lowest selected one (the
// embedding counts as below layer 0) runs forward only and keeps nothing
// but its keys and values; the layers from the lowest selected one up
// keep their activations of the prompt positions for the whole group.
// Each action then runs forward from the shared cache and backward from
// its summed log-probability down to the lowest selected layer. The
// backward pass runs through the prompt positions too, where the actions
// depend on them: a selected layer's keys and values at every position
// depend on its weights, and below the top layer every position's output
// feeds the keys and values above. The LM head's backward runs at the
// action's scored positions only.
//
// g and everything it holds are valid only during the call to fn (the
// buffers are reused for the next action): copy what is kept. The
// results of an action do not depend on the other actions of the group,
// nor on GOMAXPROCS (the matrix products are split across goroutines in
// ways that do not change a bit): GroupGrads of a group equals GroupGrads
// of each action alone bit for bit, and the sums equal GroupLogProbs'.
//
// Precision: Model[float64] computes in float64. Model[float32] follows
// the forward pass (see the package documentation): float32 weights,
// activations, gradients and matrix products, with float64 for the
// reductions of RMSNorm's backward, the softmax and its backward in the
// attention and the LM head (dL/dz = onehot - softmax is formed in
// float64 and rounded once), SiLU's derivative, and the sums of bias and
// norm-weight gradients over positions.
//
// Memory: the keys and values of every layer (positions x KVDim x 2 per
// layer), the selected layers' activations (about 4 hidden + 2
// intermediate widths per position per layer), their backward buffers
// (one set for GradDense, one per selected layer for factors, which
// point into them), the A x vocab_size logits of an action (overwritten
// by dL/dz) and the selected tensors' dense gradients (a V x d matrix each
// for the LM head and the embedding).
//
// Measured (TestTorchGradAnchor; AMD EPYC with AVX-512, 2 cores, float32):
// a Qwen2.5-0.5B-shaped model, 1,024 prompt and 64 action tokens, the top
// two layers and the tied LM head selected: 5.9 s per sample for a group
// of one, 1.9 s per sample in a group of 8 (dense; factors only: 5.6 and
// 1.6 s), against 28.8 and 18.9 s for torch autograd on the same
// equations (scripts/torch/bench_hf_grads.py, which shares nothing
// across a group); peak RSS 1.44x the float32 weights dense, 1.14x as
// factors (PyTorch 2.2x).
//
// Errors: an empty prompt (ErrEmptyPrompt), a token outside the
// vocabulary or a sequence longer than max_position_embeddings (naming the
// action). An empty action has log-probability 0 and zero gradients.
func (g *Grader[F]) GroupGrads(prompt []int, actions [][]int, fn func(i int, g *SampleGrad[F]) error) ([]float64, error) {
	m := g.m
	if len(prompt) == 0 {
		return nil, ErrEmptyPrompt
	}
	maxA := 0
	for n, a := range actions {
		if err := m.checkTokens(append(append([]int(nil), prompt...), a...), 0); err != nil {
			return nil, fmt.Errorf("action %d: %w", n, err)
		}
		maxA = max(maxA, len(a))
	}
	r := g.run
	r.reset(len(prompt), maxA)
	r.prompt(prompt)
	sums := make([]float64, len(actions))
	for i, a := range actions {
		sg := r.sample(a)
		sums[i] = sg.LogProb
		if fn != nil {
			if err := fn(i, sg); err != nil {
				return nil, err
			}
		}
	}
	return sums, nil
}

// Grads is GroupGrads for independent sequences: fn(i, g) receives the
// gradient of seqs[i] (each runs its own prompt).
func (g *Grader[F]) Grads(seqs []Seq, fn func(i int, g *SampleGrad[F]) error) ([]float64, error) {
	sums := make([]float64, len(seqs))
	for i, s := range seqs {
		v, err := g.GroupGrads(s.Prompt, [][]int{s.Action}, func(_ int, g *SampleGrad[F]) error {
			if fn == nil {
				return nil
			}
			return fn(i, g)
		})
		if err != nil {
			return nil, fmt.Errorf("sequence %d: %w", i, err)
		}
		sums[i] = v[0]
	}
	return sums, nil
}

// silu64 returns silu(x) = x / (1 + exp(-x)) as the forward pass computes
// it (before rounding to F) and sigmoid(x).
func silu64(x float64) (s, sig float64) {
	e := math.Exp(-x)
	return x / (1 + e), 1 / (1 + e)
}
