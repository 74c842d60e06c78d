package hf

import (
	"math"

	"github.com/gradcouple/gradcouple/internal/kernel"
)

// gradChunk is the number of positions fed through the layers at once by
// GroupGrads' forward pass. A multiple of scoreRows, so the attention's
// row blocks, and with them every value, are those of forward.
const gradChunk = 2 * scoreRows

// layerTape holds what a layer's backward pass needs from its forward
// pass: the input xIn (and, with QK norm, k before k_norm) at every
// position, and from position base on (the first position whose output
// gets a gradient: 0, or len(prompt)-1 in the top layer) q before q_norm
// (QK norm), q after RoPE, the attention output, the residual after the
// attention and the MLP's gate and up projections; row p at p-base.
// Keys and values are the cache's.
type layerTape[F float] struct {
	base                         int
	xIn, kPre                    []F
	qPre, q, att, xMid, gate, up []F
}

// layerWork is a layer's backward buffers: rows [0, S) for u (the
// input-norm output), dk and dv (gradients of k_proj's and v_proj's
// outputs), rows [r0, S) for the rest (see reset).
type layerWork[F float] struct {
	own              bool // a selected layer's own buffers (factors point into them)
	u, dk, dv        []F
	dy, u2, dMid, dq []F
	mAct, dGate, dUp []F
}

// attnWork is one goroutine's attention scratch.
type attnWork[F float] struct {
	sc, dp []F       // scoreRows x S
	p64    []float64 // S
}

// gradRun is one GroupGrads computation.
type gradRun[F float] struct {
	m    *Model[F]
	plan *gradPlan
	par  *par[F]
	P    int // prompt length
	Smax int // longest sequence fed: P + longest action - 1

	toks     []int // prompt ++ action[:A-1]
	pos      []int // 0 .. Smax-1
	cos, sin []F   // Smax x HeadDim/2
	K, V     [][]F // per layer: Smax x KVDim
	tape     []*layerTape[F]
	aw       []attnWork[F]

	// forward buffers (gradChunk rows)
	x, h, q, k, v, att, o, g, u []F

	xFin0  []F // d: residual after the last layer at position P-1
	xFin   []F // maxA x d: residual after the last layer at the scored positions
	hn     []F // maxA x d: final-norm output there
	logits []F // maxA x V, then dL/dz
	exps   []float64

	// backward buffers
	dhn, dxA, dxB []F
	datt, du, du2 []F
	dKh, dVh      []F // per query head: Smax x HeadDim
	shared        *layerWork[F]
	work          []*layerWork[F]
	acc           [][]float64 // float64 sums of the selected norm weights and biases
	prevToks      []int       // the tokens whose embedding rows the last sample's dense gradient touched
	out           []TensorGrad[F]
	sg            SampleGrad[F]
}

// newGradRun returns the computation of the selection p (sel) with its
// output buffers; reset sizes the rest for a prompt and its actions.
func newGradRun[F float](m *Model[F], p *gradPlan, sel []Tensor) *gradRun[F] {
	r := &gradRun[F]{m: m, plan: p, par: newPar[F]()}
	L := m.cfg.Layers
	r.K, r.V = make([][]F, L), make([][]F, L)
	r.tape = make([]*layerTape[F], L)
	for l := p.l0; l < L; l++ {
		r.tape[l] = &layerTape[F]{}
	}
	r.aw = make([]attnWork[F], len(r.par.bufs))
	if p.l0 < L {
		r.work = make([]*layerWork[F], L)
		for l := p.l0; l < L; l++ {
			own := false
			if p.factors {
				for k, i := range p.lsel[l] {
					own = own || (i >= 0 && gradKind(k).factored())
				}
			}
			if !own {
				if r.shared == nil {
					r.shared = &layerWork[F]{}
				}
				r.work[l] = r.shared
				continue
			}
			r.work[l] = &layerWork[F]{own: true}
		}
	}
	r.out = make([]TensorGrad[F], len(sel))
	r.acc = make([][]float64, len(sel))
	for i, t := range sel {
		k := p.kinds[i]
		r.out[i].Tensor = t
		if p.dense || !k.factored() {
			r.out[i].Dense = make([]F, t.Size)
		}
		if p.factors && k.factored() {
			f := &Factors[F]{Out: t.Shape[0], In: t.Shape[1]}
			if k == kEmbed {
				f.Out, f.In, f.OneHot = t.Shape[1], t.Shape[0], true
			}
			r.out[i].Factors = f
		}
		if !k.factored() {
			r.acc[i] = make([]float64, t.Size)
		}
	}
	r.sg.Tensors = r.out
	return r
}

// grow returns b[:n], reallocated when its capacity is short.
func grow[T any](b []T, n int) []T {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]T, n)
}

// reset sizes the buffers for a prompt of P tokens and actions of at most
// maxA tokens, keeping what is large enough.
func (r *gradRun[F]) reset(P, maxA int) {
	m, p := r.m, r.plan
	c := m.cfg
	d, qd, kvd, in, V, L := c.Hidden, c.QDim(), c.KVDim(), c.Intermediate, c.VocabSize, c.Layers
	A := max(maxA, 1)
	Smax := P + A - 1
	r.P = P
	if Smax > len(r.pos) {
		r.pos = make([]int, Smax)
		for i := range r.pos {
			r.pos[i] = i
		}
		r.cos, r.sin = m.rope(0, Smax)
	}
	r.Smax = Smax
	r.toks = grow(r.toks, Smax)
	for l := range L {
		r.K[l] = grow(r.K[l], Smax*kvd)
		r.V[l] = grow(r.V[l], Smax*kvd)
	}
	for l := p.l0; l < L; l++ {
		tp := r.tape[l]
		tp.base = 0
		if l == L-1 {
			tp.base = P - 1
		}
		n := Smax - tp.base
		tp.xIn = grow(tp.xIn, Smax*d)
		tp.q, tp.att = grow(tp.q, n*qd), grow(tp.att, n*qd)
		tp.xMid = grow(tp.xMid, n*d)
		tp.gate, tp.up = grow(tp.gate, n*in), grow(tp.up, n*in)
		if c.QKNorm {
			tp.kPre = grow(tp.kPre, Smax*kvd)
			tp.qPre = grow(tp.qPre, n*qd)
		}
	}
	for w := range r.aw {
		r.aw[w].sc = grow(r.aw[w].sc, scoreRows*Smax)
		r.aw[w].p64 = grow(r.aw[w].p64, Smax)
		if p.l0 < L {
			r.aw[w].dp = grow(r.aw[w].dp, scoreRows*Smax)
		}
	}
	T := min(gradChunk, Smax)
	r.x, r.h, r.o = grow(r.x, T*d), grow(r.h, T*d), grow(r.o, T*d)
	r.q, r.att = grow(r.q, T*qd), grow(r.att, T*qd)
	r.k, r.v = grow(r.k, T*kvd), grow(r.v, T*kvd)
	r.g, r.u = grow(r.g, T*in), grow(r.u, T*in)
	r.xFin0 = grow(r.xFin0, d)
	r.xFin, r.hn = grow(r.xFin, A*d), grow(r.hn, A*d)
	r.logits = grow(r.logits, A*V)
	r.exps = grow(r.exps, V)
	if p.below {
		r.dhn, r.dxA = grow(r.dhn, A*d), grow(r.dxA, Smax*d)
	}
	if p.l0 == L {
		return
	}
	r.dxB = grow(r.dxB, Smax*d)
	r0 := P - 1 // the first row with a full backward pass in the layers
	if p.l0 < L-1 {
		r0 = 0
	}
	n := Smax - r0
	r.datt, r.du, r.du2 = grow(r.datt, n*qd), grow(r.du, Smax*d), grow(r.du2, n*d)
	r.dKh, r.dVh = grow(r.dKh, Smax*qd), grow(r.dVh, Smax*qd)
	if r.shared != nil {
		r.shared.reset(c, Smax, r0)
	}
	for l := p.l0; l < L; l++ {
		if w := r.work[l]; w.own {
			lr0 := 0
			if l == L-1 {
				lr0 = P - 1
			}
			w.reset(c, Smax, lr0)
		}
	}
}

// reset sizes the buffers for S positions, those from r0 on with a full
// backward pass. Only a layer's own buffers (factors) hold the MLP's
// gradients (dGate, dUp), the activation of down_proj (mAct) and the
// gradient of the layer's output (dy); the shared ones run the MLP in
// blocks in the forward pass's buffers and read dy from the caller.
func (w *layerWork[F]) reset(c Config, S, r0 int) {
	d, qd, kvd, in := c.Hidden, c.QDim(), c.KVDim(), c.Intermediate
	n := S - r0
	w.u, w.dk, w.dv = grow(w.u, S*d), grow(w.dk, S*kvd), grow(w.dv, S*kvd)
	w.u2, w.dMid, w.dq = grow(w.u2, n*d), grow(w.dMid, n*d), grow(w.dq, n*qd)
	if w.own {
		w.dGate, w.dUp = grow(w.dGate, n*in), grow(w.dUp, n*in)
		w.mAct, w.dy = grow(w.mAct, n*in), grow(w.dy, n*d)
	}
}

// prompt runs the prompt through every layer, keeping the cache, the
// selected layers' tapes and the residual at its last position.
func (r *gradRun[F]) prompt(prompt []int) {
	copy(r.toks, prompt)
	r.feed(prompt, 0, r.P-1, r.xFin0)
}

// feed runs toks at positions L0 .. L0+len(toks)-1 through the layers in
// chunks of gradChunk positions, and copies the last layer's output at
// positions keep and after into dst (row p at p-keep).
func (r *gradRun[F]) feed(toks []int, L0, keep int, dst []F) {
	d := r.m.cfg.Hidden
	for c0 := 0; c0 < len(toks); c0 += gradChunk {
		T := min(gradChunk, len(toks)-c0)
		x := r.x[:T*d]
		for i, t := range toks[c0 : c0+T] {
			copy(x[i*d:(i+1)*d], r.m.embed[t*d:(t+1)*d])
		}
		for l := range r.m.layers {
			r.layerForward(l, x, T, L0+c0)
		}
		for i := range T {
			if p := L0 + c0 + i; p >= keep {
				copy(dst[(p-keep)*d:(p-keep+1)*d], x[i*d:(i+1)*d])
			}
		}
	}
}

// layerForward runs layer l on the T rows x at positions L0 .. L0+T-1 in
// place, with the operations of forward (so the same bits), storing keys
// and values in the cache and, for a layer with a tape, its activations.
func (r *gradRun[F]) layerForward(l int, x []F, T, L0 int) {
	m := r.m
	c := m.cfg
	d, hd, qd, kvd, in := c.Hidden, c.HeadDim, c.QDim(), c.KVDim(), c.Intermediate
	half := hd / 2
	ly := &m.layers[l]
	h, q, k, v := r.h[:T*d], r.q[:T*qd], r.k[:T*kvd], r.v[:T*kvd]
	att, o, g, u := r.att[:T*qd], r.o[:T*d], r.g[:T*in], r.u[:T*in]
	tp := r.tape[l]
	skip := T // rows of this chunk before the tape's base
	var at int
	if tp != nil {
		copy(tp.xIn[L0*d:], x)
		skip = min(T, max(0, tp.base-L0))
		at = L0 + skip - tp.base
	}
	save := func(dst, src []F, w int) {
		if skip < T {
			copy(dst[at*w:], src[skip*w:])
		}
	}

	rmsNorm(h, x, ly.inNorm, d, c.RMSNormEps)
	r.linear(q, h, ly.wq, ly.bq, T, qd, d)
	r.linear(k, h, ly.wk, ly.bk, T, kvd, d)
	r.linear(v, h, ly.wv, ly.bv, T, kvd, d)
	if c.QKNorm {
		if tp != nil {
			save(tp.qPre, q, qd)
			copy(tp.kPre[L0*kvd:], k)
		}
		rmsNorm(q, q, ly.qNorm, hd, c.RMSNormEps)
		rmsNorm(k, k, ly.kNorm, hd, c.RMSNormEps)
	}
	cos, sin := r.cos[L0*half:(L0+T)*half], r.sin[L0*half:(L0+T)*half]
	applyRope(q, cos, sin, T, c.Heads, hd)
	applyRope(k, cos, sin, T, c.KVHeads, hd)
	copy(r.K[l][L0*kvd:], k)
	copy(r.V[l][L0*kvd:], v)
	if tp != nil {
		save(tp.q, q, qd)
	}
	r.attnForward(l, q, att, T, L0)
	if tp != nil {
		save(tp.att, att, qd)
	}
	r.par.gemm(false, true, T, d, qd, att, qd, ly.wo, qd, o, d, false)
	addTo(x, o)
	if tp != nil {
		save(tp.xMid, x, d)
	}
	rmsNorm(h, x, ly.postNorm, d, c.RMSNormEps)
	r.par.gemm(false, true, T, in, d, h, d, ly.gate, d, g, in, false)
	r.par.gemm(false, true, T, in, d, h, d, ly.up, d, u, in, false)
	if tp != nil {
		save(tp.gate, g, in)
		save(tp.up, u, in)
	}
	r.par.rowBlocks(T, 32, func(_, lo, hi int) {
		for i := lo * in; i < hi*in; i++ {
			g[i] = silu(g[i]) * u[i]
		}
	})
	r.par.gemm(false, true, T, d, in, g, in, ly.down, in, o, d, false)
	addTo(x, o)
}

// linear is forward.go's linear on the parallel products.
func (r *gradRun[F]) linear(dst, src, W, b []F, T, out, in int) {
	r.par.gemm(false, true, T, out, in, src, in, W, in, dst, out, false)
	if b == nil {
		return
	}
	for i := range T {
		row := dst[i*out : (i+1)*out]
		for j, bv := range b {
			row[j] += bv
		}
	}
}

// attnForward is forward's attention of the T query rows q at positions
// L0 .. L0+T-1 over the cached keys and values of layer l, head by head in
// parallel, with forward's row blocks and operations.
func (r *gradRun[F]) attnForward(l int, q, att []F, T, L0 int) {
	c := r.m.cfg
	hd, qd, kvd := c.HeadDim, c.QDim(), c.KVDim()
	K, V := r.K[l], r.V[l]
	rows := min(T, scoreRows)
	group := c.Heads / c.KVHeads
	scale := 1 / math.Sqrt(float64(hd))
	r.par.each(c.Heads, func(w, head int) {
		aw, gb := &r.aw[w], &r.par.bufs[w]
		kh := head / group
		for r0 := 0; r0 < T; r0 += rows {
			nr := min(rows, T-r0)
			ns := L0 + r0 + nr
			sc := aw.sc[:nr*ns]
			kernel.Gemm(gb, false, true, nr, ns, hd, q[r0*qd+head*hd:], qd, K[kh*hd:], kvd, sc, ns, false)
			for i := range nr {
				row := sc[i*ns : (i+1)*ns]
				seen := L0 + r0 + i + 1
				p64 := aw.p64
				mx := math.Inf(-1)
				for j := range seen {
					s := float64(row[j]) * scale
					p64[j] = s
					mx = max(mx, s)
				}
				sum := kernel.ExpShiftSum(p64[:seen], mx, 1)
				for j := range seen {
					row[j] = F(p64[j] / sum)
				}
				clear(row[seen:])
			}
			kernel.Gemm(gb, false, false, nr, hd, ns, sc, ns, V[kh*hd:], kvd, att[r0*qd+head*hd:], qd, false)
		}
	})
}

// sample runs one action forward from the prompt's cache and backward,
// and returns its log-probability and gradients (r.sg).
func (r *gradRun[F]) sample(a []int) *SampleGrad[F] {
	m := r.m
	c := m.cfg
	d, V := c.Hidden, c.VocabSize
	A := len(a)
	r.sg.LogProb = 0
	if A == 0 {
		r.zero()
		return &r.sg
	}
	copy(r.toks[r.P:], a[:A-1])
	copy(r.xFin[:d], r.xFin0)
	if A > 1 {
		r.feed(a[:A-1], r.P, r.P, r.xFin[d:])
	}
	hn := r.hn[:A*d]
	rmsNorm(hn, r.xFin[:A*d], m.norm, d, c.RMSNormEps)
	z := r.logits[:A*V]
	r.par.gemm(false, true, A, V, d, hn, d, m.head, d, z, V, false)
	// log pi and dL/dz = onehot - softmax, row by row (logSoftmaxAt's
	// operations, so GroupLogProbs' bits)
	var s float64
	for t, y := range a {
		row := z[t*V : (t+1)*V]
		mx := math.Inf(-1)
		for i, v := range row {
			x := float64(v)
			r.exps[i] = x
			mx = max(mx, x)
		}
		var lp float64
		if math.IsInf(mx, 0) {
			lp = float64(row[y]) - mx
			clear(row) // no finite gradient
		} else {
			sum := kernel.ExpShiftSum(r.exps[:V], mx, 1)
			lp = float64(row[y]) - (mx + math.Log(sum))
			for i, e := range r.exps[:V] {
				row[i] = F(-e / sum)
			}
			row[y] = F(1 - r.exps[y]/sum)
		}
		s += lp
	}
	r.sg.LogProb = s
	r.backward(A)
	return &r.sg
}

// zero sets every gradient of the sample to zero (an empty action).
func (r *gradRun[F]) zero() {
	r.clearEmbedRows()
	for i := range r.out {
		o := &r.out[i]
		if o.Dense != nil && r.plan.kinds[i] != kEmbed {
			clear(o.Dense)
		}
		if f := o.Factors; f != nil {
			f.Pos, f.Delta, f.Act, f.Tokens = f.Pos[:0], f.Delta[:0], f.Act[:0], f.Tokens[:0]
		}
	}
}
