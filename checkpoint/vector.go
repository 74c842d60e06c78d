package checkpoint

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ReadVector reads one vector of D floats, such as the diagonal of an
// optimizer's preconditioner, from a NumPy .npy file of shape [D] or [1, D]
// (float16, float32 or float64, either byte order) or from a .safetensors
// file holding one tensor of shape [D] or [1, D] (F16, BF16, F32, F64; with
// several tensors, tensor names the one to read). A value that is not finite
// as float32 is a *NonFiniteError naming the column; any other problem is a
// *ValidationError naming the file.
func ReadVector(path, tensor string) ([]float32, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy":
		return readNPYVector(path)
	case ".safetensors":
		return readSafetensorsVector(path, tensor)
	}
	return nil, &ValidationError{File: path, Msg: "want a .npy or .safetensors vector", Err: ErrValue}
}

// vectorLen returns D for a shape [D] or [1, D].
func vectorLen(shape []int) (int, bool) {
	switch {
	case len(shape) == 1:
		return shape[0], true
	case len(shape) == 2 && shape[0] == 1:
		return shape[1], true
	}
	return 0, false
}

func readNPYVector(path string) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	h, err := ReadNPYHeader(f, fi.Size(), path)
	if err != nil {
		return nil, err
	}
	d, ok := vectorLen(h.Shape)
	if !ok {
		return nil, &ValidationError{File: path, Field: "shape", Msg: fmt.Sprintf("shape %v, want a vector [D] or [1, D]", h.Shape), Err: ErrShape}
	}
	n := int64(d) * int64(h.DType.Bits()/8)
	if h.DataOffset+n != fi.Size() {
		return nil, &ValidationError{File: path, Msg: fmt.Sprintf("%d data bytes after the header, want %d for shape %v", fi.Size()-h.DataOffset, n, h.Shape), Err: ErrShape}
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, h.DataOffset); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	out := make([]float32, d)
	return out, decodeFinite(out, b, h.DType, h.BigEndian, d, 0, path, "")
}

func readSafetensorsVector(path, tensor string) ([]float32, error) {
	ts, _, err := ReadSafetensorsFile(path, ReadOptions{})
	if err != nil {
		return nil, err
	}
	var t *Tensor
	for i := range ts {
		if ts[i].Name == tensor || (tensor == "" && len(ts) == 1) {
			t = &ts[i]
		}
	}
	if t == nil {
		names := make([]string, len(ts))
		for i := range ts {
			names[i] = ts[i].Name
		}
		return nil, &ValidationError{File: path, Msg: fmt.Sprintf("tensor %q not found (tensors: %s)", tensor, strings.Join(names, ", ")), Err: ErrValue}
	}
	d, ok := vectorLen(t.Shape)
	if !ok || !t.DType.floatKind() {
		return nil, &ValidationError{File: path, Tensor: t.Name, Field: "shape", Msg: fmt.Sprintf("%s %v, want a float vector [D] or [1, D]", t.DType, t.Shape), Err: ErrShape}
	}
	out := make([]float32, d)
	return out, decodeFinite(out, t.Data, t.DType, false, d, 0, path, t.Name)
}
