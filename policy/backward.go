package policy

import (
	"math"

	"github.com/gradcouple/gradcouple/internal/kernel"
)

// backward adds to grad (full length) the gradient of
// sum_i j.w[i] * log p(j.tgt[i] at j.pos[i]) after ws.run(j). Only the
// gradients sel needs are computed: with sel.embed false, wte and wpe are
// skipped and the pass stops at block sel.minLay; entries of grad outside
// sel may then be left incomplete.
func (ws *workspace[F]) backward(j *job, grad []F, sel Selection) {
	m := ws.m
	c := m.cfg
	d, V, L := c.Dim, c.VocabSize, c.Layers
	P := ws.P
	n := len(j.pos)
	T := ws.T

	// d objective / d logits = w * (onehot(tgt) - softmax), the softmax
	// over the target's allowed tokens when it is restricted
	for i := range n {
		row := ws.logits[i*V : i*V+V]
		drow := ws.dlog[i*V : i*V+V]
		w, lse := j.w[i], ws.lse[i]
		if i < len(j.allowed) && j.allowed[i] != nil {
			clear(drow)
			for _, k := range j.allowed[i] {
				drow[k] = F(-w * math.Exp(float64(row[k])-lse))
			}
		} else {
			for k, v := range row {
				drow[k] = F(-w * math.Exp(float64(v)-lse))
			}
		}
		drow[j.tgt[i]] += F(w)
	}
	// logits = hf @ wte^T
	kernel.Gemm(&ws.g, false, false, n, d, V, ws.dlog, V, P[m.lay.wte:], d, ws.dhf, d, false)
	if sel.embed {
		kernel.Gemm(&ws.g, true, false, V, d, n, ws.dlog, V, ws.hf, d, grad[m.lay.wte:], d, true)
	}
	// final LayerNorm at the target rows, scattered into dx (rows >= s0)
	dx := ws.dxA
	clear(dx[ws.s0*d : T*d])
	gw, gb := grad[m.lay.lnfW:m.lay.lnfW+d], grad[m.lay.lnfB:m.lay.lnfB+d]
	for i, p := range j.pos {
		layerNormBackRow(dx[p*d:p*d+d], ws.dhf[i*d:i*d+d], ws.xhatf[i*d:i*d+d], ws.rstdf[i],
			P[m.lay.lnfW:m.lay.lnfW+d], gw, gb)
	}
	stop := sel.minLay
	if sel.embed {
		stop = 0
	}
	other := ws.dxB
	for l := L - 1; l >= stop; l-- {
		r0 := 0
		if l == L-1 {
			r0 = ws.s0
		}
		needIn := l > stop || sel.embed
		ws.blockBackward(l, r0, dx, other, grad, needIn)
		dx, other = other, dx
	}
	if !sel.embed {
		return
	}
	// x0 = wte[tok] + wpe[pos]
	for t, tok := range j.toks {
		row := dx[t*d : t*d+d]
		ge := grad[m.lay.wte+tok*d : m.lay.wte+tok*d+d]
		gp := grad[m.lay.wpe+t*d : m.lay.wpe+t*d+d]
		for i, v := range row {
			ge[i] += v
			gp[i] += v
		}
	}
}

// blockBackward back-propagates through block l: dy holds the gradient of
// the block's output for rows >= r0 (the rows the forward pass computed);
// with needIn it writes the gradient of the block's input, every row, into
// dxIn. Parameter gradients are added to grad.
func (ws *workspace[F]) blockBackward(l, r0 int, dy, dxIn, grad []F, needIn bool) {
	m := ws.m
	c := m.cfg
	T, d, f := ws.T, c.Dim, c.Inner()
	P := ws.P
	o := m.lay.layers[l]
	tp := &ws.ly[l]
	n := T - r0

	// MLP: y = xm + gelu(h2 @ Wfc + bfc) @ Wfc2 + bfc2
	dfa := ws.dfa
	kernel.Gemm(&ws.g, false, true, n, f, d, dy[r0*d:], d, P[o.fc2W:], d, dfa[r0*f:], f, false)
	kernel.Gemm(&ws.g, true, false, f, d, n, tp.fact[r0*f:], f, dy[r0*d:], d, grad[o.fc2W:], d, true)
	colSum(grad[o.fc2B:o.fc2B+d], dy, r0, T)
	geluBackward(dfa[r0*f:T*f], dfa[r0*f:T*f], tp.fpre[r0*f:T*f], tp.ftanh[r0*f:T*f])
	kernel.Gemm(&ws.g, true, false, d, f, n, tp.h2[r0*d:], d, dfa[r0*f:], f, grad[o.fcW:], f, true)
	colSum(grad[o.fcB:o.fcB+f], dfa, r0, T)
	kernel.Gemm(&ws.g, false, true, n, d, f, dfa[r0*f:], f, P[o.fcW:], f, ws.dh[r0*d:], d, false)
	dxm := ws.dxm
	for r := r0; r < T; r++ {
		copy(dxm[r*d:r*d+d], dy[r*d:r*d+d])
		layerNormBackRow(dxm[r*d:r*d+d], ws.dh[r*d:r*d+d], tp.xhat2[r*d:r*d+d], tp.rstd2[r],
			P[o.ln2W:o.ln2W+d], grad[o.ln2W:o.ln2W+d], grad[o.ln2B:o.ln2B+d])
	}

	// attention output projection: xm = x + att @ Wproj + bproj
	kernel.Gemm(&ws.g, false, true, n, d, d, dxm[r0*d:], d, P[o.projW:], d, ws.datt[r0*d:], d, false)
	kernel.Gemm(&ws.g, true, false, d, d, n, tp.att[r0*d:], d, dxm[r0*d:], d, grad[o.projW:], d, true)
	colSum(grad[o.projB:o.projB+d], dxm, r0, T)

	ws.attentionBackward(tp, r0)

	// qkv = h1 @ Wattn + battn, every row
	kernel.Gemm(&ws.g, true, false, d, 3*d, T, tp.h1, d, ws.dqkv, 3*d, grad[o.attnW:], 3*d, true)
	colSum(grad[o.attnB:o.attnB+3*d], ws.dqkv, 0, T)
	gw, gb := grad[o.ln1W:o.ln1W+d], grad[o.ln1B:o.ln1B+d]
	kernel.Gemm(&ws.g, false, true, T, d, 3*d, ws.dqkv, 3*d, P[o.attnW:], 3*d, ws.dh, d, false)
	for r := range T {
		dh, xh := ws.dh[r*d:r*d+d], tp.xhat1[r*d:r*d+d]
		if !needIn {
			// Only the ln_1 parameter gradients.
			for i, v := range dh {
				gw[i] += v * xh[i]
				gb[i] += v
			}
			continue
		}
		dst := dxIn[r*d : r*d+d]
		if r >= r0 {
			copy(dst, dxm[r*d:r*d+d])
		} else {
			clear(dst)
		}
		layerNormBackRow(dst, dh, xh, tp.rstd1[r], P[o.ln1W:o.ln1W+d], gw, gb)
	}
}

// attentionBackward turns ws.datt (rows >= r0) into ws.dqkv (every row).
func (ws *workspace[F]) attentionBackward(tp *layerTape[F], r0 int) {
	c := ws.m.cfg
	T, d, H, hd := ws.T, c.Dim, c.Heads, c.HeadDim()
	scale := 1 / math.Sqrt(float64(hd))
	clear(ws.dqkv[:T*3*d])
	dp := ws.dp
	for h := range H {
		pr := tp.probs[h*T*T:]
		q, k, v := tp.qkv[h*hd:], tp.qkv[d+h*hd:], tp.qkv[2*d+h*hd:]
		dq, dk, dv := ws.dqkv[h*hd:], ws.dqkv[d+h*hd:], ws.dqkv[2*d+h*hd:]
		do := ws.datt[h*hd:]
		for i0 := r0; i0 < T; i0 += attnBlock {
			i1 := min(i0+attnBlock, T)
			rows := i1 - i0
			// dP = dO V^T (rows x i1)
			kernel.Gemm(&ws.g, false, true, rows, i1, hd, do[i0*d:], d, v, 3*d, dp, T, false)
			// dV += P^T dO
			kernel.Gemm(&ws.g, true, false, i1, hd, rows, pr[i0*T:], T, do[i0*d:], d, dv, 3*d, true)
			// dS = P * (dP - sum_j dP_j P_j), times the scale of the scores
			for i := i0; i < i1; i++ {
				p := pr[i*T : i*T+i1]
				g := dp[(i-i0)*T : (i-i0)*T+i1]
				var s float64
				for jj := 0; jj <= i; jj++ {
					s += float64(g[jj]) * float64(p[jj])
				}
				sF, scaleF := F(s), F(scale)
				for jj := 0; jj <= i; jj++ {
					g[jj] = p[jj] * (g[jj] - sF) * scaleF
				}
				clear(g[i+1:])
			}
			// dQ = dS K, dK += dS^T Q
			kernel.Gemm(&ws.g, false, false, rows, hd, i1, dp, T, k, 3*d, dq[i0*3*d:], 3*d, false)
			kernel.Gemm(&ws.g, true, false, i1, hd, rows, dp, T, q[i0*3*d:], 3*d, dk, 3*d, true)
		}
	}
}

// colSum adds the column sums of rows r0..r1-1 of x (width len(dst)) to dst.
func colSum[F float](dst, x []F, r0, r1 int) {
	w := len(dst)
	for r := r0; r < r1; r++ {
		row := x[r*w : r*w+w]
		for i, v := range row {
			dst[i] += v
		}
	}
}

// layerNormBackRow back-propagates dy through out = xhat*w + b of one row:
// it adds dy*xhat to gw, dy to gb and the input gradient
// rstd * (dxhat - mean(dxhat) - xhat*mean(dxhat*xhat)), dxhat = dy*w, to dx.
// The means and the input gradient are computed in float64 whatever F is.
func layerNormBackRow[F float](dx, dy, xhat []F, rstd float64, w, gw, gb []F) {
	d := len(dy)
	xhat, w, gw, gb, dx = xhat[:d], w[:d], gw[:d], gb[:d], dx[:d]
	var m1, m2 float64
	for i, v := range dy {
		gw[i] += v * xhat[i]
		gb[i] += v
		g := float64(v) * float64(w[i])
		m1 += g
		m2 += g * float64(xhat[i])
	}
	m1 /= float64(d)
	m2 /= float64(d)
	for i, v := range dy {
		g := float64(v) * float64(w[i])
		dx[i] += F(rstd * (g - m1 - float64(xhat[i])*m2))
	}
}
