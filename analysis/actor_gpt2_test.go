package analysis

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/policy"
	"github.com/gradcouple/gradcouple/policy/hf"
	"github.com/gradcouple/gradcouple/trajlog"
)

// tinyGPT2 writes a tiny random GPT-2 directory as save_pretrained writes
// GPT2LMHeadModel, with GPT-2's real tokenizer; hub names it as the hub's
// openai-community/gpt2 checkpoint does (GPT2Model's names, no
// "transformer." prefix). It returns the directory and the model.
func tinyGPT2(t *testing.T, hub bool) (string, *policy.Model) {
	t.Helper()
	m, err := policy.NewModel(policy.Config{VocabSize: 50257, Context: 128, Dim: 16, Layers: 2, Heads: 2, EOS: 50256}, rand.New(rand.NewPCG(5, 6)))
	if err != nil {
		t.Fatal(err)
	}
	cfg, tensors, err := m.HFFiles()
	if err != nil {
		t.Fatal(err)
	}
	if hub {
		for i := range tensors {
			tensors[i].Name = strings.TrimPrefix(tensors[i].Name, "transformer.")
		}
	}
	dir := filepath.Join(t.TempDir(), "gpt2")
	if err := hf.WriteDir(dir, cfg, tensors, 1, os.DirFS("../testdata/hf/gpt2"), nil); err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// TestScoreGPT2: a GPT-2 directory written by Hugging Face runs on the
// bundled actor's network with GPT-2's byte-level BPE: Score equals the
// network's LogProbs of the ids that @huggingface/tokenizers gives for the
// same texts (testdata/hf/gpt2/encodings.json) followed by <|endoftext|>,
// for both tensor namings; NoEnd and top-p are refused.
func TestScoreGPT2(t *testing.T) {
	data, err := os.ReadFile("../testdata/hf/gpt2/encodings.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			Text string `json:"text"`
			IDs  []int  `json:"ids"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	// Prompts and actions from the reference corpus, short enough for a
	// context of 128.
	var recs []trajlog.Record
	var seqs []policy.Seq
	_, base := modelLog(t)
	for _, c := range ref.Cases {
		if len(c.IDs) == 0 || len(c.IDs) > 40 || strings.Contains(c.Text, "<|endoftext|>") || len(recs) == 6 {
			continue
		}
		r := base[len(recs)]
		r.Prompt, r.Action = c.Text, "go to cabinet 2"
		recs = append(recs, r)
		seqs = append(seqs, policy.Seq{Prompt: c.IDs})
	}
	if len(recs) < 6 {
		t.Fatalf("%d usable corpus strings", len(recs))
	}
	for _, hub := range []bool{false, true} {
		dir, m := tinyGPT2(t, hub)
		// The action's ids by the tokenizer under test (checked against
		// the reference in policy/bpe).
		tok, err := hf.LoadTokenizer(dir, 50257)
		if err != nil {
			t.Fatal(err)
		}
		a, err := tok.Encode("go to cabinet 2")
		if err != nil || len(a) != 4 {
			t.Fatalf("action ids %v, %v", a, err)
		}
		for i := range seqs {
			seqs[i].Action = a
		}
		f := filepath.Join(t.TempDir(), "log.jsonl")
		if err := trajlog.WriteFile(f, recs, trajlog.Meta{}); err != nil {
			t.Fatal(err)
		}
		want := m.LogProbs(nil, seqs)
		actor, err := OpenActor(dir, ActorOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(actor.Describe(), "gpt2 (d 16, 2 layers") {
			t.Errorf("Describe() = %q", actor.Describe())
		}
		rep, err := Score(context.Background(), actor, []string{f}, ModelOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rep.Rows {
			// The directory holds the weights rounded to float32, as the
			// network reads them; the model here is float64.
			if d := r.LogProb - want[i]; d > 1e-5*-want[i] || -d > 1e-5*-want[i] {
				t.Errorf("hub %v row %d: %v, want %v", hub, i, r.LogProb, want[i])
			}
			if int(r.PromptTokens) != len(seqs[i].Prompt) || int(r.ActionTokens) != len(seqs[i].Action) {
				t.Errorf("hub %v row %d: %d+%d tokens, want %d+%d", hub, i, r.PromptTokens, r.ActionTokens, len(seqs[i].Prompt), len(seqs[i].Action))
			}
		}
		if kind, ok := HFModelType(dir); !ok || kind != "gpt2" {
			t.Errorf("HFModelType = %q, %v", kind, ok)
		}
		if _, err := OpenActor(dir, ActorOptions{NoEnd: true}); err == nil || !strings.Contains(err.Error(), "end token") {
			t.Errorf("NoEnd: %v", err)
		}
		if _, err := actor.sample(recs[0].Prompt, nil, 2, DrawOptions{TopP: 0.9, MaxTokens: 3}, rand.New(rand.NewPCG(1, 2))); err == nil {
			t.Error("top-p accepted")
		}
		got, err := actor.sample(recs[0].Prompt, nil, 2, DrawOptions{MaxTokens: 3}, rand.New(rand.NewPCG(1, 2)))
		if err != nil || len(got) != 2 {
			t.Errorf("sample: %q, %v", got, err)
		}
	}
	// A gradcouple checkpoint of the bundled actor is not taken for one,
	// even with a tokenizer.json beside it.
	tok := policy.NewTokenizer([]string{"go to cabinet 2"})
	m, err := policy.NewModel(policy.Config{VocabSize: tok.Size(), Context: 16, Dim: 8, Layers: 1, Heads: 2}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "bundled")
	if err := policy.Save(dir, m, tok, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, hf.TokenizerFileName), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if kind, ok := HFModelType(dir); ok {
		t.Errorf("a gradcouple checkpoint taken for a Hugging Face %s", kind)
	}
}
