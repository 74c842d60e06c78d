package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// flipBit flips the lowest bit of the middle byte of the file at path.
func flipBit(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptCheckpointExit2: one flipped bit in model.safetensors of a
// checkpoint written by the trainer makes every reader of the checkpoint
// (train --resume, model score, coupling) exit with status 2 naming the
// file, through the checksum manifest SHA256SUMS; nothing is written.
func TestCorruptCheckpointExit2(t *testing.T) {
	tmp := t.TempDir()
	cfg := filepath.Join(tmp, "tiny.yaml")
	if err := os.WriteFile(cfg, []byte(tinyTrainYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "runs", "tiny")
	if _, stderr, code := run(t, "train", "--config", cfg, dir); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	// Mark the run unfinished, as an interrupted run is, so that --resume
	// loads its latest checkpoint.
	manifest := filepath.Join(dir, "run.json")
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	var man map[string]any
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	delete(man, "finished")
	if b, err = json.Marshal(man); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(manifest, b, 0o644)
	ck := filepath.Join(dir, "checkpoints", "iter-000002")
	if _, err := os.Stat(filepath.Join(ck, "SHA256SUMS")); err != nil {
		t.Fatalf("the trainer wrote no manifest: %v", err)
	}
	model := filepath.Join(ck, "model.safetensors")
	flipBit(t, model)
	before, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))

	out := filepath.Join(tmp, "scores.parquet")
	for _, args := range [][]string{
		{"train", "--resume", dir},
		{"model", "score", "--checkpoint", ck, "--samples", filepath.Join(dir, "logs"), "--out", out},
		{"coupling", dir, "--checkpoints", "2", "--num-probes", "8", "--out", filepath.Join(tmp, "c.csv")},
	} {
		_, stderr, code := run(t, args...)
		if code != ExitBadInput || !strings.Contains(stderr, model+": SHA-256") || !strings.Contains(stderr, "differs from SHA256SUMS") {
			t.Errorf("%v: exit %d, stderr %q, want 2 naming %s", args, code, stderr, model)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl")); string(after) != string(before) {
		t.Error("the refused resume changed metrics.jsonl")
	}
	for _, f := range []string{out, filepath.Join(tmp, "c.csv")} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s written", f)
		}
	}
}
