package analysis

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/trajlog"
)

// twinLogs writes a run's logs of household-twin: iteration k's rollouts
// come from policies[k].
func twinLogs(t *testing.T, envName string, policies []string) string {
	t.Helper()
	dir := t.TempDir()
	for it, p := range policies {
		recs, _, err := env.Sample(env.SampleConfig{Env: envName, Split: env.SplitTrain, Tasks: 12, Seed: uint64(it), GroupSize: 4,
			Policy: p, Eps: 0.5, Judge: env.Judge{J: 1}, Run: "twin-run"})
		if err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			recs[i].Iteration = int32(it)
			recs[i].TrajID = fmt.Sprintf("i%d:%s", it, recs[i].TrajID)
		}
		if err := trajlog.WriteFile(filepath.Join(dir, fmt.Sprintf("iter-%06d.parquet", it)), recs, trajlog.Meta{Run: "twin-run"}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestTwinDecisions: under the oracle every episode of household-twin has
// exactly one decision (the twins' plans agree up to it), every step is
// optimal and both kinds are learned at the first iteration; a random
// policy before it is below the threshold, so the learned iteration moves
// to the oracle's; a log of a world without twins is refused.
func TestTwinDecisions(t *testing.T) {
	dir := twinLogs(t, "household-twin", []string{"random", "oracle", "oracle"})
	rep, err := TwinDecisions(context.Background(), []string{dir}, TwinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Learned) != 1 {
		t.Fatalf("learned rows %+v", rep.Learned)
	}
	l := rep.Learned[0]
	t.Logf("%+v", l)
	if l.DecisionLearned != 1 || l.ControlLearned != 1 || l.DecisionFinal != 1 || l.ControlFinal != 1 || l.NotReplayed != 0 || l.DecisionMinusCtl != 0 {
		t.Errorf("learned %+v", l)
	}
	for _, c := range rep.Curves {
		if c.Iteration > 0 {
			// 12 tasks x 4 rollouts, one decision each under the oracle.
			if c.Kind == TwinDecision && c.Steps != 48 || c.Optimal != 1 {
				t.Errorf("oracle iteration: %+v", c)
			}
			continue
		}
		if !(c.Optimal < 0.8) || !(c.Lo <= c.Optimal && c.Optimal <= c.Hi) {
			t.Errorf("random iteration: %+v", c)
		}
	}
	if _, err := TwinDecisions(context.Background(), []string{twinLogs(t, env.Household, []string{"oracle"})}, TwinOptions{}); err == nil ||
		!strings.Contains(err.Error(), "no twin worlds") {
		t.Errorf("household logs: %v", err)
	}
}
