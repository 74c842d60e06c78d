package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/checkpoint (the tiny checkpoint and the malformed files)")

// tinyConfig is the config of the committed tiny checkpoint: V=16, P=8, d=8,
// one layer, two heads.
func tinyConfig() Config {
	c := NewConfig(16, 8, 8, 1, 2)
	c.BOSTokenID, c.EOSTokenID = 1, 2
	pad := 0
	c.PadTokenID = &pad
	c.Gradcouple.Env = "household"
	c.Gradcouple.Seed = 7
	c.Gradcouple.Tokenizer = "word"
	return c
}

var tinyVocab = []string{"<pad>", "<bos>", "<eos>", "<unk>", "<verdict>", "good", "bad", "<eoa>",
	"go", "to", "take", "from", "put", "cabinet", "1", "2"}

// randomTensors returns weights for cfg drawn from a seeded PCG: N(0, 0.02)
// for matrices and biases, 1 + N(0, 0.02) for LayerNorm gains, so that no
// two tensors are alike and a transposition would show.
func randomTensors(cfg Config, seed uint64) map[string][]float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := map[string][]float32{}
	for _, s := range GPT2Shapes(cfg) {
		v := make([]float32, s.Len())
		base := float32(0)
		if strings.Contains(s.Name, "ln_") && strings.HasSuffix(s.Name, ".weight") {
			base = 1
		}
		for i := range v {
			v[i] = base + float32(rng.NormFloat64()*0.02)
		}
		out[s.Name] = v
	}
	return out
}

// tinyCheckpoint is the committed tiny checkpoint, optimizer state included.
func tinyCheckpoint() *Checkpoint {
	cfg := tinyConfig()
	rng := rand.New(rand.NewPCG(7, 2))
	opt := &OptimizerState{Step: 3, M: map[string][]float64{}, V: map[string][]float64{},
		Extra: map[string]string{"optimizer": "adam", "lr": "0.001", "beta1": "0.9", "beta2": "0.999", "eps": "1e-08"}}
	for _, s := range GPT2Shapes(cfg) {
		m := make([]float64, s.Len())
		v := make([]float64, s.Len())
		for i := range m {
			m[i] = rng.NormFloat64() * 1e-3
			v[i] = m[i] * m[i] * 0.5
		}
		opt.M[s.Name], opt.V[s.Name] = m, v
	}
	return &Checkpoint{
		Config:    cfg,
		Tensors:   randomTensors(cfg, 7),
		Vocab:     append([]string(nil), tinyVocab...),
		Optimizer: opt,
		Extra:     map[string]string{"iteration": "3", "run": "tiny"},
	}
}

// rawFile assembles a safetensors file from a header length, a header and
// data, so that tests can lie in any part.
func rawFile(n uint64, header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, n)
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

// file assembles a consistent safetensors file with header h.
func file(h string, data []byte) []byte { return rawFile(uint64(len(h)), h, data) }

// f32bytes encodes values as F32 data.
func f32bytes(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// mustWrite writes tensors with WriteSafetensors.
func mustWrite(t testing.TB, ts []Tensor, meta map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteSafetensors(&b, ts, meta); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// read reads a safetensors file from bytes.
func read(data []byte, opts ReadOptions) (*File, error) {
	return ReadSafetensors(bytes.NewReader(data), int64(len(data)), "test.safetensors", opts)
}

// checkValidationError checks that err is a *ValidationError that matches
// kind, names file, tensor and field, and whose message contains msg.
func checkValidationError(t *testing.T, err error, kind error, file, tensor, field, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", kind)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %T (%v) is not a *ValidationError", err, err)
	}
	if !ve.BadInput() {
		t.Errorf("BadInput() is false")
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("error %q does not match %v", err, kind)
	}
	if file != "" && ve.File != file {
		t.Errorf("error %q names file %q, want %q", err, ve.File, file)
	}
	if ve.Tensor != tensor {
		t.Errorf("error %q names tensor %q, want %q", err, ve.Tensor, tensor)
	}
	if ve.Field != field {
		t.Errorf("error %q names field %q, want %q", err, ve.Field, field)
	}
	if !strings.Contains(ve.Msg, msg) {
		t.Errorf("error %q does not contain %q", err, msg)
	}
}

// equalBits reports whether two float32 slices are equal bit for bit.
func equalBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// equalBits64 is equalBits for float64.
func equalBits64(a, b []float64) bool {
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
