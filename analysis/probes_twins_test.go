package analysis

import (
	"context"
	"testing"

	"github.com/gradcouple/gradcouple/coupling"
)

// TestSelectProbesTwins oversamples twins into a probe set and checks that
// every taken pair is a twin (same action, good and bad, distinct states,
// prompts within the edit distance), that the count is reported, and that
// the draw is reproducible.
func TestSelectProbesTwins(t *testing.T) {
	r := openTinyRun(t, "tiny", 11)
	opts := ProbeOptions{Samples: 40, Seed: 2, Twins: 6, TwinDistance: 0.2}
	ps, _, err := SelectProbes(context.Background(), []Run{r}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("twins %+v of %d probes", ps.Twins, len(ps.Probes))
	if ps.Twins.Found == 0 {
		t.Fatalf("no twins found among %d candidates (%+v)", ps.Twins.Candidates, ps.Twins)
	}
	if ps.Twins.Taken != min(6, ps.Twins.Found) {
		t.Errorf("taken %d of %d found, asked 6", ps.Twins.Taken, ps.Twins.Found)
	}
	states := ps.States()
	toks := tokenIDs(func() []string {
		var p []string
		for _, x := range ps.Probes {
			p = append(p, x.Prompt)
		}
		return p
	}())
	for k := range ps.Twins.Taken {
		a, b := ps.Probes[2*k], ps.Probes[2*k+1]
		la, lb := toks[2*k], toks[2*k+1]
		if a.Action != b.Action || a.Label != 1 || b.Label != 0 || states[2*k] == states[2*k+1] ||
			float64(coupling.EditDistance(la, lb, len(la)+len(lb))) > 0.2*float64(max(len(la), len(lb))) {
			t.Errorf("pair %d is not a twin: %q/%q labels %d/%d", k, a.Action, b.Action, a.Label, b.Label)
		}
	}
	seen := map[string]bool{}
	for _, p := range ps.Probes {
		k := p.TaskID + "\x00" + p.StateKey + "\x00" + p.Action
		if seen[k] {
			t.Errorf("probe %q in state %s drawn twice", p.Action, p.StateKey)
		}
		seen[k] = true
	}
	if len(ps.Probes) != 40 {
		t.Errorf("%d probes, want 40", len(ps.Probes))
	}
	again, _, _ := SelectProbes(context.Background(), []Run{r}, opts)
	for i := range ps.Probes {
		if again.Probes[i] != ps.Probes[i] {
			t.Fatalf("probe %d differs between two draws", i)
		}
	}
}
