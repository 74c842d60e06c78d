package hf

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// Configs of the shapes of published models, in the form transformers
// writes them (keys sorted, Python float repr). The sizes are those of the
// named models; fields that do not change what is computed are abridged.
const (
	qwen25Config = `{
  "architectures": ["Qwen2ForCausalLM"],
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151645,
  "hidden_act": "silu",
  "hidden_size": 896,
  "initializer_range": 0.02,
  "intermediate_size": 4864,
  "max_position_embeddings": 32768,
  "max_window_layers": 21,
  "model_type": "qwen2",
  "num_attention_heads": 14,
  "num_hidden_layers": 24,
  "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06,
  "rope_scaling": null,
  "rope_theta": 1000000.0,
  "sliding_window": 32768,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.43.1",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
}`
	qwen3Config = `{
  "architectures": ["Qwen3ForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151645,
  "head_dim": 128,
  "hidden_act": "silu",
  "hidden_size": 1024,
  "initializer_range": 0.02,
  "intermediate_size": 3072,
  "max_position_embeddings": 40960,
  "max_window_layers": 28,
  "model_type": "qwen3",
  "num_attention_heads": 16,
  "num_hidden_layers": 28,
  "num_key_value_heads": 8,
  "rms_norm_eps": 1e-06,
  "rope_scaling": null,
  "rope_theta": 1000000,
  "sliding_window": null,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.51.0",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
}`
	llama31Config = `{
  "architectures": ["LlamaForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 128000,
  "eos_token_id": [128001, 128008, 128009],
  "hidden_act": "silu",
  "hidden_size": 4096,
  "initializer_range": 0.02,
  "intermediate_size": 14336,
  "max_position_embeddings": 131072,
  "mlp_bias": false,
  "model_type": "llama",
  "num_attention_heads": 32,
  "num_hidden_layers": 32,
  "num_key_value_heads": 8,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": {
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
    "rope_type": "llama3"
  },
  "rope_theta": 500000.0,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.43.0.dev0",
  "use_cache": true,
  "vocab_size": 128256
}`
	smolLM2Config = `{
  "architectures": ["LlamaForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 0,
  "eos_token_id": 0,
  "hidden_act": "silu",
  "hidden_size": 576,
  "initializer_range": 0.041666666666666664,
  "intermediate_size": 1536,
  "is_llama_config": true,
  "max_position_embeddings": 8192,
  "model_type": "llama",
  "num_attention_heads": 9,
  "num_hidden_layers": 30,
  "num_key_value_heads": 3,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_interleaved": false,
  "rope_scaling": null,
  "rope_theta": 100000,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.42.3",
  "use_cache": true,
  "vocab_size": 49152
}`
)

func TestParseConfigModels(t *testing.T) {
	cases := []struct {
		name, json string
		want       Config
	}{
		{"Qwen2.5-0.5B", qwen25Config, Config{ModelType: Qwen2, VocabSize: 151936, Hidden: 896, Intermediate: 4864, Layers: 24,
			Heads: 14, KVHeads: 2, HeadDim: 64, MaxPositions: 32768, RMSNormEps: 1e-6, TieWordEmbeddings: true, QKVBias: true,
			Rope: Rope{Type: RopeDefault, Theta: 1e6}, DType: "bfloat16", BOS: 151643, EOS: []int{151645}, Pad: -1}},
		{"Qwen3-0.6B", qwen3Config, Config{ModelType: Qwen3, VocabSize: 151936, Hidden: 1024, Intermediate: 3072, Layers: 28,
			Heads: 16, KVHeads: 8, HeadDim: 128, MaxPositions: 40960, RMSNormEps: 1e-6, TieWordEmbeddings: true, QKNorm: true,
			Rope: Rope{Type: RopeDefault, Theta: 1e6}, DType: "bfloat16", BOS: 151643, EOS: []int{151645}, Pad: -1}},
		{"Llama-3.1-8B-Instruct", llama31Config, Config{ModelType: Llama, VocabSize: 128256, Hidden: 4096, Intermediate: 14336, Layers: 32,
			Heads: 32, KVHeads: 8, HeadDim: 128, MaxPositions: 131072, RMSNormEps: 1e-5,
			Rope:  Rope{Type: RopeLlama3, Theta: 5e5, Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192},
			DType: "bfloat16", BOS: 128000, EOS: []int{128001, 128008, 128009}, Pad: -1}},
		{"SmolLM2-135M", smolLM2Config, Config{ModelType: Llama, VocabSize: 49152, Hidden: 576, Intermediate: 1536, Layers: 30,
			Heads: 9, KVHeads: 3, HeadDim: 64, MaxPositions: 8192, RMSNormEps: 1e-5, TieWordEmbeddings: true,
			Rope: Rope{Type: RopeDefault, Theta: 1e5}, DType: "bfloat16", BOS: 0, EOS: []int{0}, Pad: -1}},
	}
	for _, tc := range cases {
		got, err := ParseConfig([]byte(tc.json), tc.name)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

// setField returns the JSON config base with key set to the raw JSON value
// (or removed when value is "").
func setField(t *testing.T, base, key, value string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(base), &m); err != nil {
		t.Fatal(err)
	}
	if value == "" {
		delete(m, key)
	} else {
		m[key] = json.RawMessage(value)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseConfigRefuses checks that each setting not computed exactly is
// refused with ErrUnsupported and the field's name in the message.
func TestParseConfigRefuses(t *testing.T) {
	cases := []struct {
		base, key, value string
		field            string // named in the error
	}{
		{qwen25Config, "use_sliding_window", `true`, "use_sliding_window"}, // with sliding_window 4096 from layer 0, set below
		{qwen3Config, "layer_types", `["full_attention","sliding_attention"` + strings.Repeat(`,"full_attention"`, 26) + `]`, "layer_types"},
		{qwen25Config, "rope_scaling", `{"type": "linear", "factor": 2.0}`, "rope_scaling.type"},
		{qwen25Config, "rope_scaling", `{"rope_type": "dynamic", "factor": 2.0}`, "rope_scaling.rope_type"},
		{qwen25Config, "rope_scaling", `{"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}`, "rope_scaling.type"},
		{qwen25Config, "rope_scaling", `{"rope_type": "longrope", "short_factor": [1], "long_factor": [1]}`, "rope_scaling.rope_type"},
		{llama31Config, "rope_scaling", `{"rope_type": "ntk", "factor": 2.0}`, "rope_scaling.rope_type"},
		{qwen25Config, "rope_scaling", `{"factor": 2.0}`, "rope_scaling.rope_type"},
		{qwen3Config, "num_experts", `128`, "num_experts"},
		{qwen3Config, "num_experts_per_tok", `8`, "num_experts_per_tok"},
		{qwen3Config, "moe_intermediate_size", `768`, "moe_intermediate_size"},
		{llama31Config, "num_local_experts", `8`, "num_local_experts"},
		{llama31Config, "attention_bias", `true`, "attention_bias"},
		{qwen3Config, "attention_bias", `true`, "attention_bias"},
		{llama31Config, "mlp_bias", `true`, "mlp_bias"},
		{llama31Config, "hidden_act", `"gelu"`, "hidden_act"},
		{qwen25Config, "hidden_act", `"swiglu"`, "hidden_act"},
		{qwen25Config, "model_type", `"mistral"`, "model_type"},
		{qwen25Config, "model_type", `"qwen2_moe"`, "model_type"},
		{qwen25Config, "architectures", `["Qwen2ForSequenceClassification"]`, "architectures"},
		{qwen25Config, "quantization_config", `{"quant_method": "gptq", "bits": 4}`, "quantization_config"},
		{llama31Config, "partial_rotary_factor", `0.5`, "partial_rotary_factor"},
		{qwen25Config, "head_dim", `128`, "head_dim"},
		{qwen25Config, "torch_dtype", `"float8_e4m3fn"`, "torch_dtype"},
	}
	for _, tc := range cases {
		data := setField(t, tc.base, tc.key, tc.value)
		if tc.key == "layer_types" {
			data = setField(t, string(data), "sliding_window", `4096`)
		}
		if tc.key == "use_sliding_window" {
			// Sliding on from layer 0 with a window shorter than the context.
			data = setField(t, string(data), "sliding_window", `4096`)
			data = setField(t, string(data), "max_window_layers", `0`)
		}
		_, err := ParseConfig(data, "config.json")
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s=%s: error %v, want ErrUnsupported", tc.key, tc.value, err)
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Field != tc.field || !strings.Contains(err.Error(), `"`+tc.field+`"`) {
			t.Errorf("%s=%s: error %q does not name field %q", tc.key, tc.value, err, tc.field)
		}
	}
}

// TestParseConfigRope5 checks transformers 5.x rope_parameters (flat and
// nested by layer type) and dtype, against the 4.x spelling.
func TestParseConfigRope5(t *testing.T) {
	v4, err := ParseConfig([]byte(llama31Config), "v4")
	if err != nil {
		t.Fatal(err)
	}
	d := setField(t, llama31Config, "rope_scaling", "")
	d = setField(t, string(d), "rope_theta", "")
	d = setField(t, string(d), "torch_dtype", "")
	d = setField(t, string(d), "dtype", `"bfloat16"`)
	flat := setField(t, string(d), "rope_parameters", `{"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
		"original_max_position_embeddings": 8192, "rope_theta": 500000.0, "rope_type": "llama3"}`)
	nested := setField(t, string(d), "rope_parameters", `{"full_attention": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
		"original_max_position_embeddings": 8192, "rope_theta": 500000.0, "rope_type": "llama3"}}`)
	for name, data := range map[string][]byte{"flat": flat, "nested": nested} {
		v5, err := ParseConfig(data, name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(v4, v5) {
			t.Errorf("%s: 5.x config parses to %+v, 4.x to %+v", name, v5, v4)
		}
	}
	// A 5.x default rope with rope_theta only inside rope_parameters.
	q := setField(t, qwen3Config, "rope_scaling", "")
	q = setField(t, string(q), "rope_theta", "")
	q = setField(t, string(q), "rope_parameters", `{"rope_theta": 1000000.0, "rope_type": "default"}`)
	c, err := ParseConfig(q, "q")
	if err != nil || c.Rope != (Rope{Type: RopeDefault, Theta: 1e6}) {
		t.Errorf("qwen3 5.x rope: %+v, %v", c.Rope, err)
	}
	bad := setField(t, string(q), "rope_parameters", `{"rope_theta": 1000000.0, "rope_type": "yarn", "factor": 4.0}`)
	if _, err := ParseConfig(bad, "q"); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "rope_parameters.rope_type") {
		t.Errorf("5.x yarn: %v", err)
	}
}

// TestParseConfigAccepts lists settings that look risky but change nothing.
func TestParseConfigAccepts(t *testing.T) {
	cases := []struct {
		name string
		data []byte
	}{
		{"sliding window on but as long as the context", setField(t, qwen25Config, "use_sliding_window", `true`)},
		{"sliding window on from layer 24 of 24", setField(t, string(setField(t, qwen25Config, "use_sliding_window", `true`)), "sliding_window", `4096`)},
		{"rope_scaling type default", setField(t, qwen25Config, "rope_scaling", `{"type": "default"}`)},
		{"num_experts 0", setField(t, qwen3Config, "num_experts", `0`)},
		{"pretraining_tp 2", setField(t, llama31Config, "pretraining_tp", `2`)},
		{"attention_bias false on qwen2", setField(t, qwen25Config, "attention_bias", `false`)},
		{"head_dim equal on qwen2", setField(t, qwen25Config, "head_dim", `64`)},
	}
	// max_window_layers 21 < 24 layers: the second case slides layers
	// 21..23 with window 4096, so it must set max_window_layers 24.
	cases[1].data = setField(t, string(cases[1].data), "max_window_layers", `24`)
	for _, tc := range cases {
		if _, err := ParseConfig(tc.data, tc.name); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestParseConfigMalformed(t *testing.T) {
	cases := []struct {
		name  string
		data  string
		field string
	}{
		{"not JSON", `{`, ""},
		{"array", `[]`, ""},
		{"duplicate key", `{"model_type": "qwen2", "model_type": "llama"}`, "model_type"},
		{"no model_type", `{"hidden_size": 8}`, "model_type"},
		{"missing hidden_size", string(setField(t, qwen25Config, "hidden_size", "")), "hidden_size"},
		{"zero layers", string(setField(t, qwen25Config, "num_hidden_layers", "0")), "num_hidden_layers"},
		{"fractional size", string(setField(t, qwen25Config, "hidden_size", "896.5")), "hidden_size"},
		{"kv heads do not divide", string(setField(t, qwen25Config, "num_key_value_heads", "3")), "num_key_value_heads"},
		{"string eps", string(setField(t, qwen25Config, "rms_norm_eps", `"1e-6"`)), "rms_norm_eps"},
		{"negative eps", string(setField(t, qwen25Config, "rms_norm_eps", `-1`)), "rms_norm_eps"},
		{"llama3 without factor", string(setField(t, llama31Config, "rope_scaling", `{"rope_type": "llama3", "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}`)), "rope_scaling.factor"},
		{"eos beyond vocab", string(setField(t, qwen25Config, "eos_token_id", `151936`)), "eos_token_id"},
		{"eos list with string", string(setField(t, llama31Config, "eos_token_id", `[1, "x"]`)), "eos_token_id[1]"},
		{"layer_types too short", string(setField(t, qwen3Config, "layer_types", `["full_attention"]`)), "layer_types"},
		{"both rope fields", string(setField(t, llama31Config, "rope_parameters", `{"rope_type": "default"}`)), "rope_parameters"},
		{"odd head_dim", string(setField(t, qwen3Config, "head_dim", `7`)), "head_dim"},
	}
	for _, tc := range cases {
		_, err := ParseConfig([]byte(tc.data), "config.json")
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v, want ErrMalformed", tc.name, err)
			continue
		}
		if e.Field != tc.field {
			t.Errorf("%s: field %q, want %q (%v)", tc.name, e.Field, tc.field, err)
		}
	}
}

// TestInvFreqLlama3 checks Rope.InvFreq's three llama3 bands against
// values computed by hand from the formula.
func TestInvFreqLlama3(t *testing.T) {
	r := Rope{Type: RopeLlama3, Theta: 5e5, Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192}
	got := r.InvFreq(8)
	base := []float64{1, math.Pow(5e5, -0.25), math.Pow(5e5, -0.5), math.Pow(5e5, -0.75)}
	// wavelengths 6.3, 167, 4443, 118000: high, high, medium, low
	wave := 2 * math.Pi / base[2]
	s := (8192/wave - 1) / (4 - 1)
	want := []float64{base[0], base[1], (1-s)*base[2]/32 + s*base[2], base[3] / 32}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-15*want[i] {
			t.Errorf("inv_freq[%d] = %.17g, want %.17g", i, got[i], want[i])
		}
	}
	if !(s > 0 && s < 1) {
		t.Errorf("band 2 is not medium: smooth factor %v", s)
	}
}
