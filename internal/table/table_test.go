package table

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/internal/buildinfo"
	"github.com/parquet-go/parquet-go"
)

type row struct {
	Name  string  `parquet:"name"`
	Count int32   `parquet:"count"`
	Rate  float64 `parquet:"rate"`
	Wide  int     `parquet:"wide" text:"-"`
	skip  int
	Gone  int `parquet:"-"`
}

var rows = []row{{"a\tb", 3, 0.5, 0, 0, 9}, {"c", 4, math.NaN(), 0, 0, 9}}

func TestText(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), b.String())
	}
	if !strings.Contains(lines[0], "name") || strings.Contains(lines[0], "Gone") || strings.Contains(lines[0], "wide") {
		t.Errorf("header %q", lines[0])
	}
	if !strings.Contains(lines[1], `a\tb`) || !strings.Contains(lines[2], "-") {
		t.Errorf("rows %q", lines[1:])
	}
}

func TestCells(t *testing.T) {
	header, numeric, cells := Cells(rows)
	if want := []string{"name", "count", "rate"}; strings.Join(header, ",") != strings.Join(want, ",") {
		t.Errorf("header = %q, want %q", header, want)
	}
	if numeric[0] || !numeric[1] || !numeric[2] {
		t.Errorf("numeric = %v, want [false true true]", numeric)
	}
	if len(cells) != 2 || cells[0][0] != `a\tb` || cells[0][2] != "0.5" || cells[1][2] != "-" {
		t.Errorf("cells = %q", cells)
	}
}

func TestCSVAndJSON(t *testing.T) {
	var b bytes.Buffer
	WriteCSV(&b, rows)
	want := "name,count,rate,wide\na\tb,3,0.5,0\nc,4,,0\n"
	if b.String() != want {
		t.Errorf("csv = %q, want %q", b.String(), want)
	}
	b.Reset()
	WriteJSON(&b, rows)
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("json does not parse: %v\n%s", err, b.String())
	}
	if got[1]["rate"] != nil || got[0]["count"] != 3.0 {
		t.Errorf("json rows %v", got)
	}
}

func TestParquetRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.parquet")
	if err := WriteFile(p, rows, map[string]string{"seed": "7"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := pf.Lookup("seed"); v != "7" {
		t.Errorf("metadata seed = %q", v)
	}
	got, err := parquet.Read[row](f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "a\tb" || got[1].Count != 4 || !math.IsNaN(got[1].Rate) {
		t.Errorf("read back %+v", got)
	}
}

func TestUnknownExtension(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.xlsx")
	if err := WriteFile(p, rows, nil); err == nil || !strings.Contains(err.Error(), ".parquet") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Error("file created for unknown extension")
	}
}

// TestParquetVersionMetadata: every parquet table names the gradcouple build
// that wrote it, next to the caller's metadata.
func TestParquetVersionMetadata(t *testing.T) {
	var b bytes.Buffer
	if err := WriteParquet(&b, rows, map[string]string{"seed": "7"}); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := f.Lookup(buildinfo.MetadataKey); !ok || v != buildinfo.Read().String() {
		t.Errorf("%s = %q, %v; want %q", buildinfo.MetadataKey, v, ok, buildinfo.Read().String())
	}
	if v, _ := f.Lookup("seed"); v != "7" {
		t.Errorf("seed = %q, want 7", v)
	}
}
