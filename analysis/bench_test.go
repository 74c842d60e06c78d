package analysis

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gradcouple/gradcouple/metrics"
)

// benchRows is the size of the log-scan benchmark: 1,000,000 step records
// (50 iterations x 32 tasks x 8 rollouts x 78 turns = 998,400).
var benchScan = synthConfig{Iterations: 50, Tasks: 32, G: 8, Turns: 78, Q: 0.3, R: 0.2, P: 0.6, RepeatProb: 0.2, PromptBytes: 600, StateCycle: 13, Seed: 11}

// benchLogs writes the benchmark logs once per machine into the system temp
// directory (GRADCOUPLE_BENCH_DIR overrides) and returns the run directory.
func benchLogs(b testing.TB) string {
	dir := os.Getenv("GRADCOUPLE_BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "gradcouple-bench-scan-v2-"+strconv.Itoa(benchScan.Iterations*benchScan.Tasks*benchScan.G*benchScan.Turns))
	}
	done := filepath.Join(dir, "complete")
	if _, err := os.Stat(done); err != nil {
		os.RemoveAll(dir)
		writeSynth(b, dir, benchScan)
		os.WriteFile(done, nil, 0o644)
	}
	return dir
}

// BenchmarkLogDiagnostics scans ~1M step records from parquet and computes
// repetition and consistency in one pass (LogDiagnostics).
// scripts/duckdb/aggregates.mjs times DuckDB on the same files.
func BenchmarkLogDiagnostics(b *testing.B) {
	dir := benchLogs(b)
	ctx := context.Background()
	b.ResetTimer()
	var rows int64
	for i := 0; i < b.N; i++ {
		_, _, _, src, err := LogDiagnostics(ctx, []string{dir}, LogFilter{}, metrics.ConsistencyConfig{})
		if err != nil {
			b.Fatal(err)
		}
		rows = src.Rows
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
