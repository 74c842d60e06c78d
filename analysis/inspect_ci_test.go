package analysis

import (
	"context"
	"path/filepath"
	"testing"
)

// TestInspectSuccessInterval: the success rate carries a group-bootstrap
// interval that contains it, is reproducible for a seed and is recorded
// with its seed. In the verl-agent fixture whole groups succeed or fail
// together, so the interval over groups is wide: with 5 groups per
// iteration it must span at least 0.3.
func TestInspectSuccessInterval(t *testing.T) {
	patched := filepath.Join("..", "testdata", "adapters", "verl-agent", "patched")
	ctx := context.Background()
	a, err := InspectWith(ctx, []string{patched}, InspectOptions{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	b, err := InspectWith(ctx, []string{patched}, InspectOptions{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Rows) == 0 {
		t.Fatal("no rows")
	}
	for i, r := range a.Rows {
		if !(r.SuccessLo <= r.SuccessRate && r.SuccessRate <= r.SuccessHi) || r.SuccessHi-r.SuccessLo < 0.3 {
			t.Errorf("iteration %d: success %v not in a wide group interval [%v, %v]", r.Iteration, r.SuccessRate, r.SuccessLo, r.SuccessHi)
		}
		if r.Seed != 3 || b.Rows[i].SuccessLo != r.SuccessLo || b.Rows[i].SuccessHi != r.SuccessHi {
			t.Errorf("iteration %d: not reproducible for seed 3: %+v vs %+v", r.Iteration, r, b.Rows[i])
		}
	}
}
