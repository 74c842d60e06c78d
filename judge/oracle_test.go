package judge

import (
	"testing"

	"github.com/gradcouple/gradcouple/env"
)

// TestOracleVariants: the oracle replays logged trajectories of every
// bundled environment, the twin variants and the bandit too, and its truth
// is the environment's own optimality of each logged action.
func TestOracleVariants(t *testing.T) {
	for _, name := range []string{env.Household, "household-twin", "lab-twin-alias", "bandit"} {
		recs, _, err := env.Sample(env.SampleConfig{Env: name, Split: env.SplitTrain, Tasks: 3, Seed: 5, GroupSize: 2, Policy: "mix", Eps: 0.5,
			Judge: env.Judge{J: 1, Eps: 0}, Run: "r"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		trajs := map[string][]Step{}
		task := map[string]string{}
		label := map[string][]int8{}
		for _, r := range recs {
			trajs[r.TrajID] = append(trajs[r.TrajID], Step{Turn: r.Turn, StateKey: r.StateKey, Action: r.Action})
			task[r.TrajID] = r.TaskID
			label[r.TrajID] = append(label[r.TrajID], r.Label)
		}
		steps := 0
		for id, s := range trajs {
			truth, err := Oracle(task[id], s)
			if err != nil {
				t.Fatalf("%s %s: %v", name, task[id], err)
			}
			for k, tr := range truth {
				// The sample's judge with eps 0 and one vote labels by the
				// same truth (1 good, 0 bad).
				if want := label[id][k] == 1; tr != want {
					t.Errorf("%s %s turn %d: oracle %v, judge label %d", name, task[id], k, tr, label[id][k])
				}
				steps++
			}
		}
		if steps == 0 {
			t.Errorf("%s: no steps", name)
		}
	}
}
