package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestModelTokenizeReference: `model tokenize --json` over the corpus gives,
// line for line, the ids @huggingface/tokenizers gives (the committed
// reference, testdata/hf/*/encodings.json; policy/bpe's live test
// regenerates it), with and without --special.
func TestModelTokenizeReference(t *testing.T) {
	for _, name := range []string{"qwen3", "llama3", "llama3_1"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "..", "testdata", "hf", name)
			raw, err := os.ReadFile(filepath.Join(dir, "encodings.json"))
			if err != nil {
				t.Fatal(err)
			}
			var ref struct {
				Cases []struct {
					Text       string `json:"text"`
					IDs        []int  `json:"ids"`
					IDsSpecial []int  `json:"ids_special"`
				} `json:"cases"`
			}
			if err := json.Unmarshal(raw, &ref); err != nil {
				t.Fatal(err)
			}
			in := filepath.Join(t.TempDir(), "corpus.jsonl")
			var lines []string
			for _, c := range ref.Cases {
				b, _ := json.Marshal(c.Text)
				lines = append(lines, string(b))
			}
			if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			tokFile := filepath.Join(dir, "tokenizer.json.gz")
			for _, special := range []bool{false, true} {
				args := []string{"model", "tokenize", "--tokenizer", tokFile, "--json", in}
				if special {
					args = append(args, "--special")
				}
				out, errOut, code := run(t, args...)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
				if len(got) != len(ref.Cases) {
					t.Fatalf("%d lines out, want %d", len(got), len(ref.Cases))
				}
				for i, c := range ref.Cases {
					want := c.IDs
					if special {
						want = c.IDsSpecial
					}
					w, _ := json.Marshal(want)
					if string(w) == "null" {
						w = []byte("[]")
					}
					if got[i] != string(w) {
						t.Fatalf("special=%v, case %d %q: got %s, want %s", special, i, c.Text, got[i], w)
					}
				}
			}
		})
	}
}

// TestModelTokenizeBadInput: a missing tokenizer, a line that is not a
// JSON string, and invalid UTF-8 are bad input naming the file and line.
func TestModelTokenizeBadInput(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join("..", "..", "testdata", "hf", "qwen3", "tokenizer.json.gz")
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("fine\nnot \xff utf-8\n"), 0o644)
	notJSON := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(notJSON, []byte("\"ok\"\nplain\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"model", "tokenize", "--tokenizer", filepath.Join(dir, "none.json")}, "none.json"},
		{[]string{"model", "tokenize", "--tokenizer", tok, bad}, "bad.txt:2: invalid UTF-8"},
		{[]string{"model", "tokenize", "--tokenizer", tok, "--json", notJSON}, "bad.jsonl:2: not a JSON string"},
	} {
		_, errOut, code := run(t, c.args...)
		if code != ExitBadInput || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}
