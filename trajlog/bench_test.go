package trajlog

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// benchSizes are the size tiers of the benchmarks, in rows.
var benchSizes = []int{10_000, 100_000}

func BenchmarkWriteParquet(b *testing.B) {
	for _, n := range benchSizes {
		recs := genRecords(1, n)
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			var size int64
			for b.Loop() {
				cw := &countWriter{}
				w := NewParquetWriter(cw, Meta{Run: "bench"})
				if err := w.Write(recs); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				size = cw.n
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(size)/float64(n), "file-bytes/row")
		})
	}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

func BenchmarkScanParquet(b *testing.B) {
	for _, n := range benchSizes {
		path := filepath.Join(b.TempDir(), "iter-000001.parquet")
		if err := WriteFile(path, genRecords(2, n), Meta{}); err != nil {
			b.Fatal(err)
		}
		for _, skip := range []bool{false, true} {
			b.Run(fmt.Sprintf("rows=%d/skipPrompt=%v", n, skip), func(b *testing.B) {
				benchScan(b, path, n, ReadOptions{SkipPrompt: skip})
			})
		}
	}
}

func BenchmarkScanJSONL(b *testing.B) {
	n := benchSizes[0]
	path := filepath.Join(b.TempDir(), "iter-000001.jsonl")
	if err := WriteFile(path, genRecords(2, n), Meta{}); err != nil {
		b.Fatal(err)
	}
	benchScan(b, path, n, ReadOptions{})
}

func benchScan(b *testing.B, path string, n int, opts ReadOptions) {
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]Record, 1024)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.SetBytes(st.Size())
	for b.Loop() {
		r, err := Open(path, opts)
		if err != nil {
			b.Fatal(err)
		}
		rows := 0
		for {
			k, err := r.Read(buf)
			rows += k
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		r.Close()
		if rows != n {
			b.Fatalf("read %d rows, want %d", rows, n)
		}
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N)/float64(n), "allocs/row")
}

// BenchmarkScanParquetDuckDB is the anchor of BenchmarkScanParquet
// (DESIGN.md §6): DuckDB (scripts/duckdb/scan.mjs) decoding every value of the
// same file, with and without prompts, on 1 and 2 threads, in the same run.
// Its metrics are DuckDB's rows/s next to ours. Needs GRADCOUPLE_DUCKDB=1.
func BenchmarkScanParquetDuckDB(b *testing.B) {
	if os.Getenv("GRADCOUPLE_DUCKDB") != "1" {
		b.Skip("set GRADCOUPLE_DUCKDB=1 to time DuckDB (needs node and `npm install` in scripts/duckdb)")
	}
	n := benchSizes[len(benchSizes)-1]
	path := filepath.Join(b.TempDir(), "iter-000001.parquet")
	if err := WriteFile(path, genRecords(2, n), Meta{}); err != nil {
		b.Fatal(err)
	}
	script, _ := filepath.Abs(filepath.Join("..", "scripts", "duckdb", "scan.mjs"))
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("rows=%d/threads=%d", n, threads), func(b *testing.B) {
			var res struct {
				Rows       int     `json:"rows"`
				Full       float64 `json:"full_seconds"`
				SkipPrompt float64 `json:"skip_prompt_seconds"`
			}
			for b.Loop() {
				out, err := exec.Command("node", script, path, strconv.Itoa(threads)).Output()
				if err != nil {
					b.Fatalf("node scan.mjs: %v", err)
				}
				if err := json.Unmarshal(out, &res); err != nil {
					b.Fatal(err)
				}
				if res.Rows != n {
					b.Fatalf("DuckDB counted %d rows, want %d", res.Rows, n)
				}
			}
			b.ReportMetric(float64(n)/res.Full, "duckdb-rows/s")
			b.ReportMetric(float64(n)/res.SkipPrompt, "duckdb-skipPrompt-rows/s")
		})
	}
}
