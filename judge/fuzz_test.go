package judge

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseVerdict: any answer parses without panicking; a verdict of good
// or bad comes only from an answer of exactly two non-empty lines whose
// first line is that word, and its reason is one line; an unknown verdict
// keeps at most 200 bytes of the answer, valid UTF-8 when the answer was.
func FuzzParseVerdict(f *testing.F) {
	for _, s := range []string{"good\nthe apple is on the way", "BAD.\nloops", "**Good**\nok", "good", "I cannot judge this.",
		"good\n\nreason", "bad\nr\nextra", strings.Repeat("x", 300), "g\xffood\nr"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, answer string) {
		v, reason := ParseVerdict(answer)
		switch v {
		case Good, Bad:
			lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(answer, "\r\n", "\n")), "\n")
			if len(lines) != 2 || reason == "" || strings.Contains(reason, "\n") {
				t.Fatalf("%q: verdict %v from %d lines, reason %q", answer, v, len(lines), reason)
			}
			word := strings.ToLower(lines[0])
			if !strings.Contains(word, v.String()) {
				t.Fatalf("%q: verdict %v not in the first line", answer, v)
			}
		case Unknown:
			if len(reason) > 200 {
				t.Fatalf("%q: unknown reason of %d bytes", answer, len(reason))
			}
			if utf8.ValidString(answer) && !utf8.ValidString(reason) {
				t.Fatalf("%q: reason %q is not valid UTF-8", answer, reason)
			}
		default:
			t.Fatalf("%q: verdict %v", answer, v)
		}
	})
}

// FuzzParseTemplate: a user's template file parses to a template that
// renders the action, or to an error; never a panic.
func FuzzParseTemplate(f *testing.F) {
	f.Add(defaultTemplate)
	f.Add("{{.Action}}")
	f.Add("{{.Nope}} {{.Action}}")
	f.Add("{{define \"a\"}}{{template \"a\"}}{{end}}{{template \"a\"}}{{.Action}}")
	f.Add("{{if .Structured}}{{.Task}}{{else}}{{.Prompt}}{{end}}")
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 4096 {
			return
		}
		tp, err := ParseTemplate("fuzz.txt", text)
		if err != nil {
			return
		}
		out, err := tp.Render(Fields{Prompt: "p", Action: "the-action-xyz"})
		if err != nil {
			t.Fatalf("%q: parsed, then failed to render: %v", text, err)
		}
		_ = out
	})
}
