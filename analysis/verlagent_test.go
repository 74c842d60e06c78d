package analysis

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/gradcouple/gradcouple/metrics"
	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/gradcouple/gradcouple/trajlog/adapter"
)

// TestVerlAgentDiagnostics converts the verl-agent fixture (written as
// verl-agent writes its dumps, through scripts/verl-agent/gradcouple_dump.py)
// and checks repetition and log-based consistency against a hand computation
// from truth.json, which lists each trajectory's steps in order: a step
// repeats when its action equals an earlier action of its trajectory; a state
// is the task with the environment's observation (anchor_obs); a state is
// eligible when it occurs at least K times in an iteration, and its modal
// count is the count of its most frequent action.
func TestVerlAgentDiagnostics(t *testing.T) {
	dir := filepath.Join("..", "testdata", "adapters", "verl-agent")
	res, err := adapter.Read(filepath.Join(dir, "patched"), adapter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "va.parquet")
	if err := trajlog.WriteFile(log, res.Records, trajlog.Meta{Run: "va"}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var truth struct {
		Steps []struct {
			Step         int32
			Trajectories []struct {
				Task  string
				Won   bool
				Steps []struct {
					Action    string
					AnchorObs string `json:"anchor_obs"`
				}
			}
		}
	}
	if err := json.Unmarshal(data, &truth); err != nil {
		t.Fatal(err)
	}

	// Repetition by hand.
	type repCount struct{ trajs, steps, repeated int }
	wantRep := map[int32][2]repCount{} // [failure, success]
	for _, s := range truth.Steps {
		c := wantRep[s.Step]
		for _, tr := range s.Trajectories {
			k := 0
			if tr.Won {
				k = 1
			}
			c[k].trajs++
			seen := map[string]bool{}
			for _, st := range tr.Steps {
				c[k].steps++
				if seen[st.Action] {
					c[k].repeated++
				}
				seen[st.Action] = true
			}
		}
		wantRep[s.Step] = c
	}
	rows, _, err := Repetition(context.Background(), []string{log}, LogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(wantRep) {
		t.Fatalf("%d repetition rows, want %d", len(rows), len(wantRep))
	}
	anyRepeat := false
	for _, r := range rows {
		w := wantRep[r.Iteration]
		got := [2]repCount{{r.FailureTrajs, r.FailureSteps, r.FailureRepeated}, {r.SuccessTrajs, r.SuccessSteps, r.SuccessRepeated}}
		if got != w {
			t.Errorf("iteration %d: (trajs, steps, repeated) failure/success %v, want %v", r.Iteration, got, w)
		}
		anyRepeat = anyRepeat || w[0].repeated > 0
	}
	if !anyRepeat {
		t.Fatal("the fixture has no repeated actions: the check proves nothing")
	}

	// Consistency by hand, with K = 5 (the fixture's states recur 5-40 times).
	cfg := metrics.ConsistencyConfig{K: 5, Threshold: 3}
	type stateKey struct {
		iter  int32
		state string
	}
	counts := map[stateKey]map[string]int{}
	for _, s := range truth.Steps {
		for _, tr := range s.Trajectories {
			for _, st := range tr.Steps {
				k := stateKey{s.Step, adapter.StateKey("task: " + tr.Task + "\x00anchor: " + st.AnchorObs)}
				if counts[k] == nil {
					counts[k] = map[string]int{}
				}
				counts[k][st.Action]++
			}
		}
	}
	type want struct{ occ, modal int }
	eligible := map[stateKey]want{}
	for k, acts := range counts {
		n, m := 0, 0
		for _, c := range acts {
			n += c
			m = max(m, c)
		}
		if n >= cfg.K {
			eligible[k] = want{n, m}
		}
	}
	_, states, _, err := Consistency(context.Background(), []string{log}, LogFilter{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != len(eligible) || len(states) < 5 {
		t.Fatalf("%d eligible states, want %d (and at least 5)", len(states), len(eligible))
	}
	for _, s := range states {
		w, ok := eligible[stateKey{s.Iteration, s.State}]
		if !ok || s.Occurrences != w.occ || s.ModalCount != w.modal {
			t.Errorf("iteration %d state %s: occurrences %d modal %d, want %+v (found %v)", s.Iteration, s.State, s.Occurrences, s.ModalCount, w, ok)
		}
	}
}
