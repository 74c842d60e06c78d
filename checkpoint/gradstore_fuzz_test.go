package checkpoint

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzNPYHeader checks the .npy header parser on arbitrary bytes: it never
// panics, errors are *ValidationError naming the file, and an accepted header
// has a non-negative shape whose byte length does not overflow and writes back
// (for a little-endian C-order array) to a header that parses the same.
func FuzzNPYHeader(f *testing.F) {
	for _, s := range [][]int{{3, 4}, {0, 2}, {7}, {}} {
		b, _ := NPYHeaderBytes(F32, s)
		f.Add(b)
	}
	f.Add(npyBytes(2, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), }"))
	f.Add(npyBytes(3, "{\"descr\": \">f8\", \"fortran_order\": True, \"shape\": (1L, 3)}"))
	f.Add([]byte("\x93NUMPY\x02\x00\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ReadNPYHeader(bytes.NewReader(data), int64(len(data)), "fuzz.npy")
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.File != "fuzz.npy" || ve.Msg == "" {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if h.DataOffset > int64(len(data)) || int64(h.Len())*int64(h.DType.Bits()/8) != int64(len(data))-h.DataOffset {
			t.Fatalf("accepted %+v for %d bytes", h, len(data))
		}
		for _, s := range h.Shape {
			if s < 0 {
				t.Fatalf("negative shape %v", h.Shape)
			}
		}
		if h.BigEndian || h.DType == F64 && h.Descr[0] == '=' {
			return
		}
		b, err := NPYHeaderBytes(h.DType, h.Shape)
		if err != nil {
			t.Fatal(err)
		}
		h2, err := ParseNPYHeader(b, "again.npy")
		if err != nil || h2.DType != h.DType || len(h2.Shape) != len(h.Shape) {
			t.Fatalf("rewritten header %q: %+v %v", b, h2, err)
		}
	})
}

// FuzzBergsonInfo checks the info.json parser on arbitrary bytes: it never
// panics, errors are *ValidationError, and accepted stores have modules that
// tile [0, Cols) and an itemsize that holds them; the writer's form parses
// back to the same modules.
func FuzzBergsonInfo(f *testing.F) {
	f.Add([]byte(`{"num_grads": 2, "dtype": {"names": ["a", "b"], "formats": ["(3,)<f4", "(2,)<f4"], "itemsize": 20}, "grad_sizes": {"a": 3, "b": 2}, "base_dtype": "float32"}`))
	f.Add([]byte(`{"num_grads": 1, "dtype": {"names": ["x"], "formats": ["(4,)<V2"], "itemsize": 8}, "base_dtype": "<V2"}`))
	f.Add([]byte(`{"token_attributions": true}`))
	f.Add([]byte(createIndexInfo(3, testModules, "float16", false, 0)))
	f.Add([]byte(createIndexInfo(7, testModules, "bfloat16", true, 2)))
	f.Add([]byte(`{"num_grads": 2, "grad_sizes": {"b": 1, "a": 2, "b": 3}, "base_dtype": "<f8"}`))
	f.Add([]byte(`{"num_grads": 1e400}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := ParseBergsonInfo(data, "info.json")
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.File != "info.json" {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		off := 0
		for _, m := range info.Modules {
			if m.Offset != off || m.Size < 0 {
				t.Fatalf("modules %v", info.Modules)
			}
			off += m.Size
		}
		if info.NumGrads < 0 || int64(info.ItemSize) < int64(off)*int64(info.DType.Bits()/8) {
			t.Fatalf("accepted %+v", info)
		}
		b, err := MarshalBergsonInfo(info)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseBergsonInfo(b, "again.json")
		if err != nil || len(back.Modules) != len(info.Modules) || back.DType != info.DType || back.NumGrads != info.NumGrads {
			t.Fatalf("rewritten %s: %+v %v", b, back, err)
		}
	})
}
