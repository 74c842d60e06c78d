package hf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// ConfigFileName is the name of a model directory's config.
const ConfigFileName = "config.json"

// MaxConfigBytes is the largest config.json read.
const MaxConfigBytes = 16 << 20

// Model types (config.json's model_type).
const (
	Qwen2 = "qwen2"
	Qwen3 = "qwen3"
	Llama = "llama"
)

// Rope types this package computes.
const (
	RopeDefault = "default"
	RopeLlama3  = "llama3"
)

// Config is what the forward pass needs from config.json, normalized over
// the transformers 4.x and 5.x spellings (ParseConfig).
type Config struct {
	ModelType         string  // qwen2, qwen3 or llama
	VocabSize         int     // vocab_size: rows of the embedding and of the LM head; the softmax runs over all of them
	Hidden            int     // hidden_size
	Intermediate      int     // intermediate_size (SwiGLU width)
	Layers            int     // num_hidden_layers
	Heads             int     // num_attention_heads
	KVHeads           int     // num_key_value_heads (default Heads); divides Heads
	HeadDim           int     // head_dim (qwen3 default 128; otherwise hidden_size/num_attention_heads)
	MaxPositions      int     // max_position_embeddings: the longest sequence accepted
	RMSNormEps        float64 // rms_norm_eps (default 1e-6)
	TieWordEmbeddings bool    // tie_word_embeddings (default false): lm_head is embed_tokens
	QKVBias           bool    // q_proj, k_proj and v_proj have biases (qwen2)
	QKNorm            bool    // q_norm and k_norm per head before RoPE (qwen3)
	Rope              Rope
	// DType is torch_dtype (4.x) or dtype (5.x) as written ("bfloat16",
	// "float32", "float16"; "" when absent): the dtype transformers loads
	// the weights in. The weights are read from their safetensors dtype
	// whatever it says.
	DType string
	BOS   int   // bos_token_id, -1 when null or absent
	EOS   []int // eos_token_id (an int or a list), empty when null or absent
	Pad   int   // pad_token_id, -1 when null or absent
}

// Rope is the rotary position embedding (transformers'
// modeling_rope_utils.py, _compute_default_rope_parameters and
// _compute_llama3_parameters).
type Rope struct {
	Type  string  // RopeDefault or RopeLlama3
	Theta float64 // rope_theta (default 10000)
	// llama3 only:
	Factor               float64 // factor
	LowFreqFactor        float64 // low_freq_factor
	HighFreqFactor       float64 // high_freq_factor
	OriginalMaxPositions float64 // original_max_position_embeddings
}

// InvFreq returns the dim/2 inverse frequencies of a head of width dim
// (even), in float64:
//
//	default: inv_freq[i] = 1 / theta^(2i/dim)
//	llama3:  with wavelen = 2 pi / inv_freq, low = orig/low_freq_factor,
//	         high = orig/high_freq_factor:
//	         wavelen < high:  inv_freq unchanged
//	         wavelen > low:   inv_freq / factor
//	         otherwise:       (1-s) inv_freq/factor + s inv_freq,
//	                          s = (orig/wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
//
// transformers computes these in float32; here they are float64 (see the
// package documentation on precision).
func (r Rope) InvFreq(dim int) []float64 {
	out := make([]float64, dim/2)
	for i := range out {
		out[i] = 1 / math.Pow(r.Theta, float64(2*i)/float64(dim))
	}
	if r.Type != RopeLlama3 {
		return out
	}
	lowWave := r.OriginalMaxPositions / r.LowFreqFactor
	highWave := r.OriginalMaxPositions / r.HighFreqFactor
	for i, f := range out {
		wave := 2 * math.Pi / f
		switch {
		case wave < highWave:
		case wave > lowWave:
			out[i] = f / r.Factor
		default:
			s := (r.OriginalMaxPositions/wave - r.LowFreqFactor) / (r.HighFreqFactor - r.LowFreqFactor)
			out[i] = (1-s)*f/r.Factor + s*f
		}
	}
	return out
}

// KVDim is KVHeads*HeadDim, the width of a key or value row.
func (c Config) KVDim() int { return c.KVHeads * c.HeadDim }

// QDim is Heads*HeadDim, the width of a query row.
func (c Config) QDim() int { return c.Heads * c.HeadDim }

// Architecture returns the transformers class name of the model type
// (Qwen2ForCausalLM, Qwen3ForCausalLM, LlamaForCausalLM).
func (c Config) Architecture() string { return architecture(c.ModelType) }

func architecture(modelType string) string {
	switch modelType {
	case Qwen2:
		return "Qwen2ForCausalLM"
	case Qwen3:
		return "Qwen3ForCausalLM"
	case Llama:
		return "LlamaForCausalLM"
	}
	return ""
}

// Limits beyond which a config is refused as implausible (so that a hostile
// config cannot make Load allocate absurd amounts before reading a tensor).
const (
	maxVocab     = 1 << 22
	maxHidden    = 1 << 16
	maxLayers    = 1 << 10
	maxHeads     = 1 << 10
	maxPositions = 1 << 24
)

// ReadConfig reads dir/config.json with ParseConfig.
func ReadConfig(dir string) (Config, error) {
	path := filepath.Join(dir, ConfigFileName)
	f, err := os.Open(path)
	if err != nil {
		return Config{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxConfigBytes+1))
	if err != nil {
		return Config{}, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(b) > MaxConfigBytes {
		return Config{}, &Error{File: path, Msg: fmt.Sprintf("larger than %d bytes", MaxConfigBytes), Err: ErrMalformed}
	}
	return ParseConfig(b, path)
}

// ParseConfig decodes config.json (file names it in errors) as transformers
// 4.x or 5.x writes it for model_type qwen2, qwen3 or llama, and refuses,
// with an *Error naming the field, everything this package does not
// compute exactly (see the package documentation for the list). Absent
// optional fields take transformers' defaults for the model type.
func ParseConfig(data []byte, file string) (Config, error) {
	p := &cfgParser{file: file}
	obj, err := p.object(data, "")
	if err != nil {
		return Config{}, err
	}
	p.obj = obj
	return p.parse()
}

type cfgParser struct {
	file string
	obj  map[string]json.RawMessage
}

func (p *cfgParser) malformed(field, format string, args ...any) error {
	return &Error{File: p.file, Field: field, Msg: fmt.Sprintf(format, args...), Err: ErrMalformed}
}

func (p *cfgParser) unsupported(field, format string, args ...any) error {
	return &Error{File: p.file, Field: field, Msg: fmt.Sprintf(format, args...), Err: ErrUnsupported}
}

// object decodes one JSON object, refusing duplicate keys; field names it
// ("" for the top level).
func (p *cfgParser) object(data []byte, field string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, p.malformed(field, "invalid JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, p.malformed(field, "not a JSON object")
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, p.malformed(field, "invalid JSON: %v", err)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, p.malformed(join(field, key), "invalid JSON: %v", err)
		}
		if _, dup := out[key]; dup {
			return nil, p.malformed(join(field, key), "duplicate key")
		}
		out[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, p.malformed(field, "invalid JSON: %v", err)
	}
	if rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, p.malformed(field, "data after the JSON object")
	}
	return out, nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// isNull reports whether v is absent or JSON null.
func isNull(v json.RawMessage) bool {
	return v == nil || string(bytes.TrimSpace(v)) == "null"
}

func (p *cfgParser) has(key string) bool { return !isNull(p.obj[key]) }

// str reads a string field; ok is false when absent or null.
func (p *cfgParser) str(obj map[string]json.RawMessage, prefix, key string) (string, bool, error) {
	v := obj[key]
	if isNull(v) {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false, p.malformed(join(prefix, key), "not a string: %s", short(v))
	}
	return s, true, nil
}

// num reads a finite number field; ok is false when absent or null.
func (p *cfgParser) num(obj map[string]json.RawMessage, prefix, key string) (float64, bool, error) {
	v := obj[key]
	if isNull(v) {
		return 0, false, nil
	}
	var x float64
	if err := json.Unmarshal(v, &x); err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		return 0, false, p.malformed(join(prefix, key), "not a finite number: %s", short(v))
	}
	return x, true, nil
}

// integer reads an integral number field (1024 or 1024.0) within [lo, hi].
func (p *cfgParser) integer(obj map[string]json.RawMessage, prefix, key string, lo, hi int) (int, bool, error) {
	x, ok, err := p.num(obj, prefix, key)
	if err != nil || !ok {
		return 0, ok, err
	}
	if x != math.Trunc(x) || x < float64(lo) || x > float64(hi) {
		return 0, false, p.malformed(join(prefix, key), "%s is not an integer in [%d, %d]", short(obj[key]), lo, hi)
	}
	return int(x), true, nil
}

// boolean reads a bool field; ok is false when absent or null.
func (p *cfgParser) boolean(key string) (bool, bool, error) {
	v := p.obj[key]
	if isNull(v) {
		return false, false, nil
	}
	var b bool
	if err := json.Unmarshal(v, &b); err != nil {
		return false, false, p.malformed(key, "not a boolean: %s", short(v))
	}
	return b, true, nil
}

// short abbreviates a JSON value for an error message.
func short(v json.RawMessage) string {
	s := string(bytes.TrimSpace(v))
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// tokenIDs reads a token id field: null, an int, or (listOK) a list of ints.
func (p *cfgParser) tokenIDs(key string, listOK bool) ([]int, error) {
	v := p.obj[key]
	if isNull(v) {
		return nil, nil
	}
	if id, ok, err := p.integer(p.obj, "", key, 0, maxVocab); err == nil && ok {
		return []int{id}, nil
	}
	var list []json.RawMessage
	if !listOK || json.Unmarshal(v, &list) != nil {
		return nil, p.malformed(key, "not a token id: %s", short(v))
	}
	var out []int
	for i, e := range list {
		m := map[string]json.RawMessage{"": e}
		id, ok, err := p.integer(m, key, "", 0, maxVocab)
		if err != nil || !ok {
			return nil, p.malformed(fmt.Sprintf("%s[%d]", key, i), "not a token id: %s", short(e))
		}
		out = append(out, id)
	}
	return out, nil
}

func (p *cfgParser) parse() (Config, error) {
	var c Config
	mt, ok, err := p.str(p.obj, "", "model_type")
	if err != nil {
		return c, err
	}
	if !ok {
		return c, p.malformed("model_type", "missing")
	}
	switch mt {
	case Qwen2, Qwen3, Llama:
	default:
		return c, p.unsupported("model_type", "%q (implemented: qwen2, qwen3, llama)", mt)
	}
	c.ModelType = mt

	if v := p.obj["architectures"]; !isNull(v) {
		var archs []string
		if err := json.Unmarshal(v, &archs); err != nil {
			return c, p.malformed("architectures", "not a list of strings: %s", short(v))
		}
		if want := architecture(mt); len(archs) != 1 || archs[0] != want {
			return c, p.unsupported("architectures", "%q (model_type %s is read as %s, a causal language model)", archs, mt, want)
		}
	}

	// Mixture of experts, quantization and other things not computed.
	for _, k := range []string{"num_experts", "num_local_experts", "n_routed_experts", "num_experts_per_tok",
		"moe_intermediate_size", "shared_expert_intermediate_size", "n_shared_experts", "decoder_sparse_step",
		"mlp_only_layers"} {
		if v := p.obj[k]; !isNull(v) && string(bytes.TrimSpace(v)) != "0" && string(bytes.TrimSpace(v)) != "[]" {
			return c, p.unsupported(k, "%s: mixture-of-experts layers are refused (not computed exactly)", short(v))
		}
	}
	for _, k := range []string{"quantization_config", "attn_logit_softcapping", "final_logit_softcapping"} {
		if p.has(k) {
			return c, p.unsupported(k, "set: refused (not computed exactly)")
		}
	}
	if x, ok, err := p.num(p.obj, "", "partial_rotary_factor"); err != nil {
		return c, err
	} else if ok && x != 1 {
		return c, p.unsupported("partial_rotary_factor", "%v (only 1, RoPE over the whole head, is implemented)", x)
	}

	// Sizes.
	ints := []struct {
		key string
		dst *int
		hi  int
	}{
		{"vocab_size", &c.VocabSize, maxVocab},
		{"hidden_size", &c.Hidden, maxHidden},
		{"intermediate_size", &c.Intermediate, 16 * maxHidden},
		{"num_hidden_layers", &c.Layers, maxLayers},
		{"num_attention_heads", &c.Heads, maxHeads},
	}
	for _, f := range ints {
		v, ok, err := p.integer(p.obj, "", f.key, 1, f.hi)
		if err != nil {
			return c, err
		}
		if !ok {
			return c, p.malformed(f.key, "missing")
		}
		*f.dst = v
	}
	c.KVHeads = c.Heads
	if v, ok, err := p.integer(p.obj, "", "num_key_value_heads", 1, maxHeads); err != nil {
		return c, err
	} else if ok {
		c.KVHeads = v
	}
	if c.Heads%c.KVHeads != 0 {
		return c, p.malformed("num_key_value_heads", "%d does not divide num_attention_heads %d", c.KVHeads, c.Heads)
	}
	hd, hdSet, err := p.integer(p.obj, "", "head_dim", 1, maxHidden)
	if err != nil {
		return c, err
	}
	switch {
	case mt == Qwen3 && !hdSet:
		c.HeadDim = 128 // Qwen3Config's default
	case hdSet:
		c.HeadDim = hd
	default:
		if c.Hidden%c.Heads != 0 {
			return c, p.malformed("num_attention_heads", "%d does not divide hidden_size %d (and head_dim is not given)", c.Heads, c.Hidden)
		}
		c.HeadDim = c.Hidden / c.Heads
	}
	if mt == Qwen2 && hdSet && hd*c.Heads != c.Hidden {
		// transformers 4.x's Qwen2Attention ignores head_dim
		// (hidden_size // num_attention_heads), later versions read it.
		return c, p.unsupported("head_dim", "%d differs from hidden_size/num_attention_heads = %d/%d, which transformers versions read differently", hd, c.Hidden, c.Heads)
	}
	if c.HeadDim%2 != 0 {
		return c, p.malformed("head_dim", "%d is odd (RoPE rotates pairs)", c.HeadDim)
	}
	if c.Heads*c.HeadDim > 16*maxHidden {
		return c, p.malformed("head_dim", "num_attention_heads x head_dim = %d x %d is implausibly large", c.Heads, c.HeadDim)
	}

	c.MaxPositions = map[string]int{Qwen2: 32768, Qwen3: 32768, Llama: 2048}[mt]
	if v, ok, err := p.integer(p.obj, "", "max_position_embeddings", 1, maxPositions); err != nil {
		return c, err
	} else if ok {
		c.MaxPositions = v
	}
	c.RMSNormEps = 1e-6
	if v, ok, err := p.num(p.obj, "", "rms_norm_eps"); err != nil {
		return c, err
	} else if ok {
		if v <= 0 {
			return c, p.malformed("rms_norm_eps", "%v is not positive", v)
		}
		c.RMSNormEps = v
	}
	act := "silu"
	if s, ok, err := p.str(p.obj, "", "hidden_act"); err != nil {
		return c, err
	} else if ok {
		act = s
	}
	if act != "silu" {
		return c, p.unsupported("hidden_act", "%q (only silu is implemented)", act)
	}
	if v, ok, err := p.boolean("tie_word_embeddings"); err != nil {
		return c, err
	} else if ok {
		c.TieWordEmbeddings = v
	}

	// Biases and norms by model type.
	ab, _, err := p.boolean("attention_bias")
	if err != nil {
		return c, err
	}
	mb, _, err := p.boolean("mlp_bias")
	if err != nil {
		return c, err
	}
	switch mt {
	case Qwen2:
		c.QKVBias = true // Qwen2Attention: bias=True on q, k, v whatever attention_bias says
	case Qwen3:
		c.QKNorm = true
		if ab {
			return c, p.unsupported("attention_bias", "true: refused (q, k, v, o biases of a qwen3 are not computed)")
		}
	case Llama:
		if ab {
			return c, p.unsupported("attention_bias", "true: refused (q, k, v, o biases of a llama are not computed)")
		}
	}
	if mb {
		return c, p.unsupported("mlp_bias", "true: refused (MLP biases are not computed)")
	}

	if err := p.sliding(&c); err != nil {
		return c, err
	}
	if err := p.rope(&c); err != nil {
		return c, err
	}

	// dtype
	for _, k := range []string{"dtype", "torch_dtype"} {
		s, ok, err := p.str(p.obj, "", k)
		if err != nil {
			return c, err
		}
		if !ok {
			continue
		}
		switch s {
		case "bfloat16", "float32", "float16", "float64", "auto":
		default:
			return c, p.unsupported(k, "%q (the weights must be float32, bfloat16 or float16)", s)
		}
		if c.DType != "" && c.DType != s {
			return c, p.malformed(k, "%q disagrees with the other dtype field %q", s, c.DType)
		}
		c.DType = s
	}

	// Special tokens.
	c.BOS, c.Pad = -1, -1
	if ids, err := p.tokenIDs("bos_token_id", false); err != nil {
		return c, err
	} else if len(ids) == 1 {
		c.BOS = ids[0]
	}
	if ids, err := p.tokenIDs("pad_token_id", false); err != nil {
		return c, err
	} else if len(ids) == 1 {
		c.Pad = ids[0]
	}
	ids, err := p.tokenIDs("eos_token_id", true)
	if err != nil {
		return c, err
	}
	c.EOS = ids
	// Only the stop tokens are used (bos and pad are informational; some
	// fine-tuned configs have a pad id one past the vocabulary).
	for _, id := range c.EOS {
		if id >= c.VocabSize {
			return c, p.malformed("eos_token_id", "%d is not below vocab_size %d", id, c.VocabSize)
		}
	}
	return c, nil
}

// sliding refuses sliding-window attention that would change any
// attention pattern within max_position_embeddings.
func (p *cfgParser) sliding(c *Config) error {
	use, _, err := p.boolean("use_sliding_window")
	if err != nil {
		return err
	}
	window, wOK, err := p.integer(p.obj, "", "sliding_window", 0, math.MaxInt32)
	if err != nil {
		return err
	}
	var types []string
	if v := p.obj["layer_types"]; !isNull(v) {
		if err := json.Unmarshal(v, &types); err != nil {
			return p.malformed("layer_types", "not a list of strings: %s", short(v))
		}
		if len(types) != c.Layers {
			return p.malformed("layer_types", "has %d entries for %d layers", len(types), c.Layers)
		}
	}
	if c.ModelType == Llama {
		if use {
			return p.unsupported("use_sliding_window", "true on a llama")
		}
		for i, t := range types {
			if t != "full_attention" {
				return p.unsupported("layer_types", "layer %d is %q on a llama", i, t)
			}
		}
		return nil
	}
	maxWindowLayers := 28 // Qwen2Config and Qwen3Config default
	if v, ok, err := p.integer(p.obj, "", "max_window_layers", 0, math.MaxInt32); err != nil {
		return err
	} else if ok {
		maxWindowLayers = v
	}
	field := "use_sliding_window"
	if types == nil {
		types = make([]string, c.Layers)
		for i := range types {
			types[i] = "full_attention"
			if use && wOK && i >= maxWindowLayers {
				types[i] = "sliding_attention"
			}
		}
	} else {
		field = "layer_types"
	}
	for i, t := range types {
		switch t {
		case "full_attention":
		case "sliding_attention":
			// transformers' sliding mask lets query i see key j when
			// i - j < sliding_window; with a window at least the context,
			// that is every earlier key.
			if !wOK {
				return p.malformed("sliding_window", "null, but layer %d is sliding_attention", i)
			}
			if window < c.MaxPositions {
				return p.unsupported(field, "layer %d uses sliding-window attention with sliding_window %d < max_position_embeddings %d: refused (sliding-window attention is not computed)", i, window, c.MaxPositions)
			}
		default:
			return p.unsupported("layer_types", "layer %d is %q", i, t)
		}
	}
	return nil
}

// rope reads rope_theta with rope_scaling (4.x) or rope_parameters (5.x).
func (p *cfgParser) rope(c *Config) error {
	c.Rope = Rope{Type: RopeDefault, Theta: 10000}
	theta, thetaOK, err := p.num(p.obj, "", "rope_theta")
	if err != nil {
		return err
	}
	if thetaOK {
		c.Rope.Theta = theta
	}
	scalingSet, paramsSet := p.has("rope_scaling"), p.has("rope_parameters")
	if scalingSet && paramsSet {
		return p.malformed("rope_parameters", "both rope_scaling (transformers 4.x) and rope_parameters (5.x) are set")
	}
	field := "rope_scaling"
	if paramsSet {
		field = "rope_parameters"
	}
	if !scalingSet && !paramsSet {
		return p.checkTheta(c, "rope_theta")
	}
	obj, err := p.object(p.obj[field], field)
	if err != nil {
		return err
	}
	// 5.x may nest the parameters by layer type.
	if field == "rope_parameters" {
		_, fa := obj["full_attention"]
		_, sa := obj["sliding_attention"]
		if fa || sa {
			if sa && !isNull(obj["sliding_attention"]) {
				return p.unsupported("rope_parameters.sliding_attention", "per-layer-type RoPE is refused (not computed exactly)")
			}
			field = "rope_parameters.full_attention"
			obj, err = p.object(obj["full_attention"], field)
			if err != nil {
				return err
			}
		}
	}
	typ := RopeDefault
	typKey := ""
	for _, k := range []string{"rope_type", "type"} {
		s, ok, err := p.str(obj, field, k)
		if err != nil {
			return err
		}
		if ok && typKey == "" {
			typ, typKey = s, k
		}
	}
	if typKey == "" {
		typKey = "rope_type"
		// Without a type, transformers 4.x fails and 5.x takes default,
		// ignoring scaling parameters: refuse anything but the theta.
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			if k != "rope_theta" && k != "partial_rotary_factor" {
				return p.unsupported(join(field, "rope_type"), "missing, with %s set (the scaling is ambiguous)", k)
			}
		}
	}
	if v, ok, err := p.num(obj, field, "rope_theta"); err != nil {
		return err
	} else if ok {
		c.Rope.Theta = v
	}
	if v, ok, err := p.num(obj, field, "partial_rotary_factor"); err != nil {
		return err
	} else if ok && v != 1 {
		return p.unsupported(join(field, "partial_rotary_factor"), "%v (only 1 is implemented)", v)
	}
	switch typ {
	case RopeDefault:
	case RopeLlama3:
		c.Rope.Type = RopeLlama3
		for _, f := range []struct {
			key string
			dst *float64
		}{
			{"factor", &c.Rope.Factor},
			{"low_freq_factor", &c.Rope.LowFreqFactor},
			{"high_freq_factor", &c.Rope.HighFreqFactor},
			{"original_max_position_embeddings", &c.Rope.OriginalMaxPositions},
		} {
			v, ok, err := p.num(obj, field, f.key)
			if err != nil {
				return err
			}
			if !ok {
				return p.malformed(join(field, f.key), "missing (required by rope_type llama3)")
			}
			if v <= 0 {
				return p.malformed(join(field, f.key), "%v is not positive", v)
			}
			*f.dst = v
		}
		if c.Rope.HighFreqFactor <= c.Rope.LowFreqFactor {
			return p.malformed(join(field, "high_freq_factor"), "%v is not above low_freq_factor %v", c.Rope.HighFreqFactor, c.Rope.LowFreqFactor)
		}
	default:
		return p.unsupported(join(field, typKey), "%q (implemented: default, llama3)", typ)
	}
	return p.checkTheta(c, "rope_theta")
}

func (p *cfgParser) checkTheta(c *Config, field string) error {
	if !(c.Rope.Theta > 1) {
		return p.malformed(field, "%v is not above 1", c.Rope.Theta)
	}
	return nil
}
