package checkpoint

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestUpstreamVector checks the writer against the byte vector of the
// reference implementation's test_serialization_forced_alignement
// (safetensors/src/tensor.rs): one F32 tensor "attn0" of shape [1, 1, 2, 3]
// holding 0..5, whose 65-byte header is padded with 7 spaces to 72.
func TestUpstreamVector(t *testing.T) {
	want := []byte{
		72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
		121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
		91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
		115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
		32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
		160, 64,
	}
	got := mustWrite(t, []Tensor{F32Tensor("attn0", []int{1, 1, 2, 3}, []float32{0, 1, 2, 3, 4, 5})}, nil)
	if !bytes.Equal(got, want) {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	// test_empty: no tensors, with and without metadata.
	if got := mustWrite(t, nil, nil); !bytes.Equal(got, []byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '}) {
		t.Errorf("empty file: %q", got)
	}
	got = mustWrite(t, nil, map[string]string{"framework": "pt"})
	if want := "(\x00\x00\x00\x00\x00\x00\x00" + `{"__metadata__":{"framework":"pt"}}     `; string(got) != want {
		t.Errorf("empty file with metadata: %q, want %q", got, want)
	}
	for _, b := range [][]byte{want, got} {
		if _, err := read(b, ReadOptions{}); err != nil {
			t.Errorf("reading back: %v", err)
		}
	}
}

// TestRoundTrip writes tensors of every float dtype, odd shapes (scalar,
// empty, zero-sized) and special values, and reads them back bit for bit.
func TestRoundTrip(t *testing.T) {
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1.5, math.MaxFloat32, math.SmallestNonzeroFloat32,
		float32(math.Inf(1)), float32(math.Inf(-1)), math.Float32frombits(0x7fc00001), math.Float32frombits(0xffbfffff)}
	f64 := []float64{math.Pi, -math.MaxFloat64, math.SmallestNonzeroFloat64, math.Float64frombits(0x7ff8000000000123)}
	ts := []Tensor{
		F32Tensor("special", []int{2, 5}, special),
		F32Tensor("scalar", []int{}, []float32{42}),
		F32Tensor("empty", []int{0, 3}, nil),
		F64Tensor("f64", []int{4}, f64),
		{Name: "i64", DType: I64, Shape: []int{2}, Data: []byte{1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{Name: "half", DType: F16, Shape: []int{3}, Data: []byte{0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00}},
		{Name: "bf", DType: BF16, Shape: []int{1, 2}, Data: []byte{0x80, 0x3f, 0x49, 0x40}},
		{Name: "nibbles", DType: F4, Shape: []int{4}, Data: []byte{0x12, 0x34}},
		{Name: "ünïcode <&> \"q\"", DType: U8, Shape: []int{1}, Data: []byte{7}},
	}
	meta := map[string]string{"format": "pt", "note": "<b>&</b>", "z": ""}
	data := mustWrite(t, ts, meta)
	if n := int(data[0]); (n)%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}
	f, err := read(data, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range ts {
		names = append(names, x.Name)
	}
	slices.Sort(names)
	if diff := cmp.Diff(names, f.Names()); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(meta, f.Metadata()); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	for _, want := range ts {
		got, err := f.Tensor(want.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("tensor %q: got %v %v %x, want %v %v %x", want.Name, got.DType, got.Shape, got.Data, want.DType, want.Shape, want.Data)
		}
	}
	v, shape, err := f.Float32("special")
	if err != nil || !equalBits(v, special) || !slices.Equal(shape, []int{2, 5}) {
		t.Errorf("Float32(special) = %v %v %v", v, shape, err)
	}
	v64, _, err := f.Float64("f64")
	if err != nil || !equalBits64(v64, f64) {
		t.Errorf("Float64(f64) = %v %v", v64, err)
	}
	// F16 0x3c00 = 1, 0xc000 = -2, 0x0001 = 2^-24; BF16 0x3f80 = 1, 0x4049 = 3.140625.
	if v, _, err := f.Float32("half"); err != nil || !equalBits(v, []float32{1, -2, 0x1p-24}) {
		t.Errorf("Float32(half) = %v %v", v, err)
	}
	if v, _, err := f.Float64("bf"); err != nil || !equalBits64(v, []float64{1, 3.140625}) {
		t.Errorf("Float64(bf) = %v %v", v, err)
	}
	if v, _, err := f.Float32("f64"); err != nil || v[0] != float32(math.Pi) || !math.IsInf(float64(v[1]), -1) {
		t.Errorf("Float32(f64) = %v %v", v, err)
	}
	if v, shape, err := f.Float32("empty"); err != nil || len(v) != 0 || !slices.Equal(shape, []int{0, 3}) {
		t.Errorf("Float32(empty) = %v %v %v", v, shape, err)
	}
	_, _, err = f.Float32("i64")
	checkValidationError(t, err, ErrDType, "test.safetensors", "i64", "dtype", "cannot be read as floating point")
	_, err = f.Tensor("nope")
	checkValidationError(t, err, ErrMissingTensor, "test.safetensors", "nope", "", "no such tensor")

	// The writer's order: descending dtype order, then name.
	for _, a := range ts {
		for _, b := range ts {
			ia, _ := f.Info(a.Name)
			ib, _ := f.Info(b.Name)
			ra, rb := a.DType.rank(), b.DType.rank()
			if (ra > rb || ra == rb && a.Name < b.Name) && ia.Begin > ib.Begin {
				t.Errorf("%s (%s) is stored after %s (%s)", a.Name, a.DType, b.Name, b.DType)
			}
		}
	}
}

// TestWriteDeterministic: the same tensors in any order and the same metadata
// (a map, iterated randomly) give the same bytes.
func TestWriteDeterministic(t *testing.T) {
	cfg := tinyConfig()
	w := randomTensors(cfg, 1)
	var ts []Tensor
	for _, s := range GPT2Shapes(cfg) {
		ts = append(ts, F32Tensor(s.Name, s.Shape, w[s.Name]))
	}
	meta := map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "format": "pt"}
	first := mustWrite(t, ts, meta)
	for i := 0; i < 10; i++ {
		rev := slices.Clone(ts)
		slices.Reverse(rev)
		if i%2 == 0 {
			rev = ts
		}
		if got := mustWrite(t, rev, meta); !bytes.Equal(got, first) {
			t.Fatal("bytes differ between writes")
		}
	}
	// All F32: data in name order.
	f, err := read(first, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var prev int64 = -1
	for _, name := range f.Names() {
		ti, _ := f.Info(name)
		if ti.Begin <= prev {
			t.Errorf("%s at %d is not after the previous name's data", name, ti.Begin)
		}
		prev = ti.Begin
	}
}

// TestWriteErrors: the writer refuses what the reader would refuse, and
// writes nothing.
func TestWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		ts   []Tensor
		meta map[string]string
		msg  string
	}{
		{"empty name", []Tensor{F32Tensor("", []int{1}, []float32{1})}, nil, "empty name"},
		{"reserved", []Tensor{F32Tensor("__metadata__", []int{1}, []float32{1})}, nil, "reserved"},
		{"duplicate", []Tensor{F32Tensor("a", []int{1}, []float32{1}), F32Tensor("a", []int{1}, []float32{2})}, nil, "duplicate"},
		{"dtype", []Tensor{{Name: "a", DType: "F31", Shape: []int{1}, Data: []byte{0, 0, 0, 0}}}, nil, "unknown dtype"},
		{"negative", []Tensor{{Name: "a", DType: F32, Shape: []int{-1}}}, nil, "negative"},
		{"length", []Tensor{F32Tensor("a", []int{2, 2}, []float32{1, 2, 3})}, nil, "needs 16 bytes, Data has 12"},
		{"sub-byte", []Tensor{{Name: "a", DType: F4, Shape: []int{3}, Data: []byte{0, 0}}}, nil, "whole number of bytes"},
		{"utf8 name", []Tensor{F32Tensor("a\xff", []int{1}, []float32{1})}, nil, "UTF-8"},
		{"utf8 meta", nil, map[string]string{"k": "\xff"}, "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			err := WriteSafetensors(&b, tc.ts, tc.meta)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want %q", err, tc.msg)
			}
			if b.Len() != 0 {
				t.Errorf("wrote %d bytes", b.Len())
			}
		})
	}
}

func TestHalfConversion(t *testing.T) {
	// Reference values of IEEE 754 binary16 (the table in the Wikipedia
	// article "Half-precision floating-point format").
	for _, tc := range []struct {
		bits uint16
		want float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0x3c01, 1.0009765625}, {0xc000, -2}, {0x7bff, 65504},
		{0x0400, 0x1p-14}, {0x03ff, 0x1.ff8p-15}, {0x0001, 0x1p-24}, {0x3555, 0.333251953125},
		{0x7c00, float32(math.Inf(1))}, {0xfc00, float32(math.Inf(-1))},
	} {
		if got := halfToFloat32(tc.bits); got != tc.want {
			t.Errorf("half %#04x = %v, want %v", tc.bits, got, tc.want)
		}
	}
	if got := halfToFloat32(0x8000); got != 0 || !math.Signbit(float64(got)) {
		t.Errorf("half 0x8000 = %v, want -0", got)
	}
	if got := halfToFloat32(0x7e01); !math.IsNaN(float64(got)) || math.Float32bits(got) != 0x7fc02000 {
		t.Errorf("half 0x7e01 = %#x, want NaN 0x7fc02000", math.Float32bits(got))
	}
	// Every half value round-trips through float32 to itself (exactness).
	for h := 0; h < 1<<16; h++ {
		f := halfToFloat32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		b := math.Float32bits(f)
		back := uint16(b>>16&0x8000) | uint16((b>>23&0xff)-127+15)<<10 | uint16(b>>13&0x3ff)
		exp := h >> 10 & 0x1f
		if exp != 0 && exp != 0x1f && back != uint16(h) {
			t.Fatalf("half %#04x -> %v -> %#04x", h, f, back)
		}
	}
	if got := bfloat16ToFloat32(0xc049); got != -3.140625 {
		t.Errorf("bf16 0xc049 = %v", got)
	}
}

// hostileCase is a malformed safetensors file and the error it must give.
type hostileCase struct {
	name   string // also the fixture's file name under testdata/checkpoint/malformed
	data   []byte
	size   int64 // claimed file size; 0 means len(data)
	kind   error
	tensor string
	field  string
	msg    string
}

func hostileCases() []hostileCase {
	good := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	one := f32bytes(1, 2)
	valid := file(good, one)
	return []hostileCase{
		{"empty", nil, 0, ErrTruncated, "", "", "shorter than the 8-byte header length"},
		{"short", []byte{1, 2, 3}, 0, ErrTruncated, "", "", "shorter than the 8-byte header length"},
		{"header-terabytes", rawFile(1<<40, "{}", nil), 0, ErrTruncated, "", "header length", "header length 1099511627776 exceeds the 2 bytes that follow it"},
		{"header-2^64-1", rawFile(math.MaxUint64, "{}", nil), 0, ErrTruncated, "", "header length", "exceeds"},
		{"header-beyond-file", rawFile(100, good, one), 0, ErrTruncated, "", "header length", "exceeds the 62 bytes"},
		{"header-zero", rawFile(0, "", nil), 0, ErrHeader, "", "header length", "too short"},
		{"truncated-header", valid[:30], 0, ErrTruncated, "", "header length", "exceeds"},
		{"truncated-data", valid[:len(valid)-3], 0, ErrTruncated, "a", "data_offsets", "past the end of the data buffer (5 bytes; truncated file?)"},
		{"invalid-json", file(`{"a":{"dtype":"F32",}}`, nil), 0, ErrHeader, "", "", "invalid JSON"},
		{"not-object", file(`[1, 2]`, nil), 0, ErrHeader, "", "", "not a JSON object"},
		{"invalid-utf8", file("{\"\xff\":1}", nil), 0, ErrHeader, "", "", "UTF-8"},
		{"trailing-json", file(`{} {}`, nil), 0, ErrHeader, "", "", "data after the JSON object"},
		{"trailing-nul", file("{}\x00", nil), 0, ErrHeader, "", "", "data after the JSON object"},
		{"duplicate-name", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, one), 0, ErrHeader, "a", "", "duplicate tensor name"},
		{"empty-name", file(`{"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, one), 0, ErrHeader, "", "", "empty name"},
		{"entry-not-object", file(`{"a":[0,8]}`, one), 0, ErrHeader, "a", "", "not an object"},
		{"unknown-field", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"offset":0}}`, one), 0, ErrHeader, "a", "offset", "unknown field"},
		{"missing-dtype", file(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, one), 0, ErrHeader, "a", "dtype", "missing"},
		{"missing-offsets", file(`{"a":{"dtype":"F32","shape":[2]}}`, one), 0, ErrHeader, "a", "data_offsets", "missing"},
		{"unknown-dtype", file(`{"a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}}`, one), 0, ErrDType, "a", "dtype", `unknown dtype "F31"`},
		{"lowercase-dtype", file(`{"a":{"dtype":"float32","shape":[2],"data_offsets":[0,8]}}`, one), 0, ErrDType, "a", "dtype", `unknown dtype "float32"`},
		{"numeric-dtype", file(`{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}`, one), 0, ErrDType, "a", "dtype", "not a string"},
		{"negative-dim", file(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, one), 0, ErrShape, "a", "shape", "negative"},
		{"fractional-dim", file(`{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}`, one), 0, ErrShape, "a", "shape", "not a non-negative integer"},
		{"string-dim", file(`{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}`, one), 0, ErrShape, "a", "shape", "not a non-negative integer"},
		{"shape-not-array", file(`{"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}`, one), 0, ErrShape, "a", "shape", "not an array"},
		{"dim-over-64-bits", file(`{"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8]}}`, one), 0, ErrShape, "a", "shape", "overflows 64 bits"},
		{"dim-over-int", file(`{"a":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]}}`, one), 0, ErrShape, "a", "shape", "too large"},
		{"shape-overflow", file(`{"a":{"dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,8]}}`, one), 0, ErrShape, "a", "shape", "overflows"},
		{"bytes-overflow", file(`{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}}`, one), 0, ErrShape, "a", "shape", "overflows"},
		{"shape-mismatch", file(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, one), 0, ErrShape, "a", "shape", "needs 12 bytes, data_offsets [0, 8] hold 8"},
		{"wrong-dtype-size", file(`{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}}`, one), 0, ErrShape, "a", "shape", "needs 16 bytes"},
		{"sub-byte", file(`{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}`, []byte{0, 0}), 0, ErrShape, "a", "shape", "not a whole number of bytes"},
		{"offsets-past-end", file(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, one), 0, ErrOffsets, "a", "data_offsets", "past the end"},
		{"offsets-huge", file(`{"a":{"dtype":"U8","shape":[8],"data_offsets":[18446744073709551600,18446744073709551608]}}`, one), 0, ErrOffsets, "a", "data_offsets", "beyond any file"},
		{"offsets-reversed", file(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, one), 0, ErrOffsets, "a", "data_offsets", "before begin"},
		{"offsets-three", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}`, one), 0, ErrOffsets, "a", "data_offsets", "want 2"},
		{"offsets-exponent", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8e0]}}`, one), 0, ErrOffsets, "a", "data_offsets", "not a non-negative integer"},
		{"offsets-overlap", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, one), 0, ErrOffsets, "b", "data_offsets", `overlap tensor "a"`},
		{"offsets-gap", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, one), 0, ErrOffsets, "a", "data_offsets", "leave bytes [0, 4)"},
		{"trailing-bytes", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, one), 0, ErrOffsets, "", "", "4 bytes after the last tensor"},
		{"metadata-number", file(`{"__metadata__":{"step":3}}`, nil), 0, ErrHeader, "", "__metadata__", `value of "step" is not a string`},
		{"metadata-nested", file(`{"__metadata__":{"a":{"b":"c"}}}`, nil), 0, ErrHeader, "", "__metadata__", "not a string"},
		{"metadata-array", file(`{"__metadata__":["a"]}`, nil), 0, ErrHeader, "", "__metadata__", "not an object"},
		{"metadata-duplicate", file(`{"__metadata__":{"a":"1","a":"2"}}`, nil), 0, ErrHeader, "", "__metadata__", "duplicate key"},
		{"metadata-twice", file(`{"__metadata__":{},"__metadata__":{}}`, nil), 0, ErrHeader, "", "__metadata__", "duplicate key"},
		{"deep-nesting", file(`{"a":`+strings.Repeat("[", 20000)+strings.Repeat("]", 20000)+`}`, nil), 0, ErrHeader, "", "", "invalid JSON"},
		// The file claims to be 2 TiB (a sparse file, or a lying ReaderAt):
		// the header length fits the file but not the limit.
		{"header-over-limit", rawFile(1<<40, "{}", nil), 2 << 40, ErrHeaderTooLarge, "", "header length", "exceeds the limit of 100000000 bytes"},
	}
}

// sparse is an io.ReaderAt over data followed by zeros up to size.
type sparse struct {
	data []byte
	size int64
}

func (s sparse) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && off+int64(n) < s.size {
		if i := off + int64(n); i < int64(len(s.data)) {
			p[n] = s.data[i]
		} else {
			p[n] = 0
		}
		n++
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestHostileFiles reads each malformed file and checks the error: its kind,
// the tensor and field it names, and that reading allocated little (no
// allocation sized by a length from the file).
func TestHostileFiles(t *testing.T) {
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			size := tc.size
			if size == 0 {
				size = int64(len(tc.data))
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			f, err := ReadSafetensors(sparse{tc.data, size}, size, "hostile.safetensors", ReadOptions{})
			runtime.ReadMemStats(&after)
			if f != nil {
				t.Errorf("returned a File with the error")
			}
			checkValidationError(t, err, tc.kind, "hostile.safetensors", tc.tensor, tc.field, tc.msg)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20+uint64(8*len(tc.data)) {
				t.Errorf("allocated %d bytes reading a %d-byte file", alloc, len(tc.data))
			}
		})
	}
}

// TestMalformedFixtures keeps testdata/checkpoint/malformed in step with
// hostileCases (rewritten with -update), for tools outside this package.
func TestMalformedFixtures(t *testing.T) {
	dir := filepath.Join("..", "testdata", "checkpoint", "malformed")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, tc := range hostileCases() {
		if tc.size != 0 || len(tc.data) > 4096 {
			continue // not a real file, or too big to commit
		}
		n++
		path := filepath.Join(dir, tc.name+".safetensors")
		if *update {
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update ./checkpoint/)", err)
		}
		if !bytes.Equal(got, tc.data) {
			t.Errorf("%s differs from the generated case (run go test -update ./checkpoint/)", path)
		}
		_, err = OpenFile(path, ReadOptions{})
		checkValidationError(t, err, tc.kind, path, tc.tensor, tc.field, tc.msg)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != n {
		t.Errorf("%s holds %d files, hostileCases %d (run go test -update ./checkpoint/ and remove stale files)", dir, len(ents), n)
	}
}

// TestMaxHeaderOption: a smaller limit applies; the default is the
// reference implementation's.
func TestMaxHeaderOption(t *testing.T) {
	data := mustWrite(t, []Tensor{F32Tensor("a_rather_long_tensor_name", []int{1}, []float32{1})}, nil)
	if _, err := read(data, ReadOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := read(data, ReadOptions{MaxHeaderBytes: 16})
	checkValidationError(t, err, ErrHeaderTooLarge, "test.safetensors", "", "header length", "exceeds the limit of 16 bytes")
}

// TestShrunkFile: a file that loses bytes after its header was read gives a
// truncation error, not a panic or garbage.
func TestShrunkFile(t *testing.T) {
	data := mustWrite(t, []Tensor{F32Tensor("a", []int{4}, []float32{1, 2, 3, 4})}, nil)
	f, err := read(data, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.r = bytes.NewReader(data[:len(data)-1])
	_, _, err = f.Float32("a")
	checkValidationError(t, err, ErrTruncated, "test.safetensors", "a", "", "file ends before")
	if !errors.Is(err, ErrTruncated) {
		t.Error("not ErrTruncated")
	}
}

// TestLargeTensorChunks reads a tensor larger than the decode chunk.
func TestLargeTensorChunks(t *testing.T) {
	n := readChunk/4*2 + 3
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i) * 0.5
	}
	data := mustWrite(t, []Tensor{F32Tensor("big", []int{n}, v), {Name: "h", DType: F16, Shape: []int{n}, Data: make([]byte, 2*n)}}, nil)
	f, err := read(data, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := f.Float32("big")
	if err != nil || !equalBits(got, v) {
		t.Fatalf("Float32(big): %v", err)
	}
	h, _, err := f.Float64("h")
	if err != nil || len(h) != n {
		t.Fatalf("Float64(h): %d values, %v", len(h), err)
	}
}

func TestWriteSafetensorsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.safetensors")
	ts := []Tensor{F32Tensor("grads", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6})}
	if err := WriteSafetensorsFile(path, ts, map[string]string{"n": "2"}); err != nil {
		t.Fatal(err)
	}
	got, meta, err := ReadSafetensorsFile(path, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ts, got); diff != "" || meta["n"] != "2" {
		t.Errorf("(-want +got):\n%s %v", diff, meta)
	}
	// A bad tensor leaves no file.
	bad := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := WriteSafetensorsFile(bad, []Tensor{{Name: "x", DType: F32, Shape: []int{1}}}, nil); err == nil {
		t.Fatal("no error")
	}
	if _, err := os.Stat(bad); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat: %v", err)
	}
}
