package hf

import (
	"fmt"
	"math"
	"slices"

	"github.com/gradcouple/gradcouple/internal/kernel"
)

// Cache is a key-value cache of one sequence: every layer's keys (after
// RoPE) and values of the tokens fed so far, so feeding more tokens costs
// only their own work. It grows as tokens are fed (nothing is allocated
// for the whole context up front). A Cache is not safe for concurrent use;
// one Model serves any number of Caches.
type Cache[F float] struct {
	m      *Model[F]
	k, v   [][]F // per layer: Len x KVDim
	n      int
	logits []F // V: after the last token fed
	w      kernel.GemmBuf[F]
	// tap, if set, sees the residual stream x (T x d) of the tokens fed:
	// at layer 0 the embeddings, at layer l+1 the output of layer l.
	tap func(layer int, x []F)
}

// NewCache returns an empty cache.
func (m *Model[F]) NewCache() *Cache[F] {
	return &Cache[F]{m: m, k: make([][]F, m.cfg.Layers), v: make([][]F, m.cfg.Layers)}
}

// Len is the number of tokens fed.
func (c *Cache[F]) Len() int { return c.n }

// Truncate forgets every token after the first n (0 <= n <= Len()); the
// logits are stale until the next Feed. Sampling several continuations of
// one prompt feeds the prompt once and truncates back to it.
func (c *Cache[F]) Truncate(n int) {
	if n < 0 || n > c.n {
		panic("hf: Cache.Truncate beyond its length")
	}
	kv := c.m.cfg.KVDim()
	for l := range c.k {
		c.k[l] = c.k[l][:n*kv]
		c.v[l] = c.v[l][:n*kv]
	}
	c.n = n
}

// Logits returns the next-token logits after the last token fed (a view,
// valid until the next Feed), or nil before the first.
func (c *Cache[F]) Logits() []F { return c.logits }

// Feed runs toks (at positions Len() .. Len()+len(toks)-1, attending to
// everything fed before) and returns the next-token logits after the last
// of them (vocab_size values, a view valid until the next Feed). A prompt
// is fed in one call (a batched pass); sampling feeds one token at a time.
// It returns an error wrapping ErrTokenID for an id outside the vocabulary
// and ErrTooLong past max_position_embeddings; the cache is then unchanged.
func (c *Cache[F]) Feed(toks ...int) ([]F, error) {
	if len(toks) == 0 {
		return c.logits, nil
	}
	if err := c.m.checkTokens(toks, c.n); err != nil {
		return nil, err
	}
	if cap(c.logits) < c.m.cfg.VocabSize {
		c.logits = make([]F, c.m.cfg.VocabSize)
	}
	c.logits = c.logits[:c.m.cfg.VocabSize]
	c.m.forward(c, toks, len(toks)-1, c.logits)
	return c.logits, nil
}

// feedChecked is Feed of one token known to be valid and to fit.
func (c *Cache[F]) feedChecked(tok int) []F {
	c.m.forward(c, []int{tok}, 0, c.logits)
	return c.logits
}

// Clone returns an independent copy of c (its keys, values and logits).
func (c *Cache[F]) Clone() *Cache[F] {
	d := &Cache[F]{m: c.m, n: c.n, k: make([][]F, len(c.k)), v: make([][]F, len(c.v)), logits: slices.Clone(c.logits)}
	for l := range c.k {
		d.k[l] = slices.Clone(c.k[l])
		d.v[l] = slices.Clone(c.v[l])
	}
	return d
}

// checkTokens checks ids and length for feeding toks after n tokens.
func (m *Model[F]) checkTokens(toks []int, n int) error {
	for i, t := range toks {
		if t < 0 || t >= m.cfg.VocabSize {
			return fmt.Errorf("token %d (at %d): id %d, vocab_size %d: %w", i, n+i, t, m.cfg.VocabSize, ErrTokenID)
		}
	}
	if n+len(toks) > m.cfg.MaxPositions {
		return fmt.Errorf("%d tokens, max_position_embeddings %d: %w", n+len(toks), m.cfg.MaxPositions, ErrTooLong)
	}
	return nil
}

// scoreRows is the number of query rows whose attention scores are held at
// once (it bounds the score buffer at scoreRows x sequence length).
const scoreRows = 128

// forward feeds toks into c and writes the logits of rows from..len(toks)-1
// (relative to toks) into logits, row after row (len(toks)-from rows of
// vocab_size). toks have been checked.
func (m *Model[F]) forward(c *Cache[F], toks []int, from int, logits []F) {
	cfg := m.cfg
	d, hd, qd, kvd, in := cfg.Hidden, cfg.HeadDim, cfg.QDim(), cfg.KVDim(), cfg.Intermediate
	T, L0 := len(toks), c.n
	S := L0 + T
	w := &c.w

	x := make([]F, T*d)
	for i, t := range toks {
		copy(x[i*d:(i+1)*d], m.embed[t*d:(t+1)*d])
	}
	h := make([]F, T*d)
	q := make([]F, T*qd)
	k := make([]F, T*kvd)
	v := make([]F, T*kvd)
	att := make([]F, T*qd)
	o := make([]F, T*d)
	g := make([]F, T*in)
	u := make([]F, T*in)
	cos, sin := m.rope(L0, T)
	rows := min(T, scoreRows)
	sc := make([]F, rows*S)
	p64 := make([]float64, S)
	group := cfg.Heads / cfg.KVHeads
	scale := 1 / math.Sqrt(float64(hd))

	if c.tap != nil {
		c.tap(0, x)
	}
	for l := range m.layers {
		ly := &m.layers[l]
		rmsNorm(h, x, ly.inNorm, d, cfg.RMSNormEps)
		linear(w, q, h, ly.wq, ly.bq, T, qd, d)
		linear(w, k, h, ly.wk, ly.bk, T, kvd, d)
		linear(w, v, h, ly.wv, ly.bv, T, kvd, d)
		if cfg.QKNorm {
			rmsNorm(q, q, ly.qNorm, hd, cfg.RMSNormEps)
			rmsNorm(k, k, ly.kNorm, hd, cfg.RMSNormEps)
		}
		applyRope(q, cos, sin, T, cfg.Heads, hd)
		applyRope(k, cos, sin, T, cfg.KVHeads, hd)
		c.k[l] = append(c.k[l][:L0*kvd], k...)
		c.v[l] = append(c.v[l][:L0*kvd], v...)
		K, V := c.k[l], c.v[l]

		for head := range cfg.Heads {
			kh := head / group
			for r0 := 0; r0 < T; r0 += rows {
				nr := min(rows, T-r0)
				ns := L0 + r0 + nr // keys any of these rows sees
				// scores = q_rows K^T * scale (row i sees keys 0..L0+r0+i)
				kernel.Gemm(w, false, true, nr, ns, hd, q[r0*qd+head*hd:], qd, K[kh*hd:], kvd, sc, ns, false)
				for i := range nr {
					row := sc[i*ns : (i+1)*ns]
					seen := L0 + r0 + i + 1
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
				kernel.Gemm(w, false, false, nr, hd, ns, sc, ns, V[kh*hd:], kvd, att[r0*qd+head*hd:], qd, false)
			}
		}
		kernel.Gemm(w, false, true, T, d, qd, att, qd, ly.wo, qd, o, d, false)
		addTo(x, o)

		rmsNorm(h, x, ly.postNorm, d, cfg.RMSNormEps)
		kernel.Gemm(w, false, true, T, in, d, h, d, ly.gate, d, g, in, false)
		kernel.Gemm(w, false, true, T, in, d, h, d, ly.up, d, u, in, false)
		for i, gv := range g {
			g[i] = silu(gv) * u[i]
		}
		kernel.Gemm(w, false, true, T, d, in, g, in, ly.down, in, o, d, false)
		addTo(x, o)
		if c.tap != nil {
			c.tap(l+1, x)
		}
	}
	c.n = S

	if from >= T {
		return
	}
	nl := T - from
	hn := h[:nl*d]
	rmsNorm(hn, x[from*d:], m.norm, d, cfg.RMSNormEps)
	kernel.Gemm(w, false, true, nl, cfg.VocabSize, d, hn, d, m.head, d, logits, cfg.VocabSize, false)
}

// linear sets dst (T x out) = src (T x in) W^T + b for an nn.Linear weight
// W (out x in) and bias b (nil: none).
func linear[F float](w *kernel.GemmBuf[F], dst, src, W, b []F, T, out, in int) {
	kernel.Gemm(w, false, true, T, out, in, src, in, W, in, dst, out, false)
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

func addTo[F float](x, y []F) {
	for i, v := range y {
		x[i] += v
	}
}

// silu is x * sigmoid(x), computed in float64.
func silu[F float](x F) F {
	v := float64(x)
	return F(v / (1 + math.Exp(-v)))
}

// rmsNorm sets each row of n values of dst to weight * (x / sqrt(mean(x^2)
// + eps)) (transformers' Qwen2RMSNorm/LlamaRMSNorm). The mean of squares
// is summed in float64; the normalised row is rounded to F before the
// weight multiplies it, as transformers rounds back to the input dtype.
// dst may be src.
func rmsNorm[F float](dst, src, weight []F, n int, eps float64) {
	rows := len(dst) / n
	for r := range rows {
		x := src[r*n : (r+1)*n]
		y := dst[r*n : (r+1)*n]
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		inv := F(1 / math.Sqrt(ss/float64(n)+eps))
		for i, v := range x {
			y[i] = weight[i] * (v * inv)
		}
	}
}

// rope returns cos and sin of the angles p * inv_freq[i] for the T
// positions p = L0 .. L0+T-1 (T x hd/2 each), computed in float64 and
// rounded to F.
func (m *Model[F]) rope(L0, T int) (cos, sin []F) {
	half := len(m.invFreq)
	cos = make([]F, T*half)
	sin = make([]F, T*half)
	for t := range T {
		p := float64(L0 + t)
		for i, f := range m.invFreq {
			s, c := math.Sincos(p * f)
			cos[t*half+i] = F(c)
			sin[t*half+i] = F(s)
		}
	}
	return cos, sin
}

// applyRope rotates each head of width hd of the T rows of x (heads*hd
// wide) in place: transformers' apply_rotary_pos_emb with rotate_half,
//
//	x'[i]      = x[i] cos_i - x[i+hd/2] sin_i
//	x'[i+hd/2] = x[i+hd/2] cos_i + x[i] sin_i     (i < hd/2)
func applyRope[F float](x, cos, sin []F, T, heads, hd int) {
	half := hd / 2
	for t := range T {
		c := cos[t*half : (t+1)*half]
		s := sin[t*half : (t+1)*half]
		for h := range heads {
			v := x[(t*heads+h)*hd : (t*heads+h+1)*hd]
			for i := range half {
				a, b := v[i], v[i+half]
				v[i] = a*c[i] - b*s[i]
				v[i+half] = b*c[i] + a*s[i]
			}
		}
	}
}
