package bpe

import (
	"unicode"
	"unicode/utf8"
)

// addedToken is one entry of tokenizer.json's added_tokens.
type addedToken struct {
	Content    string `json:"content"`
	ID         int    `json:"id"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// trie is a byte trie over the contents of a set of added tokens, for
// leftmost-longest matching (the aho-corasick MatchKind::LeftmostLongest of
// Hugging Face tokenizers' AddedVocabulary).
type trie struct {
	next  []map[byte]int32 // node -> byte -> child
	token []int32          // node -> index into the added tokens, or -1
}

func newTrie() *trie {
	return &trie{next: []map[byte]int32{nil}, token: []int32{-1}}
}

func (t *trie) add(s string, tok int32) {
	n := int32(0)
	for i := 0; i < len(s); i++ {
		c, ok := t.next[n][s[i]]
		if !ok {
			if t.next[n] == nil {
				t.next[n] = map[byte]int32{}
			}
			c = int32(len(t.next))
			t.next = append(t.next, nil)
			t.token = append(t.token, -1)
			t.next[n][s[i]] = c
		}
		n = c
	}
	if t.token[n] < 0 { // the first token with this content wins
		t.token[n] = tok
	}
}

func (t *trie) empty() bool { return len(t.next) == 1 }

// longestAt returns the added token and end of the longest match starting
// at s[i:], or -1.
func (t *trie) longestAt(s string, i int) (tok int32, end int) {
	tok, n := -1, int32(0)
	for j := i; j < len(s); j++ {
		c, ok := t.next[n][s[j]]
		if !ok {
			break
		}
		n = c
		if t.token[n] >= 0 {
			tok, end = t.token[n], j+1
		}
	}
	return tok, end
}

// segment is a piece of the input: either an added token (tok >= 0) or
// text still to be normalized and pre-tokenized (tok = -1).
type segment struct {
	text string
	tok  int32
}

// splitAdded splits s at the added tokens of t, as AddedVocabulary's
// find_matches does: non-overlapping leftmost-longest matches, left to
// right; a single_word token that touches a word character on either side
// is not a match (the text stays ordinary text); lstrip and rstrip make the
// token also take the whitespace to its left and right. A match that would
// start inside the whitespace the previous token's rstrip took is dropped.
func splitAdded(dst []segment, s string, t *trie, tokens []addedToken) []segment {
	if t.empty() {
		return append(dst, segment{s, -1})
	}
	last := 0 // end of the previous emitted token
	for i := 0; i < len(s); {
		tok, end := t.longestAt(s, i)
		if tok < 0 {
			i++
			continue
		}
		start, stop := i, end
		i = end
		at := tokens[tok]
		if at.SingleWord {
			if (start > 0 && endsWithWord(s[:start])) || (stop < len(s) && startsWithWord(s[stop:])) {
				continue
			}
		}
		if start < last {
			continue
		}
		if at.LStrip {
			start = max(leftmostSpaceAtEnd(s[:start]), last)
		}
		if at.RStrip {
			stop += rightmostSpaceAtStart(s[stop:])
		}
		if last < start {
			dst = append(dst, segment{s[last:start], -1})
		}
		dst = append(dst, segment{s[start:stop], tok})
		last = stop
		if i < stop {
			i = stop
		}
	}
	if last < len(s) || len(s) == 0 {
		dst = append(dst, segment{s[last:], -1})
	}
	return dst
}

// isWord reports whether r is matched by \w of Rust's regex crate (Unicode:
// Alphabetic, Mark, Decimal_Number, Connector_Punctuation, Join_Control).
func isWord(r rune) bool {
	return unicode.In(r, unicode.L, unicode.Nl, unicode.Other_Alphabetic, unicode.M, unicode.Nd, unicode.Pc) ||
		r == 0x200C || r == 0x200D
}

func endsWithWord(s string) bool {
	r, n := utf8.DecodeLastRuneInString(s)
	return n > 0 && isWord(r)
}

func startsWithWord(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	return n > 0 && isWord(r)
}

// leftmostSpaceAtEnd is the start of the run of white space that ends s.
func leftmostSpaceAtEnd(s string) int {
	i := len(s)
	for i > 0 {
		r, n := utf8.DecodeLastRuneInString(s[:i])
		if !unicode.IsSpace(r) {
			break
		}
		i -= n
	}
	return i
}

// rightmostSpaceAtStart is the length of the run of white space that starts s.
func rightmostSpaceAtStart(s string) int {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) {
			break
		}
		i += n
	}
	return i
}
