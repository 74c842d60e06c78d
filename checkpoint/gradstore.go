package checkpoint

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
)

// Gradient-store formats (DESIGN.md §3.3): per-sample gradients computed
// elsewhere (or exported here) as an N x D matrix.
const (
	FormatNPY         = "npy"         // NumPy .npy, float32/float16/float64, C order
	FormatBergson     = "bergson"     // EleutherAI Bergson: gradients.bin + info.json
	FormatSafetensors = "safetensors" // a 2-D tensor ("grads" by default)
)

// GradsTensorName is the tensor of a safetensors gradient store read when no
// other is named.
const GradsTensorName = "grads"

// GradStore is a matrix of per-sample gradient rows read on demand, so that
// a store larger than memory can be streamed (and projected) in chunks.
// A GradStore is not safe for concurrent use.
type GradStore interface {
	// Format is FormatNPY, FormatBergson or FormatSafetensors.
	Format() string
	// Name is the file or directory, as used in errors.
	Name() string
	// Rows and Cols are N and D.
	Rows() int
	Cols() int
	// DType is the element type on disk (F32, F16, BF16 or F64).
	DType() DType
	// Modules names ranges of columns (Bergson's modules, the "params"
	// metadata of a gradcouple safetensors store); nil when unknown.
	Modules() []GradModule
	// ReadRows reads rows [lo, hi) as float32 into dst (len (hi-lo)*Cols,
	// row-major): F32 bit for bit, F16 and BF16 exactly, F64 rounded to
	// nearest. A NaN or an infinity (or an F64 value beyond the float32
	// range) is a *NonFiniteError naming the file, the row and the column;
	// dst then holds the rows read so far. A file that shrank since it was
	// opened is a *ValidationError wrapping ErrTruncated. Rows out of range
	// or a wrong len(dst) panic.
	ReadRows(dst []float32, lo, hi int) error
	Close() error
}

// GradStoreOptions tune OpenGradStore.
type GradStoreOptions struct {
	// Tensor is the tensor of a safetensors store; "" means "grads", or
	// the file's only 2-D floating-point tensor.
	Tensor string
}

// OpenGradStore opens the gradient store at path, detecting its format: a
// directory is a Bergson store (info.json + gradients.bin, or published
// shards/), a .npy file a NumPy array, a .safetensors file a safetensors
// store. A matrix of more than two dimensions is read as N rows of the
// product of the others. Errors about the content are *ValidationError
// naming the file.
func OpenGradStore(path string, opts GradStoreOptions) (GradStore, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	switch {
	case st.IsDir():
		return openBergson(path)
	case strings.HasSuffix(strings.ToLower(path), ".npy"):
		return openNPY(path)
	case strings.HasSuffix(strings.ToLower(path), ".safetensors"):
		return openSafetensorsStore(path, opts.Tensor)
	}
	return nil, &ValidationError{File: path, Msg: "unknown gradient store: want a Bergson directory (info.json + gradients.bin), a .npy or a .safetensors file", Err: ErrHeader}
}

// checkRows panics on a programmer error in a ReadRows call.
func checkRows(dst []float32, lo, hi, n, d int) {
	if lo < 0 || hi < lo || hi > n || len(dst) != (hi-lo)*d {
		panic("checkpoint: ReadRows out of range or length mismatch")
	}
}

// readFull fills b from r at off; a short file is ErrTruncated.
func readAtFull(r io.ReaderAt, b []byte, off int64, name string) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &ValidationError{File: name, Msg: "file ends before the data its header promises (truncated since it was opened?)", Err: ErrTruncated}
	}
	return fmt.Errorf("reading %s: %w", name, err)
}

// rowsOf returns the rows and columns of a gradient matrix of shape s: N =
// s[0], D = the product of the rest.
func rowsOf(s []int) (int, int, bool) {
	if len(s) < 2 {
		return 0, 0, false
	}
	d := 1
	for _, x := range s[1:] {
		d *= x
	}
	return s[0], d, true
}

// npyStore is a .npy gradient matrix.
type npyStore struct {
	name string
	f    *os.File
	h    NPYHeader
	n, d int
	buf  []byte
}

func openNPY(path string) (GradStore, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	h, err := ReadNPYHeader(f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	n, d, ok := rowsOf(h.Shape)
	if !ok {
		f.Close()
		return nil, &ValidationError{File: path, Field: "shape", Msg: fmt.Sprintf("shape %v: a gradient store is a matrix (N, D)", h.Shape), Err: ErrShape}
	}
	return &npyStore{name: path, f: f, h: h, n: n, d: d}, nil
}

func (s *npyStore) Format() string        { return FormatNPY }
func (s *npyStore) Name() string          { return s.name }
func (s *npyStore) Rows() int             { return s.n }
func (s *npyStore) Cols() int             { return s.d }
func (s *npyStore) DType() DType          { return s.h.DType }
func (s *npyStore) Modules() []GradModule { return nil }
func (s *npyStore) Close() error          { return s.f.Close() }

func (s *npyStore) ReadRows(dst []float32, lo, hi int) error {
	checkRows(dst, lo, hi, s.n, s.d)
	elem := s.h.DType.Bits() / 8
	return readRowChunks(dst, lo, hi, s.d, elem, &s.buf, func(b []byte, r int) error {
		return readAtFull(s.f, b, s.h.DataOffset+int64(r)*int64(s.d*elem), s.name)
	}, func(out []float32, b []byte, r int) error {
		return decodeFinite(out, b, s.h.DType, s.h.BigEndian, s.d, r, s.name, "")
	})
}

// decodeFinite decodes the rows of d columns in b, the first of which is
// row r of the store, into out (decodeFloats) and returns a
// *NonFiniteError for the first value that is not finite as float32.
func decodeFinite(out []float32, b []byte, dt DType, big bool, d, r int, file, tensor string) error {
	decodeFloats(out, b, dt, big)
	i, j := firstNonFiniteRow(out, d)
	if i < 0 {
		return nil
	}
	v := float64(out[i*d+j])
	if dt == F64 { // report the value in the file, which may be finite beyond float32
		k := 8 * (i*d + j)
		if big {
			v = math.Float64frombits(binary.BigEndian.Uint64(b[k:]))
		} else {
			v = math.Float64frombits(binary.LittleEndian.Uint64(b[k:]))
		}
	}
	return &NonFiniteError{File: file, Tensor: tensor, Row: r + i, Col: j, Value: v}
}

// readRowChunks reads rows [lo, hi) of d elements of elem bytes in chunks of
// about readChunk bytes: read fills a chunk's bytes from row r on, decode
// converts them (and may refuse them).
func readRowChunks(dst []float32, lo, hi, d, elem int, buf *[]byte, read func(b []byte, r int) error, decode func(out []float32, b []byte, r int) error) error {
	row := d * elem
	if row == 0 {
		return nil
	}
	per := max(1, readChunk/row)
	for r := lo; r < hi; r += per {
		k := min(per, hi-r)
		if cap(*buf) < k*row {
			*buf = make([]byte, k*row)
		}
		b := (*buf)[:k*row]
		if err := read(b, r); err != nil {
			return err
		}
		if err := decode(dst[(r-lo)*d:(r-lo+k)*d], b, r); err != nil {
			return err
		}
	}
	return nil
}

// safetensorsStore is a 2-D (or higher) tensor of a safetensors file.
type safetensorsStore struct {
	f    *File
	ti   *TensorInfo
	n, d int
	mods []GradModule
	buf  []byte
}

func openSafetensorsStore(path, tensor string) (GradStore, error) {
	f, err := OpenFile(path, ReadOptions{})
	if err != nil {
		return nil, err
	}
	name := tensor
	if name == "" {
		name = GradsTensorName
		if _, ok := f.Info(name); !ok {
			var cands []string
			for _, t := range f.Names() {
				ti, _ := f.Info(t)
				if len(ti.Shape) >= 2 && ti.DType.floatKind() {
					cands = append(cands, t)
				}
			}
			if len(cands) != 1 {
				f.Close()
				return nil, &ValidationError{File: path, Msg: fmt.Sprintf("no tensor %q and %d floating-point matrices (%s): name one (--grads-tensor)", GradsTensorName, len(cands), strings.Join(cands, ", ")), Err: ErrMissingTensor}
			}
			name = cands[0]
		}
	}
	ti, err := f.lookup(name)
	if err != nil {
		f.Close()
		return nil, err
	}
	if !ti.DType.floatKind() {
		f.Close()
		return nil, f.dtypeError(ti, "a gradient store")
	}
	n, d, ok := rowsOf(ti.Shape)
	if !ok {
		f.Close()
		return nil, &ValidationError{File: path, Tensor: name, Field: "shape", Msg: fmt.Sprintf("shape %v: a gradient store is a matrix [N, D]", ti.Shape), Err: ErrShape}
	}
	s := &safetensorsStore{f: f, ti: ti, n: n, d: d}
	s.mods = paramModules(f.Metadata()["params"], d)
	return s, nil
}

// paramModules parses a gradcouple store's "params" metadata (a JSON list of
// {name, offset, shape}) into modules; nil when absent or inconsistent with
// d columns.
func paramModules(js string, d int) []GradModule {
	if js == "" {
		return nil
	}
	var ps []struct {
		Name   string `json:"name"`
		Offset int    `json:"offset"`
		Shape  []int  `json:"shape"`
	}
	if json.Unmarshal([]byte(js), &ps) != nil {
		return nil
	}
	var out []GradModule
	off := 0
	for _, p := range ps {
		size := 1
		for _, s := range p.Shape {
			if s < 0 || s > d {
				return nil
			}
			size *= s
		}
		if p.Offset != off || size > d-off {
			return nil
		}
		out = append(out, GradModule{Name: p.Name, Offset: off, Size: size})
		off += size
	}
	if off != d {
		return nil
	}
	return out
}

func (s *safetensorsStore) Format() string        { return FormatSafetensors }
func (s *safetensorsStore) Name() string          { return s.f.Name() }
func (s *safetensorsStore) Rows() int             { return s.n }
func (s *safetensorsStore) Cols() int             { return s.d }
func (s *safetensorsStore) DType() DType          { return s.ti.DType }
func (s *safetensorsStore) Modules() []GradModule { return slices.Clone(s.mods) }
func (s *safetensorsStore) Close() error          { return s.f.Close() }

func (s *safetensorsStore) ReadRows(dst []float32, lo, hi int) error {
	checkRows(dst, lo, hi, s.n, s.d)
	elem := s.ti.DType.Bits() / 8
	return readRowChunks(dst, lo, hi, s.d, elem, &s.buf, func(b []byte, r int) error {
		return s.f.readData(s.ti, s.ti.Begin+int64(r)*int64(s.d*elem), b)
	}, func(out []float32, b []byte, r int) error {
		return decodeFinite(out, b, s.ti.DType, false, s.d, r, s.f.Name(), s.ti.Name)
	})
}
