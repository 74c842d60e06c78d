package coupling

import "math"

// The Gram micro-kernel and its operand packing.
//
// Every inner product K_ij = <g_i, g_j> of float32 rows is summed the same
// way, whichever kernel, tile size, shard or number of goroutines computes
// it: the coordinates are cut into consecutive blocks of gramKC (the last
// may be shorter); within a block the products g_i[l] g_j[l] are accumulated
// in float32 by fused multiply-adds in increasing order of l starting from 0;
// the block sums are converted to float64 and added in increasing block
// order, starting from 0. The assembly kernel and gramKernelGo implement that
// order bit for bit (TestKernelsEqual).

// gramKC is the length of a float32 accumulation block.
const gramKC = 256

// goMR x goNR is the tile of the portable kernel.
const goMR, goNR = 4, 16

// gramKernelGo increments the mr x nr float64 tile c (leading dimension ldc)
// by the float32 block sums of the packed panels a (k x mr, element (l, i)
// at a[l*mr+i]) and b (k x nr): c[i*ldc+j] += float64(sum_l a[l,i] b[l,j]),
// the sum accumulated by fused multiply-adds in increasing order of l.
func gramKernelGo(mr, nr, k int, a, b []float32, c []float64, ldc int) {
	var acc [16 * 32]float32
	t := acc[:mr*nr]
	a = a[:k*mr]
	b = b[:k*nr]
	for l := 0; l < k; l++ {
		al := a[l*mr : l*mr+mr]
		bl := b[l*nr : l*nr+nr]
		for i, ai := range al {
			ti := t[i*nr : i*nr+len(bl)]
			a64 := float64(ai)
			for j, bj := range bl {
				// fma32 inlined: the slow path only for float32 midpoints
				// and tiny sums
				p := a64 * float64(bj)
				s := p + float64(ti[j])
				if math.Float64bits(s)&(1<<29-1) != 1<<28 && math.Abs(s) >= 0x1p-126 {
					ti[j] = float32(s)
				} else {
					ti[j] = fma32Slow(p, float64(ti[j]), s)
				}
			}
		}
	}
	for i := range mr {
		ci := c[i*ldc : i*ldc+nr]
		for j, v := range t[i*nr : i*nr+nr] {
			ci[j] += float64(v)
		}
	}
}

// fma32 returns a*b + c rounded once to float32 (round to nearest even), as
// the VFMADD231PS instruction does. The product of two float32 values is
// exact in float64, so s = a*b + c rounded to float64 differs from the exact
// value x by at most half an ulp of float64; rounding s to float32 then gives
// the correctly rounded x unless s lies exactly halfway between two float32
// values (double rounding), which the slow path resolves with the exact
// rounding error of the sum.
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	s := p + float64(c)
	bits := math.Float64bits(s)
	if bits&(1<<29-1) != 1<<28 && math.Abs(s) >= 0x1p-126 {
		return float32(s)
	}
	return fma32Slow(p, float64(c), s)
}

func fma32Slow(p, c, s float64) float32 {
	r := float32(s)
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return r
	}
	d := s - float64(r)
	if d == 0 {
		return r
	}
	up := float32(math.Inf(1))
	if d < 0 {
		up = float32(math.Inf(-1))
	}
	r2 := math.Nextafter32(r, up)
	if float64(r2)-s != d {
		return r // s is not a midpoint: float32(s) is correctly rounded
	}
	// s is a midpoint and float32(s) rounded it to even; the exact sum is
	// s + e (TwoSum), which lies on r2's side of s when e has the sign of d.
	bb := s - p
	e := (p - (s - bb)) + (c - bb)
	if e != 0 && (e > 0) == (d > 0) {
		return r2
	}
	return r
}

// packPanels copies rows r0..r1-1 of g (row length d), coordinates
// pc..pc+kb-1, into dst as panels of w rows: panel p holds element
// (row r0+p*w+i, coordinate pc+l) at dst[p*kb*w + l*w + i], zero-padded to a
// whole number of panels. It returns the packed length.
func packPanels(dst, g []float32, d, r0, r1, pc, kb, w int) int {
	rows := r1 - r0
	np := (rows + w - 1) / w
	size := np * kb * w
	dst = dst[:size]
	for p := range np {
		panel := dst[p*kb*w : (p+1)*kb*w]
		lo := r0 + p*w
		hi := min(lo+w, r1)
		if hi-lo == w && packFast(panel, g, d, lo, pc, kb, w) {
			continue
		}
		if hi-lo < w {
			clear(panel)
		}
		for i := lo; i < hi; i++ {
			row := g[i*d+pc : i*d+pc+kb]
			q := panel[i-lo:]
			for l, v := range row {
				q[l*w] = v
			}
		}
	}
	return size
}
