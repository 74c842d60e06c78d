// Package table renders result rows (a slice of structs) as an aligned text table
// for the terminal, or writes them as parquet, CSV or JSON for pandas, polars and
// DuckDB. Column names come from each field's `parquet` tag (the part before the
// first comma), or the field name; a field tagged `parquet:"-"` is skipped.
//
// A field tagged `text:"-"` is left out of the text table (to keep it readable
// in a terminal) but written to files.
//
// NaN and infinite floats are written as empty CSV cells, JSON null, and NaN in
// parquet, so that every reader sees a missing value rather than a parse error.
package table

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gradcouple/gradcouple/internal/atomicfile"
	"github.com/gradcouple/gradcouple/internal/buildinfo"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// Formats accepted by WriteFile, by file extension.
const (
	FormatParquet = "parquet"
	FormatCSV     = "csv"
	FormatJSON    = "json"
)

// FormatOf returns the format for a file name by its extension, or an error
// naming the accepted extensions.
func FormatOf(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".parquet":
		return FormatParquet, nil
	case ".csv":
		return FormatCSV, nil
	case ".json":
		return FormatJSON, nil
	}
	return "", fmt.Errorf("output file %s: unknown extension %q (use .parquet, .csv or .json)", path, filepath.Ext(path))
}

type column struct {
	name  string
	index []int
}

// columns lists the exported columns of a struct type.
func columns(t reflect.Type, text bool) []column {
	var cols []column
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() || (text && f.Tag.Get("text") == "-") {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("parquet"); ok {
			n, _, _ := strings.Cut(tag, ",")
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		cols = append(cols, column{name: name, index: f.Index})
	}
	return cols
}

// sliceOf checks that rows is a slice of structs and returns it as a Value.
func sliceOf(rows any) reflect.Value {
	v := reflect.ValueOf(rows)
	if v.Kind() != reflect.Slice || v.Type().Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("table: rows must be a slice of structs, got %T", rows))
	}
	return v
}

// Header returns the column names of rows, a slice of structs.
func Header(rows any) []string {
	cols := columns(sliceOf(rows).Type().Elem(), false)
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	return names
}

// cell formats one value for text and CSV. Floats in text use 4 significant
// digits (prec 4, 'g'); in CSV the shortest representation that round-trips.
func cell(v reflect.Value, text bool) string {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			if text {
				return "-"
			}
			return ""
		}
		bits := 64
		if v.Kind() == reflect.Float32 {
			bits = 32
		}
		if text {
			if f == 0 {
				f = 0 // print -0 as 0
			}
			return strconv.FormatFloat(f, 'g', 4, bits)
		}
		return strconv.FormatFloat(f, 'g', -1, bits)
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.String:
		s := v.String()
		if text {
			s = strings.NewReplacer("\n", `\n`, "\t", `\t`, "\r", `\r`).Replace(s)
		}
		return s
	}
	return fmt.Sprint(v.Interface())
}

// Cells returns the columns of the text table of rows (a slice of structs) and
// their cells formatted as WriteText formats them (floats to 4 significant
// digits, NaN as "-", newlines and tabs escaped); numeric marks the columns
// of numbers, which read best right-aligned. The HTML report renders tables
// from it. Strings are returned as they are: escaping belongs to the caller.
func Cells(rows any) (header []string, numeric []bool, cells [][]string) {
	v := sliceOf(rows)
	cols := columns(v.Type().Elem(), true)
	header = make([]string, len(cols))
	numeric = make([]bool, len(cols))
	elem := v.Type().Elem()
	for i, c := range cols {
		header[i] = c.name
		switch elem.FieldByIndex(c.index).Type.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64:
			numeric[i] = true
		}
	}
	cells = make([][]string, v.Len())
	for r := range cells {
		row := v.Index(r)
		cells[r] = make([]string, len(cols))
		for i, c := range cols {
			cells[r][i] = cell(row.FieldByIndex(c.index), true)
		}
	}
	return header, numeric, cells
}

// WriteText writes rows as a column-aligned text table with a header line.
// Strings have newlines and tabs escaped so that each row stays on one line.
func WriteText(w io.Writer, rows any) error {
	v := sliceOf(rows)
	cols := columns(v.Type().Elem(), true)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for i, c := range cols {
		if i > 0 {
			io.WriteString(tw, "\t")
		}
		io.WriteString(tw, c.name)
	}
	io.WriteString(tw, "\t\n")
	for r := 0; r < v.Len(); r++ {
		row := v.Index(r)
		for i, c := range cols {
			if i > 0 {
				io.WriteString(tw, "\t")
			}
			io.WriteString(tw, cell(row.FieldByIndex(c.index), true))
		}
		io.WriteString(tw, "\t\n")
	}
	return tw.Flush()
}

// WriteCSV writes rows as CSV with a header line.
func WriteCSV(w io.Writer, rows any) error {
	v := sliceOf(rows)
	cols := columns(v.Type().Elem(), false)
	cw := csv.NewWriter(w)
	rec := make([]string, len(cols))
	for i, c := range cols {
		rec[i] = c.name
	}
	if err := cw.Write(rec); err != nil {
		return err
	}
	for r := 0; r < v.Len(); r++ {
		row := v.Index(r)
		for i, c := range cols {
			rec[i] = cell(row.FieldByIndex(c.index), false)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes rows as a JSON array of objects, one per line, keys in
// column order. NaN and infinities become null.
func WriteJSON(w io.Writer, rows any) error {
	v := sliceOf(rows)
	cols := columns(v.Type().Elem(), false)
	bw := bufio.NewWriter(w)
	bw.WriteString("[")
	for r := 0; r < v.Len(); r++ {
		if r > 0 {
			bw.WriteString(",")
		}
		bw.WriteString("\n{")
		row := v.Index(r)
		for i, c := range cols {
			if i > 0 {
				bw.WriteString(",")
			}
			k, _ := json.Marshal(c.name)
			bw.Write(k)
			bw.WriteString(":")
			fv := row.FieldByIndex(c.index)
			if (fv.Kind() == reflect.Float32 || fv.Kind() == reflect.Float64) &&
				(math.IsNaN(fv.Float()) || math.IsInf(fv.Float(), 0)) {
				bw.WriteString("null")
				continue
			}
			b, err := json.Marshal(fv.Interface())
			if err != nil {
				return fmt.Errorf("encoding column %s of row %d: %w", c.name, r, err)
			}
			bw.Write(b)
		}
		bw.WriteString("}")
	}
	bw.WriteString("\n]\n")
	return bw.Flush()
}

// WriteParquet writes rows as a zstd-compressed parquet file with the given
// key-value metadata, to which the gradcouple version that wrote the file is
// added under buildinfo.MetadataKey (unless meta sets that key).
func WriteParquet(w io.Writer, rows any, meta map[string]string) error {
	v := sliceOf(rows)
	schema := parquet.SchemaOf(reflect.New(v.Type().Elem()).Elem().Interface())
	opts := []parquet.WriterOption{schema, parquet.Compression(&zstd.Codec{})}
	kv := map[string]string{buildinfo.MetadataKey: buildinfo.Read().String()}
	for k, val := range meta {
		kv[k] = val
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		opts = append(opts, parquet.KeyValueMetadata(k, kv[k]))
	}
	pw := parquet.NewWriter(w, opts...)
	for r := 0; r < v.Len(); r++ {
		if err := pw.Write(v.Index(r).Interface()); err != nil {
			return fmt.Errorf("writing parquet row %d: %w", r, err)
		}
	}
	return pw.Close()
}

// WriteFile writes rows to path in the format its extension names (.parquet,
// .csv, .json), atomically: on any error no file is left behind. meta is stored
// as parquet key-value metadata with the gradcouple version (see WriteParquet;
// ignored by CSV and JSON, whose rows should carry seeds and settings as
// columns).
func WriteFile(path string, rows any, meta map[string]string) error {
	format, err := FormatOf(path)
	if err != nil {
		return err
	}
	sliceOf(rows)
	err = atomicfile.Write(path, func(w io.Writer) error {
		switch format {
		case FormatParquet:
			return WriteParquet(w, rows, meta)
		case FormatCSV:
			return WriteCSV(w, rows)
		default:
			return WriteJSON(w, rows)
		}
	})
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
