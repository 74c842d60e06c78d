package trajlog

import (
	"path/filepath"
	"testing"
)

// TestReadDecimalColumns reads a step-record file that DuckDB re-wrote with
// its float columns as DECIMAL (testdata/decimal/iter-000001.parquet, made by
// scripts/duckdb/decimal_fixtures.mjs): logprob DECIMAL(10,6) in INT64,
// step_reward and outcome DECIMAL(2,1) in INT32, advantage DECIMAL(20,6) in a
// FIXED_LEN_BYTE_ARRAY. Each value must be the decimal written in the
// generator, not its unscaled integer.
func TestReadDecimalColumns(t *testing.T) {
	recs, err := ReadAll(filepath.Join("..", "testdata", "decimal", "iter-000001.parquet"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	want := []struct{ logprob, stepReward, outcome, advantage float32 }{
		{-1.25, 0, 1, 0.707107},
		{-0.5, 0.5, 0, -0.707107},
	}
	for i, w := range want {
		r := recs[i]
		if r.Logprob != w.logprob || r.StepReward != w.stepReward || r.Outcome != w.outcome || r.Advantage != w.advantage {
			t.Errorf("record %d: logprob %v step_reward %v outcome %v advantage %v; want %+v",
				i, r.Logprob, r.StepReward, r.Outcome, r.Advantage, w)
		}
	}
	if recs[1].Action != "go north" || recs[0].Label != LabelUnknown {
		t.Errorf("other columns misread: %+v", recs[1])
	}
}
