package adapter_test

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/metrics"
	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/gradcouple/gradcouple/trajlog/adapter"
)

// badCase is malformed input and the error it must give: a
// *trajlog.ValidationError naming the file, row (line) and field.
type badCase struct {
	name  string
	read  func() (*adapter.Result, error)
	file  string
	row   int64
	field string
	msg   string // substring of the message
}

func checkBad(t *testing.T, tc badCase) {
	t.Helper()
	res, err := tc.read()
	if err == nil {
		t.Errorf("%s: no error, %d records", tc.name, len(res.Records))
		return
	}
	var ve *trajlog.ValidationError
	if !errors.As(err, &ve) {
		t.Errorf("%s: error %v (%T) is not a *trajlog.ValidationError", tc.name, err, err)
		return
	}
	if ve.File != tc.file || ve.Row != tc.row || ve.Field != tc.field || !strings.Contains(ve.Msg, tc.msg) || !ve.BadInput() {
		t.Errorf("%s: got file %q row %d field %q msg %q\nwant file %q row %d field %q msg containing %q",
			tc.name, ve.File, ve.Row, ve.Field, ve.Msg, tc.file, tc.row, tc.field, tc.msg)
	}
}

// malformedFixture opens testdata/adapters/malformed/name for reader.
func malformedFixture(t *testing.T, name string, reader func(*os.File, string) (*adapter.Result, error)) (func() (*adapter.Result, error), string) {
	path := filepath.Join(fixtures, "malformed", name)
	return func() (*adapter.Result, error) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return reader(f, path)
	}, path
}

func verlReader(f *os.File, name string) (*adapter.Result, error) {
	return adapter.ReadVerl(f, name, adapter.Options{})
}

func rllmReader(f *os.File, name string) (*adapter.Result, error) {
	return adapter.ReadRLLM(f, name, adapter.Options{})
}

func TestMalformedFixtures(t *testing.T) {
	tests := []struct {
		file   string
		reader func(*os.File, string) (*adapter.Result, error)
		row    int64
		field  string
		msg    string
	}{
		{"verl_missing_output.jsonl", verlReader, 2, "output", "missing"},
		{"verl_nan_score.jsonl", verlReader, 3, "score", "NaN"},
		{"verl_string_score.jsonl", verlReader, 1, "score", "a string, want a number"},
		{"verl_bad_step.jsonl", verlReader, 2, "step", "want an integer"},
		{"verl_truncated.jsonl", verlReader, 2, "", "truncated"},
		{"verl_infinite_score.jsonl", verlReader, 1, "score", "-Infinity"},
		{"rllm_nan_reward.json", rllmReader, 15, "trajectories[0].steps[1].reward", "NaN"},
		{"rllm_missing_steps.json", rllmReader, 6, "trajectories[0].steps", "missing"},
		{"rllm_bad_is_correct.json", rllmReader, 4, "is_correct", "want a boolean"},
		{"rllm_truncated.json", rllmReader, 6, "", "truncated"},
		{"rllm_string_reward.json", rllmReader, 7, "trajectories[0].reward", "a string"},
	}
	for _, tt := range tests {
		read, path := malformedFixture(t, tt.file, tt.reader)
		checkBad(t, badCase{tt.file, read, path, tt.row, tt.field, tt.msg})
	}
}

func verlString(in, name string, opts adapter.Options) func() (*adapter.Result, error) {
	return func() (*adapter.Result, error) { return adapter.ReadVerl(strings.NewReader(in), name, opts) }
}

func TestMalformedVerl(t *testing.T) {
	long := `{"input": "` + strings.Repeat("x", adapter.MaxLineBytes) + `", "output": "a", "score": 1}`
	deep := strings.Repeat("[", 600) + strings.Repeat("]", 600)
	// Dr. GRPO advantages of outcomes near the float32 limit: mean -1.13e38, so
	// A_1 = 3.4e38 + 1.13e38 overflows float32.
	huge := `{"input": "p", "output": "a", "score": 3.4e38}
{"input": "p", "output": "b", "score": -3.4e38}
{"input": "p", "output": "c", "score": -3.4e38}`
	for _, tc := range []badCase{
		{"array line", verlString("[1, 2]", "1.jsonl", adapter.Options{}), "1.jsonl", 1, "", "want a JSON object"},
		{"uid number", verlString(`{"input": "p", "output": "a", "score": 1, "uid": 7}`, "1.jsonl", adapter.Options{}), "1.jsonl", 1, "uid", "want a string"},
		{"missing input", verlString("\n"+`{"output": "a", "score": 1}`, "1.jsonl", adapter.Options{}), "1.jsonl", 2, "input", "missing"},
		{"null output", verlString(`{"input": "p", "output": null, "score": 1}`, "1.jsonl", adapter.Options{}), "1.jsonl", 1, "output", "null"},
		{"bool score", verlString(`{"input": "p", "output": "a", "score": true}`, "1.jsonl", adapter.Options{}), "1.jsonl", 1, "score", "boolean"},
		{"float32 overflow", verlString(`{"input": "p", "output": "a", "score": 1e39}`, "1.jsonl", adapter.Options{}), "1.jsonl", 1, "score", "float32"},
		{"negative step", verlString(`{"input": "p", "output": "a", "score": 1, "step": -1}`, "x.jsonl", adapter.Options{}), "x.jsonl", 1, "step", "outside"},
		{"step beyond int32", verlString(`{"input": "p", "output": "a", "score": 1, "step": 1e12}`, "x.jsonl", adapter.Options{}), "x.jsonl", 1, "step", "outside"},
		{"no step anywhere", verlString(`{"input": "p", "output": "a", "score": 1}`, "dump.jsonl", adapter.Options{}), "dump.jsonl", 1, "step", "file name"},
		{"bad escape", verlString(`{"input": "p\q", "output": "a", "score": 1}`, "1.jsonl", adapter.Options{}), "1.jsonl", 1, "", "escape"},
		{"raw control byte", verlString("{\"input\": \"p\tq\", \"output\": \"a\", \"score\": 1}", "1.jsonl", adapter.Options{}), "1.jsonl", 1, "", "control"},
		{"trailing garbage", verlString(`{"input": "p", "output": "a", "score": 1} x`, "1.jsonl", adapter.Options{}), "1.jsonl", 1, "", "after the JSON value"},
		{"deep nesting", verlString(deep, "1.jsonl", adapter.Options{}), "1.jsonl", 1, "", "nested deeper"},
		{"line too long", verlString("\n"+long, "1.jsonl", adapter.Options{}), "1.jsonl", 2, "", "longer than"},
		{"derived advantage overflows", verlString(huge, "1.jsonl", adapter.Options{Advantage: metrics.AdvantageConfig{NoStd: true}}), "1.jsonl", 1, "advantage", "not a finite number"},
	} {
		checkBad(t, tc)
	}
}

func trlBytes(data []byte, opts adapter.Options) func() (*adapter.Result, error) {
	return func() (*adapter.Result, error) {
		return adapter.ReadTRL(bytes.NewReader(data), "completions_00003.parquet", opts)
	}
}

func TestMalformedTRL(t *testing.T) {
	base := trlTable{
		step:        3,
		prompts:     []string{"p", "p", "p"},
		completions: []string{"a", "b", "c"},
		rewards:     []trlColumn{{"r1", []float64{1, 0, 1}}, {"r2", []float64{0, 0, 0}}},
		advantage:   []float64{0.5, -1, 0.5},
	}
	with := func(edit func(*trlTable)) []byte {
		tb := base
		tb.rewards = []trlColumn{{"r1", append([]float64(nil), base.rewards[0].values...)}, {"r2", append([]float64(nil), base.rewards[1].values...)}}
		tb.completions = append([]string(nil), base.completions...)
		tb.advantage = append([]float64(nil), base.advantage...)
		edit(&tb)
		return tb.bytes(t)
	}
	good := base.bytes(t)
	const file = "completions_00003.parquet"
	for _, tc := range []badCase{
		{"no prompt column", trlBytes(with(func(tb *trlTable) { tb.dropColumns = []string{"prompt"} }), adapter.Options{}), file, 0, "prompt", "missing column"},
		{"null completion", trlBytes(with(func(tb *trlTable) { tb.completions[2] = "\x00null" }), adapter.Options{}), file, 3, "completion", "null"},
		{"infinite reward", trlBytes(with(func(tb *trlTable) { tb.rewards[0].values[1] = math.Inf(1) }), adapter.Options{}), file, 2, "r1", "finite"},
		{"no applicable reward", trlBytes(with(func(tb *trlTable) {
			tb.rewards[0].values[0], tb.rewards[1].values[0] = none, math.NaN()
		}), adapter.Options{}), file, 1, "r1", "returned None"},
		{"NaN advantage", trlBytes(with(func(tb *trlTable) { tb.advantage[1] = math.NaN() }), adapter.Options{}), file, 2, "advantage", "finite"},
		{"string step", trlBytes(with(func(tb *trlTable) { tb.stepString = true; tb.step = -5 }), adapter.Options{}), file, 1, "step", "outside"},
		{"bad mode", trlBytes(with(func(tb *trlTable) { tb.mode = "test" }), adapter.Options{}), file, 1, "mode", "want train or eval"},
		{"no reward columns", trlBytes(with(func(tb *trlTable) { tb.dropColumns = []string{"r1", "r2"} }), adapter.Options{}), file, 0, "", "no reward columns"},
		{"unknown reward column option", trlBytes(good, adapter.Options{RewardColumns: []string{"r3"}}), file, 0, "r3", "missing"},
		{"string reward column option", trlBytes(good, adapter.Options{RewardColumns: []string{"prompt"}}), file, 0, "prompt", "want a number"},
		{"truncated file", trlBytes(good[:len(good)/2], adapter.Options{}), file, 0, "", "PAR1"},
		{"not parquet", trlBytes([]byte("hello, world"), adapter.Options{}), file, 0, "", "parquet"},
		{"footer too large", trlBytes(append(append([]byte("PAR1"), 0xff, 0xff, 0xff, 0x7f), "PAR1"...), adapter.Options{}), file, 0, "", "footer claims"},
	} {
		checkBad(t, tc)
	}
}

func rllmString(in, name string) func() (*adapter.Result, error) {
	return func() (*adapter.Result, error) {
		return adapter.ReadRLLM(strings.NewReader(in), name, adapter.Options{})
	}
}

func TestMalformedRLLM(t *testing.T) {
	const name = "runs/x/episodes/train_step_1_epoch_0/episode_a.json"
	step := func(s string) string {
		return `{"episode_id": "t:0", "trajectories": [{"steps": [` + "\n" + s + "\n]}]}"
	}
	for _, tc := range []badCase{
		{"array episode", rllmString("[]", name), name, 1, "", "want a JSON object"},
		{"episode id number", rllmString(`{"episode_id": 3, "trajectories": []}`, name), name, 1, "episode_id", "want a string"},
		{"no step anywhere", rllmString(`{"episode_id": "t:0", "trajectories": []}`, "episode_a.json"), "episode_a.json", 1, "training_step", "missing"},
		{"fractional step", rllmString(`{"training_step": 2.5, "trajectories": []}`, name), name, 1, "training_step", "want an integer"},
		{"no trajectories", rllmString(`{"episode_id": "t:0"}`, name), name, 1, "trajectories", "missing"},
		{"trajectory not object", rllmString(`{"trajectories": [3]}`, name), name, 1, "trajectories[0]", "want an object"},
		{"step not object", rllmString(step(`"go"`), name), name, 2, "trajectories[0].steps[0]", "want an object"},
		{"no prompt", rllmString(step(`{"action": "go"}`), name), name, 2, "trajectories[0].steps[0].observation", "no prompt"},
		{"chat not array", rllmString(step(`{"chat_completions": "hi"}`), name), name, 2, "trajectories[0].steps[0].chat_completions", "want an array"},
		{"message not object", rllmString(step(`{"chat_completions": ["hi"]}`), name), name, 2, "trajectories[0].steps[0].chat_completions[0]", "message object"},
		{"role not string", rllmString(step(`{"chat_completions": [{"role": 1}]}`), name), name, 2, "trajectories[0].steps[0].chat_completions[0].role", "want a string"},
		{"NaN logprob", rllmString(step(`{"observation": "o", "logprobs": [-1, NaN]}`), name), name, 2, "trajectories[0].steps[0].logprobs[1]", "NaN"},
		{"Infinite advantage", rllmString(step(`{"observation": "o", "advantage": Infinity}`), name), name, 2, "trajectories[0].steps[0].advantage", "finite"},
		{"response not string", rllmString(step(`{"observation": "o", "model_response": 5}`), name), name, 2, "trajectories[0].steps[0].model_response", "want a string"},
		{"null step reward", rllmString(step(`{"observation": "o", "reward": null}`), name), name, 2, "trajectories[0].steps[0].reward", "null"},
		{"step reward sum overflows", rllmString(step(`{"observation": "o", "reward": 3e38}, {"observation": "o", "reward": 3e38}`), name), name, 1, "trajectories[0].reward", "float32"},
		{"file too deep", rllmString(strings.Repeat("{\"a\":", 1000), name), name, 1, "", "nested deeper"},
	} {
		checkBad(t, tc)
	}
}

// TestReadErrorsNameFile checks that Read on a directory reports the offending
// file's path, and that I/O errors are not dressed up as bad input.
func TestReadErrorsNameFile(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join(fixtures, "verl", "1.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "1.jsonl"), good, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "2.jsonl")
	if err := os.WriteFile(bad, []byte(`{"input": "p", "output": "a", "score": NaN, "step": 2}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkBad(t, badCase{"directory", func() (*adapter.Result, error) { return adapter.Read(dir, adapter.Options{}) }, bad, 1, "score", "NaN"})
}
