package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// streamTensors are tensors of several dtypes, odd shapes and special
// values, to be written both ways.
func streamTensors() []Tensor {
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1.5, math.MaxFloat32, math.SmallestNonzeroFloat32,
		float32(math.Inf(1)), math.Float32frombits(0x7fc00001)}
	big := make([]float32, 70_000) // more than WriteFloat32's encoding chunk
	for i := range big {
		big[i] = float32(i) * 0.25
	}
	return []Tensor{
		F32Tensor("grads", []int{2, 4}, special),
		F32Tensor("big", []int{70_000}, big),
		F32Tensor("scalar", []int{}, []float32{42}),
		F32Tensor("empty", []int{0, 3}, nil),
		F64Tensor("f64", []int{2}, []float64{math.Pi, -1}),
		{Name: "i64", DType: I64, Shape: []int{1}, Data: []byte{1, 0, 0, 0, 0, 0, 0, 0}},
		{Name: "half", DType: F16, Shape: []int{3}, Data: []byte{0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00}},
	}
}

func declsOf(ts []Tensor) []TensorDecl {
	var ds []TensorDecl
	for _, t := range ts {
		ds = append(ds, TensorDecl{Name: t.Name, DType: t.DType, Shape: t.Shape})
	}
	return ds
}

// TestStreamEqualsWriteSafetensors: declaring the tensors and streaming
// their data in Order, in pieces of every size (raw bytes, float32 values
// across tensor boundaries), gives exactly WriteSafetensors's bytes.
func TestStreamEqualsWriteSafetensors(t *testing.T) {
	ts := streamTensors()
	meta := map[string]string{"format": "pt", "params": `[{"name":"a"}]`}
	want := mustWrite(t, ts, meta)
	byName := map[string]Tensor{}
	for _, x := range ts {
		byName[x.Name] = x
	}
	for _, piece := range []int{1, 3, 4096, 1 << 20} {
		var b bytes.Buffer
		sw, err := NewStreamWriter(&b, declsOf(ts), meta)
		if err != nil {
			t.Fatal(err)
		}
		var data []byte
		for _, name := range sw.Order() {
			data = append(data, byName[name].Data...)
		}
		for len(data) > 0 {
			n := min(piece, len(data))
			if _, err := sw.Write(data[:n]); err != nil {
				t.Fatal(err)
			}
			data = data[n:]
		}
		if err := sw.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Fatalf("piece %d: streamed bytes differ from WriteSafetensors's", piece)
		}
	}
	// All-F32 file written with WriteFloat32 in rows that cross tensors.
	f32 := []Tensor{ts[0], ts[1], ts[2], ts[3]}
	want = mustWrite(t, f32, nil)
	var b bytes.Buffer
	sw, err := NewStreamWriter(&b, declsOf(f32), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := sw.Order(); !slices.Equal(got, []string{"big", "empty", "grads", "scalar"}) {
		t.Fatalf("order %v", got)
	}
	var vals []float32
	for _, name := range sw.Order() {
		for _, x := range f32 {
			if x.Name == name {
				for i := 0; i < len(x.Data); i += 4 {
					vals = append(vals, math.Float32frombits(binary.LittleEndian.Uint32(x.Data[i:])))
				}
			}
		}
	}
	for len(vals) > 0 {
		n := min(7, len(vals))
		if len(vals) > 70_000 {
			n = 69_998 // ends 2 values before big's end
		}
		if err := sw.WriteFloat32(vals[:n]); err != nil {
			t.Fatal(err)
		}
		vals = vals[n:]
	}
	if sw.Remaining() != 0 {
		t.Fatalf("remaining %d", sw.Remaining())
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatal("WriteFloat32 bytes differ from WriteSafetensors's")
	}
	if _, err := read(b.Bytes(), ReadOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestStreamErrors: the stream writer refuses what WriteSafetensors
// refuses (writing nothing), data past the declared tensors, float32 values
// into other dtypes, and a Close before the data are complete.
func TestStreamErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		ds   []TensorDecl
		meta map[string]string
		msg  string
	}{
		{"empty name", []TensorDecl{{Name: "", DType: F32, Shape: []int{1}}}, nil, "empty name"},
		{"reserved", []TensorDecl{{Name: "__metadata__", DType: F32, Shape: []int{1}}}, nil, "reserved"},
		{"duplicate", []TensorDecl{{Name: "a", DType: F32}, {Name: "a", DType: F32}}, nil, "duplicate"},
		{"dtype", []TensorDecl{{Name: "a", DType: "F31", Shape: []int{1}}}, nil, "unknown dtype"},
		{"negative", []TensorDecl{{Name: "a", DType: F32, Shape: []int{-1}}}, nil, "negative"},
		{"overflow", []TensorDecl{{Name: "a", DType: F32, Shape: []int{math.MaxInt, 3}}}, nil, "overflows"},
		{"sub-byte", []TensorDecl{{Name: "a", DType: F4, Shape: []int{3}}}, nil, "whole number of bytes"},
		{"utf8 meta", nil, map[string]string{"k": "\xff"}, "UTF-8"},
	} {
		var b bytes.Buffer
		_, err := NewStreamWriter(&b, tc.ds, tc.meta)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.msg)
		}
		if b.Len() != 0 {
			t.Errorf("%s: wrote %d bytes", tc.name, b.Len())
		}
	}

	var b bytes.Buffer
	sw, err := NewStreamWriter(&b, []TensorDecl{{Name: "a", DType: F32, Shape: []int{2}}, {Name: "b", DType: F64, Shape: []int{1}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hdr := b.Len()
	if err := sw.WriteFloat32([]float32{1, 2}); err == nil || !strings.Contains(err.Error(), `tensor "b": float32 values written to dtype F64`) {
		t.Errorf("float32 into F64: %v", err) // F64 "b" comes first in the writer's order
	}
	if err := sw.Close(); err == nil || !strings.Contains(err.Error(), "0 of 16 data bytes") {
		t.Errorf("early close: %v", err)
	}
	if _, err := sw.Write(make([]byte, 17)); err == nil || !strings.Contains(err.Error(), "past the 16 declared") {
		t.Errorf("too much: %v", err)
	}
	if b.Len() != hdr {
		t.Errorf("refused writes wrote %d bytes", b.Len()-hdr)
	}
	if _, err := sw.Write(make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	if err := sw.WriteFloat32([]float32{1, 2, 3}); err == nil || !strings.Contains(err.Error(), "4 bytes of data past the 16 declared") {
		t.Errorf("too many floats: %v", err)
	}
	if err := sw.WriteFloat32([]float32{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := read(b.Bytes(), ReadOptions{}); err != nil {
		t.Fatal(err)
	}

	// An error of the underlying writer is final.
	sw, err = NewStreamWriter(&limitWriter{n: 1 << 10}, []TensorDecl{{Name: "a", DType: F32, Shape: []int{1000}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.WriteFloat32(make([]float32, 1000)); err == nil {
		t.Fatal("no error from a full writer")
	}
	if _, err := sw.Write(nil); err == nil {
		t.Error("error not sticky")
	}
	if err := sw.Close(); err == nil {
		t.Error("Close after a write error succeeded")
	}
}

// limitWriter accepts n bytes, then fails.
type limitWriter struct{ n int }

func (w *limitWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errDiskFull
	}
	w.n -= len(p)
	return len(p), nil
}

var errDiskFull = errors.New("disk full")
