package adapter

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds a small JSON parser for the dialect Python's json module
// writes. verl and rLLM dump their logs with json.dumps, whose default
// allow_nan=True writes float('nan') and float('inf') as the bare tokens NaN,
// Infinity and -Infinity, which encoding/json rejects as a syntax error. Parsing
// them here lets the adapters say "field score is NaN on line 3" instead of
// "invalid character 'N'". Every value also records the line it starts on, so
// errors in pretty-printed rLLM episode files name a line.

// jkind is the kind of a parsed JSON value.
type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

func (k jkind) String() string {
	switch k {
	case jNull:
		return "null"
	case jBool:
		return "a boolean"
	case jNumber:
		return "a number"
	case jString:
		return "a string"
	case jArray:
		return "an array"
	case jObject:
		return "an object"
	}
	return "unknown"
}

// jvalue is one parsed JSON value.
type jvalue struct {
	kind jkind
	line int64 // 1-based line of the value's first byte

	b   bool
	num float64 // NaN or ±Inf for the Python tokens and for overflowing literals
	raw string  // number literal as written
	str string

	elems []*jvalue // array elements
	keys  []string  // object keys in input order
	vals  []*jvalue // object values, parallel to keys
}

// get returns the value of key in object v, or nil when v is not an object or
// has no such key. A repeated key resolves to its last occurrence, as in
// Python's json.loads.
func (v *jvalue) get(key string) *jvalue {
	if v == nil || v.kind != jObject {
		return nil
	}
	for i := len(v.keys) - 1; i >= 0; i-- {
		if v.keys[i] == key {
			return v.vals[i]
		}
	}
	return nil
}

// present reports whether v exists and is not JSON null.
func (v *jvalue) present() bool { return v != nil && v.kind != jNull }

// isInteger reports whether a number value is an integer (3, 3.0, 3e0).
func (v *jvalue) isInteger() bool {
	return v.kind == jNumber && !math.IsInf(v.num, 0) && !math.IsNaN(v.num) && v.num == math.Trunc(v.num)
}

// appendJSON appends compact JSON text for v to dst, keys in input order.
// Non-finite numbers are written as Python writes them (NaN, Infinity).
func (v *jvalue) appendJSON(dst []byte) []byte {
	switch v.kind {
	case jNull:
		return append(dst, "null"...)
	case jBool:
		return strconv.AppendBool(dst, v.b)
	case jNumber:
		return append(dst, v.raw...)
	case jString:
		return strconv.AppendQuote(dst, v.str)
	case jArray:
		dst = append(dst, '[')
		for i, e := range v.elems {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = e.appendJSON(dst)
		}
		return append(dst, ']')
	case jObject:
		dst = append(dst, '{')
		for i, k := range v.keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendQuote(dst, k)
			dst = append(dst, ':')
			dst = v.vals[i].appendJSON(dst)
		}
		return append(dst, '}')
	}
	return dst
}

// maxJSONDepth bounds the nesting of arrays and objects so that a hostile
// input cannot exhaust the stack.
const maxJSONDepth = 512

// jsonError is a syntax error at a line of the input.
type jsonError struct {
	line int64
	msg  string
}

func (e *jsonError) Error() string { return e.msg }

type jparser struct {
	data  []byte
	pos   int
	line  int64
	depth int
}

// parsePyJSON parses one JSON value (Python dialect) filling all of data.
// firstLine is the line number of data[0] in the enclosing file.
func parsePyJSON(data []byte, firstLine int64) (*jvalue, error) {
	p := &jparser{data: data, line: firstLine}
	p.skipSpace()
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.data) {
		return nil, p.errorf("unexpected %s after the JSON value", p.describe())
	}
	return v, nil
}

func (p *jparser) errorf(format string, args ...any) error {
	return &jsonError{line: p.line, msg: fmt.Sprintf(format, args...)}
}

// describe names the byte at the current position for error messages.
func (p *jparser) describe() string {
	if p.pos >= len(p.data) {
		return "end of input"
	}
	c := p.data[p.pos]
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("character %q", c)
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (p *jparser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case '\n':
			p.line++
		case ' ', '\t', '\r':
		default:
			return
		}
		p.pos++
	}
}

func (p *jparser) value() (*jvalue, error) {
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of input (truncated JSON?)")
	}
	line := p.line
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return &jvalue{kind: jString, line: line, str: s}, nil
	case c == 't':
		return p.literal("true", &jvalue{kind: jBool, line: line, b: true})
	case c == 'f':
		return p.literal("false", &jvalue{kind: jBool, line: line})
	case c == 'n':
		return p.literal("null", &jvalue{kind: jNull, line: line})
	case c == 'N':
		return p.literal("NaN", &jvalue{kind: jNumber, line: line, num: math.NaN(), raw: "NaN"})
	case c == 'I':
		return p.literal("Infinity", &jvalue{kind: jNumber, line: line, num: math.Inf(1), raw: "Infinity"})
	case c == '-' && p.pos+1 < len(p.data) && p.data[p.pos+1] == 'I':
		return p.literal("-Infinity", &jvalue{kind: jNumber, line: line, num: math.Inf(-1), raw: "-Infinity"})
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return nil, p.errorf("unexpected %s where a JSON value was expected", p.describe())
}

func (p *jparser) literal(word string, v *jvalue) (*jvalue, error) {
	if !bytes.HasPrefix(p.data[p.pos:], []byte(word)) {
		return nil, p.errorf("unexpected %s where a JSON value was expected", p.describe())
	}
	p.pos += len(word)
	return v, nil
}

func (p *jparser) enter() error {
	p.depth++
	if p.depth > maxJSONDepth {
		return p.errorf("JSON nested deeper than %d levels", maxJSONDepth)
	}
	return nil
}

func (p *jparser) object() (*jvalue, error) {
	v := &jvalue{kind: jObject, line: p.line}
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.pos++ // '{'
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.depth--
		return v, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			if p.pos >= len(p.data) {
				return nil, p.errorf("unexpected end of input inside an object (truncated JSON?)")
			}
			return nil, p.errorf("unexpected %s where an object key was expected", p.describe())
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errorf("expected ':' after object key %q, found %s", k, p.describe())
		}
		p.pos++
		p.skipSpace()
		e, err := p.value()
		if err != nil {
			return nil, err
		}
		v.keys = append(v.keys, k)
		v.vals = append(v.vals, e)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of input inside an object (truncated JSON?)")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			p.depth--
			return v, nil
		default:
			return nil, p.errorf("expected ',' or '}' in an object, found %s", p.describe())
		}
	}
}

func (p *jparser) array() (*jvalue, error) {
	v := &jvalue{kind: jArray, line: p.line}
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.pos++ // '['
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.depth--
		return v, nil
	}
	for {
		p.skipSpace()
		e, err := p.value()
		if err != nil {
			return nil, err
		}
		v.elems = append(v.elems, e)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of input inside an array (truncated JSON?)")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			p.depth--
			return v, nil
		default:
			return nil, p.errorf("expected ',' or ']' in an array, found %s", p.describe())
		}
	}
}

func (p *jparser) number() (*jvalue, error) {
	start, line := p.pos, p.line
	d := p.data
	i := p.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case digits() == 0:
		p.pos = i
		return nil, p.errorf("malformed number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			p.pos = i
			return nil, p.errorf("malformed number: no digits after the decimal point")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.pos = i
			return nil, p.errorf("malformed number: no digits in the exponent")
		}
	}
	p.pos = i
	raw := string(d[start:i])
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil && !isRangeError(err) {
		return nil, p.errorf("malformed number %q", raw)
	}
	// A range error leaves ±Inf (overflow) or ±0 (underflow) in f, which is
	// what Python's float() gives for the same literal.
	return &jvalue{kind: jNumber, line: line, num: f, raw: raw}, nil
}

func isRangeError(err error) bool { return errors.Is(err, strconv.ErrRange) }

// str parses a string literal at p.pos (which holds '"').
func (p *jparser) str() (string, error) {
	p.pos++ // opening quote
	d := p.data
	var sb strings.Builder
	for {
		// Copy the run of bytes that need no decoding.
		start := p.pos
		for p.pos < len(d) {
			c := d[p.pos]
			if c == '"' || c == '\\' || c < 0x20 {
				break
			}
			p.pos++
		}
		sb.Write(d[start:p.pos])
		if p.pos >= len(d) {
			return "", p.errorf("unexpected end of input inside a string (truncated JSON?)")
		}
		c := d[p.pos]
		switch {
		case c == '"':
			p.pos++
			// Invalid UTF-8 is kept as it is, for the adapters to refuse
			// with the field it is in (see checkText).
			return sb.String(), nil
		case c < 0x20:
			return "", p.errorf("control byte 0x%02x inside a string", c)
		}
		// Escape sequence.
		if p.pos+1 >= len(d) {
			return "", p.errorf("unexpected end of input inside a string (truncated JSON?)")
		}
		e := d[p.pos+1]
		p.pos += 2
		switch e {
		case '"', '\\', '/':
			sb.WriteByte(e)
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.errorf("malformed \\u escape in a string")
			}
			if utf16.IsSurrogate(r) {
				// A high surrogate followed by a low one is one code point.
				if p.pos+1 < len(d) && d[p.pos] == '\\' && d[p.pos+1] == 'u' {
					save := p.pos
					p.pos += 2
					if r2, ok := p.hex4(); ok {
						if c := utf16.DecodeRune(r, r2); c != utf8.RuneError {
							sb.WriteRune(c)
							continue
						}
					}
					p.pos = save
				}
				// A lone surrogate is how Python's json writes bytes it could
				// not decode (surrogateescape). It is kept as its three-byte
				// (invalid UTF-8) encoding, for checkText to refuse instead of
				// being silently replaced by U+FFFD.
				sb.WriteByte(byte(0xE0 | r>>12))
				sb.WriteByte(byte(0x80 | (r>>6)&0x3F))
				sb.WriteByte(byte(0x80 | r&0x3F))
				continue
			}
			sb.WriteRune(r)
		default:
			return "", p.errorf("invalid escape '\\%c' in a string", e)
		}
	}
}

// hex4 reads four hex digits at p.pos.
func (p *jparser) hex4() (rune, bool) {
	if p.pos+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}
