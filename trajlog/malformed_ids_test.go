package trajlog

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// idsParquetCases are the malformed parquet files about the token-id
// columns, made from recs (8 records): hostile values written by parquet-go
// past the writers' checks, in gradcouple's layout and in pyarrow's
// (list<int64> with optional elements), broken schemas, footers edited to
// give a list column the wrong number of rows or a cut chunk, garbage in a
// list's pages; and the files DuckDB wrote with bad ids
// (scripts/duckdb/ids_fixtures.mjs).
func idsParquetCases(t testing.TB, recs []Record) []malformedCase {
	recs = withIDs(append([]Record(nil), recs...))
	for i := range recs { // every record with ids, so that pairing never fails first
		if recs[i].PromptIDs == nil {
			recs[i].PromptIDs, recs[i].ActionIDs = []int32{1, 2}, []int32{3}
		}
	}
	edit := func(f func(rs []Record)) []Record {
		rs := make([]Record, len(recs))
		for i, r := range recs {
			r.PromptIDs, r.ActionIDs = append([]int32(nil), r.PromptIDs...), append([]int32(nil), r.ActionIDs...)
			rs[i] = r
		}
		f(rs)
		return rs
	}
	pyarrow := func(f func(rows []pyarrowRecord)) []byte {
		rows := make([]pyarrowRecord, len(recs))
		for i, r := range recs {
			rows[i] = toPyarrow(r)
		}
		f(rows)
		return writePyarrow(t, rows)
	}
	big := int64(1) << 31

	// A list longer than MaxTokenIDs; random ids so that the page does not
	// compress beyond pqguard's ratio bound.
	rng := rand.New(rand.NewPCG(3, 4))
	long := make([]int32, MaxTokenIDs+1)
	for i := range long {
		long[i] = rng.Int32N(151936)
	}

	// Schemas without a pair or with the wrong types.
	type wrongElem struct {
		recordNoIDs
		PromptIDs []string `parquet:"prompt_ids,list,optional"`
		ActionIDs []int32  `parquet:"action_ids,list,optional"`
	}
	type notList struct {
		recordNoIDs
		PromptIDs int32   `parquet:"prompt_ids"`
		ActionIDs []int32 `parquet:"action_ids,list,optional"`
	}
	flat := func(r Record) recordNoIDs {
		return recordNoIDs{r.Run, r.Iteration, r.Split, r.Env, r.TaskType,
			r.TaskID, r.GroupID, r.TrajID, r.Turn, r.StateKey, r.Prompt, r.Action, r.Valid, r.Logprob, r.Label,
			r.LabelVotes, r.Corrected, r.StepReward, r.Outcome, r.Success, r.Advantage}
	}
	po := make([]struct {
		recordNoIDs
		PromptIDs []int32 `parquet:"prompt_ids,list,optional"`
	}, len(recs))
	for i, r := range recs {
		po[i].recordNoIDs, po[i].PromptIDs = flat(r), r.PromptIDs
	}
	we := []wrongElem{{flat(recs[0]), []string{"a"}, []int32{1}}}
	nl := []notList{{flat(recs[0]), 3, []int32{1}}}

	good := writeParquet(t, recs, Meta{}, 5) // row groups of 5 and 3 rows
	cases := []malformedCase{
		{name: "ids-negative.parquet", data: writeRaw(t, edit(func(rs []Record) { rs[3].PromptIDs[1] = -1 }), version),
			row: 4, field: "prompt_ids", msg: "negative token id -1 at index 1", fixture: true, skipOK: true},
		{name: "ids-unpaired-row.parquet", data: writeRaw(t, edit(func(rs []Record) { rs[4].ActionIDs = nil }), version),
			row: 5, field: "action_ids", msg: "empty while prompt_ids has", fixture: true, skipOK: true},
		{name: "ids-null-element.parquet", data: pyarrow(func(rows []pyarrowRecord) { rows[5].PromptIDs[1] = nil }),
			row: 6, field: "prompt_ids", msg: "null token id at index 1", fixture: true, skipOK: true},
		{name: "ids-int64-overflow.parquet", data: pyarrow(func(rows []pyarrowRecord) { rows[2].ActionIDs[0] = &big }),
			row: 3, field: "action_ids", msg: "token id 2147483648 at index 0 does not fit in int32", fixture: true, skipOK: true},
		{name: "ids-too-many.parquet", data: writeRaw(t, edit(func(rs []Record) { rs[0].PromptIDs = long }), version),
			row: 1, field: "prompt_ids", msg: "more than 1048576 token ids", skipOK: true},
		{name: "ids-unpaired-column.parquet", data: writeRaw(t, po, version),
			field: "action_ids", msg: "missing column: the file has prompt_ids", fixture: true},
		{name: "ids-wrong-type.parquet", data: writeRaw(t, we, version),
			field: "prompt_ids", msg: "is a list of BYTE_ARRAY (STRING), want a list of INT32 or INT64", fixture: true},
		{name: "ids-not-list.parquet", data: writeRaw(t, nl, version),
			field: "prompt_ids", msg: "is a single INT32", fixture: true},
		// Row group 0 (5 rows) given the prompt_ids chunk of row group 1 (3
		// rows), and the other way round: the flat columns are intact.
		{name: "ids-row-mismatch.parquet", data: editFooter(t, good, func(md *format.FileMetaData) {
			leaf := leafIndex(t, good, "prompt_ids")
			a, b := &md.RowGroups[0].Columns[leaf], &md.RowGroups[1].Columns[leaf]
			*a, *b = *b, *a
		}), row: 4, field: "prompt_ids", msg: "ends after 3 of the 5 rows", fixture: true, skipOK: true},
		// The prompt_ids chunk of row group 0 cut short by 16 bytes.
		{name: "ids-cut-chunk.parquet", data: editFooter(t, good, func(md *format.FileMetaData) {
			md.RowGroups[0].Columns[leafIndex(t, good, "prompt_ids")].MetaData.TotalCompressedSize -= 16
		}), field: "prompt_ids", msg: "corrupt parquet column chunk in row group 0", fixture: true, skipOK: true},
		{name: "ids-garbage-pages.parquet", data: garbleChunk(t, good, "action_ids"),
			field: "action_ids", msg: "corrupt parquet page", fixture: true, skipOK: true},
	}
	// Files DuckDB wrote (committed by the script, not by -update; fixture
	// is false so that -update leaves them alone).
	for _, d := range []struct {
		name, field, msg string
	}{
		{"duckdb-ids-null-element.parquet", "prompt_ids", "null token id at index 1"},
		{"duckdb-ids-int64-overflow.parquet", "action_ids", "token id 2147483648 at index 1 does not fit in int32"},
		{"duckdb-ids-negative.parquet", "prompt_ids", "negative token id -1 at index 1"},
		{"duckdb-ids-unpaired.parquet", "action_ids", "empty while prompt_ids has 7 ids"},
	} {
		data, err := os.ReadFile(filepath.Join("..", "testdata", "trajlog", "ids", "bad-"+d.name))
		if err != nil {
			t.Errorf("DuckDB fixture: %v (run scripts/duckdb/ids_fixtures.mjs)", err)
			continue
		}
		cases = append(cases, malformedCase{name: d.name, data: data, row: 7, field: d.field, msg: d.msg, skipOK: true})
	}
	return cases
}

// recordNoIDs is Record without its token-id columns: the flat columns.
type recordNoIDs struct {
	Run        string  `parquet:"run"`
	Iteration  int32   `parquet:"iteration"`
	Split      string  `parquet:"split"`
	Env        string  `parquet:"env"`
	TaskType   string  `parquet:"task_type"`
	TaskID     string  `parquet:"task_id"`
	GroupID    string  `parquet:"group_id"`
	TrajID     string  `parquet:"traj_id"`
	Turn       int32   `parquet:"turn"`
	StateKey   string  `parquet:"state_key"`
	Prompt     string  `parquet:"prompt"`
	Action     string  `parquet:"action"`
	Valid      bool    `parquet:"valid"`
	Logprob    float32 `parquet:"logprob"`
	Label      int8    `parquet:"label"`
	LabelVotes int8    `parquet:"label_votes"`
	Corrected  bool    `parquet:"corrected"`
	StepReward float32 `parquet:"step_reward"`
	Outcome    float32 `parquet:"outcome"`
	Success    bool    `parquet:"success"`
	Advantage  float32 `parquet:"advantage"`
}

// leafIndex returns the leaf column index of column name: itself, or the
// elements of a list column.
func leafIndex(t testing.TB, data []byte, name string) int {
	t.Helper()
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	c := pf.Root().Column(name)
	for len(c.Columns()) > 0 {
		c = c.Columns()[0]
	}
	return c.Index()
}

// editFooter returns data with its file metadata changed by edit.
func editFooter(t testing.TB, data []byte, edit func(*format.FileMetaData)) []byte {
	t.Helper()
	flen := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	start := len(data) - 8 - flen
	var md format.FileMetaData
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), data[start:len(data)-8], &md); err != nil {
		t.Fatal(err)
	}
	edit(&md)
	footer, err := thrift.Marshal(new(thrift.CompactProtocol), &md)
	if err != nil {
		t.Fatal(err)
	}
	out := append(bytes.Clone(data[:start]), footer...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(footer)))
	return append(out, "PAR1"...)
}

// garbleChunk returns data with the bytes of the second half of list column
// name's first chunk (its page data, past the page header) flipped.
func garbleChunk(t testing.TB, data []byte, name string) []byte {
	t.Helper()
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	cm := pf.Metadata().RowGroups[0].Columns[leafIndex(t, data, name)].MetaData
	out := bytes.Clone(data)
	end := cm.DataPageOffset + cm.TotalCompressedSize
	for i := end - cm.TotalCompressedSize/2; i < end; i++ {
		out[i] ^= 0x5a
	}
	return out
}
