package policy

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/env"
)

func TestCharTokenizer(t *testing.T) {
	tok := NewCharTokenizer([]string{"Take apple", "go\tto 1."})
	want := []string{PadToken, UnkToken, EOSToken, VerdictToken, GoodToken, BadToken,
		"\n", " ", ".", "1", "a", "e", "g", "k", "l", "o", "p", "t"}
	if !slices.Equal(tok.Tokens(), want) {
		t.Fatalf("vocabulary %q, want %q", tok.Tokens(), want)
	}
	if tok.Kind() != TokenizerChar {
		t.Errorf("Kind %q", tok.Kind())
	}
	if other := NewCharTokenizer([]string{"ot 1.", "elpp", "a kgt"}); !slices.Equal(other.Tokens(), want) {
		t.Errorf("vocabulary depends on more than the set of characters: %q", other.Tokens())
	}
	cases := []struct {
		in   string
		want []int
	}{
		{"Go to", []int{12, 15, 7, 17, 15}},
		{"a\tb\n", []int{10, 7, UnkID, 6}},            // tab is a space; b is unknown
		{"<eos>", []int{UnkID, 11, 15, UnkID, UnkID}}, // special names are text: < e o s >
		{"good", []int{12, 15, 15, UnkID}},            // the word, not the verdict target
		{"", nil},
	}
	for _, c := range cases {
		if got := tok.Encode(c.in); !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q) = %v, want %v", c.in, got, c.want)
		}
	}
	if got := tok.Decode(tok.Encode("Take  apple 1.\ngo to\t1")); got != "take  apple 1.\ngo to 1" {
		t.Errorf("Decode(Encode) = %q", got)
	}
	if got := tok.Decode([]int{12, 15, EOSID, GoodID}); got != "go<eos>good" {
		t.Errorf("Decode of special tokens = %q", got)
	}
	if got := CharNormalize("A\tB\r\nC\u00a0"); got != "a b \nc " {
		t.Errorf("CharNormalize = %q", got)
	}
}

// TestCharTokenizerFromTokens: a vocab.json round trip rebuilds the same
// tokenizer, and lists that the character rule cannot produce are refused.
func TestCharTokenizerFromTokens(t *testing.T) {
	tok := NewCharTokenizer([]string{"take apple 1 from countertop 1, in/on: -18"})
	var b bytes.Buffer
	if err := tok.WriteVocab(&b); err != nil {
		t.Fatal(err)
	}
	tokens, err := checkpoint.ReadVocab(&b, "vocab.json")
	if err != nil {
		t.Fatal(err)
	}
	back, err := TokenizerOf(TokenizerChar, tokens)
	if err != nil {
		t.Fatal(err)
	}
	if back.Kind() != TokenizerChar || !slices.Equal(back.Tokens(), tok.Tokens()) {
		t.Fatalf("round trip: %s %q", back.Kind(), back.Tokens())
	}
	if _, err := TokenizerFromTokens(tokens); err == nil {
		t.Error("a character vocabulary (with space and newline) was read as a word vocabulary")
	}
	base := slices.Clone(specialTokens[:])
	for name, extra := range map[string][]string{
		"two runes":  {"ab"},
		"uppercase":  {"A"},
		"tab":        {"\t"},
		"duplicate":  {"a", "a"},
		"invalid":    {"\xff"},
		"empty":      {""},
		"good again": {"good"},
	} {
		if _, err := CharTokenizerFromTokens(append(slices.Clone(base), extra...)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := CharTokenizerFromTokens([]string{"<pad>", "<unk>"}); err == nil {
		t.Error("no special tokens: no error")
	}
	if _, err := TokenizerOf("bpe", tokens); err == nil || !strings.Contains(err.Error(), `"bpe"`) {
		t.Errorf("unknown kind: %v", err)
	}
	if w, err := TokenizerOf("", NewTokenizer([]string{"go to"}).Tokens()); err != nil || w.Kind() != TokenizerWord {
		t.Errorf("kind \"\" is the word tokenizer: %v %v", w, err)
	}
}

// TestCharTokenizerEnv: for every environment and split, the character
// tokenizer of env.Words encodes the prompts and actions of
// sampled trajectories without <unk> and decodes them back to their
// normalized text (the actions to themselves), and almost every character
// of an eval-out prompt (new names included) also occurs in train prompts:
// under this tokenizer an out-of-domain name is a new sequence of mostly
// trained rows, where under the word tokenizer it is an untrained row.
// (Measured on 120 tasks per split: household's z and lab's j occur only
// in held-out names; the test allows 2 such characters per environment and
// wants 10 times as many such words.)
func TestCharTokenizerEnv(t *testing.T) {
	for _, name := range env.Names() {
		tok, err := EnvCharTokenizer(name)
		if err != nil {
			t.Fatal(err)
		}
		if w := NewTokenizer(env.Words(name)); tok.Size() >= w.Size() {
			t.Errorf("%s: %d characters, %d words", name, tok.Size(), w.Size())
		}
		words := NewTokenizer(env.Words(name))
		seen, seenWords := map[string]map[int]bool{}, map[string]map[int]bool{}
		for _, split := range env.Splits() {
			seen[split], seenWords[split] = map[int]bool{}, map[int]bool{}
			tasks, err := env.Tasks(name, split, 0, 120)
			if err != nil {
				t.Fatal(err)
			}
			for _, task := range tasks {
				rng, _ := env.TrajectoryRNGs(task, 0)
				tr, err := env.Play(task, env.RandomPolicy{}, rng, env.PlayConfig{})
				if err != nil {
					t.Fatal(err)
				}
				for _, st := range tr.Steps {
					ids := tok.Encode(st.Prompt)
					if slices.Contains(ids, UnkID) {
						t.Fatalf("%s: <unk> in %q", name, st.Prompt)
					}
					if got := tok.Decode(ids); got != CharNormalize(st.Prompt) {
						t.Fatalf("%s: Decode(Encode(%q)) = %q", name, st.Prompt, got)
					}
					for _, id := range ids {
						seen[split][id] = true
					}
					for _, id := range words.Encode(st.Prompt) {
						seenWords[split][id] = true
					}
					if got := tok.Decode(tok.Encode(st.Action)); got != st.Action {
						t.Errorf("%s: Decode(Encode(%q)) = %q", name, st.Action, got)
					}
				}
			}
		}
		var newChars, newWords []string
		for id := range seen[env.SplitEvalOut] {
			if !seen[env.SplitTrain][id] {
				newChars = append(newChars, tok.Token(id))
			}
		}
		for id := range seenWords[env.SplitEvalOut] {
			if !seenWords[env.SplitTrain][id] {
				newWords = append(newWords, words.Token(id))
			}
		}
		slices.Sort(newChars)
		t.Logf("%s: eval-out prompts have %d characters and %d words that no train prompt has: %q", name, len(newChars), len(newWords), newChars)
		if len(newChars) > 2 || len(newWords) < 10*max(len(newChars), 1) {
			t.Errorf("%s: eval-out prompts have %d characters (%q) and %d words that no train prompt has", name, len(newChars), newChars, len(newWords))
		}
	}
	if _, err := EnvCharTokenizer("kitchen"); err == nil {
		t.Error("unknown environment: no error")
	}
	all, _ := EnvCharTokenizer()
	if want := NewCharTokenizer(append(env.Words(env.Household), env.Words(env.Lab)...)); !slices.Equal(all.Tokens(), want.Tokens()) {
		t.Error("EnvCharTokenizer() is not the union of every environment's characters")
	}
}

// TestCheckpointTokenizerKind: config.json records the tokenizer's kind and
// Load builds that kind back; a checkpoint that does not name its tokenizer
// (written before the key existed) loads with the word tokenizer, and an
// unknown kind or a vocabulary that does not fit the recorded kind is an
// error.
func TestCheckpointTokenizerKind(t *testing.T) {
	text := "go to cabinet 1, take apple 1 from countertop 2.\nyour action:"
	for _, tok := range []*Tokenizer{NewTokenizer([]string{text}), NewCharTokenizer([]string{text})} {
		m, err := NewModel(Config{VocabSize: tok.Size(), Context: 96, Dim: 8, Layers: 1, Heads: 2}, rand.New(rand.NewPCG(3, 4)))
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "ckpt")
		if err := Save(dir, m, tok, nil); err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Gradcouple struct{ Tokenizer string }
		}
		if b, err := os.ReadFile(filepath.Join(dir, checkpoint.ConfigFileName)); err != nil || json.Unmarshal(b, &cfg) != nil {
			t.Fatal(err)
		}
		if cfg.Gradcouple.Tokenizer != tok.Kind() {
			t.Errorf("config.json records tokenizer %q, want %q", cfg.Gradcouple.Tokenizer, tok.Kind())
		}
		m2, tok2, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if tok2.Kind() != tok.Kind() || !slices.Equal(tok2.Tokens(), tok.Tokens()) || !slices.Equal(m2.Params, m.Params) {
			t.Fatalf("%s: round trip changed the tokenizer or the model", tok.Kind())
		}
		s, err := tok2.EncodePair("go to cabinet 1.\nyour action:", "take apple 1 from countertop 2", 96)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := m.LogProbs(nil, []Seq{s}), m2.LogProbs(nil, []Seq{s}); a[0] != b[0] {
			t.Errorf("%s: log-prob %v before saving, %v after loading", tok.Kind(), a[0], b[0])
		}

		c, err := m.Checkpoint(tok)
		if err != nil {
			t.Fatal(err)
		}
		c.Config.Gradcouple.Tokenizer = ""
		if _, tok3, err := FromCheckpoint(c); tok.Kind() == TokenizerWord && (err != nil || tok3.Kind() != TokenizerWord) {
			t.Errorf("word checkpoint without a tokenizer key: %v", err)
		} else if tok.Kind() == TokenizerChar && err == nil {
			t.Error("a character vocabulary without a tokenizer key loaded as a word vocabulary")
		}
		c.Config.Gradcouple.Tokenizer = "bpe"
		if _, _, err := FromCheckpoint(c); err == nil {
			t.Error("unknown tokenizer kind: no error")
		}
	}
}
