package hf

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/policy/bpe"
)

// float is the element type of a model: float32 (the working precision)
// or float64 (tests and references).
type float interface{ ~float32 | ~float64 }

// Tensor describes one parameter tensor: its Hugging Face name, shape
// (row-major; nn.Linear weights are [out, in]) and place in Model.Params.
type Tensor struct {
	Name   string
	Shape  []int
	Offset int
	Size   int
}

// Tensors returns the parameter tensors of a model of config c in the
// order of transformers' state_dict, which is also the order of
// Model.Params:
//
//	model.embed_tokens.weight                 [V, d]
//	for l = 0 .. Layers-1, prefix model.layers.{l}.:
//	    self_attn.q_proj.weight [H*hd, d]     (+ self_attn.q_proj.bias [H*hd], qwen2)
//	    self_attn.k_proj.weight [KV*hd, d]    (+ self_attn.k_proj.bias [KV*hd], qwen2)
//	    self_attn.v_proj.weight [KV*hd, d]    (+ self_attn.v_proj.bias [KV*hd], qwen2)
//	    self_attn.o_proj.weight [d, H*hd]
//	    (self_attn.q_norm.weight [hd], self_attn.k_norm.weight [hd], qwen3)
//	    mlp.gate_proj.weight [I, d], mlp.up_proj.weight [I, d], mlp.down_proj.weight [d, I]
//	    input_layernorm.weight [d], post_attention_layernorm.weight [d]
//	model.norm.weight                         [d]
//	lm_head.weight                            [V, d]  (absent when tie_word_embeddings)
func (c Config) Tensors() []Tensor {
	d, hd, q, kv, in := c.Hidden, c.HeadDim, c.QDim(), c.KVDim(), c.Intermediate
	var out []Tensor
	off := 0
	add := func(name string, shape ...int) {
		n := 1
		for _, s := range shape {
			n *= s
		}
		out = append(out, Tensor{Name: name, Shape: shape, Offset: off, Size: n})
		off += n
	}
	add("model.embed_tokens.weight", c.VocabSize, d)
	for l := range c.Layers {
		p := "model.layers." + strconv.Itoa(l) + "."
		add(p+"self_attn.q_proj.weight", q, d)
		if c.QKVBias {
			add(p+"self_attn.q_proj.bias", q)
		}
		add(p+"self_attn.k_proj.weight", kv, d)
		if c.QKVBias {
			add(p+"self_attn.k_proj.bias", kv)
		}
		add(p+"self_attn.v_proj.weight", kv, d)
		if c.QKVBias {
			add(p+"self_attn.v_proj.bias", kv)
		}
		add(p+"self_attn.o_proj.weight", d, q)
		if c.QKNorm {
			add(p+"self_attn.q_norm.weight", hd)
			add(p+"self_attn.k_norm.weight", hd)
		}
		add(p+"mlp.gate_proj.weight", in, d)
		add(p+"mlp.up_proj.weight", in, d)
		add(p+"mlp.down_proj.weight", d, in)
		add(p+"input_layernorm.weight", d)
		add(p+"post_attention_layernorm.weight", d)
	}
	add("model.norm.weight", d)
	if !c.TieWordEmbeddings {
		add("lm_head.weight", c.VocabSize, d)
	}
	return out
}

// NumParams is the number of parameters (tied embeddings counted once).
func (c Config) NumParams() int {
	ts := c.Tensors()
	last := ts[len(ts)-1]
	return last.Offset + last.Size
}

// Model is a Hugging Face causal language model of type qwen2, qwen3 or
// llama with parameters of type F. Its methods that evaluate are safe for
// concurrent use; Params must not be written meanwhile.
type Model[F float] struct {
	// Params holds every parameter, tensor after tensor in Tensors order.
	Params []F

	cfg     Config
	tensors []Tensor
	embed   []F // V x d
	head    []F // V x d: embed when tied
	norm    []F
	layers  []layer[F]
	invFreq []float64
}

type layer[F float] struct {
	wq, wk, wv, wo   []F
	bq, bk, bv       []F // nil without biases
	qNorm, kNorm     []F // nil without QK norm
	gate, up, down   []F
	inNorm, postNorm []F
}

// NewZeroModel returns a model of config c with every parameter zero.
func NewZeroModel[F float](c Config) *Model[F] {
	m := &Model[F]{cfg: c, tensors: c.Tensors()}
	m.Params = make([]F, c.NumParams())
	m.bind()
	return m
}

// bind points the tensor views into Params.
func (m *Model[F]) bind() {
	view := map[string][]F{}
	for _, t := range m.tensors {
		view[t.Name] = m.Params[t.Offset : t.Offset+t.Size : t.Offset+t.Size]
	}
	c := m.cfg
	m.embed = view["model.embed_tokens.weight"]
	m.head = m.embed
	if !c.TieWordEmbeddings {
		m.head = view["lm_head.weight"]
	}
	m.norm = view["model.norm.weight"]
	m.layers = make([]layer[F], c.Layers)
	for l := range m.layers {
		p := "model.layers." + strconv.Itoa(l) + "."
		m.layers[l] = layer[F]{
			wq: view[p+"self_attn.q_proj.weight"], wk: view[p+"self_attn.k_proj.weight"],
			wv: view[p+"self_attn.v_proj.weight"], wo: view[p+"self_attn.o_proj.weight"],
			bq: view[p+"self_attn.q_proj.bias"], bk: view[p+"self_attn.k_proj.bias"], bv: view[p+"self_attn.v_proj.bias"],
			qNorm: view[p+"self_attn.q_norm.weight"], kNorm: view[p+"self_attn.k_norm.weight"],
			gate: view[p+"mlp.gate_proj.weight"], up: view[p+"mlp.up_proj.weight"], down: view[p+"mlp.down_proj.weight"],
			inNorm: view[p+"input_layernorm.weight"], postNorm: view[p+"post_attention_layernorm.weight"],
		}
	}
	m.invFreq = c.Rope.InvFreq(c.HeadDim)
}

// Config returns the model's config.
func (m *Model[F]) Config() Config { return m.cfg }

// Tensors returns the parameter tensors in the order of Params.
func (m *Model[F]) Tensors() []Tensor { return slices.Clone(m.tensors) }

// Tensor returns the named tensor as a view into Params, or nil.
func (m *Model[F]) Tensor(name string) []F {
	for _, t := range m.tensors {
		if t.Name == name {
			return m.Params[t.Offset : t.Offset+t.Size : t.Offset+t.Size]
		}
	}
	return nil
}

// Files of a model directory that Load refuses or reads.
const (
	TokenizerFileName     = "tokenizer.json"
	AdapterConfigFileName = "adapter_config.json"
)

// Load reads the model directory dir: config.json (ParseConfig) and the
// safetensors weights (checkpoint.OpenShards: model.safetensors, or
// model.safetensors.index.json and its shards, every entry checked).
//
// Every tensor of Config.Tensors must be present with its shape and dtype
// F32, BF16 or F16 (converted to F exactly); any other dtype is refused
// (ErrUnsupported naming the tensor). A tensor the model does not have is
// refused (ErrMalformed), with two exceptions that transformers also
// ignores: rotary_emb.inv_freq buffers (the model computes them), and, with
// tie_word_embeddings, an lm_head.weight identical to the embedding (one
// that differs is refused). A directory with adapter_config.json is a
// LoRA/PEFT adapter, refused: merge it into its base model first.
func Load[F float](dir string) (*Model[F], error) {
	if _, err := os.Stat(filepath.Join(dir, AdapterConfigFileName)); err == nil {
		return nil, &Error{File: filepath.Join(dir, AdapterConfigFileName), Msg: "a LoRA/PEFT adapter directory: its weights are deltas on a base model; merge it first (peft merge_and_unload, then save_pretrained)", Err: ErrUnsupported}
	}
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	sh, err := checkpoint.OpenShards(dir, checkpoint.ReadOptions{})
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			for _, n := range []string{"pytorch_model.bin", "pytorch_model.bin.index.json"} {
				if _, e := os.Stat(filepath.Join(dir, n)); e == nil {
					return nil, &Error{File: filepath.Join(dir, n), Msg: "pickled PyTorch weights are not read; convert them to safetensors (save_pretrained(safe_serialization=True))", Err: ErrUnsupported}
				}
			}
		}
		return nil, err
	}
	defer sh.Close()
	m := NewZeroModel[F](cfg)
	if err := m.readWeights(sh, dir); err != nil {
		return nil, err
	}
	return m, nil
}

// readWeights fills Params from sh, checking names, shapes and dtypes.
func (m *Model[F]) readWeights(sh *checkpoint.Shards, dir string) error {
	want := map[string]Tensor{}
	for _, t := range m.tensors {
		want[t.Name] = t
	}
	for _, name := range sh.Names() {
		if _, ok := want[name]; ok {
			continue
		}
		if strings.HasSuffix(name, "rotary_emb.inv_freq") || (name == "lm_head.weight" && m.cfg.TieWordEmbeddings) {
			continue // inv_freq is computed; a tied lm_head is compared below
		}
		_, file, _ := sh.Info(name)
		return &Error{File: file, Field: name, Msg: fmt.Sprintf("a tensor a %s model of this config does not have", m.cfg.ModelType), Err: ErrMalformed}
	}
	for _, t := range m.tensors {
		info, file, ok := sh.Info(t.Name)
		if !ok {
			msg := "missing from the weights"
			if t.Name == "lm_head.weight" {
				msg += " (config.json has tie_word_embeddings false)"
			}
			return &Error{File: dir, Field: t.Name, Msg: msg, Err: ErrMalformed}
		}
		if err := checkInfo(info, file, t.Shape); err != nil {
			return err
		}
		dst := m.Params[t.Offset : t.Offset+t.Size]
		if err := readInto(sh, t.Name, dst); err != nil {
			return err
		}
	}
	if m.cfg.TieWordEmbeddings {
		if info, file, ok := sh.Info("lm_head.weight"); ok {
			if err := checkInfo(info, file, []int{m.cfg.VocabSize, m.cfg.Hidden}); err != nil {
				return err
			}
			head := make([]F, m.cfg.VocabSize*m.cfg.Hidden)
			if err := readInto(sh, "lm_head.weight", head); err != nil {
				return err
			}
			for i, v := range head {
				if math.Float64bits(float64(v)) != math.Float64bits(float64(m.embed[i])) {
					return &Error{File: file, Field: "lm_head.weight", Msg: "differs from model.embed_tokens.weight although config.json has tie_word_embeddings true", Err: ErrMalformed}
				}
			}
		}
	}
	return nil
}

// checkInfo checks a tensor's dtype and shape.
func checkInfo(info checkpoint.TensorInfo, file string, shape []int) error {
	switch info.DType {
	case checkpoint.F32, checkpoint.BF16, checkpoint.F16:
	default:
		return &Error{File: file, Field: info.Name, Msg: fmt.Sprintf("dtype %s (read: F32, BF16, F16)", info.DType), Err: ErrUnsupported}
	}
	if !slices.Equal(info.Shape, shape) {
		return &Error{File: file, Field: info.Name, Msg: fmt.Sprintf("shape %v, want %v from config.json", info.Shape, shape), Err: ErrMalformed}
	}
	return nil
}

// readInto converts the named tensor exactly into dst, with no copy of
// the tensor's size for float32 and float64 (so loading needs about the
// parameters' memory, not twice it).
func readInto[F float](sh *checkpoint.Shards, name string, dst []F) error {
	switch d := any(dst).(type) {
	case []float32:
		return sh.Float32Into(name, d)
	case []float64:
		return sh.Float64Into(name, d)
	}
	v, _, err := sh.Float64(name)
	if err != nil {
		return err
	}
	for i, x := range v {
		dst[i] = F(x)
	}
	return nil
}

// LoadTokenizer reads dir/tokenizer.json (bpe.ReadFile) and checks that
// every id it can produce is a row of the model's embedding (below
// vocabSize, config.json's vocab_size; the embedding may have more rows than the tokenizer has
// tokens, as Qwen's 151,936 rows for 151,669 tokens).
func LoadTokenizer(dir string, vocabSize int) (*bpe.Tokenizer, error) {
	path := filepath.Join(dir, TokenizerFileName)
	tok, err := bpe.ReadFile(path, bpe.Options{})
	if err != nil {
		return nil, err
	}
	if n := tok.VocabSize(); n > vocabSize {
		return nil, &Error{File: path, Field: "vocab_size", Msg: fmt.Sprintf("the tokenizer has ids up to %d, beyond config.json's vocab_size %d", n-1, vocabSize), Err: ErrMalformed}
	}
	return tok, nil
}

// Convert returns a copy of m with parameters of type G (float64 to
// float32 rounds to nearest even; float32 to float64 is exact).
func Convert[G, F float](m *Model[F]) *Model[G] {
	out := NewZeroModel[G](m.cfg)
	for i, v := range m.Params {
		out.Params[i] = G(v)
	}
	return out
}
