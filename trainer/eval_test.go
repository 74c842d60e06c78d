package trainer

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/gradcouple/gradcouple/env"
)

// TestEvalBreakdown: success per family and per shift type is counted from
// the tasks themselves: on 12 household eval-out tasks (4 per shift type)
// with every third one solved, each rate is the share of solved tasks of
// that family or shift; eval-in tasks have no shift keys.
func TestEvalBreakdown(t *testing.T) {
	tasks, err := env.Tasks(env.Household, env.SplitEvalOut, 0, 12)
	if err != nil {
		t.Fatal(err)
	}
	solved := make([]bool, len(tasks))
	want := map[string][2]float64{}
	for i, task := range tasks {
		solved[i] = i%3 == 0
		for _, k := range []string{task.Type, task.Shift} {
			c := want["eval_out_greedy_success/"+k]
			c[1]++
			if solved[i] {
				c[0]++
			}
			want["eval_out_greedy_success/"+k] = c
		}
	}
	got := evalBreakdown(env.SplitEvalOut, modeGreedy, tasks, solved)
	if len(got) != len(want) {
		t.Fatalf("keys %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for k, c := range want {
		if got[k] != c[0]/c[1] {
			t.Errorf("%s = %v, want %v/%v", k, got[k], c[0], c[1])
		}
	}
	for _, s := range env.Shifts() {
		// Seeds 0..11: shift s mod 3, 4 tasks each; solved are 0, 3, 6, 9
		// (shift names).
		want := 0.0
		if s == env.ShiftNames {
			want = 1
		}
		if got["eval_out_greedy_success/"+s] != want {
			t.Errorf("shift %s: %v, want %v", s, got["eval_out_greedy_success/"+s], want)
		}
	}
	in, _ := env.Tasks(env.Lab, env.SplitEvalIn, 0, 5)
	for k := range evalBreakdown(env.SplitEvalIn, modeSampled, in, make([]bool, 5)) {
		f := k[len("eval_in_sampled_success/"):]
		if k[:len("eval_in_sampled_success/")] != "eval_in_sampled_success/" || slices.Contains(env.Shifts(), f) {
			t.Errorf("eval-in key %q", k)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("no panic on a length mismatch")
		}
	}()
	evalBreakdown(env.SplitEvalIn, modeGreedy, in, nil)
}

// TestMetricsJSONEvalBy: a line without EvalBy is encoded as before, bit
// for bit; EvalBy's entries are top-level numeric keys in sorted order,
// after the fields (NaN left out), and decode back.
func TestMetricsJSONEvalBy(t *testing.T) {
	m := Metrics{Iteration: 4, EvalOutGreedy: ptr(0.5), EvalByFamily: map[string]map[string]float64{"eval-out/greedy": {"cue": 0.5}}}
	plain, _ := json.Marshal(metricsFields(m))
	if b, err := json.Marshal(m); err != nil || !bytes.Equal(b, plain) {
		t.Fatalf("without EvalBy: %s, %v; want %s", b, err, plain)
	}
	m.EvalBy = map[string]float64{"eval_out_greedy_success/names": 0.25, "eval_in_greedy_success/pick_and_place_simple": 1, "eval_out_greedy_success/layout": math.NaN()}
	b, err := json.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	want := string(plain[:len(plain)-1]) + `,"eval_in_greedy_success/pick_and_place_simple":1,"eval_out_greedy_success/names":0.25}`
	if string(b) != want {
		t.Fatalf("encoded\n%s\nwant\n%s", b, want)
	}
	var back Metrics
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	delete(m.EvalBy, "eval_out_greedy_success/layout")
	if !reflect.DeepEqual(back, m) {
		t.Errorf("decoded %+v, want %+v", back, m)
	}
	if err := json.Unmarshal([]byte(`{"iteration":1,"eval_in_greedy_success/x":"a"}`), &back); err == nil {
		t.Error("a string rate decoded")
	}
}

// TestTwinShareWorlds: rollout.twin_share is accepted for household and
// lab with the twin option (and its alias) and refused without it.
func TestTwinShareWorlds(t *testing.T) {
	for _, name := range []string{"household-twin", "household-twin-alias", "lab-twin", "lab-twin-alias"} {
		c := tinyConfig()
		c.Env, c.Rollout.TwinShare = name, 1
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{env.Household, env.Lab} {
		c := tinyConfig()
		c.Env, c.Rollout.TwinShare = name, 0.5
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	c := tinyConfig()
	c.Env = "household-alias"
	if err := c.Validate(); !errors.Is(err, ErrConfig) {
		t.Errorf("household-alias: %v, want ErrConfig", err)
	}
}

// TestRunTwinsEvalBy: a short GCD run on household-twin with twin share 1
// draws whole twin pairs, and its evaluations record success per family of
// eval-in and eval-out and per shift type of eval-out in metrics.jsonl.
func TestRunTwinsEvalBy(t *testing.T) {
	cfg := tinyConfig()
	cfg.Env, cfg.Rollout.TwinShare = "household-twin", 1
	cfg.Iterations = 2
	cfg.Eval = EvalConfig{Every: 2, Tasks: 6, Greedy: true}
	for i := range cfg.Iterations {
		seeds := drawTasks(cfg, i)
		if len(seeds) != 2 || int(env.TwinSeed(uint64(seeds[0]))) != seeds[1] {
			t.Fatalf("iteration %d: batch %v is not a twin pair", i, seeds)
		}
	}
	dir := runDir(t, cfg, "twins")
	lines, err := ReadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	last := lines[len(lines)-1]
	for _, s := range env.Shifts() {
		if v, ok := last.EvalBy["eval_out_greedy_success/"+s]; !ok || v < 0 || v > 1 {
			t.Errorf("no eval_out_greedy_success/%s in %v", s, last.EvalBy)
		}
	}
	fams := 0
	for k := range last.EvalBy {
		if len(k) > len("eval_in_greedy_success/") && k[:len("eval_in_greedy_success/")] == "eval_in_greedy_success/" {
			fams++
		}
	}
	if fams == 0 || last.EvalOutGreedy == nil {
		t.Errorf("no eval-in family rates in %v", last.EvalBy)
	}
}
