package coupling

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/gradcouple/gradcouple/internal/kernel"
)

// ProjectionKind is the distribution of the entries of a random projection.
type ProjectionKind int

const (
	// Rademacher entries are +1 or -1 with probability 1/2 (Achlioptas 2003).
	Rademacher ProjectionKind = iota
	// Gaussian entries are standard normal (Johnson-Lindenstrauss, as in
	// Dasgupta and Gupta 2003).
	Gaussian
)

// Projection is a seeded random linear map from R^D to R^K,
//
//	y = R^T g / sqrt(K),  R a D x K matrix of independent entries
//
// with E[R_lc] = 0 and E[R_lc^2] = 1, so that E[<y_i, y_j>] = <g_i, g_j>
// (the Johnson-Lindenstrauss scaling). R is never stored: entry (l, c) is a
// pure function of (Seed, l, c), a SplitMix64 hash of the three (Gaussian
// entries by the Box-Muller transform of two such hashes, rounded to
// float32), so a row projects the same alone or in any batch, on any
// number of goroutines, and a store of gradients can be projected in
// chunks. The products are summed as in Gram (float32 blocks of 256
// coordinates added in float64) and the result rounded to float32.
//
// For n rows, JLDim gives a K that preserves every inner product within
// eps |g_i| |g_j| with probability at least 1 - delta.
type Projection struct {
	D, K int
	Kind ProjectionKind
	Seed uint64
	// Workers is the number of goroutines of Project; 0 means GOMAXPROCS.
	Workers int
}

// JLDim returns the smallest K for which a Rademacher or Gaussian
// Projection of n vectors preserves all their pairwise inner products
// within eps |g_i| |g_j| (0 < eps < 1) with probability at least
// 1 - delta:
//
//	K >= 2 ln(2 n^2 / delta) / (eps^2/2 - eps^3/3)
//
// For one vector x, P(| |y|^2 - |x|^2 | > eps |x|^2) <= 2 exp(-K (eps^2/2 -
// eps^3/3) / 2) (Dasgupta and Gupta 2003, Lemma 2.2; Achlioptas 2003,
// Theorem 1.1 for Rademacher entries). An inner product of unit vectors is
// <u, v> = (|u+v|^2 - |u-v|^2)/4, so if both norms are preserved the error
// is at most eps (|u+v|^2 + |u-v|^2)/4 = eps; a union bound over the
// 2 * n(n-1)/2 < n^2 vectors u+v, u-v gives the formula. The constants are
// conservative: the classical k >= 8 ln(n)/eps^2 is of the same order.
// n < 2 returns 1; eps or delta outside (0, 1) returns 0.
func JLDim(n int, eps, delta float64) int {
	if !(eps > 0 && eps < 1 && delta > 0 && delta < 1) {
		return 0
	}
	if n < 2 {
		return 1
	}
	nn := float64(n)
	return int(math.Ceil(2 * math.Log(2*nn*nn/delta) / (eps*eps/2 - eps*eps*eps/3)))
}

// splitmix64 is the finaliser of SplitMix64 (Steele, Lea and Flood 2014).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Entry returns R_lc, the entry of the projection matrix for coordinate l
// and output c. With h = s(s(s(Seed) ^ l) + c), s the SplitMix64
// finaliser, a Rademacher entry is +1 when the top bit of h is 0 and -1
// otherwise; a Gaussian entry is sqrt(-2 ln u1) cos(2 pi u2) with
// u1 = (h>>11 + 1)/2^53 and u2 = (s(h)>>11)/2^53. Entries do not depend on
// K, so a larger K extends a smaller one.
func (p *Projection) Entry(l, c int) float32 {
	h := splitmix64(splitmix64(splitmix64(p.Seed)^uint64(l)) + uint64(c))
	if p.Kind == Rademacher {
		if h>>63 == 0 {
			return 1
		}
		return -1
	}
	h2 := splitmix64(h)
	// Box-Muller: u1 in (0, 1], u2 in [0, 1)
	u1 := (float64(h>>11) + 1) / (1 << 53)
	u2 := float64(h2>>11) / (1 << 53)
	return float32(math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2))
}

// Project returns the projections of the n rows of g (row length D) as n
// rows of length K, in dst (allocated when nil, else len(dst) must be
// n*K). g is not modified; NaN propagates into its row. A panic reports a
// length mismatch or K < 1.
func (p *Projection) Project(dst, g []float32, n int) []float32 {
	d, k := p.D, p.K
	if k < 1 || d < 0 || n < 0 || len(g) != n*d {
		panic("coupling: length mismatch")
	}
	if dst == nil {
		dst = make([]float32, n*k)
	} else if len(dst) != n*k {
		panic("coupling: length mismatch")
	}
	// Work unit: a block of up to projRows rows and one panel of nr output
	// columns; R's panel is generated per coordinate block and shared by
	// the rows of the block.
	const projRows = 1024
	mr, nr := kernel.F32Tile()
	rowBlocks := (n + projRows - 1) / projRows
	colPanels := (k + nr - 1) / nr
	units := rowBlocks * colPanels
	workers := p.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, units))
	scale := 1 / math.Sqrt(float64(k))
	kc := min(gramKC, max(d, 1))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ap := make([]float32, (projRows+mr)*kc)
			bp := make([]float32, nr*kc)
			acc := make([]float64, (projRows+mr)*nr)
			for {
				u := int(next.Add(1)) - 1
				if u >= units {
					return
				}
				rb, cp := u/colPanels, u%colPanels
				r0, r1 := rb*projRows, min((rb+1)*projRows, n)
				c0, c1 := cp*nr, min((cp+1)*nr, k)
				rows := (r1 - r0 + mr - 1) / mr * mr
				clear(acc[:rows*nr])
				for pc := 0; pc < d; pc += gramKC {
					kb := min(gramKC, d-pc)
					kernel.PackF32(ap, g, d, r0, r1, pc, kb, mr)
					for l := range kb {
						q := bp[l*nr : (l+1)*nr]
						for c := range nr {
							if c0+c < c1 {
								q[c] = p.Entry(pc+l, c0+c)
							} else {
								q[c] = 0
							}
						}
					}
					for ir := 0; ir < rows; ir += mr {
						kernel.F32(mr, nr, kb, ap[ir*kb:(ir+mr)*kb], bp[:kb*nr], acc[ir*nr:], nr)
					}
				}
				for i := r0; i < r1; i++ {
					a := acc[(i-r0)*nr:]
					o := dst[i*k+c0 : i*k+c1]
					for c := range o {
						o[c] = float32(a[c] * scale)
					}
				}
			}
		}()
	}
	wg.Wait()
	return dst
}
