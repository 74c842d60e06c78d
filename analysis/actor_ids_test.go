package analysis

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/policy/hf"
	"github.com/gradcouple/gradcouple/trajlog"
)

// TestScoreHFLoggedIDs: a record with token ids is scored on its ids as
// logged (no tokenization, no end token added), whatever its text says;
// the result equals the model's LogProbs of those ids. An id beyond the
// vocabulary is an error naming the file, row and field.
func TestScoreHFLoggedIDs(t *testing.T) {
	dir := tinyHF(t)
	_, recs := modelLog(t)
	recs = recs[:4]
	m, err := hf.Load[float64](dir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := hf.LoadTokenizer(dir, m.Config().VocabSize)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []hf.Seq
	for i := range recs {
		// The chat-rendered prompt with its special tokens, as verl's
		// batch holds it, and the action with <|im_end|>.
		p, err := tok.Encode("<|im_start|>user\n" + recs[i].Prompt + "<|im_end|>\n<|im_start|>assistant\n")
		if err != nil {
			t.Fatal(err)
		}
		a, _ := tok.Encode(recs[i].Action)
		a = append(a, 151645)
		seqs = append(seqs, hf.Seq{Prompt: p, Action: a})
		recs[i].PromptIDs, recs[i].ActionIDs = ids32(p), ids32(a)
		recs[i].Prompt = strings.ReplaceAll(recs[i].Prompt, "task", "TASK") // the text no longer matches: the ids win
	}
	f := filepath.Join(t.TempDir(), "ids.parquet")
	if err := trajlog.WriteFile(f, recs, trajlog.Meta{}); err != nil {
		t.Fatal(err)
	}
	want, _, err := m.LogProbs(seqs)
	if err != nil {
		t.Fatal(err)
	}
	a, err := OpenActor(dir, ActorOptions{Float64: true, Prompt: PromptChat})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Score(context.Background(), a, []string{f}, ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rep.Rows {
		if r.LogProb != want[i] {
			t.Errorf("row %d: %v, want %v", i, r.LogProb, want[i])
		}
		if int(r.PromptTokens) != len(seqs[i].Prompt) || int(r.ActionTokens) != len(seqs[i].Action)-1 {
			t.Errorf("row %d: %d + %d tokens, want %d + %d", i, r.PromptTokens, r.ActionTokens, len(seqs[i].Prompt), len(seqs[i].Action)-1)
		}
	}
	if rep.Tokens.LoggedIDs != 4 {
		t.Errorf("%d records read from ids, want 4", rep.Tokens.LoggedIDs)
	}

	recs[2].ActionIDs[0] = int32(m.Config().VocabSize)
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := trajlog.WriteFile(bad, recs, trajlog.Meta{}); err != nil {
		t.Fatal(err)
	}
	_, err = Score(context.Background(), a, []string{bad}, ModelOptions{})
	var ve *trajlog.ValidationError
	if !errors.As(err, &ve) || ve.File != bad || ve.Row != 3 || ve.Field != "action_ids" {
		t.Fatalf("error %v, want one for %s row 3 field action_ids", err, bad)
	}
}

func ids32(v []int) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}
