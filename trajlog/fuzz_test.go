package trajlog

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	f.Add([]byte("\ufeff" + lines[0] + "\n"))
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
			// Invalid UTF-8 in a JSON line is refused, so every string read is valid.
			t.Fatalf("re-writing records read: %v", err)
		}
		w.Close()
		again := fuzzRead(t, NewJSONLReader(&b, "again.jsonl", ReadOptions{}))
		equalBits(t, again, recs)
	})
}

func FuzzParquet(f *testing.F) {
	recs := awkwardRecords()
	recs[2].Prompt = "short"
	f.Add(writeParquet(f, recs, Meta{Run: "r", Derived: []string{"advantage"}}, 2))
	f.Add(writeParquet(f, recs[:1], Meta{}, RowGroupRows))
	rows := make([]optionalRecord, len(recs))
	for i, r := range recs {
		rows[i] = toOptional(r)
	}
	f.Add(writeRaw(f, rows, version))
	if data, err := os.ReadFile(filepath.Join("..", "testdata", "decimal", "iter-000001.parquet")); err == nil {
		f.Add(data) // DECIMAL float columns written by DuckDB
	}
	// Token ids: gradcouple's LIST<INT32> in row groups of 2, pyarrow's
	// list<int64> with optional elements, DuckDB's BIGINT[].
	idRecs := withIDs(genRecords(32, 6))
	idRecs[1].PromptIDs, idRecs[1].ActionIDs = []int32{}, []int32{}
	f.Add(writeParquet(f, idRecs, Meta{}, 2))
	pa := make([]pyarrowRecord, len(idRecs))
	for i, r := range idRecs {
		pa[i] = toPyarrow(r)
	}
	f.Add(writePyarrow(f, pa))
	if data, err := os.ReadFile(filepath.Join("..", "testdata", "trajlog", "ids", "duckdb-int64.parquet")); err == nil {
		f.Add(data)
	}
	for _, tc := range malformedCases(f) {
		if strings.HasSuffix(tc.name, ".parquet") && len(tc.data) < 1<<20 {
			f.Add(tc.data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The fuzzer reports a crash with its input, but not a hang.
		tm := time.AfterFunc(20*time.Second, func() { panic("trajlog: reading a fuzz input took more than 20s") })
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
			// What was read is valid for the writers: in particular its
			// text is UTF-8 (the reader refuses anything else).
			if recs := fuzzRead(t, r); recs != nil {
				if err := checkWrite("fuzz.parquet", 1, recs); err != nil {
					t.Fatalf("records read are not writable: %v", err)
				}
			}
		}
	})
}

// FuzzRoundTrip writes records built from arbitrary values and reads them
// back, from parquet and from JSONL: what the writers accept must come back
// bit for bit, and what they refuse must be refused with a *ValidationError.
// ids gives the token ids: byte b is the id b*0x01010101 (negative from 128),
// the prompt's all of them, the action's the first half (none: unpaired),
// on every record whose index is not a multiple of 3.
func FuzzRoundTrip(f *testing.F) {
	f.Add("go to cabinet 1", "prompt\nwith lines", "train", float32(-1.5), float32(0.25), int8(-1), int32(3), uint8(4), []byte{1, 2, 3, 4})
	f.Add("", "", "eval-out", float32(math.Copysign(0, -1)), float32(math.MaxFloat32), int8(1), int32(0), uint8(0), []byte{})
	f.Add("\xff", "ü\u2028", "eval-in", float32(math.NaN()), float32(1), int8(5), int32(-1), uint8(200), []byte{0})
	f.Add("a", "b", "train", float32(0), float32(0), int8(0), int32(0), uint8(5), []byte{127, 0, 200})
	f.Fuzz(func(t *testing.T, action, prompt, split string, logprob, adv float32, label int8, turn int32, n uint8, ids []byte) {
		var pids []int32
		for _, b := range ids {
			pids = append(pids, int32(uint32(b)*0x01010101))
		}
		recs := make([]Record, int(n)%17+1)
		for i := range recs {
			recs[i] = Record{Run: action + prompt, Iteration: int32(i), Split: split, TrajID: "t" + action,
				Turn: turn + int32(i), Prompt: strings.Repeat(prompt, i%3), Action: action, Logprob: logprob,
				Label: label, LabelVotes: int8(i), Advantage: adv * float32(i), Outcome: adv, StepReward: -adv,
				Valid: i%2 == 0, Success: i%3 == 0, Corrected: i%5 == 0}
			if i%3 != 0 && len(pids) > 0 {
				recs[i].PromptIDs = pids
				if a := pids[:len(pids)/2]; len(a) > 0 {
					recs[i].ActionIDs = a
				}
			}
		}
		wantErr := checkWrite("x", 1, recs) != nil
		var pb, jb bytes.Buffer
		pw := newParquetWriter(&pb, Meta{Run: split}, "x", 5)
		jw := NewJSONLWriter(&jb)
		for _, err := range []error{pw.Write(recs), jw.Write(recs)} {
			var ve *ValidationError
			if wantErr != (err != nil) || (err != nil && !errors.As(err, &ve)) {
				t.Fatalf("Write = %v, want error %v", err, wantErr)
			}
		}
		if wantErr {
			return
		}
		if err := pw.Close(); err != nil {
			t.Fatal(err)
		}
		jw.Close()
		r, err := NewParquetReader(bytes.NewReader(pb.Bytes()), int64(pb.Len()), "x.parquet", ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		equalBits(t, fuzzRead(t, r), recs)
		equalBits(t, fuzzRead(t, NewJSONLReader(&jb, "x.jsonl", ReadOptions{})), recs)
	})
}
