package analysis

import (
	"context"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/trajlog"
)

func TestResample(t *testing.T) {
	r := openTinyRun(t, "tiny", 5)
	opts := ResampleOptions{Repeated: 6, Random: 8, Seed: 3}
	rep, err := Resample(context.Background(), []Run{r}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status["ok"] != 14 || len(rep.Probes) != 14 {
		t.Fatalf("status %v", rep.Status)
	}
	// Repeated states are states where the logged action was taken before
	// in the trajectory.
	recs, err := trajlog.ReadAll(r.Logs(), trajlog.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byTraj := map[string][]trajlog.Record{}
	for _, rec := range recs {
		byTraj[rec.TrajID] = append(byTraj[rec.TrajID], rec)
	}
	kinds := map[string]int{}
	for _, p := range rep.Probes {
		kinds[p.Kind]++
		if p.Kind != KindRepeated {
			continue
		}
		var before []string
		for _, rec := range byTraj[p.TrajID] {
			if rec.Turn < p.Turn {
				before = append(before, rec.Action)
			}
		}
		if !slices.Contains(before, p.Action) {
			t.Errorf("repeated probe %d: %q not taken before turn %d", p.Probe, p.Action, p.Turn)
		}
	}
	if kinds[KindRepeated] != 6 || kinds[KindRandom] != 8 {
		t.Errorf("kinds %v", kinds)
	}
	// One row per checkpoint and kind; the per-state rows agree with them.
	if len(rep.Rows) != 6 || len(rep.States) != 2*14 {
		t.Fatalf("%d rows, %d state rows", len(rep.Rows), len(rep.States))
	}
	for _, row := range rep.Rows {
		var high, good, n float64
		for _, s := range rep.States {
			if s.Iteration == row.Iteration && (row.Kind == KindAll || s.Kind == row.Kind) {
				n++
				if s.ModalCount >= 5 {
					high++
					if s.ModalGood {
						good++
					}
				}
				if s.ModalCount < 1 || s.ModalCount > 10 || s.Distinct < 1 || s.Distinct > s.Admissible {
					t.Fatalf("state row %+v", s)
				}
			}
		}
		if float64(row.States) != n || row.High != high/n {
			t.Errorf("row %+v: %v states, high %v", row, n, high/n)
		}
		if row.HighGood+row.HighBad > row.High+1e-12 || row.HighGood < good/n-0.5/n {
			t.Errorf("row %+v: split does not add up (modal good %v)", row, good/n)
		}
	}
	// Deterministic whatever GOMAXPROCS; common random numbers: the same
	// checkpoint in another run draws the same actions.
	prev := runtime.GOMAXPROCS(1)
	again, err := Resample(context.Background(), []Run{r}, opts)
	runtime.GOMAXPROCS(prev)
	if err != nil || !slices.Equal(again.States, rep.States) || !slices.Equal(again.Rows, rep.Rows) {
		t.Fatal("GOMAXPROCS 1 differs")
	}
	// A nearly greedy policy is fully consistent.
	cold, err := Resample(context.Background(), []Run{r}, ResampleOptions{Repeated: 6, Random: 8, Seed: 3, Temperature: 1e-3, Checkpoints: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range cold.Rows {
		if row.High != 1 || row.MeanConsistency != 10 {
			t.Errorf("temperature 1e-3: %+v", row)
		}
	}
}

func TestResampleReconstructionStatus(t *testing.T) {
	r := openTinyRun(t, "tiny", 6)
	recs, err := trajlog.ReadAll(r.Logs(), trajlog.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Tamper with one trajectory's later prompts and another's state keys.
	var promptTraj, stateTraj string
	for i := range recs {
		rec := &recs[i]
		if rec.Turn == 3 && promptTraj == "" {
			promptTraj = rec.TrajID
		} else if rec.Turn == 3 && stateTraj == "" && rec.TrajID != promptTraj {
			stateTraj = rec.TrajID
		}
	}
	for i := range recs {
		rec := &recs[i]
		if rec.TrajID == promptTraj && rec.Turn >= 3 {
			rec.Prompt = strings.Replace(rec.Prompt, "Your action:", "Your next action:", 1)
		}
		if rec.TrajID == stateTraj && rec.Turn == 2 {
			rec.StateKey = "0000000000000000"
		}
	}
	byIter := map[int32][]trajlog.Record{}
	for _, rec := range recs {
		byIter[rec.Iteration] = append(byIter[rec.Iteration], rec)
	}
	for it, rs := range byIter {
		if err := trajlog.WriteFile(filepath.Join(r.Logs(), "iter-00000"+string(rune('0'+it))+".parquet"), rs, trajlog.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Resample(context.Background(), []Run{r}, ResampleOptions{Repeated: -1, Random: 2000, Seed: 1, Checkpoints: []int{0}, K: 2, Threshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Probes {
		want := "ok"
		switch {
		case p.TrajID == promptTraj && p.Turn >= 3:
			want = "prompt-mismatch"
		case p.TrajID == stateTraj && p.Turn >= 2:
			want = "state-mismatch"
		}
		if p.Status != want {
			// Distinct (task, state) pairs: another trajectory may represent a state.
			continue
		}
		if want != "ok" && p.Detail == "" {
			t.Errorf("%s without detail", want)
		}
	}
	if rep.Status["prompt-mismatch"] == 0 || rep.Status["state-mismatch"] == 0 || rep.Status["ok"] == 0 {
		t.Errorf("status %v", rep.Status)
	}
	if got := withoutCorrections("a\nb\nWarning: look is likely a wrong action here, choose another one.\nYour action:"); got != "a\nb\nYour action:" {
		t.Errorf("withoutCorrections: %q", got)
	}
	_ = env.Household
}
