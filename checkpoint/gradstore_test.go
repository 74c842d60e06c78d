package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// randGrads returns n x d seeded standard normal rows.
func randGrads(n, d int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 2))
	g := make([]float32, n*d)
	for i := range g {
		g[i] = float32(rng.NormFloat64())
	}
	return g
}

func writeNPYFile(t *testing.T, path string, d DType, shape []int, v []float32) {
	t.Helper()
	hdr, err := NPYHeaderBytes(d, shape)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, AppendFloats(hdr, v, d), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readAllRows(t *testing.T, s GradStore) []float32 {
	t.Helper()
	out := make([]float32, s.Rows()*s.Cols())
	if err := s.ReadRows(out, 0, s.Rows()); err != nil {
		t.Fatal(err)
	}
	// Reading in pieces gives the same rows.
	if s.Rows() > 2 {
		part := make([]float32, 2*s.Cols())
		if err := s.ReadRows(part, 1, 3); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(part, out[s.Cols():3*s.Cols()]) {
			t.Fatal("ReadRows(1, 3) differs from the full read")
		}
	}
	return out
}

func TestNPYRoundTrip(t *testing.T) {
	dir := t.TempDir()
	g := randGrads(5, 7, 1)
	for _, d := range []DType{F32, F16} {
		path := filepath.Join(dir, string(d)+".npy")
		writeNPYFile(t, path, d, []int{5, 7}, g)
		b, _ := os.ReadFile(path)
		if hl := binary.LittleEndian.Uint16(b[8:10]); (10+int(hl))%64 != 0 || b[9+hl] != '\n' {
			t.Errorf("%s: header of %d bytes is not padded to 64 and ended by a newline", d, hl)
		}
		s, err := OpenGradStore(path, GradStoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Format() != FormatNPY || s.Rows() != 5 || s.Cols() != 7 || s.DType() != d {
			t.Fatalf("%s: %s %dx%d %s", d, s.Format(), s.Rows(), s.Cols(), s.DType())
		}
		got := readAllRows(t, s)
		s.Close()
		for i := range g {
			want := g[i]
			if d == F16 {
				want = halfToFloat32(Float32ToHalf(g[i]))
			}
			if got[i] != want {
				t.Fatalf("%s: element %d = %v, want %v", d, i, got[i], want)
			}
		}
	}
}

func TestNPYHeaderForms(t *testing.T) {
	// Headers as numpy writes them (format.py, _write_array_header) and
	// variations its reader accepts.
	for _, c := range []struct {
		header string
		major  int
		shape  []int
		dtype  DType
		big    bool
	}{
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 1, []int{3, 4}, F32, false},
		{"{'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), }", 2, []int{2, 2}, F16, false},
		{"{\"shape\": (1, 3), \"fortran_order\": False, \"descr\": \">f8\"}", 3, []int{1, 3}, F64, true},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 1, []int{6}, F32, false},
		{"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 1L), }", 1, []int{2, 3, 1}, F32, false},
	} {
		b := npyBytes(c.major, c.header)
		h, err := ParseNPYHeader(b, "x.npy")
		if err != nil {
			t.Errorf("%s: %v", c.header, err)
			continue
		}
		if !slices.Equal(h.Shape, c.shape) || h.DType != c.dtype || h.BigEndian != c.big || h.DataOffset != int64(len(b)) {
			t.Errorf("%s: %+v", c.header, h)
		}
	}
}

// npyBytes is a .npy prelude and header (no padding rules) of a version.
func npyBytes(major int, header string) []byte {
	b := []byte(npyMagic)
	b = append(b, byte(major), 0)
	if major == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(header)+1))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(header)+1))
	}
	return append(append(b, header...), '\n')
}

func TestNPYMalformed(t *testing.T) {
	good := "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
	huge := append([]byte(npyMagic), 2, 0)
	huge = binary.LittleEndian.AppendUint32(huge, 0xfffffff0)
	for _, c := range []struct {
		name string
		data []byte
		kind error
		want string
	}{
		{"empty", nil, ErrTruncated, "ends before"},
		{"magic", []byte("PK\x03\x04 not numpy at all"), ErrHeader, "not a .npy"},
		{"version", npyBytes(4, good), ErrHeader, "version 4.0"},
		{"huge header v2", huge, ErrHeaderTooLarge, "exceeds the limit"},
		{"header cut", npyBytes(1, good)[:30], ErrTruncated, "inside the header"},
		{"not a dict", npyBytes(1, "['descr']"), ErrHeader, "not a dict"},
		{"struct dtype", npyBytes(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }"), ErrHeader, "unsupported value"},
		{"int dtype", npyBytes(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }"), ErrDType, "not a floating-point"},
		{"extra key", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}"), ErrHeader, "unexpected header key"},
		{"dup key", npyBytes(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}"), ErrHeader, "duplicate"},
		{"negative", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }"), ErrShape, "negative"},
		{"overflow", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }"), ErrShape, "overflows"},
		{"bigint", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 4), }"), ErrHeader, "out of range"},
		{"no data", npyBytes(1, good), ErrTruncated, "needs 24 data bytes, the file holds 0"},
		{"fortran", append(npyBytes(1, strings.Replace(good, "False", "True", 1)), make([]byte, 24)...), ErrShape, "Fortran"},
		{"trailing", append(npyBytes(1, good), make([]byte, 25)...), ErrShape, "trailing"},
		{"non-ascii", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'é': 1}"), ErrHeader, "not ASCII"},
	} {
		_, err := ReadNPYHeader(bytes.NewReader(c.data), int64(len(c.data)), "bad.npy")
		var ve *ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) || ve.File != "bad.npy" {
			t.Errorf("%s: %v, want %v containing %q", c.name, err, c.kind, c.want)
		}
	}
}

// TestHalfConversion checks Float32ToHalf against halfToFloat32: every finite
// half value converts back to itself, and values between two halves round to
// the nearer one, ties to the even one.
func TestFloat32ToHalf(t *testing.T) {
	for h := range 1 << 16 {
		x := halfToFloat32(uint16(h))
		if math.IsNaN(float64(x)) {
			if y := halfToFloat32(Float32ToHalf(x)); !math.IsNaN(float64(y)) {
				t.Fatalf("NaN %#04x -> %v", h, y)
			}
			continue
		}
		if got := Float32ToHalf(x); got != uint16(h) {
			t.Fatalf("half %#04x = %v -> %#04x", h, x, got)
		}
	}
	// Midpoints between consecutive positive halves (both normal and subnormal).
	for h := uint16(0); h < 0x7bff; h++ {
		lo, hi := halfToFloat32(h), halfToFloat32(h+1)
		mid := float32((float64(lo) + float64(hi)) / 2)
		want := h
		if h&1 == 1 {
			want = h + 1
		}
		if got := Float32ToHalf(mid); got != want {
			t.Fatalf("midpoint of %#04x and %#04x (%v): %#04x, want %#04x", h, h+1, mid, got, want)
		}
		above := math.Nextafter32(mid, hi)
		if got := Float32ToHalf(above); got != h+1 {
			t.Fatalf("just above the midpoint of %#04x: %#04x", h, got)
		}
	}
	for _, c := range []struct {
		x    float32
		want uint16
	}{{65504, 0x7bff}, {65520, 0x7c00}, {1e9, 0x7c00}, {-1e9, 0xfc00}, {1e-9, 0}, {float32(math.Inf(-1)), 0xfc00}} {
		if got := Float32ToHalf(c.x); got != c.want {
			t.Errorf("Float32ToHalf(%v) = %#04x, want %#04x", c.x, got, c.want)
		}
	}
	if got := bfloat16ToFloat32(Float32ToBFloat16(1.00390625)); got != 1 { // 1 + 2^-8: a tie, to even
		t.Errorf("bfloat16 tie: %v", got)
	}
	if got := bfloat16ToFloat32(Float32ToBFloat16(1.01171875)); got != 1.015625 { // 1 + 3*2^-8: tie, up to even
		t.Errorf("bfloat16 tie up: %v", got)
	}
}

func bergsonFixture(t *testing.T, dir string, d DType, n int, mods []GradModule) []float32 {
	t.Helper()
	cols := mods[len(mods)-1].Offset + mods[len(mods)-1].Size
	g := randGrads(n, cols, uint64(n))
	info := BergsonInfo{NumGrads: n, Modules: mods, DType: d}
	err := WriteBergsonDir(dir, info, func(w io.Writer) error {
		_, err := w.Write(AppendFloats(nil, g, d))
		return err
	}, map[string]func(io.Writer) error{"samples.csv": func(w io.Writer) error { _, err := io.WriteString(w, "label\n"); return err }})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

var testModules = []GradModule{{"gpt_neox.layers.0.mlp.dense_h_to_4h", 0, 6}, {"gpt_neox.layers.0.attention.dense", 6, 4}}

func TestBergsonRoundTrip(t *testing.T) {
	for _, d := range []DType{F32, F16, BF16} {
		dir := filepath.Join(t.TempDir(), "index")
		g := bergsonFixture(t, dir, d, 4, testModules)
		s, err := OpenGradStore(dir, GradStoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Format() != FormatBergson || s.Rows() != 4 || s.Cols() != 10 || !slices.Equal(s.Modules(), testModules) {
			t.Fatalf("%s: %s %dx%d %v", d, s.Format(), s.Rows(), s.Cols(), s.Modules())
		}
		got := readAllRows(t, s)
		s.Close()
		back := make([]float32, len(g))
		decodeFloats(back, AppendFloats(nil, g, d), d, false)
		if !slices.Equal(got, back) {
			t.Fatalf("%s: rows differ", d)
		}
		// Rewriting replaces the store.
		bergsonFixture(t, dir, d, 3, testModules)
		if s, err = OpenGradStore(dir, GradStoreOptions{}); err != nil || s.Rows() != 3 {
			t.Fatalf("rewrite: %v", err)
		}
		s.Close()
	}
	// A directory that is not a store is never replaced.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644)
	err := WriteBergsonDir(other, BergsonInfo{NumGrads: 0, Modules: testModules, DType: F32}, func(io.Writer) error { return nil }, nil)
	if err == nil || !strings.Contains(err.Error(), "refusing to replace") {
		t.Errorf("replaced a foreign directory: %v", err)
	}
}

func TestBergsonShards(t *testing.T) {
	root := t.TempDir()
	var all []float32
	for i := range 3 {
		dir := filepath.Join(root, "shards", []string{"00000-of-00003", "00001-of-00003", "00002-of-00003"}[i])
		all = append(all, bergsonFixture(t, dir, F32, i+2, testModules)...)
	}
	os.MkdirAll(filepath.Join(root, "shards", "00003-of-00004.part"), 0o755) // in progress: ignored
	s, err := OpenGradStore(root, GradStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Rows() != 9 {
		t.Fatalf("rows %d", s.Rows())
	}
	if got := readAllRows(t, s); !slices.Equal(got, all) {
		t.Fatal("sharded rows differ from the concatenation")
	}
	s.Close()
	os.RemoveAll(filepath.Join(root, "shards", "00001-of-00003"))
	if _, err := OpenGradStore(root, GradStoreOptions{}); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "shard 1 of 3") {
		t.Errorf("missing shard: %v", err)
	}
}

func TestBergsonMalformed(t *testing.T) {
	ok := `{"num_grads": 2, "dtype": {"names": ["a", "b"], "formats": ["(3,)<f4", "(2,)<f4"], "itemsize": 20}, "grad_sizes": {"a": 3, "b": 2}, "base_dtype": "float32"}`
	if info, err := ParseBergsonInfo([]byte(ok), "info.json"); err != nil || info.Cols() != 5 || info.ItemSize != 20 {
		t.Fatalf("good info: %+v %v", info, err)
	}
	for _, c := range []struct{ name, info, want string }{
		{"not json", `{"num_grads": `, "not a Bergson info.json"},
		{"no dtype", `{"num_grads": 2}`, "grad_sizes: missing or empty, and no dtype"},
		{"negative", strings.Replace(ok, `"num_grads": 2`, `"num_grads": -2`, 1), "num_grads"},
		{"float count", strings.Replace(ok, `"num_grads": 2`, `"num_grads": 2.5`, 1), "num_grads"},
		{"huge", strings.Replace(ok, `"num_grads": 2`, `"num_grads": 9223372036854775807`, 1), "overflows"},
		{"names", strings.Replace(ok, `["a", "b"]`, `["a"]`, 1), "1 names and 2 formats"},
		{"format", strings.Replace(ok, `(3,)<f4`, `<f4`, 1), "want \"(size,)<f2\""},
		{"int", strings.Replace(ok, `(3,)<f4`, `(3,)<i4`, 1), "want \"(size,)<f2\""},
		{"big endian", strings.Replace(ok, `(3,)<f4`, `(3,)>f4`, 1), "want \"(size,)<f2\""},
		{"mixed", strings.Replace(ok, `(2,)<f4`, `(2,)<f2`, 1), "one dtype"},
		{"base", strings.Replace(ok, `"float32"`, `"float16"`, 1), "disagrees"},
		{"itemsize", strings.Replace(ok, `"itemsize": 20`, `"itemsize": 19`, 1), "smaller"},
		{"grad_sizes", strings.Replace(ok, `"b": 2`, `"b": 3`, 1), "its format says 2"},
		{"grad_sizes name", strings.Replace(ok, `"b": 2`, `"c": 2`, 1), "not in dtype.names"},
		{"dup", strings.Replace(ok, `["a", "b"]`, `["a", "a"]`, 1), "repeated"},
		{"token", `{"token_attributions": true, "total_tokens": 9}`, "per-token store"},
	} {
		_, err := ParseBergsonInfo([]byte(c.info), "info.json")
		var ve *ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	// gradients.bin of the wrong size.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, BergsonInfoFile), []byte(ok), 0o644)
	os.WriteFile(filepath.Join(dir, BergsonGradientsFile), make([]byte, 39), 0o644)
	if _, err := OpenGradStore(dir, GradStoreOptions{}); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "needs 40") {
		t.Errorf("short gradients.bin: %v", err)
	}
}

func TestSafetensorsStore(t *testing.T) {
	dir := t.TempDir()
	g := randGrads(3, 4, 9)
	path := filepath.Join(dir, "g.safetensors")
	meta := map[string]string{"params": `[{"name":"w","offset":0,"shape":[2,1]},{"name":"b","offset":2,"shape":[2]}]`}
	if err := WriteSafetensorsFile(path, []Tensor{F32Tensor("grads", []int{3, 4}, g), F32Tensor("other", []int{2, 2}, g[:4])}, meta); err != nil {
		t.Fatal(err)
	}
	s, err := OpenGradStore(path, GradStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAllRows(t, s); !slices.Equal(got, g) || len(s.Modules()) != 2 || s.Modules()[1] != (GradModule{"b", 2, 2}) {
		t.Fatalf("rows or modules %v", s.Modules())
	}
	s.Close()
	if s, err = OpenGradStore(path, GradStoreOptions{Tensor: "other"}); err != nil || s.Rows() != 2 {
		t.Fatalf("named tensor: %v", err)
	}
	s.Close()
	if _, err := OpenGradStore(path, GradStoreOptions{Tensor: "nope"}); !errors.Is(err, ErrMissingTensor) {
		t.Errorf("missing tensor: %v", err)
	}
	two := filepath.Join(dir, "two.safetensors")
	WriteSafetensorsFile(two, []Tensor{F32Tensor("x", []int{3, 4}, g), F32Tensor("y", []int{2, 2}, g[:4])}, nil)
	if _, err := OpenGradStore(two, GradStoreOptions{}); !errors.Is(err, ErrMissingTensor) || !strings.Contains(err.Error(), "name one") {
		t.Errorf("ambiguous store: %v", err)
	}
}

// TestNumPyWritesWhatWeRead has NumPy write a float32 and a float16 .npy and
// a Bergson store the way bergson's create_index does (a structured memmap),
// and reads them here; and has NumPy read the files written here. It needs
// /usr/bin/python3 with numpy (Debian python3-numpy) and is skipped without.
func TestNumPyWritesWhatWeRead(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import numpy").Run(); err != nil {
		t.Skip("no /usr/bin/python3 with numpy")
	}
	dir := t.TempDir()
	script := `
import json, sys, numpy as np
d = sys.argv[1]
g = (np.arange(35, dtype=np.float64).reshape(5, 7) - 17) / 8
np.save(d + "/f32.npy", g.astype(np.float32))
np.save(d + "/f16.npy", g.astype(np.float16))
sizes = {"a.weight": 4, "b.bias": 3}
struct = {"names": list(sizes), "formats": [f"({s},){np.dtype(np.float16).str}" for s in sizes.values()],
          "itemsize": np.dtype(np.float16).itemsize * sum(sizes.values())}
import os; os.makedirs(d + "/idx")
mm = np.memmap(d + "/idx/gradients.bin", dtype=np.dtype(struct), mode="w+", shape=(5,))
mm["a.weight"] = g[:, :4]; mm["b.bias"] = g[:, 4:]; mm.flush()
json.dump({"num_grads": 5, "dtype": struct, "grad_sizes": sizes, "base_dtype": np.dtype(np.float16).name}, open(d + "/idx/info.json", "w"), indent=2)
# bergson's create_index since v0.11 (July 2026): no structured dtype, a plain (num_grads, D) memmap
os.makedirs(d + "/idx2")
with open(d + "/idx2/gradients.bin", "wb") as f:
    f.truncate(np.dtype(np.float16).itemsize * sum(sizes.values()) * 5)
with open(d + "/idx2/info.json", "w") as f:
    json.dump({"attribute_tokens": False, "num_items": 5, "num_grads": 5, "grad_sizes": sizes, "base_dtype": np.dtype(np.float16).name}, f, indent=2)
mm = np.memmap(d + "/idx2/gradients.bin", dtype=np.float16, mode="r+", shape=(5, sum(sizes.values())))
mm[:] = g; mm.flush()
# read ours
ours = np.load(d + "/ours16.npy"); assert ours.dtype == np.float16 and ours.shape == (5, 7), ours
assert (ours == g.astype(np.float16)).all()
ours = np.load(d + "/ours32.npy"); assert ours.dtype == np.float32 and (ours == g.astype(np.float32)).all()
info = json.load(open(d + "/oursb/info.json"))
mm = np.memmap(d + "/oursb/gradients.bin", dtype=np.dtype(info["dtype"]), mode="r", shape=(info["num_grads"],))
assert (mm["a.weight"] == g[:, :4].astype(np.float32)).all() and (mm["b.bias"] == g[:, 4:].astype(np.float32)).all()
flat = np.memmap(d + "/oursb/gradients.bin", dtype=info["base_dtype"], mode="r", shape=(info["num_grads"], sum(info["grad_sizes"].values())))
assert (flat == g.astype(np.float32)).all()
print("ok")
`
	g := make([]float32, 35)
	for i := range g {
		g[i] = float32(i-17) / 8
	}
	writeNPYFile(t, filepath.Join(dir, "ours16.npy"), F16, []int{5, 7}, g)
	writeNPYFile(t, filepath.Join(dir, "ours32.npy"), F32, []int{5, 7}, g)
	mods := []GradModule{{"a.weight", 0, 4}, {"b.bias", 4, 3}}
	if err := WriteBergsonDir(filepath.Join(dir, "oursb"), BergsonInfo{NumGrads: 5, Modules: mods, DType: F32}, func(w io.Writer) error {
		_, err := w.Write(AppendFloats(nil, g, F32))
		return err
	}, nil); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/python3", "-c", script, dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "idx2", BergsonInfoFile)); string(b) != createIndexInfo(5, mods, "float16", false, 0) {
		t.Errorf("createIndexInfo differs from what create_index writes:\n%s", b)
	}
	for _, f := range []string{"f32.npy", "f16.npy", "idx", "idx2"} {
		s, err := OpenGradStore(filepath.Join(dir, f), GradStoreOptions{})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if got := readAllRows(t, s); !slices.Equal(got, g) { // every value is exact in float16
			t.Errorf("%s: %v", f, got)
		}
		if (f == "idx" || f == "idx2") && !slices.Equal(s.Modules(), mods) {
			t.Errorf("modules %v", s.Modules())
		}
		s.Close()
	}
}

// gradStoreFixtures are the committed malformed gradient stores of
// testdata/gradstores/malformed, with a substring their error must contain.
// `go test ./checkpoint -run MalformedGradStore -update` rewrites them.
var gradStoreFixtures = map[string]string{
	"npy-huge-header.npy":      "exceeds the limit",
	"npy-int.npy":              "not a floating-point",
	"npy-fortran.npy":          "Fortran",
	"npy-truncated.npy":        "needs 40000 data bytes",
	"npy-shape-overflow.npy":   "overflows",
	"npy-vector.npy":           "a gradient store is a matrix",
	"npy-not-numpy.npy":        "not a .npy file",
	"bergson-short":            "needs 40",
	"bergson-big-endian":       "want \"(size,)<f2\"",
	"bergson-token":            "field token_attributions: true: a per-token store",
	"bergson-attribute-tokens": "field attribute_tokens: true: a per-token store",
	"bergson-no-base-dtype":    "field base_dtype: missing",
	"bergson-inf":              "bergson-inf/gradients.bin: row 1, column 7 (0-based): +Inf",
	"npy-nan.npy":              "row 1, column 1 (0-based): NaN",
	"npy-f64-overflow.npy":     "row 0, column 3 (0-based): 1e+300",
	"st-nan.safetensors":       `tensor "grads": row 1, column 0 (0-based): -Inf`,
	"bergson-missing-shard":    "shard 1 of 2",
	"bergson-no-info":          "not a Bergson store",
	"st-ambiguous.safetensors": "name one",
	"st-int.safetensors":       "cannot be read as floating point",
}

func writeGradStoreFixtures(t *testing.T, dir string) {
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	put := func(name string, b []byte) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	huge := append([]byte(npyMagic), 2, 0)
	put("npy-huge-header.npy", binary.LittleEndian.AppendUint32(huge, 0xfffffff0))
	put("npy-int.npy", append(npyBytes(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }"), make([]byte, 16)...))
	put("npy-fortran.npy", append(npyBytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }"), make([]byte, 16)...))
	put("npy-truncated.npy", append(npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (100, 100), }"), make([]byte, 10)...))
	put("npy-shape-overflow.npy", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904), }"))
	put("npy-vector.npy", append(npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }"), make([]byte, 16)...))
	put("npy-not-numpy.npy", []byte("PK\x03\x04 a zip file, perhaps an .npz"))
	info := `{"num_grads": 2, "dtype": {"names": ["a"], "formats": ["(5,)<f4"], "itemsize": 20}, "grad_sizes": {"a": 5}, "base_dtype": "float32"}`
	put("bergson-short/info.json", []byte(info))
	put("bergson-short/gradients.bin", make([]byte, 39))
	put("bergson-big-endian/info.json", []byte(strings.Replace(info, "<f4", ">f4", 1)))
	put("bergson-big-endian/gradients.bin", make([]byte, 40))
	put("bergson-token/info.json", []byte(`{"token_attributions": true, "total_tokens": 8, "total_grad_dim": 5, "num_items": 2, "grad_sizes": {"a": 5}, "base_dtype": "float32"}`))
	put("bergson-token/token_gradients.bin", make([]byte, 160))
	// As bergson's create_token_index writes it (bergson/data.py): 2 items of
	// 3 and 4 token rows, rows located by offsets.npy.
	tokMods := []GradModule{{"a", 0, 5}}
	put("bergson-attribute-tokens/info.json", []byte(createIndexInfo(7, tokMods, "float32", true, 2)))
	put("bergson-attribute-tokens/gradients.bin", make([]byte, 7*5*4))
	offs := npyBytes(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }")
	for _, o := range []uint64{0, 3, 7} {
		offs = binary.LittleEndian.AppendUint64(offs, o)
	}
	put("bergson-attribute-tokens/offsets.npy", offs)
	noBase := strings.Replace(createIndexInfo(2, tokMods, "float32", false, 0), ",\n  \"base_dtype\": \"float32\"", "", 1)
	put("bergson-no-base-dtype/info.json", []byte(noBase))
	put("bergson-no-base-dtype/gradients.bin", make([]byte, 40))
	// Non-finite values in valid stores: found when the rows are read.
	infMods := []GradModule{{"a", 0, 4}, {"b", 4, 4}}
	// Two rows each, so that cmd tests can label them with a two-row table.
	inf := make([]float32, 2*8)
	inf[1*8+7] = float32(math.Inf(1))
	put("bergson-inf/info.json", []byte(createIndexInfo(2, infMods, "float16", false, 0)))
	put("bergson-inf/gradients.bin", AppendFloats(nil, inf, F16))
	nan := make([]float32, 2*2)
	nan[1*2+1] = float32(math.NaN())
	hdr, _ := NPYHeaderBytes(F32, []int{2, 2})
	put("npy-nan.npy", AppendFloats(hdr, nan, F32))
	hdr, _ = NPYHeaderBytes(F64, []int{2, 4})
	for i := range 8 {
		v := float64(i)
		if i == 3 {
			v = 1e300 // finite in the file, infinite as float32
		}
		hdr = binary.LittleEndian.AppendUint64(hdr, math.Float64bits(v))
	}
	put("npy-f64-overflow.npy", hdr)
	ninf := make([]float32, 2*3)
	ninf[1*3] = float32(math.Inf(-1))
	var sb bytes.Buffer
	WriteSafetensors(&sb, []Tensor{F32Tensor("grads", []int{2, 3}, ninf)}, nil)
	put("st-nan.safetensors", sb.Bytes())
	put("bergson-missing-shard/shards/00000-of-00002/info.json", []byte(info))
	put("bergson-missing-shard/shards/00000-of-00002/gradients.bin", make([]byte, 40))
	put("bergson-no-info/gradients.bin", make([]byte, 40))
	var st bytes.Buffer
	WriteSafetensors(&st, []Tensor{F32Tensor("x", []int{2, 2}, make([]float32, 4)), F32Tensor("y", []int{2, 2}, make([]float32, 4))}, nil)
	put("st-ambiguous.safetensors", st.Bytes())
	st.Reset()
	WriteSafetensors(&st, []Tensor{{Name: "grads", DType: I32, Shape: []int{2, 2}, Data: make([]byte, 16)}}, nil)
	put("st-int.safetensors", st.Bytes())
}

// TestMalformedGradStoreFixtures: every malformed store is refused, when
// opened or when its rows are read, with a *ValidationError or a
// *NonFiniteError naming it and saying why; none panics.
func TestMalformedGradStoreFixtures(t *testing.T) {
	dir := filepath.Join("..", "testdata", "gradstores", "malformed")
	if *update {
		writeGradStoreFixtures(t, dir)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != len(gradStoreFixtures) {
		t.Errorf("%d fixtures in %s, %d cases (run go test -update ./checkpoint/)", len(ents), dir, len(gradStoreFixtures))
	}
	for name, want := range gradStoreFixtures {
		path := filepath.Join(dir, name)
		s, err := OpenGradStore(path, GradStoreOptions{})
		if err == nil {
			err = s.ReadRows(make([]float32, s.Rows()*s.Cols()), 0, s.Rows())
			s.Close()
		}
		var ve *ValidationError
		var nf *NonFiniteError
		if !(errors.As(err, &ve) || errors.As(err, &nf)) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want a *ValidationError or *NonFiniteError containing %q", name, err, want)
		}
	}
}
