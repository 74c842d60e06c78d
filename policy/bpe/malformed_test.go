package bpe

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// tinyJSON is a minimal byte-level BPE tokenizer.json: the 256 byte
// symbols, the merges "h e", "l l", "he ll", and the given pre_tokenizer,
// model fields and extra top-level fields spliced in.
func tinyJSON(preTokenizer, modelExtra, extra string) string {
	var vocab []string
	for b := 0; b < 256; b++ {
		vocab = append(vocab, fmt.Sprintf("%q: %d", string(byteToRune[b]), b))
	}
	vocab = append(vocab, `"he": 256`, `"ll": 257`, `"hell": 258`)
	if preTokenizer == "" {
		preTokenizer = `{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}`
	}
	return `{"version": "1.0", "truncation": null, "padding": null,
 "added_tokens": [{"id": 259, "content": "<|end|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
 "normalizer": null, "pre_tokenizer": ` + preTokenizer + `,
 "post_processor": null, "decoder": {"type": "ByteLevel"}` + extra + `,
 "model": {"type": "BPE", "vocab": {` + strings.Join(vocab, ", ") + `}, "merges": ["h e", ["l", "l"], "he ll"]` + modelExtra + `}}`
}

func TestTiny(t *testing.T) {
	tok, err := Read(strings.NewReader(tinyJSON("", "", "")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := tok.Encode("hello<|end|>")
	if err != nil {
		t.Fatal(err)
	}
	// "hello" -> h e l l o -> he l l o -> he ll o -> hell o; then <|end|>.
	want := []int{258, int('o'), 259}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("Encode = %v, want %v", ids, want)
	}
	if tok.VocabSize() != 260 {
		t.Errorf("VocabSize = %d, want 260", tok.VocabSize())
	}
	if id, ok := tok.ID("<|end|>"); !ok || id != 259 || !tok.IsSpecial(259) {
		t.Errorf("ID(<|end|>) = %d, %v", id, ok)
	}
	if s, _ := tok.Decode(ids, true); s != "hello" {
		t.Errorf("Decode(skipSpecial) = %q", s)
	}
	if _, err := tok.Decode([]int{260}, false); !errors.Is(err, ErrUnknownID) {
		t.Errorf("Decode(260): %v, want ErrUnknownID", err)
	}
}

// TestRefused: every setting that is not computed exactly is an error naming
// the JSON field, never a silent approximation.
func TestRefused(t *testing.T) {
	cases := []struct {
		name, pre, model, extra string
		want                    error
		field                   string
	}{
		{"lookbehind unsupported by nothing, bad syntax", `{"type": "Split", "pattern": {"Regex": "(?<=a"}, "behavior": "Isolated", "invert": false}`, "", "", ErrMalformed, "pre_tokenizer.pattern"},
		{"unbalanced", `{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "[a-"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel"}]}`, "", "", ErrMalformed, "pre_tokenizer.pretokenizers[0].pattern"},
		{"merged behaviour", `{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": false}, {"type": "ByteLevel"}]}`, "", "", ErrUnsupported, "behavior"},
		{"invert", `{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"String": " "}, "behavior": "Isolated", "invert": true}, {"type": "ByteLevel"}]}`, "", "", ErrUnsupported, "invert"},
		{"metaspace", `{"type": "Metaspace"}`, "", "", ErrUnsupported, "pre_tokenizer.type"},
		{"no bytelevel", `{"type": "Sequence", "pretokenizers": []}`, "", "", ErrUnsupported, "no ByteLevel"},
		{"after bytelevel", `{"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}, {"type": "Split", "pattern": {"String": " "}, "behavior": "Isolated"}]}`, "", "", ErrUnsupported, "after ByteLevel"},
		{"byte fallback", "", `, "byte_fallback": true`, "", ErrUnsupported, "model.byte_fallback"},
		{"dropout", "", `, "dropout": 0.1`, "", ErrUnsupported, "model.dropout"},
		{"subword prefix", "", `, "continuing_subword_prefix": "##"`, "", ErrUnsupported, "continuing_subword_prefix"},
		{"nfkc", "", "", `, "normalizer": {"type": "NFKC"}`, ErrUnsupported, "normalizer.type"},
		{"lowercase in sequence", "", "", `, "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"}]}`, ErrUnsupported, "normalizer.normalizers[1].type"},
		{"roberta", "", "", `, "post_processor": {"type": "RobertaProcessing"}`, ErrUnsupported, "post_processor.type"},
		{"decoder", "", "", `, "decoder": {"type": "Metaspace"}`, ErrUnsupported, "decoder.type"},
		{"truncation", "", "", `, "truncation": {"max_length": 8}`, ErrUnsupported, "truncation"},
		{"padding", "", "", `, "padding": {"strategy": "BatchLongest"}`, ErrUnsupported, "padding"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tinyJSON(c.pre, c.model, c.extra)), Options{})
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.field) {
				t.Errorf("err = %v, does not name %q", err, c.field)
			}
		})
	}
}

func TestRefusedModels(t *testing.T) {
	cases := []struct{ name, json, field string }{
		{"unigram", `{"model": {"type": "Unigram", "vocab": [["a", 0]]}}`, "model.type"},
		{"wordpiece", `{"model": {"type": "WordPiece", "vocab": {"a": 0}}}`, "model.type"},
		{"not byte level", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"}}`, "no token for byte"},
	}
	for _, c := range cases {
		_, err := Read(strings.NewReader(c.json), Options{})
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: err = %v, want ErrUnsupported naming %q", c.name, err, c.field)
		}
	}
}

func TestMalformed(t *testing.T) {
	cases := []struct{ name, json, field string }{
		{"not json", `{"model": `, "decoding"},
		{"no model", `{}`, "model: missing"},
		{"merge of unknown", strings.Replace(tinyJSON("", "", ""), `"he ll"`, `"he zz"`, 1), "model.merges[2]"},
		{"merge three parts", strings.Replace(tinyJSON("", "", ""), `"he ll"`, `"h e l"`, 1), "model.merges[2]"},
		{"merge bad type", strings.Replace(tinyJSON("", "", ""), `"he ll"`, `3`, 1), "model.merges[2]"},
		{"negative id", strings.Replace(tinyJSON("", "", ""), `"hell": 258`, `"hell": -1`, 1), "model.vocab"},
		{"huge id", strings.Replace(tinyJSON("", "", ""), `"hell": 258`, `"hell": 99999999999`, 1), "model.vocab"},
		{"duplicate id", strings.Replace(tinyJSON("", "", ""), `"hell": 258`, `"hell": 257`, 1), "given to both"},
		{"added clash", strings.Replace(tinyJSON("", "", ""), `"id": 259`, `"id": 258`, 1), "added_tokens[0]"},
		{"added empty", strings.Replace(tinyJSON("", "", ""), `"content": "<|end|>"`, `"content": ""`, 1), "added_tokens[0]"},
		{"template unknown token", tinyJSON("", "", `, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}], "special_tokens": {}}`), "post_processor.single[0]"},
	}
	for _, c := range cases {
		_, err := Read(strings.NewReader(c.json), Options{})
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: err = %v, want ErrMalformed naming %q", c.name, err, c.field)
		}
	}
}

func TestHostile(t *testing.T) {
	t.Run("size limit", func(t *testing.T) {
		_, err := Read(strings.NewReader(tinyJSON("", "", "")), Options{MaxBytes: 100})
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("deep JSON", func(t *testing.T) {
		deep := `{"model": ` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`
		if _, err := Read(strings.NewReader(deep), Options{}); !errors.Is(err, ErrMalformed) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("deep Sequence", func(t *testing.T) {
		pre := `{"type": "ByteLevel"}`
		for i := 0; i < 20; i++ {
			pre = `{"type": "Sequence", "pretokenizers": [` + pre + `]}`
		}
		if _, err := Read(strings.NewReader(tinyJSON(pre, "", "")), Options{}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("invalid UTF-8", func(t *testing.T) {
		tok, err := Read(strings.NewReader(tinyJSON("", "", "")), Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = tok.Encode("ok\xffbad")
		if !errors.Is(err, ErrInvalidUTF8) || !strings.Contains(err.Error(), "byte 2") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("exponential regex", func(t *testing.T) {
		pre := `{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(a+)+$"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "use_regex": false}]}`
		tok, err := Read(strings.NewReader(tinyJSON(pre, "", "")), Options{RegexTimeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = tok.Encode(strings.Repeat("a", 40) + "!")
		if !errors.Is(err, ErrRegexTimeout) {
			t.Errorf("err = %v, want ErrRegexTimeout", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
	})
}

// TestLongInputs: long runs of one character (one pre-tokenized word of a
// million bytes) encode in well under quadratic time and round-trip.
func TestLongInputs(t *testing.T) {
	tok := load(t, "qwen3")
	for _, s := range []string{
		strings.Repeat(" ", 1<<20),
		strings.Repeat("\n", 1<<18),
		strings.Repeat("a", 1<<18),
		strings.Repeat("🙂", 1<<16),
		strings.Repeat("ab 12 ", 1<<16),
	} {
		start := time.Now()
		ids, err := tok.Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := tok.Decode(ids, false)
		if got != s {
			t.Errorf("round trip of %d bytes failed", len(s))
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%d bytes took %v", len(s), d)
		}
	}
}

func TestAddedFlags(t *testing.T) {
	added := func(flags string) string {
		return strings.Replace(tinyJSON("", "", ""), `"single_word": false, "lstrip": false, "rstrip": false`, flags, 1)
	}
	cases := []struct {
		flags, text string
		want        []string // decoded pieces, "|" for the added token
	}{
		// The tiny vocabulary has no merges across bytes except h-e-l-l, so
		// ordinary text comes out byte by byte.
		// lstrip/rstrip: the token swallows the white space beside it.
		{`"single_word": false, "lstrip": true, "rstrip": false`, "a  <|end|>  b", []string{"a", "|", " ", " ", "b"}},
		{`"single_word": false, "lstrip": false, "rstrip": true`, "a  <|end|>  b", []string{"a", " ", " ", "|", "b"}},
		// single_word: not a match inside a word.
		{`"single_word": true, "lstrip": false, "rstrip": false`, "x<|end|>", []string{"x", "<", "|", "e", "n", "d", "|", ">"}},
		{`"single_word": true, "lstrip": false, "rstrip": false`, "x <|end|> y", []string{"x", " ", "|", " ", "y"}},
	}
	for _, c := range cases {
		tok, err := Read(strings.NewReader(added(c.flags)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		ids, err := tok.Encode(c.text)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, id := range ids {
			if id == 259 {
				got = append(got, "|")
				continue
			}
			s, _ := tok.Decode([]int{id}, false)
			got = append(got, s)
		}
		if strings.Join(got, "·") != strings.Join(c.want, "·") {
			t.Errorf("%s on %q: pieces %q, want %q", c.flags, c.text, got, c.want)
		}
	}
}

// TestDigits: SmolLM2's pre-tokenizer, Digits(individual_digits) then
// ByteLevel(use_regex): every digit is its own word, other text splits by
// the GPT-2 pattern.
func TestDigits(t *testing.T) {
	for _, c := range []struct {
		individual bool
		want       []string
	}{
		{true, []string{"ab", " ", "1", "2", "3", "x", "٤", "٥"}},
		{false, []string{"ab", " ", "123", "x", "٤٥"}},
	} {
		pre := fmt.Sprintf(`{"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": %v}, {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}]}`, c.individual)
		tok, err := Read(strings.NewReader(tinyJSON(pre, "", "")), Options{})
		if err != nil {
			t.Fatal(err)
		}
		words, err := tok.pre.run("ab 123x٤٥")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(words, "|") != strings.Join(c.want, "|") {
			t.Errorf("individual_digits=%v: words %q, want %q", c.individual, words, c.want)
		}
	}
}

func TestLossyUTF8(t *testing.T) {
	cases := []struct{ in, want string }{
		{"ok", "ok"},
		{"\xe2\x82", "\ufffd"}, // truncated 3-byte sequence: one U+FFFD
		{"\xe2\x82x", "\ufffdx"},
		{"\xff\xfe", "\ufffd\ufffd"},           // two invalid bytes
		{"\xed\xa0\x80", "\ufffd\ufffd\ufffd"}, // surrogate: ED then A0 is not a valid second byte
		{"\xf0\x9f\x98", "\ufffd"},             // truncated emoji
		{"a\xc3", "a\ufffd"},
	}
	for _, c := range cases {
		if got := lossyUTF8([]byte(c.in)); got != c.want {
			t.Errorf("lossyUTF8(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
