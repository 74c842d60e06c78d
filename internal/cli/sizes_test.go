package cli

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/trainer"
)

// TestSizeFlagsRefused: sizes beyond the memory budget are refused with exit
// 2 stating the limit, before anything is allocated or written: no panic, no
// out-of-memory crash, no run directory left for --resume to trip on.
func TestSizeFlagsRefused(t *testing.T) {
	tmp := t.TempDir()
	cases := []struct {
		args []string
		want string
		dir  string // must not exist afterwards
	}{
		{[]string{"model", "init", "--dim", "1000000", "--layers", "1000", "--heads", "1", "--out", filepath.Join(tmp, "m1")}, "budget", filepath.Join(tmp, "m1")},
		{[]string{"model", "init", "--context", "100000000", "--out", filepath.Join(tmp, "m2")}, "budget", filepath.Join(tmp, "m2")},
		{[]string{"model", "init", "--dim", "2000000000", "--heads", "1", "--layers", "2000000000", "--out", filepath.Join(tmp, "m3")}, "budget", filepath.Join(tmp, "m3")},
		{[]string{"train", "--dim", "1000000", "--layers", "1000", "--heads", "1", filepath.Join(tmp, "r1")}, "budget", filepath.Join(tmp, "r1")},
		{[]string{"train", "--train-tasks", "100000000000", "--tasks", "4", filepath.Join(tmp, "r2")}, "budget", filepath.Join(tmp, "r2")},
		{[]string{"train", "--tasks", "40000", "--train-tasks", "40000", "--group-size", "100000", filepath.Join(tmp, "r3")}, "budget", filepath.Join(tmp, "r3")},
		{[]string{"train", "--max-bytes", "1M", filepath.Join(tmp, "r4")}, "1.0 MiB", filepath.Join(tmp, "r4")},
		{[]string{"advantage", "simulate", "--groups", "0"}, "--groups 0", ""},
		{[]string{"advantage", "simulate", "--group-size", "0"}, "--group-size 0", ""},
		{[]string{"advantage", "simulate", "--group-size", "1"}, "--group-size 1", ""},
		{[]string{"advantage", "simulate", "--group-size", "1000000000000"}, "want 2 to", ""},
		{[]string{"advantage", "simulate", "--groups", "-3"}, "--groups -3", ""},
	}
	for _, c := range cases {
		_, stderr, code := run(t, c.args...)
		if code != ExitBadInput || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr, ExitBadInput, c.want)
		}
		if c.dir != "" {
			if _, err := os.Stat(c.dir); err == nil {
				t.Errorf("%v: %s was created", c.args, c.dir)
			}
		}
	}
	// A run.json with sizes beyond the budget (written by an older version,
	// or by hand) is refused by --resume, not a panic.
	dir := filepath.Join(tmp, "old")
	cfg, _ := trainer.Defaults(trainer.PresetQuick, trainer.AlgoGRPO)
	cfg.Run = "old"
	cfg.Model.Dim, cfg.Model.Layers, cfg.Model.Heads = 1000000, 1000, 1
	os.MkdirAll(dir, 0o755)
	writeManifestJSON(t, dir, cfg)
	if _, stderr, code := run(t, "train", "--resume", dir); code != ExitBadInput || !strings.Contains(stderr, "budget") {
		t.Errorf("train --resume of a run.json beyond the budget: exit %d, stderr %q", code, stderr)
	}
}

// writeManifestJSON writes a run.json of cfg into dir.
func writeManifestJSON(t *testing.T, dir string, cfg trainer.Config) {
	t.Helper()
	m := trainer.Manifest{Format: trainer.FormatVersion, Version: "test", Run: cfg.Run, Env: cfg.Env, Algo: cfg.Algo, Seed: cfg.Seed, Config: cfg, Started: "2026-01-01T00:00:00Z"}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, trainer.ManifestFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSimulateAgreesSign: under std normalisation `agrees` checks the sign
// q r (q-1) predicts: negative mass for r > 0, positive for r < 0, and 0 for
// q = 1 (every trajectory takes the action).
func TestSimulateAgreesSign(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sim.csv")
	if _, stderr, code := run(t, "advantage", "simulate", "--q", "0.3,1", "--r", "0.2,-0.2", "--p", "0.5", "--groups", "4000", "--out", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	if len(rows) != 5 {
		t.Fatalf("%d rows, want 4", len(rows)-1)
	}
	for _, r := range rows[1:] {
		q, rr, mass, agrees := r[col["q"]], r[col["r"]], r[col["mass"]], r[col["agrees"]]
		if agrees != "true" {
			t.Errorf("q=%s r=%s: mass %s, agrees %s; want true (the sign of q r (q-1))", q, rr, mass, agrees)
		}
	}
}
