package trainer

import (
	"math/rand/v2"
	"testing"
)

// TestRestoreAdam: the optimizer restored from a checkpoint's state takes
// bit for bit the step the trainer's own optimizer takes next, and a clone
// leaves the restored state untouched.
func TestRestoreAdam(t *testing.T) {
	m, _ := tinyModel(t, 1)
	n := m.NumParams()
	rng := rand.New(rand.NewPCG(4, 4))
	grad := func() []float64 {
		g := make([]float64, n)
		for i := range g {
			g[i] = rng.NormFloat64() * 0.01
		}
		return g
	}
	opt := newAdam(n, 3e-4, 0.9, 0.999, 1e-8, 1)
	p := append([]float64(nil), m.Params...)
	for range 3 {
		opt.update(p, grad())
	}
	r, err := RestoreAdam(m, opt.state(m))
	if err != nil {
		t.Fatal(err)
	}
	if r.Steps() != 3 || r.LR != 3e-4 || r.Beta1 != 0.9 || r.Beta2 != 0.999 || r.Eps != 1e-8 || r.Clip != 1 {
		t.Fatalf("restored %+v, step %d", r, r.Steps())
	}
	g := grad()
	want, got := append([]float64(nil), p...), append([]float64(nil), p...)
	opt.update(want, g)
	c := r.Clone()
	c.Step(got, g)
	for i := range want {
		if want[i] != got[i] {
			t.Fatalf("param %d: restored step %v, trainer's %v", i, got[i], want[i])
		}
	}
	if r.Steps() != 3 || c.Steps() != 4 {
		t.Errorf("steps: restored %d (want 3), clone %d (want 4)", r.Steps(), c.Steps())
	}
	st := opt.state(m)
	delete(st.Extra, "beta2")
	if _, err := RestoreAdam(m, st); err == nil {
		t.Error("state without beta2 restored")
	}
}
