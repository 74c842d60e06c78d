package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// checkFile checks the reader's contract on arbitrary input: an error is a
// *ValidationError naming the file and comes without a File; a File that
// was returned reads every tensor with the length its header promises, and
// writes back to a file that reads back the same.
func checkFile(t *testing.T, data []byte) {
	f, err := ReadSafetensors(bytes.NewReader(data), int64(len(data)), "fuzz.safetensors", ReadOptions{MaxHeaderBytes: 1 << 20})
	if err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("error %T is not a *ValidationError: %v", err, err)
		}
		if ve.File != "fuzz.safetensors" || ve.Msg == "" || ve.Err == nil {
			t.Fatalf("incomplete error %#v", ve)
		}
		if f != nil {
			t.Fatal("File returned with an error")
		}
		return
	}
	var ts []Tensor
	var total int64
	for _, name := range f.Names() {
		info, ok := f.Info(name)
		if !ok || info.Name != name {
			t.Fatalf("Info(%q) = %v, %v", name, info, ok)
		}
		tn, err := f.Tensor(name)
		if err != nil {
			t.Fatalf("Tensor(%q): %v", name, err)
		}
		n, ok := byteLen(tn.Shape, tn.DType)
		if !ok || n != int64(len(tn.Data)) || n != info.End-info.Begin {
			t.Fatalf("tensor %q: %d bytes for shape %v dtype %s", name, len(tn.Data), tn.Shape, tn.DType)
		}
		total += n
		if tn.DType.floatKind() {
			v, shape, err := f.Float32(name)
			if err != nil || len(v) != info.Len() || !slices.Equal(shape, info.Shape) {
				t.Fatalf("Float32(%q): %d values, %v", name, len(v), err)
			}
			w, _, err := f.Float64(name)
			if err != nil || len(w) != len(v) {
				t.Fatalf("Float64(%q): %d values, %v", name, len(w), err)
			}
		} else if _, _, err := f.Float32(name); !errors.Is(err, ErrDType) {
			t.Fatalf("Float32(%q) of %s: %v", name, tn.DType, err)
		}
		ts = append(ts, tn)
	}
	if want := int64(len(data)) - 8 - f.HeaderLen(); total != want {
		t.Fatalf("tensors hold %d bytes, data buffer %d", total, want)
	}
	// The header could name a GPT-2; validation must not panic either way.
	ValidateGPT2(f, tinyConfig())

	var b bytes.Buffer
	if err := WriteSafetensors(&b, ts, f.Metadata()); err != nil {
		t.Fatalf("writing back what was read: %v", err)
	}
	g, err := ReadSafetensors(bytes.NewReader(b.Bytes()), int64(b.Len()), "again", ReadOptions{})
	if err != nil {
		t.Fatalf("reading back: %v", err)
	}
	if !slices.Equal(g.Names(), f.Names()) {
		t.Fatalf("names %q, want %q", g.Names(), f.Names())
	}
	if len(f.Metadata()) > 0 && !cmp.Equal(g.Metadata(), f.Metadata()) {
		t.Fatalf("metadata %v, want %v", g.Metadata(), f.Metadata())
	}
	for _, want := range ts {
		got, err := g.Tensor(want.Name)
		if err != nil || !cmp.Equal(got, want) {
			t.Fatalf("tensor %q: %v %v", want.Name, got, err)
		}
	}
	if b.Len()%8 != 0 && b.Len() >= 8 {
		if h := binary.LittleEndian.Uint64(b.Bytes()); h%8 != 0 {
			t.Fatalf("header length %d not padded", h)
		}
	}
}

// FuzzSafetensorsHeader fuzzes the JSON header: the input is the header,
// the 8-byte length is made to match, and a data buffer of bufLen bytes
// follows, so that the fuzzer explores header content rather than length
// mismatches.
func FuzzSafetensorsHeader(f *testing.F) {
	f.Add([]byte(`{}`), uint16(0))
	f.Add([]byte(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`), uint16(8))
	f.Add([]byte(`{"__metadata__":{"format":"pt"},"a":{"dtype":"F16","shape":[1,2],"data_offsets":[0,4]},"b":{"dtype":"I64","shape":[],"data_offsets":[4,12]}}  `), uint16(12))
	f.Add([]byte(`{"a":{"dtype":"F4","shape":[4],"data_offsets":[0,2]},"b":{"dtype":"BF16","shape":[0],"data_offsets":[2,2]}}`), uint16(2))
	f.Add([]byte(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`), uint16(8))
	for _, tc := range hostileCases() {
		if len(tc.data) >= 8 && len(tc.data) < 1024 {
			n := binary.LittleEndian.Uint64(tc.data)
			if n <= uint64(len(tc.data)-8) {
				f.Add(tc.data[8:8+n], uint16(len(tc.data)-8-int(n)))
			}
		}
	}
	f.Add(mustWrite(f, tinyModel(nil), map[string]string{"format": "pt"})[8:], uint16(0))
	f.Fuzz(func(t *testing.T, header []byte, bufLen uint16) {
		data := make([]byte, 8+len(header)+int(bufLen))
		binary.LittleEndian.PutUint64(data, uint64(len(header)))
		copy(data[8:], header)
		for i := 8 + len(header); i < len(data); i++ {
			data[i] = byte(i * 7)
		}
		checkFile(t, data)
	})
}

// FuzzSafetensors fuzzes whole files, the header length included.
func FuzzSafetensors(f *testing.F) {
	for _, tc := range hostileCases() {
		if tc.size == 0 && len(tc.data) < 1024 {
			f.Add(tc.data)
		}
	}
	f.Add(mustWrite(f, []Tensor{F32Tensor("a", []int{2}, []float32{1, 2}), F64Tensor("b", nil, []float64{3})}, map[string]string{"k": "v"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFile(t, data)
	})
}

// FuzzConfig: ParseConfig never panics, errors are *ValidationError, and an
// accepted config marshals and parses back to itself.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(goldenConfig))
	f.Add([]byte(hfGPT2Config))
	f.Add([]byte(`{"n_inner": 32, "n_embd": 8, "n_head": 2, "vocab_size": 4, "bos_token_id": 0, "eos_token_id": 3, "n_positions": 4}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data, "config.json")
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrConfig) {
				t.Fatalf("error %T: %v", err, err)
			}
			return
		}
		b, err := MarshalConfig(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseConfig(b, "again")
		if err != nil {
			t.Fatalf("re-parsing %s: %v", b, err)
		}
		if c.Architectures == nil {
			c.Architectures = []string{}
		}
		if !cmp.Equal(c, back) {
			t.Fatalf("round trip: %s", cmp.Diff(c, back))
		}
	})
}

// FuzzVocab: ParseVocab never panics, and an accepted vocabulary marshals
// and parses back to itself.
func FuzzVocab(f *testing.F) {
	b, _ := MarshalVocab(tinyVocab)
	f.Add(b)
	f.Add([]byte(`{"a": 1, "b": 0}`))
	f.Add([]byte(`{"a": 0, "a": 1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		toks, err := ParseVocab(data, "vocab.json")
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrVocab) {
				t.Fatalf("error %T: %v", err, err)
			}
			return
		}
		b, err := MarshalVocab(toks)
		if err != nil {
			t.Fatalf("marshalling %q: %v", toks, err)
		}
		back, err := ParseVocab(b, "again")
		if err != nil || !slices.Equal(back, toks) {
			t.Fatalf("round trip %q -> %q, %v", toks, back, err)
		}
	})
}
