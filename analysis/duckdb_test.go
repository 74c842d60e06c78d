package analysis

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/gradcouple/gradcouple/metrics"
)

// TestDuckDBAggregates is the anchor of the log-scan benchmark (DESIGN.md §6):
// DuckDB (npm @duckdb/node-api, scripts/duckdb/aggregates.mjs) and gradcouple
// compute repetition and consistency aggregates on the same ~1M step records in
// the same run; the counts must be equal and the time ratio is printed.
// Run with GRADCOUPLE_DUCKDB=1 after `npm install` in scripts/duckdb.
func TestDuckDBAggregates(t *testing.T) {
	if os.Getenv("GRADCOUPLE_DUCKDB") == "" {
		t.Skip("set GRADCOUPLE_DUCKDB=1 (and run npm install in scripts/duckdb) to compare with DuckDB")
	}
	dir := benchLogs(t)
	ctx := context.Background()
	var rep []RepetitionRow
	var cons []ConsistencyRow
	best := math.Inf(1)
	for i := 0; i < 3; i++ {
		start := time.Now()
		r, c, _, _, err := LogDiagnostics(ctx, []string{dir}, LogFilter{}, metrics.ConsistencyConfig{})
		if err != nil {
			t.Fatal(err)
		}
		best = math.Min(best, time.Since(start).Seconds())
		rep, cons = r, c
	}
	script, _ := filepath.Abs("../scripts/duckdb/aggregates.mjs")
	out, err := exec.Command("node", script, filepath.Join(dir, "logs", "*.parquet"), "2").Output()
	if err != nil {
		t.Fatalf("duckdb: %v", err)
	}
	var duck struct {
		Seconds    float64
		Steps      int
		Repetition []struct {
			Iteration                            int32
			Success                              bool
			Trajectories, Steps, Repeated, Loops int
		}
		Consistency []struct {
			Iteration        int32
			States, Eligible int
		}
	}
	if err := json.Unmarshal(out, &duck); err != nil {
		t.Fatalf("duckdb output: %v", err)
	}
	type repKey struct {
		it      int32
		success bool
	}
	ours := map[repKey][3]int{}
	for _, r := range rep {
		ours[repKey{r.Iteration, true}] = [3]int{r.SuccessTrajs, r.SuccessRepeated, r.SuccessLoops}
		ours[repKey{r.Iteration, false}] = [3]int{r.FailureTrajs, r.FailureRepeated, r.FailureLoops}
	}
	for _, d := range duck.Repetition {
		got := ours[repKey{d.Iteration, d.Success}]
		if got != [3]int{d.Trajectories, d.Repeated, d.Loops} {
			t.Errorf("iteration %d success=%v: gradcouple (trajs, repeated, loops) %v, DuckDB %v", d.Iteration, d.Success, got, [3]int{d.Trajectories, d.Repeated, d.Loops})
		}
	}
	byIter := map[int32]ConsistencyRow{}
	for _, c := range cons {
		byIter[c.Iteration] = c
	}
	for _, d := range duck.Consistency {
		if c := byIter[d.Iteration]; c.States != d.States || c.Eligible != d.Eligible {
			t.Errorf("iteration %d: gradcouple states/eligible %d/%d, DuckDB %d/%d", d.Iteration, c.States, c.Eligible, d.States, d.Eligible)
		}
	}
	t.Logf("%d step records: gradcouple %.3f s (%.0f rows/s, GOMAXPROCS %d), DuckDB %.3f s (2 threads); ratio gradcouple/DuckDB = %.2f",
		duck.Steps, best, float64(duck.Steps)/best, runtime.GOMAXPROCS(0), duck.Seconds, best/duck.Seconds)
}
