package adapter_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/gradcouple/gradcouple/trajlog/adapter"
)

// Reference values for testdata/adapters/rllm, computed by hand.
//
// Step 3 has two tasks with two rollouts each (G = 2): task-a outcomes 1 (the
// trajectory reward) and 0; task-b outcomes 1 (no trajectory reward: the sum of
// step rewards 0 + 0 + 1) and 0. For outcomes {1, 0}: mean 0.5, sample std
// sqrt(0.5) = 0.7071068, A = ±0.5 / (0.7071068 + 1e-6) = ±0.7071058, given to
// every step of the trajectory. The val_step_3 episode is eval-in, advantage 0.
const aPair = 0.7071057811879616

func TestRLLMFixture(t *testing.T) {
	res := mustRead(t, filepath.Join(fixtures, "rllm"), adapter.Options{})
	recs := res.Records
	if len(recs) != 10 {
		t.Fatalf("%d records, want 10", len(recs))
	}
	// Groups, trajectory ids, splits and success all come from the log.
	wantDerived := []string{"advantage", "label", "label_votes", "logprob", "state_key", "valid"}
	if diff := cmp.Diff(wantDerived, res.Derived); diff != "" {
		t.Errorf("Derived (-want +got):\n%s", diff)
	}
	type want struct {
		traj, group, task, split string
		turn                     int32
		action                   string
		stepReward, outcome      float32
		success                  bool
		adv                      float64
		logprob                  float32
	}
	const (
		ga = "step-3/task-a:solver"
		gb = "step-3/task-b:default_traj_name"
	)
	wants := []want{
		{"7c0e6a52-task-a-0", ga, "task-a", "train", 0, "go to countertop 1", 0, 1, true, aPair, 0},
		{"7c0e6a52-task-a-0", ga, "task-a", "train", 1, "take mug 1 from countertop 1", 0, 1, true, aPair, 0},
		{"7c0e6a52-task-a-0", ga, "task-a", "train", 2, "clean mug 1 with sinkbasin 1", 1, 1, true, aPair, 0},
		{"7c0e6a52-task-a-1", ga, "task-a", "train", 0, "go to cabinet 2", 0, 0, false, -aPair, 0},
		{"7c0e6a52-task-a-1", ga, "task-a", "train", 1, "go to cabinet 2", 0, 0, false, -aPair, 0},
		{"a1b2c3d4-task-b-0", gb, "task-b", "train", 0, "pick up thermometer", 0, 1, true, aPair, -0.75},
		{"a1b2c3d4-task-b-0", gb, "task-b", "train", 1, `{"tool":"use","args":["thermometer","substance"]}`, 0, 1, true, aPair, -1},
		{"a1b2c3d4-task-b-0", gb, "task-b", "train", 2, "focus on substance", 1, 1, true, aPair, -0.25},
		{"a1b2c3d4-task-b-1", gb, "task-b", "train", 0, "look around", 0, 0, false, -aPair, 0},
		{"5e5e5e5e-task-c-0", "eval-in/step-3/task-c:solver", "task-c", "eval-in", 0, "use desklamp 1", 1, 1, true, 0, 0},
	}
	for i, w := range wants {
		r := recs[i]
		got := want{r.TrajID, r.GroupID, r.TaskID, r.Split, r.Turn, r.Action, r.StepReward, r.Outcome, r.Success, w.adv, r.Logprob}
		if got != w || !near(r.Advantage, w.adv) || r.Iteration != 3 {
			t.Errorf("record %d = %+v adv %v iter %d\nwant %+v", i, got, r.Advantage, r.Iteration, w)
		}
	}

	// Prompts: the chat history before this step's response, else the observation.
	wantPrompt1 := "system: You are a household agent. Reply with one action.\n\n" +
		"user: You are in the middle of a room. Your task is to: put a clean mug in coffeemachine.\n\n" +
		"assistant: <think>Mugs are usually on the countertop.</think> go to countertop 1\n\n" +
		"user: On the countertop 1, you see a mug 1."
	if recs[1].Prompt != wantPrompt1 {
		t.Errorf("turn 1 prompt:\n%s\nwant:\n%s", recs[1].Prompt, wantPrompt1)
	}
	if recs[6].Prompt != "You move the thermometer to the inventory." {
		t.Errorf("observation prompt = %q", recs[6].Prompt)
	}
	if recs[9].Prompt != "user: You are in the middle of a room. Your task is to: examine the book with the desklamp." {
		t.Errorf("prompt from content parts = %q", recs[9].Prompt)
	}
	if recs[0].Prompt != recs[3].Prompt || recs[0].StateKey != recs[3].StateKey {
		t.Error("the two task-a rollouts start from the same prompt but got different state keys")
	}
	if recs[5].Prompt != recs[8].Prompt {
		t.Error("the two task-b rollouts start from the same observation")
	}
	if recs[0].Run != "rllm" {
		t.Errorf("run = %q, want rllm (episodes/ and the step directory skipped)", recs[0].Run)
	}
}

// TestReadRLLMReader reads one episode from an io.Reader: without a task id
// in the episode id the group is derived from the first prompt; without
// is_correct success comes from the outcome; without uid the trajectory id
// from the episode id.
func TestReadRLLMReader(t *testing.T) {
	in := `{"id": "ep-9", "training_step": 12,
  "trajectories": [
    {"name": "agent", "reward": 0.5, "steps": [
      {"observation": "start", "action": "Action(action='say \\'hi\\'\\n')", "reward": 0.0},
      {"observation": {"room": 2}, "model_response": "wait", "reward": 0.5}
    ]},
    {"name": "agent", "reward": -1, "steps": [
      {"chat_completions": [{"role": "user", "content": "start"}], "action": "go"}
    ]}
  ]}`
	res, err := adapter.ReadRLLM(strings.NewReader(in), "ep.json", adapter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res)
	r := res.Records
	if len(r) != 3 {
		t.Fatalf("%d records, want 3", len(r))
	}
	if r[0].Action != "say 'hi'\n" || r[1].Prompt != `{"room":2}` || r[1].Action != "wait" {
		t.Errorf("action/prompt rendering: %q, %q, %q", r[0].Action, r[1].Prompt, r[1].Action)
	}
	if r[0].TrajID != "ep-9/0" || r[2].TrajID != "ep-9/1" || r[0].Iteration != 12 {
		t.Errorf("ids: %q %q iteration %d", r[0].TrajID, r[2].TrajID, r[0].Iteration)
	}
	// Prompts "start" and "user: start" differ, so two derived groups of one
	// trajectory each. A derived group of one is a group the log did not
	// say, not a real group of one (verl would give R / (1 + 1e-6)): its
	// advantage is 0.
	if r[0].GroupID != "step-12/g-0" || r[2].GroupID != "step-12/g-1" {
		t.Errorf("groups %q %q", r[0].GroupID, r[2].GroupID)
	}
	if r[0].Advantage != 0 || r[2].Advantage != 0 {
		t.Errorf("advantages %v %v", r[0].Advantage, r[2].Advantage)
	}
	if !r[0].Success || r[2].Success {
		t.Errorf("success from outcome > 0: %v %v", r[0].Success, r[2].Success)
	}
	for _, f := range []string{"group_id", "success", "traj_id", "split"} {
		if !contains(res.Derived, f) {
			t.Errorf("%s not listed as derived: %v", f, res.Derived)
		}
	}
	if r[0].Split != trajlog.SplitTrain {
		t.Errorf("split %q", r[0].Split)
	}
}

// TestRLLMTokenIDs: the token ids of Step.to_dict (prompt_ids, response_ids),
// else of its model_output (prompt_ids, completion_ids), are carried; empty
// lists are no ids; a step with one list and not the other, or a list that is
// not of integer ids, is an error naming the step's path.
func TestRLLMTokenIDs(t *testing.T) {
	in := `{"id": "t:0", "training_step": 1, "trajectories": [{"uid": "u", "reward": 1, "steps": [
      {"observation": "a", "action": "x", "prompt_ids": [151644, 8948, 198], "response_ids": [87, 151645], "logprobs": [-0.5, -0.25]},
      {"observation": "b", "action": "y", "prompt_ids": [], "response_ids": [],
       "model_output": {"prompt_ids": [1, 2], "completion_ids": [3]}},
      {"observation": "c", "action": "z", "prompt_ids": [], "response_ids": []}
    ]}]}`
	res, err := adapter.ReadRLLM(strings.NewReader(in), "ep.json", adapter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Records
	want := [][2][]int32{{{151644, 8948, 198}, {87, 151645}}, {{1, 2}, {3}}, {nil, nil}}
	for i, w := range want {
		if diff := cmp.Diff(w, [2][]int32{r[i].PromptIDs, r[i].ActionIDs}); diff != "" {
			t.Errorf("step %d ids (-want +got):\n%s", i, diff)
		}
	}
	for _, tc := range []struct{ step, field, msg string }{
		{`"prompt_ids": [1], "response_ids": []`, "trajectories[0].steps[0].response_ids", "missing or empty while prompt_ids has 1"},
		{`"response_ids": [1]`, "trajectories[0].steps[0].prompt_ids", "missing or empty while response_ids has 1"},
		{`"prompt_ids": [1, {"type": "image"}], "response_ids": [2]`, "trajectories[0].steps[0].prompt_ids", "multimodal"},
		{`"prompt_ids": [1, -1], "response_ids": [2]`, "trajectories[0].steps[0].prompt_ids", "negative token id -1"},
		{`"prompt_ids": [1], "response_ids": [2.0]`, "trajectories[0].steps[0].response_ids", "not an integer token id"},
		{`"model_output": {"prompt_ids": [1], "completion_ids": null}`, "trajectories[0].steps[0].model_output.completion_ids", "missing or empty"},
	} {
		ep := `{"id": "t:0", "training_step": 1, "trajectories": [{"steps": [{"observation": "a", "action": "x", ` + tc.step + `}]}]}`
		_, err := adapter.ReadRLLM(strings.NewReader(ep), "ep.json", adapter.Options{})
		var ve *trajlog.ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field || ve.Row != 1 || !strings.Contains(ve.Msg, tc.msg) {
			t.Errorf("%s: got %v, want field %s %q", tc.step, err, tc.field, tc.msg)
		}
	}
}
