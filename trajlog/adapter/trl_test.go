package adapter_test

import (
	"bytes"
	"math"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/gradcouple/gradcouple/trajlog/adapter"
)

func TestTRLFixture(t *testing.T) {
	res := mustRead(t, filepath.Join(fixtures, "trl"), adapter.Options{})
	recs := res.Records
	if len(recs) != 11 {
		t.Fatalf("%d records, want 11", len(recs))
	}
	// Advantages are logged, so not derived; completions_00002 has no mode
	// column and lies in no train/eval directory, so its split is assumed.
	wantDerived := []string{"group_id", "label", "label_votes", "logprob", "split", "state_key", "success", "traj_id", "valid"}
	if diff := cmp.Diff(wantDerived, res.Derived); diff != "" {
		t.Errorf("Derived (-want +got):\n%s", diff)
	}
	type want struct {
		traj, group string
		iter        int32
		outcome     float32 // sum of the reward columns (see trlStep1, trlStep2)
		adv         float32 // the logged advantage, kept as is
	}
	wants := []want{
		{"completions_00001.parquet:1", "step-1/g-0", 1, 1.5, 1.305310},
		{"completions_00001.parquet:2", "step-1/g-0", 1, 0.5, -0.783186},
		{"completions_00001.parquet:3", "step-1/g-0", 1, 1.0, 0.261062},
		{"completions_00001.parquet:4", "step-1/g-0", 1, 0.5, -0.783186},
		{"completions_00001.parquet:5", "step-1/g-1", 1, 0.5, 0},
		{"completions_00001.parquet:6", "step-1/g-1", 1, 0.5, 0},
		{"completions_00001.parquet:7", "step-1/g-1", 1, 0.5, 0},
		{"completions_00001.parquet:8", "step-1/g-1", 1, 0.5, 0},
		{"completions_00002.parquet:1", "step-2/g-0", 2, 1.25, 0.927025},
		{"completions_00002.parquet:2", "step-2/g-0", 2, 0.75, 0.132432},
		{"completions_00002.parquet:3", "step-2/g-0", 2, 0, -1.059457},
	}
	for i, w := range wants {
		r := recs[i]
		if r.TrajID != w.traj || r.GroupID != w.group || r.Iteration != w.iter ||
			r.Outcome != w.outcome || r.StepReward != w.outcome || r.Advantage != w.adv {
			t.Errorf("record %d = traj %s group %s iter %d outcome %v adv %v; want %+v",
				i, r.TrajID, r.GroupID, r.Iteration, r.Outcome, r.Advantage, w)
		}
		if r.Split != trajlog.SplitTrain || r.Turn != 0 || r.Label != trajlog.LabelUnknown {
			t.Errorf("record %d: split %q turn %d label %d", i, r.Split, r.Turn, r.Label)
		}
	}
	if recs[0].Prompt != trlP1 || recs[0].Action != "<think>7*6=42</think><answer>42</answer>" {
		t.Errorf("record 0 prompt/action = %q / %q", recs[0].Prompt, recs[0].Action)
	}
	if recs[10].Action != "" {
		t.Errorf("empty completion read as %q", recs[10].Action)
	}
	// Success = outcome > 0: every row of step 1 (the format reward is
	// positive), 2 of 3 at step 2; with a threshold of 1 (strictly greater),
	// 1 of 8 (only 1.5) and 1 of 3 (1.25).
	if got := successRate(recs, 1); got != 1 {
		t.Errorf("step 1 success rate = %v, want 1", got)
	}
	if got := successRate(recs, 2); got != 2.0/3 {
		t.Errorf("step 2 success rate = %v, want 2/3", got)
	}
	res = mustRead(t, filepath.Join(fixtures, "trl"), adapter.Options{SuccessThreshold: 1})
	if got := successRate(res.Records, 1); got != 0.125 {
		t.Errorf("threshold 1: step 1 success rate = %v, want 1/8", got)
	}
	if got := successRate(res.Records, 2); got != 1.0/3 {
		t.Errorf("threshold 1: step 2 success rate = %v, want 1/3", got)
	}
}

// TestTRLRecomputedAdvantage drops the advantage column: the advantage is then
// recomputed with verl's eps 1e-6 instead of TRL's 1e-4:
// P1 A = (R - 0.875) / (0.4787136 + 1e-6) = 1.3055797, -0.7833478, 0.2611159, -0.7833478.
func TestTRLRecomputedAdvantage(t *testing.T) {
	table := trlStep1
	table.advantage = nil
	res, err := adapter.ReadTRL(bytes.NewReader(table.bytes(t)), "completions_00001.parquet", adapter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res)
	want := []float64{1.3055796924007037, -0.7833478154404222, 0.26111593848014075, -0.7833478154404222, 0, 0, 0, 0}
	for i, w := range want {
		if !near(res.Records[i].Advantage, w) {
			t.Errorf("record %d advantage %v, want %v", i, res.Records[i].Advantage, w)
		}
	}
	if !contains(res.Derived, "advantage") {
		t.Errorf("advantage not listed as derived: %v", res.Derived)
	}
	if res.Records[0].Run != "trl" {
		t.Errorf("run = %q, want the format name for a bare file name", res.Records[0].Run)
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func TestTRLRewardColumnsOption(t *testing.T) {
	data := trlStep1.bytes(t)
	res, err := adapter.ReadTRL(bytes.NewReader(data), "completions_00001.parquet",
		adapter.Options{RewardColumns: []string{"accuracy_reward"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []float32
	for _, r := range res.Records[:4] {
		got = append(got, r.Outcome)
	}
	if diff := cmp.Diff([]float32{1, 0, 1, 0}, got); diff != "" {
		t.Errorf("outcomes from accuracy_reward only (-want +got):\n%s", diff)
	}
}

// TestTRLEvalAndNaN covers the eval mode (split eval-in, zero advantages) and
// a reward given as NaN rather than null, which is left out of the sum.
func TestTRLEvalAndNaN(t *testing.T) {
	table := trlTable{
		step: 40, mode: "eval",
		prompts:     []string{"p", "p"},
		completions: []string{"a", "b"},
		rewards: []trlColumn{
			{"r1", []float64{1, math.NaN()}},
			{"r2", []float64{0.5, 0.25}},
		},
		advantage: []float64{0.7, -0.7},
	}
	res, err := adapter.ReadTRL(bytes.NewReader(table.bytes(t)), "out/completions/eval/completions_00040.parquet", adapter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res)
	for i, want := range []float32{1.5, 0.25} {
		r := res.Records[i]
		if r.Split != trajlog.SplitEvalIn || r.Advantage != 0 || r.Outcome != want || r.GroupID != "eval-in/step-40/g-0" || r.Run != "out" {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	if contains(res.Derived, "split") {
		t.Errorf("split read from the mode column but listed as derived")
	}
}
