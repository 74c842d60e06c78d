package adapter_test

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// update rewrites the generated TRL fixtures: parquet cannot be written by
// hand, so testdata/adapters/trl/*.parquet are made from the Go literals below.
//
//	go test ./trajlog/adapter/ -run TestTRLFixturesUpToDate -update
var update = flag.Bool("update", false, "rewrite the generated TRL parquet fixtures under testdata/adapters/trl")

// none marks a reward a TRL reward function did not give (it returned None):
// pandas writes it as a null, which is what trlTable writes for it.
var none = math.Inf(-1)

// trlColumn is one reward-function column of a generated TRL table.
type trlColumn struct {
	name   string
	values []float64 // none for a null; NaN is written as a NaN double
}

// trlTable is a TRL GRPOTrainer completion table as GRPOTrainer.log builds it:
// {"step", "prompt", "completion", **rewards, **extra, "advantage"}, written by
// pandas with nullable (optional) columns.
type trlTable struct {
	step        int64
	stepString  bool   // older TRL wrote str(global_step)
	mode        string // newer TRL: "train" or "eval"; "" for no mode column
	prompts     []string
	completions []string
	rewards     []trlColumn
	extra       map[string][]string // log_extra string columns
	advantage   []float64           // nil: no advantage column
	dropColumns []string            // columns to leave out (malformed tables)
}

// bytes encodes t as a parquet file.
func (t trlTable) bytes(tb testing.TB) []byte {
	tb.Helper()
	n := len(t.prompts)
	cols := map[string]func(i int) parquet.Value{}
	group := parquet.Group{}
	str := func(s string) parquet.Value { return parquet.ValueOf(s) }
	if t.stepString {
		group["step"] = parquet.Optional(parquet.String())
		cols["step"] = func(int) parquet.Value { return str(itoa(t.step)) }
	} else {
		group["step"] = parquet.Optional(parquet.Int(64))
		cols["step"] = func(int) parquet.Value { return parquet.ValueOf(t.step) }
	}
	if t.mode != "" {
		group["mode"] = parquet.Optional(parquet.String())
		cols["mode"] = func(int) parquet.Value { return str(t.mode) }
	}
	group["prompt"] = parquet.Optional(parquet.String())
	cols["prompt"] = func(i int) parquet.Value { return str(t.prompts[i]) }
	group["completion"] = parquet.Optional(parquet.String())
	cols["completion"] = func(i int) parquet.Value {
		if t.completions[i] == "\x00null" {
			return parquet.NullValue()
		}
		return str(t.completions[i])
	}
	for _, rc := range t.rewards {
		group[rc.name] = parquet.Optional(parquet.Leaf(parquet.DoubleType))
		cols[rc.name] = func(i int) parquet.Value {
			if rc.values[i] == none {
				return parquet.NullValue()
			}
			return parquet.ValueOf(rc.values[i])
		}
	}
	for name, vals := range t.extra {
		group[name] = parquet.Optional(parquet.String())
		cols[name] = func(i int) parquet.Value { return str(vals[i]) }
	}
	if t.advantage != nil {
		group["advantage"] = parquet.Optional(parquet.Leaf(parquet.DoubleType))
		cols["advantage"] = func(i int) parquet.Value { return parquet.ValueOf(t.advantage[i]) }
	}
	for _, c := range t.dropColumns {
		delete(group, c)
		delete(cols, c)
	}
	schema := parquet.NewSchema("schema", group)
	rows := make([]parquet.Row, n)
	for i := range rows {
		for ci, path := range schema.Columns() {
			v := cols[path[0]](i)
			def := 1
			if v.IsNull() {
				def = 0
			}
			rows[i] = append(rows[i], v.Level(0, def, ci))
		}
	}
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, schema, parquet.KeyValueMetadata("generator", "gradcouple trajlog/adapter trl_fixture_test.go"))
	if _, err := w.WriteRows(rows); err != nil {
		tb.Fatalf("writing TRL fixture rows: %v", err)
	}
	if err := w.Close(); err != nil {
		tb.Fatalf("closing TRL fixture: %v", err)
	}
	return buf.Bytes()
}

func itoa(n int64) string { return string(appendInt(nil, n)) }

func appendInt(dst []byte, n int64) []byte {
	if n < 0 {
		dst = append(dst, '-')
		n = -n
	}
	if n >= 10 {
		dst = appendInt(dst, n/10)
	}
	return append(dst, byte('0'+n%10))
}

// Prompts of the TRL fixtures, after Qwen's chat template as TRL logs them.
const (
	trlP1 = "<|im_start|>user\nWhat is 7 * 6? Answer inside <answer></answer>.<|im_end|>\n<|im_start|>assistant\n"
	trlP2 = "<|im_start|>user\nName the capital of France inside <answer></answer>.<|im_end|>\n<|im_start|>assistant\n"
	trlP3 = "Write a haiku about rain."
)

// trlStep1 is completions_00001.parquet: newer TRL (integer step, mode column),
// two prompts x four completions, two reward functions, a log_extra column.
//
// Outcomes (accuracy + format): P1 [1.5, 0.5, 1.0, 0.5]; P2 all 0.5.
// Logged advantages are TRL's, (R - mean) / (std + 1e-4) with the N-1 std:
// P1 mean 0.875, std sqrt(0.6875/3) = 0.478713554, so
// 0.625/0.478813554 = 1.305310, -0.375/0.478813554 = -0.783186,
// 0.125/0.478813554 = 0.261062; P2 has zero std, so 0.
var trlStep1 = trlTable{
	step: 1,
	mode: "train",
	prompts: []string{trlP1, trlP1, trlP1, trlP1,
		trlP2, trlP2, trlP2, trlP2},
	completions: []string{
		"<think>7*6=42</think><answer>42</answer>",
		"<think>7*6=41</think><answer>41</answer>",
		"42",
		"<answer>36</answer>",
		"<answer>Lyon</answer>",
		"<answer>Marseille</answer>",
		"<answer>Nice</answer>",
		"<answer>Paris is not it</answer>",
	},
	rewards: []trlColumn{
		{"accuracy_reward", []float64{1, 0, 1, 0, 0, 0, 0, 0}},
		{"format_reward", []float64{0.5, 0.5, 0, 0.5, 0.5, 0.5, 0.5, 0.5}},
	},
	extra:     map[string][]string{"gold": {"42", "42", "42", "42", "Paris", "Paris", "Paris", "Paris"}},
	advantage: []float64{1.305310, -0.783186, 0.261062, -0.783186, 0, 0, 0, 0},
}

// trlStep2 is completions_00002.parquet: older TRL (step as the string "2", no
// mode column), one prompt x three completions, and reward functions that
// returned None for some rows (null cells, left out of the sum as TRL's nansum
// does): outcomes [0.25+1, 0.75, 0] = [1.25, 0.75, 0].
// Logged advantages: mean 0.666667, std 0.629153, TRL eps 1e-4:
// [0.927025, 0.132432, -1.059457].
var trlStep2 = trlTable{
	step:        2,
	stepString:  true,
	prompts:     []string{trlP3, trlP3, trlP3},
	completions: []string{"Grey sky softly weeps / puddles hold the fallen clouds / the street hums, washed clean", "rain rain rain", ""},
	rewards: []trlColumn{
		{"reward_len", []float64{0.25, 0.75, none}},
		{"reward_rhyme", []float64{1, none, 0}},
	},
	advantage: []float64{0.927025, 0.132432, -1.059457},
}

var trlFixtures = map[string]trlTable{
	"completions_00001.parquet": trlStep1,
	"completions_00002.parquet": trlStep2,
}

// TestTRLFixturesUpToDate checks that the committed parquet fixtures are what
// the literals above generate (with -update it rewrites them).
func TestTRLFixturesUpToDate(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "adapters", "trl")
	for name, table := range trlFixtures {
		path := filepath.Join(dir, name)
		want := table.bytes(t)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to generate)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from its generator; run go test ./trajlog/adapter/ -run TestTRLFixturesUpToDate -update", path)
		}
	}
}
