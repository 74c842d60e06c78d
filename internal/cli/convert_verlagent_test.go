package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/trajlog"
)

// TestConvertVerlAgent runs the verl-agent workflow of the README: a dump
// written through scripts/verl-agent/gradcouple_dump.py converts (format
// detected, copies dropped and counted); a stock dump is refused with exit
// status 2 naming the fix, and read with --single-turn only on request;
// GiGPO and unknown advantage modes are refused.
func TestConvertVerlAgent(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "adapters", "verl-agent")
	out := filepath.Join(t.TempDir(), "va.parquet")
	stdout, stderr, code := run(t, "convert", filepath.Join(dir, "patched"), "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"read verl-agent log", "281 step records, 40 trajectories", "dropped 39 exact copies", "46 responses without an <action>"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	recs, err := trajlog.ReadAll(out, trajlog.ReadOptions{})
	if err != nil || len(recs) != 281 {
		t.Fatalf("%d records, %v", len(recs), err)
	}

	stock := filepath.Join(dir, "stock")
	_, stderr, code = run(t, "convert", stock, "--out", filepath.Join(t.TempDir(), "s.parquet"))
	if code != ExitBadInput || !strings.Contains(stderr, "gradcouple_dump.py") || !strings.Contains(stderr, "--single-turn") {
		t.Errorf("stock dump: exit %d, stderr %q; want 2 naming the drop-in and --single-turn", code, stderr)
	}
	stdout, stderr, code = run(t, "convert", stock, "--single-turn", "--out", filepath.Join(t.TempDir(), "s.parquet"))
	if code != 0 || !strings.Contains(stdout, "advantage 0") {
		t.Errorf("--single-turn: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	for _, args := range [][]string{
		{"--advantage", "gigpo"},
		{"--advantage", "steps"},
	} {
		a := append([]string{"convert", filepath.Join(dir, "patched"), "--out", filepath.Join(t.TempDir(), "x.parquet")}, args...)
		if _, stderr, code := run(t, a...); code != ExitBadInput {
			t.Errorf("%v: exit %d (%s), want 2", args, code, stderr)
		}
	}
}
