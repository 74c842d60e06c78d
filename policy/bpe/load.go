package bpe

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/dlclark/regexp2/v2"
)

// Options bounds what Read accepts. The zero value means the defaults.
type Options struct {
	// MaxBytes is the largest tokenizer.json accepted (after gzip
	// decompression). Default 256 MiB; real files are 2-20 MB.
	MaxBytes int64
	// MaxVocab is the largest vocabulary accepted (largest id + 1).
	// Default 1<<22 (4,194,304); real vocabularies are up to about 260,000.
	MaxVocab int
	// RegexTimeout bounds one search of a pre-tokenizer regex (one match
	// attempt over the input). Default 10 s. Past it, Encode returns
	// ErrRegexTimeout rather than run for ever on a pathological pattern.
	RegexTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 256 << 20
	}
	if o.MaxVocab <= 0 {
		o.MaxVocab = 1 << 22
	}
	if o.RegexTimeout <= 0 {
		o.RegexTimeout = 10 * time.Second
	}
	return o
}

// maxNesting bounds the depth of Sequence components (normalizer,
// pre_tokenizer, post_processor, decoder).
const maxNesting = 8

// ReadFile reads a tokenizer.json file, or a gzip-compressed one when the
// name ends in ".gz".
func ReadFile(path string, opts Options) (*Tokenizer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("reading tokenizer %s: %v: %w", path, err, ErrMalformed)
		}
		defer zr.Close()
		r = zr
	}
	t, err := Read(r, opts)
	if err != nil {
		return nil, fmt.Errorf("reading tokenizer %s: %w", path, err)
	}
	return t, nil
}

// file is the top level of tokenizer.json.
type file struct {
	Version       string          `json:"version"`
	Truncation    json.RawMessage `json:"truncation"`
	Padding       json.RawMessage `json:"padding"`
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	Model         json.RawMessage `json:"model"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
}

type modelJSON struct {
	Type                    string           `json:"type"`
	Dropout                 *float64         `json:"dropout"`
	UnkToken                *string          `json:"unk_token"`
	ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string          `json:"end_of_word_suffix"`
	FuseUnk                 bool             `json:"fuse_unk"`
	ByteFallback            bool             `json:"byte_fallback"`
	IgnoreMerges            bool             `json:"ignore_merges"`
	Vocab                   map[string]int64 `json:"vocab"`
	Merges                  json.RawMessage  `json:"merges"`
}

// component is the common shape of normalizers, pre-tokenizers,
// post-processors and decoders: a type tag and type-specific fields.
type component struct {
	Type string `json:"type"`
	// Sequence members, under the key each component kind uses.
	Normalizers   []json.RawMessage `json:"normalizers"`
	PreTokenizers []json.RawMessage `json:"pretokenizers"`
	Processors    []json.RawMessage `json:"processors"`
	Decoders      []json.RawMessage `json:"decoders"`
	// Split
	Pattern  *struct{ Regex, String *string } `json:"pattern"`
	Behavior string                           `json:"behavior"`
	Invert   bool                             `json:"invert"`
	// Digits
	IndividualDigits bool `json:"individual_digits"`
	// ByteLevel
	AddPrefixSpace *bool `json:"add_prefix_space"`
	TrimOffsets    *bool `json:"trim_offsets"`
	UseRegex       *bool `json:"use_regex"`
	// TemplateProcessing
	Single []struct {
		SpecialToken *struct {
			ID string `json:"id"`
		} `json:"SpecialToken"`
		Sequence *struct {
			ID string `json:"id"`
		} `json:"Sequence"`
	} `json:"single"`
	SpecialTokens map[string]struct {
		ID  string  `json:"id"`
		IDs []int64 `json:"ids"`
	} `json:"special_tokens"`
}

func isNull(m json.RawMessage) bool {
	m = bytes.TrimSpace(m)
	return len(m) == 0 || bytes.Equal(m, []byte("null"))
}

// Read parses a tokenizer.json. Everything in it that Encode and Decode
// would not reproduce exactly is refused with ErrUnsupported naming the
// field; inconsistent content is refused with ErrMalformed.
func Read(r io.Reader, opts Options) (*Tokenizer, error) {
	opts = opts.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, opts.MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > opts.MaxBytes {
		return nil, fmt.Errorf("tokenizer.json larger than %d bytes: %w", opts.MaxBytes, ErrMalformed)
	}
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("decoding tokenizer.json: %v: %w", err, ErrMalformed)
	}
	t := &Tokenizer{}
	if !isNull(f.Truncation) {
		return nil, fmt.Errorf("truncation: set (it would cut Encode's output): %w", ErrUnsupported)
	}
	if !isNull(f.Padding) {
		return nil, fmt.Errorf("padding: set: %w", ErrUnsupported)
	}
	if err := t.readModel(f.Model, opts); err != nil {
		return nil, err
	}
	if err := t.readAdded(f.AddedTokens, opts); err != nil {
		return nil, err
	}
	if err := t.readNormalizer(f.Normalizer, "normalizer", 0); err != nil {
		return nil, err
	}
	// The normalized added tokens match the normalized text.
	for i, at := range t.added {
		if at.Normalized {
			t.normTrie.add(t.normalize(at.Content), int32(i))
		}
	}
	if err := t.readPreTokenizer(f.PreTokenizer, opts); err != nil {
		return nil, err
	}
	if err := t.readPostProcessor(f.PostProcessor, "post_processor", 0); err != nil {
		return nil, err
	}
	if err := t.readDecoder(f.Decoder); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Tokenizer) readModel(raw json.RawMessage, opts Options) error {
	if isNull(raw) {
		return fmt.Errorf("model: missing: %w", ErrMalformed)
	}
	var typ struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &typ); err != nil {
		return fmt.Errorf("model: %v: %w", err, ErrMalformed)
	}
	if typ.Type != "BPE" {
		return fmt.Errorf("model.type: %q (only BPE is implemented): %w", typ.Type, ErrUnsupported)
	}
	var m modelJSON
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("model: %v: %w", err, ErrMalformed)
	}
	switch {
	case m.Dropout != nil && *m.Dropout != 0:
		return fmt.Errorf("model.dropout: %v (BPE dropout is random): %w", *m.Dropout, ErrUnsupported)
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "":
		return fmt.Errorf("model.continuing_subword_prefix: %q: %w", *m.ContinuingSubwordPrefix, ErrUnsupported)
	case m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "":
		return fmt.Errorf("model.end_of_word_suffix: %q: %w", *m.EndOfWordSuffix, ErrUnsupported)
	case m.ByteFallback:
		return fmt.Errorf("model.byte_fallback: true (only byte-level BPE is implemented): %w", ErrUnsupported)
	case len(m.Vocab) == 0:
		return fmt.Errorf("model.vocab: empty: %w", ErrMalformed)
	}
	t.model = &model{vocab: make(map[string]int32, len(m.Vocab)), ignoreMerges: m.IgnoreMerges, cache: map[string][]int32{}}
	maxID := int64(-1)
	for tok, id := range m.Vocab {
		if id < 0 || id >= int64(opts.MaxVocab) {
			return fmt.Errorf("model.vocab[%q]: id %d outside [0, %d): %w", tok, id, opts.MaxVocab, ErrMalformed)
		}
		t.model.vocab[tok] = int32(id)
		maxID = max(maxID, id)
	}
	t.tokens = make([]string, maxID+1)
	t.present = make([]bool, maxID+1)
	for tok, id := range t.model.vocab {
		if t.present[id] {
			return fmt.Errorf("model.vocab: id %d given to both %q and %q: %w", id, t.tokens[id], tok, ErrMalformed)
		}
		t.tokens[id], t.present[id] = tok, true
	}
	for b := 0; b < 256; b++ {
		if _, ok := t.model.vocab[string(byteToRune[b])]; !ok {
			return fmt.Errorf("model.vocab: no token for byte 0x%02x (%q): not a byte-level vocabulary: %w", b, string(byteToRune[b]), ErrUnsupported)
		}
	}
	if m.UnkToken != nil {
		// With every byte in the vocabulary the unknown token is never
		// produced; it only has to exist.
		if _, ok := t.model.vocab[*m.UnkToken]; !ok {
			return fmt.Errorf("model.unk_token: %q not in model.vocab: %w", *m.UnkToken, ErrMalformed)
		}
	}
	return t.readMerges(m.Merges)
}

// readMerges reads merges stored as "a b" strings (tokenizers < 0.20) or as
// ["a", "b"] pairs.
func (t *Tokenizer) readMerges(raw json.RawMessage) error {
	if isNull(raw) {
		return fmt.Errorf("model.merges: missing: %w", ErrMalformed)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return fmt.Errorf("model.merges: %v: %w", err, ErrMalformed)
	}
	t.model.merges = make(map[pair]merge, len(items))
	for rank, item := range items {
		var a, b string
		var s string
		var p []string
		if err := json.Unmarshal(item, &s); err == nil {
			var ok bool
			a, b, ok = strings.Cut(s, " ")
			if !ok || strings.Contains(b, " ") {
				return fmt.Errorf("model.merges[%d]: %q is not two tokens separated by one space: %w", rank, s, ErrMalformed)
			}
		} else if err := json.Unmarshal(item, &p); err == nil && len(p) == 2 {
			a, b = p[0], p[1]
		} else {
			return fmt.Errorf("model.merges[%d]: neither a string nor a pair of strings: %w", rank, ErrMalformed)
		}
		ia, ok1 := t.model.vocab[a]
		ib, ok2 := t.model.vocab[b]
		im, ok3 := t.model.vocab[a+b]
		switch {
		case !ok1:
			return fmt.Errorf("model.merges[%d]: %q not in model.vocab: %w", rank, a, ErrMalformed)
		case !ok2:
			return fmt.Errorf("model.merges[%d]: %q not in model.vocab: %w", rank, b, ErrMalformed)
		case !ok3:
			return fmt.Errorf("model.merges[%d]: merged token %q not in model.vocab: %w", rank, a+b, ErrMalformed)
		}
		k := pair{ia, ib}
		if _, dup := t.model.merges[k]; !dup { // the first (lowest) rank wins
			t.model.merges[k] = merge{rank: int32(rank), id: im}
		}
	}
	return nil
}

func (t *Tokenizer) readAdded(list []addedToken, opts Options) error {
	t.rawTrie, t.normTrie = newTrie(), newTrie()
	t.addedID = map[string]int{}
	for i, at := range list {
		field := fmt.Sprintf("added_tokens[%d]", i)
		if at.Content == "" {
			return fmt.Errorf("%s: empty content: %w", field, ErrMalformed)
		}
		if at.ID < 0 || at.ID >= opts.MaxVocab {
			return fmt.Errorf("%s: id %d outside [0, %d): %w", field, at.ID, opts.MaxVocab, ErrMalformed)
		}
		if id, ok := t.model.vocab[at.Content]; ok && int(id) != at.ID {
			return fmt.Errorf("%s: %q has id %d but model.vocab gives it %d: %w", field, at.Content, at.ID, id, ErrMalformed)
		}
		if id, ok := t.addedID[at.Content]; ok && id != at.ID {
			return fmt.Errorf("%s: %q listed twice with ids %d and %d: %w", field, at.Content, id, at.ID, ErrMalformed)
		}
		for at.ID >= len(t.tokens) {
			t.tokens = append(t.tokens, "")
			t.present = append(t.present, false)
		}
		if t.present[at.ID] && t.tokens[at.ID] != at.Content {
			return fmt.Errorf("%s: id %d is already %q: %w", field, at.ID, t.tokens[at.ID], ErrMalformed)
		}
		t.tokens[at.ID], t.present[at.ID] = at.Content, true
		t.addedID[at.Content] = at.ID
		t.added = append(t.added, at)
		if !at.Normalized {
			t.rawTrie.add(at.Content, int32(len(t.added)-1))
		}
	}
	t.special = make([]bool, len(t.tokens))
	for _, at := range t.added {
		if at.Special {
			t.special[at.ID] = true
		}
	}
	return nil
}

func (t *Tokenizer) readNormalizer(raw json.RawMessage, field string, depth int) error {
	if isNull(raw) {
		return nil
	}
	if depth > maxNesting {
		return fmt.Errorf("%s: Sequence nested deeper than %d: %w", field, maxNesting, ErrUnsupported)
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("%s: %v: %w", field, err, ErrMalformed)
	}
	switch c.Type {
	case "NFC":
		t.nfc = true
	case "Sequence":
		for i, n := range c.Normalizers {
			if err := t.readNormalizer(n, fmt.Sprintf("%s.normalizers[%d]", field, i), depth+1); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%s.type: %q (only NFC and Sequence are implemented): %w", field, c.Type, ErrUnsupported)
	}
	return nil
}

func (t *Tokenizer) readPreTokenizer(raw json.RawMessage, opts Options) error {
	if isNull(raw) {
		return fmt.Errorf("pre_tokenizer: null (a byte-level BPE needs a ByteLevel pre-tokenizer): %w", ErrUnsupported)
	}
	t.pre = &preTokenizer{}
	sawByteLevel := false
	var walk func(raw json.RawMessage, field string, depth int) error
	walk = func(raw json.RawMessage, field string, depth int) error {
		if depth > maxNesting {
			return fmt.Errorf("%s: Sequence nested deeper than %d: %w", field, maxNesting, ErrUnsupported)
		}
		var c component
		if err := json.Unmarshal(raw, &c); err != nil {
			return fmt.Errorf("%s: %v: %w", field, err, ErrMalformed)
		}
		if sawByteLevel {
			return fmt.Errorf("%s: %q after ByteLevel (ByteLevel must be the last step): %w", field, c.Type, ErrUnsupported)
		}
		switch c.Type {
		case "Sequence":
			for i, p := range c.PreTokenizers {
				if err := walk(p, fmt.Sprintf("%s.pretokenizers[%d]", field, i), depth+1); err != nil {
					return err
				}
			}
		case "Split":
			sp := &splitter{field: field}
			switch c.Behavior {
			case "Isolated":
			case "Removed":
				sp.removed = true
			default:
				return fmt.Errorf("%s.behavior: %q (Isolated and Removed are implemented): %w", field, c.Behavior, ErrUnsupported)
			}
			if c.Invert {
				return fmt.Errorf("%s.invert: true: %w", field, ErrUnsupported)
			}
			var pattern string
			switch {
			case c.Pattern != nil && c.Pattern.Regex != nil:
				pattern = *c.Pattern.Regex
			case c.Pattern != nil && c.Pattern.String != nil:
				pattern = regexp2.Escape(*c.Pattern.String)
			default:
				return fmt.Errorf("%s.pattern: neither Regex nor String: %w", field, ErrMalformed)
			}
			re, err := compileSplit(pattern, field+".pattern", opts.RegexTimeout)
			if err != nil {
				return err
			}
			sp.re = re
			t.pre.splits = append(t.pre.splits, sp)
		case "Digits":
			// Digits splits at char::is_numeric (Unicode N): each digit
			// alone with individual_digits (SmolLM2), else runs of digits.
			pattern := `\p{N}+`
			if c.IndividualDigits {
				pattern = `\p{N}`
			}
			re, err := compileSplit(pattern, field, opts.RegexTimeout)
			if err != nil {
				return err
			}
			t.pre.splits = append(t.pre.splits, &splitter{re: re, field: field})
		case "ByteLevel":
			sawByteLevel = true
			t.pre.addPrefixSpace = c.AddPrefixSpace != nil && *c.AddPrefixSpace
			// trim_offsets only changes offsets, which Encode does not return.
			if c.UseRegex == nil || *c.UseRegex { // tokenizers' default is true
				re, err := compileSplit(gpt2Pattern, field+".use_regex", opts.RegexTimeout)
				if err != nil {
					return err
				}
				t.pre.byteRegex = &splitter{re: re, field: field + ".use_regex"}
			}
		default:
			return fmt.Errorf("%s.type: %q (Sequence, Split, Digits and ByteLevel are implemented): %w", field, c.Type, ErrUnsupported)
		}
		return nil
	}
	if err := walk(raw, "pre_tokenizer", 0); err != nil {
		return err
	}
	if !sawByteLevel {
		return fmt.Errorf("pre_tokenizer: no ByteLevel step (only byte-level BPE is implemented): %w", ErrUnsupported)
	}
	return nil
}

// readPostProcessor accepts ByteLevel (it changes only offsets),
// TemplateProcessing whose single-sequence template is special tokens
// around $A (applied by EncodeSpecial), and Sequences of those.
func (t *Tokenizer) readPostProcessor(raw json.RawMessage, field string, depth int) error {
	if isNull(raw) {
		return nil
	}
	if depth > maxNesting {
		return fmt.Errorf("%s: Sequence nested deeper than %d: %w", field, maxNesting, ErrUnsupported)
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("%s: %v: %w", field, err, ErrMalformed)
	}
	switch c.Type {
	case "ByteLevel":
	case "Sequence":
		for i, p := range c.Processors {
			if err := t.readPostProcessor(p, fmt.Sprintf("%s.processors[%d]", field, i), depth+1); err != nil {
				return err
			}
		}
	case "TemplateProcessing":
		if t.template != nil {
			return fmt.Errorf("%s: a second TemplateProcessing: %w", field, ErrUnsupported)
		}
		tpl := &template{}
		seqs := 0
		for i, piece := range c.Single {
			switch {
			case piece.Sequence != nil:
				if piece.Sequence.ID != "A" {
					return fmt.Errorf("%s.single[%d].Sequence.id: %q: %w", field, i, piece.Sequence.ID, ErrUnsupported)
				}
				seqs++
				tpl.seqAt = len(tpl.before)
			case piece.SpecialToken != nil:
				st, ok := c.SpecialTokens[piece.SpecialToken.ID]
				if !ok {
					return fmt.Errorf("%s.single[%d]: special token %q not in special_tokens: %w", field, i, piece.SpecialToken.ID, ErrMalformed)
				}
				for _, id := range st.IDs {
					if id < 0 || id >= int64(len(t.tokens)) || !t.present[id] {
						return fmt.Errorf("%s.special_tokens[%q]: id %d not in the vocabulary: %w", field, piece.SpecialToken.ID, id, ErrMalformed)
					}
					if seqs == 0 {
						tpl.before = append(tpl.before, int(id))
					} else {
						tpl.after = append(tpl.after, int(id))
					}
				}
			default:
				return fmt.Errorf("%s.single[%d]: neither SpecialToken nor Sequence: %w", field, i, ErrMalformed)
			}
		}
		if seqs != 1 {
			return fmt.Errorf("%s.single: %d sequences (want exactly one $A): %w", field, seqs, ErrUnsupported)
		}
		t.template = tpl
	default:
		return fmt.Errorf("%s.type: %q (ByteLevel, TemplateProcessing and Sequence are implemented): %w", field, c.Type, ErrUnsupported)
	}
	return nil
}

func (t *Tokenizer) readDecoder(raw json.RawMessage) error {
	if isNull(raw) {
		return fmt.Errorf("decoder: null (byte-level BPE needs the ByteLevel decoder): %w", ErrUnsupported)
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("decoder: %v: %w", err, ErrMalformed)
	}
	if c.Type != "ByteLevel" {
		return fmt.Errorf("decoder.type: %q (only ByteLevel is implemented): %w", c.Type, ErrUnsupported)
	}
	return nil
}
