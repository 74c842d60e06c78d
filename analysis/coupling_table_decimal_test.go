package analysis

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// TestLooseTableDecimal reads a sample table written by DuckDB
// (testdata/decimal/samples.parquet, made by
// scripts/duckdb/decimal_fixtures.mjs) whose advantages are DECIMAL(2,1)
// (INT32), DECIMAL(10,6) (INT64) and DECIMAL(20,6) (FIXED_LEN_BYTE_ARRAY). The
// expected values are the literals of the generator; read as unscaled
// integers the first would be 10, 14994000 and 1499400.
func TestLooseTableDecimal(t *testing.T) {
	tab, err := readLooseTable(filepath.Join("..", "testdata", "decimal", "samples.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float64{
		"advantage": {1.0, -0.5, 0.3},
		"adv_int64": {1.4994, -2.5, 0.000001},
		"adv_fixed": {1.4994, -123456789012.345678, 0.1},
	}
	for col, w := range want {
		for i, x := range w {
			got, err := tab.float(col, i, 0)
			if err != nil {
				t.Fatalf("%s row %d: %v", col, i, err)
			}
			if got != x {
				t.Errorf("%s row %d: got %v, want %v", col, i, got, x)
			}
		}
	}
	if l, err := tab.label("label", 0); err != nil || l != 1 {
		t.Errorf("label row 0: %v, %v", l, err)
	}
}

// TestLooseTableParquetInvalidUTF8: a string cell that is not UTF-8 is
// refused with the row and column, not replaced.
func TestLooseTableParquetInvalidUTF8(t *testing.T) {
	type row struct {
		Label  int32  `parquet:"label"`
		Prompt string `parquet:"prompt"`
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[row](&buf)
	if _, err := w.Write([]row{{1, "fine"}, {0, "bad \xff byte"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "samples.parquet")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := readLooseTable(p)
	var te *TableError
	if !errors.As(err, &te) || te.Row != 2 || te.Column != "prompt" || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("got %v, want a TableError at row 2, column prompt, about UTF-8", err)
	}
}
