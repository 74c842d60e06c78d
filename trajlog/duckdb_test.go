package trajlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestDuckDB checks the parquet writer against an independent reader: DuckDB
// (scripts/duckdb/check.mjs, through the @duckdb/node-api package) must read
// every value of awkward records exactly (token ids included: lists of
// INTEGER, NULL for a record without ids), see the intended column types and
// the key-value metadata. It needs node and `npm install` in scripts/duckdb,
// so it runs only with GRADCOUPLE_DUCKDB=1.
func TestDuckDB(t *testing.T) {
	if os.Getenv("GRADCOUPLE_DUCKDB") != "1" {
		t.Skip("set GRADCOUPLE_DUCKDB=1 to compare with DuckDB (needs node and `npm install` in scripts/duckdb)")
	}
	script, err := filepath.Abs(filepath.Join("..", "scripts", "duckdb", "check.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(script), "node_modules", "@duckdb", "node-api")); err != nil {
		t.Fatalf("@duckdb/node-api is not installed: run `npm install` in %s", filepath.Dir(script))
	}
	recs := append(awkwardRecords(), withIDs(genRecords(41, 300))...)
	meta := Meta{Run: "run \"ü\"", Seed: -42, HasSeed: true, Derived: []string{"group_id", "label"},
		Extra: map[string]string{"note": "line\nbreak"}}
	// A file name that needs quoting in SQL.
	path := filepath.Join(t.TempDir(), "it's iter-000001.parquet")
	if err := WriteFile(path, recs, meta); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command("node", script, path)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node check.mjs: %v\n%s", err, stderr.String())
	}
	var got struct {
		DuckDB  string `json:"duckdb"`
		Columns []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"columns"`
		Rows []map[string]any  `json:"rows"`
		KV   map[string]string `json:"kv_metadata"`
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decoding check.mjs output: %v", err)
	}
	t.Logf("DuckDB %s read %d rows", got.DuckDB, len(got.Rows))

	wantTypes := map[kind]string{kindString: "VARCHAR", kindInt32: "INTEGER", kindInt8: "TINYINT",
		kindBool: "BOOLEAN", kindFloat32: "FLOAT"}
	if len(got.Columns) != len(fields)+len(listFields) {
		t.Fatalf("DuckDB sees %d columns, want %d", len(got.Columns), len(fields)+len(listFields))
	}
	for i, c := range got.Columns {
		name, typ := "", "INTEGER[]"
		if i < len(fields) {
			name, typ = fields[i].name, wantTypes[fields[i].kind]
		} else {
			name = listFields[i-len(fields)].name
		}
		if c.Name != name || c.Type != typ {
			t.Errorf("column %d: DuckDB sees %s %s, want %s %s", i, c.Name, c.Type, name, typ)
		}
	}
	for k, v := range map[string]string{MetadataSchemaKey: SchemaVersion, MetadataRunKey: meta.Run,
		MetadataSeedKey: "-42", MetadataDerivedKey: "group_id,label", "note": "line\nbreak"} {
		if got.KV[k] != v {
			t.Errorf("metadata %q: DuckDB reads %q, want %q", k, got.KV[k], v)
		}
	}
	if len(got.Rows) != len(recs) {
		t.Fatalf("DuckDB read %d rows, want %d", len(got.Rows), len(recs))
	}
	mismatches := 0
	for i := range recs {
		r := &recs[i]
		for j := range fields {
			f := &fields[j]
			v := got.Rows[i][f.name]
			if ok, want := duckValueEqual(f, r, v); !ok {
				mismatches++
				if mismatches <= 20 {
					t.Errorf("row %d column %s: DuckDB reads %#v, wrote %s", i+1, f.name, v, want)
				}
			}
		}
		for j := range listFields {
			f := &listFields[j]
			v := got.Rows[i][f.name]
			if ok, want := duckIDsEqual(*f.ids(r), v); !ok {
				mismatches++
				if mismatches <= 20 {
					t.Errorf("row %d column %s: DuckDB reads %#v, wrote %s", i+1, f.name, v, want)
				}
			}
		}
	}
}

// duckIDsEqual compares a list from check.mjs with token ids: null for no
// ids, else the same integers in order.
func duckIDsEqual(ids []int32, v any) (bool, string) {
	if len(ids) == 0 {
		return v == nil, "NULL"
	}
	want := fmt.Sprint(ids)
	list, ok := v.([]any)
	if !ok || len(list) != len(ids) {
		return false, want
	}
	for k, x := range list {
		n, ok := x.(json.Number)
		if !ok || n.String() != strconv.FormatInt(int64(ids[k]), 10) {
			return false, want
		}
	}
	return true, want
}

// duckValueEqual compares a value from check.mjs with the record's field,
// exactly: floats by bits (check.mjs writes -0 as "-0").
func duckValueEqual(f *field, r *Record, v any) (bool, string) {
	switch f.kind {
	case kindString:
		s := *f.str(r)
		return v == s, strconv.Quote(s)
	case kindBool:
		b := *f.bl(r)
		return v == b, strconv.FormatBool(b)
	case kindInt32, kindInt8:
		var x int64
		if f.kind == kindInt32 {
			x = int64(*f.i32(r))
		} else {
			x = int64(*f.i8(r))
		}
		n, ok := v.(json.Number)
		return ok && n.String() == strconv.FormatInt(x, 10), strconv.FormatInt(x, 10)
	default:
		x := *f.f32(r)
		want := strconv.FormatFloat(float64(x), 'g', -1, 32)
		var y float64
		switch v := v.(type) {
		case string:
			if v != "-0" {
				return false, want
			}
			y = math.Copysign(0, -1)
		case json.Number:
			var err error
			if y, err = strconv.ParseFloat(v.String(), 64); err != nil {
				return false, want
			}
		default:
			return false, want
		}
		// DuckDB widens FLOAT to a double exactly; it must narrow back to
		// the same bits.
		return float64(float32(y)) == y && math.Float32bits(float32(y)) == math.Float32bits(x), want
	}
}
