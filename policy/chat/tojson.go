package chat

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/ardanlabs/jinja"
)

// tojsonName is the name the tojson filter is renamed to in a template's
// source (see renameToJSON): the engine's own tojson sorts keys, escapes
// <, > and & and formats floats the Go way when given indent, so it is
// replaced by pyJSON, transformers' tojson.
const tojsonName = "gradcouple_tojson"

// renameToJSON renames the filter "tojson" to tojsonName inside the
// template's {{ }} and {% %} tags (outside string literals); the template's
// literal text and comments are left alone.
func renameToJSON(src string) string {
	var b strings.Builder
	i := 0
	for i < len(src) {
		open := strings.IndexAny(src[i:], "{")
		if open < 0 || i+open+1 >= len(src) {
			b.WriteString(src[i:])
			break
		}
		open += i
		kind := src[open+1]
		var closer string
		switch kind {
		case '{':
			closer = "}}"
		case '%':
			closer = "%}"
		case '#':
			closer = "#}"
		default:
			b.WriteString(src[i : open+1])
			i = open + 1
			continue
		}
		b.WriteString(src[i : open+2])
		j := open + 2
		if kind == '#' {
			end := strings.Index(src[j:], closer)
			if end < 0 {
				b.WriteString(src[j:])
				return b.String()
			}
			b.WriteString(src[j : j+end+2])
			i = j + end + 2
			continue
		}
		// Inside a tag: copy, renaming "| tojson" outside string literals.
		for j < len(src) {
			c := src[j]
			switch {
			case c == '"' || c == '\'':
				k := j + 1
				for k < len(src) && src[k] != c {
					if src[k] == '\\' {
						k++
					}
					k++
				}
				k = min(k+1, len(src))
				b.WriteString(src[j:k])
				j = k
				continue
			case strings.HasPrefix(src[j:], closer):
				b.WriteString(closer)
				j += 2
				i = j
				goto next
			case c == '|':
				k := j + 1
				for k < len(src) && (src[k] == ' ' || src[k] == '\t' || src[k] == '\n') {
					k++
				}
				if strings.HasPrefix(src[k:], "tojson") && !isIdent(src, k+len("tojson")) {
					b.WriteString(src[j:k])
					b.WriteString(tojsonName)
					j = k + len("tojson")
					continue
				}
			}
			b.WriteByte(c)
			j++
		}
		i = j
	next:
	}
	return b.String()
}

func isIdent(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	c := s[i]
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// pyJSON is transformers' tojson filter: json.dumps(x,
// ensure_ascii=False, indent=None, separators=None, sort_keys=False), with
// the keyword arguments passed through. Object keys keep their order.
func pyJSON(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) != 1 {
		return jinja.Value{}, fmt.Errorf("tojson: want one value, got %d arguments", len(args))
	}
	e := jsonEncoder{itemSep: ", ", keySep: ": "}
	for k, v := range kwargs {
		switch k {
		case "indent":
			switch {
			case v.IsNone() || v.IsUndefined():
			case v.IsInt():
				e.indent, e.indented = strings.Repeat(" ", int(max(v.AsInt(), 0))), true
			case v.IsString():
				e.indent, e.indented = v.AsString(), true
			default:
				return jinja.Value{}, fmt.Errorf("tojson: indent must be an integer or a string")
			}
		case "ensure_ascii":
			e.ascii = v.IsTruthy()
		case "sort_keys":
			e.sortKeys = v.IsTruthy()
		case "separators":
		default:
			return jinja.Value{}, fmt.Errorf("tojson: unknown argument %q", k)
		}
	}
	if e.indented {
		e.itemSep = ","
	}
	if sep, ok := kwargs["separators"]; ok && !sep.IsNone() {
		if !sep.IsList() || sep.AsList().Len() != 2 || !sep.AsList().Items[0].IsString() || !sep.AsList().Items[1].IsString() {
			return jinja.Value{}, fmt.Errorf("tojson: separators must be two strings")
		}
		e.itemSep, e.keySep = sep.AsList().Items[0].AsString(), sep.AsList().Items[1].AsString()
	}
	if err := e.encode(args[0], 0); err != nil {
		return jinja.Value{}, err
	}
	return jinja.NewString(e.b.String()), nil
}

type jsonEncoder struct {
	b               strings.Builder
	itemSep, keySep string
	indent          string
	indented        bool
	ascii, sortKeys bool
}

func (e *jsonEncoder) newline(depth int) {
	if e.indented {
		e.b.WriteByte('\n')
		for range depth {
			e.b.WriteString(e.indent)
		}
	}
}

func (e *jsonEncoder) encode(v jinja.Value, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("tojson: nested deeper than %d", maxDepth)
	}
	switch {
	case v.IsNone() || v.IsUndefined():
		e.b.WriteString("null")
	case v.IsBool():
		e.b.WriteString(strconv.FormatBool(v.AsBool()))
	case v.IsInt():
		e.b.WriteString(strconv.FormatInt(v.AsInt(), 10))
	case v.IsFloat():
		s, err := pyFloat(v.AsFloat())
		if err != nil {
			return err
		}
		e.b.WriteString(s)
	case v.IsString():
		e.str(v.AsString())
	case v.IsList():
		items := v.AsList().Items
		if len(items) == 0 {
			e.b.WriteString("[]")
			return nil
		}
		e.b.WriteByte('[')
		for i, it := range items {
			if i > 0 {
				e.b.WriteString(e.itemSep)
			}
			e.newline(depth + 1)
			if err := e.encode(it, depth+1); err != nil {
				return err
			}
		}
		e.newline(depth)
		e.b.WriteByte(']')
	case v.IsDict():
		d := v.AsDict()
		keys := d.OrderedKeys()
		if len(keys) == 0 {
			e.b.WriteString("{}")
			return nil
		}
		if e.sortKeys {
			keys = append([]string(nil), keys...)
			sort.Strings(keys)
		}
		e.b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				e.b.WriteString(e.itemSep)
			}
			e.newline(depth + 1)
			e.str(k)
			e.b.WriteString(e.keySep)
			val, _ := d.Get(k)
			if err := e.encode(val, depth+1); err != nil {
				return err
			}
		}
		e.newline(depth)
		e.b.WriteByte('}')
	default:
		return fmt.Errorf("tojson: cannot encode a %s", v.String())
	}
	return nil
}

// str writes s as Python's json.dumps does: escapes for ", \ and the
// control characters below U+0020 (\n \r \t \b \f by name, others \u00XX);
// with ensure_ascii also every non-ASCII character (\uXXXX, surrogate pairs
// above U+FFFF).
func (e *jsonEncoder) str(s string) {
	e.b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			e.b.WriteString(`\"`)
		case r == '\\':
			e.b.WriteString(`\\`)
		case r == '\n':
			e.b.WriteString(`\n`)
		case r == '\r':
			e.b.WriteString(`\r`)
		case r == '\t':
			e.b.WriteString(`\t`)
		case r == '\b':
			e.b.WriteString(`\b`)
		case r == '\f':
			e.b.WriteString(`\f`)
		case r < 0x20:
			fmt.Fprintf(&e.b, `\u%04x`, r)
		case e.ascii && r > 0x7e:
			if r >= 0x10000 {
				r -= 0x10000
				fmt.Fprintf(&e.b, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
			} else {
				fmt.Fprintf(&e.b, `\u%04x`, r)
			}
		default:
			e.b.WriteRune(r)
		}
	}
	e.b.WriteByte('"')
}

// pyFloat formats f as Python's repr(float) (json.dumps uses it): the
// shortest digits that round-trip, fixed notation with at least one
// decimal when the exponent is in [-4, 16), else e-notation with a signed
// two-digit exponent. NaN and infinities are an error (json.dumps would
// write NaN/Infinity, which is not JSON).
func pyFloat(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("tojson: cannot encode %v", f)
	}
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0", nil
		}
		return "0.0", nil
	}
	exp := int(math.Floor(math.Log10(math.Abs(f))))
	sci := strconv.FormatFloat(f, 'e', -1, 64)
	if k := strings.IndexByte(sci, 'e'); k >= 0 {
		exp, _ = strconv.Atoi(sci[k+1:])
	}
	if exp >= -4 && exp < 16 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.ContainsRune(s, '.') {
			s += ".0"
		}
		return s, nil
	}
	return sci, nil
}
