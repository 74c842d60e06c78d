package adapter_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/gradcouple/gradcouple/trajlog/adapter"
)

// fixtures is testdata/adapters, relative to this package.
var fixtures = filepath.Join("..", "..", "testdata", "adapters")

// tol is the tolerance of float32 record values against float64 references.
const tol = 1e-6

func near(a float32, b float64) bool { return math.Abs(float64(a)-b) <= tol*math.Max(1, math.Abs(b)) }

// mustRead reads a fixture with Read and checks the invariants every result
// must meet: valid records, derived names that are schema columns.
func mustRead(t *testing.T, path string, opts adapter.Options) *adapter.Result {
	t.Helper()
	res, err := adapter.Read(path, opts)
	if err != nil {
		t.Fatalf("Read(%s): %v", path, err)
	}
	checkResult(t, res)
	return res
}

func checkResult(t *testing.T, res *adapter.Result) {
	t.Helper()
	for i := range res.Records {
		if field, msg := res.Records[i].Validate(); field != "" {
			t.Errorf("record %d invalid: %s: %s", i, field, msg)
		}
	}
	columns := trajlog.Columns()
	for _, d := range res.Derived {
		if !slices.Contains(columns, d) {
			t.Errorf("derived field %q is not a schema column", d)
		}
	}
	if !slices.IsSorted(res.Derived) {
		t.Errorf("Derived not sorted: %v", res.Derived)
	}
}

// successRate is the share of trajectories (distinct traj_id) that succeeded.
func successRate(recs []trajlog.Record, iter int32) float64 {
	seen := map[string]bool{}
	var n, ok float64
	for _, r := range recs {
		if r.Iteration != iter || seen[r.TrajID] {
			continue
		}
		seen[r.TrajID] = true
		n++
		if r.Success {
			ok++
		}
	}
	return ok / n
}

func TestDetect(t *testing.T) {
	tests := []struct {
		path string
		want adapter.Format
	}{
		{"verl", adapter.FormatVerl},
		{"verl/1.jsonl", adapter.FormatVerl},
		{"trl", adapter.FormatTRL},
		{"trl/completions_00002.parquet", adapter.FormatTRL},
		{"rllm", adapter.FormatRLLM},
		{"rllm/episodes/val_step_3_epoch_0", adapter.FormatRLLM},
		{"rllm/episodes/train_step_3_epoch_0/episode_hash8d41be07_idtask-b_1.json", adapter.FormatRLLM},
	}
	for _, tt := range tests {
		got, err := adapter.Detect(filepath.Join(fixtures, tt.path))
		if err != nil || got != tt.want {
			t.Errorf("Detect(%s) = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
}

// TestDetectByContent renames fixtures so that only their content tells the format.
func TestDetectByContent(t *testing.T) {
	dir := t.TempDir()
	copyFile := func(src, dst string) string {
		data, err := os.ReadFile(filepath.Join(fixtures, src))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, dst)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		src, dst string
		want     adapter.Format
	}{
		{"verl/2.jsonl", "rollouts.jsonl", adapter.FormatVerl},
		{"trl/completions_00001.parquet", "table.parquet", adapter.FormatTRL},
		{"rllm/episodes/train_step_3_epoch_0/episode_hash3f2a91c0_idtask-a_0.json", "ep.json", adapter.FormatRLLM},
	}
	for _, tt := range tests {
		p := copyFile(tt.src, tt.dst)
		if got, err := adapter.Detect(p); err != nil || got != tt.want {
			t.Errorf("Detect(%s) = %q, %v; want %q", tt.dst, got, err, tt.want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := adapter.Detect(filepath.Join(dir, "notes.txt")); !errors.Is(err, adapter.ErrUnknownFormat) {
		t.Errorf("Detect(notes.txt) error = %v, want ErrUnknownFormat", err)
	}
}

func TestDetectDirectories(t *testing.T) {
	empty := t.TempDir()
	if _, err := adapter.Detect(empty); !errors.Is(err, adapter.ErrUnknownFormat) {
		t.Errorf("Detect(empty dir) error = %v, want ErrUnknownFormat", err)
	}
	if _, err := adapter.Read(empty, adapter.Options{}); !errors.Is(err, adapter.ErrUnknownFormat) {
		t.Errorf("Read(empty dir) error = %v, want ErrUnknownFormat", err)
	}

	mixed := t.TempDir()
	for _, name := range []string{"3.jsonl", "completions_00003.parquet"} {
		if err := os.WriteFile(filepath.Join(mixed, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := adapter.Detect(mixed)
	if !errors.Is(err, adapter.ErrMixedFormats) || !strings.Contains(err.Error(), "verl") || !strings.Contains(err.Error(), "trl") {
		t.Errorf("Detect(mixed dir) error = %v, want ErrMixedFormats naming verl and trl", err)
	}

	canonical := filepath.Join(t.TempDir(), "runs", "r1", "logs")
	if err := os.MkdirAll(canonical, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(canonical, "iter-000010.parquet"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := adapter.Detect(canonical); err != nil || f != adapter.FormatCanonical {
		t.Errorf("Detect(canonical logs) = %q, %v; want canonical", f, err)
	}
	if _, err := adapter.Read(canonical, adapter.Options{}); !errors.Is(err, adapter.ErrCanonical) {
		t.Errorf("Read(canonical logs) error = %v, want ErrCanonical", err)
	}

	if _, err := adapter.Detect(filepath.Join(empty, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Detect(missing) error = %v, want os.ErrNotExist", err)
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"verl", "TRL", " rllm ", "canonical"} {
		if _, err := adapter.ParseFormat(s); err != nil {
			t.Errorf("ParseFormat(%q): %v", s, err)
		}
	}
	if _, err := adapter.ParseFormat("openrlhf"); !errors.Is(err, adapter.ErrUnknownFormat) {
		t.Errorf("ParseFormat(openrlhf) error = %v, want ErrUnknownFormat", err)
	}
}

func TestStateKey(t *testing.T) {
	// SHA-256("") = e3b0c44298fc1c149afbf4c8996fb924...; the key is its first 16 hex digits.
	if got := adapter.StateKey(""); got != "e3b0c44298fc1c14" {
		t.Errorf("StateKey(\"\") = %s, want e3b0c44298fc1c14", got)
	}
	if adapter.StateKey("a") == adapter.StateKey("b") {
		t.Error("StateKey does not separate different prompts")
	}
}

func TestInvalidSplitOption(t *testing.T) {
	_, err := adapter.Read(filepath.Join(fixtures, "verl"), adapter.Options{Split: "validation"})
	if err == nil {
		t.Fatal("Read with Split \"validation\" succeeded")
	}
	var ve *trajlog.ValidationError
	if errors.As(err, &ve) {
		t.Errorf("an invalid option is not bad input, got %v", err)
	}
}

// TestAllFixturesConvert reads every fixture directory and checks that the
// records survive the canonical schema's validation.
func TestAllFixturesConvert(t *testing.T) {
	want := map[string]int{"verl": 14, "trl": 11, "rllm": 10}
	for dir, n := range want {
		res := mustRead(t, filepath.Join(fixtures, dir), adapter.Options{})
		if len(res.Records) != n {
			t.Errorf("%s: %d records, want %d", dir, len(res.Records), n)
		}
		if string(res.Format) != dir {
			t.Errorf("%s: Format = %q", dir, res.Format)
		}
		for _, r := range res.Records {
			if r.Run != dir {
				t.Errorf("%s: run = %q, want the directory name %q", dir, r.Run, dir)
				break
			}
			if r.StateKey != adapter.StateKey(r.Prompt) {
				t.Errorf("%s: state_key %s is not StateKey(prompt)", dir, r.StateKey)
				break
			}
		}
	}
}

func TestRunOption(t *testing.T) {
	res := mustRead(t, filepath.Join(fixtures, "verl", "1.jsonl"), adapter.Options{Run: "exp-7"})
	if diff := cmp.Diff([]string{"exp-7"}, runs(res.Records)); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
}

func runs(recs []trajlog.Record) []string {
	var out []string
	for _, r := range recs {
		if !slices.Contains(out, r.Run) {
			out = append(out, r.Run)
		}
	}
	return out
}
