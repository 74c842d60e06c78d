package policy

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/env"
)

func TestSplit(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"take apple 1 from countertop 1", []string{"take", "apple", "1", "from", "countertop", "1"}},
		{"Put Mug 2 in/on Shelf 10.", []string{"put", "mug", "2", "in", "/", "on", "shelf", "10", "."}},
		{"[Observation 1: You arrive at cabinet 1.]", []string{"[", "observation", "1", ":", "you", "arrive", "at", "cabinet", "1", ".", "]"}},
		{"-18 degrees, abc12x", []string{"-", "18", "degrees", ",", "abc", "12", "x"}},
		{"  \t\n ", nil},
		{"<eos> café", []string{"<", "eos", ">", "caf", "é"}},
	}
	for _, c := range cases {
		if got := Split(c.in); !slices.Equal(got, c.want) {
			t.Errorf("Split(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTokenizer(t *testing.T) {
	tok := NewTokenizer([]string{"take apple 1 from countertop 1", "good bad", "look"})
	want := []string{PadToken, UnkToken, EOSToken, VerdictToken, GoodToken, BadToken, "1", "apple", "countertop", "from", "look", "take"}
	if !slices.Equal(tok.Tokens(), want) {
		t.Fatalf("vocabulary %q, want %q", tok.Tokens(), want)
	}
	// order and repetition of the texts do not matter
	if other := NewTokenizer([]string{"look", "from countertop take 1 apple", "bad", "good", "look"}); !slices.Equal(other.Tokens(), want) {
		t.Errorf("vocabulary depends on the order of texts: %q", other.Tokens())
	}
	ids := tok.Encode("Take pear 1 from countertop 1 <eos>")
	if wantIDs := []int{11, UnkID, 6, 9, 8, 6, UnkID, UnkID, UnkID}; !slices.Equal(ids, wantIDs) {
		t.Errorf("Encode = %v, want %v", ids, wantIDs)
	}
	if got := tok.Decode(tok.Encode("take apple 1 from countertop 1")); got != "take apple 1 from countertop 1" {
		t.Errorf("Decode(Encode) = %q", got)
	}
	var b bytes.Buffer
	if err := tok.WriteVocab(&b); err != nil {
		t.Fatal(err)
	}
	back, err := ReadVocab(bytes.NewReader(b.Bytes()), "vocab.json")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Tokens(), tok.Tokens()) {
		t.Errorf("vocab.json round trip: %q", back.Tokens())
	}
}

func TestReadVocabErrors(t *testing.T) {
	cases := map[string]string{
		"no specials":      `{"a": 0}`,
		"special moved":    `{"<unk>": 0, "<pad>": 1, "<eos>": 2, "<verdict>": 3, "good": 4, "bad": 5}`,
		"gap":              `{"<pad>": 0, "<unk>": 1, "<eos>": 2, "<verdict>": 3, "good": 4, "bad": 5, "x": 7}`,
		"not a token":      `{"<pad>": 0, "<unk>": 1, "<eos>": 2, "<verdict>": 3, "good": 4, "bad": 5, "in/on": 6}`,
		"uppercase":        `{"<pad>": 0, "<unk>": 1, "<eos>": 2, "<verdict>": 3, "good": 4, "bad": 5, "Apple": 6}`,
		"not json":         `{"<pad>": 0,`,
		"duplicate id":     `{"<pad>": 0, "<unk>": 1, "<eos>": 2, "<verdict>": 3, "good": 4, "bad": 5, "x": 5}`,
		"negative id":      `{"<pad>": 0, "<unk>": 1, "<eos>": 2, "<verdict>": 3, "good": 4, "bad": 5, "x": -1}`,
		"special repeated": `{"<pad>": 0, "<unk>": 1, "<eos>": 2, "<verdict>": 3, "good": 4, "bad": 5, "<eos>": 6}`,
	}
	for name, in := range cases {
		if _, err := ReadVocab(strings.NewReader(in), "vocab.json"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestEnvVocabulary: for both environments, the tokenizer built from
// env.Words encodes every prompt and action of sampled trajectories without
// <unk>, Split agrees with env.Tokens, every admissible action decodes back
// to itself, and every pair fits the default context.
func TestEnvVocabulary(t *testing.T) {
	for _, name := range env.Names() {
		tok := NewTokenizer(env.Words(name))
		tasks, err := env.Tasks(name, env.SplitEvalOut, 3, 4)
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
				if !slices.Equal(Split(st.Prompt), env.Tokens(st.Prompt)) {
					t.Fatalf("%s: Split and env.Tokens disagree on %q", name, st.Prompt)
				}
				if slices.Contains(tok.Encode(st.Prompt), UnkID) || slices.Contains(tok.Encode(st.Action), UnkID) {
					t.Fatalf("%s: <unk> in %q / %q", name, st.Prompt, st.Action)
				}
				if got := tok.Decode(tok.Encode(st.Action)); got != st.Action {
					t.Errorf("%s: Decode(Encode(%q)) = %q", name, st.Action, got)
				}
				if _, err := tok.EncodePair(st.Prompt, st.Action, DefaultContext); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		}
	}
}

// TestCheckpointRoundTrip: a model rounded to float32 saves and loads back
// bit for bit, with its tokenizer, and gives the same log-probs.
func TestCheckpointRoundTrip(t *testing.T) {
	tok := NewTokenizer([]string{"go to cabinet 1 2 take apple from countertop"})
	m, err := NewModel(Config{VocabSize: tok.Size(), Context: 32, Dim: 16, Layers: 2, Heads: 2}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range m.Params {
		if float64(float32(v)) != v {
			t.Fatal("NewModel parameters are not float32 values")
		}
	}
	dir := t.TempDir() + "/ckpt"
	if err := Save(dir, m, tok, map[string]string{"iteration": "0"}); err != nil {
		t.Fatal(err)
	}
	m2, tok2, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Config() != m.Config() || !slices.Equal(m2.Params, m.Params) || !slices.Equal(tok2.Tokens(), tok.Tokens()) {
		t.Fatal("checkpoint round trip changed the model or the tokenizer")
	}
	s, err := tok.EncodePair("go to cabinet 1", "take apple 1 from countertop 2", 32)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := m.LogProbs(nil, []Seq{s}), m2.LogProbs(nil, []Seq{s}); a[0] != b[0] {
		t.Errorf("log-prob %v before saving, %v after loading", a[0], b[0])
	}
	// A non-float32 value is rounded on save: within 2^-24 relative.
	m.Params[5] += 1e-12
	if err := Save(dir, m, tok, nil); err != nil {
		t.Fatal(err)
	}
	m3, _, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m3.Params[5] != float64(float32(m.Params[5])) {
		t.Errorf("saved %v as %v, want float32 rounding %v", m.Params[5], m3.Params[5], float32(m.Params[5]))
	}
}

// TestEnvTokenizer: the union of the environments' words, every bundled
// environment by default, and an error for an unknown name.
func TestEnvTokenizer(t *testing.T) {
	all, err := EnvTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	both, _ := EnvTokenizer(env.Lab, env.Household)
	want := NewTokenizer(append(env.Words(env.Household), env.Words(env.Lab)...))
	if !slices.Equal(all.Tokens(), want.Tokens()) || !slices.Equal(both.Tokens(), want.Tokens()) {
		t.Error("EnvTokenizer() is not the union of every environment's words")
	}
	lab, _ := EnvTokenizer(env.Lab)
	if !slices.Equal(lab.Tokens(), NewTokenizer(env.Words(env.Lab)).Tokens()) || lab.Size() >= all.Size() {
		t.Errorf("lab tokenizer: %d tokens, all %d", lab.Size(), all.Size())
	}
	if _, err := EnvTokenizer("kitchen"); err == nil || !strings.Contains(err.Error(), `"kitchen"`) {
		t.Errorf("unknown environment: %v", err)
	}
}
