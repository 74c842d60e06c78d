package figure

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"
)

// errUnsafeSVG reports SVG that the report refuses to inline.
var errUnsafeSVG = errors.New("figure: SVG outside the allowed subset")

// svgAllowed lists the SVG elements gonum/plot's vgsvg writes, and for each
// the attributes it uses with a check of their values. Anything else (a
// script, a foreignObject, an event handler, an external reference) is
// refused, so a change in gonum/plot cannot slip active content into the
// report unnoticed.
var svgAllowed = map[string]map[string]func(string) bool{
	"svg":  {"width": isLength, "height": isLength, "viewBox": isNumbers},
	"g":    {"transform": isTransform},
	"path": {"d": isPathData, "style": isStyle},
	"text": {"x": isLength, "y": isLength, "transform": isTransform, "style": isStyle},
	"image": {"x": isLength, "y": isLength, "width": isLength, "height": isLength, "href": isDataImage, "transform": isTransform,
		"preserveAspectRatio": func(s string) bool { return s == "none" }, "style": isStyle},
}

func only(s, chars string) bool {
	for _, r := range s {
		if !strings.ContainsRune(chars, r) {
			return false
		}
	}
	return true
}

const digits = "0123456789.eE+-"

func isLength(s string) bool    { return only(s, digits+"pt%") }
func isNumbers(s string) bool   { return only(s, digits+" ,") }
func isPathData(s string) bool  { return only(s, digits+" ,MLAZmlaz") }
func isTransform(s string) bool { return only(s, digits+" ,()scaletranslaterotate") }

// isStyle accepts CSS declarations without functions, escapes, comments or
// at-rules: colours, widths, dashes and font descriptions.
func isStyle(s string) bool {
	return only(s, digits+" ,:;#%abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
}

func isDataImage(s string) bool {
	for _, p := range []string{"data:image/png;base64,"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			return only(rest, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
		}
	}
	return false
}

// inlineSVG re-serialises an SVG document from vgsvg for inlining in HTML:
// the XML prolog and comments are dropped, every element and attribute must
// be on the allow-list, text is escaped afresh, and the root gets role="img",
// the accessible name label (escaped), class "plot" and a width of pct
// percent of its container. Namespace
// declarations are dropped (HTML puts <svg> in the SVG namespace) and
// xlink:href becomes href.
func inlineSVG(src []byte, label string, pct int) (string, error) {
	d := xml.NewDecoder(bytes.NewReader(src))
	var b strings.Builder
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("%w: %v", errUnsafeSVG, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			attrs, ok := svgAllowed[name]
			if !ok || (t.Name.Space != "" && t.Name.Space != "http://www.w3.org/2000/svg") {
				return "", fmt.Errorf("%w: element <%s>", errUnsafeSVG, name)
			}
			if (depth == 0) != (name == "svg") {
				return "", fmt.Errorf("%w: <svg> must be the root, and only the root", errUnsafeSVG)
			}
			b.WriteString("<" + name)
			if depth == 0 {
				b.WriteString(` class="plot" role="img" aria-label="` + html.EscapeString(label) + `"`)
				b.WriteString(` style="width:` + strconv.Itoa(min(max(pct, 1), 100)) + `%"`)
			}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					continue
				}
				key := a.Name.Local
				if a.Name.Space != "" && !(a.Name.Space == "http://www.w3.org/1999/xlink" && key == "href") {
					return "", fmt.Errorf("%w: attribute %s:%s on <%s>", errUnsafeSVG, a.Name.Space, key, name)
				}
				check, ok := attrs[key]
				if !ok || !check(a.Value) {
					return "", fmt.Errorf("%w: attribute %s=%.40q on <%s>", errUnsafeSVG, key, a.Value, name)
				}
				b.WriteString(" " + key + `="` + html.EscapeString(a.Value) + `"`)
			}
			b.WriteString(">")
			depth++
		case xml.EndElement:
			b.WriteString("</" + t.Name.Local + ">")
			depth--
		case xml.CharData:
			if depth > 0 {
				b.WriteString(html.EscapeString(string(t)))
			}
		case xml.Comment, xml.ProcInst:
			// dropped
		case xml.Directive:
			return "", fmt.Errorf("%w: directive <!%s>", errUnsafeSVG, t)
		}
	}
	if depth != 0 || b.Len() == 0 {
		return "", fmt.Errorf("%w: unbalanced or empty document", errUnsafeSVG)
	}
	return b.String(), nil
}
