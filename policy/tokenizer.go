package policy

import (
	"fmt"
	"github.com/gradcouple/gradcouple/env"
	"io"
	"slices"
	"strings"

	"github.com/gradcouple/gradcouple/checkpoint"
)

// Special tokens and their fixed ids.
const (
	PadToken     = "<pad>"     // id 0: padding (never produced by Encode)
	UnkToken     = "<unk>"     // id 1: a word not in the vocabulary
	EOSToken     = "<eos>"     // id 2: end of an action
	VerdictToken = "<verdict>" // id 3: the verdict marker of GCD
	GoodToken    = "good"      // id 4: verdict target "good"
	BadToken     = "bad"       // id 5: verdict target "bad"
)

// Ids of the special tokens.
const (
	PadID = iota
	UnkID
	EOSID
	VerdictID
	GoodID
	BadID
	numSpecial
)

var specialTokens = [numSpecial]string{PadToken, UnkToken, EOSToken, VerdictToken, GoodToken, BadToken}

// Tokenizer maps text to token ids and back: the word-level tokenizer
// (NewTokenizer, TokenizerFromTokens) or the character-level one
// (NewCharTokenizer, CharTokenizerFromTokens); Kind says which (see the
// package documentation for both rules). Both put the special tokens at the
// same fixed ids. It is immutable and safe for concurrent use.
type Tokenizer struct {
	kind   string         // TokenizerWord or TokenizerChar
	tokens []string       // id -> token
	ids    map[string]int // token -> id
}

// NewTokenizer builds the vocabulary from texts: the special tokens with
// ids 0-5, then every distinct token (by Split) of the texts that is not a
// special token, in increasing byte order, with ids from 6. The result
// depends only on the set of tokens, not on the order or repetition of texts.
// A vocabulary of single words (such as env.Words) is its own token list.
func NewTokenizer(texts []string) *Tokenizer {
	var words []string
	for _, t := range texts {
		words = appendSplit(words, t)
	}
	slices.Sort(words)
	words = slices.Compact(words)
	tok := &Tokenizer{kind: TokenizerWord, tokens: append([]string(nil), specialTokens[:]...), ids: map[string]int{}}
	for i, s := range specialTokens {
		tok.ids[s] = i
	}
	for _, w := range words {
		if _, ok := tok.ids[w]; ok {
			continue
		}
		tok.ids[w] = len(tok.tokens)
		tok.tokens = append(tok.tokens, w)
	}
	return tok
}

// Kind is the tokenizer's kind, TokenizerWord or TokenizerChar, as
// config.json's gradcouple.tokenizer records it.
func (t *Tokenizer) Kind() string { return t.kind }

// Size is the number of tokens (the model's VocabSize).
func (t *Tokenizer) Size() int { return len(t.tokens) }

// Token returns the token of id; it panics if id is out of range.
func (t *Tokenizer) Token(id int) string { return t.tokens[id] }

// ID returns the id of token and whether it is in the vocabulary.
func (t *Tokenizer) ID(token string) (int, bool) {
	id, ok := t.ids[token]
	return id, ok
}

// Tokens returns the vocabulary in id order (a new slice).
func (t *Tokenizer) Tokens() []string { return slices.Clone(t.tokens) }

// Split splits text into tokens: the text is lowercased (strings.ToLower);
// a token is then a maximal run of ASCII letters a-z, a maximal run of ASCII
// digits 0-9, or any other single rune that is not white space (so each
// punctuation character is a token); white space (unicode.IsSpace) only
// separates tokens. This is the rule of env.Tokens. Special tokens are never
// recognised in text: "<eos>" splits into "<", "eos", ">".
func Split(text string) []string { return appendSplit(nil, text) }

func appendSplit(dst []string, text string) []string { return env.AppendTokens(dst, text) }

// Encode returns the ids of the tokens of text (Split for the word
// tokenizer, the characters of CharNormalize for the character one); a
// token not in the vocabulary becomes UnkID. It never returns PadID, EOSID
// or VerdictID, and the character tokenizer never GoodID or BadID either.
func (t *Tokenizer) Encode(text string) []int {
	return t.AppendEncode(nil, text)
}

// AppendEncode appends the ids of the tokens of text to dst.
func (t *Tokenizer) AppendEncode(dst []int, text string) []int {
	if t.kind == TokenizerChar {
		return t.appendEncodeChars(dst, text)
	}
	for _, w := range Split(text) {
		id, ok := t.ids[w]
		if !ok || id == PadID || id == EOSID || id == VerdictID {
			id = UnkID
		}
		dst = append(dst, id)
	}
	return dst
}

// Decode joins the tokens of ids into text. The word tokenizer separates
// tokens by one space, except that no space is written before "." "," ":"
// ";" "!" "?" ")" "]" or after "(" "[", nor on either side of "/" and "-";
// Decode(Encode(s)) == s for every admissible action of the bundled
// environments (lowercase words, numbers and "in/on"). The character
// tokenizer concatenates its characters, so Decode(Encode(s)) ==
// CharNormalize(s) whenever every character is in the vocabulary (every
// prompt and action of the environments it was built for). Special tokens
// are written as their names.
func (t *Tokenizer) Decode(ids []int) string {
	var b strings.Builder
	if t.kind == TokenizerChar {
		for _, id := range ids {
			b.WriteString(t.tokens[id])
		}
		return b.String()
	}
	prev := ""
	for i, id := range ids {
		s := t.tokens[id]
		if i > 0 && spaceBetween(prev, s) {
			b.WriteByte(' ')
		}
		b.WriteString(s)
		prev = s
	}
	return b.String()
}

func spaceBetween(prev, next string) bool {
	switch next {
	case ".", ",", ":", ";", "!", "?", ")", "]", "/", "-":
		return false
	}
	switch prev {
	case "(", "[", "/", "-":
		return false
	}
	return true
}

// WriteVocab writes the vocabulary as vocab.json in the Hugging Face form,
// a JSON object {token: id} in id order (checkpoint.MarshalVocab).
func (t *Tokenizer) WriteVocab(w io.Writer) error {
	b, err := checkpoint.MarshalVocab(t.tokens)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// ReadVocab reads a vocab.json (checkpoint.ReadVocab; name is the file
// name used in errors) and builds its word Tokenizer with
// TokenizerFromTokens (TokenizerOf reads either kind's token list).
func ReadVocab(r io.Reader, name string) (*Tokenizer, error) {
	tokens, err := checkpoint.ReadVocab(r, name)
	if err != nil {
		return nil, err
	}
	tok, err := TokenizerFromTokens(tokens)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return tok, nil
}

// TokenizerFromTokens returns the word tokenizer whose token of id i is
// tokens[i]. The special tokens must have their fixed ids 0-5, and every
// other token must be distinct and a single token under Split (so that
// Encode can produce it); otherwise the error names the token.
func TokenizerFromTokens(tokens []string) (*Tokenizer, error) {
	return tokenizerFromTokens(TokenizerWord, tokens)
}

// TokenizerOf returns the tokenizer of the given kind whose token of id i
// is tokens[i]: TokenizerFromTokens for TokenizerWord or "" (a checkpoint
// that does not name its tokenizer), CharTokenizerFromTokens for
// TokenizerChar. Another kind is an error.
func TokenizerOf(kind string, tokens []string) (*Tokenizer, error) {
	switch kind {
	case TokenizerWord, "":
		return tokenizerFromTokens(TokenizerWord, tokens)
	case TokenizerChar:
		return tokenizerFromTokens(TokenizerChar, tokens)
	}
	return nil, fmt.Errorf("policy: unknown tokenizer %q (want %q or %q)", kind, TokenizerWord, TokenizerChar)
}

// tokenizerFromTokens checks tokens for a tokenizer of kind (the special
// tokens at their ids, every other token distinct and a single token of
// kind's rule) and builds it.
func tokenizerFromTokens(kind string, tokens []string) (*Tokenizer, error) {
	if len(tokens) < numSpecial {
		return nil, fmt.Errorf("policy: vocabulary of %d tokens, want at least the %d special tokens", len(tokens), numSpecial)
	}
	for id, s := range specialTokens {
		if tokens[id] != s {
			return nil, fmt.Errorf("policy: vocabulary token %d is %q, want the special token %q", id, tokens[id], s)
		}
	}
	ids := make(map[string]int, len(tokens))
	for id, s := range tokens {
		if id >= numSpecial {
			if kind == TokenizerChar {
				if !isCharToken(s) {
					return nil, fmt.Errorf("policy: vocabulary token %d %q is not a single character of the character tokenizer (lowercase, white space only space or newline)", id, s)
				}
			} else if sp := Split(s); len(sp) != 1 || sp[0] != s {
				return nil, fmt.Errorf("policy: vocabulary token %d %q is not a single token of the splitting rule", id, s)
			}
		}
		if _, dup := ids[s]; dup {
			return nil, fmt.Errorf("policy: vocabulary token %q appears twice", s)
		}
		ids[s] = id
	}
	return &Tokenizer{kind: kind, tokens: slices.Clone(tokens), ids: ids}, nil
}
