package adapter_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gradcouple/gradcouple/metrics"
	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/gradcouple/gradcouple/trajlog/adapter"
)

// Reference values for testdata/adapters/verl, computed by hand.
//
// 1.jsonl (step 1, no uid): the "clean mug" prompt on lines 1, 2, 4, 7 with
// scores 1, 0, 0, 1 and the "boil water" prompt on lines 3, 5, 6, 8 with scores
// 1, 1, 1, 0 (interleaved, as verl's batch balancing leaves them).
//
//	mug:  mean 0.5, sample std sqrt((4 * 0.25) / 3) = sqrt(1/3) = 0.5773503
//	      A = ±0.5 / (0.5773503 + 1e-6) = ±0.8660239
//	boil: mean 0.75, deviations 0.25, 0.25, 0.25, -0.75, std sqrt(0.75/3) = 0.5
//	      A = 0.25 / 0.500001 = 0.4999990, -0.75 / 0.500001 = -1.4999970
//	success (score > 0): 2 + 3 of 8 = 0.625
//
// 2.jsonl (step 2, uid): one prompt under two uids, which stay two groups.
//
//	u1 scores 0.5, 0, 1: mean 0.5, std sqrt(0.5/2) = 0.5, A = 0, -0.999998, 0.999998
//	u2 scores 0, 0, 0:   zero std, A = 0
//	success: 2 of 6
const (
	aMug      = 0.8660239037870368
	aBoilHigh = 0.499999000002
	aBoilLow  = -1.499997000006
	aU1       = 0.999998000004
)

func TestVerlFixture(t *testing.T) {
	res := mustRead(t, filepath.Join(fixtures, "verl"), adapter.Options{})
	recs := res.Records
	if len(recs) != 14 {
		t.Fatalf("%d records, want 14", len(recs))
	}
	wantDerived := []string{"advantage", "group_id", "label", "label_votes", "logprob", "split", "state_key", "success", "traj_id", "valid"}
	if diff := cmp.Diff(wantDerived, res.Derived); diff != "" {
		t.Errorf("Derived (-want +got):\n%s", diff)
	}

	type want struct {
		traj, group string
		iter        int32
		outcome     float32
		adv         float64
		success     bool
	}
	wants := []want{
		{"1.jsonl:1", "step-1/g-0", 1, 1, aMug, true},
		{"1.jsonl:2", "step-1/g-0", 1, 0, -aMug, false},
		{"1.jsonl:3", "step-1/g-1", 1, 1, aBoilHigh, true},
		{"1.jsonl:4", "step-1/g-0", 1, 0, -aMug, false},
		{"1.jsonl:5", "step-1/g-1", 1, 1, aBoilHigh, true},
		{"1.jsonl:6", "step-1/g-1", 1, 1, aBoilHigh, true},
		{"1.jsonl:7", "step-1/g-0", 1, 1, aMug, true},
		{"1.jsonl:8", "step-1/g-1", 1, 0, aBoilLow, false},
		{"2.jsonl:1", "6f1c2a0e-u1", 2, 0.5, 0, true},
		{"2.jsonl:2", "6f1c2a0e-u1", 2, 0, -aU1, false},
		{"2.jsonl:3", "6f1c2a0e-u1", 2, 1, aU1, true},
		{"2.jsonl:4", "9b7d44c1-u2", 2, 0, 0, false},
		{"2.jsonl:5", "9b7d44c1-u2", 2, 0, 0, false},
		{"2.jsonl:6", "9b7d44c1-u2", 2, 0, 0, false},
	}
	for i, w := range wants {
		r := recs[i]
		if r.TrajID != w.traj || r.GroupID != w.group || r.Iteration != w.iter || r.Outcome != w.outcome ||
			r.StepReward != w.outcome || r.Success != w.success || !near(r.Advantage, w.adv) {
			t.Errorf("record %d = traj %s group %s iter %d outcome %v success %v adv %v; want %+v",
				i, r.TrajID, r.GroupID, r.Iteration, r.Outcome, r.Success, r.Advantage, w)
		}
		if r.Turn != 0 || r.Split != trajlog.SplitTrain || r.Label != trajlog.LabelUnknown ||
			r.LabelVotes != 0 || !r.Valid || r.Logprob != 0 || r.Corrected {
			t.Errorf("record %d: unexpected fixed fields %+v", i, r)
		}
	}
	if got := successRate(recs, 1); got != 0.625 {
		t.Errorf("step 1 success rate = %v, want 5/8", got)
	}
	if got := successRate(recs, 2); got != 2.0/6 {
		t.Errorf("step 2 success rate = %v, want 2/6", got)
	}
	if recs[0].Prompt != recs[1].Prompt || recs[0].StateKey != recs[1].StateKey || recs[0].StateKey == recs[2].StateKey {
		t.Error("state keys do not follow prompts")
	}
	if recs[2].Action != "pick up pot" || !strings.HasPrefix(recs[2].Prompt, "You are in a lab.") {
		t.Errorf("record 2 prompt/action = %q / %q", recs[2].Prompt, recs[2].Action)
	}
	if recs[13].Action != "日本語 — no" {
		t.Errorf("unicode output = %q", recs[13].Action)
	}
}

func TestVerlOptions(t *testing.T) {
	path := filepath.Join(fixtures, "verl")
	// Dr. GRPO: A = R - mean, so ±0.5 for the mug group (mean 0.5).
	res := mustRead(t, path, adapter.Options{Advantage: metrics.AdvantageConfig{NoStd: true}})
	if !near(res.Records[0].Advantage, 0.5) || !near(res.Records[1].Advantage, -0.5) {
		t.Errorf("Dr. GRPO advantages = %v, %v; want ±0.5", res.Records[0].Advantage, res.Records[1].Advantage)
	}
	// A threshold of 0.5 makes the 0.5 score of 2.jsonl line 1 a failure.
	res = mustRead(t, path, adapter.Options{SuccessThreshold: 0.5})
	if res.Records[8].Success || !res.Records[10].Success {
		t.Errorf("threshold 0.5: success = %v, %v; want false, true", res.Records[8].Success, res.Records[10].Success)
	}
	// Validation dumps: the split is overridden and advantages are zero.
	res = mustRead(t, path, adapter.Options{Split: trajlog.SplitEvalOut})
	for _, r := range res.Records {
		if r.Split != trajlog.SplitEvalOut || r.Advantage != 0 {
			t.Fatalf("Split option: record %+v", r)
		}
	}
	if res.Records[0].GroupID != "eval-out/step-1/g-0" {
		t.Errorf("eval group id = %q", res.Records[0].GroupID)
	}
	if slices.Contains(res.Derived, "split") {
		t.Error("split listed as derived though it was given")
	}
}

// TestReadVerlReader exercises the io.Reader entry point: the step comes from
// the file name when the lines have none, and the run from the format.
func TestReadVerlReader(t *testing.T) {
	in := `{"input": "p", "output": "a", "score": 1}
{"input": "p", "output": "b", "score": 0}

{"input": "q", "output": "c", "score": 0.25}
`
	res, err := adapter.ReadVerl(strings.NewReader(in), "7.jsonl", adapter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res)
	if len(res.Records) != 3 {
		t.Fatalf("%d records, want 3 (blank lines skipped)", len(res.Records))
	}
	for _, r := range res.Records {
		if r.Iteration != 7 || r.Run != "verl" {
			t.Errorf("record %+v: want iteration 7 from the file name, run verl", r)
		}
	}
	// p: outcomes 1, 0 -> A = ±0.5/(sqrt(0.5)+1e-6) = ±0.7071058; q alone is a
	// derived group of one, which gets 0, not its reward.
	if !near(res.Records[0].Advantage, 0.7071057811879616) || res.Records[2].Advantage != 0 {
		t.Errorf("advantages %v, %v", res.Records[0].Advantage, res.Records[2].Advantage)
	}
	if res.Records[2].TrajID != "7.jsonl:4" {
		t.Errorf("traj id %q, want 7.jsonl:4 (line numbers count blank lines)", res.Records[2].TrajID)
	}
}
