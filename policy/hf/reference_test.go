package hf

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/policy/chat"
)

// referencePath holds the PyTorch log-probs of the tiny checkpoints.
const referencePath = "../../testdata/hf/models/reference.json"

// Tolerances of the comparison with the PyTorch reference in float64,
// relErr (relative above 1 nat, absolute below).
const (
	tol64 = 1e-10 // Model[float64] vs torch float64
	tol32 = 1e-4  // Model[float32] vs torch float64
)

// refConversation is a chat and the assistant action scored after it.
type refConversation struct {
	Messages []chat.Message `json:"messages"`
	Action   string         `json:"action"` // scored with the end-of-turn token appended
}

// refConversations: short and long prompts (the long one past scoreRows =
// 128 query rows, so the attention is computed in two blocks), multi-token
// actions and a one-token action.
func refConversations() []refConversation {
	obs := "You are in the middle of a room. Looking quickly around you, you see a cabinet 1, a cabinet 2, a countertop 1, a drawer 1, a fridge 1, a microwave 1, a sinkbasin 1, and a toaster 1."
	long := strings.Repeat(obs+" Nothing happens. ", 6)
	return []refConversation{
		{Messages: []chat.Message{
			{Role: "system", Content: "You are an agent in a household. Answer with one admissible action."},
			{Role: "user", Content: obs + "\nYour task is to: put a clean apple in fridge."},
		}, Action: "go to countertop 1"},
		{Messages: []chat.Message{
			{Role: "user", Content: long + "\nYour task is to: heat some egg and put it in countertop."},
			{Role: "assistant", Content: "go to fridge 1"},
			{Role: "user", Content: "You arrive at fridge 1. The fridge 1 is closed."},
		}, Action: "open fridge 1"},
		{Messages: []chat.Message{
			{Role: "user", Content: "Which number is larger, 9.11 or 9.9? Reply in one word."},
		}, Action: "9.9 — café ✓"},
		{Messages: []chat.Message{
			{Role: "user", Content: "Say yes."},
		}, Action: ""},
	}
}

type refSeq struct {
	refConversation
	Prompt    []int `json:"prompt"`
	ActionIDs []int `json:"action_ids"`
}

type refValues struct {
	Sums     []float64   `json:"sums"`
	PerToken [][]float64 `json:"per_token"`
}

type refCase struct {
	Weights map[string]string `json:"weights_sha256"`
	Seqs    []refSeq          `json:"seqs"`
	Float64 refValues         `json:"float64"`
	Float32 refValues         `json:"float32"`
}

type refFile struct {
	About string              `json:"about"`
	Torch string              `json:"torch"`
	Cases map[string]*refCase `json:"cases"`
}

// buildSeqs renders the conversations with the directory's chat template
// and tokenizes them as apply_chat_template(add_generation_prompt=True)
// does (no special tokens added by the tokenizer); the action is its text
// followed by the end-of-turn token.
func buildSeqs(t *testing.T, dir string, tc tinyCase) []refSeq {
	t.Helper()
	m := tinyModel64(t, tc)
	tok, err := LoadTokenizer(dir, m.Config().VocabSize)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := chat.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []refSeq
	for _, conv := range refConversations() {
		text, err := tmpl.Render(conv.Messages, chat.Options{AddGenerationPrompt: true})
		if err != nil {
			t.Fatalf("%s: rendering: %v", tc.Name, err)
		}
		prompt, err := tok.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		action, err := tok.Encode(conv.Action + tc.EOT)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, refSeq{refConversation: conv, Prompt: prompt, ActionIDs: action})
	}
	return out
}

// weightHashes returns the SHA-256 of each safetensors file of dir.
func weightHashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		out[filepath.Base(f)] = hex.EncodeToString(h[:])
	}
	return out
}

func readReference(t *testing.T) *refFile {
	t.Helper()
	b, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatalf("%v (regenerate with GRADCOUPLE_TORCH=1 GRADCOUPLE_TORCH_UPDATE=1)", err)
	}
	var rf refFile
	if err := json.Unmarshal(b, &rf); err != nil {
		t.Fatal(err)
	}
	return &rf
}

func seqsOf(rs []refSeq) []Seq {
	out := make([]Seq, len(rs))
	for i, r := range rs {
		out[i] = Seq{Prompt: r.Prompt, Action: r.ActionIDs}
	}
	return out
}

// compareRef checks got against want token by token and in sum and
// returns the largest relErr.
func compareRef(t *testing.T, what string, sums []float64, per [][]float64, want refValues, tol float64) float64 {
	t.Helper()
	worst := 0.0
	for n := range want.Sums {
		if len(per[n]) != len(want.PerToken[n]) {
			t.Fatalf("%s: sequence %d: %d token log-probs, reference %d", what, n, len(per[n]), len(want.PerToken[n]))
		}
		for i, w := range want.PerToken[n] {
			e := relErr(per[n][i], w)
			worst = max(worst, e)
			if !(e <= tol) {
				t.Errorf("%s: sequence %d token %d: log pi %.17g, reference %.17g (error %.3g > %.0e)", what, n, i, per[n][i], w, e, tol)
			}
		}
		e := relErr(sums[n], want.Sums[n])
		worst = max(worst, e)
		if !(e <= tol) {
			t.Errorf("%s: sequence %d: sum %.17g, reference %.17g (error %.3g > %.0e)", what, n, sums[n], want.Sums[n], e, tol)
		}
	}
	return worst
}

// TestReference compares LogProbs of the three tiny checkpoints (qwen2 with
// a 4.x config in 2 BF16 shards, qwen3 with a 5.x config in 3 shards, llama
// with llama3 RoPE scaling and an untied head in 2 shards) with the log-probs
// of scripts/torch/hf_reference.py committed in testdata/hf/models:
// float64 within tol64 and float32 within tol32 of torch's float64. It also
// checks that WriteTiny still writes the committed weights (SHA-256) and
// that rendering and tokenizing the conversations gives the committed ids.
//
// With GRADCOUPLE_TORCH=1 it runs the script live (python3-torch; the
// interpreter is GRADCOUPLE_PYTHON or /usr/bin/python3) and compares with
// its output instead; GRADCOUPLE_TORCH_UPDATE=1 then rewrites the
// committed file.
func TestReference(t *testing.T) {
	live := os.Getenv("GRADCOUPLE_TORCH") == "1"
	update := live && os.Getenv("GRADCOUPLE_TORCH_UPDATE") == "1"
	var committed *refFile
	if !update {
		committed = readReference(t)
	}
	fresh := &refFile{
		About: "log pi of the tiny checkpoints of policy/hf (WriteTiny, seeds and layouts in reference_test.go's tinyCases) " +
			"from scripts/torch/hf_reference.py; regenerate with GRADCOUPLE_TORCH=1 GRADCOUPLE_TORCH_UPDATE=1 go test ./policy/hf -run TestReference",
		Cases: map[string]*refCase{},
	}
	for _, tc := range tinyCases {
		t.Run(tc.Name, func(t *testing.T) {
			dir := tinyDir(t, tc)
			seqs := buildSeqs(t, dir, tc)
			hashes := weightHashes(t, dir)
			var want *refCase
			if committed != nil {
				want = committed.Cases[tc.Name]
				if want == nil {
					t.Fatalf("no case %s in %s", tc.Name, referencePath)
				}
				for f, h := range want.Weights {
					if hashes[f] != h {
						t.Errorf("%s: SHA-256 %s, committed %s: WriteTiny writes other weights than the reference was made from", f, hashes[f], h)
					}
				}
				if len(hashes) != len(want.Weights) {
					t.Errorf("weight files %v, committed %v", hashes, want.Weights)
				}
				for i, s := range want.Seqs {
					if i >= len(seqs) || !slices.Equal(s.Prompt, seqs[i].Prompt) || !slices.Equal(s.ActionIDs, seqs[i].ActionIDs) {
						t.Errorf("sequence %d: the chat template and tokenizer now give other ids than committed", i)
					}
				}
				seqs = want.Seqs
			}
			if live {
				rc := runTorch(t, dir, seqs)
				rc.Weights = hashes
				if want != nil {
					// The committed file must be what the script prints.
					compareRef(t, "committed float64 vs live torch", want.Float64.Sums, want.Float64.PerToken, rc.Float64, 1e-12)
				}
				want = rc
				tinyMu.Lock()
				fresh.Cases[tc.Name] = rc
				tinyMu.Unlock()
			}
			m64, m32 := tinyModel64(t, tc), tinyModel32(t, tc)
			s64, p64, err := m64.LogProbs(seqsOf(seqs))
			if err != nil {
				t.Fatal(err)
			}
			s32, p32, err := m32.LogProbs(seqsOf(seqs))
			if err != nil {
				t.Fatal(err)
			}
			e64 := compareRef(t, "float64", s64, p64, want.Float64, tol64)
			e32 := compareRef(t, "float32", s32, p32, want.Float64, tol32)
			e32t := compareRef(t, "float32 vs torch float32", s32, p32, want.Float32, tol32)
			ntok := 0
			for _, s := range seqs {
				ntok += len(s.ActionIDs)
			}
			t.Logf("%s: %d sequences, %d action tokens, prompts up to %d tokens; largest error vs torch float64: float64 %.2g, float32 %.2g (vs torch float32 %.2g)",
				tc.Name, len(seqs), ntok, maxPrompt(seqs), e64, e32, e32t)
		})
	}
	if update && !t.Failed() {
		out, err := exec.Command(pythonPath(), "-c", "import torch; print(torch.__version__)").Output()
		if err != nil {
			t.Fatal(err)
		}
		fresh.Torch = strings.TrimSpace(string(out))
		b, err := json.MarshalIndent(fresh, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(referencePath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(referencePath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", referencePath)
	}
}

func maxPrompt(seqs []refSeq) int {
	n := 0
	for _, s := range seqs {
		n = max(n, len(s.Prompt))
	}
	return n
}

func pythonPath() string {
	if p := os.Getenv("GRADCOUPLE_PYTHON"); p != "" {
		return p
	}
	return "/usr/bin/python3"
}

// runTorch runs scripts/torch/hf_reference.py on dir and seqs in float64
// and float32.
func runTorch(t *testing.T, dir string, seqs []refSeq) *refCase {
	t.Helper()
	type jseq struct {
		Prompt []int `json:"prompt"`
		Action []int `json:"action"`
	}
	req := struct {
		Seqs   []jseq   `json:"seqs"`
		DTypes []string `json:"dtypes"`
	}{DTypes: []string{"float64", "float32"}}
	for _, s := range seqs {
		req.Seqs = append(req.Seqs, jseq{s.Prompt, s.ActionIDs})
	}
	b, _ := json.Marshal(req)
	reqPath := filepath.Join(t.TempDir(), "request.json")
	if err := os.WriteFile(reqPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pythonPath(), "../../scripts/torch/hf_reference.py", dir, reqPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hf_reference.py: %v\n%s", err, stderr.String())
	}
	var res struct {
		Torch   string               `json:"torch"`
		Results map[string]refValues `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("hf_reference.py output: %v", err)
	}
	return &refCase{Seqs: seqs, Float64: res.Results["float64"], Float32: res.Results["float32"]}
}
