package policy

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/env"
)

// Tokenizer kinds (Tokenizer.Kind), as config.json's gradcouple.tokenizer
// records them.
const (
	TokenizerWord = checkpoint.TokenizerWord // word-level: NewTokenizer
	TokenizerChar = checkpoint.TokenizerChar // character-level: NewCharTokenizer
)

// CharNormalize is the text the character tokenizer reads: text lowercased
// (strings.ToLower) with every white-space rune (unicode.IsSpace) other
// than the newline replaced by a space. Runs of white space are kept: each
// space is a token.
func CharNormalize(text string) string {
	return strings.Map(func(r rune) rune {
		if r != '\n' && unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, strings.ToLower(text))
}

// isCharToken reports whether s is one rune that CharNormalize leaves as
// it is, so that the character tokenizer's Encode can produce it.
func isCharToken(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	return n == len(s) && r != utf8.RuneError && CharNormalize(s) == s
}

// NewCharTokenizer builds a character-level vocabulary: the special tokens
// with ids 0-5 (the same as the word tokenizer's; "good" and "bad" are
// verdict targets only, never produced from text), then the space, the
// newline and every other distinct character of CharNormalize of the texts,
// in increasing byte order, with ids from 6. The result depends only on the
// set of characters. Given the words of an environment (env.Words), whose
// prompts and actions are these words separated by spaces and newlines, it
// reads every prompt and action without <unk>; a new name made of known
// letters is a new sequence of known tokens (it composes), where the word
// tokenizer needs a row of its own for it.
func NewCharTokenizer(texts []string) *Tokenizer {
	chars := []string{" ", "\n"}
	for _, t := range texts {
		for _, r := range CharNormalize(t) {
			chars = append(chars, string(r))
		}
	}
	slices.Sort(chars)
	chars = slices.Compact(chars)
	tok := &Tokenizer{kind: TokenizerChar, tokens: append([]string(nil), specialTokens[:]...), ids: map[string]int{}}
	for i, s := range specialTokens {
		tok.ids[s] = i
	}
	for _, c := range chars {
		if c == string(utf8.RuneError) {
			continue // invalid UTF-8 in the texts: <unk>
		}
		tok.ids[c] = len(tok.tokens)
		tok.tokens = append(tok.tokens, c)
	}
	return tok
}

// CharTokenizerFromTokens returns the character tokenizer whose token of
// id i is tokens[i]. The special tokens must have their fixed ids 0-5, and
// every other token must be distinct and one character that CharNormalize
// keeps (lowercase; of white space only the space and the newline);
// otherwise the error names the token.
func CharTokenizerFromTokens(tokens []string) (*Tokenizer, error) {
	return tokenizerFromTokens(TokenizerChar, tokens)
}

// EnvCharTokenizer is EnvTokenizer's character-level twin:
// NewCharTokenizer over the union of env.Words of the named environments
// (all bundled environments if none is named).
func EnvCharTokenizer(names ...string) (*Tokenizer, error) {
	if len(names) == 0 {
		names = env.Names()
	}
	var words []string
	for _, name := range names {
		w := env.Words(name)
		if w == nil {
			return nil, fmt.Errorf("policy: unknown environment %q (want one of %v)", name, env.Names())
		}
		words = append(words, w...)
	}
	return NewCharTokenizer(words), nil
}

// appendEncodeChars appends the ids of the characters of CharNormalize(text).
func (t *Tokenizer) appendEncodeChars(dst []int, text string) []int {
	var buf [utf8.UTFMax]byte
	for _, r := range CharNormalize(text) {
		n := utf8.EncodeRune(buf[:], r)
		id, ok := t.ids[string(buf[:n])]
		if !ok || id < numSpecial {
			id = UnkID
		}
		dst = append(dst, id)
	}
	return dst
}
