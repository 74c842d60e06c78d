package hf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/policy/chat"
)

// TestPyRepr compares with Python 3's repr(float).
func TestPyRepr(t *testing.T) {
	cases := map[float64]string{
		0: "0.0", 1: "1.0", 0.02: "0.02", 1e-6: "1e-06", 1e-5: "1e-05", 1.5e-7: "1.5e-07", 1e-4: "0.0001",
		1e6: "1000000.0", 5e5: "500000.0", 1e16: "1e+16", 1.2345e20: "1.2345e+20", 123.456: "123.456",
		0.041666666666666664: "0.041666666666666664", -2.5: "-2.5", 9999999999999998: "9999999999999998.0",
	}
	for x, want := range cases {
		if got := pyRepr(x); got != want {
			t.Errorf("pyRepr(%v) = %s, want %s", x, got, want)
		}
	}
}

// TestConfigJSONLayout checks the bytes of a 4.x qwen2 config.json:
// transformers' to_json_string (json.dumps(indent=2, sort_keys=True) + "\n").
func TestConfigJSONLayout(t *testing.T) {
	c, _ := TinyConfig(Qwen2)
	got, err := ConfigJSON(c, false)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "architectures": [
    "Qwen2ForCausalLM"
  ],
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151645,
  "hidden_act": "silu",
  "hidden_size": 32,
  "initializer_range": 0.02,
  "intermediate_size": 64,
  "max_position_embeddings": 32768,
  "max_window_layers": 2,
  "model_type": "qwen2",
  "num_attention_heads": 4,
  "num_hidden_layers": 2,
  "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06,
  "rope_scaling": null,
  "rope_theta": 1000000.0,
  "sliding_window": 32768,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.51.3",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
}
`
	if string(got) != want {
		t.Errorf("config.json:\n%s\nwant\n%s", got, want)
	}
}

// TestConfigRoundTrip: ParseConfig(ConfigJSON(c)) == c for the tiny
// configs in both layouts.
func TestConfigRoundTrip(t *testing.T) {
	for _, typ := range []string{Qwen2, Qwen3, Llama} {
		c, _ := TinyConfig(typ)
		for _, v5 := range []bool{false, true} {
			b, err := ConfigJSON(c, v5)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseConfig(b, typ)
			if err != nil {
				t.Fatalf("%s v5=%v: %v\n%s", typ, v5, err, b)
			}
			if !reflect.DeepEqual(got, c) {
				t.Errorf("%s v5=%v: %+v, want %+v", typ, v5, got, c)
			}
		}
	}
}

// TestWriteTinyLayout checks the files of the three tiny checkpoints and
// logs their sizes.
func TestWriteTinyLayout(t *testing.T) {
	for _, tc := range tinyCases {
		dir := tinyDir(t, tc)
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		sizes := ""
		for _, e := range ents {
			names = append(names, e.Name())
			info, _ := e.Info()
			sizes += " " + e.Name() + "=" + humanBytes(info.Size())
		}
		want := []string{"config.json", checkpoint.SafetensorsIndexName, "tokenizer.json", "tokenizer_config.json"}
		if _, err := os.Stat(filepath.Join(hfTestdata, tc.TokDir, "chat_template.jinja")); err == nil || tc.Template != "" {
			want = append(want, "chat_template.jinja")
		}
		for i := range tc.Shards {
			want = append(want, shardName(i+1, tc.Shards))
		}
		slices.Sort(want)
		if !slices.Equal(names, want) {
			t.Errorf("%s: files %v, want %v", tc.Name, names, want)
		}
		t.Logf("%s:%s", tc.Name, sizes)

		// The index: total_size is the tensors' bytes; every tensor listed.
		b, _ := os.ReadFile(filepath.Join(dir, checkpoint.SafetensorsIndexName))
		var idx struct {
			Metadata struct {
				TotalSize int64 `json:"total_size"`
			} `json:"metadata"`
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &idx); err != nil {
			t.Fatal(err)
		}
		c, _ := TinyConfig(tc.Type)
		if want := int64(2 * c.NumParams()); idx.Metadata.TotalSize != want {
			t.Errorf("%s: total_size %d, want %d (BF16)", tc.Name, idx.Metadata.TotalSize, want)
		}
		if len(idx.WeightMap) != len(c.Tensors()) {
			t.Errorf("%s: %d tensors in weight_map, want %d", tc.Name, len(idx.WeightMap), len(c.Tensors()))
		}
		// Each file carries transformers' metadata.
		for _, shard := range slices.Compact(slices.Sorted(mapValues(idx.WeightMap))) {
			f, err := checkpoint.OpenFile(filepath.Join(dir, shard), checkpoint.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if f.Metadata()["format"] != "pt" {
				t.Errorf("%s: metadata %v", shard, f.Metadata())
			}
			f.Close()
		}
		// The chat template and the tokenizer load.
		if _, err := chat.Load(dir); err != nil {
			t.Errorf("%s: chat template: %v", tc.Name, err)
		}
		if _, err := LoadTokenizer(dir, c.VocabSize); err != nil {
			t.Errorf("%s: tokenizer: %v", tc.Name, err)
		}
	}
}

func shardName(i, n int) string { return fmt.Sprintf("model-%05d-of-%05d.safetensors", i, n) }

func mapValues(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

func humanBytes(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.2fMB", float64(n)/1e6)
	}
	return fmt.Sprintf("%dB", n)
}

// TestWriteTinyRefusesExisting: WriteTiny never overwrites.
func TestWriteTinyRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	if err := WriteTiny(dir, TinyOptions{ModelType: Qwen2}); err == nil {
		t.Error("WriteTiny wrote into an existing directory")
	}
	if err := WriteTiny(filepath.Join(dir, "x"), TinyOptions{ModelType: "mistral"}); err == nil {
		t.Error("WriteTiny wrote a mistral")
	}
}
