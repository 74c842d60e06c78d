package hf

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// hfTestdata is the directory of the real tokenizer files.
const hfTestdata = "../../testdata/hf"

// tinyCase is one of the tiny reference checkpoints: its type, how its
// config and weights are written, and where its tokenizer comes from.
type tinyCase struct {
	Name     string // also the key in reference.json
	Type     string
	V5       bool   // transformers 5.x config.json
	Shards   int    // safetensors files
	Seed     uint64 // weights
	TokDir   string // under testdata/hf
	Template string // chat_template.jinja under testdata/hf, "" for the tokenizer dir's own
	EOT      string // the end-of-turn token that ends an action
}

var tinyCases = []tinyCase{
	{Name: "qwen2", Type: Qwen2, V5: false, Shards: 2, Seed: 1, TokDir: "qwen3", Template: "qwen2_5/chat_template.jinja", EOT: "<|im_end|>"},
	{Name: "qwen3", Type: Qwen3, V5: true, Shards: 3, Seed: 2, TokDir: "qwen3", EOT: "<|im_end|>"},
	{Name: "llama", Type: Llama, V5: false, Shards: 2, Seed: 3, TokDir: "llama3_1", EOT: "<|eot_id|>"},
}

func (tc tinyCase) options(withTokenizer bool) TinyOptions {
	o := TinyOptions{ModelType: tc.Type, Transformers5: tc.V5, Shards: tc.Shards, Seed: tc.Seed}
	if withTokenizer {
		o.Tokenizer = os.DirFS(filepath.Join(hfTestdata, tc.TokDir))
		if tc.Template != "" {
			b, err := os.ReadFile(filepath.Join(hfTestdata, tc.Template))
			if err != nil {
				panic(err)
			}
			o.ChatTemplate = b
		}
	}
	return o
}

var (
	tinyRoot     string
	tinyMu       sync.Mutex
	tinyWritten  = map[string]string{}
	tinyModels64 = map[string]*Model[float64]{}
	tinyModels32 = map[string]*Model[float32]{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gradcouple-hf-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tinyRoot = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// tinyDir returns the directory of the tiny checkpoint of tc with its
// tokenizer files, written once per test binary.
func tinyDir(t testing.TB, tc tinyCase) string {
	t.Helper()
	tinyMu.Lock()
	defer tinyMu.Unlock()
	if d, ok := tinyWritten[tc.Name]; ok {
		return d
	}
	d := filepath.Join(tinyRoot, tc.Name)
	if err := WriteTiny(d, tc.options(true)); err != nil {
		t.Fatalf("WriteTiny %s: %v", tc.Name, err)
	}
	tinyWritten[tc.Name] = d
	return d
}

func tinyModel64(t testing.TB, tc tinyCase) *Model[float64] {
	t.Helper()
	d := tinyDir(t, tc)
	tinyMu.Lock()
	defer tinyMu.Unlock()
	if m, ok := tinyModels64[tc.Name]; ok {
		return m
	}
	m, err := Load[float64](d)
	if err != nil {
		t.Fatalf("Load %s: %v", tc.Name, err)
	}
	tinyModels64[tc.Name] = m
	return m
}

func tinyModel32(t testing.TB, tc tinyCase) *Model[float32] {
	t.Helper()
	d := tinyDir(t, tc)
	tinyMu.Lock()
	defer tinyMu.Unlock()
	if m, ok := tinyModels32[tc.Name]; ok {
		return m
	}
	m, err := Load[float32](d)
	if err != nil {
		t.Fatalf("Load %s: %v", tc.Name, err)
	}
	tinyModels32[tc.Name] = m
	return m
}

// relErr is |got - want| / max(1, |want|): relative for log-probs of
// magnitude above 1, absolute for those near 0.
func relErr(got, want float64) float64 {
	return math.Abs(got-want) / math.Max(1, math.Abs(want))
}
