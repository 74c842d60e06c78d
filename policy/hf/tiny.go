package hf

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/gradcouple/gradcouple/checkpoint"
)

// TinyOptions describes a tiny random-weight checkpoint (WriteTiny). The
// zero value of each field but ModelType means the default written on it.
type TinyOptions struct {
	// ModelType is qwen2, qwen3 or llama; TinyConfig gives the sizes.
	ModelType string
	// Transformers5 writes config.json as transformers 5.x does
	// (rope_parameters holding rope_theta and the RoPE type, dtype, and
	// layer_types for the Qwen types) instead of 4.x (rope_theta,
	// rope_scaling, torch_dtype).
	Transformers5 bool
	// Shards is the number of safetensors files: 0 or 1 writes
	// model.safetensors, n > 1 writes model-0000i-of-0000n.safetensors and
	// model.safetensors.index.json as save_pretrained does above its shard
	// size.
	Shards int
	// DType of every weight: checkpoint.BF16 (default), F16 or F32. Values
	// are drawn in float64 and rounded to nearest even.
	DType checkpoint.DType
	// Seed of the weights (a PCG stream); the same seed writes the same
	// bytes.
	Seed uint64
	// Tokenizer, if not nil, holds the tokenizer files copied into the
	// directory: tokenizer.json (or tokenizer.json.gz, written
	// decompressed), tokenizer_config.json and chat_template.jinja, each if
	// present.
	Tokenizer fs.FS
	// ChatTemplate, if not nil, is written as chat_template.jinja (in place
	// of the one in Tokenizer).
	ChatTemplate []byte
	// Config, if not nil, replaces TinyConfig(ModelType).
	Config *Config
}

// TinyConfig returns the config of a tiny model of the given type: hidden
// size 32, 2 layers, 4 query and 2 key-value heads, SwiGLU width 64, the
// real vocabulary size of the family (so that the real tokenizer fits) and
// the special tokens, context, RMSNorm epsilon and RoPE of a real member:
//
//	qwen2: as Qwen2.5-0.5B-Instruct: vocab 151,936, head_dim 8, rope_theta 1e6,
//	       tied embeddings, q/k/v biases
//	qwen3: as Qwen3-0.6B: vocab 151,936, explicit head_dim 16 (query width
//	       64 != hidden 32), rope_theta 1e6, tied embeddings, q_norm/k_norm
//	llama: as Llama-3.1-8B-Instruct: vocab 128,256, head_dim 8, rope_theta
//	       5e5 with llama3 scaling (factor 32, low 1, high 4, original 8192:
//	       with head_dim 8 the four frequencies fall in the high, high,
//	       medium and low bands), untied lm_head, eos [128001, 128008, 128009]
//
// It returns false for another type.
func TinyConfig(modelType string) (Config, bool) {
	c := Config{ModelType: modelType, Hidden: 32, Intermediate: 64, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 8,
		RMSNormEps: 1e-6, DType: "bfloat16", Pad: -1}
	switch modelType {
	case Qwen2:
		c.VocabSize, c.MaxPositions = 151936, 32768
		c.TieWordEmbeddings, c.QKVBias = true, true
		c.Rope = Rope{Type: RopeDefault, Theta: 1e6}
		c.BOS, c.EOS = 151643, []int{151645}
	case Qwen3:
		c.VocabSize, c.MaxPositions = 151936, 40960
		c.HeadDim = 16
		c.TieWordEmbeddings, c.QKNorm = true, true
		c.Rope = Rope{Type: RopeDefault, Theta: 1e6}
		c.BOS, c.EOS = 151643, []int{151645}
	case Llama:
		c.VocabSize, c.MaxPositions = 128256, 131072
		c.RMSNormEps = 1e-5
		c.Rope = Rope{Type: RopeLlama3, Theta: 5e5, Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192}
		c.BOS, c.EOS = 128000, []int{128001, 128008, 128009}
	default:
		return Config{}, false
	}
	return c, true
}

// pyFloat is a float64 that encodes as Python's repr (1e-06, 1000000.0),
// as json.dumps writes floats.
type pyFloat float64

// MarshalJSON writes Python's float repr.
func (f pyFloat) MarshalJSON() ([]byte, error) { return []byte(pyRepr(float64(f))), nil }

// pyRepr formats x as Python's repr(float): the shortest round-trip
// digits, in positional notation for exponents -4 <= e < 16 (with ".0"
// when integral) and in d.ddde[+-]XX otherwise.
func pyRepr(x float64) string {
	if x == 0 {
		if math.Signbit(x) {
			return "-0.0"
		}
		return "0.0"
	}
	s := strconv.FormatFloat(x, 'e', -1, 64) // d.ddde±XX
	mant, expStr, _ := cut(s, 'e')
	e, _ := strconv.Atoi(expStr)
	if e >= -4 && e < 16 {
		f := strconv.FormatFloat(x, 'f', -1, 64)
		if !bytes.ContainsRune([]byte(f), '.') {
			f += ".0"
		}
		return f
	}
	sign := "+"
	if e < 0 {
		sign, e = "-", -e
	}
	return fmt.Sprintf("%se%s%02d", mant, sign, e)
}

func cut(s string, sep byte) (string, string, bool) {
	if i := bytes.IndexByte([]byte(s), sep); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// ConfigJSON returns config.json for c as transformers' save_pretrained
// writes it (json.dumps(indent=2, sort_keys=True) + "\n", floats as
// Python's repr): the 4.x layout (rope_theta, rope_scaling, torch_dtype,
// transformers_version 4.51.3) or, with v5, the 5.x one (rope_parameters,
// dtype, layer_types, transformers_version 5.0.0).
func ConfigJSON(c Config, v5 bool) ([]byte, error) {
	if architecture(c.ModelType) == "" {
		return nil, fmt.Errorf("hf: model type %q", c.ModelType)
	}
	m := map[string]any{
		"architectures":           []string{c.Architecture()},
		"attention_dropout":       pyFloat(0),
		"hidden_act":              "silu",
		"hidden_size":             c.Hidden,
		"initializer_range":       pyFloat(0.02),
		"intermediate_size":       c.Intermediate,
		"max_position_embeddings": c.MaxPositions,
		"model_type":              c.ModelType,
		"num_attention_heads":     c.Heads,
		"num_hidden_layers":       c.Layers,
		"num_key_value_heads":     c.KVHeads,
		"rms_norm_eps":            pyFloat(c.RMSNormEps),
		"tie_word_embeddings":     c.TieWordEmbeddings,
		"use_cache":               true,
		"vocab_size":              c.VocabSize,
	}
	id := func(v int) any {
		if v < 0 {
			return nil
		}
		return v
	}
	m["bos_token_id"] = id(c.BOS)
	switch len(c.EOS) {
	case 0:
		m["eos_token_id"] = nil
	case 1:
		m["eos_token_id"] = c.EOS[0]
	default:
		m["eos_token_id"] = c.EOS
	}
	if c.Pad >= 0 {
		m["pad_token_id"] = c.Pad
	}
	switch c.ModelType {
	case Qwen2:
		m["max_window_layers"] = c.Layers
		m["sliding_window"] = c.MaxPositions
		m["use_sliding_window"] = false
		if c.HeadDim*c.Heads != c.Hidden {
			return nil, errors.New("hf: a qwen2 config with head_dim != hidden_size/num_attention_heads")
		}
	case Qwen3:
		m["attention_bias"] = false
		m["head_dim"] = c.HeadDim
		m["max_window_layers"] = c.Layers
		m["sliding_window"] = nil
		m["use_sliding_window"] = false
	case Llama:
		m["attention_bias"] = false
		m["head_dim"] = c.HeadDim
		m["mlp_bias"] = false
		m["pretraining_tp"] = 1
	}
	var rope map[string]any
	if c.Rope.Type == RopeLlama3 {
		rope = map[string]any{
			"factor":                           pyFloat(c.Rope.Factor),
			"high_freq_factor":                 pyFloat(c.Rope.HighFreqFactor),
			"low_freq_factor":                  pyFloat(c.Rope.LowFreqFactor),
			"original_max_position_embeddings": intOrFloat(c.Rope.OriginalMaxPositions),
			"rope_type":                        RopeLlama3,
		}
	}
	if v5 {
		if rope == nil {
			rope = map[string]any{"rope_type": RopeDefault}
		}
		rope["rope_theta"] = pyFloat(c.Rope.Theta)
		m["rope_parameters"] = rope
		if c.DType != "" {
			m["dtype"] = c.DType
		}
		m["transformers_version"] = "5.0.0"
		if c.ModelType != Llama {
			types := make([]string, c.Layers)
			for i := range types {
				types[i] = "full_attention"
			}
			m["layer_types"] = types
		}
	} else {
		if rope == nil {
			m["rope_scaling"] = nil
		} else {
			m["rope_scaling"] = rope
		}
		m["rope_theta"] = pyFloat(c.Rope.Theta)
		if c.DType != "" {
			m["torch_dtype"] = c.DType
		}
		m["transformers_version"] = "4.51.3"
	}
	return pyJSON(m)
}

// intOrFloat is x as an int when it is integral (as Python writes an int
// field) and as a float otherwise.
func intOrFloat(x float64) any {
	if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
		return int64(x)
	}
	return pyFloat(x)
}

// pyJSON encodes v as json.dumps(v, indent=2, sort_keys=True) + "\n".
func pyJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil // Encode ends with "\n", as save_pretrained's file does
}

// TinyWeights returns the tensors of a random model of config c, in
// Tensors order, with values of dtype dt drawn from a PCG stream seeded by
// seed: each element is uniform on [-a, a] with a = sqrt(3) std (so of
// standard deviation std), rounded to dt:
//
//	embed_tokens                     std 1
//	q/k/v/o, gate/up/down weights    std 1.5/sqrt(in features)
//	q/k/v biases                     std 0.5
//	lm_head                          std 2/sqrt(hidden)
//	RMSNorm weights (every norm)     uniform on [0.5, 1.5]
//
// Large enough that attention is far from uniform and log-probs spread
// over several nats, so a wrong equation shows.
func TinyWeights(c Config, dt checkpoint.DType, seed uint64) ([]checkpoint.Tensor, error) {
	switch dt {
	case "":
		dt = checkpoint.BF16
	case checkpoint.BF16, checkpoint.F16, checkpoint.F32:
	default:
		return nil, fmt.Errorf("hf: tiny weights of dtype %s", dt)
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	var out []checkpoint.Tensor
	buf := make([]float32, 0)
	for _, t := range c.Tensors() {
		lo, hi := 0.0, 0.0
		name := t.Name
		switch {
		case name == "model.embed_tokens.weight":
			lo, hi = sym(1)
		case name == "lm_head.weight":
			lo, hi = sym(2 / math.Sqrt(float64(c.Hidden)))
		case hasSuffix(name, "norm.weight"):
			lo, hi = 0.5, 1.5
		case hasSuffix(name, ".bias"):
			lo, hi = sym(0.5)
		default: // [out, in] weight
			lo, hi = sym(1.5 / math.Sqrt(float64(t.Shape[1])))
		}
		buf = buf[:0]
		for range t.Size {
			u := float64(rng.Uint64()>>11) / (1 << 53)
			buf = append(buf, float32(lo+(hi-lo)*u))
		}
		data := checkpoint.AppendFloats(make([]byte, 0, t.Size*dt.Bits()/8), buf, dt)
		out = append(out, checkpoint.Tensor{Name: name, DType: dt, Shape: append([]int(nil), t.Shape...), Data: data})
	}
	return out, nil
}

func sym(std float64) (float64, float64) {
	a := math.Sqrt(3) * std
	return -a, a
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

// WriteTiny writes a tiny random-weight model directory dir in the exact
// Hugging Face layout: config.json (ConfigJSON), the weights (TinyWeights)
// as model.safetensors or as shards with model.safetensors.index.json
// (json.dumps(indent=2, sort_keys=True) with metadata.total_size, the sum
// of the tensors' bytes), every safetensors file with __metadata__
// {"format": "pt"} as transformers writes it, and the tokenizer files of
// opts. The directory appears atomically (written under a temporary name
// and renamed); dir must not exist.
//
// The sizes for the default configs (BF16): qwen2 and qwen3 9.8 MB of
// weights (the 151,936 x 32 tied embedding is 9.72 MB of it), llama
// 16.5 MB (8.21 MB embedding and as much again for its untied lm_head);
// the decompressed tokenizer.json adds 11.4 MB (Qwen) or 9.1 MB
// (Llama-3.1).
func WriteTiny(dir string, opts TinyOptions) error {
	var c Config
	if opts.Config != nil {
		c = *opts.Config
	} else {
		var ok bool
		if c, ok = TinyConfig(opts.ModelType); !ok {
			return fmt.Errorf("hf: tiny model of type %q (qwen2, qwen3, llama)", opts.ModelType)
		}
	}
	if opts.DType != "" {
		c.DType = map[checkpoint.DType]string{checkpoint.BF16: "bfloat16", checkpoint.F16: "float16", checkpoint.F32: "float32"}[opts.DType]
	}
	cfgJSON, err := ConfigJSON(c, opts.Transformers5)
	if err != nil {
		return err
	}
	tensors, err := TinyWeights(c, opts.DType, opts.Seed)
	if err != nil {
		return err
	}
	return WriteDir(dir, cfgJSON, tensors, opts.Shards, opts.Tokenizer, opts.ChatTemplate)
}

// WriteDir writes a model directory in the Hugging Face layout, atomically
// (a temporary directory renamed to dir, which must not exist): cfgJSON as
// config.json, tensors (in state-dict order) as model.safetensors or, for
// shards > 1, as shards with model.safetensors.index.json; the tokenizer
// files of tokenizer (see TinyOptions.Tokenizer) if not nil, and
// chatTemplate as chat_template.jinja if not nil.
func WriteDir(dir string, cfgJSON []byte, tensors []checkpoint.Tensor, shards int, tokenizer fs.FS, chatTemplate []byte) error {
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("hf: writing a model directory: %s already exists", dir)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // after a successful rename there is nothing left
	if err := os.WriteFile(filepath.Join(tmp, ConfigFileName), cfgJSON, 0o644); err != nil {
		return err
	}
	if err := writeShards(tmp, tensors, shards); err != nil {
		return err
	}
	if err := copyTokenizer(tmp, TinyOptions{Tokenizer: tokenizer, ChatTemplate: chatTemplate}); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// writeShards writes tensors (in state-dict order) as n shards.
func writeShards(dir string, tensors []checkpoint.Tensor, n int) error {
	meta := map[string]string{"format": "pt"}
	if n <= 1 {
		return checkpoint.WriteSafetensorsFile(filepath.Join(dir, checkpoint.SafetensorsName), tensors, meta)
	}
	if n > len(tensors) {
		return fmt.Errorf("hf: %d shards for %d tensors", n, len(tensors))
	}
	var total int64
	for _, t := range tensors {
		total += int64(len(t.Data))
	}
	// Shard j ends once it reaches (j+1)/n of the bytes, leaving at least
	// one tensor for every later shard.
	var groups [][]checkpoint.Tensor
	var cur []checkpoint.Tensor
	var cum int64
	for i, t := range tensors {
		cur = append(cur, t)
		cum += int64(len(t.Data))
		j := len(groups)
		left := len(tensors) - i - 1
		if j < n-1 && (cum*int64(n) >= total*int64(j+1) || left == n-1-j) {
			groups = append(groups, cur)
			cur = nil
		}
	}
	groups = append(groups, cur)
	weightMap := map[string]string{}
	for j, g := range groups {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", j+1, n)
		for _, t := range g {
			weightMap[t.Name] = name
		}
		if err := checkpoint.WriteSafetensorsFile(filepath.Join(dir, name), g, meta); err != nil {
			return err
		}
	}
	idx, err := pyJSON(map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": weightMap})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, checkpoint.SafetensorsIndexName), idx, 0o644)
}

// copyTokenizer copies the tokenizer files of opts into dir.
func copyTokenizer(dir string, opts TinyOptions) error {
	if opts.Tokenizer != nil {
		if b, err := fs.ReadFile(opts.Tokenizer, TokenizerFileName); err == nil {
			if err := os.WriteFile(filepath.Join(dir, TokenizerFileName), b, 0o644); err != nil {
				return err
			}
		} else if f, err := opts.Tokenizer.Open(TokenizerFileName + ".gz"); err == nil {
			err := gunzipTo(filepath.Join(dir, TokenizerFileName), f)
			f.Close()
			if err != nil {
				return err
			}
		}
		for _, name := range []string{"tokenizer_config.json", "chat_template.jinja"} {
			b, err := fs.ReadFile(opts.Tokenizer, name)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				return err
			}
		}
	}
	if opts.ChatTemplate != nil {
		return os.WriteFile(filepath.Join(dir, "chat_template.jinja"), opts.ChatTemplate, 0o644)
	}
	return nil
}

func gunzipTo(path string, r io.Reader) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("hf: %s.gz: %w", TokenizerFileName, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, io.LimitReader(zr, 1<<30)); err != nil {
		f.Close()
		return fmt.Errorf("hf: %s.gz: %w", TokenizerFileName, err)
	}
	return f.Close()
}
