package adapter_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

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
		var mt *adapter.MultiTurnError
		switch {
		case errors.As(err, &ve) && ve.File == name:
		case errors.As(err, &mt) && mt.Path == name:
		default:
			t.Fatalf("error %v (%T) is not a *trajlog.ValidationError or *adapter.MultiTurnError about %s", err, err, name)
		}
		return
	}
	for i := range res.Records {
		r := &res.Records[i]
		if field, msg := r.Validate(); field != "" {
			t.Fatalf("record %d invalid: %s: %s", i, field, msg)
		}
		// Text is never repaired nor passed on invalid (it is refused).
		for _, s := range []string{r.Prompt, r.Action, r.GroupID, r.TrajID, r.TaskID, r.StateKey, r.Run, r.Split} {
			if !utf8.ValidString(s) {
				t.Fatalf("record %d has invalid UTF-8 text %q", i, s)
			}
		}
	}
}

// addMalformedSeeds adds the files of testdata/malformed matching the glob
// patterns to the corpus of f.
func addMalformedSeeds(f *testing.F, patterns ...string) {
	for _, p := range patterns {
		files, _ := filepath.Glob(filepath.Join(malformed, p))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
}

func FuzzVerl(f *testing.F) {
	addSeeds(f, "verl/*.jsonl", "malformed/verl_*.jsonl")
	f.Add([]byte(`{"input": "p", "output": "a", "score": -0.0, "uid": ""}`))
	f.Add([]byte("\ufeff{\"input\": \"p\", \"output\": \"\\udc80\", \"score\": 1}"))
	addMalformedSeeds(f, "verl-*.jsonl")
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "9.jsonl"
		res, err := adapter.ReadVerl(bytes.NewReader(data), name, adapter.Options{})
		checkFuzzResult(t, res, err, name)
	})
}

func FuzzVerlAgent(f *testing.F) {
	addSeeds(f, "verl-agent/patched/*.jsonl", "verl-agent/patched-advantages/*.jsonl")
	addMalformedSeeds(f, "verl-agent-*.jsonl")
	f.Add([]byte(`{"input": "p", "output": "<action>a</action>", "score": 1, "uid": "g", "traj_uid": "t", "turn": 0, "episode_rewards": 1}` + "\n" +
		`{"input": "p", "output": "<action>a</action>", "score": 1, "uid": "g", "traj_uid": "t", "turn": 0, "episode_rewards": 1}`))
	f.Add([]byte(`{"input": "p", "output": "<action>a</action>", "score": 1, "uid": "g", "traj_uid": "t", "turn": 0, "episode_rewards": 1, "prompt_ids": [151644, 0], "action_ids": [2147483647]}` + "\n" +
		`{"input": "p", "output": "<action>a</action>", "score": 1, "uid": "g", "traj_uid": "t", "turn": 1, "episode_rewards": 1, "prompt_ids": [1.5], "action_ids": []}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "9.jsonl"
		for _, mode := range []adapter.GroupAdvantageMode{adapter.AdvantageTrajectory, adapter.AdvantageCrossStep} {
			res, err := adapter.ReadVerlAgent(bytes.NewReader(data), name, adapter.Options{GroupAdvantage: mode})
			checkFuzzResult(t, res, err, name)
		}
	})
}

func FuzzTRL(f *testing.F) {
	addSeeds(f, "trl/*.parquet", "trl-extra/*.parquet")
	addMalformedSeeds(f, "trl-*.parquet")
	if data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "decimal", "completions_00001.parquet")); err == nil {
		f.Add(data)
	}
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "completions_00009.parquet"
		res, err := adapter.ReadTRL(bytes.NewReader(data), name, adapter.Options{})
		checkFuzzResult(t, res, err, name)
	})
}

func FuzzRLLM(f *testing.F) {
	addSeeds(f, "rllm/episodes/*/episode_*.json", "malformed/rllm_*.json")
	addMalformedSeeds(f, "rllm-*.json")
	f.Add([]byte(`{"id": "t:0", "trajectories": [{"steps": [{"observation": "o", "action": "action='a\\'' id=1"}]}]}`))
	f.Add([]byte(`{"id": "t:0", "training_step": 1, "trajectories": [{"steps": [{"observation": "o", "action": "a", "prompt_ids": [1, 2], "response_ids": [3],
		"model_output": {"prompt_ids": [4], "completion_ids": [-5]}}, {"observation": "o", "prompt_ids": [], "model_output": {"prompt_ids": [4], "completion_ids": [5]}}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "episodes/train_step_9_epoch_0/episode_x.json"
		res, err := adapter.ReadRLLM(bytes.NewReader(data), name, adapter.Options{})
		checkFuzzResult(t, res, err, name)
	})
}
