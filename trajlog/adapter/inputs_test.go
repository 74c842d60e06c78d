package adapter_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/gradcouple/gradcouple/trajlog/adapter"
)

// malformed is testdata/malformed, relative to this package.
var malformed = filepath.Join("..", "..", "testdata", "malformed")

// Generated TRL tables beyond testdata/adapters/trl: malformed ones under
// testdata/malformed, and one with a numeric log_extra column for the
// reward-column notes of convert. Rewritten with
//
//	go test ./trajlog/adapter/ -run TestTRLFixturesUpToDate -update
var trlMoreFixtures = map[string]trlTable{
	filepath.Join("malformed", "trl-invalid-utf8.parquet"): {
		step: 4, prompts: []string{trlP3, trlP3}, completions: []string{"rain", "bad \xff byte"},
		rewards: []trlColumn{{"reward_len", []float64{1, 0}}},
	},
	filepath.Join("malformed", "trl-no-completion.parquet"): {
		step: 4, prompts: []string{trlP3, trlP3}, completions: []string{"rain", "sun"},
		rewards: []trlColumn{{"reward_len", []float64{1, 0}}}, dropColumns: []string{"completion"},
	},
	filepath.Join("adapters", "trl-extra", "completions_00003.parquet"): {
		step: 3, prompts: []string{trlP3, trlP3}, completions: []string{"rain", "sun"},
		rewards: []trlColumn{{"accuracy_reward", []float64{1, 0}}, {"entropy", []float64{0.7, 0.9}}},
	},
}

func TestTRLMoreFixturesUpToDate(t *testing.T) {
	for name, table := range trlMoreFixtures {
		path := filepath.Join("..", "..", "testdata", name)
		want := table.bytes(t)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs from its generator (%v); run go test ./trajlog/adapter/ -run TestTRLMoreFixturesUpToDate -update", path, err)
		}
	}
}

// wantInvalid checks that err is a *trajlog.ValidationError at file, row and
// field whose message contains msg.
func wantInvalid(t *testing.T, err error, file string, row int64, field, msg string) {
	t.Helper()
	var ve *trajlog.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a *trajlog.ValidationError", err)
	}
	if ve.File != file || ve.Row != row || ve.Field != field || !strings.Contains(ve.Msg, msg) {
		t.Errorf("got %q (file %s row %d field %q); want file %s row %d field %q, message with %q",
			err, ve.File, ve.Row, ve.Field, file, row, field, msg)
	}
}

// TestTRLDecimal reads a TRL table re-written by DuckDB
// (testdata/decimal/completions_00001.parquet, scripts/duckdb/decimal_fixtures.mjs):
// accuracy_reward DECIMAL(2,1) (INT32), format_reward DECIMAL(20,6)
// (FIXED_LEN_BYTE_ARRAY), advantage DECIMAL(10,6) (INT64). Outcomes are
// 1.0 + 0.5 and 0.0 + 0.25; the advantages ±1.4994 are kept as logged (read
// as integers they would be ±1499400).
func TestTRLDecimal(t *testing.T) {
	path := filepath.Join("..", "..", "testdata", "decimal", "completions_00001.parquet")
	l, err := adapter.Scan(path, adapter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cols, byDefault := l.RewardColumns()
	if !byDefault || strings.Join(cols, ",") != "accuracy_reward,format_reward" {
		t.Errorf("reward columns %v (default %v), want the two DECIMAL reward columns", cols, byDefault)
	}
	res := mustRead(t, path, adapter.Options{})
	r := res.Records
	if len(r) != 2 {
		t.Fatalf("%d records", len(r))
	}
	if r[0].Outcome != 1.5 || r[1].Outcome != 0.25 || r[0].Advantage != 1.4994 || r[1].Advantage != -1.4994 {
		t.Errorf("outcomes %v %v, advantages %v %v; want 1.5 0.25, 1.4994 -1.4994",
			r[0].Outcome, r[1].Outcome, r[0].Advantage, r[1].Advantage)
	}
}

// TestRLLMPydanticAction: the str of rLLM's current pydantic Action,
// "action='look'", is unwrapped like the older repr "Action(action='look')".
func TestRLLMPydanticAction(t *testing.T) {
	cases := map[string]string{
		`action='look'`:                   "look",
		`action="go to desk 1"`:           "go to desk 1",
		`action='say \'hi\''`:             "say 'hi'",
		`action='open drawer 2' id=3`:     "open drawer 2",
		`Action(action='look')`:           "look",
		`Action(action='take key', id=3)`: "take key",
		`action=look`:                     "action=look", // not a str repr: kept
		`action='look' and more`:          "action='look' and more",
		`reaction='look'`:                 "reaction='look'",
	}
	for in, want := range cases {
		step := `{"observation": "room", "action": ` + strconvQuote(in) + `, "reward": 1.0}`
		ep := `{"id": "task-a:0", "training_step": 1, "trajectories": [{"name": "a", "steps": [` + step + `]}]}`
		res, err := adapter.ReadRLLM(strings.NewReader(ep), "ep.json", adapter.Options{})
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := res.Records[0].Action; got != want {
			t.Errorf("action %s: got %q, want %q", in, got, want)
		}
	}
}

// strconvQuote quotes s as a JSON string (s is ASCII here).
func strconvQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// TestInvalidUTF8Refused: invalid UTF-8 in a text field of any foreign
// format is refused with the file, row and field, never replaced by U+FFFD.
func TestInvalidUTF8Refused(t *testing.T) {
	cases := []struct {
		file  string
		row   int64
		field string
		msg   string
	}{
		{"verl-invalid-utf8.jsonl", 2, "prompt", "byte 0xff"},
		{"verl-lone-surrogate.jsonl", 1, "action", `surrogate \udcff`},
		{"rllm-invalid-utf8.json", 5, "action", "byte 0xc3"},
		{"trl-invalid-utf8.parquet", 2, "completion", "byte 0xff"},
	}
	for _, c := range cases {
		p := filepath.Join(malformed, c.file)
		_, err := adapter.Read(p, adapter.Options{})
		wantInvalid(t, err, p, c.row, c.field, c.msg)
	}
	// The io.Reader entry point too.
	_, err := adapter.ReadVerl(strings.NewReader("{\"input\": \"a\", \"output\": \"\xc0\", \"score\": 1, \"step\": 1}\n"), "x.jsonl", adapter.Options{})
	wantInvalid(t, err, "x.jsonl", 1, "action", "byte 0xc0")
}

// TestFormatPicksReader: with Options.Format, a file that detection cannot
// classify (an unconventional name, a missing column) is read by that
// format's reader, whose error names the missing column.
func TestFormatPicksReader(t *testing.T) {
	for _, c := range []struct {
		file   string
		format adapter.Format
		row    int64
		field  string
	}{
		{"verl-no-score.jsonl", adapter.FormatVerl, 1, "score"},
		{"trl-no-completion.parquet", adapter.FormatTRL, 0, "completion"},
	} {
		p := filepath.Join(malformed, c.file)
		if _, err := adapter.Read(p, adapter.Options{}); !errors.Is(err, adapter.ErrUnknownFormat) {
			t.Errorf("%s without a format: %v, want ErrUnknownFormat", c.file, err)
		}
		_, err := adapter.Read(p, adapter.Options{Format: c.format})
		wantInvalid(t, err, p, c.row, c.field, "missing")
	}
	if _, err := adapter.Read(malformed, adapter.Options{Format: adapter.FormatCanonical}); !errors.Is(err, adapter.ErrCanonical) {
		t.Errorf("Format canonical: %v, want ErrCanonical", err)
	}
}

// TestVerlByteOrderMark: a verl dump starting with a UTF-8 BOM reads like one
// without, also through detection by content.
func TestVerlByteOrderMark(t *testing.T) {
	body := "{\"input\": \"Q\", \"output\": \"A\", \"score\": 1.0, \"step\": 2}\n{\"input\": \"Q\", \"output\": \"B\", \"score\": 0.0, \"step\": 2}\n"
	dir := t.TempDir()
	for _, name := range []string{"2.jsonl", "dump.jsonl"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("\ufeff"+body), 0o644); err != nil {
			t.Fatal(err)
		}
		res := mustRead(t, p, adapter.Options{})
		if len(res.Records) != 2 || res.Records[0].Prompt != "Q" || res.Records[0].GroupID != res.Records[1].GroupID {
			t.Errorf("%s: %+v", name, res.Records)
		}
	}
}

// TestRLLMEpisodeCap: an rLLM episode file is bounded like a verl line.
func TestRLLMEpisodeCap(t *testing.T) {
	big := `{"id": "t:0", "training_step": 1, "trajectories": [{"steps": [{"observation": "` +
		strings.Repeat("x", adapter.MaxLineBytes) + `", "action": "a"}]}]}`
	_, err := adapter.ReadRLLM(strings.NewReader(big), "ep.json", adapter.Options{})
	wantInvalid(t, err, "ep.json", 0, "", "larger than")
	if adapter.MaxEpisodeBytes != adapter.MaxLineBytes {
		t.Errorf("MaxEpisodeBytes %d, MaxLineBytes %d", adapter.MaxEpisodeBytes, adapter.MaxLineBytes)
	}
}

// TestEmitBatches: Scan then Emit in small batches gives the records of Read,
// in order, for every fixture directory, and the counts Scan reports.
func TestEmitBatches(t *testing.T) {
	for _, dir := range []string{"verl", "trl", "rllm"} {
		p := filepath.Join(fixtures, dir)
		want := mustRead(t, p, adapter.Options{}).Records
		l, err := adapter.Scan(p, adapter.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var got []trajlog.Record
		batches := 0
		if err := l.Emit(3, func(recs []trajlog.Record) error {
			if len(recs) > 3 {
				t.Errorf("%s: batch of %d", dir, len(recs))
			}
			batches++
			got = append(got, recs...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || int64(len(got)) != l.Records() || batches != (len(want)+2)/3 {
			t.Fatalf("%s: %d records in %d batches, Read %d, Records() %d", dir, len(got), batches, len(want), l.Records())
		}
		for i := range got {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("%s record %d differs: %+v vs %+v", dir, i, got[i], want[i])
			}
		}
		if err := l.Emit(3, func([]trajlog.Record) error { return nil }); err == nil {
			t.Errorf("%s: second Emit did not fail", dir)
		}
	}
}

// TestInterleavedTrajectories: a trajectory whose rows are not consecutive
// within its group (here rLLM trajectory uid A, then B, then A again, all of
// task t and name a) is still one trajectory: the group has outcomes
// [1, 0], so A = (1 - 0.5) / (std + 1e-6) with std = sqrt(0.5) (N-1 divisor),
// 0.707106 on every row of A.
func TestInterleavedTrajectories(t *testing.T) {
	ep := `{"id": "t:0", "training_step": 1, "trajectories": [
  {"name": "a", "uid": "A", "reward": 1, "steps": [{"observation": "o1", "action": "x"}]},
  {"name": "a", "uid": "B", "reward": 0, "steps": [{"observation": "o1", "action": "y"}]},
  {"name": "a", "uid": "A", "reward": 1, "steps": [{"observation": "o2", "action": "z"}]}]}`
	res, err := adapter.ReadRLLM(strings.NewReader(ep), "ep.json", adapter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Records
	want := []float64{0.707106, -0.707106, 0.707106}
	for i, w := range want {
		if !near(r[i].Advantage, w) {
			t.Errorf("record %d (traj %s): advantage %v, want %v", i, r[i].TrajID, r[i].Advantage, w)
		}
	}
}
