package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHFModelEndToEnd: the commands for users' own models, as docs/models.md
// shows them: a tiny random Qwen2.5-shaped checkpoint (sharded BF16, a real
// tokenizer), a converted verl log, model score in raw and chat formats,
// and consistency by resampling the model at the log's states.
func TestHFModelEndToEnd(t *testing.T) {
	tmp := t.TempDir()
	model := filepath.Join(tmp, "qwen")
	out, errOut, code := run(t, "model", "tiny", "--type", "qwen2", "--tokenizer", "../../testdata/hf/qwen3",
		"--chat-template", "../../testdata/hf/qwen2_5/chat_template.jinja", "--out", model)
	if code != 0 || !strings.Contains(out, "wrote "+model) {
		t.Fatalf("model tiny: exit %d\n%s%s", code, out, errOut)
	}
	for _, f := range []string{"config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors", "tokenizer.json", "chat_template.jinja"} {
		if _, err := os.Stat(filepath.Join(model, f)); err != nil {
			t.Fatal(err)
		}
	}
	log := filepath.Join(tmp, "rollouts.parquet")
	if _, errOut, code := run(t, "convert", "../../testdata/adapters/verl", "--out", log); code != 0 {
		t.Fatalf("convert: exit %d: %s", code, errOut)
	}
	for _, prompt := range []string{"raw", "chat"} {
		out, errOut, code = run(t, "model", "score", "--checkpoint", model, "--samples", log, "--prompt", prompt)
		if code != 0 || !strings.Contains(out, "scored by "+model+": qwen2 (hidden 32") || !strings.Contains(out, "prompts "+prompt) {
			t.Fatalf("model score --prompt %s: exit %d\n%s%s", prompt, code, out, errOut)
		}
	}
	out, errOut, code = run(t, "consistency", log, "--model", model, "--states", "3", "--k", "4", "--threshold", "3", "--max-tokens", "4")
	if code != 0 || !strings.Contains(out, "3 probe states from 14 step records; qwen2") {
		t.Fatalf("consistency --model: exit %d\n%s%s", code, out, errOut)
	}

	// Per-sample gradients: a dense store and Bergson's projection, both
	// read back by coupling --grads, and coupling --model on a labelled log.
	labelled := filepath.Join(tmp, "labelled.parquet")
	if _, errOut, code := run(t, "convert", "../../testdata/adapters/verl/1.jsonl", "--label-column", "acc", "--out", labelled); code != 0 {
		t.Fatalf("convert --label-column: exit %d: %s", code, errOut)
	}
	dense := filepath.Join(tmp, "g.safetensors")
	out, errOut, code = run(t, "model", "grads", "--checkpoint", model, "--samples", labelled, "--out", dense, "--modules", "model.layers.1.mlp")
	if code != 0 || !strings.Contains(out, "8 x 6144 F32") || !strings.Contains(errOut, "expected about") {
		t.Fatalf("model grads: exit %d\n%s%s", code, out, errOut)
	}
	proj := filepath.Join(tmp, "bergson")
	out, errOut, code = run(t, "model", "grads", "--checkpoint", model, "--samples", labelled, "--out", proj, "--format", "bergson", "--project", "4", "--modules", "model.layers.1.*,lm_head")
	if code != 0 || !strings.Contains(out, "8 x 128 F32") || !strings.Contains(out, "model.layers.1.self_attn.q_proj") {
		t.Fatalf("model grads --project: exit %d\n%s%s", code, out, errOut)
	}
	for _, store := range []string{dense, proj} {
		samples := strings.TrimSuffix(store, ".safetensors") + ".samples.parquet"
		if store == proj {
			samples = filepath.Join(proj, "samples.parquet")
		}
		out, errOut, code = run(t, "coupling", "--grads", store, "--samples", samples)
		if code != 0 || !strings.Contains(out, "8 samples from") || !strings.Contains(out, "(5 good, 3 bad, 0 unknown)") {
			t.Fatalf("coupling --grads %s: exit %d\n%s%s", store, code, out, errOut)
		}
	}
	out, errOut, code = run(t, "coupling", labelled, "--model", model, "--modules", "model.layers.1.*,lm_head", "--exact")
	if code != 0 || !strings.Contains(out, "8 step records of "+labelled) || !strings.Contains(out, "exact inner products") {
		t.Fatalf("coupling --model --exact: exit %d\n%s%s", code, out, errOut)
	}
	_, errOut, code = run(t, "coupling", labelled, "--model", model, "--modules", "model.layers.9.*")
	if code != ExitBadInput || !strings.Contains(errOut, "model.layers.9.*") {
		t.Errorf("coupling --modules matching nothing: exit %d, %q", code, errOut)
	}

	// an unsupported config is bad input naming the field
	bad := filepath.Join(tmp, "sliding")
	if err := os.MkdirAll(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(filepath.Join(model, "config.json"))
	cfg = []byte(strings.NewReplacer(`"use_sliding_window": false`, `"use_sliding_window": true`,
		`"max_window_layers": 2`, `"max_window_layers": 0`, `"sliding_window": 32768`, `"sliding_window": 4096`).Replace(string(cfg)))
	if !strings.Contains(string(cfg), `"use_sliding_window": true`) {
		t.Fatalf("config.json has no use_sliding_window to switch on:\n%s", cfg)
	}
	os.WriteFile(filepath.Join(bad, "config.json"), cfg, 0o644)
	_, errOut, code = run(t, "model", "score", "--checkpoint", bad, "--samples", log)
	if code != ExitBadInput || !strings.Contains(errOut, "sliding_window") {
		t.Errorf("sliding window: exit %d, %q; want 2 naming sliding_window", code, errOut)
	}
}
