package policy

import (
	"math"

	"github.com/gradcouple/gradcouple/internal/kernel"
)

// attnBlock is the number of query rows processed together in attention:
// scores are computed for a block of rows against all keys up to the
// block's last row, so at most attnBlock-1 masked entries per row are
// computed and discarded.
const attnBlock = 32

// job is one sequence to run: the input tokens and the targets whose
// log-probabilities are read (target tgt[i] is predicted at position pos[i],
// i.e. from the logits after input toks[pos[i]]). w holds the weight of each
// target's log-probability in the objective whose gradient is taken (nil for
// a forward pass only).
type job struct {
	toks    []int
	pos     []int
	tgt     []int
	w       []float64
	allowed [][]int // per target: the tokens its softmax runs over; nil means all (see Seq.Allowed)
}

// layerTape holds the activations of one block that the backward pass needs.
type layerTape[F float] struct {
	xhat1, h1  []F       // ln_1: normalized input, output (T x d)
	rstd1      []float64 // ln_1: 1/std (T)
	qkv        []F       // c_attn output (T x 3d)
	probs      []F       // attention probabilities, head h row i at h*T*T + i*T
	att        []F       // merged head outputs (T x d)
	xhat2, h2  []F       // ln_2
	rstd2      []float64
	fpre, fact []F // c_fc output before and after GELU (T x 4d)
	ftanh      []F // the tanh inside GELU, kept for the backward pass
}

// workspace holds the buffers of one goroutine: activations of the
// sequence being processed, the backward scratch and the gemm buffers, all
// in the element type F of the parameters P it runs on (Model.Params, or a
// Model32's float32 copy). Reductions (LayerNorm moments, log-sum-exp,
// softmax sums) accumulate in float64 whatever F is, and the
// log-probabilities are float64.
type workspace[F float] struct {
	m   *Model
	P   []F // the parameters, in the flat order
	cap int // sequence length the buffers are sized for
	T   int // current sequence length
	s0  int // first row computed in the last block run

	x  [][]F // x[0] embeddings, x[l+1] output of block l (T x d)
	xm [][]F // residual stream after the attention of block l
	ly []layerTape[F]

	// final LayerNorm and LM head at the target rows
	xhatf, hf []F       // (n x d)
	rstdf     []float64 // (n)
	logits    []F       // (n x V)
	lse       []float64 // (n)
	logp      []float64 // log-probability of each target (n)

	// backward scratch
	dxA, dxB, dxm, datt, dh []F // T x d
	dqkv                    []F // T x 3d
	dfa                     []F // T x 4d
	dp                      []F // attnBlock x T
	dhf, dlog               []F // n x d, n x V

	g    kernel.GemmBuf[F]
	exp  []float64 // scratch of expShiftSum
	grad []F       // per-sample gradient buffer (full length)
}

func newWorkspace[F float](m *Model, P []F) *workspace[F] {
	return &workspace[F]{m: m, P: P}
}

// reserve sizes the buffers for sequences of length T and n targets.
func (ws *workspace[F]) reserve(T, n int) {
	c := ws.m.cfg
	d, f, V, L := c.Dim, c.Inner(), c.VocabSize, c.Layers
	if T > ws.cap {
		// Size for the whole context at once: sequences of a batch vary in
		// length, and growing step by step would reallocate repeatedly.
		capT := max(T, c.Context)
		ws.cap = capT
		ws.x = make([][]F, L+1)
		for i := range ws.x {
			ws.x[i] = make([]F, capT*d)
		}
		ws.xm = make([][]F, L)
		ws.ly = make([]layerTape[F], L)
		for l := range L {
			ws.xm[l] = make([]F, capT*d)
			ws.ly[l] = layerTape[F]{
				xhat1: make([]F, capT*d), h1: make([]F, capT*d), rstd1: make([]float64, capT),
				qkv:   make([]F, capT*3*d),
				probs: make([]F, c.Heads*capT*capT),
				att:   make([]F, capT*d),
				xhat2: make([]F, capT*d), h2: make([]F, capT*d), rstd2: make([]float64, capT),
				fpre: make([]F, capT*f), fact: make([]F, capT*f), ftanh: make([]F, capT*f),
			}
		}
		ws.dxA, ws.dxB, ws.dxm = make([]F, capT*d), make([]F, capT*d), make([]F, capT*d)
		ws.datt, ws.dh = make([]F, capT*d), make([]F, capT*d)
		ws.dqkv = make([]F, capT*3*d)
		ws.dfa = make([]F, capT*f)
		ws.dp = make([]F, attnBlock*capT)
	}
	if n*V > len(ws.logits) {
		n = max(n, 8)
		ws.xhatf, ws.hf, ws.rstdf = make([]F, n*d), make([]F, n*d), make([]float64, n)
		ws.logits, ws.lse, ws.logp = make([]F, n*V), make([]float64, n), make([]float64, n)
		ws.dhf, ws.dlog = make([]F, n*d), make([]F, n*V)
	}
}

// embed writes x[0] = wte[tok] + wpe[pos] for every position.
func (ws *workspace[F]) embed(toks []int) {
	m := ws.m
	d := m.cfg.Dim
	P := ws.P
	x := ws.x[0]
	for t, tok := range toks {
		e := P[m.lay.wte+tok*d : m.lay.wte+tok*d+d]
		p := P[m.lay.wpe+t*d : m.lay.wpe+t*d+d]
		xr := x[t*d : t*d+d]
		for i := range xr {
			xr[i] = e[i] + p[i]
		}
	}
}

// forward runs the embeddings and blocks 0..nLayers-1 over toks. Blocks
// below the last one run is computed for every row; the last one, whose
// output only matters at rows >= s0, computes keys and values for every
// row but everything else only for rows >= s0.
func (ws *workspace[F]) forward(toks []int, nLayers, s0 int) {
	T := len(toks)
	ws.T, ws.s0 = T, s0
	ws.embed(toks)
	for l := range nLayers {
		r0 := 0
		if l == nLayers-1 {
			r0 = s0
		}
		ws.block(l, r0)
	}
}

// block runs block l on ws.x[l] for output rows >= r0.
func (ws *workspace[F]) block(l, r0 int) {
	m := ws.m
	c := m.cfg
	T, d, f := ws.T, c.Dim, c.Inner()
	P := ws.P
	o := m.lay.layers[l]
	tp := &ws.ly[l]
	x, xm, y := ws.x[l], ws.xm[l], ws.x[l+1]

	layerNorm(tp.xhat1, tp.h1, tp.rstd1, x, P[o.ln1W:o.ln1W+d], P[o.ln1B:o.ln1B+d], d, 0, T)
	// qkv = h1 @ c_attn.weight + c_attn.bias (every row: keys and values).
	kernel.Gemm(&ws.g, false, false, T, 3*d, d, tp.h1, d, P[o.attnW:], 3*d, tp.qkv, 3*d, false)
	addBias(tp.qkv, P[o.attnB:o.attnB+3*d], 0, T)
	ws.attention(tp, r0)
	// xm = x + att @ c_proj.weight + c_proj.bias
	n := T - r0
	kernel.Gemm(&ws.g, false, false, n, d, d, tp.att[r0*d:], d, P[o.projW:], d, xm[r0*d:], d, false)
	addBias(xm, P[o.projB:o.projB+d], r0, T)
	for i := r0 * d; i < T*d; i++ {
		xm[i] += x[i]
	}
	layerNorm(tp.xhat2, tp.h2, tp.rstd2, xm, P[o.ln2W:o.ln2W+d], P[o.ln2B:o.ln2B+d], d, r0, T)
	kernel.Gemm(&ws.g, false, false, n, f, d, tp.h2[r0*d:], d, P[o.fcW:], f, tp.fpre[r0*f:], f, false)
	addBias(tp.fpre, P[o.fcB:o.fcB+f], r0, T)
	geluForward(tp.fact[r0*f:T*f], tp.ftanh[r0*f:T*f], tp.fpre[r0*f:T*f], &ws.exp)
	kernel.Gemm(&ws.g, false, false, n, d, f, tp.fact[r0*f:], f, P[o.fc2W:], d, y[r0*d:], d, false)
	addBias(y, P[o.fc2B:o.fc2B+d], r0, T)
	for i := r0 * d; i < T*d; i++ {
		y[i] += xm[i]
	}
}

// attention computes the causal self-attention of every head for query
// rows >= r0 into tp.att, keeping the probabilities in tp.probs.
func (ws *workspace[F]) attention(tp *layerTape[F], r0 int) {
	c := ws.m.cfg
	T, d, H, hd := ws.T, c.Dim, c.Heads, c.HeadDim()
	scale := 1 / math.Sqrt(float64(hd))
	for h := range H {
		pr := tp.probs[h*T*T:]
		q := tp.qkv[h*hd:]
		k := tp.qkv[d+h*hd:]
		v := tp.qkv[2*d+h*hd:]
		for i0 := r0; i0 < T; i0 += attnBlock {
			i1 := min(i0+attnBlock, T)
			// scores S[i, j] = q_i . k_j for j < i1
			kernel.Gemm(&ws.g, false, true, i1-i0, i1, hd, q[i0*3*d:], 3*d, k, 3*d, pr[i0*T:], T, false)
			for i := i0; i < i1; i++ {
				row := pr[i*T : i*T+i1]
				mx := row[0]
				for _, v := range row[1 : i+1] {
					if v > mx {
						mx = v
					}
				}
				// softmax of scale*S: exp(scale*S_j - scale*max)
				sum := expShiftSum(row[:i+1], float64(mx), scale, &ws.exp)
				inv := F(1 / sum)
				for j := 0; j <= i; j++ {
					row[j] *= inv
				}
				clear(row[i+1:])
			}
			kernel.Gemm(&ws.g, false, false, i1-i0, hd, i1, pr[i0*T:], T, v, 3*d, tp.att[i0*d+h*hd:], d, false)
		}
	}
}

// head computes the final LayerNorm and the LM head at the target positions
// and the log-probability of each target. It needs forward over all layers
// with s0 <= min(pos).
func (ws *workspace[F]) head(pos, tgt []int, allowed [][]int) {
	m := ws.m
	c := m.cfg
	d, V := c.Dim, c.VocabSize
	P := ws.P
	n := len(pos)
	xl := ws.x[c.Layers]
	for i, p := range pos {
		layerNormRow(ws.xhatf[i*d:i*d+d], ws.hf[i*d:i*d+d], &ws.rstdf[i], xl[p*d:p*d+d],
			P[m.lay.lnfW:m.lay.lnfW+d], P[m.lay.lnfB:m.lay.lnfB+d])
	}
	// logits = hf @ wte^T (the LM head is tied to the token embeddings)
	kernel.Gemm(&ws.g, false, true, n, V, d, ws.hf, d, P[m.lay.wte:], d, ws.logits, V, false)
	for i := range n {
		row := ws.logits[i*V : i*V+V]
		if i < len(allowed) && allowed[i] != nil {
			ws.lse[i] = logSumExpOf(row, allowed[i])
		} else {
			ws.lse[i] = logSumExp(row)
		}
		ws.logp[i] = float64(row[tgt[i]]) - ws.lse[i]
	}
}

// run does the forward pass of j (all blocks) and fills ws.logp.
func (ws *workspace[F]) run(j *job) {
	s0 := j.pos[0]
	for _, p := range j.pos {
		s0 = min(s0, p)
	}
	ws.reserve(len(j.toks), len(j.pos))
	ws.forward(j.toks, ws.m.cfg.Layers, s0)
	ws.head(j.pos, j.tgt, j.allowed)
}

// logSumExp is log sum_v exp(row[v]), computed in float64.
func logSumExp[F float](row []F) float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = max(mx, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(s)
}

// logSumExpOf is log sum_{v in ids} exp(row[v]), computed in float64.
func logSumExpOf[F float](row []F, ids []int) float64 {
	mx := math.Inf(-1)
	for _, v := range ids {
		mx = max(mx, float64(row[v]))
	}
	var s float64
	for _, v := range ids {
		s += math.Exp(float64(row[v]) - mx)
	}
	return mx + math.Log(s)
}

// addBias adds b to rows r0..r1-1 of the row-major matrix x (width len(b)).
func addBias[F float](x, b []F, r0, r1 int) {
	w := len(b)
	for r := r0; r < r1; r++ {
		row := x[r*w : r*w+w]
		for i, v := range b {
			row[i] += v
		}
	}
}

// layerNorm normalizes rows r0..r1-1 of x (width d): xhat = (x - mean) *
// rstd with rstd = 1/sqrt(var + LayerNormEps) (biased variance), and
// out = xhat * w + b.
func layerNorm[F float](xhat, out []F, rstd []float64, x, w, b []F, d, r0, r1 int) {
	for r := r0; r < r1; r++ {
		layerNormRow(xhat[r*d:r*d+d], out[r*d:r*d+d], &rstd[r], x[r*d:r*d+d], w, b)
	}
}

// The moments and the normalization are computed in float64 whatever F is.
func layerNormRow[F float](xhat, out []F, rstd *float64, x, w, b []F) {
	d := len(x)
	var mean float64
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(d)
	var vr float64
	for _, v := range x {
		vr += (float64(v) - mean) * (float64(v) - mean)
	}
	vr /= float64(d)
	rs := 1 / math.Sqrt(vr+LayerNormEps)
	*rstd = rs
	xhat = xhat[:d]
	out = out[:d]
	w = w[:d]
	b = b[:d]
	for i, v := range x {
		xh := (float64(v) - mean) * rs
		xhat[i] = F(xh)
		out[i] = F(xh*float64(w[i]) + float64(b[i]))
	}
}

// GELU, tanh form (HF gelu_new):
// gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
const (
	geluC = 0.7978845608028654 // sqrt(2/pi)
	geluA = 0.044715
)

// geluForward sets dst[i] = gelu(x[i]) and th[i] to its tanh term, computed
// as tanh(u) = 1 - 2/(exp(2u) + 1) (exact to ~1e-16 absolute; exp(2u)
// overflows to +Inf for large u, giving 1). dst may be x; buf is
// expShiftSum's scratch.
func geluForward[F float](dst, th, x []F, buf *[]float64) {
	dst = dst[:len(x)]
	th = th[:len(x)]
	for i, v := range x {
		th[i] = 2 * geluC * (v + geluA*v*v*v)
	}
	expShiftSum(th, 0, 1, buf)
	for i, v := range x {
		t := 1 - 2/(th[i]+1)
		th[i] = t
		dst[i] = 0.5 * v * (1 + t)
	}
}

// geluBackward sets dx[i] = dy[i] * gelu'(x[i]), given th[i], the tanh
// term of gelu(x[i]): gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 a x^2).
func geluBackward[F float](dx, dy, x, th []F) {
	dx = dx[:len(x)]
	dy = dy[:len(x)]
	th = th[:len(x)]
	for i, v := range x {
		t := th[i]
		dx[i] = dy[i] * (0.5*(1+t) + 0.5*v*(1-t*t)*geluC*(1+3*geluA*v*v))
	}
}
