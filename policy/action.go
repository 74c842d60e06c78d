package policy

import (
	"fmt"
	"math"

	"github.com/gradcouple/gradcouple/internal/kernel"
)

// ActionHidden writes into row n of dst (len(seqs) x Dim) the mean, over
// the positions that feed the action, of the hidden state of layer `layer`
// of sequence n, and returns dst; nil allocates. The positions are
// P-1 .. P+A-1 of prompt ++ action (P prompt and A action tokens): the
// outputs there predict the action's tokens and the <eos> that ends it, so
// they are where the policy gradient g_n = grad log pi(a_n | s_n) enters
// the network (DESIGN.md §4, representation separation). Position P-1 is
// the last prompt token (LastPrompt), the only one blind to the action; the
// others read the action tokens so far. Layers as Hidden: 0 is the
// embedding sum, Layers the last block's output after ln_f, which is what
// the LM head reads at each position. It panics if layer is not in
// [0, Layers].
func (m *Model) ActionHidden(dst []float64, seqs []Seq, layer int) []float64 {
	return m.net().actionHidden(dst, seqs, layer)
}

func (n net[F]) actionHidden(dst []float64, seqs []Seq, layer int) []float64 {
	m := n.m
	c := m.cfg
	d := c.Dim
	if layer < 0 || layer > c.Layers {
		panic(fmt.Sprintf("policy: hidden layer %d not in [0, %d]", layer, c.Layers))
	}
	if dst == nil {
		dst = make([]float64, len(seqs)*d)
	}
	if len(dst) != len(seqs)*d {
		panic("policy: ActionHidden length mismatch")
	}
	for _, s := range seqs {
		m.checkSeq(s)
	}
	n.parallel(len(seqs), func(ws *workspace[F], i int) {
		s := seqs[i]
		P, A := len(s.Prompt), len(s.Action)
		toks := append(append(make([]int, 0, P+A), s.Prompt...), s.Action...)
		s0 := P - 1
		ws.reserve(len(toks), 1)
		ws.forward(toks, layer, s0)
		out := dst[i*d : (i+1)*d]
		clear(out)
		row := make([]F, d)
		var rs float64
		Pm := n.P
		for p := s0; p < P+A; p++ {
			x := ws.x[layer][p*d : p*d+d]
			if layer == c.Layers {
				layerNormRow(ws.xhatf[:d], row, &rs, x, Pm[m.lay.lnfW:m.lay.lnfW+d], Pm[m.lay.lnfB:m.lay.lnfB+d])
				x = row
			}
			for l, v := range x {
				out[l] += float64(v)
			}
		}
		inv := 1 / float64(A+1)
		for l := range out {
			out[l] *= inv
		}
	})
	return dst
}

// HeadGrads32 writes into row n of dst (len(terms) x VocabSize*Dim,
// float32) the part of the per-sample gradient of term n's value with
// respect to transformer.wte.weight that flows through the LM head, and
// returns dst; nil allocates. The token embedding is tied to the LM head
// (logits = ln_f(x) wte^T), so its gradient is the sum of two uses:
//
//	grad_wte = sum_t w_t (e_{y_t} - p_t) h_t^T   (output use, this row)
//	         + sum_{positions q} e_{tok_q} dx0_q^T (input use, the rest)
//
// with h_t the ln_f output at target t, p_t the softmax there (over the
// target's allowed tokens when the Term restricts them) and w_t its weight.
// The output part touches every row of wte a softmax runs over, and its
// columns sum to zero over the vocabulary rows (sum_k (e_y - p)_k = 0); the
// input part touches only the rows of tokens in the input. Subtracting this
// row from the wte block of PerSampleGrads gives the input part. Computed
// in float64 from the same forward pass as PerSampleGrads, then rounded.
func (m *Model) HeadGrads32(dst []float32, terms []Term) []float32 {
	c := m.cfg
	d, V := c.Dim, c.VocabSize
	D := V * d
	if dst == nil {
		dst = make([]float32, len(terms)*D)
	}
	if len(dst) != len(terms)*D {
		panic("policy: HeadGrads32 length mismatch")
	}
	for i := range terms {
		m.checkSeq(terms[i].Seq)
	}
	m.net().parallel(len(terms), func(ws *workspace[float64], i int) {
		out := dst[i*D : (i+1)*D]
		clear(out)
		var j job
		if !termJob(&j, &terms[i], m.cfg.EOS) {
			return
		}
		ws.run(&j)
		n := len(j.pos)
		// d objective / d logits, as in backward
		for r := range n {
			row := ws.logits[r*V : r*V+V]
			drow := ws.dlog[r*V : r*V+V]
			w, lse := j.w[r], ws.lse[r]
			if r < len(j.allowed) && j.allowed[r] != nil {
				clear(drow)
				for _, k := range j.allowed[r] {
					drow[k] = -w * math.Exp(row[k]-lse)
				}
			} else {
				for k, v := range row {
					drow[k] = -w * math.Exp(v-lse)
				}
			}
			drow[j.tgt[r]] += w
		}
		g := make([]float64, D)
		kernel.Gemm(&ws.g, true, false, V, d, n, ws.dlog, V, ws.hf, d, g, d, true)
		for k, v := range g {
			out[k] = float32(v)
		}
	})
	return dst
}
