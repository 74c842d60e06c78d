package checkpoint

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// goldenConfig is config.json of the tiny checkpoint, key for key what
// transformers' GPT2Config.to_json_string writes for the same model (sorted
// keys, two-space indent), plus the gradcouple section.
const goldenConfig = `{
  "activation_function": "gelu_new",
  "architectures": [
    "GPT2LMHeadModel"
  ],
  "attn_pdrop": 0,
  "bos_token_id": 1,
  "embd_pdrop": 0,
  "eos_token_id": 2,
  "gradcouple": {
    "env": "household",
    "format_version": 1,
    "seed": 7,
    "tokenizer": "word",
    "vocab_file": "vocab.json"
  },
  "initializer_range": 0.02,
  "layer_norm_epsilon": 0.00001,
  "model_type": "gpt2",
  "n_ctx": 8,
  "n_embd": 8,
  "n_head": 2,
  "n_inner": null,
  "n_layer": 1,
  "n_positions": 8,
  "pad_token_id": 0,
  "reorder_and_upcast_attn": false,
  "resid_pdrop": 0,
  "scale_attn_by_inverse_layer_idx": false,
  "scale_attn_weights": true,
  "tie_word_embeddings": true,
  "torch_dtype": "float32",
  "use_cache": true,
  "vocab_size": 16
}
`

func TestConfigGolden(t *testing.T) {
	got, err := MarshalConfig(tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(goldenConfig, string(got)); diff != "" {
		t.Errorf("config.json (-want +got):\n%s", diff)
	}
	back, err := ParseConfig(got, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tinyConfig(), back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// hfGPT2Config is config.json of the openai-community/gpt2 hub checkpoint
// (GPT-2 small), as published: no n_inner, no tie_word_embeddings, no
// scale_attn_weights (all defaults), task_specific_params unknown to us.
const hfGPT2Config = `{
  "activation_function": "gelu_new",
  "architectures": [
    "GPT2LMHeadModel"
  ],
  "attn_pdrop": 0.1,
  "bos_token_id": 50256,
  "embd_pdrop": 0.1,
  "eos_token_id": 50256,
  "initializer_range": 0.02,
  "layer_norm_epsilon": 1e-05,
  "model_type": "gpt2",
  "n_ctx": 1024,
  "n_embd": 768,
  "n_head": 12,
  "n_layer": 12,
  "n_positions": 1024,
  "resid_pdrop": 0.1,
  "summary_activation": null,
  "summary_first_dropout": 0.1,
  "summary_proj_to_labels": true,
  "summary_type": "cls_index",
  "summary_use_proj": true,
  "task_specific_params": {
    "text-generation": {
      "do_sample": true,
      "max_length": 50
    }
  },
  "vocab_size": 50257
}`

func TestParseHFConfig(t *testing.T) {
	c, err := ParseConfig([]byte(hfGPT2Config), "config.json")
	if err != nil {
		t.Fatal(err)
	}
	if c.NEmbd != 768 || c.Inner() != 3072 || c.HeadDim() != 64 || !c.TieWordEmbeddings || !c.ScaleAttnWeights || c.Gradcouple != nil || c.LayerNormEpsilon != 1e-5 {
		t.Errorf("parsed %+v", c)
	}
	// GPT-2 small has 124,439,808 parameters (sum of numel over
	// GPT2LMHeadModel.parameters(), the tied head counted once).
	if n := NumParams(c); n != 124439808 {
		t.Errorf("NumParams = %d, want 124439808", n)
	}
	var sum int64
	for _, s := range GPT2Shapes(c) {
		sum += int64(s.Len())
	}
	if sum != NumParams(c) {
		t.Errorf("GPT2Shapes holds %d elements, NumParams %d", sum, NumParams(c))
	}
	// Absent n_ctx defaults to n_positions.
	c2, err := ParseConfig([]byte(`{"n_positions": 64, "n_embd": 8, "n_head": 2, "n_layer": 1, "vocab_size": 10, "bos_token_id": 0, "eos_token_id": 0}`), "c.json")
	if err != nil || c2.NCtx != 64 {
		t.Errorf("n_ctx %d, %v", c2.NCtx, err)
	}
}

func TestConfigErrors(t *testing.T) {
	base := func(edit string) string {
		// The tiny config with one key's value replaced (or a key added).
		s := goldenConfig
		k, v, _ := strings.Cut(edit, "=")
		line := fmt.Sprintf("  %q: ", k)
		if i := strings.Index(s, line); i >= 0 {
			j := i + len(line) + strings.IndexAny(s[i+len(line):], ",\n")
			return s[:i+len(line)] + v + s[j:]
		}
		return strings.Replace(s, "{\n", "{\n"+line+v+",\n", 1)
	}
	for _, tc := range []struct {
		name, data, field, msg string
	}{
		{"model type", base(`model_type="llama"`), "model_type", `"llama", want "gpt2"`},
		{"heads", base(`n_head=3`), "n_head", "does not divide n_embd 8"},
		{"zero layers", base(`n_layer=0`), "n_layer", "outside [1, 4096]"},
		{"negative vocab", base(`vocab_size=-16`), "vocab_size", "outside"},
		{"huge", strings.Replace(base(`n_embd=262144`), `"n_layer": 1`, `"n_layer": 2`, 1), "", "parameters exceed the limit"},
		{"inner", base(`n_inner=0`), "n_inner", "outside"},
		{"n_ctx", base(`n_ctx=9`), "n_ctx", "differs from n_positions 8"},
		{"activation", base(`activation_function="gelu"`), "activation_function", "not supported"},
		{"epsilon", base(`layer_norm_epsilon=0`), "layer_norm_epsilon", "positive"},
		{"scale", base(`scale_attn_weights=false`), "scale_attn_weights", "not supported"},
		{"inverse layer", base(`scale_attn_by_inverse_layer_idx=true`), "scale_attn_by_inverse_layer_idx", "not supported"},
		{"untied", base(`tie_word_embeddings=false`), "tie_word_embeddings", "not supported"},
		{"dropout", base(`attn_pdrop=2`), "attn_pdrop", "outside [0, 1]"},
		{"bos", base(`bos_token_id=16`), "bos_token_id", "outside the vocabulary [0, 16)"},
		{"pad", base(`pad_token_id=-1`), "pad_token_id", "outside the vocabulary"},
		{"type", base(`n_embd="8"`), "n_embd", "string, want int"},
		{"float size", base(`n_embd=8.5`), "n_embd", "want int"},
		{"case", base(`N_EMBD=8`), "N_EMBD", `did you mean "n_embd"`},
		{"duplicate", strings.Replace(goldenConfig, "{\n", "{\n  \"n_embd\": 8,\n", 1), "n_embd", "duplicate key"},
		{"format version", strings.Replace(goldenConfig, `"format_version": 1`, `"format_version": 2`, 1), "gradcouple.format_version", "not supported"},
		{"vocab file", strings.Replace(goldenConfig, `"vocab.json"`, `"tokens.txt"`, 1), "gradcouple.vocab_file", `"tokens.txt"`},
		{"not object", `[1]`, "", "not a JSON object"},
		{"invalid", `{"n_embd": }`, "", "invalid JSON"},
		{"trailing", goldenConfig + "{}", "", "data after the JSON object"},
		{"utf8", "{\"\xff\": 1}", "", "UTF-8"},
		{"nan", base(`layer_norm_epsilon=NaN`), "", "invalid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.data), "dir/config.json")
			checkValidationError(t, err, ErrConfig, "dir/config.json", "", tc.field, tc.msg)
		})
	}
}

func TestGPT2Shapes(t *testing.T) {
	inner := 24
	c := NewConfig(16, 8, 8, 2, 2)
	c.NInner = &inner
	specs := GPT2Shapes(c)
	var got []string
	for _, s := range specs {
		got = append(got, fmt.Sprint(s.Name, s.Shape))
	}
	want := []string{
		"transformer.wte.weight[16 8]", "transformer.wpe.weight[8 8]",
		"transformer.h.0.ln_1.weight[8]", "transformer.h.0.ln_1.bias[8]",
		"transformer.h.0.attn.c_attn.weight[8 24]", "transformer.h.0.attn.c_attn.bias[24]",
		"transformer.h.0.attn.c_proj.weight[8 8]", "transformer.h.0.attn.c_proj.bias[8]",
		"transformer.h.0.ln_2.weight[8]", "transformer.h.0.ln_2.bias[8]",
		"transformer.h.0.mlp.c_fc.weight[8 24]", "transformer.h.0.mlp.c_fc.bias[24]",
		"transformer.h.0.mlp.c_proj.weight[24 8]", "transformer.h.0.mlp.c_proj.bias[8]",
		"transformer.h.1.ln_1.weight[8]", "transformer.h.1.ln_1.bias[8]",
		"transformer.h.1.attn.c_attn.weight[8 24]", "transformer.h.1.attn.c_attn.bias[24]",
		"transformer.h.1.attn.c_proj.weight[8 8]", "transformer.h.1.attn.c_proj.bias[8]",
		"transformer.h.1.ln_2.weight[8]", "transformer.h.1.ln_2.bias[8]",
		"transformer.h.1.mlp.c_fc.weight[8 24]", "transformer.h.1.mlp.c_fc.bias[24]",
		"transformer.h.1.mlp.c_proj.weight[24 8]", "transformer.h.1.mlp.c_proj.bias[8]",
		"transformer.ln_f.weight[8]", "transformer.ln_f.bias[8]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
