package bpe

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzRead: any bytes give a tokenizer or an error, never a panic.
func FuzzRead(f *testing.F) {
	f.Add([]byte(tinyJSON("", "", "")))
	f.Add([]byte(tinyJSON(`{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\s+(?!\\S)|\\p{L}+"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "use_regex": false}]}`, `, "ignore_merges": true`, `, "normalizer": {"type": "NFC"}`)))
	f.Add([]byte(`{"model": {"type": "BPE"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := Read(strings.NewReader(string(data)), Options{RegexTimeout: 50 * time.Millisecond, MaxVocab: 1 << 16})
		if err != nil {
			return
		}
		ids, err := tok.Encode("Hello <|end|> wörld 123\n\n")
		if err != nil {
			return
		}
		if _, err := tok.Decode(ids, true); err != nil {
			t.Fatalf("Decode of Encode's ids: %v", err)
		}
	})
}

// FuzzRoundTrip: Decode(Encode(s)) == NFC(s) for valid UTF-8 s (Qwen3,
// normalizer NFC) and == s (Llama-3, no normalizer).
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"", "Hello world", "  \n\t x", "<|im_start|>user\nhi<|im_end|>", "e\u0301", "中文 😀 123456", "'s 'T"} {
		f.Add(s)
	}
	qwen, llama := load(f, "qwen3"), load(f, "llama3_1")
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			if _, err := qwen.Encode(s); err == nil {
				t.Fatal("invalid UTF-8 accepted")
			}
			return
		}
		for _, tok := range []*Tokenizer{qwen, llama} {
			ids, err := tok.Encode(s)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tok.Decode(ids, false)
			if err != nil {
				t.Fatal(err)
			}
			if want := tok.normalize(s); got != want {
				t.Fatalf("Decode(Encode(%q)) = %q", s, got)
			}
		}
	})
}
