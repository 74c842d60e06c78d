package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// NumPy .npy files (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
// the magic "\x93NUMPY", a major and a minor version byte, the header length
// (uint16 little-endian in version 1.0, uint32 in 2.0 and 3.0), and the
// header: a Python dict literal {'descr': '<f4', 'fortran_order': False,
// 'shape': (N, D), } padded with spaces and ended by a newline (ASCII in 1.0
// and 2.0, UTF-8 in 3.0). The array's bytes follow, in C (row-major) order
// unless fortran_order is True.

// npyMagic opens every .npy file.
const npyMagic = "\x93NUMPY"

// MaxNPYHeaderBytes bounds the header length of a .npy file that ReadNPYHeader
// accepts. numpy.load refuses headers above 10,000 bytes by default
// (max_header_size); a gradient matrix needs about a hundred.
const MaxNPYHeaderBytes = 1 << 16

// NPYHeader is the parsed header of a .npy file.
type NPYHeader struct {
	Major, Minor int
	// Descr is the dtype as written ("<f4"); DType its element type (F32,
	// F16 or F64) and BigEndian its byte order.
	Descr     string
	DType     DType
	BigEndian bool
	// FortranOrder is the header's fortran_order; ReadNPYHeader refuses
	// True for arrays of more than one dimension.
	FortranOrder bool
	Shape        []int
	// DataOffset is the file offset of the array's first byte.
	DataOffset int64
}

// Len is the number of elements, the product of the shape.
func (h NPYHeader) Len() int {
	n := 1
	for _, d := range h.Shape {
		n *= d
	}
	return n
}

// npyError is a *ValidationError about a .npy file.
func npyError(name, field string, kind error, format string, args ...any) error {
	return &ValidationError{File: name, Field: field, Msg: fmt.Sprintf(format, args...), Err: kind}
}

// ParseNPYHeader parses the header of a .npy file from b, which must hold
// at least the magic, version, length and header (ReadNPYHeader reads them
// from a file). It checks the magic, the version (1.0, 2.0 or 3.0), the
// header length against MaxNPYHeaderBytes and len(b), and the header: a
// dict with exactly the keys descr, fortran_order and shape, descr a
// floating-point type of 2, 4 or 8 bytes ('<f2', '<f4', '<f8', big-endian
// or native '=' too), shape a tuple of non-negative integers whose product
// times the element size fits an int64. It does not look at the data.
// Every problem is a *ValidationError naming the file (and field); no input
// makes it panic or allocate more than len(b).
func ParseNPYHeader(b []byte, name string) (NPYHeader, error) {
	var h NPYHeader
	if len(b) < len(npyMagic)+2 {
		return h, npyError(name, "", ErrTruncated, "file of %d bytes ends before the .npy magic and version", len(b))
	}
	if string(b[:len(npyMagic)]) != npyMagic {
		return h, npyError(name, "", ErrHeader, "not a .npy file: it does not start with \\x93NUMPY")
	}
	h.Major, h.Minor = int(b[6]), int(b[7])
	var hlen, pre int
	switch h.Major {
	case 1:
		pre = 10
		if len(b) < pre {
			return h, npyError(name, "", ErrTruncated, "file ends inside the header length")
		}
		hlen = int(binary.LittleEndian.Uint16(b[8:10]))
	case 2, 3:
		pre = 12
		if len(b) < pre {
			return h, npyError(name, "", ErrTruncated, "file ends inside the header length")
		}
		n := binary.LittleEndian.Uint32(b[8:12])
		if n > MaxNPYHeaderBytes {
			return h, npyError(name, "", ErrHeaderTooLarge, "header of %d bytes exceeds the limit of %d", n, MaxNPYHeaderBytes)
		}
		hlen = int(n)
	default:
		return h, npyError(name, "version", ErrHeader, "format version %d.%d; this reader knows 1.0, 2.0 and 3.0", h.Major, h.Minor)
	}
	if h.Minor != 0 {
		return h, npyError(name, "version", ErrHeader, "format version %d.%d; this reader knows 1.0, 2.0 and 3.0", h.Major, h.Minor)
	}
	if hlen > MaxNPYHeaderBytes {
		return h, npyError(name, "", ErrHeaderTooLarge, "header of %d bytes exceeds the limit of %d", hlen, MaxNPYHeaderBytes)
	}
	if len(b) < pre+hlen {
		return h, npyError(name, "", ErrTruncated, "file ends inside the header (%d of %d bytes)", len(b)-pre, hlen)
	}
	text := b[pre : pre+hlen]
	if h.Major == 3 {
		if !utf8.Valid(text) {
			return h, npyError(name, "", ErrHeader, "header is not valid UTF-8")
		}
	} else {
		for _, c := range text {
			if c >= 0x80 {
				return h, npyError(name, "", ErrHeader, "header of a version %d.0 file is not ASCII", h.Major)
			}
		}
	}
	h.DataOffset = int64(pre + hlen)
	d, err := parsePyDict(string(text))
	if err != nil {
		return h, npyError(name, "", ErrHeader, "header %q: %v", clipText(string(text), 200), err)
	}
	for k := range d {
		if k != "descr" && k != "fortran_order" && k != "shape" {
			return h, npyError(name, k, ErrHeader, "unexpected header key %q (want descr, fortran_order, shape)", k)
		}
	}
	descr, ok := d["descr"].(string)
	if !ok {
		return h, npyError(name, "descr", ErrHeader, "missing or not a string (a structured dtype is not a gradient matrix)")
	}
	h.Descr = descr
	if h.DType, h.BigEndian, err = npyDType(descr); err != nil {
		return h, npyError(name, "descr", ErrDType, "%v", err)
	}
	fo, ok := d["fortran_order"].(bool)
	if !ok {
		return h, npyError(name, "fortran_order", ErrHeader, "missing or not True/False")
	}
	h.FortranOrder = fo
	shape, ok := d["shape"].([]int64)
	if !ok {
		return h, npyError(name, "shape", ErrShape, "missing or not a tuple of integers")
	}
	total := int64(h.DType.Bits() / 8)
	for _, s := range shape {
		if s < 0 {
			return h, npyError(name, "shape", ErrShape, "negative dimension %d", s)
		}
		if s > 0 && total > math.MaxInt64/s {
			return h, npyError(name, "shape", ErrShape, "shape %v overflows", shape)
		}
		total *= s
		h.Shape = append(h.Shape, int(s))
	}
	return h, nil
}

// npyDType maps a .npy descr to a floating-point DType and its byte order.
func npyDType(descr string) (DType, bool, error) {
	if len(descr) != 3 {
		return "", false, fmt.Errorf("dtype %q is not a floating-point type ('<f4', '<f2' or '<f8')", descr)
	}
	var big bool
	switch descr[0] {
	case '<', '=':
	case '>':
		big = true
	default:
		return "", false, fmt.Errorf("dtype %q: unknown byte order %q", descr, descr[0])
	}
	switch descr[1:] {
	case "f2":
		return F16, big, nil
	case "f4":
		return F32, big, nil
	case "f8":
		return F64, big, nil
	}
	return "", false, fmt.Errorf("dtype %q is not a floating-point type ('<f4', '<f2' or '<f8')", descr)
}

// ReadNPYHeader reads and checks the header of the .npy file of size bytes
// that r holds (ParseNPYHeader), then checks the array against the file:
// the data must be exactly the shape's elements (a shorter file is
// truncated, a longer one has trailing bytes), and a Fortran-order array of
// more than one dimension is refused. At most 12 + MaxNPYHeaderBytes bytes
// are read, whatever the header claims.
func ReadNPYHeader(r io.ReaderAt, size int64, name string) (NPYHeader, error) {
	pre := make([]byte, 12)
	n, err := r.ReadAt(pre, 0)
	if n < len(pre) && err != nil && !errors.Is(err, io.EOF) {
		return NPYHeader{}, fmt.Errorf("reading %s: %w", name, err)
	}
	pre = pre[:n]
	hlen := 0
	if n >= 10 && string(pre[:6]) == npyMagic {
		switch pre[6] {
		case 1:
			hlen = 10 + int(binary.LittleEndian.Uint16(pre[8:10]))
		case 2, 3:
			if n >= 12 {
				if l := binary.LittleEndian.Uint32(pre[8:12]); l <= MaxNPYHeaderBytes {
					hlen = 12 + int(l)
				}
			}
		}
	}
	b := pre
	if hlen > n && int64(hlen) <= size {
		b = make([]byte, hlen)
		m, err := r.ReadAt(b, 0)
		if m < hlen && err != nil && !errors.Is(err, io.EOF) {
			return NPYHeader{}, fmt.Errorf("reading %s: %w", name, err)
		}
		b = b[:m]
	}
	h, err := ParseNPYHeader(b, name)
	if err != nil {
		return h, err
	}
	if h.FortranOrder && len(h.Shape) > 1 {
		return h, npyError(name, "fortran_order", ErrShape,
			"the array is stored in Fortran (column) order; save it in C order (numpy.ascontiguousarray) to read its rows")
	}
	want := int64(h.Len()) * int64(h.DType.Bits()/8)
	have := size - h.DataOffset
	switch {
	case have < want:
		return h, npyError(name, "", ErrTruncated, "shape %v of %s needs %d data bytes, the file holds %d", h.Shape, h.Descr, want, have)
	case have > want:
		return h, npyError(name, "", ErrShape, "shape %v of %s needs %d data bytes, the file holds %d (trailing bytes)", h.Shape, h.Descr, want, have)
	}
	return h, nil
}

// NPYHeaderBytes returns the prelude and header of a C-order .npy file of
// dtype F32, F16 or F64 (little-endian) and the given shape: version 1.0,
// or 2.0 when the header does not fit 65535 bytes, padded with spaces to a
// multiple of 64 bytes and ended by a newline, as numpy.save writes it.
func NPYHeaderBytes(d DType, shape []int) ([]byte, error) {
	var descr string
	switch d {
	case F16:
		descr = "<f2"
	case F32:
		descr = "<f4"
	case F64:
		descr = "<f8"
	default:
		return nil, fmt.Errorf("npy: cannot write dtype %s (F16, F32 or F64)", d)
	}
	var sb strings.Builder
	sb.WriteString("{'descr': '" + descr + "', 'fortran_order': False, 'shape': (")
	for i, s := range shape {
		if s < 0 {
			return nil, fmt.Errorf("npy: negative dimension %d", s)
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Itoa(s))
	}
	if len(shape) == 1 {
		sb.WriteString(",")
	}
	sb.WriteString("), }")
	dict := sb.String()
	for _, v := range []struct {
		major, pre int
	}{{1, 10}, {2, 12}} {
		total := v.pre + len(dict) + 1
		total += (64 - total%64) % 64
		hlen := total - v.pre
		if v.major == 1 && hlen > math.MaxUint16 {
			continue
		}
		out := make([]byte, 0, total)
		out = append(out, npyMagic...)
		out = append(out, byte(v.major), 0)
		if v.major == 1 {
			out = binary.LittleEndian.AppendUint16(out, uint16(hlen))
		} else {
			out = binary.LittleEndian.AppendUint32(out, uint32(hlen))
		}
		out = append(out, dict...)
		for len(out) < total-1 {
			out = append(out, ' ')
		}
		return append(out, '\n'), nil
	}
	return nil, errors.New("npy: header too long")
}

// AppendFloats appends v as little-endian elements of dtype F32 (bit for
// bit), F16 (rounded to the nearest half, ties to even; beyond its range,
// infinity) or BF16 (rounded to nearest even) to dst. Any other dtype
// panics.
func AppendFloats(dst []byte, v []float32, d DType) []byte {
	switch d {
	case F32:
		for _, x := range v {
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
		}
	case F16:
		for _, x := range v {
			dst = binary.LittleEndian.AppendUint16(dst, Float32ToHalf(x))
		}
	case BF16:
		for _, x := range v {
			dst = binary.LittleEndian.AppendUint16(dst, Float32ToBFloat16(x))
		}
	default:
		panic("checkpoint: AppendFloats of dtype " + string(d))
	}
	return dst
}

// decodeFloats converts the little- or big-endian elements of dtype d in b
// to float32 in dst (len(dst) == len(b)/size): F32 bit for bit, F16 and BF16
// exactly, F64 rounded to nearest.
func decodeFloats(dst []float32, b []byte, d DType, big bool) {
	var bo binary.ByteOrder = binary.LittleEndian
	if big {
		bo = binary.BigEndian
	}
	switch d {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(bo.Uint32(b[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = halfToFloat32(bo.Uint16(b[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = bfloat16ToFloat32(bo.Uint16(b[2*i:]))
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(bo.Uint64(b[8*i:])))
		}
	default:
		panic("checkpoint: decodeFloats of dtype " + string(d))
	}
}

// Float32ToHalf rounds x to the nearest IEEE 754 binary16 value (ties to
// even), as numpy's astype(float16) does: values beyond the largest half
// (65504) round to infinity, NaN stays NaN (quiet), tiny values become
// subnormals or zero.
func Float32ToHalf(x float32) uint16 {
	b := math.Float32bits(x)
	sign := uint16(b>>16) & 0x8000
	exp := int((b >> 23) & 0xff)
	frac := b & 0x7fffff
	if exp == 0xff {
		if frac != 0 {
			return sign | 0x7e00 | uint16(frac>>13) // NaN, quiet
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal half (or zero): value = m * 2^(e-1-10) with the implicit bit.
		if e < -10 {
			return sign
		}
		m := frac | 0x800000
		shift := uint(14 - e) // 13 + (1 - e)
		half := m >> shift
		rem := m & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || rem == mid && half&1 == 1 {
			half++
		}
		return sign | uint16(half)
	}
	half := uint32(e)<<10 | frac>>13
	rem := frac & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && half&1 == 1 {
		half++ // may carry into the exponent, up to infinity: correct
	}
	return sign | uint16(half)
}

// Float32ToBFloat16 rounds x to the nearest bfloat16 (ties to even), as
// PyTorch's x.to(torch.bfloat16) does; NaN stays NaN.
func Float32ToBFloat16(x float32) uint16 {
	b := math.Float32bits(x)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40 // quiet NaN
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// clipText shortens s to at most n bytes for an error message.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// parsePyDict parses the Python literal of a .npy header: a dict whose keys
// are strings and whose values are strings, True/False, integers or tuples of
// integers (the only forms numpy writes for a plain array). Values are
// string, bool, int64 or []int64. Nesting is one level; anything else is an
// error.
func parsePyDict(s string) (map[string]any, error) {
	p := &pyParser{s: s}
	p.space()
	if !p.eat('{') {
		return nil, errors.New("not a dict")
	}
	out := map[string]any{}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		k, err := p.str()
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("duplicate key %q", k)
		}
		p.space()
		if !p.eat(':') {
			return nil, fmt.Errorf("want ':' after key %q", k)
		}
		p.space()
		v, err := p.value()
		if err != nil {
			return nil, fmt.Errorf("value of %q: %w", k, err)
		}
		out[k] = v
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if !p.eat('}') {
			return nil, fmt.Errorf("want ',' or '}' after the value of %q", k)
		}
		break
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("unexpected text after the dict at byte %d", p.i)
	}
	return out, nil
}

type pyParser struct {
	s string
	i int
}

func (p *pyParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *pyParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str parses a quoted string without escapes (numpy's descr and keys have none).
func (p *pyParser) str() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", errors.New("want a quoted string")
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	if strings.IndexByte(v, '\\') >= 0 {
		return "", errors.New("escapes in strings are not supported")
	}
	p.i += end + 2
	return v, nil
}

func (p *pyParser) value() (any, error) {
	if p.i >= len(p.s) {
		return nil, errors.New("missing value")
	}
	switch c := p.s[p.i]; {
	case c == '\'' || c == '"':
		return p.str()
	case strings.HasPrefix(p.s[p.i:], "True"):
		p.i += 4
		return true, nil
	case strings.HasPrefix(p.s[p.i:], "False"):
		p.i += 5
		return false, nil
	case c == '(':
		p.i++
		var out []int64
		for {
			p.space()
			if p.eat(')') {
				return append([]int64{}, out...), nil
			}
			v, err := p.int()
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			if len(out) > 32 {
				return nil, errors.New("more than 32 dimensions")
			}
			p.space()
			if p.eat(',') {
				continue
			}
			p.space()
			if !p.eat(')') {
				return nil, errors.New("want ',' or ')' in a tuple")
			}
			if len(out) == 1 {
				return nil, errors.New("a one-element tuple needs a trailing comma")
			}
			return out, nil
		}
	case c == '-' || c >= '0' && c <= '9':
		return p.int()
	}
	return nil, fmt.Errorf("unsupported value at byte %d", p.i)
}

func (p *pyParser) int() (int64, error) {
	j := p.i
	if j < len(p.s) && p.s[j] == '-' {
		j++
	}
	for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
		j++
	}
	v, err := strconv.ParseInt(p.s[p.i:j], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("integer %q: out of range or malformed", clipText(p.s[p.i:j], 40))
	}
	p.i = j
	if p.i < len(p.s) && (p.s[p.i] == 'L' || p.s[p.i] == 'l') {
		p.i++ // Python 2 long
	}
	return v, nil
}
