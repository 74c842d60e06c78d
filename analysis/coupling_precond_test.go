package analysis

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/internal/table"
)

// TestStorePreconditioner: a store analysed with a diagonal preconditioner
// P (read from a .npy vector) gives the statistics of the same store whose
// rows were scaled by sqrt(P) before export, since <g_i, P g_j> =
// <sqrt(P) g_i, sqrt(P) g_j>; the kernel column says diag. A vector of the
// wrong length is bad input.
func TestStorePreconditioner(t *testing.T) {
	rows, n, d, samples := plantedStore(1)
	rng := rand.New(rand.NewPCG(4, 5))
	p := make([]float32, d)
	scaled := make([]float32, len(rows))
	for c := range p {
		p[c] = float32(0.1 + 10*rng.Float64())
	}
	for i := range n {
		for c := range d {
			scaled[i*d+c] = rows[i*d+c] * float32(math.Sqrt(float64(p[c])))
		}
	}
	dir := t.TempDir()
	write := func(name string, r []float32) string {
		path := StorePath(filepath.Join(dir, name), checkpoint.FormatNPY)
		if _, err := writeGradStore(path, checkpoint.FormatNPY, checkpoint.F32, n, d, nil, nil,
			func(w io.Writer) error { return table.WriteParquet(w, samples, nil) },
			func(emit func([]float32) error) error { return emit(r) }); err != nil {
			t.Fatal(err)
		}
		return path
	}
	raw, pre := write("raw", rows), write("pre", scaled)
	vec := filepath.Join(dir, "p.npy")
	hdr, err := checkpoint.NPYHeaderBytes(checkpoint.F32, []int{d})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vec, checkpoint.AppendFloats(hdr, p, checkpoint.F32), 0o644); err != nil {
		t.Fatal(err)
	}
	pv, err := checkpoint.ReadVector(vec, "")
	if err != nil || len(pv) != d {
		t.Fatalf("ReadVector: %d entries, %v", len(pv), err)
	}
	ctx := context.Background()
	opts := StoreOptions{CouplingOptions: CouplingOptions{Seed: 3, Strata: StrataOptions{Null: -1, Boot: -1}}, Name: "s"}
	a, _, err := CouplingStore(ctx, raw, storeSamplesPath(raw, checkpoint.FormatNPY), StoreOptions{CouplingOptions: opts.CouplingOptions, Name: "s", Preconditioner: pv})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := CouplingStore(ctx, pre, storeSamplesPath(pre, checkpoint.FormatNPY), opts)
	if err != nil {
		t.Fatal(err)
	}
	ra, rb := a.Rows[0], b.Rows[0]
	if ra.Kernel != KernelDiag || rb.Kernel != "sgd" {
		t.Errorf("kernels %q, %q; want diag and sgd", ra.Kernel, rb.Kernel)
	}
	for _, c := range []struct {
		name string
		x, y float64
	}{{"cos_good", ra.CosGood, rb.CosGood}, {"cos_bad", ra.CosBad, rb.CosBad}, {"cos_good_bad", ra.CosGoodBad, rb.CosGoodBad},
		{"harmful_rate", ra.HarmfulRate, rb.HarmfulRate}, {"harmful_mass", ra.HarmfulMass, rb.HarmfulMass}} {
		if math.Abs(c.x-c.y) > 1e-5*math.Max(1, math.Abs(c.y)) {
			t.Errorf("%s: %v with the preconditioner, %v with pre-scaled rows", c.name, c.x, c.y)
		}
	}
	// Without the preconditioner the statistics differ: the test can fail.
	c, _, _ := CouplingStore(ctx, raw, storeSamplesPath(raw, checkpoint.FormatNPY), opts)
	if math.Abs(c.Rows[0].CosGoodBad-rb.CosGoodBad) < 1e-4 {
		t.Errorf("the preconditioner changes nothing: %v vs %v", c.Rows[0].CosGoodBad, rb.CosGoodBad)
	}
	_, _, err = CouplingStore(ctx, raw, storeSamplesPath(raw, checkpoint.FormatNPY), StoreOptions{CouplingOptions: opts.CouplingOptions, Preconditioner: pv[:d-1]})
	var oe *OptionsError
	if !errors.As(err, &oe) {
		t.Errorf("short preconditioner: got %v, want an OptionsError", err)
	}
}
