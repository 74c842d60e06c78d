package hf

import "github.com/gradcouple/gradcouple/internal/kernel"

// Dense returns G = sum_t Delta_t Act_t^T in the tensor's layout (Out x
// In; for the input embedding In x Out with G[Tokens[t]] += Delta_t) in
// dst, which must have Out*In elements (nil: allocated). The product is
// kernel.Gemm's (float32: products summed in float32 in blocks of 256
// positions, the blocks in float64).
func (f *Factors[F]) Dense(dst []F) []F {
	if dst == nil {
		dst = make([]F, f.Out*f.In)
	}
	if len(dst) != f.Out*f.In {
		panic("hf: Factors.Dense: dst length")
	}
	if f.OneHot {
		clear(dst)
		for t, tok := range f.Tokens {
			addTo(dst[tok*f.Out:(tok+1)*f.Out], f.Delta[t*f.Out:(t+1)*f.Out])
		}
		return dst
	}
	var w kernel.GemmBuf[F]
	kernel.Gemm(&w, true, false, f.Out, f.In, len(f.Pos), f.Delta, f.Out, f.Act, f.In, dst, f.In, false)
	return dst
}

// dotBlock is the number of positions of each side whose Gram blocks
// Factors.Dot holds at once.
const dotBlock = 256

// Dot returns the inner product <G_f, G_g> of the two gradients without
// forming them:
//
//	<G_f, G_g> = sum_{t,s} (Delta_f,t . Delta_g,s) (Act_f,t . Act_g,s)
//
// where for the input embedding Act_f,t . Act_g,s is 1 when the tokens
// are equal and 0 otherwise. It costs O(R_f R_g (Out + In)) for R_f and
// R_g positions, against O(Out In) for dense gradients. The position
// Grams are kernel.Gemm products in F (blocks of dotBlock x dotBlock
// positions), their elementwise products summed in float64. f and g must
// be factors of the same tensor (it panics on a shape mismatch).
func (f *Factors[F]) Dot(g *Factors[F]) float64 {
	if f.Out != g.Out || f.In != g.In || f.OneHot != g.OneHot {
		panic("hf: Factors.Dot of factors of different tensors")
	}
	var w kernel.GemmBuf[F]
	rf, rg := len(f.Pos), len(g.Pos)
	dd := make([]F, min(rf, dotBlock)*min(rg, dotBlock))
	var aa []F
	if !f.OneHot {
		aa = make([]F, len(dd))
	}
	var sum float64
	for t0 := 0; t0 < rf; t0 += dotBlock {
		nt := min(dotBlock, rf-t0)
		for s0 := 0; s0 < rg; s0 += dotBlock {
			ns := min(dotBlock, rg-s0)
			kernel.Gemm(&w, false, true, nt, ns, f.Out, f.Delta[t0*f.Out:], f.Out, g.Delta[s0*g.Out:], g.Out, dd, ns, false)
			if f.OneHot {
				for i := range nt {
					for j := range ns {
						if f.Tokens[t0+i] == g.Tokens[s0+j] {
							sum += float64(dd[i*ns+j])
						}
					}
				}
				continue
			}
			kernel.Gemm(&w, false, true, nt, ns, f.In, f.Act[t0*f.In:], f.In, g.Act[s0*g.In:], g.In, aa, ns, false)
			for i, v := range dd[:nt*ns] {
				sum += float64(v) * float64(aa[i])
			}
		}
	}
	return sum
}

// Clone returns a deep copy of f (the factors GroupGrads passes are valid
// only during its callback).
func (f *Factors[F]) Clone() *Factors[F] {
	c := *f
	c.Pos = append([]int(nil), f.Pos...)
	c.Delta = append([]F(nil), f.Delta...)
	c.Act = append([]F(nil), f.Act...)
	c.Tokens = append([]int(nil), f.Tokens...)
	return &c
}
