package hf

import (
	"math"

	"github.com/gradcouple/gradcouple/internal/kernel"
)

// backward computes the selected gradients of one action of A tokens
// (S = P+A-1 positions fed) from dL/dz in r.logits.
func (r *gradRun[F]) backward(A int) {
	m, p := r.m, r.plan
	c := m.cfg
	d, V, L := c.Hidden, c.VocabSize, c.Layers
	P := r.P
	S := P + A - 1
	dz, hn := r.logits[:A*V], r.hn[:A*d]

	// z_t = W_head hn_t at the scored positions P-1 .. S-1
	if i := p.top[kHead]; i >= 0 {
		o := &r.out[i]
		if o.Dense != nil {
			r.par.gemm(true, false, V, d, A, dz, V, hn, d, o.Dense, d, false)
		}
		if f := o.Factors; f != nil {
			f.Pos, f.Delta, f.Act = r.pos[P-1:S], dz, hn
		}
	}
	if !p.below {
		return
	}
	dhn := r.dhn[:A*d]
	r.par.gemm(false, false, A, d, V, dz, V, m.head, d, dhn, d, false)
	dx := r.dxA[:S*d]
	rmsNormBack(dx[(P-1)*d:], dhn, r.xFin[:A*d], m.norm, d, c.RMSNormEps, r.accOf(p.top[kNorm]), false)
	r.flush(p.top[kNorm])
	if p.l0 == L {
		return
	}
	other := r.dxB[:S*d]
	for l := L - 1; l >= p.l0; l-- {
		r0 := 0
		if l == L-1 {
			r0 = P - 1
		}
		r.layerBackward(l, r0, S, dx, other, l > p.l0 || p.embed)
		dx, other = other, dx
	}
	i := p.top[kEmbed]
	if i < 0 {
		return
	}
	// x_t = E[tok_t] at every position
	o := &r.out[i]
	if o.Dense != nil {
		r.clearEmbedRows()
		for t, tok := range r.toks[:S] {
			addTo(o.Dense[tok*d:(tok+1)*d], dx[t*d:(t+1)*d])
		}
		r.prevToks = append(r.prevToks[:0], r.toks[:S]...)
	}
	if f := o.Factors; f != nil {
		f.Pos, f.Delta, f.Tokens = r.pos[:S], dx, r.toks[:S]
	}
}

// clearEmbedRows zeroes the rows of the dense input-embedding gradient
// that the last sample wrote.
func (r *gradRun[F]) clearEmbedRows() {
	i := r.plan.top[kEmbed]
	if i < 0 || r.out[i].Dense == nil {
		return
	}
	d := r.m.cfg.Hidden
	for _, tok := range r.prevToks {
		clear(r.out[i].Dense[tok*d : (tok+1)*d])
	}
	r.prevToks = r.prevToks[:0]
}

// accOf returns the zeroed float64 accumulator of selected tensor i, or
// nil when i < 0.
func (r *gradRun[F]) accOf(i int) []float64 {
	if i < 0 {
		return nil
	}
	clear(r.acc[i])
	return r.acc[i]
}

// flush rounds the accumulator of selected tensor i into its gradient.
func (r *gradRun[F]) flush(i int) {
	if i < 0 {
		return
	}
	for j, v := range r.acc[i] {
		r.out[i].Dense[j] = F(v)
	}
}

// linearGradAt sets the gradient of selected weight i (if any) from the
// rows positions from first on: its factors point at the rows of delta
// (rows x out) and act (rows x in), and its dense gradient (if asked) is
// delta^T act, or is increased by it with add.
func (r *gradRun[F]) linearGradAt(i, first, rows int, delta []F, out int, act []F, in int, add bool) {
	if i < 0 {
		return
	}
	o := &r.out[i]
	if o.Dense != nil {
		r.par.gemm(true, false, out, in, rows, delta, out, act, in, o.Dense, in, add)
	}
	if f := o.Factors; f != nil {
		f.Pos, f.Delta, f.Act = r.pos[first:first+rows], delta[:rows*out], act[:rows*in]
	}
}

// layerBackward runs layer l backward over positions [0, S): dxOut holds
// dL/d(output) at rows [r0, S) (the other rows' outputs get no gradient:
// r0 = P-1 in the top layer, whose rows before it feed the log-probability
// through their keys and values only). It computes the layer's selected
// gradients and, with needIn, dL/d(input) at every row into dxIn.
func (r *gradRun[F]) layerBackward(l, r0, S int, dxOut, dxIn []F, needIn bool) {
	m := r.m
	c := m.cfg
	d, hd, qd, kvd, in := c.Hidden, c.HeadDim, c.QDim(), c.KVDim(), c.Intermediate
	half := hd / 2
	eps := c.RMSNormEps
	ly, tp, lw := &m.layers[l], r.tape[l], r.work[l]
	sel := &r.plan.lsel[l]
	n := S - r0
	at := r0 - tp.base // row r0 of the tape's full fields
	deep := r.plan.deep[l]
	if needIn {
		deep = lvIn
	}

	// MLP: out = down(m), m = silu(gate) * up. With the layer's own
	// buffers (factors) all rows at once; with the shared ones in blocks of
	// the forward pass's rows, in its gate and up buffers (the dense
	// gradients then sum the blocks' products).
	dy := dxOut[r0*d : S*d]
	if lw.own {
		copy(lw.dy, dy)
		dy = lw.dy[:n*d]
	}
	xMid := tp.xMid[at*d : (at+n)*d]
	downSel, gateUp := sel[kDown] >= 0, deep >= lvGateUp
	u2 := lw.u2[:n*d]
	if gateUp {
		rmsNorm(u2, xMid, ly.postNorm, d, eps)
	}
	du2 := r.du2[:n*d]
	step := n
	if !lw.own {
		step = len(r.g) / in
	}
	for c0 := 0; c0 < n; c0 += step {
		nc := min(step, n-c0)
		var dGate, dUp, mAct []F
		if lw.own {
			dGate, dUp, mAct = lw.dGate[:n*in], lw.dUp[:n*in], lw.mAct[:n*in]
		} else {
			dGate, dUp = r.g[:nc*in], r.u[:nc*in]
			mAct = dUp // m first, then dL/dup
		}
		gate, up := tp.gate[(at+c0)*in:(at+c0+nc)*in], tp.up[(at+c0)*in:(at+c0+nc)*in]
		dyc := dy[c0*d : (c0+nc)*d]
		if gateUp {
			r.par.gemm(false, false, nc, in, d, dyc, d, ly.down, in, dGate, in, false) // dL/dm
		}
		// m as the forward pass computes it, dL/dup = dL/dm silu(gate),
		// dL/dgate = dL/dm up silu'(gate) with silu' = sig + silu (1 - sig)
		pass := func(wantM, wantGrad bool) {
			r.par.rowBlocks(nc, 16, func(_, lo, hi int) {
				for i := lo * in; i < hi*in; i++ {
					s, sig := silu64(float64(gate[i]))
					sf := F(s)
					if wantM {
						mAct[i] = sf * up[i]
					}
					if wantGrad {
						dm := float64(dGate[i])
						dUp[i] = F(dm * float64(sf))
						dGate[i] = F(dm * float64(up[i]) * (sig + s*(1-sig)))
					}
				}
			})
		}
		if lw.own || !downSel {
			pass(downSel, gateUp)
		} else {
			pass(true, false)
		}
		r.linearGradAt(sel[kDown], r0+c0, nc, dyc, d, mAct, in, c0 > 0)
		if !gateUp {
			continue
		}
		if !lw.own && downSel {
			pass(false, true)
		}
		u2c := u2[c0*d : (c0+nc)*d]
		r.linearGradAt(sel[kGate], r0+c0, nc, dGate, in, u2c, d, c0 > 0)
		r.linearGradAt(sel[kUp], r0+c0, nc, dUp, in, u2c, d, c0 > 0)
		if deep >= lvPostNorm {
			du2c := du2[c0*d : (c0+nc)*d]
			r.par.gemm(false, false, nc, d, in, dGate, in, ly.gate, d, du2c, d, false)
			r.par.gemm(false, false, nc, d, in, dUp, in, ly.up, d, du2c, d, true)
		}
	}
	if deep < lvPostNorm {
		return
	}
	dMid := lw.dMid[:n*d]
	copy(dMid, dy)
	rmsNormBack(dMid, du2, xMid, ly.postNorm, d, eps, r.accOf(sel[kPostNorm]), true)
	r.flush(sel[kPostNorm])

	// attention: out = o_proj(att)
	att := tp.att[at*qd : (at+n)*qd]
	r.linearGradAt(sel[kO], r0, n, dMid, d, att, qd, false)
	if deep < lvAttn {
		return
	}
	datt := r.datt[:n*qd]
	r.par.gemm(false, false, n, qd, d, dMid, d, ly.wo, qd, datt, qd, false)
	dq, dk, dv := lw.dq[:n*qd], lw.dk[:S*kvd], lw.dv[:S*kvd]
	r.attnBackward(l, r0, S, datt, dq, dk, dv)
	applyRopeT(dq, r.cos[r0*half:], r.sin[r0*half:], n, c.Heads, hd)
	applyRopeT(dk, r.cos, r.sin, S, c.KVHeads, hd)
	if c.QKNorm {
		rmsNormBack(dq, dq, tp.qPre[at*qd:(at+n)*qd], ly.qNorm, hd, eps, r.accOf(sel[kQNorm]), false)
		rmsNormBack(dk, dk, tp.kPre[:S*kvd], ly.kNorm, hd, eps, r.accOf(sel[kKNorm]), false)
		r.flush(sel[kQNorm])
		r.flush(sel[kKNorm])
	}
	if deep < lvQKV {
		return
	}
	r.biasGrad(sel[kQBias], dq, qd)
	r.biasGrad(sel[kKBias], dk, kvd)
	r.biasGrad(sel[kVBias], dv, kvd)
	u := lw.u[:S*d]
	rmsNorm(u, tp.xIn[:S*d], ly.inNorm, d, eps)
	r.linearGradAt(sel[kQ], r0, n, dq, qd, u[r0*d:], d, false)
	r.linearGradAt(sel[kK], 0, S, dk, kvd, u, d, false)
	r.linearGradAt(sel[kV], 0, S, dv, kvd, u, d, false)
	if deep < lvInNorm {
		return
	}
	du := r.du[:S*d]
	r.par.gemm(false, false, S, d, kvd, dk, kvd, ly.wk, d, du, d, false)
	r.par.gemm(false, false, S, d, kvd, dv, kvd, ly.wv, d, du, d, true)
	r.par.gemm(false, false, n, d, qd, dq, qd, ly.wq, d, du[r0*d:], d, true)
	dw := r.accOf(sel[kInNorm])
	xIn := tp.xIn[:S*d]
	if !needIn {
		rmsNormBack(nil, du, xIn, ly.inNorm, d, eps, dw, false)
	} else {
		rmsNormBack(dxIn[:r0*d], du[:r0*d], xIn[:r0*d], ly.inNorm, d, eps, dw, false)
		copy(dxIn[r0*d:S*d], dMid)
		rmsNormBack(dxIn[r0*d:S*d], du[r0*d:], xIn[r0*d:], ly.inNorm, d, eps, dw, true)
	}
	r.flush(sel[kInNorm])
}

// biasGrad sets the gradient of selected bias i to the sum over rows of
// delta (rows of width w).
func (r *gradRun[F]) biasGrad(i int, delta []F, w int) {
	if i < 0 {
		return
	}
	acc := r.accOf(i)
	for t := 0; t < len(delta); t += w {
		for j, v := range delta[t : t+w] {
			acc[j] += float64(v)
		}
	}
	r.flush(i)
}

// attnBackward computes, from datt = dL/d(attention output) at the query
// rows [r0, S) of layer l, dL/dq (after RoPE) there into dq (n x qd) and
// dL/dk (after RoPE) and dL/dv at every key row into dk and dv (S x kvd).
// The probabilities are recomputed with the forward pass's operations;
// per row i with scores s_ij = q_i.k_j / sqrt(hd) and p = softmax(s):
//
//	dP_ij = datt_i . v_j,  D_i = sum_j p_ij dP_ij,  dS_ij = p_ij (dP_ij - D_i)
//	dq_i = sum_j dS_ij k_j / sqrt(hd),  dk_j = sum_i dS_ij q_i / sqrt(hd),
//	dv_j = sum_i p_ij datt_i
//
// (p, D and dS in float64). Each query head runs on its own into its own
// dK, dV slabs; a key-value head's gradients are their sum over its query
// heads, in head order.
func (r *gradRun[F]) attnBackward(l, r0, S int, datt, dq, dk, dv []F) {
	c := r.m.cfg
	hd, qd, kvd := c.HeadDim, c.QDim(), c.KVDim()
	tp := r.tape[l]
	K, V := r.K[l], r.V[l]
	q := tp.q[(r0-tp.base)*qd:]
	group := c.Heads / c.KVHeads
	scale := 1 / math.Sqrt(float64(hd))
	slab := S * hd
	r.par.each(c.Heads, func(w, head int) {
		aw, gb := &r.aw[w], &r.par.bufs[w]
		kh := head / group
		dKs, dVs := r.dKh[head*slab:(head+1)*slab], r.dVh[head*slab:(head+1)*slab]
		clear(dKs)
		clear(dVs)
		for rb := r0; rb < S; rb += scoreRows {
			nr := min(scoreRows, S-rb)
			ns := rb + nr
			qr := q[(rb-r0)*qd+head*hd:]
			dor := datt[(rb-r0)*qd+head*hd:]
			sc, dp := aw.sc[:nr*ns], aw.dp[:nr*ns]
			kernel.Gemm(gb, false, true, nr, ns, hd, qr, qd, K[kh*hd:], kvd, sc, ns, false)
			kernel.Gemm(gb, false, true, nr, ns, hd, dor, qd, V[kh*hd:], kvd, dp, ns, false)
			for i := range nr {
				row, drow := sc[i*ns:(i+1)*ns], dp[i*ns:(i+1)*ns]
				seen := rb + i + 1
				p64 := aw.p64[:seen]
				mx := math.Inf(-1)
				for j := range seen {
					s := float64(row[j]) * scale
					p64[j] = s
					mx = max(mx, s)
				}
				sum := kernel.ExpShiftSum(p64, mx, 1)
				var D float64
				for j := range seen {
					p64[j] /= sum
					D += p64[j] * float64(drow[j])
				}
				for j, pj := range p64 {
					row[j] = F(pj)
					drow[j] = F(pj * (float64(drow[j]) - D) * scale)
				}
				clear(row[seen:])
				clear(drow[seen:])
			}
			kernel.Gemm(gb, false, false, nr, hd, ns, dp, ns, K[kh*hd:], kvd, dq[(rb-r0)*qd+head*hd:], qd, false)
			kernel.Gemm(gb, true, false, ns, hd, nr, dp, ns, qr, qd, dKs, hd, true)
			kernel.Gemm(gb, true, false, ns, hd, nr, sc, ns, dor, qd, dVs, hd, true)
		}
	})
	r.par.rowBlocks(S, 64, func(_, lo, hi int) {
		for j := lo; j < hi; j++ {
			for kh := range c.KVHeads {
				for e := range hd {
					var sk, sv float64
					for h := kh * group; h < (kh+1)*group; h++ {
						sk += float64(r.dKh[h*slab+j*hd+e])
						sv += float64(r.dVh[h*slab+j*hd+e])
					}
					dk[j*kvd+kh*hd+e] = F(sk)
					dv[j*kvd+kh*hd+e] = F(sv)
				}
			}
		}
	})
}

// rmsNormBack is the backward pass of rmsNorm over rows of n values: with
// x the input rows, w the weight and dy = dL/d(output),
//
//	r = 1/sqrt(mean(x^2) + eps)
//	dx_j = r (w_j dy_j - x_j r^2 mean_i(w_i dy_i x_i))
//	dw_j += dy_j x_j r
//
// in float64. It sets dx (adds to it with add; nil: not computed) and adds
// to dw (nil: not computed). dx may be dy.
func rmsNormBack[F float](dx, dy, x, w []F, n int, eps float64, dw []float64, add bool) {
	rows := len(dy) / n
	for t := range rows {
		xr, dyr := x[t*n:(t+1)*n], dy[t*n:(t+1)*n]
		var ss, dot float64
		for i, v := range xr {
			xv := float64(v)
			ss += xv * xv
			dot += float64(w[i]) * float64(dyr[i]) * xv
		}
		rs := 1 / math.Sqrt(ss/float64(n)+eps)
		if dw != nil {
			for i, v := range xr {
				dw[i] += float64(dyr[i]) * float64(v) * rs
			}
		}
		if dx == nil {
			continue
		}
		k := rs * rs * dot / float64(n)
		dxr := dx[t*n : (t+1)*n]
		for i, v := range xr {
			g := rs * (float64(w[i])*float64(dyr[i]) - float64(v)*k)
			if add {
				g += float64(dxr[i])
			}
			dxr[i] = F(g)
		}
	}
}

// applyRopeT is the transpose of applyRope (a rotation by the opposite
// angles): the gradient before RoPE from the gradient after it.
//
//	dx[i]      =  dy[i] cos_i + dy[i+hd/2] sin_i
//	dx[i+hd/2] = -dy[i] sin_i + dy[i+hd/2] cos_i
func applyRopeT[F float](x, cos, sin []F, T, heads, hd int) {
	half := hd / 2
	for t := range T {
		c := cos[t*half : (t+1)*half]
		s := sin[t*half : (t+1)*half]
		for h := range heads {
			v := x[(t*heads+h)*hd : (t*heads+h+1)*hd]
			for i := range half {
				a, b := v[i], v[i+half]
				v[i] = a*c[i] + b*s[i]
				v[i+half] = b*c[i] - a*s[i]
			}
		}
	}
}
