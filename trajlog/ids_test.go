package trajlog

import (
	"bytes"
	"errors"
	"hash/fnv"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"
)

// withIDs gives records token ids derived from their text (an FNV hash of
// each word, below a Qwen-sized vocabulary), leaving every fifth record
// without ids; it modifies recs and returns it.
func withIDs(recs []Record) []Record {
	tok := func(s string) []int32 {
		var ids []int32
		for _, w := range strings.Fields(s) {
			h := fnv.New32a()
			h.Write([]byte(w))
			ids = append(ids, int32(h.Sum32()%151936))
		}
		return append(ids, 151645) // <|im_end|>, which decoded text loses
	}
	for i := range recs {
		if i%5 == 2 {
			recs[i].PromptIDs, recs[i].ActionIDs = nil, nil
			continue
		}
		recs[i].PromptIDs, recs[i].ActionIDs = tok(recs[i].Prompt), tok(recs[i].Action)
	}
	return recs
}

// TestIDsRoundTrip writes records with and without token ids to parquet
// (row groups of several sizes, tiny pages so that lists span pages) and
// JSONL, and reads them back in batches of several sizes.
func TestIDsRoundTrip(t *testing.T) {
	recs := append(awkwardRecords(), withIDs(genRecords(51, 700))...)
	for _, rg := range []int64{1, 7, 256, RowGroupRows} {
		want := recs
		if rg == 1 {
			want = recs[:40]
		}
		data := writeParquet(t, want, Meta{}, rg)
		for _, batch := range []int{1, 5, 1000} {
			r, err := NewParquetReader(bytes.NewReader(data), int64(len(data)), "ids.parquet", ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			equalBits(t, readAllFrom(t, r, batch), want)
		}
	}
	// Pages of a few hundred bytes: the 3000 ids of awkwardRecords()[2]
	// span many of them.
	var b bytes.Buffer
	w := parquet.NewGenericWriter[Record](&b, parquet.PageBufferSize(512), parquet.KeyValueMetadata(MetadataSchemaKey, SchemaVersion))
	if _, err := w.Write(recs); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := readAllBytes(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	equalBits(t, got, recs)

	var jb bytes.Buffer
	jw := NewJSONLWriter(&jb)
	if err := jw.Write(recs); err != nil {
		t.Fatal(err)
	}
	jw.Close()
	if !strings.Contains(jb.String(), `"prompt_ids":[151644,8948,198,0],"action_ids":[2147483647]}`) {
		t.Errorf("JSONL line does not end with the ids: %.300s", jb.String())
	}
	if strings.Contains(strings.Split(jb.String(), "\n")[1], "_ids") {
		t.Errorf("a record without ids writes them: %s", strings.Split(jb.String(), "\n")[1])
	}
	equalBits(t, readAllFrom(t, NewJSONLReader(&jb, "ids.jsonl", ReadOptions{}), 7), recs)
}

// TestIDsSkipPrompt: SkipPrompt leaves the token ids nil too, and reads
// neither list column.
func TestIDsSkipPrompt(t *testing.T) {
	recs := withIDs(genRecords(52, 2000))
	data := writeParquet(t, recs, Meta{}, RowGroupRows)
	want := make([]Record, len(recs))
	for i, r := range recs {
		r.Prompt, r.PromptIDs, r.ActionIDs = "", nil, nil
		want[i] = r
	}
	c := &countingReaderAt{r: bytes.NewReader(data)}
	r, err := NewParquetReader(c, int64(len(data)), "mem.parquet", ReadOptions{SkipPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	// Reuse a buffer whose records hold ids: they must be cleared.
	buf := make([]Record, 300)
	for i := range buf {
		buf[i].PromptIDs, buf[i].ActionIDs = []int32{1}, []int32{2}
	}
	var got []Record
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	equalBits(t, got, want)
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var skipped int64
	for _, col := range pf.Metadata().RowGroups[0].Columns {
		if p := col.MetaData.PathInSchema; p[0] == "prompt" || strings.HasSuffix(p[0], "_ids") {
			skipped += col.MetaData.TotalCompressedSize
		}
	}
	full := &countingReaderAt{r: bytes.NewReader(data)}
	if r, err = NewParquetReader(full, int64(len(data)), "mem.parquet", ReadOptions{}); err != nil {
		t.Fatal(err)
	}
	readAllFrom(t, r, 300)
	if full.n.Load()-c.n.Load() < skipped {
		t.Errorf("SkipPrompt read %d bytes, a full read %d; the prompt and id columns hold %d", c.n.Load(), full.n.Load(), skipped)
	}

	var jb bytes.Buffer
	jw := NewJSONLWriter(&jb)
	jw.Write(recs)
	jw.Close()
	equalBits(t, readAllFrom(t, NewJSONLReader(&jb, "ids.jsonl", ReadOptions{SkipPrompt: true}), 100), want)
}

// pyarrowRecord is the step record as pyarrow writes a pandas frame of it
// (pyarrow is not installed here, so parquet-go writes its layout): every
// column optional, the token ids list<int64> (Python ints) with optional
// elements, the 3-level LIST of "list" and "element" that pyarrow has written
// by default since version 13.
type pyarrowRecord struct {
	Run        *string  `parquet:"run,optional"`
	Iteration  *int64   `parquet:"iteration,optional,int(32)"`
	Split      *string  `parquet:"split,optional"`
	Env        *string  `parquet:"env,optional"`
	TaskType   *string  `parquet:"task_type,optional"`
	TaskID     *string  `parquet:"task_id,optional"`
	GroupID    *string  `parquet:"group_id,optional"`
	TrajID     *string  `parquet:"traj_id,optional"`
	Turn       *int32   `parquet:"turn,optional"`
	StateKey   *string  `parquet:"state_key,optional"`
	Prompt     *string  `parquet:"prompt,optional"`
	Action     *string  `parquet:"action,optional"`
	Valid      *bool    `parquet:"valid,optional"`
	Logprob    *float32 `parquet:"logprob,optional"`
	Label      *int8    `parquet:"label,optional"`
	LabelVotes *int8    `parquet:"label_votes,optional"`
	Corrected  *bool    `parquet:"corrected,optional"`
	StepReward *float32 `parquet:"step_reward,optional"`
	Outcome    *float32 `parquet:"outcome,optional"`
	Success    *bool    `parquet:"success,optional"`
	Advantage  *float32 `parquet:"advantage,optional"`
	PromptIDs  []*int64 `parquet:"prompt_ids,list,optional" parquet-element:",optional"`
	ActionIDs  []*int64 `parquet:"action_ids,list,optional" parquet-element:",optional"`
}

func int64s(ids []int32) []*int64 {
	if ids == nil {
		return nil
	}
	out := make([]*int64, len(ids))
	for i, x := range ids {
		v := int64(x)
		out[i] = &v
	}
	return out
}

func toPyarrow(r Record) pyarrowRecord {
	it := int64(r.Iteration)
	return pyarrowRecord{&r.Run, &it, &r.Split, &r.Env, &r.TaskType, &r.TaskID, &r.GroupID, &r.TrajID, &r.Turn,
		&r.StateKey, &r.Prompt, &r.Action, &r.Valid, &r.Logprob, &r.Label, &r.LabelVotes, &r.Corrected,
		&r.StepReward, &r.Outcome, &r.Success, &r.Advantage, int64s(r.PromptIDs), int64s(r.ActionIDs)}
}

// writePyarrow writes rows as pyarrow does by default: data pages v1,
// snappy, dictionary encoding.
func writePyarrow(t testing.TB, rows []pyarrowRecord) []byte {
	t.Helper()
	var b bytes.Buffer
	w := parquet.NewGenericWriter[pyarrowRecord](&b, parquet.Compression(&snappy.Codec{}), parquet.DataPageVersion(1),
		parquet.KeyValueMetadata(MetadataSchemaKey, SchemaVersion), parquet.MaxRowsPerRowGroup(200))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestIDsPyarrowLayout reads token ids from list<int64> columns with optional
// elements, and checks the layout is the one pyarrow writes.
func TestIDsPyarrowLayout(t *testing.T) {
	recs := append(awkwardRecords(), withIDs(genRecords(53, 500))...)
	rows := make([]pyarrowRecord, len(recs))
	for i, r := range recs {
		rows[i] = toPyarrow(r)
	}
	data := writePyarrow(t, rows)
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	schema := pf.Schema().String()
	if want := "optional group prompt_ids (LIST) {\n\t\trepeated group list {\n\t\t\toptional int64 element"; !strings.Contains(schema, want) {
		t.Errorf("schema is not pyarrow's list<int64>:\n%s", schema)
	}
	got, err := readAllBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	equalBits(t, got, recs)
}

// duckIDs returns the records of testdata/trajlog/ids/duckdb-*.parquet as
// scripts/duckdb/ids_fixtures.mjs writes them (its formulas, recomputed).
func duckIDs(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		r := &recs[i]
		*r = Record{Run: "duck", Iteration: int32(i / 100), Split: SplitTrain, Env: "household", TaskType: "pick",
			TaskID: "t" + strconv.Itoa(i/8), GroupID: "g" + strconv.Itoa(i/8), TrajID: "traj-" + strconv.Itoa(i/4), Turn: int32(i % 4),
			StateKey: "s" + strconv.Itoa(i), Prompt: "prompt " + strconv.Itoa(i), Action: "act " + strconv.Itoa(i), Valid: true,
			Logprob: -0.5, Label: LabelUnknown, Outcome: 1, Success: true, Advantage: 0.25}
		if i%5 >= 3 {
			continue
		}
		plen := i%20 + 1
		if i == 7 {
			plen = 3000
		}
		for j := 0; j < plen; j++ {
			r.PromptIDs = append(r.PromptIDs, int32((i*7919+j*31)%151936))
		}
		for j := 0; j < i%7+1; j++ {
			r.ActionIDs = append(r.ActionIDs, int32((i+j)%151936))
		}
		if i == 12 {
			r.ActionIDs[len(r.ActionIDs)-1] = math.MaxInt32
		}
	}
	return recs
}

// TestReadDuckDBIDs reads token ids from files DuckDB wrote
// (scripts/duckdb/ids_fixtures.mjs): INTEGER[] in two row groups with a list
// of 3000 ids, and BIGINT[] as pyarrow writes Python ints; null and empty
// lists both read as no ids.
func TestReadDuckDBIDs(t *testing.T) {
	dir := filepath.Join("..", "testdata", "trajlog", "ids")
	for name, n := range map[string]int{"duckdb-int32.parquet": 2500, "duckdb-int64.parquet": 300} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			want := duckIDs(n)
			for _, batch := range []int{3, 1000} {
				r, err := NewParquetReader(bytes.NewReader(data), int64(len(data)), name, ReadOptions{})
				if err != nil {
					t.Fatal(err)
				}
				equalBits(t, readAllFrom(t, r, batch), want)
			}
		})
	}
}

// TestIDsValidate checks the token-id rules of Record.Validate.
func TestIDsValidate(t *testing.T) {
	ok := genRecords(54, 1)[0]
	for _, tc := range []struct {
		field, msg string
		p, a       []int32
	}{
		{"", "", nil, nil},
		{"", "", []int32{}, []int32{}},
		{"", "", []int32{0}, []int32{math.MaxInt32}},
		{"action_ids", "empty while prompt_ids has 2 ids", []int32{1, 2}, nil},
		{"prompt_ids", "empty while action_ids has 1 ids", []int32{}, []int32{3}},
		{"prompt_ids", "negative token id -1 at index 1", []int32{1, -1}, []int32{3}},
		{"action_ids", "negative token id -2147483648 at index 0", []int32{1}, []int32{math.MinInt32}},
		{"prompt_ids", "more than the limit", make([]int32, MaxTokenIDs+1), []int32{1}},
	} {
		r := ok
		r.PromptIDs, r.ActionIDs = tc.p, tc.a
		f, msg := r.Validate()
		if f != tc.field || !strings.Contains(msg, tc.msg) {
			t.Errorf("Validate(%d, %d ids) = %q, %q; want %q, %q", len(tc.p), len(tc.a), f, msg, tc.field, tc.msg)
		}
		// The writers refuse what Validate refuses.
		err := NewJSONLWriter(&bytes.Buffer{}).Write([]Record{r})
		var ve *ValidationError
		if (err != nil) != (tc.field != "") || (err != nil && (!errors.As(err, &ve) || ve.Field != tc.field)) {
			t.Errorf("JSONL Write(%d, %d ids) = %v", len(tc.p), len(tc.a), err)
		}
	}
}

// TestParseIDs checks the JSONL token-id parser's messages.
func TestParseIDs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int32
		msg  string
	}{
		{``, nil, ""},
		{`null`, nil, ""},
		{`[]`, nil, ""},
		{` [ 1 , 2,3 ] `, []int32{1, 2, 3}, ""},
		{`[0,2147483647]`, []int32{0, math.MaxInt32}, ""},
		{`[1,2.5]`, nil, "element 1 is 2.5, not an integer token id"},
		{`[1.0]`, nil, "element 0 is 1.0, not an integer"},
		{`[1e3]`, nil, "not an integer"},
		{`[-3]`, nil, "negative token id -3 at index 0"},
		{`[2147483648]`, nil, "token id 2147483648 at index 0 does not fit in int32"},
		{`[99999999999999999999]`, nil, "does not fit in int32"},
		{`["12"]`, nil, "element 0 is JSON string, want an integer token id"},
		{`[1,null]`, nil, "element 1 is JSON null"},
		{`[[1]]`, nil, "element 0 is JSON array"},
		{`"1 2 3"`, nil, "got JSON string, want an array of integer token ids"},
		{`{"ids":[1]}`, nil, "got JSON object"},
		{`7`, nil, "got JSON number"},
	} {
		got, msg := parseIDs([]byte(tc.in))
		if !strings.Contains(msg, tc.msg) || (tc.msg == "" && msg != "") {
			t.Errorf("parseIDs(%s) message %q, want %q", tc.in, msg, tc.msg)
		}
		if len(got) != len(tc.want) || (len(got) == 0) != (got == nil) {
			t.Errorf("parseIDs(%s) = %#v, want %v", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("parseIDs(%s) = %v, want %v", tc.in, got, tc.want)
				break
			}
		}
	}
}

// fakePages hands out prepared pages.
type fakePages struct{ pages []parquet.Page }

func (f *fakePages) ReadPage() (parquet.Page, error) {
	if len(f.pages) == 0 {
		return nil, io.EOF
	}
	p := f.pages[0]
	f.pages = f.pages[1:]
	return p, nil
}
func (f *fakePages) SeekToRow(int64) error { return errors.New("fakePages: no seeking") }
func (f *fakePages) Close() error          { return nil }

// TestReadListAcrossPages drives readList over pages cut at every value, in
// the middle of lists as data page v1 allows, read in batches of every size:
// the rows come out the same, and a column with too few or too many rows is
// an error naming the row and field.
func TestReadListAcrossPages(t *testing.T) {
	schema := parquet.SchemaOf(struct {
		PromptIDs []int32 `parquet:"prompt_ids,list,optional"`
	}{})
	leaf, _ := schema.Lookup("prompt_ids", "list", "element")
	col := func(rows [][]int32) []parquet.Value {
		var vals []parquet.Value
		for _, ids := range rows {
			if len(ids) == 0 {
				vals = append(vals, parquet.NullValue().Level(0, 0, leaf.ColumnIndex))
			}
			for j, x := range ids {
				vals = append(vals, parquet.Int32Value(x).Level(min(j, 1), 2, leaf.ColumnIndex))
			}
		}
		return vals
	}
	pagesOf := func(vals []parquet.Value, cuts ...int) *fakePages {
		f := &fakePages{}
		prev := 0
		for _, c := range append(cuts, len(vals)) {
			if c = min(c, len(vals)); c <= prev {
				continue
			}
			buf := parquet.NewBuffer(schema)
			cb := buf.ColumnBuffers()[leaf.ColumnIndex]
			if _, err := cb.WriteValues(vals[prev:c]); err != nil {
				t.Fatal(err)
			}
			f.pages = append(f.pages, cb.Page())
			prev = c
		}
		return f
	}
	rows := [][]int32{{1, 2, 3}, nil, {4}, {5, 6}, nil, nil, {7, 8, 9, 10}}
	vals := col(rows)
	read := func(p *parquetFile, l *pqList, batch int) ([][]int32, error) {
		var got [][]int32
		for p.left > 0 {
			n := min(int64(batch), p.left)
			dst := make([]Record, n)
			bad, err := p.readList(l, dst, n == p.left)
			if err != nil {
				for i := range dst[:max(bad, 0)] {
					got = append(got, dst[i].PromptIDs)
				}
				return got, err
			}
			for i := range dst {
				got = append(got, dst[i].PromptIDs)
			}
			p.row += n
			p.left -= n
		}
		return got, nil
	}
	newList := func(f *fakePages, nrows int64) (*parquetFile, *pqList) {
		l := &pqList{f: &listFields[listPromptIDs], listDef: 1, maxDef: 2, vals: make([]parquet.Value, 3)}
		l.reset(f)
		return &parquetFile{name: "x.parquet", rgRows: nrows, left: nrows}, l
	}
	for cut := 0; cut <= len(vals); cut++ {
		for batch := 1; batch <= len(rows); batch++ {
			p, l := newList(pagesOf(vals, cut, cut+2), int64(len(rows)))
			got, err := read(p, l, batch)
			if err != nil {
				t.Fatalf("cut %d batch %d: %v", cut, batch, err)
			}
			if diff := cmp.Diff(rows, got); diff != "" {
				t.Fatalf("cut %d batch %d (-want +got):\n%s", cut, batch, diff)
			}
		}
	}
	// Fewer rows in the column than in the row group, and more.
	for _, tc := range []struct {
		nrows int64
		row   int64
		msg   string
	}{
		{9, 8, "ends after 7 of the 9 rows"},
		{5, 6, "holds more rows than the 5"},
	} {
		for batch := 1; batch <= 5; batch++ {
			p, l := newList(pagesOf(vals, 4), tc.nrows)
			_, err := read(p, l, batch)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Row != tc.row || ve.Field != "prompt_ids" || !strings.Contains(ve.Msg, tc.msg) {
				t.Errorf("%d rows, batch %d: err = %v, want row %d field prompt_ids %q", tc.nrows, batch, err, tc.row, tc.msg)
			}
		}
	}
}
