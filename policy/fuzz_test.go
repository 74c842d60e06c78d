package policy

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzTokenizer: Split, Encode and Decode never panic on any text; Encode
// gives one id per Split token, never a special id other than <unk>, good
// and bad; and, without <unk>, re-encoding the decoded text gives the same
// ids.
func FuzzTokenizer(f *testing.F) {
	for _, s := range []string{"take apple 1 from countertop 1", "put mug 2 in/on shelf 1.", "-18 °C, [x]", "\xff\xfe", "<eos> <verdict>"} {
		f.Add(s)
	}
	tok := NewTokenizer([]string{"take apple 1 from countertop put mug in/on shelf x c"})
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s)
		if len(ids) != len(Split(s)) {
			t.Fatalf("%d ids for %d tokens", len(ids), len(Split(s)))
		}
		for _, id := range ids {
			if id == PadID || id == EOSID || id == VerdictID {
				t.Fatalf("Encode(%q) produced special id %d", s, id)
			}
		}
		if slices.Contains(ids, UnkID) {
			return // "<unk>" is written as text, which does not re-encode to it
		}
		if again := tok.Encode(tok.Decode(ids)); !slices.Equal(again, ids) {
			t.Fatalf("Encode(Decode(Encode(%q))) = %v, want %v", s, again, ids)
		}
	})
}

// FuzzReadVocab: any input gives a tokenizer or an error, never a panic; a
// tokenizer read back writes the same file.
func FuzzReadVocab(f *testing.F) {
	var b bytes.Buffer
	NewTokenizer([]string{"go to cabinet 1"}).WriteVocab(&b)
	f.Add(b.Bytes())
	f.Add([]byte(`{"<pad>": 0}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := ReadVocab(bytes.NewReader(data), "vocab.json")
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := tok.WriteVocab(&out); err != nil {
			t.Fatal(err)
		}
		back, err := ReadVocab(&out, "vocab.json")
		if err != nil || !slices.Equal(back.Tokens(), tok.Tokens()) {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}
