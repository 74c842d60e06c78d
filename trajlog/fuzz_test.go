package trajlog

import (
	"fmt"
	"os"
	"time"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// fuzzRead reads everything from r and checks the reader's contract on
// arbitrary input: no panic, errors are *ValidationError (the input is all
// there is, so no other error is possible), and the records returned are
// valid.
func fuzzRead(t *testing.T, r *Reader) []Record {
	var all []Record
	buf := make([]Record, 7)
	for i := 0; ; i++ {
		n, err := r.Read(buf)
		for j := range buf[:n] {
			if f, msg := buf[j].Validate(); f != "" {
				t.Fatalf("Read returned an invalid record: %s: %s", f, msg)
			}
		}
		all = append(all, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error is %T, not *ValidationError: %v", err, err)
			}
			if ve.File == "" || ve.Msg == "" {
				t.Fatalf("error without file or message: %#v", ve)
			}
			if n2, err2 := r.Read(buf); n2 != 0 || err2 != err {
				t.Fatalf("error is not sticky: %d, %v after %v", n2, err2, err)
			}
			return nil
		}
		if n == 0 {
			t.Fatal("Read returned 0, nil")
		}
	}
	r.Close()
	return all
}

func FuzzJSONL(f *testing.F) {
	lines := jsonlLines(f, append(awkwardRecords(), genRecords(31, 3)...))
	f.Add([]byte(strings.Join(lines, "\n")))
	f.Add([]byte(lines[0] + "\n\n" + lines[1] + "\r\n"))
	f.Add([]byte(`{"run":1}`))
	f.Add([]byte("\n"))
	f.Add([]byte{})
	for _, tc := range malformedCases(f) {
		if strings.HasSuffix(tc.name, ".jsonl") && len(tc.data) < 1<<16 {
			f.Add(tc.data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := ReadOptions{MaxLineBytes: 4096}
		recs := fuzzRead(t, NewJSONLReader(bytes.NewReader(data), "fuzz.jsonl", opts))
		if recs == nil {
			return
		}
		// What was read writes back and reads back the same.
		var b bytes.Buffer
		w := NewJSONLWriter(&b)
		if err := w.Write(recs); err != nil {
			// Invalid UTF-8 read from JSON is replaced, so every string is valid.
			t.Fatalf("re-writing records read: %v", err)
		}
		w.Close()
		again := fuzzRead(t, NewJSONLReader(&b, "again.jsonl", ReadOptions{}))
		equalBits(t, again, recs)
	})
}

func FuzzParquet(f *testing.F) {
	recs := append(awkwardRecords(), genRecords(32, 20)...)
	f.Add(writeParquet(f, recs, Meta{Run: "r", Derived: []string{"advantage"}}, 8))
	f.Add(writeParquet(f, recs[:2], Meta{}, RowGroupRows))
	rows := make([]optionalRecord, len(recs))
	for i, r := range recs {
		rows[i] = toOptional(r)
	}
	f.Add(writeRaw(f, rows, version))
	for _, tc := range malformedCases(f) {
		if strings.HasSuffix(tc.name, ".parquet") {
			f.Add(tc.data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tm := time.AfterFunc(5*time.Second, func() {
			os.WriteFile(fmt.Sprintf("/tmp/hang-%d.parquet", time.Now().UnixNano()), data, 0o644)
			panic("hang")
		})
		defer tm.Stop()
		for _, skip := range []bool{false, true} {
			opts := ReadOptions{SkipPrompt: skip}
			r, err := NewParquetReader(bytes.NewReader(data), int64(len(data)), "fuzz.parquet", opts)
			if err != nil {
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("open error is %T, not *ValidationError: %v", err, err)
				}
				return
			}
			fuzzRead(t, r)
		}
	})
}
