package checkpoint

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gradcouple/gradcouple/internal/atomicfile"
)

// DefaultMaxHeaderBytes is the largest safetensors header ReadSafetensors
// accepts unless ReadOptions says otherwise: the limit of the reference
// implementation (MAX_HEADER_SIZE in safetensors/src/tensor.rs).
const DefaultMaxHeaderBytes = 100_000_000

// metadataKey is the header key of the free-form string map.
const metadataKey = "__metadata__"

// ReadOptions tunes ReadSafetensors. The zero value gives the defaults.
type ReadOptions struct {
	// MaxHeaderBytes is the largest header length accepted; 0 means
	// DefaultMaxHeaderBytes.
	MaxHeaderBytes int64
}

// Tensor is one tensor of a safetensors file: its name, dtype, shape
// (row-major, outermost first; empty for a scalar) and raw little-endian
// bytes.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// F32Tensor returns a tensor of dtype F32 holding v (bit for bit, NaN
// payloads included) with the given shape. It does not check that the shape
// matches len(v); WriteSafetensors does.
func F32Tensor(name string, shape []int, v []float32) Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, DType: F32, Shape: slices.Clone(shape), Data: b}
}

// F64Tensor is F32Tensor for float64 values and dtype F64.
func F64Tensor(name string, shape []int, v []float64) Tensor {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return Tensor{Name: name, DType: F64, Shape: slices.Clone(shape), Data: b}
}

// TensorInfo describes one tensor of a safetensors file as its header does.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int
	// Begin and End are the data offsets: the tensor's bytes are
	// [Begin, End) of the data buffer that follows the header.
	Begin, End int64
}

// Len returns the number of elements, the product of the shape (1 for a
// scalar).
func (t TensorInfo) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d // cannot overflow: checked when the header was read
	}
	return n
}

// File is a safetensors file whose header has been read and validated. Its
// tensors are read on demand from the underlying io.ReaderAt, which must
// stay readable while the File is used.
type File struct {
	name    string
	r       io.ReaderAt
	closer  io.Closer
	dataOff int64 // file offset of the data buffer: 8 + header length
	dataLen int64
	hdrLen  int64
	infos   map[string]*TensorInfo
	names   []string // sorted
	meta    map[string]string
}

// OpenFile opens the safetensors file at path and reads its header
// (ReadSafetensors). Close the File when done.
func OpenFile(path string, opts ReadOptions) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, &ValidationError{File: path, Msg: "not a regular file"}
	}
	sf, err := ReadSafetensors(f, st.Size(), path, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	sf.closer = f
	return sf, nil
}

// Close closes the underlying file if OpenFile opened it; otherwise it does
// nothing.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	err := f.closer.Close()
	f.closer = nil
	return err
}

// Name returns the file name used in errors.
func (f *File) Name() string { return f.name }

// Names returns the tensor names in sorted (byte-wise) order.
func (f *File) Names() []string { return slices.Clone(f.names) }

// Info returns the header entry of the named tensor.
func (f *File) Info(name string) (TensorInfo, bool) {
	ti, ok := f.infos[name]
	if !ok {
		return TensorInfo{}, false
	}
	c := *ti
	c.Shape = slices.Clone(ti.Shape)
	return c, true
}

// Metadata returns a copy of the header's __metadata__ map (nil if the
// header has none).
func (f *File) Metadata() map[string]string {
	if f.meta == nil {
		return nil
	}
	m := make(map[string]string, len(f.meta))
	for k, v := range f.meta {
		m[k] = v
	}
	return m
}

// HeaderLen returns the length of the JSON header in bytes (padding
// included), as stored in the file's first 8 bytes.
func (f *File) HeaderLen() int64 { return f.hdrLen }

// lookup returns the named tensor's info or a *ValidationError.
func (f *File) lookup(name string) (*TensorInfo, error) {
	ti, ok := f.infos[name]
	if !ok {
		return nil, &ValidationError{File: f.name, Tensor: name, Msg: "no such tensor in the file", Err: ErrMissingTensor}
	}
	return ti, nil
}

// Tensor reads the named tensor's raw bytes.
func (f *File) Tensor(name string) (Tensor, error) {
	ti, err := f.lookup(name)
	if err != nil {
		return Tensor{}, err
	}
	b := make([]byte, ti.End-ti.Begin)
	if err := f.readData(ti, ti.Begin, b); err != nil {
		return Tensor{}, err
	}
	return Tensor{Name: name, DType: ti.DType, Shape: slices.Clone(ti.Shape), Data: b}, nil
}

// readChunk is the size of the buffer Float32 and Float64 decode through.
const readChunk = 1 << 20

// Float32 reads the named tensor as float32 values with its shape. F32 is
// read bit for bit; F16 and BF16 are converted exactly; F64 is rounded to
// the nearest float32 (values beyond float32's range become infinities).
// Other dtypes give an error matching ErrDType.
func (f *File) Float32(name string) ([]float32, []int, error) {
	ti, err := f.lookup(name)
	if err != nil {
		return nil, nil, err
	}
	out := make([]float32, ti.Len())
	if err := f.Float32Into(name, out); err != nil {
		return nil, nil, err
	}
	return out, slices.Clone(ti.Shape), nil
}

// Float32Into is Float32 into dst, which must hold exactly the tensor's
// elements; it allocates nothing the size of the tensor, so a model can be
// read into its own parameter memory.
func (f *File) Float32Into(name string, dst []float32) error {
	ti, err := f.lookup(name)
	if err != nil {
		return err
	}
	if !ti.DType.floatKind() {
		return f.dtypeError(ti, "Float32")
	}
	if len(dst) != ti.Len() {
		return fmt.Errorf("reading tensor %q from %s: %d elements into a buffer of %d", name, f.name, ti.Len(), len(dst))
	}
	size := ti.DType.Bits() / 8
	i := 0
	return f.decode(ti, size, func(b []byte) {
		switch ti.DType {
		case F32:
			for ; len(b) > 0; b = b[4:] {
				dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b))
				i++
			}
		case F64:
			for ; len(b) > 0; b = b[8:] {
				dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b)))
				i++
			}
		case F16:
			for ; len(b) > 0; b = b[2:] {
				dst[i] = halfToFloat32(binary.LittleEndian.Uint16(b))
				i++
			}
		case BF16:
			for ; len(b) > 0; b = b[2:] {
				dst[i] = bfloat16ToFloat32(binary.LittleEndian.Uint16(b))
				i++
			}
		}
	})
}

// Float64 reads the named tensor as float64 values with its shape. F64 is
// read bit for bit; F32, F16 and BF16 are converted exactly. Other dtypes
// give an error matching ErrDType.
func (f *File) Float64(name string) ([]float64, []int, error) {
	ti, err := f.lookup(name)
	if err != nil {
		return nil, nil, err
	}
	out := make([]float64, ti.Len())
	if err := f.Float64Into(name, out); err != nil {
		return nil, nil, err
	}
	return out, slices.Clone(ti.Shape), nil
}

// Float64Into is Float64 into dst, which must hold exactly the tensor's
// elements.
func (f *File) Float64Into(name string, dst []float64) error {
	ti, err := f.lookup(name)
	if err != nil {
		return err
	}
	if !ti.DType.floatKind() {
		return f.dtypeError(ti, "Float64")
	}
	if len(dst) != ti.Len() {
		return fmt.Errorf("reading tensor %q from %s: %d elements into a buffer of %d", name, f.name, ti.Len(), len(dst))
	}
	size := ti.DType.Bits() / 8
	i := 0
	return f.decode(ti, size, func(b []byte) {
		switch ti.DType {
		case F64:
			for ; len(b) > 0; b = b[8:] {
				dst[i] = math.Float64frombits(binary.LittleEndian.Uint64(b))
				i++
			}
		case F32:
			for ; len(b) > 0; b = b[4:] {
				dst[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
				i++
			}
		case F16:
			for ; len(b) > 0; b = b[2:] {
				dst[i] = float64(halfToFloat32(binary.LittleEndian.Uint16(b)))
				i++
			}
		case BF16:
			for ; len(b) > 0; b = b[2:] {
				dst[i] = float64(bfloat16ToFloat32(binary.LittleEndian.Uint16(b)))
				i++
			}
		}
	})
}

func (f *File) dtypeError(ti *TensorInfo, method string) error {
	return &ValidationError{File: f.name, Tensor: ti.Name, Field: "dtype",
		Msg: fmt.Sprintf("dtype %s cannot be read as floating point (%s reads F32, F64, F16 and BF16)", ti.DType, method),
		Err: ErrDType}
}

// decode reads the tensor's bytes in chunks of whole elements of size bytes
// and passes each chunk to fn.
func (f *File) decode(ti *TensorInfo, size int, fn func([]byte)) error {
	n := ti.End - ti.Begin
	chunk := int64(readChunk - readChunk%size)
	buf := make([]byte, min(n, chunk))
	for off := int64(0); off < n; {
		b := buf[:min(n-off, chunk)]
		if err := f.readData(ti, ti.Begin+off, b); err != nil {
			return err
		}
		fn(b)
		off += int64(len(b))
	}
	return nil
}

// readData fills b from the data buffer at offset off.
func (f *File) readData(ti *TensorInfo, off int64, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	n, err := f.r.ReadAt(b, f.dataOff+off)
	if n == len(b) {
		return nil // io.ReaderAt may report io.EOF with a full read at the end
	}
	if err == nil {
		err = io.ErrUnexpectedEOF // a short read without an error
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &ValidationError{File: f.name, Tensor: ti.Name,
			Msg: "file ends before the tensor's data (truncated since its header was read?)", Err: ErrTruncated}
	}
	return fmt.Errorf("reading tensor %q from %s: %w", ti.Name, f.name, err)
}

// ReadSafetensors reads and validates the header of the safetensors file of
// size bytes that r holds; name is the file name used in errors. Tensor data
// is read later, on demand.
//
// The file is checked before anything is allocated from a length it claims:
// the header length must fit both the file and opts.MaxHeaderBytes; the
// header must be valid UTF-8 holding one JSON object (trailing whitespace,
// the writer's padding, allowed) whose keys are unique; "__metadata__", if
// present, must map strings to strings; every other key is a tensor, with
// exactly the fields dtype (a known DType), shape (non-negative integers
// whose product, times the dtype's size, fits in an int and is a whole
// number of bytes) and data_offsets ([begin, end] with end-begin the
// tensor's byte length). Sorted by offset, the tensors must tile the data
// buffer exactly: no overlap, no gap, nothing after the last one. Tensor
// names must not be empty. These are the reference implementation's rules
// (safetensors/src/tensor.rs: read_metadata and Metadata::validate), made
// stricter only in rejecting duplicate keys, unknown fields of a tensor
// entry and empty names.
//
// Every problem is a *ValidationError naming the file, and the tensor and
// field when there is one; no input makes ReadSafetensors panic.
func ReadSafetensors(r io.ReaderAt, size int64, name string, opts ReadOptions) (*File, error) {
	maxHdr := opts.MaxHeaderBytes
	if maxHdr <= 0 {
		maxHdr = DefaultMaxHeaderBytes
	}
	bad := func(err error, field, format string, args ...any) error {
		return &ValidationError{File: name, Field: field, Msg: fmt.Sprintf(format, args...), Err: err}
	}
	if size < 8 {
		return nil, bad(ErrTruncated, "", "file is %d bytes, shorter than the 8-byte header length", max(size, 0))
	}
	var lenBuf [8]byte
	if err := readFull(r, 0, lenBuf[:], name); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > uint64(size-8) {
		return nil, bad(ErrTruncated, "header length", "header length %d exceeds the %d bytes that follow it in the file (truncated or corrupt file)", n, size-8)
	}
	if n > uint64(maxHdr) {
		return nil, bad(ErrHeaderTooLarge, "header length", "header length %d exceeds the limit of %d bytes", n, maxHdr)
	}
	if n < 2 {
		return nil, bad(ErrHeader, "header length", "header length %d is too short for a JSON object", n)
	}
	hdr := make([]byte, n)
	if err := readFull(r, 8, hdr, name); err != nil {
		return nil, err
	}
	f := &File{
		name:    name,
		r:       r,
		dataOff: 8 + int64(n),
		dataLen: size - 8 - int64(n),
		hdrLen:  int64(n),
		infos:   map[string]*TensorInfo{},
	}
	if err := f.parseHeader(hdr); err != nil {
		return nil, err
	}
	if err := f.checkOffsets(); err != nil {
		return nil, err
	}
	return f, nil
}

// readFull reads len(b) bytes at off, mapping a short read to ErrTruncated.
func readFull(r io.ReaderAt, off int64, b []byte, name string) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &ValidationError{File: name, Msg: "file ends before the header does", Err: ErrTruncated}
	}
	return fmt.Errorf("reading the header of %s: %w", name, err)
}

// isJSONSpace reports whether c is JSON whitespace.
func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// parseHeader decodes and checks the JSON header into f.infos, f.names and
// f.meta.
func (f *File) parseHeader(hdr []byte) error {
	bad := func(tensor, field, format string, args ...any) error {
		return &ValidationError{File: f.name, Tensor: tensor, Field: field, Msg: fmt.Sprintf(format, args...), Err: ErrHeader}
	}
	if !utf8.Valid(hdr) {
		return bad("", "", "header is not valid UTF-8")
	}
	trimmed := bytes.TrimLeft(hdr, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return bad("", "", "header is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	jsonErr := func(tensor string, err error) error {
		return bad(tensor, "", "invalid JSON: %s", jsonMsg(err))
	}
	err := walkObject(dec, func(key string) error {
		if key == metadataKey {
			return f.parseMetadata(dec)
		}
		if key == "" {
			return bad("", "", "a tensor has an empty name")
		}
		ti, err := parseTensorInfo(dec, key, f.name)
		if err != nil {
			return err
		}
		f.infos[key] = ti
		return nil
	}, func(key string) error {
		if key == metadataKey {
			return bad("", metadataKey, "duplicate key")
		}
		return bad(key, "", "duplicate tensor name")
	})
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return err
		}
		return jsonErr("", err)
	}
	for _, c := range hdr[dec.InputOffset():] {
		if !isJSONSpace(c) {
			return bad("", "", "data after the JSON object at byte %d of the header", dec.InputOffset())
		}
	}
	f.names = make([]string, 0, len(f.infos))
	for k := range f.infos {
		f.names = append(f.names, k)
	}
	slices.Sort(f.names)
	return nil
}

// jsonMsg shortens an encoding/json error message.
func jsonMsg(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of JSON"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// walkObject reads one JSON object from dec, calling each for every key with
// the decoder positioned at the value, which each must consume; dup is
// called instead for a key seen before.
func walkObject(dec *json.Decoder, each, dup func(key string) error) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errNotObject
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return errors.New("object key is not a string")
		}
		if seen[key] {
			return dup(key)
		}
		seen[key] = true
		if err := each(key); err != nil {
			return err
		}
	}
	_, err = dec.Token() // the closing brace
	return err
}

var errNotObject = errors.New("not a JSON object")

// parseMetadata decodes the __metadata__ value: null or an object of
// strings.
func (f *File) parseMetadata(dec *json.Decoder) error {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	bad := func(format string, args ...any) error {
		return &ValidationError{File: f.name, Field: metadataKey, Msg: fmt.Sprintf(format, args...), Err: ErrHeader}
	}
	if string(raw) == "null" {
		return nil
	}
	md := json.NewDecoder(bytes.NewReader(raw))
	meta := map[string]string{}
	err := walkObject(md, func(key string) error {
		tok, err := md.Token()
		if err != nil {
			return err
		}
		v, ok := tok.(string)
		if !ok {
			return bad("value of %q is not a string", key)
		}
		meta[key] = v
		return nil
	}, func(key string) error {
		return bad("duplicate key %q", key)
	})
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return err
		}
		if err == errNotObject {
			return bad("not an object of strings")
		}
		return bad("%s", jsonMsg(err))
	}
	f.meta = meta
	return nil
}

// parseTensorInfo decodes one tensor entry and checks it on its own (dtype,
// shape, byte length); offsets against each other are checked later.
func parseTensorInfo(dec *json.Decoder, name, file string) (*TensorInfo, error) {
	bad := func(err error, field, format string, args ...any) error {
		return &ValidationError{File: file, Tensor: name, Field: field, Msg: fmt.Sprintf(format, args...), Err: err}
	}
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, err
	}
	fields := map[string]json.RawMessage{}
	td := json.NewDecoder(bytes.NewReader(raw))
	err := walkObject(td, func(key string) error {
		var v json.RawMessage
		if err := td.Decode(&v); err != nil {
			return err
		}
		fields[key] = v
		return nil
	}, func(key string) error {
		return bad(ErrHeader, key, "duplicate field")
	})
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return nil, err
		}
		if err == errNotObject {
			return nil, bad(ErrHeader, "", "entry is not an object with dtype, shape and data_offsets")
		}
		return nil, bad(ErrHeader, "", "%s", jsonMsg(err))
	}
	for _, k := range sortedKeys(fields) {
		if k != "dtype" && k != "shape" && k != "data_offsets" {
			return nil, bad(ErrHeader, k, "unknown field (a tensor entry has dtype, shape and data_offsets)")
		}
	}
	ti := &TensorInfo{Name: name}

	// dtype
	rd, ok := fields["dtype"]
	if !ok {
		return nil, bad(ErrHeader, "dtype", "missing")
	}
	var ds string
	if rd[0] != '"' || json.Unmarshal(rd, &ds) != nil {
		return nil, bad(ErrDType, "dtype", "not a string: %s", truncate(string(rd)))
	}
	ti.DType = DType(ds)
	if !ti.DType.Valid() {
		return nil, bad(ErrDType, "dtype", "unknown dtype %q", ds)
	}

	// shape
	rs, ok := fields["shape"]
	if !ok {
		return nil, bad(ErrHeader, "shape", "missing")
	}
	dims, err := uintArray(rs)
	if err != nil {
		return nil, bad(ErrShape, "shape", "%v", err)
	}
	ti.Shape = make([]int, len(dims))
	elems := uint64(1)
	overflow := false
	for i, d := range dims {
		if d > math.MaxInt {
			return nil, bad(ErrShape, "shape", "dimension %d is %d, too large", i, d)
		}
		ti.Shape[i] = int(d)
		hi, lo := bits.Mul64(elems, d)
		if hi != 0 {
			overflow = true
		}
		elems = lo
	}
	if overflow || elems > math.MaxInt {
		return nil, bad(ErrShape, "shape", "element count of shape %v overflows", ti.Shape)
	}
	hi, nbits := bits.Mul64(elems, uint64(ti.DType.Bits()))
	if hi != 0 {
		return nil, bad(ErrShape, "shape", "byte length of shape %v and dtype %s overflows", ti.Shape, ti.DType)
	}
	if nbits%8 != 0 {
		return nil, bad(ErrShape, "shape", "%d elements of %d-bit dtype %s are not a whole number of bytes", elems, ti.DType.Bits(), ti.DType)
	}
	nbytes := nbits / 8

	// data_offsets
	ro, ok := fields["data_offsets"]
	if !ok {
		return nil, bad(ErrHeader, "data_offsets", "missing")
	}
	offs, err := uintArray(ro)
	if err != nil {
		return nil, bad(ErrOffsets, "data_offsets", "%v", err)
	}
	if len(offs) != 2 {
		return nil, bad(ErrOffsets, "data_offsets", "has %d numbers, want 2 (begin, end)", len(offs))
	}
	if offs[0] > math.MaxInt64 || offs[1] > math.MaxInt64 {
		return nil, bad(ErrOffsets, "data_offsets", "[%d, %d] is beyond any file", offs[0], offs[1])
	}
	if offs[1] < offs[0] {
		return nil, bad(ErrOffsets, "data_offsets", "end %d is before begin %d", offs[1], offs[0])
	}
	ti.Begin, ti.End = int64(offs[0]), int64(offs[1])
	if offs[1]-offs[0] != nbytes {
		return nil, bad(ErrShape, "shape", "shape %v of dtype %s needs %d bytes, data_offsets [%d, %d] hold %d",
			ti.Shape, ti.DType, nbytes, offs[0], offs[1], offs[1]-offs[0])
	}
	return ti, nil
}

// uintArray parses a JSON array of non-negative integers (no fractions, no
// exponents, no strings).
func uintArray(raw json.RawMessage) ([]uint64, error) {
	var elems []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &elems) != nil {
		return nil, fmt.Errorf("not an array of integers: %s", truncate(string(raw)))
	}
	out := make([]uint64, len(elems))
	for i, e := range elems {
		s := string(e)
		if strings.HasPrefix(s, "-") {
			return nil, fmt.Errorf("element %d is negative: %s", i, truncate(s))
		}
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return nil, fmt.Errorf("element %d overflows 64 bits: %s", i, truncate(s))
			}
			return nil, fmt.Errorf("element %d is not a non-negative integer: %s", i, truncate(s))
		}
		out[i] = v
	}
	return out, nil
}

// truncate shortens s for an error message.
func truncate(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// checkOffsets checks that the tensors, sorted by offset, tile the data
// buffer exactly.
func (f *File) checkOffsets() error {
	bad := func(err error, tensor, format string, args ...any) error {
		return &ValidationError{File: f.name, Tensor: tensor, Field: "data_offsets", Msg: fmt.Sprintf(format, args...), Err: err}
	}
	order := make([]*TensorInfo, 0, len(f.infos))
	for _, name := range f.names {
		ti := f.infos[name]
		if ti.End > f.dataLen {
			// Corrupt offsets or a truncated file: the error matches both.
			return bad(errors.Join(ErrOffsets, ErrTruncated), ti.Name, "[%d, %d] run past the end of the data buffer (%d bytes; truncated file?)", ti.Begin, ti.End, f.dataLen)
		}
		order = append(order, ti)
	}
	slices.SortStableFunc(order, func(a, b *TensorInfo) int {
		if a.Begin != b.Begin {
			return cmpInt64(a.Begin, b.Begin)
		}
		return cmpInt64(a.End, b.End)
	})
	var pos int64
	prev := ""
	for _, ti := range order {
		switch {
		case ti.Begin < pos:
			return bad(ErrOffsets, ti.Name, "[%d, %d] overlap tensor %q, which ends at %d", ti.Begin, ti.End, prev, pos)
		case ti.Begin > pos:
			return bad(ErrOffsets, ti.Name, "[%d, %d] leave bytes [%d, %d) of the data buffer to no tensor", ti.Begin, ti.End, pos, ti.Begin)
		}
		pos = ti.End
		prev = ti.Name
	}
	if pos != f.dataLen {
		return &ValidationError{File: f.name, Msg: fmt.Sprintf("%d bytes after the last tensor's data belong to no tensor (data buffer %d bytes, tensors cover %d)", f.dataLen-pos, f.dataLen, pos), Err: ErrOffsets}
	}
	return nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// WriteSafetensors writes tensors and the metadata map (nil or empty: no
// __metadata__ key) as a safetensors file, deterministically: tensors in the
// reference implementation's order (descending dtype order, then name;
// name order for a file of one dtype), the header as compact JSON (fields
// dtype, shape, data_offsets; metadata keys sorted) padded with spaces to a
// multiple of 8 bytes so that the data buffer is 8-byte aligned, offsets
// contiguous from 0. For tensors of ASCII names this is byte for byte the
// file safetensors' serialize writes (with at most one metadata key, whose
// order Rust's HashMap does not fix).
//
// It returns an error, writing nothing, for an empty, duplicate, reserved
// ("__metadata__") or invalid UTF-8 name, an unknown dtype, a negative
// dimension, or a Data length that disagrees with shape and dtype.
func WriteSafetensors(w io.Writer, tensors []Tensor, meta map[string]string) error {
	hdr, order, err := buildHeader(tensors, meta)
	if err != nil {
		return err
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdr)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for _, i := range order {
		if _, err := w.Write(tensors[i].Data); err != nil {
			return err
		}
	}
	return nil
}

// buildHeader checks tensors and meta and returns the padded header and the
// order in which the tensors' data follow it.
func buildHeader(tensors []Tensor, meta map[string]string) ([]byte, []int, error) {
	decls := make([]TensorDecl, len(tensors))
	data := make([][]byte, len(tensors))
	for i, t := range tensors {
		decls[i] = TensorDecl{Name: t.Name, DType: t.DType, Shape: t.Shape}
		data[i] = t.Data
	}
	hdr, order, _, err := buildDeclHeader(decls, data, meta)
	return hdr, order, err
}

// buildDeclHeader checks the declared tensors (and, when data is not nil,
// that data[i] has tensor i's byte length) and meta, and returns the padded
// header, the order in which the tensors' data follow it and each tensor's
// byte length.
func buildDeclHeader(tensors []TensorDecl, data [][]byte, meta map[string]string) ([]byte, []int, []int64, error) {
	fail := func(name, format string, args ...any) error {
		return fmt.Errorf("checkpoint: writing safetensors: tensor %q: %s", name, fmt.Sprintf(format, args...))
	}
	seen := make(map[string]bool, len(tensors))
	sizes := make([]int64, len(tensors))
	for i, t := range tensors {
		switch {
		case t.Name == "":
			return nil, nil, nil, fail(t.Name, "empty name")
		case t.Name == metadataKey:
			return nil, nil, nil, fail(t.Name, "the name is reserved for metadata")
		case !utf8.ValidString(t.Name):
			return nil, nil, nil, fail(t.Name, "name is not valid UTF-8")
		case seen[t.Name]:
			return nil, nil, nil, fail(t.Name, "duplicate name")
		case !t.DType.Valid():
			return nil, nil, nil, fail(t.Name, "unknown dtype %q", t.DType)
		}
		seen[t.Name] = true
		nbytes, ok := byteLen(t.Shape, t.DType)
		if !ok {
			return nil, nil, nil, fail(t.Name, "shape %v with dtype %s is negative, overflows or is not a whole number of bytes", t.Shape, t.DType)
		}
		if data != nil && int64(len(data[i])) != nbytes {
			return nil, nil, nil, fail(t.Name, "shape %v of dtype %s needs %d bytes, Data has %d", t.Shape, t.DType, nbytes, len(data[i]))
		}
		sizes[i] = nbytes
	}
	for k, v := range meta {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, nil, nil, fmt.Errorf("checkpoint: writing safetensors: metadata %q is not valid UTF-8", k)
		}
	}
	order := make([]int, len(tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ta, tb := tensors[a], tensors[b]
		if ra, rb := ta.DType.rank(), tb.DType.rank(); ra != rb {
			return rb - ra
		}
		return strings.Compare(ta.Name, tb.Name)
	})

	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	comma := func() {
		if !first {
			b.WriteByte(',')
		}
		first = false
	}
	if len(meta) > 0 {
		comma()
		writeJSONString(&b, metadataKey)
		b.WriteString(":{")
		for i, k := range sortedKeys(meta) {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, k)
			b.WriteByte(':')
			writeJSONString(&b, meta[k])
		}
		b.WriteByte('}')
	}
	var off int64
	for _, i := range order {
		t := tensors[i]
		comma()
		writeJSONString(&b, t.Name)
		b.WriteString(`:{"dtype":`)
		writeJSONString(&b, string(t.DType))
		b.WriteString(`,"shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(d))
		}
		end := off + sizes[i]
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	if b.Len() > DefaultMaxHeaderBytes {
		return nil, nil, nil, fmt.Errorf("checkpoint: writing safetensors: header of %d bytes exceeds the format's limit of %d", b.Len(), DefaultMaxHeaderBytes)
	}
	return b.Bytes(), order, sizes, nil
}

// byteLen returns the byte length of a tensor of the given shape and dtype,
// and false if a dimension is negative, the size overflows, or it is not a
// whole number of bytes.
func byteLen(shape []int, dt DType) (int64, bool) {
	elems := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		hi, lo := bits.Mul64(elems, uint64(d))
		if hi != 0 {
			return 0, false
		}
		elems = lo
	}
	hi, nbits := bits.Mul64(elems, uint64(dt.Bits()))
	if hi != 0 || nbits%8 != 0 || nbits/8 > math.MaxInt {
		return 0, false
	}
	return int64(nbits / 8), true
}

// writeJSONString writes s as a JSON string without HTML escaping, as
// serde_json does.
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	// Encoding a string cannot fail; drop the newline Encode appends.
	enc.Encode(s)
	b.Truncate(b.Len() - 1)
}

// ReadSafetensorsFile is a convenience for small files: it opens path, reads
// every tensor (in name order) and the metadata, and closes the file.
func ReadSafetensorsFile(path string, opts ReadOptions) ([]Tensor, map[string]string, error) {
	f, err := OpenFile(path, opts)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	out := make([]Tensor, 0, len(f.names))
	for _, name := range f.names {
		t, err := f.Tensor(name)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, t)
	}
	return out, f.Metadata(), nil
}

// WriteSafetensorsFile writes a safetensors file (WriteSafetensors) at path
// atomically: a reader or a crash sees the old file or the complete new one.
func WriteSafetensorsFile(path string, tensors []Tensor, meta map[string]string) error {
	if _, _, err := buildHeader(tensors, meta); err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		if err := WriteSafetensors(bw, tensors, meta); err != nil {
			return err
		}
		return bw.Flush()
	})
}
