package trajlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

var update = flag.Bool("update", false, "write the generated fixtures to testdata/malformed and testdata/trajlog")

// malformedCase is one bad file and what its error must name.
type malformedCase struct {
	name    string // file name; the extension picks the reader
	data    []byte
	row     int64  // expected ValidationError.Row (0: whole file)
	field   string // expected ValidationError.Field
	msg     string // substring of the message
	version bool   // the error must match ErrSchemaVersion
	anyCol  bool   // the field may be any column (corruption found in some column)
	fixture bool   // small enough to commit under testdata/malformed
	// skipOK: the defect lies in a column that ReadOptions.SkipPrompt does
	// not read (a token-id value), so a SkipPrompt read must succeed.
	skipOK bool
}

// fixturePath is where the case's fixture is committed: testdata/malformed/
// steps-NAME, every file of which the CLI's tests expect `inspect --strict`
// (a SkipPrompt scan) to refuse; or, for a defect that only a full read finds,
// testdata/trajlog/ids/bad-NAME.
func (tc malformedCase) fixturePath() string {
	if tc.skipOK {
		return filepath.Join("..", "testdata", "trajlog", "ids", "bad-"+tc.name)
	}
	return filepath.Join("..", "testdata", "malformed", "steps-"+tc.name)
}

func jsonlLines(t testing.TB, recs []Record) []string {
	var b bytes.Buffer
	w := NewJSONLWriter(&b)
	if err := w.Write(recs); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

func malformedCases(t testing.TB) []malformedCase {
	recs := genRecords(11, 8)
	good := writeParquet(t, recs, Meta{Run: "r"}, RowGroupRows)
	lines := jsonlLines(t, recs)
	join := func(ls ...string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }

	// Columns with the wrong types, written by parquet-go from other structs.
	type wrongType struct {
		Run       string `parquet:"run"`
		Iteration string `parquet:"iteration"`
	}
	wt := make([]wrongType, len(recs))
	for i, r := range recs {
		wt[i] = wrongType{Run: r.Run, Iteration: "seven"}
	}
	wf := make([]recordF64, len(recs))
	for i, r := range recs {
		wf[i] = toF64(r)
	}
	ms := make([]recordNoAdvantage, len(recs))
	for i, r := range recs {
		ms[i] = toNoAdvantage(r)
	}
	bad := func(edit func(rs []Record)) []Record {
		rs := append([]Record(nil), recs...)
		edit(rs)
		return rs
	}
	opt := make([]optionalRecord, len(recs))
	for i, r := range recs {
		opt[i] = toOptional(r)
	}
	opt[3].Action = nil

	// The footer overwritten with bytes that are no thrift struct.
	corruptFooter := bytes.Clone(good)
	flen := int(binary.LittleEndian.Uint32(corruptFooter[len(corruptFooter)-8:]))
	for i := len(corruptFooter) - 8 - flen; i < len(corruptFooter)-8; i++ {
		corruptFooter[i] = 0xff
	}
	// A footer that claims more bytes than the file has.
	hugeFooter := bytes.Clone(good)
	binary.LittleEndian.PutUint32(hugeFooter[len(hugeFooter)-8:], 0xfffffff0)
	// Page data overwritten with garbage behind valid headers.
	garbagePages := bytes.Clone(good)
	for i := 200; i < len(garbagePages)/2; i += 7 {
		garbagePages[i] ^= 0x5a
	}

	longLine := lines[0][:len(lines[0])-1] + `,"junk":"` + strings.Repeat("x", DefaultMaxLineBytes) + `"}`
	ids := func(line, prompt, action string) string {
		return strings.Replace(line, `"advantage":`, `"prompt_ids":`+prompt+`,"action_ids":`+action+`,"advantage":`, 1)
	}
	manyIDs := "[" + strings.Repeat("7,", MaxTokenIDs) + "7]"

	cases := []malformedCase{
		{name: "truncated.parquet", data: good[:len(good)*6/10], msg: "truncated", fixture: true},
		{name: "no-footer.parquet", data: good[:len(good)-8], msg: "truncated", fixture: true},
		{name: "corrupt-footer.parquet", data: corruptFooter, msg: "corrupt parquet footer", fixture: true},
		{name: "huge-footer.parquet", data: hugeFooter, msg: "footer claims", fixture: true},
		{name: "garbage-pages.parquet", data: garbagePages, msg: "corrupt", anyCol: true, fixture: true},
		// LZ4_RAW (pyarrow's compression="lz4"): parquet-go v0.32 reads such
		// pages as zeros, and loops on a corrupt one (pqguard.ErrLZ4Raw).
		{name: "lz4.parquet", data: writeRawCodec(t, recs, version, &parquet.Lz4Raw), msg: "LZ4_RAW compression is not read", anyCol: true, fixture: true},
		{name: "lz4-garbage-pages.parquet", data: garbleChunk(t, writeRawCodec(t, recs, version, &parquet.Lz4Raw), "action"),
			msg: "LZ4_RAW compression is not read", anyCol: true},
		{name: "not-parquet.parquet", data: []byte("this is not a parquet file at all\n"), msg: "not a parquet file", fixture: true},
		{name: "empty.parquet", data: nil, msg: "empty file", fixture: true},
		{name: "wrong-type.parquet", data: writeRaw(t, wt, version), field: "iteration", msg: "has type BYTE_ARRAY (STRING), want INT32", fixture: true},
		{name: "wrong-float.parquet", data: writeRaw(t, wf, version), field: "advantage", msg: "has type DOUBLE, want FLOAT", fixture: true},
		{name: "missing-column.parquet", data: writeRaw(t, ms, version), field: "advantage", msg: "missing required column", fixture: true},
		{name: "no-version.parquet", data: writeRaw(t, recs, nil), msg: MetadataSchemaKey, version: true, fixture: true},
		{name: "wrong-version.parquet", data: writeRaw(t, recs, map[string]string{MetadataSchemaKey: "999"}), msg: `"999"`, version: true, fixture: true},
		{name: "nan-reward.parquet", data: writeRaw(t, bad(func(rs []Record) { rs[4].StepReward = float32(math.NaN()) }), version),
			row: 5, field: "step_reward", msg: "NaN", fixture: true},
		{name: "inf-advantage.parquet", data: writeRaw(t, bad(func(rs []Record) { rs[6].Advantage = float32(math.Inf(-1)) }), version),
			row: 7, field: "advantage", msg: "-Inf", fixture: true},
		{name: "bad-label.parquet", data: writeRaw(t, bad(func(rs []Record) { rs[1].Label = 5 }), version), row: 2, field: "label", fixture: true},
		{name: "bad-split.parquet", data: writeRaw(t, bad(func(rs []Record) { rs[0].Split = "test" }), version), row: 1, field: "split", fixture: true},
		{name: "empty-traj.parquet", data: writeRaw(t, bad(func(rs []Record) { rs[7].TrajID = "" }), version), row: 8, field: "traj_id", fixture: true},
		{name: "negative-turn.parquet", data: writeRaw(t, bad(func(rs []Record) { rs[2].Turn = -1 }), version), row: 3, field: "turn", fixture: true},
		{name: "null-action.parquet", data: writeRaw(t, opt, version), row: 4, field: "action", msg: "null", fixture: true},
		{name: "invalid-utf8.parquet", data: writeRaw(t, bad(func(rs []Record) { rs[3].Action = "go \xffnorth" }), version),
			row: 4, field: "action", msg: "not valid UTF-8: byte 0xff at byte 3", fixture: true},

		{name: "empty.jsonl", data: nil, msg: "empty file", fixture: true},
		{name: "blank.jsonl", data: []byte("\n  \n"), msg: "empty file", fixture: true},
		{name: "bad-json.jsonl", data: join(lines[0], lines[1][:len(lines[1])/2], lines[2]), row: 2, msg: "invalid JSON", fixture: true},
		{name: "not-object.jsonl", data: join(lines[0], `[1, 2, 3]`), row: 2, msg: "want an object", fixture: true},
		{name: "wrong-type.jsonl", data: join(lines[0], lines[1], strings.Replace(lines[2], `"turn":`, `"turn":"3","x":`, 1)),
			row: 3, field: "turn", msg: "string", fixture: true},
		{name: "float-turn.jsonl", data: join(strings.Replace(lines[0], `"turn":0`, `"turn":0.5`, 1)), row: 1, field: "turn", fixture: true},
		{name: "overflow-label.jsonl", data: join(strings.Replace(lines[0], `"label_votes":`, `"label_votes":300,"x":`, 1)),
			row: 1, field: "label_votes", fixture: true},
		{name: "missing-field.jsonl", data: join(lines[0], strings.Replace(lines[1], `"advantage":`, `"advantagex":`, 1)),
			row: 2, field: "advantage", msg: "missing", fixture: true},
		{name: "null-field.jsonl", data: join(strings.Replace(lines[0], `"outcome":`, `"outcome":null,"x":`, 1)),
			row: 1, field: "outcome", msg: "missing", fixture: true},
		{name: "nan.jsonl", data: join(lines[0], strings.Replace(lines[1], `"advantage":`, `"advantage":NaN,"x":`, 1)),
			row: 2, msg: "invalid JSON", fixture: true},
		{name: "bad-split.jsonl", data: join(lines[0], lines[1], strings.Replace(lines[2], `"split":"`, `"split":"x`, 1)),
			row: 3, field: "split", fixture: true},
		{name: "invalid-utf8.jsonl", data: join(lines[0], strings.Replace(lines[1], `"task_id":"`, "\"task_id\":\"\xfe", 1)),
			row: 2, field: "task_id", msg: "not valid UTF-8", fixture: true},
		{name: "long-line.jsonl", data: join(lines[0], longLine, lines[1]), row: 2, msg: "longer than"},

		{name: "ids-fractional.jsonl", data: join(lines[0], ids(lines[1], "[1,2.5]", "[3]")),
			row: 2, field: "prompt_ids", msg: "element 1 is 2.5, not an integer token id", fixture: true},
		{name: "ids-negative.jsonl", data: join(ids(lines[0], "[1,2]", "[3,-4]")),
			row: 1, field: "action_ids", msg: "negative token id -4 at index 1", fixture: true},
		{name: "ids-overflow.jsonl", data: join(lines[0], lines[1], ids(lines[2], "[2147483648]", "[3]")),
			row: 3, field: "prompt_ids", msg: "token id 2147483648 at index 0 does not fit in int32", fixture: true},
		{name: "ids-string.jsonl", data: join(ids(lines[0], `["151644"]`, "[3]")),
			row: 1, field: "prompt_ids", msg: "element 0 is JSON string", fixture: true},
		{name: "ids-not-array.jsonl", data: join(ids(lines[0], "[1]", `"3"`)),
			row: 1, field: "action_ids", msg: "got JSON string, want an array", fixture: true},
		{name: "ids-unpaired.jsonl", data: join(ids(lines[0], "[1]", "[2]"), ids(lines[1], "[1]", "[]")),
			row: 2, field: "action_ids", msg: "empty while prompt_ids has 1 ids", fixture: true},
		{name: "ids-too-many.jsonl", data: join(ids(lines[0], manyIDs, "[2]")),
			row: 1, field: "prompt_ids", msg: "more than 1048576 token ids"},
	}
	return append(cases, idsParquetCases(t, recs)...)
}

// TestMalformed checks that every malformed file gives a *ValidationError
// naming the file and the row or field, and no panic. Run with -update to
// write the small ones to testdata/malformed (as steps-NAME, or elsewhere,
// see fixturePath) for CLI tests.
func TestMalformed(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range malformedCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			checkMalformed(t, p, tc)
			if *update && tc.fixture {
				if err := os.WriteFile(tc.fixturePath(), tc.data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func checkMalformed(t *testing.T, path string, tc malformedCase) {
	t.Helper()
	recs, err := ReadAll(path, ReadOptions{})
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("ReadAll = %d records, %v; want a *ValidationError", len(recs), err)
	}
	msg := err.Error()
	t.Log(msg)
	if ve.File != path || !strings.Contains(msg, path) {
		t.Errorf("error does not name the file %s", path)
	}
	if ve.Row != tc.row {
		t.Errorf("Row = %d, want %d", ve.Row, tc.row)
	}
	if ve.Field != tc.field && !(tc.anyCol && isColumn(ve.Field)) {
		t.Errorf("Field = %q, want %q", ve.Field, tc.field)
	}
	if tc.field != "" && !strings.Contains(msg, "field "+tc.field) {
		t.Errorf("message does not name field %s", tc.field)
	}
	if !strings.Contains(msg, tc.msg) {
		t.Errorf("message does not contain %q", tc.msg)
	}
	if errors.Is(err, ErrSchemaVersion) != tc.version {
		t.Errorf("errors.Is(err, ErrSchemaVersion) = %v, want %v", !tc.version, tc.version)
	}
	if !ve.BadInput() {
		t.Errorf("BadInput() = false")
	}
	// Also through SkipPrompt, which takes another path through the reader
	// and does not read the token ids.
	_, err = ReadAll(path, ReadOptions{SkipPrompt: true})
	switch {
	case tc.skipOK && err != nil:
		t.Errorf("with SkipPrompt: %v, want no error (the defect is in a column not read)", err)
	case !tc.skipOK && !errors.As(err, &ve):
		t.Errorf("with SkipPrompt: %v, want a *ValidationError", err)
	}
}

// TestMalformedFixtures checks the committed fixtures, so that they keep
// failing the way CLI tests expect.
func TestMalformedFixtures(t *testing.T) {
	for _, tc := range malformedCases(t) {
		p := tc.fixturePath()
		if _, err := os.Stat(p); err != nil {
			continue
		}
		t.Run(tc.name, func(t *testing.T) { checkMalformed(t, p, tc) })
	}
}

// TestFixtures writes (with -update) and checks the valid fixtures under
// testdata/trajlog: a run directory with two iterations and a JSONL file.
func TestFixtures(t *testing.T) {
	root := filepath.Join("..", "testdata", "trajlog")
	recs := genRecords(21, 96)
	files := map[string][]Record{
		filepath.Join(root, "run", "logs", "iter-000001.parquet"): recs[:48],
		filepath.Join(root, "run", "logs", "iter-000002.parquet"): recs[48:],
		filepath.Join(root, "steps.jsonl"):                        recs[:24],
	}
	if *update {
		for p, rs := range files {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := WriteFile(p, rs, Meta{Run: "alfworld-grpo", Seed: 1, HasSeed: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(root, "run")); err != nil {
		t.Skip("no fixtures; run go test ./trajlog -run Fixtures -update")
	}
	got, err := ReadAll(filepath.Join(root, "run"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	equalBits(t, got, recs)
	got, err = ReadAll(filepath.Join(root, "steps.jsonl"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	equalBits(t, got, recs[:24])
}

// recordF64 is Record with advantage as DOUBLE.
type recordF64 struct {
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
	Advantage  float64 `parquet:"advantage"`
}

func toF64(r Record) recordF64 {
	return recordF64{r.Run, r.Iteration, r.Split, r.Env, r.TaskType, r.TaskID, r.GroupID, r.TrajID, r.Turn,
		r.StateKey, r.Prompt, r.Action, r.Valid, r.Logprob, r.Label, r.LabelVotes, r.Corrected, r.StepReward,
		r.Outcome, r.Success, float64(r.Advantage)}
}

// recordNoAdvantage is Record without its last column.
type recordNoAdvantage struct {
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
}

func toNoAdvantage(r Record) recordNoAdvantage {
	return recordNoAdvantage{r.Run, r.Iteration, r.Split, r.Env, r.TaskType, r.TaskID, r.GroupID, r.TrajID, r.Turn,
		r.StateKey, r.Prompt, r.Action, r.Valid, r.Logprob, r.Label, r.LabelVotes, r.Corrected, r.StepReward,
		r.Outcome, r.Success}
}
