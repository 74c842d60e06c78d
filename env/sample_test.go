package env

import (
	"math"
	"reflect"
	"testing"

	"github.com/gradcouple/gradcouple/trajlog"
)

func TestSample(t *testing.T) {
	cfg := SampleConfig{Env: Lab, Split: SplitEvalIn, Tasks: 6, Seed: 11, GroupSize: 4, Policy: "mix", Eps: 0.3,
		Judge: Judge{J: 5, Eps: 0.25}, GRPOAdvantage: true}
	recs, rows, err := Sample(cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, rows2, _ := Sample(cfg)
	if !reflect.DeepEqual(recs, again) || !reflect.DeepEqual(rows, rows2) {
		t.Fatal("Sample is not deterministic")
	}
	trajs := map[string][]trajlog.Record{}
	groups := map[string]map[string]float32{} // group -> traj -> advantage
	for i := range recs {
		r := &recs[i]
		if f, msg := r.Validate(); f != "" {
			t.Fatalf("record %d: %s: %s", i, f, msg)
		}
		if r.Run != "env-sample" || r.Env != Lab || r.Split != SplitEvalIn || r.GroupID != r.TaskID || r.Iteration != 0 || r.Logprob != 0 {
			t.Fatalf("record %+v", r)
		}
		if r.Label != trajlog.LabelGood && r.Label != trajlog.LabelBad || (r.Label == trajlog.LabelGood) != (r.LabelVotes >= 3) {
			t.Fatalf("label %d with %d votes", r.Label, r.LabelVotes)
		}
		trajs[r.TrajID] = append(trajs[r.TrajID], *r)
		if groups[r.GroupID] == nil {
			groups[r.GroupID] = map[string]float32{}
		}
		groups[r.GroupID][r.TrajID] = r.Advantage
	}
	if len(trajs) != 24 || len(groups) != 6 {
		t.Fatalf("%d trajectories in %d groups", len(trajs), len(groups))
	}
	for id, steps := range trajs {
		last := steps[len(steps)-1]
		for k, s := range steps {
			if int(s.Turn) != k || s.Outcome != last.Outcome || s.Success != last.Success || s.Advantage != last.Advantage {
				t.Fatalf("%s turn %d: inconsistent", id, k)
			}
			if s.StepReward != 0 && k != len(steps)-1 {
				t.Fatalf("%s: reward before the last step", id)
			}
		}
		if last.Success != (last.Outcome == 1) || last.Success != (last.StepReward == 1) {
			t.Fatalf("%s: success %v outcome %v", id, last.Success, last.Outcome)
		}
	}
	for g, adv := range groups {
		var sum float64
		for _, a := range adv {
			sum += float64(a)
		}
		if math.Abs(sum) > 1e-4 {
			t.Errorf("group %s: GRPO advantages sum to %v", g, sum)
		}
	}
	all := rows[len(rows)-1]
	if all.Family != "all" || all.Trajectories != 24 || all.Steps != len(recs) {
		t.Fatalf("summary %+v", all)
	}
	if all.LabelAccuracy < 0.8 || all.LabelAccuracy == 1 {
		t.Errorf("judge with eps 0.25 over 5 votes: accuracy %v", all.LabelAccuracy)
	}
}

func TestSampleErrors(t *testing.T) {
	for _, cfg := range []SampleConfig{
		{Env: "x", Split: SplitTrain, Tasks: 1},
		{Env: Lab, Split: "x", Tasks: 1},
		{Env: Lab, Split: SplitTrain, Tasks: 1, Policy: "greedy"},
		{Env: Lab, Split: SplitTrain, Tasks: 1, Policy: "mix", Eps: 2},
		{Env: Lab, Split: SplitTrain, Tasks: -1},
	} {
		if _, _, err := Sample(cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

func TestStats(t *testing.T) {
	rows, splits, err := Stats(StatsConfig{Tasks: 40, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.OracleSuccess != 1 || r.RandomSuccess > 0.3 || r.PlanMin < 2 || r.PlanMax > 30 ||
			r.JaccardOracle < 0.7 || r.PromptMax >= 256 || r.AdmissibleMax < 2 {
			t.Errorf("row %+v", r)
		}
	}
	if len(splits) != 6 {
		t.Fatalf("%d split rows", len(splits))
	}
	for _, s := range splits {
		if s.Overlap != 0 || s.Distinct != s.Tasks || s.Vocab != len(Words(s.Env)) || s.Words > s.Vocab {
			t.Errorf("split %+v", s)
		}
		if s.Split == SplitEvalOut && s.NewWords == 0 {
			t.Errorf("eval-out uses no word the train split does not: %+v", s)
		}
	}
}
