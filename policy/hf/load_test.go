package hf

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/checkpoint"
)

// smallConfig is TinyConfig(typ) with a 300-token vocabulary, for tests
// that write many directories.
func smallConfig(t testing.TB, typ string) Config {
	c, ok := TinyConfig(typ)
	if !ok {
		t.Fatalf("TinyConfig(%q)", typ)
	}
	c.VocabSize, c.BOS, c.EOS = 300, 298, []int{299}
	return c
}

// writeDir writes config.json for c and tensors as model.safetensors (or
// n shards) into a new directory.
func writeDir(t testing.TB, c Config, tensors []checkpoint.Tensor, shards int) string {
	t.Helper()
	dir := t.TempDir()
	b, err := ConfigJSON(c, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeShards(dir, tensors, shards); err != nil {
		t.Fatal(err)
	}
	return dir
}

func tinyTensors(t testing.TB, c Config, dt checkpoint.DType) []checkpoint.Tensor {
	t.Helper()
	ts, err := TinyWeights(c, dt, 7)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestHalfConversionsExact loads every BF16 and every F16 bit pattern as
// the embedding (2048 x 32 = 65536 values) and checks each value against
// its definition: BF16 b is the float32 with bits b<<16; F16 with sign s,
// exponent e and fraction f is (-1)^s f 2^-24 for e = 0, (-1)^s (1024+f)
// 2^(e-25) for 0 < e < 31, and infinity or NaN for e = 31.
func TestHalfConversionsExact(t *testing.T) {
	c := smallConfig(t, Llama)
	c.VocabSize, c.TieWordEmbeddings = 2048, true
	for _, dt := range []checkpoint.DType{checkpoint.BF16, checkpoint.F16} {
		ts := tinyTensors(t, c, dt)
		raw := make([]byte, 0, 1<<17)
		for i := range 1 << 16 {
			raw = binary.LittleEndian.AppendUint16(raw, uint16(i))
		}
		ts[0].Data = raw // model.embed_tokens.weight
		dir := writeDir(t, c, ts, 1)
		m32, err := Load[float32](dir)
		if err != nil {
			t.Fatal(err)
		}
		m64, err := Load[float64](dir)
		if err != nil {
			t.Fatal(err)
		}
		e32, e64 := m32.Tensor("model.embed_tokens.weight"), m64.Tensor("model.embed_tokens.weight")
		for i := range 1 << 16 {
			var want float64
			if dt == checkpoint.BF16 {
				want = float64(math.Float32frombits(uint32(i) << 16))
			} else {
				s, e, f := i>>15, (i>>10)&31, i&1023
				switch {
				case e == 0:
					want = math.Ldexp(float64(f), -24)
				case e < 31:
					want = math.Ldexp(float64(1024+f), e-25)
				case f == 0:
					want = math.Inf(1)
				default:
					want = math.NaN()
				}
				if s == 1 {
					want = -want
				}
			}
			if math.IsNaN(want) {
				if !math.IsNaN(float64(e32[i])) || !math.IsNaN(e64[i]) {
					t.Fatalf("%s %#04x: %v, %v, want NaN", dt, i, e32[i], e64[i])
				}
				continue
			}
			if float64(e32[i]) != want || e64[i] != want || math.Signbit(e64[i]) != math.Signbit(want) {
				t.Fatalf("%s %#04x: float32 %g, float64 %g, want %g", dt, i, e32[i], e64[i], want)
			}
			if dt == checkpoint.BF16 && math.Float32bits(e32[i]) != uint32(i)<<16 {
				t.Fatalf("BF16 %#04x: bits %#08x", i, math.Float32bits(e32[i]))
			}
		}
	}
}

// TestShardedEqualsSingle writes each tiny model as one file and as 3
// shards (5.x config) and checks that the parameters and log-probs are
// identical bit for bit.
func TestShardedEqualsSingle(t *testing.T) {
	for _, tc := range tinyCases {
		c := smallConfig(t, tc.Type)
		var models []*Model[float64]
		for _, o := range []TinyOptions{{Shards: 0}, {Shards: 3, Transformers5: true}} {
			o.ModelType, o.Seed, o.Config = tc.Type, tc.Seed, &c
			dir := filepath.Join(t.TempDir(), "m")
			if err := WriteTiny(dir, o); err != nil {
				t.Fatal(err)
			}
			m, err := Load[float64](dir)
			if err != nil {
				t.Fatalf("%s shards %d: %v", tc.Name, o.Shards, err)
			}
			models = append(models, m)
		}
		a, b := models[0], models[1]
		if !reflect64Equal(a.Params, b.Params) {
			t.Errorf("%s: parameters differ between one file and 3 shards", tc.Name)
		}
		seqs := []Seq{{Prompt: []int{1, 2, 3, 4, 5}, Action: []int{6, 7, 299}}}
		sa, pa, err := a.LogProbs(seqs)
		if err != nil {
			t.Fatal(err)
		}
		sb, pb, _ := b.LogProbs(seqs)
		if sa[0] != sb[0] || !slices.Equal(pa[0], pb[0]) {
			t.Errorf("%s: log-probs %v vs %v", tc.Name, pa, pb)
		}
	}
}

func reflect64Equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

func dropTensor(ts []checkpoint.Tensor, name string) []checkpoint.Tensor {
	return slices.DeleteFunc(slices.Clone(ts), func(x checkpoint.Tensor) bool { return x.Name == name })
}

func withTensor(ts []checkpoint.Tensor, name string, f func(*checkpoint.Tensor)) []checkpoint.Tensor {
	out := slices.Clone(ts)
	for i := range out {
		if out[i].Name == name {
			f(&out[i])
		}
	}
	return out
}

// TestLoadRefuses checks the errors of Load on directories that are not
// a model it computes exactly or whose files disagree.
func TestLoadRefuses(t *testing.T) {
	cq := smallConfig(t, Qwen2) // tied
	cl := smallConfig(t, Llama) // untied
	tq := tinyTensors(t, cq, checkpoint.BF16)
	tl := tinyTensors(t, cl, checkpoint.BF16)
	norm := "model.norm.weight"
	cases := []struct {
		name  string
		dir   func() string
		kind  error
		names string // in the message
	}{
		{"adapter directory", func() string {
			d := writeDir(t, cq, tq, 1)
			os.WriteFile(filepath.Join(d, AdapterConfigFileName), []byte(`{"peft_type": "LORA", "r": 8, "lora_alpha": 16}`), 0o644)
			return d
		}, ErrUnsupported, AdapterConfigFileName},
		{"F64 tensor", func() string {
			return writeDir(t, cq, withTensor(tq, norm, func(x *checkpoint.Tensor) {
				x.DType, x.Data = checkpoint.F64, make([]byte, 8*cq.Hidden)
			}), 1)
		}, ErrUnsupported, norm},
		{"I32 tensor", func() string {
			return writeDir(t, cq, withTensor(tq, norm, func(x *checkpoint.Tensor) {
				x.DType, x.Data = checkpoint.I32, make([]byte, 4*cq.Hidden)
			}), 1)
		}, ErrUnsupported, norm},
		{"wrong shape", func() string {
			return writeDir(t, cq, withTensor(tq, norm, func(x *checkpoint.Tensor) {
				x.Shape = []int{cq.Hidden / 2, 2}
			}), 1)
		}, ErrMalformed, norm},
		{"missing tensor", func() string { return writeDir(t, cq, dropTensor(tq, norm), 1) }, ErrMalformed, norm},
		{"extra tensor", func() string {
			x := tq[len(tq)-1]
			x.Name = "model.layers.0.mlp.extra.weight"
			return writeDir(t, cq, append(slices.Clone(tq), x), 1)
		}, ErrMalformed, "model.layers.0.mlp.extra.weight"},
		{"untied without lm_head", func() string { return writeDir(t, cl, dropTensor(tl, "lm_head.weight"), 1) }, ErrMalformed, "lm_head.weight"},
		{"tied with a different lm_head", func() string {
			head := tl[len(tl)-1] // llama's lm_head, random: differs from qwen2's embedding
			return writeDir(t, cq, append(slices.Clone(tq), head), 1)
		}, ErrMalformed, "lm_head.weight"},
		{"pickled weights", func() string {
			d := t.TempDir()
			b, _ := ConfigJSON(cq, false)
			os.WriteFile(filepath.Join(d, ConfigFileName), b, 0o644)
			os.WriteFile(filepath.Join(d, "pytorch_model.bin"), []byte("PK"), 0o644)
			return d
		}, ErrUnsupported, "pytorch_model.bin"},
		{"sliding window config", func() string {
			d := writeDir(t, cq, tq, 1)
			b, _ := os.ReadFile(filepath.Join(d, ConfigFileName))
			b = setField(t, string(b), "use_sliding_window", "true")
			b = setField(t, string(b), "sliding_window", "16")
			b = setField(t, string(b), "max_window_layers", "1")
			os.WriteFile(filepath.Join(d, ConfigFileName), b, 0o644)
			return d
		}, ErrUnsupported, "use_sliding_window"},
	}
	for _, tc := range cases {
		_, err := Load[float32](tc.dir())
		if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.names) {
			t.Errorf("%s: error %v, want %v naming %s", tc.name, err, tc.kind, tc.names)
		}
	}
}

// TestLoadAccepts: transformers' inv_freq buffers and a tied lm_head equal
// to the embedding are ignored.
func TestLoadAccepts(t *testing.T) {
	c := smallConfig(t, Qwen2)
	ts := tinyTensors(t, c, checkpoint.BF16)
	head := ts[0]
	head.Name = "lm_head.weight"
	inv := checkpoint.F32Tensor("model.layers.0.self_attn.rotary_emb.inv_freq", []int{c.HeadDim / 2}, make([]float32, c.HeadDim/2))
	dir := writeDir(t, c, append(slices.Clone(ts), head, inv), 1)
	if _, err := Load[float32](dir); err != nil {
		t.Error(err)
	}
}

// TestShardIndexChecked checks that every weight_map entry is checked
// against the shards, through Load.
func TestShardIndexChecked(t *testing.T) {
	c := smallConfig(t, Qwen3)
	ts := tinyTensors(t, c, checkpoint.BF16)
	edit := func(f func(wm map[string]string)) string {
		d := writeDir(t, c, ts, 2)
		p := filepath.Join(d, checkpoint.SafetensorsIndexName)
		b, _ := os.ReadFile(p)
		var idx struct {
			Metadata  map[string]any    `json:"metadata"`
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &idx); err != nil {
			t.Fatal(err)
		}
		f(idx.WeightMap)
		b, _ = json.Marshal(idx)
		os.WriteFile(p, b, 0o644)
		return d
	}
	norm := "model.norm.weight"
	cases := []struct {
		name string
		dir  string
		kind error
		msg  string
	}{
		{"tensor not listed", edit(func(wm map[string]string) { delete(wm, norm) }), checkpoint.ErrUnexpectedTensor, norm},
		{"listed in the wrong shard", edit(func(wm map[string]string) { wm[norm] = "model-00001-of-00002.safetensors" }), checkpoint.ErrMissingTensor, norm},
		{"listed tensor no shard has", edit(func(wm map[string]string) { wm["model.extra"] = "model-00002-of-00002.safetensors" }), checkpoint.ErrMissingTensor, "model.extra"},
		{"shard missing", edit(func(wm map[string]string) { wm[norm] = "model-00003-of-00003.safetensors" }), fs.ErrNotExist, "model-00003-of-00003.safetensors"},
		{"shard outside the directory", edit(func(wm map[string]string) { wm[norm] = "../model.safetensors" }), checkpoint.ErrHeader, "directory part"},
		{"shard not safetensors", edit(func(wm map[string]string) { wm[norm] = "model.bin" }), checkpoint.ErrHeader, ".safetensors"},
	}
	for _, tc := range cases {
		_, err := Load[float32](tc.dir)
		if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want %v mentioning %s", tc.name, err, tc.kind, tc.msg)
		}
	}
}

// TestLoadTokenizerVocab: a tokenizer with more ids than vocab_size rows is
// refused, naming vocab_size.
func TestLoadTokenizerVocab(t *testing.T) {
	c := smallConfig(t, Qwen3)
	dir := filepath.Join(t.TempDir(), "m")
	err := WriteTiny(dir, TinyOptions{ModelType: Qwen3, Config: &c, Tokenizer: os.DirFS(filepath.Join(hfTestdata, "qwen3"))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = LoadTokenizer(dir, c.VocabSize)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "vocab_size") {
		t.Errorf("error %v", err)
	}
}

// TestConvert: a BF16 checkpoint loaded in float64 and converted to float32
// is the float32 load, bit for bit (BF16 values are exact in both).
func TestConvert(t *testing.T) {
	c := smallConfig(t, Qwen3)
	dir := writeDir(t, c, tinyTensors(t, c, checkpoint.BF16), 1)
	m64, err := Load[float64](dir)
	if err != nil {
		t.Fatal(err)
	}
	m32, err := Load[float32](dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(Convert[float32](m64).Params, m32.Params) {
		t.Error("Convert[float32](Load[float64]) differs from Load[float32]")
	}
	if !slices.Equal(Convert[float64](m32).Params, m64.Params) {
		t.Error("Convert[float64](Load[float32]) differs from Load[float64]")
	}
}
