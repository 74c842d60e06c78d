package cli

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/internal/table"
)

// TestEnvStatsIdentifiability: env stats prints the identifiability table
// (a row per split without and with the memory line) and writes every column
// with --identifiability-out; the file holds exactly what
// env.Identifiability computes for the same tasks, prompt history and twin
// distance (the command does no arithmetic of its own).
func TestEnvStatsIdentifiability(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "ident.json")
	out, stderr, code := run(t, "env", "stats", "--env", "lab", "--tasks", "8", "--seed", "3", "--history", "1", "--twin-edits", "3", "--identifiability-out", f)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Label identifiability", "blind_prompt", "unidentifiable", "twin_pairs", "within 3 token edits"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want, err := env.Identifiability(env.IdentifiabilityConfig{Envs: []string{env.Lab}, Tasks: 8, Seed: 3,
		Prompt: env.PromptConfig{History: 1}, TwinEdits: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(got) != 6 {
		t.Fatalf("%d rows in the file, %d computed", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g["split"] != w.Split || g["memory"] != w.Memory || g["steps"] != float64(w.Steps) || g["twin_edits"] != float64(3) ||
			g["twin_pairs"] != float64(w.TwinPairs) || math.Abs(g["blind"].(float64)-w.Blind) > 1e-12 ||
			math.Abs(g["ambiguous_hi"].(float64)-w.AmbiguousHi) > 1e-12 || math.Abs(g["blind_prompt"].(float64)-w.BlindPrompt) > 1e-12 {
			t.Errorf("row %d: file %v, computed %+v", i, g, w)
		}
	}
	// The printed row of lab train without memory, as env.Identifiability
	// has it.
	r := identShownRows(want[:1])[0]
	if !strings.Contains(out, r.Blind) || !strings.Contains(out, r.BlindPrompt) || !strings.Contains(out, r.Ambiguous) {
		t.Errorf("output lacks the row %+v", r)
	}
	if _, stderr, code := run(t, "env", "stats", "--tasks", "2", "--twin-edits", "0"); code != ExitBadInput {
		t.Errorf("--twin-edits 0: exit %d (%s)", code, stderr)
	}
}

func TestPctIn(t *testing.T) {
	for _, c := range []struct {
		p, lo, hi float64
		want      string
	}{
		{0.164, 0.1444, 0.1861, "16.4% [14.4, 18.6]"},
		{0, 0, 0.02, "0.0% [0.0, 2.0]"},
		{math.NaN(), math.NaN(), math.NaN(), "-"},
	} {
		if got := pctIn(c.p, c.lo, c.hi); got != c.want {
			t.Errorf("pctIn(%v, %v, %v) = %q, want %q", c.p, c.lo, c.hi, got, c.want)
		}
	}
}

// TestEnvStatsHelpExplainsColumns: every column of the identifiability table,
// printed and written, is named in `env stats --help`.
func TestEnvStatsHelpExplainsColumns(t *testing.T) {
	help, _, code := run(t, "env", "stats", "--help")
	if code != 0 {
		t.Fatalf("env stats --help: exit %d", code)
	}
	for _, rows := range []any{[]identShown{}, []env.IdentifiabilityRow{}} {
		header, _, _ := table.Cells(rows)
		for _, col := range header {
			base := col
			for _, suffix := range []string{"_lo", "_hi"} {
				if b, ok := strings.CutSuffix(col, suffix); ok && strings.Contains(help, "X_lo, X_hi") {
					base = b
				}
			}
			if !strings.Contains(help, base) {
				t.Errorf("env stats --help does not explain column %s", col)
			}
		}
	}
}

// TestEnvStatsTwins: env stats takes the twin variants of household and lab
// (whose identifiability table counts the designed twins) and refuses a
// name that is none.
func TestEnvStatsTwins(t *testing.T) {
	out, stderr, code := run(t, "env", "stats", "--env", "household-twin-alias", "--tasks", "4")
	if code != 0 || !strings.Contains(out, "household-twin-alias") || !strings.Contains(out, "twin_pairs") {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	if _, stderr, code := run(t, "env", "stats", "--env", "household-alias"); code != ExitBadInput || !strings.Contains(stderr, "-twin-alias") {
		t.Errorf("household-alias: exit %d, %s", code, stderr)
	}
}
