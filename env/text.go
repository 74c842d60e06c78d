package env

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tokens splits text into word tokens by the rule the vocabulary (Words) and
// the prompt statistics use: the text is lowercased (strings.ToLower); a token
// is then a maximal run of ASCII letters a-z, a maximal run of ASCII digits
// 0-9, or any other single non-space rune (punctuation such as "." "," ":" "["
// "]" "/" "-" is one token per character). White space (unicode.IsSpace)
// separates tokens and is not a token. "take apple 1 from countertop 1." is
// ["take" "apple" "1" "from" "countertop" "1" "."]; "-18" is ["-" "18"].
func Tokens(text string) []string {
	return AppendTokens(nil, text)
}

// AppendTokens appends the tokens of text (see Tokens) to dst and returns it.
func AppendTokens(dst []string, text string) []string {
	text = strings.ToLower(text)
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case isLetter(c):
			j := i + 1
			for j < len(text) && isLetter(text[j]) {
				j++
			}
			dst = append(dst, text[i:j])
			i = j
		case isDigit(c):
			j := i + 1
			for j < len(text) && isDigit(text[j]) {
				j++
			}
			dst = append(dst, text[i:j])
			i = j
		default:
			r, n := utf8.DecodeRuneInString(text[i:])
			if !unicode.IsSpace(r) {
				dst = append(dst, text[i:i+n])
			}
			i += n
		}
	}
	return dst
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// ParseAction extracts an action from free text, such as a model's output,
// and puts it in the canonical form of Env.Admissible:
//
//   - if the text contains "</action>", only what lies between the last
//     "</action>" and the "<action>" before it is kept (verl-agent's output
//     format); a "<think>...</think>" block before it is thereby dropped;
//   - a leading "action:" or ">" marker is dropped;
//   - the text is lowercased, every run of white space becomes one space, and
//     leading and trailing spaces and trailing periods are removed.
//
// ParseAction never fails: text that is no action at all comes back in
// canonical form and is then simply not admissible ("Nothing happens.").
// Every admissible action is a fixed point: ParseAction(a) == a.
func ParseAction(text string) string {
	lower := strings.ToLower(text)
	if end := strings.LastIndex(lower, "</action>"); end >= 0 {
		lower = lower[:end]
		if start := strings.LastIndex(lower, "<action>"); start >= 0 {
			lower = lower[start+len("<action>"):]
		}
	}
	s := strings.Join(strings.Fields(lower), " ")
	if rest, ok := strings.CutPrefix(s, "action:"); ok {
		s = strings.TrimSpace(rest)
	} else if rest, ok := strings.CutPrefix(s, ">"); ok {
		s = strings.TrimSpace(rest)
	}
	for strings.HasSuffix(s, ".") {
		s = strings.TrimSpace(strings.TrimSuffix(s, "."))
	}
	return s
}

// listText joins items ALFWorld's way: "a x", "a x, and a y",
// "a x, a y, and a z"; empty gives "nothing".
func listText(items []string) string {
	switch len(items) {
	case 0:
		return "nothing"
	case 1:
		return items[0]
	}
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		if i == len(items)-1 {
			b.WriteString("and ")
		}
		b.WriteString(it)
	}
	return b.String()
}
