package checkpoint

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pyVerify is an independent reader of a checkpoint directory written with
// nothing but Python's json and struct modules. It checks the safetensors
// layout (8-byte little-endian length, header padded to 8 bytes, offsets
// tiling the buffer, byte lengths = prod(shape) x dtype size), computes the
// HF GPT-2 tensor names and shapes from config.json on its own, and compares
// every value bit for bit with the expectations the Go test wrote.
const pyVerify = `
import json, struct, sys, os
d, exp = sys.argv[1], json.load(open(sys.argv[2]))
SIZES = {"F32": 4, "F64": 8}

def read(path):
    with open(path, "rb") as f:
        b = f.read()
    (n,) = struct.unpack("<Q", b[:8])
    assert n % 8 == 0, "header length %d not a multiple of 8" % n
    raw = b[8:8 + n]
    assert raw.rstrip(b" ").endswith(b"}") and raw.startswith(b"{"), raw[:20]
    h = json.loads(raw.decode("utf-8"))
    meta = h.pop("__metadata__", None)
    buf = b[8 + n:]
    pos = 0
    for name, info in sorted(h.items(), key=lambda kv: kv[1]["data_offsets"]):
        assert set(info) == {"dtype", "shape", "data_offsets"}, info
        s, e = info["data_offsets"]
        assert s == pos, (name, s, pos)
        count = 1
        for x in info["shape"]:
            count *= x
        assert e - s == count * SIZES[info["dtype"]], name
        pos = e
    assert pos == len(buf), (pos, len(buf))
    # One dtype per file: data in name order, as safetensors writes it.
    by_offset = [k for k, _ in sorted(h.items(), key=lambda kv: kv[1]["data_offsets"])]
    assert by_offset == sorted(h), "not in name order"
    return h, meta, buf

def values(h, buf, name):
    info = h[name]
    s, e = info["data_offsets"]
    fmt = {"F32": "I", "F64": "Q"}[info["dtype"]]
    return list(struct.unpack("<%d%s" % ((e - s) // SIZES[info["dtype"]], fmt), buf[s:e]))

cfg = json.load(open(os.path.join(d, "config.json")))
assert cfg["model_type"] == "gpt2" and cfg["architectures"] == ["GPT2LMHeadModel"]
assert cfg["activation_function"] == "gelu_new" and cfg["tie_word_embeddings"] is True
assert cfg["n_inner"] is None and cfg["layer_norm_epsilon"] == 1e-05 and cfg["torch_dtype"] == "float32"
V, P, D, L = cfg["vocab_size"], cfg["n_positions"], cfg["n_embd"], cfg["n_layer"]
I = 4 * D
shapes = {"transformer.wte.weight": [V, D], "transformer.wpe.weight": [P, D],
          "transformer.ln_f.weight": [D], "transformer.ln_f.bias": [D]}
for i in range(L):
    p = "transformer.h.%d." % i
    shapes.update({p + "ln_1.weight": [D], p + "ln_1.bias": [D],
                   p + "attn.c_attn.weight": [D, 3 * D], p + "attn.c_attn.bias": [3 * D],
                   p + "attn.c_proj.weight": [D, D], p + "attn.c_proj.bias": [D],
                   p + "ln_2.weight": [D], p + "ln_2.bias": [D],
                   p + "mlp.c_fc.weight": [D, I], p + "mlp.c_fc.bias": [I],
                   p + "mlp.c_proj.weight": [I, D], p + "mlp.c_proj.bias": [D]})

h, meta, buf = read(os.path.join(d, "model.safetensors"))
assert meta == exp["model_meta"], meta
assert {k: v["shape"] for k, v in h.items()} == shapes, "names or shapes differ from HF GPT-2"
for name in h:
    assert h[name]["dtype"] == "F32"
    assert values(h, buf, name) == exp["model"][name], name

vocab = json.load(open(os.path.join(d, "vocab.json")))
assert sorted(vocab.values()) == list(range(V))
assert [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])] == exp["vocab"]

h, meta, buf = read(os.path.join(d, "optimizer.safetensors"))
assert meta == exp["opt_meta"], meta
for kind in ("exp_avg.", "exp_avg_sq."):
    for name, shape in shapes.items():
        assert h[kind + name]["shape"] == shape and h[kind + name]["dtype"] == "F64"
        assert values(h, buf, kind + name) == exp["opt"][kind + name], kind + name
print("ok", len(shapes))
`

// pyWrite writes a safetensors file the way another tool might: tensors of
// several dtypes stored out of name order, an unpadded, indented header,
// metadata; it prints the float32 (or float64) bits each tensor must decode
// to, computed with struct.
const pyWrite = `
import json, struct, sys
vals = [1.0, -2.5, 65504.0, 2.0 ** -24, 0.0, -0.0, 0.333251953125, float("inf")]
f32bits = [struct.unpack("<I", struct.pack("<f", v))[0] for v in vals]
f16 = struct.pack("<%de" % len(vals), *vals)
bf16 = struct.pack("<%dH" % len(vals), *[b >> 16 for b in f32bits])
f64v = [3.141592653589793, -1e300, 5e-324]
f64 = struct.pack("<%dd" % len(f64v), *f64v)
i64 = struct.pack("<2q", 1, -1)
parts = [("z_int", "I64", [2], i64), ("half", "F16", [2, 4], f16), ("f64", "F64", [3], f64), ("bf", "BF16", [8], bf16)]
header, pos, data = {"__metadata__": {"writer": "python struct"}}, 0, b""
for name, dt, shape, b in parts:
    header[name] = {"dtype": dt, "shape": shape, "data_offsets": [pos, pos + len(b)]}
    pos += len(b)
    data += b
h = json.dumps(header, indent=1).encode("utf-8")
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
print(json.dumps({
    "half": f32bits,
    "bf": [(b >> 16) << 16 for b in f32bits],
    "f64": [struct.unpack("<Q", struct.pack("<d", v))[0] for v in f64v],
    "f64_as_f32": struct.unpack("<I", struct.pack("<f", f64v[0]))[0],
}))
`

// TestPythonCrossCheck checks the files against an independent reader and
// writer in Python (json and struct only, no safetensors package). It runs
// when GRADCOUPLE_PYTHON=1.
func TestPythonCrossCheck(t *testing.T) {
	if os.Getenv("GRADCOUPLE_PYTHON") != "1" {
		t.Skip("set GRADCOUPLE_PYTHON=1 to cross-check with python3")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()

	// Go writes, Python reads.
	c := tinyCheckpoint()
	dir := filepath.Join(tmp, "ck")
	if err := Save(dir, c); err != nil {
		t.Fatal(err)
	}
	exp := map[string]any{
		"vocab":      c.Vocab,
		"model_meta": map[string]string{"format": "pt", "iteration": "3", "run": "tiny"},
		"opt_meta":   map[string]string{"step": "3", "optimizer": "adam", "lr": "0.001", "beta1": "0.9", "beta2": "0.999", "eps": "1e-08"},
	}
	model := map[string][]uint32{}
	for name, v := range c.Tensors {
		bits := make([]uint32, len(v))
		for i, x := range v {
			bits[i] = math.Float32bits(x)
		}
		model[name] = bits
	}
	opt := map[string][]uint64{}
	for prefix, m := range map[string]map[string][]float64{FirstMomentPrefix: c.Optimizer.M, SecondMomentPrefix: c.Optimizer.V} {
		for name, v := range m {
			bits := make([]uint64, len(v))
			for i, x := range v {
				bits[i] = math.Float64bits(x)
			}
			opt[prefix+name] = bits
		}
	}
	exp["model"], exp["opt"] = model, opt
	expPath := filepath.Join(tmp, "expected.json")
	b, _ := json.Marshal(exp)
	os.WriteFile(expPath, b, 0o644)
	out, err := exec.Command(py, "-c", pyVerify, dir, expPath).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok 16") {
		t.Fatalf("python reader: %v\n%s", err, out)
	}

	// Python writes, Go reads.
	path := filepath.Join(tmp, "py.safetensors")
	out, err = exec.Command(py, "-c", pyWrite, path).Output()
	if err != nil {
		t.Fatalf("python writer: %v\n%s", err, out)
	}
	var want struct {
		Half, BF []uint32
		F64      []uint64
		F64AsF32 uint32 `json:"f64_as_f32"`
	}
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Metadata()["writer"] != "python struct" {
		t.Errorf("metadata %v", f.Metadata())
	}
	for name, bits := range map[string][]uint32{"half": want.Half, "bf": want.BF} {
		v, _, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		for i := range v {
			if math.Float32bits(v[i]) != bits[i] {
				t.Errorf("%s[%d] = %#x, python %#x", name, i, math.Float32bits(v[i]), bits[i])
			}
		}
	}
	v64, _, err := f.Float64("f64")
	if err != nil {
		t.Fatal(err)
	}
	for i := range v64 {
		if math.Float64bits(v64[i]) != want.F64[i] {
			t.Errorf("f64[%d] = %v", i, v64[i])
		}
	}
	v32, _, err := f.Float32("f64")
	if err != nil || math.Float32bits(v32[0]) != want.F64AsF32 {
		t.Errorf("f64 as float32: %v %v", v32, err)
	}
	if ti, _ := f.Info("half"); ti.Len() != 8 || ti.DType != F16 {
		t.Errorf("half: %+v", ti)
	}
}
