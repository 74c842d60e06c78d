package hf

import (
	"reflect"
	"testing"
)

// FuzzParseConfig: ParseConfig never panics; a config it accepts is
// consistent (heads divide, even head width, tensors that tile Params) and
// survives ConfigJSON and ParseConfig again unchanged, in both layouts.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{qwen25Config, qwen3Config, llama31Config, smolLM2Config, `{}`, `{"model_type": "qwen2"}`, `[`, `null`,
		`{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "rope_parameters": {"full_attention": {"rope_type": "default"}}}`} {
		f.Add([]byte(s))
	}
	for _, typ := range []string{Qwen2, Qwen3, Llama} {
		c, _ := TinyConfig(typ)
		for _, v5 := range []bool{false, true} {
			b, _ := ConfigJSON(c, v5)
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data, "config.json")
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if c.Heads%c.KVHeads != 0 || c.HeadDim%2 != 0 || c.HeadDim <= 0 || c.VocabSize <= 0 || c.Layers <= 0 {
			t.Fatalf("inconsistent config accepted: %+v", c)
		}
		off := 0
		for _, ts := range c.Tensors() {
			if ts.Offset != off {
				t.Fatalf("tensor %s at %d, want %d", ts.Name, ts.Offset, off)
			}
			off += ts.Size
		}
		if off != c.NumParams() {
			t.Fatalf("NumParams %d, tensors %d", c.NumParams(), off)
		}
		if len(c.Rope.InvFreq(c.HeadDim)) != c.HeadDim/2 {
			t.Fatal("InvFreq length")
		}
		for _, v5 := range []bool{false, true} {
			b, err := ConfigJSON(c, v5)
			if err != nil {
				t.Fatal(err)
			}
			c2, err := ParseConfig(b, "again")
			if err != nil {
				t.Fatalf("v5=%v: %v\n%s", v5, err, b)
			}
			if !reflect.DeepEqual(c, c2) {
				t.Fatalf("v5=%v: round trip %+v -> %+v", v5, c, c2)
			}
		}
	})
}
