package analysis

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/policy/chat"
	"github.com/gradcouple/gradcouple/policy/hf"
	"github.com/gradcouple/gradcouple/trajlog"
)

// tinyHF writes a tiny random qwen2 checkpoint (two BF16 shards, Qwen3's
// real tokenizer, Qwen2.5's chat template) and returns its directory.
func tinyHF(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "qwen")
	tmpl, err := os.ReadFile("../testdata/hf/qwen2_5/chat_template.jinja")
	if err != nil {
		t.Fatal(err)
	}
	if err := hf.WriteTiny(dir, hf.TinyOptions{ModelType: hf.Qwen2, Shards: 2, DType: checkpoint.BF16, Seed: 3,
		Tokenizer: os.DirFS("../testdata/hf/qwen3"), ChatTemplate: tmpl}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestScoreHF: OpenActor recognises a Hugging Face directory; Score's
// log-probs equal the model's own LogProbs of the pairs tokenized by hand
// (prompt as is or rendered with the chat template, action followed by
// <|im_end|> unless NoEnd), in float32 and float64, and the two precisions
// agree to 1e-4 relative.
func TestScoreHF(t *testing.T) {
	dir := tinyHF(t)
	_, recs := modelLog(t)
	recs = recs[:6]
	f := filepath.Join(t.TempDir(), "log.jsonl")
	if err := trajlog.WriteFile(f, recs, trajlog.Meta{}); err != nil {
		t.Fatal(err)
	}
	m, err := hf.Load[float64](dir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := hf.LoadTokenizer(dir, m.Config().VocabSize)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := chat.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []ActorOptions{{}, {Prompt: PromptChat}, {NoEnd: true}, {Float64: true}} {
		var seqs []hf.Seq
		for _, r := range recs {
			text := r.Prompt
			if opts.Prompt == PromptChat {
				if text, err = tmpl.Render([]chat.Message{{Role: "user", Content: r.Prompt}}, chat.Options{AddGenerationPrompt: true}); err != nil {
					t.Fatal(err)
				}
			}
			p, _ := tok.Encode(text)
			a, _ := tok.Encode(r.Action)
			if !opts.NoEnd {
				a = append(a, 151645) // <|im_end|>
			}
			seqs = append(seqs, hf.Seq{Prompt: p, Action: a})
		}
		want, _, err := m.LogProbs(seqs)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := OpenActor(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(sc.Describe(), "qwen2 (hidden 32") {
			t.Errorf("Describe() = %q", sc.Describe())
		}
		rep, err := Score(context.Background(), sc, []string{f}, ModelOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tol := 1e-4
		if opts.Float64 {
			tol = 0
		}
		for i, r := range rep.Rows {
			if d := r.LogProb - want[i]; d > tol*-want[i] || -d > tol*-want[i] {
				t.Fatalf("%+v row %d: %v, want %v", opts, i, r.LogProb, want[i])
			}
			if int(r.PromptTokens) != len(seqs[i].Prompt) {
				t.Fatalf("%+v row %d: %d prompt tokens, want %d", opts, i, r.PromptTokens, len(seqs[i].Prompt))
			}
		}
	}
}

// TestScoreHFBadInput: invalid UTF-8 in a prompt and a pair longer than
// max_position_embeddings are validation errors naming file and row.
func TestScoreHFBadInput(t *testing.T) {
	dir := tinyHF(t)
	_, recs := modelLog(t)
	bad := append([]trajlog.Record(nil), recs[:3]...)
	bad[1].Prompt = strings.Repeat("go to cabinet 1. ", 12000)
	f := filepath.Join(t.TempDir(), "long.jsonl")
	if err := trajlog.WriteFile(f, bad, trajlog.Meta{}); err != nil {
		t.Fatal(err)
	}
	sc, err := OpenActor(dir, ActorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Score(context.Background(), sc, []string{f}, ModelOptions{})
	var ve *trajlog.ValidationError
	if !errors.As(err, &ve) || ve.File != f || ve.Row != 2 || !strings.Contains(err.Error(), "max_position_embeddings") {
		t.Fatalf("error %v, want a validation error for %s row 2 beyond max_position_embeddings", err, f)
	}
}

// TestResampleLogHF: resampling a Hugging Face model at a log's states
// draws K actions at each of the chosen states, gives the same draws for
// the same seed at any GOMAXPROCS, and labels a drawn action by the log's
// label of that action at that state.
func TestResampleLogHF(t *testing.T) {
	dir := tinyHF(t)
	_, recs := modelLog(t)
	f := filepath.Join(t.TempDir(), "log.jsonl")
	if err := trajlog.WriteFile(f, recs, trajlog.Meta{}); err != nil {
		t.Fatal(err)
	}
	actor, err := OpenActor(dir, ActorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opts := LogResampleOptions{K: 4, Threshold: 3, States: 3, Seed: 7, Draw: DrawOptions{MaxTokens: 6}}
	run := func(procs int) *LogResampleReport {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		rep, err := ResampleLog(context.Background(), actor, []string{f}, opts)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	a, b := run(1), run(2)
	if len(a.States) != 3 || len(a.Rows) != 1 || a.Rows[0].Eligible != 3 {
		t.Fatalf("%d states, rows %+v", len(a.States), a.Rows)
	}
	for i := range a.States {
		if a.States[i] != b.States[i] {
			t.Fatalf("state %d differs across GOMAXPROCS: %+v vs %+v", i, a.States[i], b.States[i])
		}
		if s := a.States[i]; s.ModalCount < 1 || s.ModalCount > 4 || s.Distinct < 1 {
			t.Fatalf("state %+v", s)
		}
	}

	// labels: a state whose logged action is good and bad alike is
	// unknown; one logged good is good
	st := &logState{actions: map[string]*[2]int{"go": {2, 0}, "take": {1, 1}, "drop": {0, 3}}}
	for a, want := range map[string]int8{"go": 1, "take": -1, "drop": 0, "never": -1} {
		if got := st.label(a); got != want {
			t.Errorf("label(%q) = %d, want %d", a, got, want)
		}
	}
}

// TestResampleLogBundled: the bundled actor draws text actions (decoded
// from its tokens when unconstrained) at logged states.
func TestResampleLogBundled(t *testing.T) {
	dir, _ := modelLog(t)
	m, tok := smallModel(t, 256)
	rep, err := ResampleLog(context.Background(), NewBundledActor(m, tok), []string{dir},
		LogResampleOptions{K: 3, Threshold: 2, States: 4, Seed: 1, Draw: DrawOptions{MaxTokens: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.States) != 4 {
		t.Fatalf("%d states", len(rep.States))
	}
	for _, s := range rep.States {
		if s.ModalAction == "" && s.ModalCount == 3 {
			t.Errorf("state %+v: every draw empty (tokens not decoded?)", s)
		}
	}
}
