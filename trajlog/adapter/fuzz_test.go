package adapter_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/gradcouple/gradcouple/trajlog/adapter"
)

// addSeeds adds the files matching the glob patterns (under testdata/adapters)
// to the corpus of f.
func addSeeds(f *testing.F, patterns ...string) {
	for _, p := range patterns {
		files, err := filepath.Glob(filepath.Join(fixtures, p))
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
}

// checkFuzzResult is the property every adapter must have on any input: either
// valid records, or a *trajlog.ValidationError naming the input; never a panic.
func checkFuzzResult(t *testing.T, res *adapter.Result, err error, name string) {
	t.Helper()
	if err != nil {
		var ve *trajlog.ValidationError
		if !errors.As(err, &ve) || ve.File != name {
			t.Fatalf("error %v (%T) is not a *trajlog.ValidationError about %s", err, err, name)
		}
		return
	}
	for i := range res.Records {
		if field, msg := res.Records[i].Validate(); field != "" {
			t.Fatalf("record %d invalid: %s: %s", i, field, msg)
		}
	}
}

func FuzzVerl(f *testing.F) {
	addSeeds(f, "verl/*.jsonl", "malformed/verl_*.jsonl")
	f.Add([]byte(`{"input": "p", "output": "a", "score": -0.0, "uid": ""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "9.jsonl"
		res, err := adapter.ReadVerl(bytes.NewReader(data), name, adapter.Options{})
		checkFuzzResult(t, res, err, name)
	})
}

func FuzzTRL(f *testing.F) {
	addSeeds(f, "trl/*.parquet")
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "completions_00009.parquet"
		res, err := adapter.ReadTRL(bytes.NewReader(data), name, adapter.Options{})
		checkFuzzResult(t, res, err, name)
	})
}

func FuzzRLLM(f *testing.F) {
	addSeeds(f, "rllm/episodes/*/episode_*.json", "malformed/rllm_*.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "episodes/train_step_9_epoch_0/episode_x.json"
		res, err := adapter.ReadRLLM(bytes.NewReader(data), name, adapter.Options{})
		checkFuzzResult(t, res, err, name)
	})
}
