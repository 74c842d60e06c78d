package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// FormatVersion is the version of the checkpoint directory layout written in
// config.json under "gradcouple"."format_version". Load refuses a newer one.
const FormatVersion = 1

// Config is a checkpoint's config.json: Hugging Face's GPT2Config for
// GPT2LMHeadModel (transformers/models/gpt2/configuration_gpt2.py), so that
// transformers.GPT2LMHeadModel.from_pretrained(dir) loads the checkpoint, plus
// gradcouple's own fields under the "gradcouple" key, which transformers keeps
// as an unused attribute.
//
// Fields are in the JSON's (sorted) key order, the order in which Hugging
// Face writes config.json. ParseConfig starts from GPT2Config's defaults, so
// a key that is absent takes the value transformers would give it.
type Config struct {
	// ActivationFunction is the MLP nonlinearity: "gelu_new" (GPT-2's GELU,
	// tanh approximation); "gelu_pytorch_tanh", the same function, is accepted.
	ActivationFunction string `json:"activation_function"`
	// Architectures is ["GPT2LMHeadModel"].
	Architectures []string `json:"architectures"`
	// AttnPdrop, EmbdPdrop and ResidPdrop are dropout rates; gradcouple
	// trains without dropout and writes 0. Dropout does not change inference.
	AttnPdrop  float64 `json:"attn_pdrop"`
	BOSTokenID int     `json:"bos_token_id"`
	EmbdPdrop  float64 `json:"embd_pdrop"`
	EOSTokenID int     `json:"eos_token_id"`
	// Gradcouple holds gradcouple's fields; nil for a config written by
	// another tool.
	Gradcouple *GradcoupleConfig `json:"gradcouple,omitempty"`
	// InitializerRange is the standard deviation of the initial weights (0.02).
	InitializerRange float64 `json:"initializer_range"`
	// LayerNormEpsilon is added to the variance in every LayerNorm (1e-5).
	LayerNormEpsilon float64 `json:"layer_norm_epsilon"`
	// ModelType is "gpt2".
	ModelType string `json:"model_type"`
	// NCtx is GPT-2's legacy context length, equal to NPositions.
	NCtx int `json:"n_ctx"`
	// NEmbd is the model width d.
	NEmbd int `json:"n_embd"`
	// NHead is the number of attention heads; it divides NEmbd.
	NHead int `json:"n_head"`
	// NInner is the MLP width; nil (JSON null) means 4*NEmbd.
	NInner *int `json:"n_inner"`
	// NLayer is the number of transformer blocks.
	NLayer int `json:"n_layer"`
	// NPositions is the number of learned positions, the longest sequence.
	NPositions int `json:"n_positions"`
	// PadTokenID is the padding token, if the tokenizer has one.
	PadTokenID *int `json:"pad_token_id,omitempty"`
	// ReorderAndUpcastAttn only changes mixed-precision numerics; false.
	ReorderAndUpcastAttn bool    `json:"reorder_and_upcast_attn"`
	ResidPdrop           float64 `json:"resid_pdrop"`
	// ScaleAttnByInverseLayerIdx must be false: gradcouple's attention
	// scales scores by 1/sqrt(head dim) only.
	ScaleAttnByInverseLayerIdx bool `json:"scale_attn_by_inverse_layer_idx"`
	// ScaleAttnWeights must be true (scores divided by sqrt(head dim)).
	ScaleAttnWeights bool `json:"scale_attn_weights"`
	// TieWordEmbeddings must be true: the LM head is the token embedding.
	TieWordEmbeddings bool `json:"tie_word_embeddings"`
	// TorchDType is "float32", the dtype of the stored weights.
	TorchDType string `json:"torch_dtype"`
	UseCache   bool   `json:"use_cache"`
	// VocabSize is the number of tokens V, the length of vocab.json.
	VocabSize int `json:"vocab_size"`
}

// GradcoupleConfig is the "gradcouple" section of config.json: where the
// checkpoint comes from and how its text is tokenized.
type GradcoupleConfig struct {
	// Env is the environment whose vocabulary the tokenizer was built from
	// ("household", "lab", or a comma-separated list).
	Env string `json:"env,omitempty"`
	// FormatVersion is FormatVersion for checkpoints written by this package.
	FormatVersion int `json:"format_version"`
	// Seed is the seed the weights were initialised from.
	Seed int64 `json:"seed"`
	// Tokenizer names the tokenizer: TokenizerWord ("word", gradcouple's
	// word-level one; also what an absent key means) or TokenizerChar
	// ("char", one token per character).
	Tokenizer string `json:"tokenizer,omitempty"`
	// VocabFile is the vocabulary's file name in the directory, "vocab.json".
	VocabFile string `json:"vocab_file,omitempty"`
}

// Architecture limits: a config beyond them is refused as implausible, so
// that sizes computed from it cannot overflow.
const (
	maxDim    = 1 << 20 // vocab_size, n_positions, n_embd, n_inner, n_head
	maxLayers = 1 << 12
	maxParams = 1 << 40
)

// NewConfig returns the config of a GPT-2 of the given sizes as gradcouple
// writes it: HF GPT2Config fields for GPT2LMHeadModel with GELU (tanh),
// LayerNorm epsilon 1e-5, no dropout, tied embeddings, n_inner null (4*embd),
// BOS and EOS token 0 (set them for the tokenizer), and a gradcouple section
// with FormatVersion and the vocabulary file name.
func NewConfig(vocab, positions, embd, layers, heads int) Config {
	c := hfDefaults()
	c.Architectures = []string{"GPT2LMHeadModel"}
	c.AttnPdrop, c.EmbdPdrop, c.ResidPdrop = 0, 0, 0
	c.BOSTokenID, c.EOSTokenID = 0, 0
	c.VocabSize, c.NPositions, c.NCtx = vocab, positions, positions
	c.NEmbd, c.NLayer, c.NHead = embd, layers, heads
	c.TorchDType = "float32"
	c.Gradcouple = &GradcoupleConfig{FormatVersion: FormatVersion, VocabFile: VocabFileName}
	return c
}

// hfDefaults returns GPT2Config's defaults (transformers'
// configuration_gpt2.py; tie_word_embeddings from PretrainedConfig).
func hfDefaults() Config {
	return Config{
		ActivationFunction: "gelu_new",
		AttnPdrop:          0.1,
		BOSTokenID:         50256,
		EmbdPdrop:          0.1,
		EOSTokenID:         50256,
		InitializerRange:   0.02,
		LayerNormEpsilon:   1e-5,
		ModelType:          "gpt2",
		NEmbd:              768,
		NHead:              12,
		NLayer:             12,
		NPositions:         1024,
		ResidPdrop:         0.1,
		ScaleAttnWeights:   true,
		TieWordEmbeddings:  true,
		UseCache:           true,
		VocabSize:          50257,
	}
}

// Inner returns the MLP width: NInner, or 4*NEmbd when it is nil.
func (c Config) Inner() int {
	if c.NInner != nil {
		return *c.NInner
	}
	return 4 * c.NEmbd
}

// HeadDim returns the width of one attention head, NEmbd/NHead.
func (c Config) HeadDim() int {
	if c.NHead == 0 {
		return 0
	}
	return c.NEmbd / c.NHead
}

// Validate checks that c describes the architecture gradcouple implements
// (DESIGN.md §3.3): a GPT-2 with tanh GELU, attention scaled by
// 1/sqrt(head dim), tied embeddings, positive sizes within limits, heads
// dividing the width, special token ids inside the vocabulary. The error is
// a *ValidationError naming config.json and the field.
func (c Config) Validate() error { return c.validate(ConfigFileName) }

func (c Config) validate(file string) error {
	bad := func(field, format string, args ...any) error {
		return &ValidationError{File: file, Field: field, Msg: fmt.Sprintf(format, args...), Err: ErrConfig}
	}
	if c.ModelType != "gpt2" {
		return bad("model_type", "%q, want \"gpt2\"", c.ModelType)
	}
	for _, d := range []struct {
		name string
		v    int
		max  int
	}{
		{"vocab_size", c.VocabSize, maxDim},
		{"n_positions", c.NPositions, maxDim},
		{"n_embd", c.NEmbd, maxDim},
		{"n_layer", c.NLayer, maxLayers},
		{"n_head", c.NHead, maxDim},
		{"n_inner", c.Inner(), maxDim},
	} {
		if d.v < 1 || d.v > d.max {
			return bad(d.name, "%d is outside [1, %d]", d.v, d.max)
		}
	}
	if c.NEmbd%c.NHead != 0 {
		return bad("n_head", "%d does not divide n_embd %d", c.NHead, c.NEmbd)
	}
	if c.NCtx != c.NPositions {
		return bad("n_ctx", "%d differs from n_positions %d", c.NCtx, c.NPositions)
	}
	if n := NumParams(c); n > maxParams {
		return bad("", "%d parameters exceed the limit of %d", n, int64(maxParams))
	}
	switch c.ActivationFunction {
	case "gelu_new", "gelu_pytorch_tanh":
	default:
		return bad("activation_function", "%q is not supported: the actor computes the tanh GELU (\"gelu_new\") only", c.ActivationFunction)
	}
	if !(c.LayerNormEpsilon > 0) || math.IsInf(c.LayerNormEpsilon, 0) {
		return bad("layer_norm_epsilon", "%g, want a positive finite number", c.LayerNormEpsilon)
	}
	if !c.ScaleAttnWeights {
		return bad("scale_attn_weights", "false is not supported: the actor always divides attention scores by sqrt(head dim)")
	}
	if c.ScaleAttnByInverseLayerIdx {
		return bad("scale_attn_by_inverse_layer_idx", "true is not supported: the actor does not scale attention by layer index")
	}
	if !c.TieWordEmbeddings {
		return bad("tie_word_embeddings", "false is not supported: the actor's LM head is the token embedding (tied)")
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"attn_pdrop", c.AttnPdrop}, {"embd_pdrop", c.EmbdPdrop}, {"resid_pdrop", c.ResidPdrop}, {"initializer_range", c.InitializerRange}} {
		if !(p.v >= 0 && p.v <= 1) {
			return bad(p.name, "%g is outside [0, 1]", p.v)
		}
	}
	for _, t := range []struct {
		name string
		v    *int
	}{{"bos_token_id", &c.BOSTokenID}, {"eos_token_id", &c.EOSTokenID}, {"pad_token_id", c.PadTokenID}} {
		if t.v != nil && (*t.v < 0 || *t.v >= c.VocabSize) {
			return bad(t.name, "%d is outside the vocabulary [0, %d)", *t.v, c.VocabSize)
		}
	}
	if g := c.Gradcouple; g != nil {
		if g.FormatVersion > FormatVersion || g.FormatVersion < 0 {
			return bad("gradcouple.format_version", "%d is not supported (this build reads up to %d)", g.FormatVersion, FormatVersion)
		}
		if g.VocabFile != "" && g.VocabFile != VocabFileName {
			return bad("gradcouple.vocab_file", "%q, want %q", g.VocabFile, VocabFileName)
		}
	}
	return nil
}

// configKeys are the JSON keys of Config, for the case check of ParseConfig.
var configKeys = []string{"activation_function", "architectures", "attn_pdrop",
	"bos_token_id", "embd_pdrop", "eos_token_id", "gradcouple", "initializer_range",
	"layer_norm_epsilon", "model_type", "n_ctx", "n_embd", "n_head", "n_inner",
	"n_layer", "n_positions", "pad_token_id", "reorder_and_upcast_attn",
	"resid_pdrop", "scale_attn_by_inverse_layer_idx", "scale_attn_weights",
	"tie_word_embeddings", "torch_dtype", "use_cache", "vocab_size"}

// maxConfigBytes bounds the size of config.json that ReadConfig accepts.
const maxConfigBytes = 16 << 20

// ParseConfig decodes config.json (file names it in errors) and validates
// it. Absent keys take GPT2Config's defaults (n_ctx: n_positions); keys it
// does not know (HF's task_specific_params, transformers_version, ...) are
// ignored; duplicate keys, and keys that differ from a known one only in
// case, are errors.
func ParseConfig(data []byte, file string) (Config, error) {
	bad := func(field, format string, args ...any) error {
		return &ValidationError{File: file, Field: field, Msg: fmt.Sprintf(format, args...), Err: ErrConfig}
	}
	if !utf8.Valid(data) {
		return Config{}, bad("", "not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	err := walkObject(dec, func(key string) error {
		for _, k := range configKeys {
			if k != key && strings.EqualFold(k, key) {
				return bad(key, "unknown key; keys are case-sensitive (did you mean %q?)", k)
			}
		}
		var v json.RawMessage
		return dec.Decode(&v)
	}, func(key string) error {
		return bad(key, "duplicate key")
	})
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			err = errors.New("data after the JSON object")
		}
	}
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return Config{}, err
		}
		if err == errNotObject {
			return Config{}, bad("", "not a JSON object")
		}
		return Config{}, bad("", "invalid JSON: %s", jsonMsg(err))
	}
	c := hfDefaults()
	if err := json.Unmarshal(data, &c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Config{}, bad(te.Field, "%s, want %s", te.Value, te.Type)
		}
		return Config{}, bad("", "invalid JSON: %s", jsonMsg(err))
	}
	if c.NCtx == 0 {
		c.NCtx = c.NPositions
	}
	if err := c.validate(file); err != nil {
		return Config{}, err
	}
	return c, nil
}

// ReadConfig reads config.json from r (at most 16 MiB) with ParseConfig.
func ReadConfig(r io.Reader, file string) (Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxConfigBytes+1))
	if err != nil {
		return Config{}, fmt.Errorf("reading %s: %w", file, err)
	}
	if len(data) > maxConfigBytes {
		return Config{}, &ValidationError{File: file, Msg: fmt.Sprintf("larger than %d bytes", maxConfigBytes), Err: ErrConfig}
	}
	return ParseConfig(data, file)
}

// MarshalConfig encodes c as Hugging Face writes config.json: keys sorted,
// two-space indentation, a final newline. It does not validate c.
func MarshalConfig(c Config) ([]byte, error) {
	if c.Architectures == nil {
		c.Architectures = []string{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("checkpoint: encoding config: %w", err)
	}
	return b.Bytes(), nil
}

// TensorSpec is a parameter tensor of the model: its Hugging Face name and
// its shape in Hugging Face's layout.
type TensorSpec struct {
	Name  string
	Shape []int
}

// Len returns the number of elements.
func (s TensorSpec) Len() int {
	n := 1
	for _, d := range s.Shape {
		n *= d
	}
	return n
}

// GPT2Shapes lists every parameter tensor of GPT2LMHeadModel for cfg, with
// its shape, in the order of the model's state_dict (which is the documented
// parameter order of flattened gradients):
//
//	transformer.wte.weight               [V, d]   token embedding; also the LM head (tied)
//	transformer.wpe.weight               [P, d]   position embedding
//	for each block i in 0..n_layer-1:
//	transformer.h.{i}.ln_1.weight, .bias [d]
//	transformer.h.{i}.attn.c_attn.weight [d, 3d]  Conv1D: y = x W + b, W stored [in, out];
//	transformer.h.{i}.attn.c_attn.bias   [3d]     output columns are q, k, v, each d wide,
//	                                              head h at columns h*d/H .. (h+1)*d/H-1
//	transformer.h.{i}.attn.c_proj.weight [d, d]
//	transformer.h.{i}.attn.c_proj.bias   [d]
//	transformer.h.{i}.ln_2.weight, .bias [d]
//	transformer.h.{i}.mlp.c_fc.weight    [d, I]   I = n_inner or 4d
//	transformer.h.{i}.mlp.c_fc.bias      [I]
//	transformer.h.{i}.mlp.c_proj.weight  [I, d]
//	transformer.h.{i}.mlp.c_proj.bias    [d]
//	transformer.ln_f.weight, .bias       [d]
//
// lm_head.weight is not listed: it is tied to transformer.wte.weight and,
// as transformers' save_pretrained does with safetensors, not stored.
func GPT2Shapes(cfg Config) []TensorSpec {
	V, P, d, I := cfg.VocabSize, cfg.NPositions, cfg.NEmbd, cfg.Inner()
	specs := []TensorSpec{
		{"transformer.wte.weight", []int{V, d}},
		{"transformer.wpe.weight", []int{P, d}},
	}
	for i := 0; i < cfg.NLayer; i++ {
		p := fmt.Sprintf("transformer.h.%d.", i)
		specs = append(specs,
			TensorSpec{p + "ln_1.weight", []int{d}},
			TensorSpec{p + "ln_1.bias", []int{d}},
			TensorSpec{p + "attn.c_attn.weight", []int{d, 3 * d}},
			TensorSpec{p + "attn.c_attn.bias", []int{3 * d}},
			TensorSpec{p + "attn.c_proj.weight", []int{d, d}},
			TensorSpec{p + "attn.c_proj.bias", []int{d}},
			TensorSpec{p + "ln_2.weight", []int{d}},
			TensorSpec{p + "ln_2.bias", []int{d}},
			TensorSpec{p + "mlp.c_fc.weight", []int{d, I}},
			TensorSpec{p + "mlp.c_fc.bias", []int{I}},
			TensorSpec{p + "mlp.c_proj.weight", []int{I, d}},
			TensorSpec{p + "mlp.c_proj.bias", []int{d}},
		)
	}
	specs = append(specs,
		TensorSpec{"transformer.ln_f.weight", []int{d}},
		TensorSpec{"transformer.ln_f.bias", []int{d}},
	)
	return specs
}

// NumParams returns the number of parameters of the model cfg describes
// (the tied LM head counted once), computed without overflow for sizes
// within Validate's limits.
func NumParams(cfg Config) int64 {
	V, P, d, I, L := int64(cfg.VocabSize), int64(cfg.NPositions), int64(cfg.NEmbd), int64(cfg.Inner()), int64(cfg.NLayer)
	block := 4*d + (d*3*d + 3*d) + (d*d + d) + (d*I + I) + (I*d + d)
	return V*d + P*d + L*block + 2*d
}

// specIndex maps tensor names to their position in specs.
func specIndex(specs []TensorSpec) map[string]int {
	m := make(map[string]int, len(specs))
	for i, s := range specs {
		m[s.Name] = i
	}
	return m
}

// sameShape reports whether a and b are equal shapes.
func sameShape(a, b []int) bool { return slices.Equal(a, b) }
