package analysis

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gradcouple/gradcouple/coupling"
	"github.com/gradcouple/gradcouple/policy"
)

func tensorTestModel(t *testing.T, layers int, seed uint64) *policy.Model {
	t.Helper()
	m, err := policy.NewModel(policy.Config{VocabSize: 40, Context: 64, Dim: 16, Layers: layers, Heads: 2}, rand.New(rand.NewPCG(seed, 1)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// randomSeqs draws n (prompt, action) pairs of ordinary tokens (ids >= 6,
// past the special tokens).
func randomSeqs(rng *rand.Rand, n, vocab, prompt, action int) []policy.Seq {
	seqs := make([]policy.Seq, n)
	for i := range seqs {
		s := policy.Seq{Prompt: make([]int, prompt), Action: make([]int, action)}
		for k := range s.Prompt {
			s.Prompt[k] = 6 + rng.IntN(vocab-6)
		}
		for k := range s.Action {
			s.Action[k] = 6 + rng.IntN(vocab-6)
		}
		seqs[i] = s
	}
	return seqs
}

// TestTensorBlocksCover checks the grouping: every parameter in exactly
// one group (CheckBlocks inside tensorBlocks, and the sizes add up to
// NumParams), the groups of a 3-layer actor in order, and a selection of
// one block giving only its two groups.
func TestTensorBlocksCover(t *testing.T) {
	m := tensorTestModel(t, 3, 1)
	blocks, wte, err := tensorBlocks(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{TensorEmbeddings, "layer 0 attention", "layer 0 mlp", "layer 1 attention", "layer 1 mlp",
		"layer 2 attention", "layer 2 mlp", TensorFinalNorm}
	if len(blocks) != len(want) {
		t.Fatalf("%d groups, want %d", len(blocks), len(want))
	}
	total := 0
	for i, b := range blocks {
		if b.Name != want[i] {
			t.Errorf("group %d is %q, want %q", i, b.Name, want[i])
		}
		total += b.Dim()
	}
	if total != m.NumParams() || wte != 0 {
		t.Errorf("groups cover %d of %d parameters, wte at %d", total, m.NumParams(), wte)
	}
	for _, tn := range m.Tensors() {
		if tensorGroupOf(tn.Name) == "" {
			t.Errorf("tensor %s has no group", tn.Name)
		}
	}
	blocks, wte, err = tensorBlocks(m, []string{"transformer.h.1."})
	if err != nil {
		t.Fatal(err)
	}
	sel, _ := m.Select("transformer.h.1.")
	if len(blocks) != 2 || blocks[0].Name != "layer 1 attention" || blocks[1].Name != "layer 1 mlp" || wte != -1 ||
		blocks[0].Dim()+blocks[1].Dim() != m.SelectionDim(sel) {
		t.Errorf("selection of block 1: %+v, wte %d", blocks, wte)
	}
}

// TestTensorGramsSum checks that the per-group Grams add up to the full
// Gram: the additive rows (input use, LM head and their cross term instead
// of the embeddings block) within 1e-5 sqrt(K_ii K_jj) (float32 rounding
// of each block Gram and of the remainder K^x), and the column blocks
// alone within 1e-6 sum_l |g_i[l] g_j[l]|.
//
// With a diagonal kernel P (rows scaled by sqrt(P), as the Adam kernel
// does) the same holds for the Gram of the scaled rows: the head rows are
// scaled with the wte's columns of sqrt(P).
func TestTensorGramsSum(t *testing.T) {
	for _, adam := range []bool{false, true} {
		testTensorGramsSum(t, adam)
	}
}

func testTensorGramsSum(t *testing.T, adam bool) {
	m := tensorTestModel(t, 2, 3)
	rng := rand.New(rand.NewPCG(4, 5))
	seqs := randomSeqs(rng, 9, 40, 12, 3)
	for k := range seqs[0].Prompt { // disjoint tokens: 6..22 and 23..39
		seqs[0].Prompt[k] = 6 + (seqs[0].Prompt[k]-6)%17
		seqs[1].Prompt[k] = 23 + (seqs[1].Prompt[k]-6)%17
	}
	for k := range seqs[0].Action {
		seqs[0].Action[k] = 6 + (seqs[0].Action[k]-6)%17
		seqs[1].Action[k] = 23 + (seqs[1].Action[k]-6)%17
	}
	terms := policy.ActionTerms(seqs)
	g := m.PerSampleGrads32(nil, terms, policy.Selection{})
	n, d := len(seqs), m.NumParams()
	var sqrtP []float32
	if adam {
		sqrtP = make([]float32, d)
		for l := range sqrtP {
			sqrtP[l] = float32(0.1 + 3*rng.Float64())
		}
		g = coupling.ScaleRows(g, g, n, d, sqrtP)
	}
	blocks, grams, additive, err := tensorGrams(m, nil, g, n, d, terms, sqrtP, coupling.GramConfig{})
	if err != nil {
		t.Fatal(err)
	}
	full, _ := coupling.Gram(nil, g, n, d, coupling.GramConfig{})
	names := map[string]bool{}
	for _, b := range blocks {
		names[b.Name] = true
	}
	for _, want := range []string{TensorInputUse, TensorHead, TensorTiedCross} {
		if !names[want] {
			t.Errorf("no %q row", want)
		}
	}
	for i := range n {
		for j := range n {
			var add, cols, abs float64
			for b := range blocks {
				v := float64(grams[b][i*n+j])
				if additive[b] {
					add += v
				}
				if b < len(blocks)-3 { // the column blocks
					cols += v
				}
			}
			for l := range d {
				abs += math.Abs(float64(g[i*d+l]) * float64(g[j*d+l]))
			}
			k := float64(full[i*n+j])
			if e := math.Abs(add - k); e > 1e-5*math.Sqrt(float64(full[i*n+i])*float64(full[j*n+j])) {
				t.Fatalf("adam %v (%d, %d): additive groups sum to %v, Gram %v", adam, i, j, add, k)
			}
			if e := math.Abs(cols - k); e > 1e-6*abs {
				t.Fatalf("(%d, %d): column blocks sum to %v, Gram %v", i, j, cols, k)
			}
		}
	}
	// Samples 0 and 1 read disjoint tokens, so their input uses of wte are
	// orthogonal: K^in_01 is their wpe inner product alone (this fails if
	// the head part is taken out under another scale than the rows').
	var kin []float32
	for b, blk := range blocks {
		if blk.Name == TensorInputUse {
			kin = grams[b]
		}
	}
	c := m.Config()
	wpe := c.VocabSize * c.Dim
	var want, abs float64
	for l := wpe; l < wpe+c.Context*c.Dim; l++ {
		p := float64(g[l]) * float64(g[d+l])
		want += p
		abs += math.Abs(p)
	}
	if e := math.Abs(float64(kin[1]) - want); e > 1e-5*abs+1e-6*math.Sqrt(float64(kin[0])*float64(kin[n+1])) {
		t.Errorf("adam %v: K^in_01 = %v, want the wpe inner product %v", adam, kin[1], want)
	}
	// the head part is a real share of the tied embedding's coupling
	for b, blk := range blocks {
		if blk.Name == TensorHead && grams[b][0] <= 0 {
			t.Errorf("LM head Gram diagonal %v", grams[b][0])
		}
	}
}

// TestCouplingTensorRows checks the tensor table of a coupling report: one
// row per group and checkpoint, shares of the additive rows summing to 1,
// and their net influences summing to the net influence of the full Gram
// (1e-4 relative: float32 block Grams).
func TestCouplingTensorRows(t *testing.T) {
	r := openTinyRun(t, "tiny", 4)
	ps, _, err := SelectProbes(context.Background(), []Run{r}, ProbeOptions{Samples: 40, Heatmap: 4, Pairs: 6, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Coupling(context.Background(), []Run{r}, ps, CouplingOptions{Checkpoints: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	// one layer: embeddings, attention, mlp, final norm + 3 tied rows
	if len(rep.Tensors) != 7 {
		t.Fatalf("%d tensor rows: %+v", len(rep.Tensors), rep.Tensors)
	}
	var share, netShare, net float64
	for _, tr := range rep.Tensors {
		if tr.Group == TensorEmbeddings {
			continue
		}
		share += tr.Share
		netShare += tr.NetShare
		net += tr.NetDelta
		if tr.Group != TensorTiedCross && (math.IsNaN(tr.CosGoodBad) || math.IsNaN(tr.HarmfulRate)) {
			t.Errorf("NaN in %+v", tr)
		}
	}
	row := rep.Rows[0]
	if math.Abs(share-1) > 1e-12 || math.Abs(netShare-1) > 1e-12 {
		t.Errorf("shares sum to %v and %v, want 1", share, netShare)
	}
	if math.Abs(net-row.NetDelta) > 1e-4*math.Abs(row.NetDelta) {
		t.Errorf("net influence by group sums to %v, the full Gram gives %v", net, row.NetDelta)
	}
	if math.IsNaN(row.ProbeAction) || math.IsNaN(row.FisherAction) || math.IsNaN(row.SilhouetteAction) {
		t.Errorf("no separation at the action: %+v", row)
	}
	pr, err := Coupling(context.Background(), []Run{r}, ps, CouplingOptions{Checkpoints: []int{1}, Project: 256})
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Tensors) != 0 {
		t.Errorf("projected rows have no tensor groups, got %d rows", len(pr.Tensors))
	}
}

// TestActionSeparationPlanted plants the label in the action only: prompts
// are drawn independently of the label and good samples take one action
// token, bad ones another. At the positions that feed the action the
// linear probe must find the label (accuracy >= 0.95) while at the last
// prompt token, which cannot see the action, it stays at chance (within
// 0.5 +- 0.15 for 80 probes; the binomial standard error is 0.056).
func TestActionSeparationPlanted(t *testing.T) {
	m := tensorTestModel(t, 2, 7)
	rng := rand.New(rand.NewPCG(8, 9))
	n := 80
	seqs := randomSeqs(rng, n, 40, 10, 2)
	labels := make([]int8, n)
	for i := range seqs {
		labels[i] = int8(i % 2)
		seqs[i].Action = []int{20 + i%2, 30} // good: 21 30, bad: 20 30
	}
	var row CouplingRow
	actionSeparation(&row, m, seqs, labels, 11, 0)
	h := m.Config().Dim
	state := m.Hidden(nil, seqs, m.Config().Layers, policy.LastPrompt)
	fs, _, ps := separation(state, n, h, labels, rand.New(rand.NewPCG(11, 0)))
	t.Logf("action positions: probe %.3f Fisher/n %.3g silhouette %.3f; last prompt token: probe %.3f Fisher/n %.3g", row.ProbeAction, row.FisherAction, row.SilhouetteAction, ps, fs)
	if !(row.ProbeAction >= 0.95) {
		t.Errorf("probe accuracy at the action positions %v, want >= 0.95", row.ProbeAction)
	}
	if math.Abs(ps-0.5) > 0.15 {
		t.Errorf("probe accuracy at the last prompt token %v, want chance", ps)
	}
	if !(row.FisherAction > 10*fs) {
		t.Errorf("Fisher ratio at the action %v, at the prompt %v", row.FisherAction, fs)
	}
	if !(row.SilhouetteAction > 0) {
		t.Errorf("silhouette at the action %v", row.SilhouetteAction)
	}
}
