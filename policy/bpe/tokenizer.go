package bpe

import (
	"fmt"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Tokenizer is a byte-level BPE tokenizer read from a tokenizer.json. It is
// immutable after Read (apart from an internal word cache) and safe for
// concurrent use.
type Tokenizer struct {
	model   *model
	tokens  []string // id -> token (model vocabulary and added tokens)
	present []bool   // id -> the id has a token
	special []bool   // id -> an added token with special = true

	added    []addedToken
	addedID  map[string]int
	rawTrie  *trie // added tokens with normalized = false
	normTrie *trie // added tokens with normalized = true, normalized

	nfc      bool
	pre      *preTokenizer
	template *template // TemplateProcessing's single-sequence template, or nil
}

// template is TemplateProcessing's template for one sequence.
type template struct {
	before, after []int
	seqAt         int
}

// VocabSize is the largest id + 1 over the model vocabulary and the added
// tokens (the tokenizer's length; a model's embedding may have more rows).
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// Token returns the token of id (for a byte-level token, in the byte-level
// alphabet, e.g. "Ġthe").
func (t *Tokenizer) Token(id int) (string, error) {
	if id < 0 || id >= len(t.tokens) || !t.present[id] {
		return "", fmt.Errorf("id %d: %w", id, ErrUnknownID)
	}
	return t.tokens[id], nil
}

// ID returns the id of a token (an added token's content, or a model
// token in the byte-level alphabet).
func (t *Tokenizer) ID(token string) (int, bool) {
	if id, ok := t.addedID[token]; ok {
		return id, true
	}
	id, ok := t.model.vocab[token]
	return int(id), ok
}

// IsSpecial reports whether id is an added token marked special (those
// Decode drops with skipSpecial).
func (t *Tokenizer) IsSpecial(id int) bool {
	return id >= 0 && id < len(t.special) && t.special[id]
}

// SpecialIDs returns the ids of the special added tokens, in the order of
// added_tokens.
func (t *Tokenizer) SpecialIDs() []int {
	var ids []int
	for _, at := range t.added {
		if at.Special {
			ids = append(ids, at.ID)
		}
	}
	return ids
}

// normalize applies the normalizer (NFC or nothing).
func (t *Tokenizer) normalize(s string) string {
	if t.nfc {
		return norm.NFC.String(s)
	}
	return s
}

// Encode returns the ids of text without the post-processor's special
// tokens, as Hugging Face's encode(text, add_special_tokens=False) and as
// apply_chat_template(tokenize=True) do: a rendered chat template already
// holds its special tokens as text. Added tokens (special or not) written
// in text are matched before splitting. Text that is not valid UTF-8 is an
// error (ErrInvalidUTF8) naming the byte offset; Python and JavaScript
// strings cannot hold such text, so there is no reference behaviour to copy.
func (t *Tokenizer) Encode(text string) ([]int, error) {
	if !utf8.ValidString(text) {
		off := 0
		for off < len(text) {
			r, n := utf8.DecodeRuneInString(text[off:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			off += n
		}
		return nil, fmt.Errorf("byte %d: %w", off, ErrInvalidUTF8)
	}
	var ids []int32
	for _, seg := range splitAdded(nil, text, t.rawTrie, t.added) {
		if seg.tok >= 0 {
			ids = append(ids, int32(t.added[seg.tok].ID))
			continue
		}
		normalized := t.normalize(seg.text)
		for _, seg2 := range splitAdded(nil, normalized, t.normTrie, t.added) {
			if seg2.tok >= 0 {
				ids = append(ids, int32(t.added[seg2.tok].ID))
				continue
			}
			if seg2.text == "" {
				continue
			}
			words, err := t.pre.run(seg2.text)
			if err != nil {
				return nil, err
			}
			for _, w := range words {
				ids = t.model.encodeWord(ids, byteLevel(w))
			}
		}
	}
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = int(id)
	}
	return out, nil
}

// EncodeSpecial is Encode followed by the post-processor's template for one
// sequence, as Hugging Face's encode(text, add_special_tokens=True): for
// Llama-3.1's TemplateProcessing it puts <|begin_of_text|> first; for a
// tokenizer without TemplateProcessing (Qwen2.5, Qwen3) it equals Encode.
func (t *Tokenizer) EncodeSpecial(text string) ([]int, error) {
	ids, err := t.Encode(text)
	if err != nil || t.template == nil {
		return ids, err
	}
	out := make([]int, 0, len(t.template.before)+len(ids)+len(t.template.after))
	out = append(out, t.template.before...)
	out = append(out, ids...)
	return append(out, t.template.after...), nil
}

// Decode returns the text of ids through the ByteLevel decoder. With
// skipSpecial the special added tokens are dropped first (Hugging Face's
// skip_special_tokens=True). Bytes that do not form valid UTF-8 (a
// multi-byte character cut between ids) become U+FFFD, one per maximal
// invalid subsequence, as Rust's String::from_utf8_lossy and JavaScript's
// TextDecoder do. transformers' clean_up_tokenization_spaces is not applied
// (it is not part of tokenizer.json and breaks round trips). An id outside
// the vocabulary is an error.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) (string, error) {
	b, err := t.DecodeBytes(ids, skipSpecial)
	if err != nil {
		return "", err
	}
	return lossyUTF8(b), nil
}

// DecodeBytes is Decode without the UTF-8 repair: the exact bytes the ids
// stand for.
func (t *Tokenizer) DecodeBytes(ids []int, skipSpecial bool) ([]byte, error) {
	var b []byte
	for i, id := range ids {
		if id < 0 || id >= len(t.tokens) || !t.present[id] {
			return nil, fmt.Errorf("ids[%d] = %d: %w", i, id, ErrUnknownID)
		}
		if skipSpecial && t.special[id] {
			continue
		}
		b = byteLevelDecode(b, t.tokens[id])
	}
	return b, nil
}

// lossyUTF8 replaces each maximal invalid subsequence of b (Unicode
// chapter 3, "U+FFFD substitution of maximal subparts") with U+FFFD.
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || n > 1 {
			out = append(out, b[i:i+n]...)
			i += n
			continue
		}
		out = utf8.AppendRune(out, utf8.RuneError)
		i += maximalSubpart(b[i:])
	}
	return string(out)
}

// maximalSubpart is the length (at least 1) of the longest prefix of b that
// starts a well-formed UTF-8 sequence but does not complete it.
func maximalSubpart(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		if b[n] < lo || b[n] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
		n++
	}
	return n
}
