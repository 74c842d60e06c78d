package checkpoint

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// TestReadVector: .npy and .safetensors vectors of shape [D] or [1, D] are
// read exactly; a matrix, a NaN and an unknown extension are bad input
// naming the file.
func TestReadVector(t *testing.T) {
	dir := t.TempDir()
	v := []float32{0.5, 2, 1e-8, 3}
	npy := func(name string, shape []int, vals []float32) string {
		h, err := NPYHeaderBytes(F32, shape)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, AppendFloats(h, vals, F32), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	st := filepath.Join(dir, "p.safetensors")
	if err := WriteSafetensorsFile(st, []Tensor{F64Tensor("precond", []int{1, 4}, []float64{0.5, 2, 1e-8, 3})}, nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{npy("a.npy", []int{4}, v), npy("b.npy", []int{1, 4}, v), st} {
		got, err := ReadVector(p, "")
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for i := range v {
			if got[i] != v[i] {
				t.Errorf("%s: entry %d = %v, want %v", p, i, got[i], v[i])
			}
		}
	}
	var ve *ValidationError
	if _, err := ReadVector(npy("m.npy", []int{2, 2}, v), ""); !errors.As(err, &ve) || ve.File == "" {
		t.Errorf("matrix: got %v, want a ValidationError", err)
	}
	var nf *NonFiniteError
	if _, err := ReadVector(npy("nan.npy", []int{4}, []float32{1, float32(math.NaN()), 1, 1}), ""); !errors.As(err, &nf) || nf.Col != 1 {
		t.Errorf("NaN: got %v, want a NonFiniteError at column 1", err)
	}
	if _, err := ReadVector(filepath.Join(dir, "p.txt"), ""); !errors.As(err, &ve) {
		t.Errorf("extension: got %v", err)
	}
}
