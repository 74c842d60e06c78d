package analysis

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/coupling"
	"github.com/gradcouple/gradcouple/policy/hf"
	"github.com/gradcouple/gradcouple/trajlog"
)

// hfLog writes the first n records of modelLog as a JSONL log.
func hfLog(t *testing.T, n int) (string, []trajlog.Record) {
	t.Helper()
	_, recs := modelLog(t)
	recs = recs[:n]
	f := filepath.Join(t.TempDir(), "log.jsonl")
	if err := trajlog.WriteFile(f, recs, trajlog.Meta{}); err != nil {
		t.Fatal(err)
	}
	return f, recs
}

// directGrads computes the dense per-sample gradients of the records with
// hf's Grads, one sequence at a time (no prompt sharing), in float64.
func directGrads(t *testing.T, dir string, a Actor, recs []trajlog.Record, globs []string) (*hf.Model[float64], []hf.Tensor, [][][]float64, []float64) {
	t.Helper()
	m, err := hf.Load[float64](dir)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := m.SelectTensors(globs)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []hf.Seq
	for i := range recs {
		p, err := a.encode("log", int64(i+1), &recs[i])
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, p.hseq)
	}
	grads := make([][][]float64, len(seqs))
	gr, err := m.NewGrader(sel, hf.GradOptions{})
	if err != nil {
		t.Fatal(err)
	}
	logp, err := gr.Grads(seqs, func(i int, g *hf.SampleGrad[float64]) error {
		for _, tg := range g.Tensors {
			grads[i] = append(grads[i], append([]float64(nil), tg.Dense...))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, sel, grads, logp
}

// TestWriteGradsHF: the dense store of a Hugging Face model holds the
// gradients that hf.Grads computes for each record alone (prompt sharing
// changes nothing beyond float32 rounding), and the Bergson store holds,
// per module, L G R^T with Bergson's matrices, computed here from the
// dense float64 gradients.
func TestWriteGradsHF(t *testing.T) {
	dir := tinyHF(t)
	f, recs := hfLog(t, 8)
	globs := []string{"model.layers.1.mlp", "model.layers.1.self_attn.v_proj", "lm_head"}
	a64, err := OpenActor(dir, ActorOptions{Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	_, sel, want, wantLogp := directGrads(t, dir, a64, recs, globs)

	out := filepath.Join(t.TempDir(), "g.safetensors")
	rep, err := WriteGradsHF(context.Background(), a64, []string{f}, out, checkpoint.FormatSafetensors, checkpoint.F32,
		GradsOptions{}, HFGradOptions{Modules: globs}, func(e HFGradsEstimate) {
			if e.Samples != 8 || e.GFLOP <= 0 || e.Bytes <= 0 || e.Groups < 1 || e.Groups > 8 {
				t.Errorf("estimate %+v", e)
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	gs, err := checkpoint.OpenGradStore(out, checkpoint.GradStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer gs.Close()
	D := gs.Cols()
	if rep.N != 8 || rep.D != D || len(rep.Params) != len(sel) {
		t.Fatalf("report %+v, store %d x %d", rep, gs.Rows(), D)
	}
	rows := make([]float32, 8*D)
	if err := gs.ReadRows(rows, 0, 8); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		off := 0
		for k, g := range want[i] {
			for j, v := range g {
				got := float64(rows[i*D+off+j])
				if math.Abs(got-v) > 1e-6*(1+math.Abs(v)) {
					t.Fatalf("sample %d tensor %s [%d]: store %v, Grads %v", i, sel[k].Name, j, got, v)
				}
			}
			off += len(g)
		}
	}

	// Bergson's projection, p = 4.
	const p = 4
	bout := filepath.Join(t.TempDir(), "bergson")
	if _, err := WriteGradsHF(context.Background(), a64, []string{f}, bout, checkpoint.FormatBergson, checkpoint.F32,
		GradsOptions{}, HFGradOptions{Modules: globs, Form: GradBergson, Project: p}, nil); err != nil {
		t.Fatal(err)
	}
	bs, err := checkpoint.OpenGradStore(bout, checkpoint.GradStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	mods := bs.Modules()
	sel = slices.DeleteFunc(sel, func(t hf.Tensor) bool { return len(t.Shape) != 2 })
	want = nil
	_, _, want, _ = directGrads(t, dir, a64, recs, []string{"model.layers.1.mlp", "model.layers.1.self_attn.v_proj.weight", "lm_head"})
	if bs.Cols() != len(sel)*p*p || len(mods) != len(sel) || mods[len(mods)-1].Name != "lm_head" {
		t.Fatalf("Bergson store %d columns, modules %+v", bs.Cols(), mods)
	}
	brows := make([]float32, 8*bs.Cols())
	if err := bs.ReadRows(brows, 0, 8); err != nil {
		t.Fatal(err)
	}
	for k, tn := range sel {
		out, in := tn.Shape[0], tn.Shape[1]
		L := coupling.BergsonMatrix(mods[k].Name, "left", p, out)
		R := coupling.BergsonMatrix(mods[k].Name, "right", p, in)
		for i := range 8 {
			G := want[i][k]
			for r := range p {
				for c := range p {
					var s float64
					for o := range out {
						var gr float64
						for j := range in {
							gr += G[o*in+j] * float64(R[c*in+j])
						}
						s += float64(L[r*out+o]) * gr
					}
					got := float64(brows[i*bs.Cols()+mods[k].Offset+r*p+c])
					if math.Abs(got-s) > 1e-5*(1+math.Abs(s)) {
						t.Fatalf("sample %d module %s P[%d][%d] = %v, L G R^T = %v", i, mods[k].Name, r, c, got, s)
					}
				}
			}
		}
	}
	_ = wantLogp
}

// TestCouplingHFExact: the coupling statistics from exact factor inner
// products equal those from dense rows, and both run end to end on a
// tiny Hugging Face model and a log.
func TestCouplingHFExact(t *testing.T) {
	dir := tinyHF(t)
	_, recs := modelLog(t)
	recs = recs[:min(len(recs), 24)]
	var good, bad int
	for i := range recs {
		switch recs[i].Label {
		case 1:
			good++
			recs[i].Advantage = 0.5 + float32(i%3) // eligible: good with A > 0
		case 0:
			bad++
		}
	}
	if good == 0 || bad == 0 {
		t.Fatalf("%d good and %d bad records", good, bad)
	}
	f := filepath.Join(t.TempDir(), "log.jsonl")
	if err := trajlog.WriteFile(f, recs, trajlog.Meta{}); err != nil {
		t.Fatal(err)
	}
	a, err := OpenActor(dir, ActorOptions{Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	globs := []string{"model.layers.1.*", "lm_head"}
	run := func(form GradForm) CouplingRow {
		rep, err := CouplingHF(context.Background(), a, []string{f}, CouplingHFOptions{
			HFGradOptions:   HFGradOptions{Modules: globs, Form: form},
			CouplingOptions: CouplingOptions{Strata: StrataOptions{Off: true}}})
		if err != nil {
			t.Fatal(err)
		}
		return rep.Rows[0]
	}
	dense, exact := run(GradRows), run(GradExact)
	for _, p := range [][3]any{
		{"inner_good", dense.InnerGood, exact.InnerGood}, {"inner_bad", dense.InnerBad, exact.InnerBad},
		{"cos_good_bad", dense.CosGoodBad, exact.CosGoodBad}, {"harmful_rate", dense.HarmfulRate, exact.HarmfulRate},
		{"net_delta", dense.NetDelta, exact.NetDelta},
	} {
		d, e := p[1].(float64), p[2].(float64)
		if math.IsNaN(d) != math.IsNaN(e) || math.Abs(d-e) > 1e-5*(1+math.Abs(d)) {
			t.Errorf("%s: dense %v, exact %v", p[0], d, e)
		}
	}
	if dense.Pairs == 0 || dense.Pairs != exact.Pairs {
		t.Errorf("pairs %d dense, %d exact", dense.Pairs, exact.Pairs)
	}

	// A diagonal preconditioner P = 4 I multiplies every inner product by 4
	// and leaves the cosines.
	g, err := newHFGrads(a, HFGradOptions{Modules: globs})
	if err != nil {
		t.Fatal(err)
	}
	p := make([]float32, g.cols())
	for i := range p {
		p[i] = 4
	}
	rep, err := CouplingHF(context.Background(), a, []string{f}, CouplingHFOptions{
		HFGradOptions: HFGradOptions{Modules: globs}, Preconditioner: p,
		CouplingOptions: CouplingOptions{Strata: StrataOptions{Off: true}}})
	if err != nil {
		t.Fatal(err)
	}
	diag := rep.Rows[0]
	if diag.Kernel != KernelDiag || math.Abs(diag.InnerGood-4*dense.InnerGood) > 1e-5*math.Abs(4*dense.InnerGood) ||
		math.Abs(diag.CosGoodBad-dense.CosGoodBad) > 1e-6 {
		t.Errorf("P = 4: kernel %s, inner_good %v (4 x %v), cos_good_bad %v (%v)", diag.Kernel, diag.InnerGood, dense.InnerGood, diag.CosGoodBad, dense.CosGoodBad)
	}
	if _, err := CouplingHF(context.Background(), a, []string{f}, CouplingHFOptions{
		HFGradOptions: HFGradOptions{Modules: globs, Form: GradExact}, Preconditioner: p}); err == nil {
		t.Error("a preconditioner with exact inner products was accepted")
	}
}
