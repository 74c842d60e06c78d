package analysis

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/gradcouple/gradcouple/coupling"
	"github.com/gradcouple/gradcouple/policy"
)

// Where coupling lives (issue 13, item 5): the Gram K of the per-sample
// gradients is a sum over column blocks, K = sum_b K^b, one block per group
// of parameter tensors. The groups of the bundled GPT-2 actor are
//
//	embeddings          transformer.wte.weight, transformer.wpe.weight
//	layer L attention   transformer.h.L.ln_1.*, attn.c_attn.*, attn.c_proj.*
//	layer L mlp         transformer.h.L.ln_2.*, mlp.c_fc.*, mlp.c_proj.*
//	final norm          transformer.ln_f.*
//
// and, because the LM head is tied to the token embedding (logits =
// ln_f(x) wte^T), the embeddings block is split further: its wte columns
// carry g_wte = g_in + g_head, the input use (rows of the tokens read) plus
// the output use (every row the softmax runs over; policy.HeadGrads32). So
//
//	K^embeddings = K^in + K^head + K^x,  K^x_ij = <in_i, head_j> + <head_i, in_j>
//
// where K^in is the Gram of [g_in | g_wpe] ("embeddings (input use)"),
// K^head the Gram of g_head ("lm head (tied wte)") and K^x the cross term
// ("tied wte: input x head"), taken as the remainder K^embeddings - K^in -
// K^head. The cross term has no cosine (its diagonal is not a squared
// norm) and may be negative; it is reported so that the rows still add up
// to K. With the wte not selected (--tensors), the embeddings block is
// wpe alone and there is no head row.

// Tensor groups of the table, in the order reported.
const (
	TensorEmbeddings = "embeddings"
	TensorInputUse   = "embeddings (input use)"
	TensorHead       = "lm head (tied wte)"
	TensorTiedCross  = "tied wte: input x head"
	TensorFinalNorm  = "final norm"
)

// TensorRow is the coupling that one group of parameter tensors carries at
// one checkpoint: the statistics of CouplingRow computed from that group's
// block K^b of the Gram (K = sum_b K^b).
type TensorRow struct {
	Run       string `parquet:"run"`
	Iteration int    `parquet:"iteration"`
	Group     string `parquet:"group"`
	// Params is the number of gradient coordinates of the group (the wte's
	// V x d for the head row, which shares them with the input use).
	Params int `parquet:"params"`
	// Share is the group's inner-product mass, the mean |K^b_ij| over the
	// pairs i < j of labelled probes, over the sum of the masses of the
	// additive rows (every row but "embeddings", which the three tied rows
	// refine): the share of the coupling the group carries.
	Share float64 `parquet:"share"`
	// NetShare is the group's part of the mean predicted influence Delta_ij
	// = eta A_i K^b_ij of the harmful-coupling pairs (i good with A_i > 0,
	// j bad in another state), over the sum of the additive rows: positive
	// when the group pushes the bad actions up on balance.
	NetShare float64 `parquet:"net_share"`
	// Mean cosines within good, within bad and across good x bad, from the
	// group's Gram (NaN for the cross row).
	CosGood    float64 `parquet:"cos_good"`
	CosBad     float64 `parquet:"cos_bad"`
	CosGoodBad float64 `parquet:"cos_good_bad"`
	// InnerGoodBad is the mean K^b_ij across good x bad.
	InnerGoodBad float64 `parquet:"inner_good_bad" text:"-"`
	// HarmfulRate is the share of harmful-coupling pairs with Delta^b_ij >
	// 0 under this group's kernel alone.
	HarmfulRate float64 `parquet:"harmful_rate"`
	NetDelta    float64 `parquet:"net_delta" text:"-"`
}

// tensorGroupOf names the group of a parameter tensor of the bundled
// actor, or "" for a tensor of no group.
func tensorGroupOf(name string) string {
	switch {
	case name == "transformer.wte.weight" || name == "transformer.wpe.weight":
		return TensorEmbeddings
	case strings.HasPrefix(name, "transformer.ln_f."):
		return TensorFinalNorm
	case strings.HasPrefix(name, "transformer.h."):
		parts := strings.SplitN(name, ".", 4) // transformer h L rest
		if len(parts) < 4 {
			return ""
		}
		switch rest := parts[3]; {
		case strings.HasPrefix(rest, "ln_1.") || strings.HasPrefix(rest, "attn."):
			return "layer " + parts[2] + " attention"
		case strings.HasPrefix(rest, "ln_2.") || strings.HasPrefix(rest, "mlp."):
			return "layer " + parts[2] + " mlp"
		}
	}
	return ""
}

// tensorBlocks returns the column blocks of the gradient rows over the
// tensors that names select in m (selectedTensors order), one per group in
// order of first appearance, and the columns of wte in those rows (-1 when
// not selected). Every column is in exactly one block (checked).
func tensorBlocks(m *policy.Model, names []string) ([]coupling.Block, int, error) {
	var blocks []coupling.Block
	at := map[string]int{}
	col, wte := 0, -1
	for _, t := range selectedTensors(m, names) {
		g := tensorGroupOf(t.Name)
		if g == "" {
			return nil, -1, fmt.Errorf("tensor %s belongs to no tensor group", t.Name)
		}
		if t.Name == "transformer.wte.weight" {
			wte = col
		}
		b, ok := at[g]
		if !ok {
			b = len(blocks)
			at[g] = b
			blocks = append(blocks, coupling.Block{Name: g})
		}
		rs := blocks[b].Ranges
		if k := len(rs) - 1; k >= 0 && rs[k][1] == col {
			rs[k][1] += t.Size
		} else {
			rs = append(rs, [2]int{col, col + t.Size})
		}
		blocks[b].Ranges = rs
		col += t.Size
	}
	if err := coupling.CheckBlocks(blocks, col); err != nil {
		return nil, -1, err
	}
	return blocks, wte, nil
}

// tensorGrams returns the named Grams of the tensor groups of the n
// gradient rows g (length D, the tensors names select in m, exact: not
// projected): the column blocks of tensorBlocks and, when wte is selected,
// the tied split of the embeddings block (its input use, the LM head and
// their cross term; the package comment above). additive[b] says whether
// Gram b is one of the terms that sum to K (every one but the unsplit
// embeddings block when it is split). terms are the probes' action terms,
// whose head part policy.HeadGrads32 recomputes; sqrtP, when not nil, is
// the row scale sqrt(P) of the kernel (length D) that the rows g already
// carry, applied to the head rows too, so that every block is a block of
// the same kernel K = sum_b K^b.
func tensorGrams(m *policy.Model, names []string, g []float32, n, D int, terms []policy.Term, sqrtP []float32, cfg coupling.GramConfig) (blocks []coupling.Block, grams [][]float32, additive []bool, err error) {
	blocks, wte, err := tensorBlocks(m, names)
	if err != nil {
		return nil, nil, nil, err
	}
	grams, err = coupling.BlockGrams(g, n, D, blocks, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	additive = make([]bool, len(blocks))
	for i := range additive {
		additive[i] = true
	}
	if wte < 0 {
		return blocks, grams, additive, nil
	}
	c := m.Config()
	vd := c.VocabSize * c.Dim
	head := m.HeadGrads32(nil, terms)
	if sqrtP != nil {
		head = coupling.ScaleRows(head, head, n, vd, sqrtP[wte:wte+vd])
	}
	emb := 0
	for b, blk := range blocks {
		if blk.Name == TensorEmbeddings {
			emb = b
		}
	}
	// rows of the embeddings block with the head part taken out of wte
	eb := blocks[emb]
	w := eb.Dim()
	in := eb.Gather(nil, g, n, D)
	off := 0 // wte's columns within the gathered block
	for _, r := range eb.Ranges {
		if wte >= r[0] && wte < r[1] {
			off += wte - r[0]
			break
		}
		off += r[1] - r[0]
	}
	for i := range n {
		row := in[i*w+off : i*w+off+vd]
		for l, v := range head[i*vd : (i+1)*vd] {
			row[l] -= v
		}
	}
	kin, err := coupling.Gram(nil, in, n, w, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	khead, err := coupling.Gram(nil, head, n, vd, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	kx := make([]float32, n*n)
	for i, v := range grams[emb] {
		kx[i] = float32(float64(v) - float64(kin[i]) - float64(khead[i]))
	}
	additive[emb] = false
	blocks = append(blocks,
		coupling.Block{Name: TensorInputUse, Ranges: eb.Ranges},
		coupling.Block{Name: TensorHead, Ranges: [][2]int{{wte, wte + vd}}},
		coupling.Block{Name: TensorTiedCross})
	grams = append(grams, kin, khead, kx)
	additive = append(additive, true, true, true)
	return blocks, grams, additive, nil
}

// tensorStats returns the rows of the tensor-group table of one checkpoint
// from the exact gradient rows g (n x D over the tensors opts.Tensors
// selects) of the probes' action terms, scaled by the kernel's sqrtP (nil:
// the sgd kernel); opts.Eta is the step of Delta in log-pi units.
func tensorStats(run string, it int, m *policy.Model, g []float32, n, D int, terms []policy.Term, sqrtP []float32, meta sampleMeta, opts CouplingOptions) ([]TensorRow, error) {
	cfg := coupling.GramConfig{MaxBytes: opts.maxBytes(), Workers: opts.Workers}
	blocks, grams, additive, err := tensorGrams(m, opts.Tensors, g, n, D, terms, sqrtP, cfg)
	if err != nil {
		return nil, err
	}
	keep := make([]bool, n)
	for i, l := range meta.labels {
		keep[i] = l == 0 || l == 1
	}
	groups := coupling.GoodBadGroups(nil, meta.labels)
	hc := coupling.HarmfulConfig{Eta: opts.eta(), Advantages: meta.adv, Labels: meta.labels, States: meta.states}
	rows := make([]TensorRow, len(blocks))
	var mass, net float64
	for b, blk := range blocks {
		k := grams[b]
		r := TensorRow{Run: run, Iteration: it, Group: blk.Name, Params: blk.Dim(),
			CosGood: nan, CosBad: nan, CosGoodBad: nan}
		gs := coupling.GramGroupMeans(k, n, groups, 2)
		if blk.Name != TensorTiedCross {
			r.CosGood, r.CosBad, r.CosGoodBad = gs.Mean(coupling.GroupGood, coupling.GroupGood), gs.Mean(coupling.GroupBad, coupling.GroupBad), gs.Mean(coupling.GroupGood, coupling.GroupBad)
		}
		r.InnerGoodBad = gs.Inner[coupling.GroupGood*2+coupling.GroupBad]
		h := coupling.HarmfulCoupling(k, n, nil, hc)
		r.HarmfulRate, r.NetDelta = h.Rate, h.Net
		r.Share = coupling.MeanAbsOffDiagonal(k, n, keep)
		if additive[b] {
			mass += r.Share
			net += r.NetDelta
		}
		rows[b] = r
	}
	for b := range rows {
		rows[b].Share /= mass
		rows[b].NetShare = rows[b].NetDelta / net
	}
	return rows, nil
}

// actionSeparation fills the separation of good and bad probes at the
// positions that feed the action (policy.ActionHidden, last layer, the
// mean over positions P-1..P+A-1): Fisher ratio per sample, cosine
// silhouette and the 5-fold linear-probe accuracy with the folds of the
// other positions (seed, iteration).
func actionSeparation(row *CouplingRow, m *policy.Model, seqs []policy.Seq, labels []int8, seed uint64, it int) {
	h, n := m.Config().Dim, len(seqs)
	x := m.ActionHidden(nil, seqs, m.Config().Layers)
	row.FisherAction, row.SilhouetteAction, row.ProbeAction = separation(x, n, h, labels, rand.New(rand.NewPCG(seed, uint64(it))))
}

// separation returns the Fisher ratio per sample (J / n), the cosine
// silhouette and the cross-validated linear-probe accuracy of good vs bad
// rows of x (NaN where a measure does not apply).
func separation(x []float64, n, h int, labels []int8, rng *rand.Rand) (fisher, silhouette, probe float64) {
	fisher = coupling.FisherRatio(x, n, h, labels, coupling.FisherConfig{}) / float64(n)
	silhouette = coupling.Silhouette(x, n, h, labels, coupling.SilhouetteConfig{})
	probe = math.NaN()
	if pr, err := coupling.LinearProbe(x, n, h, labels, coupling.ProbeConfig{}, rng); err == nil {
		probe = pr.Accuracy
	}
	return fisher, silhouette, probe
}
