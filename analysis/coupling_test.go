package analysis

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/coupling"
	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/policy"
)

func TestOpenRun(t *testing.T) {
	r := openTinyRun(t, "tiny", 1)
	if r.Name != "tiny" || r.Env != "household" || r.Temperature != 1 || r.Prompt.History != 2 ||
		r.Judge != (env.Judge{J: 5, Eps: 0.1}) || !slices.Equal(r.Checkpoints, []int{0, 1}) {
		t.Fatalf("%+v", r)
	}
	if _, err := r.selectCheckpoints([]int{3}); err == nil || !strings.Contains(err.Error(), "no checkpoint of iteration 3") {
		t.Errorf("missing checkpoint: %v", err)
	}
	if _, err := OpenRun(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no run.json") {
		t.Errorf("empty dir: %v", err)
	}
}

func TestSelectProbes(t *testing.T) {
	r := openTinyRun(t, "tiny", 1)
	opts := ProbeOptions{Samples: 24, Pairs: 5, Heatmap: 3, Seed: 7, Reference: r.CheckpointDir(0)}
	ps, src, err := SelectProbes(context.Background(), []Run{r}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if src.Rows == 0 || len(ps.Probes) != 24 {
		t.Fatalf("%d rows, %d probes", src.Rows, len(ps.Probes))
	}
	good, bad := ps.Heat()
	if len(good) != 3 || len(bad) != 3 {
		t.Fatalf("heat %v %v", good, bad)
	}
	seen := map[string]bool{}
	states := ps.States()
	for i, p := range ps.Probes {
		if p.Probe != int32(i) || (p.Label != 0 && p.Label != 1) || p.Split != "train" {
			t.Fatalf("probe %d: %+v", i, p)
		}
		k := p.TaskID + p.StateKey + p.Action
		if seen[k] {
			t.Fatalf("duplicate (state, action) %q", k)
		}
		seen[k] = true
	}
	for _, i := range good {
		if ps.Probes[i].Advantage <= 0 {
			t.Errorf("heat good %d has advantage %v", i, ps.Probes[i].Advantage)
		}
		for _, j := range bad {
			if states[i] == states[j] {
				t.Errorf("heat pair %d %d in the same state", i, j)
			}
		}
	}
	// Half the good probes are drawn from positive-advantage records.
	pos, ngood := 0, 0
	for _, p := range ps.Probes {
		if p.Label == 1 {
			ngood++
			if p.Advantage > 0 {
				pos++
			}
		}
	}
	if pos < ngood/2 {
		t.Errorf("%d of %d good probes have A > 0, want at least half", pos, ngood)
	}
	kinds := map[string]int{}
	for _, p := range ps.Pairs {
		kinds[p.Kind]++
		if ps.Probes[p.A].Label != 1 || ps.Probes[p.B].Label != 0 || states[p.A] == states[p.B] {
			t.Errorf("pair %+v", p)
		}
		if want := env.Jaccard(ps.Probes[p.A].Prompt, ps.Probes[p.B].Prompt); p.Jaccard != want {
			t.Errorf("pair Jaccard %v, env.Jaccard %v", p.Jaccard, want)
		}
	}
	if kinds["jaccard"] != 5 || kinds["hidden"] != 5 {
		t.Errorf("pairs %v", kinds)
	}
	// The draw depends on the seed only: same seed, same set; the file
	// round-trips.
	again, _, err := SelectProbes(context.Background(), []Run{r}, opts)
	if err != nil || !slices.Equal(again.Probes, ps.Probes) {
		t.Fatal("a second draw with the same seed differs")
	}
	path := filepath.Join(t.TempDir(), "probes.parquet")
	if err := WriteProbes(path, ps); err != nil {
		t.Fatal(err)
	}
	back, err := ReadProbes(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Probes, ps.Probes) || len(back.Pairs) != len(ps.Pairs) || back.Options.Seed != 7 || back.Options.Reference != opts.Reference {
		t.Fatalf("round trip: %+v", back.Options)
	}
	for i := range ps.Pairs {
		a, b := ps.Pairs[i], back.Pairs[i]
		if a.A != b.A || a.B != b.B || a.Kind != b.Kind || a.Jaccard != b.Jaccard || !(a.Hidden == b.Hidden || math.IsNaN(a.Hidden) && math.IsNaN(b.Hidden)) {
			t.Fatalf("pair %d: %+v != %+v", i, a, b)
		}
	}
	other, _, _ := SelectProbes(context.Background(), []Run{r}, ProbeOptions{Samples: 24, Seed: 8})
	if slices.Equal(other.Probes, ps.Probes) {
		t.Error("another seed gives the same set")
	}
}

// TestHeatmapAgreement is the first-order check of DESIGN.md §4 on a
// perturbed checkpoint: the measured change of log pi(a_j|s_j) after the
// one-sample step theta + eta A_i g_i agrees with eta A_i K_ij for small eta,
// and the agreement degrades gracefully as eta grows.
func TestHeatmapAgreement(t *testing.T) {
	r := openTinyRun(t, "tiny", 3)
	ps, _, err := SelectProbes(context.Background(), []Run{r}, ProbeOptions{Samples: 64, Heatmap: 8, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	good, bad := ps.Heat()
	if len(good) < 4 || len(bad) < 4 {
		t.Fatalf("heat %d x %d", len(good), len(bad))
	}
	for _, c := range []struct {
		eta             float64
		minR, maxRelErr float64
	}{{1e-4, 0.999, 0.005}, {1e-3, 0.99, 0.05}, {1e-2, 0.9, 0.5}} {
		rep, err := Coupling(context.Background(), []Run{r}, ps, CouplingOptions{Checkpoints: []int{1}, Eta: c.eta})
		if err != nil {
			t.Fatal(err)
		}
		row := rep.Rows[0]
		t.Logf("eta %g: %d x %d cells, Pearson r %.6f, relative error %.2e, slope %.4f", c.eta, len(good), len(bad), row.HeatPearson, row.HeatRelErr, row.HeatSlope)
		if len(rep.Heat) != len(good)*len(bad) {
			t.Fatalf("%d heat rows", len(rep.Heat))
		}
		if !(row.HeatPearson > c.minR) || !(row.HeatRelErr < c.maxRelErr) {
			t.Errorf("eta %g: r %v, relative error %v", c.eta, row.HeatPearson, row.HeatRelErr)
		}
		for _, h := range rep.Heat {
			if h.Predicted != c.eta*h.AdvI*h.Inner || math.Abs(h.Cosine) > 1 {
				t.Fatalf("heat row %+v", h)
			}
		}
	}
}

func TestCouplingReport(t *testing.T) {
	r := openTinyRun(t, "tiny", 4)
	ps, _, err := SelectProbes(context.Background(), []Run{r}, ProbeOptions{Samples: 40, Heatmap: 4, Pairs: 6, Seed: 2, Reference: r.CheckpointDir(0)})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Coupling(context.Background(), []Run{r}, ps, CouplingOptions{LogProb: LogProbFull})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 2 || rep.Rows[0].Iteration != 0 || rep.Rows[1].Iteration != 1 {
		t.Fatalf("rows %+v", rep.Rows)
	}
	m, tok, err := policy.Load(r.CheckpointDir(1))
	if err != nil {
		t.Fatal(err)
	}
	seqs, _ := encodeProbes(ps, m, tok)
	g := m.PerSampleGrads32(nil, policy.ActionTerms(seqs), policy.Selection{})
	n, d := len(seqs), m.NumParams()
	row := rep.Rows[1]
	if row.N != n || row.Dim != d {
		t.Fatalf("n %d dim %d", row.N, row.Dim)
	}
	// The statistics are those of the coupling package on the same rows.
	gs := coupling.GroupMeans(g, n, d, coupling.GoodBadGroups(nil, ps.Labels()), 2)
	if row.CosGoodBad != gs.Mean(0, 1) || row.CosGood != gs.Mean(0, 0) {
		t.Errorf("group means %v %v, want %v %v", row.CosGoodBad, row.CosGood, gs.Mean(0, 1), gs.Mean(0, 0))
	}
	k, _ := coupling.Gram(nil, g, n, d, coupling.GramConfig{})
	jac := newJaccardIndex(ps.Probes)
	h := coupling.HarmfulCoupling(k, n, coupling.SquaredNorms(nil, g, n, d), coupling.HarmfulConfig{Eta: DefaultEta,
		Advantages: ps.Advantages(), Labels: ps.Labels(), States: ps.States(), Similarity: jac.at, Edges: DefaultSimEdges})
	if row.HarmfulRate != h.Rate || row.HarmfulMass != h.Mass || row.Pairs != h.Pairs || h.Pairs == 0 {
		t.Errorf("harmful %v %v %d, want %v %v %d", row.HarmfulRate, row.HarmfulMass, row.Pairs, h.Rate, h.Mass, h.Pairs)
	}
	if len(rep.BySim) != 2*(len(DefaultSimEdges)-1) {
		t.Errorf("%d similarity rows", len(rep.BySim))
	}
	for _, v := range []float64{row.PairCosJaccard, row.PairCosHidden, row.PairHiddenCos, row.ProbeState, row.ProbeVerdict, row.SilhouetteState, row.FisherVerdict} {
		if math.IsNaN(v) {
			t.Errorf("NaN in %+v", row)
		}
	}
	// Deterministic whatever GOMAXPROCS.
	prev := runtime.GOMAXPROCS(1)
	one, err := Coupling(context.Background(), []Run{r}, ps, CouplingOptions{Checkpoints: []int{1}, LogProb: LogProbFull})
	runtime.GOMAXPROCS(prev)
	if err != nil {
		t.Fatal(err)
	}
	a, b := one.Rows[0], rep.Rows[1]
	a.Seconds, b.Seconds = 0, 0
	if !sameRow(a, b) {
		t.Errorf("GOMAXPROCS 1 gives\n%+v\nnot\n%+v", a, b)
	}
	// The budget refuses with a hint; projection fits.
	_, err = Coupling(context.Background(), []Run{r}, ps, CouplingOptions{Checkpoints: []int{1}, MaxBytes: 1 << 20})
	if !errors.Is(err, coupling.ErrTooLarge) || !strings.Contains(err.Error(), "--project") {
		t.Errorf("over budget: %v", err)
	}
	pr, err := Coupling(context.Background(), []Run{r}, ps, CouplingOptions{Checkpoints: []int{1}, MaxBytes: 1 << 20, Project: 512, LogProb: LogProbFull})
	if err != nil {
		t.Fatal(err)
	}
	if pr.Rows[0].Dim != 512 || math.Abs(pr.Rows[0].CosGoodBad-row.CosGoodBad) > 0.1 {
		t.Errorf("projected: dim %d, cos %v vs %v", pr.Rows[0].Dim, pr.Rows[0].CosGoodBad, row.CosGoodBad)
	}
}

// sameRow compares rows, NaN equal to NaN.
func sameRow(a, b CouplingRow) bool {
	fa, fb := rowFloats(a), rowFloats(b)
	a.Seconds, b.Seconds = 0, 0
	for i := range fa {
		if fa[i] != fb[i] && !(math.IsNaN(fa[i]) && math.IsNaN(fb[i])) {
			return false
		}
	}
	return a.Run == b.Run && a.Iteration == b.Iteration && a.N == b.N && a.Dim == b.Dim && a.Pairs == b.Pairs
}

func rowFloats(r CouplingRow) []float64 {
	return []float64{r.CosGood, r.CosBad, r.CosGoodBad, r.InnerGood, r.InnerBad, r.InnerGoodBd, r.HarmfulRate, r.HarmfulMass, r.NetDelta,
		r.PairCosJaccard, r.PairCosHidden, r.PairHiddenCos, r.FisherState, r.SilhouetteState, r.ProbeState, r.FisherVerdict,
		r.SilhouetteVerd, r.ProbeVerdict, r.HeatPearson, r.HeatRelErr, r.HeatSlope}
}
