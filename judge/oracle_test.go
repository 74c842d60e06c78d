package judge

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gradcouple/gradcouple/env"
)

// TestOracleReplaysSample checks the replayed truth against env.Sample's
// noiseless judge on the same trajectories.
func TestOracleReplaysSample(t *testing.T) {
	for _, name := range env.Names() {
		recs, _, err := env.Sample(env.SampleConfig{Env: name, Split: env.SplitTrain, Tasks: 3, GroupSize: 3, Policy: "mix", Eps: 0.5, Seed: 4})
		if err != nil {
			t.Fatal(err)
		}
		byTraj := map[string][]Step{}
		labels := map[string][]int8{}
		task := map[string]string{}
		for _, r := range recs {
			byTraj[r.TrajID] = append(byTraj[r.TrajID], Step{Turn: r.Turn, StateKey: r.StateKey, Action: r.Action})
			labels[r.TrajID] = append(labels[r.TrajID], r.Label)
			task[r.TrajID] = r.TaskID
		}
		good, bad := 0, 0
		for id, steps := range byTraj {
			truth, err := Oracle(task[id], steps)
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			for k, tr := range truth {
				if want := labels[id][k] == 1; tr != want {
					t.Fatalf("%s turn %d: oracle %v, noiseless judge %v", id, k, tr, want)
				}
				if tr {
					good++
				} else {
					bad++
				}
			}
		}
		if good == 0 || bad == 0 {
			t.Fatalf("%s: %d good, %d bad: the test needs both", name, good, bad)
		}
		steps := byTraj[recs[0].TrajID]
		steps[len(steps)-1].StateKey = "0000000000000000"
		if len(steps) > 1 {
			if _, err := Oracle(recs[0].TaskID, steps); err == nil {
				t.Error("a wrong state key was not detected")
			}
		}
	}
}

func TestAgreementKappa(t *testing.T) {
	// Confusion truth x label: [[40, 10], [5, 45]] (n = 100): p_o = 0.85,
	// truth good 0.5, label good 0.55, p_e = 0.5*0.55 + 0.5*0.45 = 0.5,
	// kappa = (0.85 - 0.5) / 0.5 = 0.7.
	var a Agreement
	add := func(truth bool, label Verdict, n int) {
		for i := 0; i < n; i++ {
			a.Add(truth, label, 0, 0)
		}
	}
	add(false, Bad, 40)
	add(false, Good, 10)
	add(true, Bad, 5)
	add(true, Good, 45)
	add(true, Unknown, 3)
	if math.Abs(a.Accuracy()-0.85) > 1e-12 || math.Abs(a.Kappa()-0.7) > 1e-12 || a.Unknown != 3 || a.Steps != 103 {
		t.Fatalf("accuracy %v kappa %v %+v", a.Accuracy(), a.Kappa(), a)
	}
	var b Agreement
	if !math.IsNaN(b.Kappa()) || !math.IsNaN(b.Accuracy()) {
		t.Error("empty agreement is not NaN")
	}
	// The simulated bundled judge's per-vote error rate estimates its eps.
	truths := make([]bool, 4000)
	for i := range truths {
		truths[i] = i%3 == 0
	}
	var c Agreement
	c.Simulate(truths, env.Judge{J: 5, Eps: 0.2}, rand.New(rand.NewPCG(1, 2)))
	if r := c.VoteErrorRate(); math.Abs(r-0.2) > 0.01 {
		t.Errorf("vote error rate %v, want 0.2 +- 0.01 (20000 votes: sd 0.003)", r)
	}
	// Majority of 5 at eps 0.2: P(>= 3 wrong) = 0.05792; accuracy 0.94208.
	if acc := c.Accuracy(); math.Abs(acc-0.94208) > 0.012 {
		t.Errorf("accuracy %v, want 0.942 (4000 steps: sd 0.0037)", acc)
	}
}
