package trainer

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestTrainCorrected: with gcd.train_corrected off (every preset's
// default) a corrected step trains the verdict only, no policy-gradient
// or KL token; on, it is a policy-gradient sample like any other. With a
// threshold of 0 every step is corrected, so off leaves no PG token at all.
func TestTrainCorrected(t *testing.T) {
	for _, p := range Presets() {
		for _, a := range []string{AlgoGRPO, AlgoGCD} {
			if c, _ := Defaults(p, a); c.GCD.TrainCorrected {
				t.Errorf("%s %s: train_corrected on by default", p, a)
			}
		}
	}
	pgLines := func(dir string) (pg, train int) {
		b, err := os.ReadFile(filepath.Join(dir, MetricsFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			var m map[string]any
			if err := json.Unmarshal(l, &m); err != nil {
				t.Fatal(err)
			}
			if _, ok := m["train_success"]; ok {
				train++
			}
			if _, ok := m["loss_pg"]; ok {
				pg++
			}
			if r, ok := m["correction_rate"].(float64); ok && r != 1 {
				t.Errorf("%s: correction rate %v with threshold 0", dir, r)
			}
		}
		return pg, train
	}
	cfg := tinyConfig()
	cfg.GCD.Threshold = 0
	off := runDir(t, cfg, "off")
	if pg, train := pgLines(off); train == 0 || pg != 0 {
		t.Errorf("train_corrected off: %d of %d iterations with a PG loss, want none", pg, train)
	}
	cfg.GCD.TrainCorrected = true
	on := runDir(t, cfg, "on")
	if pg, train := pgLines(on); train == 0 || pg != train {
		t.Errorf("train_corrected on: %d of %d iterations with a PG loss, want all", pg, train)
	}
}
