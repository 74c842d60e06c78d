package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// Tokenizer kinds, the values of config.json's gradcouple.tokenizer. The
// vocabulary file is vocab.json ({token: id}) for both; the kind says how
// text becomes tokens (package policy documents the rules). An absent
// tokenizer (a config written before the key existed, or by another tool)
// means TokenizerWord.
const (
	TokenizerWord = "word" // gradcouple's word-level tokenizer: a token is a word, a number or one punctuation rune
	TokenizerChar = "char" // gradcouple's character-level tokenizer: a token is one rune
)

// maxVocabBytes bounds the size of vocab.json that ReadVocab accepts.
const maxVocabBytes = 256 << 20

// MarshalVocab encodes tokens as Hugging Face's vocab.json: a JSON object
// mapping each token to its id (its index in tokens), written in id order,
// one entry per line. Tokens must be non-empty, valid UTF-8 and distinct.
func MarshalVocab(tokens []string) ([]byte, error) {
	seen := make(map[string]int, len(tokens))
	var b bytes.Buffer
	b.WriteString("{")
	for i, t := range tokens {
		switch {
		case t == "":
			return nil, fmt.Errorf("checkpoint: vocabulary token %d is empty", i)
		case !utf8.ValidString(t):
			return nil, fmt.Errorf("checkpoint: vocabulary token %d (%q) is not valid UTF-8", i, t)
		}
		if j, ok := seen[t]; ok {
			return nil, fmt.Errorf("checkpoint: vocabulary token %q has ids %d and %d", t, j, i)
		}
		seen[t] = i
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n  ")
		writeJSONString(&b, t)
		b.WriteString(": ")
		b.WriteString(strconv.Itoa(i))
	}
	b.WriteString("\n}\n")
	return b.Bytes(), nil
}

// ParseVocab decodes vocab.json (file names it in errors): a JSON object
// mapping tokens to ids. The ids must be exactly 0..n-1 for n tokens, each
// once; tokens must be non-empty and distinct (a duplicate key is an
// error, not silently the last one). It returns the tokens indexed by id.
func ParseVocab(data []byte, file string) ([]string, error) {
	bad := func(field, format string, args ...any) error {
		return &ValidationError{File: file, Field: field, Msg: fmt.Sprintf(format, args...), Err: ErrVocab}
	}
	if !utf8.Valid(data) {
		return nil, bad("", "not valid UTF-8")
	}
	type entry struct {
		tok string
		id  int
	}
	var entries []entry
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	err := walkObject(dec, func(key string) error {
		field := "token " + strconv.Quote(key)
		if key == "" {
			return bad(field, "empty token")
		}
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		num, ok := tok.(json.Number)
		if !ok {
			return bad(field, "id is not a number")
		}
		id, err := strconv.Atoi(string(num))
		if err != nil || id < 0 {
			return bad(field, "id %s is not a non-negative integer", truncate(string(num)))
		}
		entries = append(entries, entry{key, id})
		return nil
	}, func(key string) error {
		return bad("token "+strconv.Quote(key), "duplicate token")
	})
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			err = errors.New("data after the JSON object")
		}
	}
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return nil, err
		}
		if err == errNotObject {
			return nil, bad("", "not a JSON object mapping tokens to ids")
		}
		return nil, bad("", "invalid JSON: %s", jsonMsg(err))
	}
	tokens := make([]string, len(entries))
	for _, e := range entries {
		field := "token " + strconv.Quote(e.tok)
		if e.id >= len(entries) {
			return nil, bad(field, "id %d is outside [0, %d) for %d tokens", e.id, len(entries), len(entries))
		}
		if prev := tokens[e.id]; prev != "" {
			return nil, bad(field, "id %d is also the id of %q", e.id, prev)
		}
		tokens[e.id] = e.tok
	}
	return tokens, nil
}

// ReadVocab reads vocab.json from r (at most 256 MiB) with ParseVocab.
func ReadVocab(r io.Reader, file string) ([]string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxVocabBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if len(data) > maxVocabBytes {
		return nil, &ValidationError{File: file, Msg: fmt.Sprintf("larger than %d bytes", maxVocabBytes), Err: ErrVocab}
	}
	return ParseVocab(data, file)
}
