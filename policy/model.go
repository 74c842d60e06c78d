package policy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Default sizes (Config's zero values mean these).
const (
	DefaultDim     = 64
	DefaultLayers  = 2
	DefaultHeads   = 4
	DefaultContext = 256
)

// LayerNormEps is the epsilon of every LayerNorm (HF layer_norm_epsilon).
const LayerNormEps = 1e-5

// InitStd is the standard deviation of the random initial weights (HF
// initializer_range).
const InitStd = 0.02

// Config is the size of a model. Zero fields take the defaults written on
// them; Normalize fills them in.
type Config struct {
	VocabSize int // V, number of tokens (required, > 0): HF vocab_size
	Context   int // maximum sequence length, HF n_positions (default 256)
	Dim       int // embedding width, HF n_embd (default 64)
	Layers    int // number of blocks, HF n_layer (default 2)
	Heads     int // attention heads, HF n_head (default 4); must divide Dim
	MLP       int // MLP width, HF n_inner (default 4*Dim)
	// EOS is the token that ends an action (HF eos_token_id): the last
	// target of every action and where an unconstrained draw stops. 0
	// means EOSID, the word tokenizer's <eos>; a real GPT-2 directory
	// sets it to its <|endoftext|> (50256).
	EOS int
}

// Normalize returns c with the defaults filled in, or an error if a size is
// negative, VocabSize is not positive or Heads does not divide Dim.
func (c Config) Normalize() (Config, error) {
	if c.Context == 0 {
		c.Context = DefaultContext
	}
	if c.Dim == 0 {
		c.Dim = DefaultDim
	}
	if c.Layers == 0 {
		c.Layers = DefaultLayers
	}
	if c.Heads == 0 {
		c.Heads = DefaultHeads
	}
	if c.MLP == 0 {
		c.MLP = 4 * c.Dim
	}
	if c.EOS == 0 {
		c.EOS = EOSID
	}
	switch {
	case c.VocabSize <= 0:
		return c, fmt.Errorf("policy: vocabulary size %d, want > 0", c.VocabSize)
	case c.Context < 2 || c.Dim < 0 || c.Layers < 0 || c.Heads < 0 || c.MLP < 0:
		return c, fmt.Errorf("policy: bad model size %+v", c)
	case c.EOS < 0 || c.EOS >= c.VocabSize:
		return c, fmt.Errorf("policy: end token %d outside the vocabulary [0, %d)", c.EOS, c.VocabSize)
	case c.Dim%c.Heads != 0:
		return c, fmt.Errorf("policy: %d heads do not divide width %d", c.Heads, c.Dim)
	}
	return c, nil
}

// HeadDim is Dim/Heads.
func (c Config) HeadDim() int { return c.Dim / c.Heads }

// Inner is the MLP width: MLP, or 4*Dim if MLP is 0.
func (c Config) Inner() int {
	if c.MLP == 0 {
		return 4 * c.Dim
	}
	return c.MLP
}

// Tensor describes one parameter tensor: its HF GPT-2 name, its shape
// (row-major; Conv1D weights are [in, out]) and its place in the flat
// parameter vector.
type Tensor struct {
	Name   string
	Shape  []int
	Offset int // index of the first element in Model.Params
	Size   int // product of Shape
}

// Tensors returns the parameter tensors of a model of size c in the flat
// order (see the package documentation). c must be normalized.
func (c Config) Tensors() []Tensor {
	d, f := c.Dim, c.Inner()
	var ts []Tensor
	off := 0
	add := func(name string, shape ...int) {
		n := 1
		for _, s := range shape {
			n *= s
		}
		ts = append(ts, Tensor{Name: name, Shape: shape, Offset: off, Size: n})
		off += n
	}
	add("transformer.wte.weight", c.VocabSize, d)
	add("transformer.wpe.weight", c.Context, d)
	for l := 0; l < c.Layers; l++ {
		p := "transformer.h." + strconv.Itoa(l) + "."
		add(p+"ln_1.weight", d)
		add(p+"ln_1.bias", d)
		add(p+"attn.c_attn.weight", d, 3*d)
		add(p+"attn.c_attn.bias", 3*d)
		add(p+"attn.c_proj.weight", d, d)
		add(p+"attn.c_proj.bias", d)
		add(p+"ln_2.weight", d)
		add(p+"ln_2.bias", d)
		add(p+"mlp.c_fc.weight", d, f)
		add(p+"mlp.c_fc.bias", f)
		add(p+"mlp.c_proj.weight", f, d)
		add(p+"mlp.c_proj.bias", d)
	}
	add("transformer.ln_f.weight", d)
	add("transformer.ln_f.bias", d)
	return ts
}

// NumParams is the length of the flat parameter vector of a model of size c
// (c must be normalized).
func (c Config) NumParams() int {
	d, f := c.Dim, c.Inner()
	perLayer := 4*d + d*3*d + 3*d + d*d + d + d*f + f + f*d + d
	return (c.VocabSize+c.Context)*d + c.Layers*perLayer + 2*d
}

// Model is a GPT-2 language model (see the package documentation). Params
// is the flat parameter vector; it may be read and written directly (an
// optimizer step is an update of Params) but not resized. Methods that only
// evaluate the model are safe for concurrent use as long as Params is not
// being written.
type Model struct {
	cfg     Config
	tensors []Tensor
	Params  []float64
	lay     layout
	pool    *sync.Pool // of *workspace[float64]
}

// layout holds the offsets of the tensors the forward pass reads.
type layout struct {
	wte, wpe   int
	layers     []layerOffsets
	lnfW, lnfB int
}

type layerOffsets struct {
	ln1W, ln1B, attnW, attnB, projW, projB, ln2W, ln2B, fcW, fcB, fc2W, fc2B int
}

// NewModel returns a model of size cfg with parameters initialised as HF
// GPT-2 does, drawn from rng: every weight matrix and both embeddings
// ~ N(0, InitStd^2), except the residual projections attn.c_proj.weight and
// mlp.c_proj.weight ~ N(0, (InitStd/sqrt(2*Layers))^2); biases 0; LayerNorm
// weights 1. The values are rounded to float32, so the model is exactly what
// a checkpoint stores. The draws are made in the flat parameter order.
func NewModel(cfg Config, rng *rand.Rand) (*Model, error) {
	m, err := NewZeroModel(cfg)
	if err != nil {
		return nil, err
	}
	cfg = m.cfg
	resid := InitStd / math.Sqrt(2*float64(cfg.Layers))
	for _, t := range m.tensors {
		p := m.Params[t.Offset : t.Offset+t.Size]
		switch {
		case strings.HasSuffix(t.Name, "c_proj.weight"):
			for i := range p {
				p[i] = float64(float32(rng.NormFloat64() * resid))
			}
		case strings.HasSuffix(t.Name, "ln_1.weight"), strings.HasSuffix(t.Name, "ln_2.weight"), strings.HasSuffix(t.Name, "ln_f.weight"):
			for i := range p {
				p[i] = 1
			}
		case strings.HasSuffix(t.Name, ".bias"):
		default:
			for i := range p {
				p[i] = float64(float32(rng.NormFloat64() * InitStd))
			}
		}
	}
	return m, nil
}

// NewZeroModel returns a model of size cfg with all parameters zero (to be
// filled from a checkpoint).
func NewZeroModel(cfg Config) (*Model, error) {
	cfg, err := cfg.Normalize()
	if err != nil {
		return nil, err
	}
	m := &Model{cfg: cfg, tensors: cfg.Tensors(), Params: make([]float64, cfg.NumParams()), pool: new(sync.Pool)}
	m.lay = makeLayout(cfg, m.tensors)
	return m, nil
}

func makeLayout(cfg Config, ts []Tensor) layout {
	off := map[string]int{}
	for _, t := range ts {
		off[t.Name] = t.Offset
	}
	lay := layout{wte: off["transformer.wte.weight"], wpe: off["transformer.wpe.weight"],
		lnfW: off["transformer.ln_f.weight"], lnfB: off["transformer.ln_f.bias"]}
	for l := 0; l < cfg.Layers; l++ {
		p := "transformer.h." + strconv.Itoa(l) + "."
		lay.layers = append(lay.layers, layerOffsets{
			ln1W: off[p+"ln_1.weight"], ln1B: off[p+"ln_1.bias"],
			attnW: off[p+"attn.c_attn.weight"], attnB: off[p+"attn.c_attn.bias"],
			projW: off[p+"attn.c_proj.weight"], projB: off[p+"attn.c_proj.bias"],
			ln2W: off[p+"ln_2.weight"], ln2B: off[p+"ln_2.bias"],
			fcW: off[p+"mlp.c_fc.weight"], fcB: off[p+"mlp.c_fc.bias"],
			fc2W: off[p+"mlp.c_proj.weight"], fc2B: off[p+"mlp.c_proj.bias"],
		})
	}
	return lay
}

// Config returns the model's (normalized) size.
func (m *Model) Config() Config { return m.cfg }

// Tensors returns the parameter tensors in the flat order (a new slice).
func (m *Model) Tensors() []Tensor {
	ts := slices.Clone(m.tensors)
	for i := range ts {
		ts[i].Shape = slices.Clone(ts[i].Shape)
	}
	return ts
}

// NumParams is len(m.Params).
func (m *Model) NumParams() int { return len(m.Params) }

// Tensor returns the parameters of the named tensor as a view into Params
// (row-major in the tensor's shape), or nil if there is no such tensor.
func (m *Model) Tensor(name string) []float64 {
	for _, t := range m.tensors {
		if t.Name == name {
			return m.Params[t.Offset : t.Offset+t.Size : t.Offset+t.Size]
		}
	}
	return nil
}

// Clone returns an independent copy of m.
func (m *Model) Clone() *Model {
	c := *m
	c.Params = slices.Clone(m.Params)
	c.pool = new(sync.Pool)
	return &c
}

// RoundToFloat32 rounds every parameter to the nearest float32 (round half
// to even, as a float64 -> float32 conversion does). A checkpoint stores
// parameters as F32, so a model saved after RoundToFloat32 loads back with
// bit-identical parameters; a trainer that calls it after every optimizer
// step therefore trains exactly the model it saves.
func (m *Model) RoundToFloat32() {
	for i, v := range m.Params {
		m.Params[i] = float64(float32(v))
	}
}

// Selection is a subset of the parameter tensors, in the flat order. The
// zero Selection means every parameter.
type Selection struct {
	ranges [][2]int // [offset, offset+size) of each selected tensor, in order
	dim    int
	minLay int // lowest block whose parameters are selected (Layers if none)
	embed  bool
	total  int // length of the parameter vector it was made for
}

// Select returns the selection of the named tensors. A name ending in "."
// selects every tensor whose name starts with it ("transformer.h.1."
// selects block 1). The selected tensors keep the flat parameter order,
// whatever the order of names. No names selects every parameter. An unknown
// name, or a prefix that matches nothing, is an error.
func (m *Model) Select(names ...string) (Selection, error) {
	if len(names) == 0 {
		return m.allSelection(), nil
	}
	chosen := make([]bool, len(m.tensors))
	for _, n := range names {
		found := false
		for i, t := range m.tensors {
			if t.Name == n || (strings.HasSuffix(n, ".") && strings.HasPrefix(t.Name, n)) {
				chosen[i] = true
				found = true
			}
		}
		if !found {
			return Selection{}, fmt.Errorf("policy: no parameter tensor %q", n)
		}
	}
	s := Selection{minLay: m.cfg.Layers, total: len(m.Params)}
	for i, t := range m.tensors {
		if !chosen[i] {
			continue
		}
		s.ranges = append(s.ranges, [2]int{t.Offset, t.Offset + t.Size})
		s.dim += t.Size
		switch {
		case strings.HasPrefix(t.Name, "transformer.h."):
			l, _ := strconv.Atoi(strings.Split(t.Name, ".")[2])
			s.minLay = min(s.minLay, l)
		case t.Name == "transformer.wte.weight" || t.Name == "transformer.wpe.weight":
			s.embed = true
		}
	}
	return s, nil
}

func (m *Model) allSelection() Selection {
	return Selection{ranges: [][2]int{{0, len(m.Params)}}, dim: len(m.Params), embed: true, total: len(m.Params)}
}

// resolve turns the zero Selection into the full one.
func (m *Model) resolve(s Selection) Selection {
	if s.ranges == nil {
		return m.allSelection()
	}
	if s.total != len(m.Params) {
		panic("policy: Selection made for a model of another size")
	}
	return s
}

// Dim is the number of selected parameters (0 for the zero Selection,
// meaning all; use Model.SelectionDim for the resolved size).
func (s Selection) Dim() int { return s.dim }

// SelectionDim is the number of parameters s selects in m.
func (m *Model) SelectionDim(s Selection) int { return m.resolve(s).dim }

// gather copies the selected entries of a full-length vector into dst.
func (s Selection) gather(dst []float64, full []float64) {
	o := 0
	for _, r := range s.ranges {
		o += copy(dst[o:], full[r[0]:r[1]])
	}
}

// gather32 copies the selected entries of a full-length vector into dst,
// rounded to float32.
func gather32[F float](s Selection, dst []float32, full []F) {
	o := 0
	for _, r := range s.ranges {
		for _, v := range full[r[0]:r[1]] {
			dst[o] = float32(v)
			o++
		}
	}
}
