package kernel

import "math"

// F32GoTile is the tile of the portable F32 kernel, 4 x 16.
const f32GoMR, f32GoNR = 4, 16

// F32Go is the portable F32 kernel and the reference every other one is
// tested against: for i < mr and j < nr,
//
//	c[i*ldc+j] += float64(s_ij),  s_ij = fl32(... fl32(fl32(0 + a_0i b_0j) + a_1i b_1j) ... + a_(k-1)i b_(k-1)j)
//
// where fl32(x + a b) is the fused multiply-add rounded once to float32
// (Fma32) and a_li = a[l*mr+i], b_lj = b[l*nr+j]. mr x nr may be any tile up
// to 16 x 32.
func F32Go(mr, nr, k int, a, b []float32, c []float64, ldc int) {
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
				// Fma32 inlined: the slow path only for float32 midpoints
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

// Fma32 returns a*b + c rounded once to float32 (round to nearest even), as
// the VFMADD231PS and FMLA instructions do. The product of two float32
// values is exact in float64, so s = a*b + c rounded to float64 differs from
// the exact value x by at most half an ulp of float64; rounding s to float32
// then gives the correctly rounded x unless s lies exactly halfway between
// two float32 values (double rounding), which the slow path resolves with
// the exact rounding error of the sum.
func Fma32(a, b, c float32) float32 {
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

// F32 runs the F32 kernel in use on an mr x nr tile when that is its tile,
// F32Go otherwise; see F32Go for the contract.
func F32(mr, nr, k int, a, b []float32, c []float64, ldc int) {
	if k > 0 && f32Arch(mr, nr, k, a, b, c, ldc) {
		return
	}
	F32Go(mr, nr, k, a, b, c, ldc)
}

// PackF32 copies rows r0..r1-1 of the row-major matrix g (row length d),
// columns pc..pc+kb-1, into dst as panels of w rows: panel p holds element
// (row r0+p*w+i, column pc+l) at dst[p*kb*w + l*w + i], zero-padded to a
// whole number of panels. It returns the packed length.
func PackF32(dst, g []float32, d, r0, r1, pc, kb, w int) int {
	rows := r1 - r0
	np := (rows + w - 1) / w
	size := np * kb * w
	dst = dst[:size]
	for p := range np {
		panel := dst[p*kb*w : (p+1)*kb*w]
		lo := r0 + p*w
		hi := min(lo+w, r1)
		if hi-lo == w && packF32Arch(panel, g, d, lo, pc, kb, w) {
			continue
		}
		if hi-lo < w {
			clear(panel)
		}
		packRows(panel, g, d, lo, hi, pc, kb, w)
	}
	return size
}

// packRows is PackF32's portable loop for one panel: rows lo..hi-1 (at most
// w), four at a time so that each step reads four rows and writes four
// adjacent panel elements.
func packRows(panel, g []float32, d, lo, hi, pc, kb, w int) {
	i := lo
	for ; i+4 <= hi; i += 4 {
		r0 := g[i*d+pc : i*d+pc+kb]
		r1 := g[(i+1)*d+pc : (i+1)*d+pc+kb]
		r2 := g[(i+2)*d+pc : (i+2)*d+pc+kb]
		r3 := g[(i+3)*d+pc : (i+3)*d+pc+kb]
		q := panel[i-lo : i-lo+(kb-1)*w+4]
		for l := range r0 {
			o := l * w
			p := q[o : o+4 : o+4]
			p[0], p[1], p[2], p[3] = r0[l], r1[l], r2[l], r3[l]
		}
	}
	for ; i < hi; i++ {
		row := g[i*d+pc : i*d+pc+kb]
		q := panel[i-lo:]
		for l, v := range row {
			q[l*w] = v
		}
	}
}

// CvtF32 sets dst[j] = float32(src[j]) for j < len(dst), or with add
// dst[j] = float32(float64(dst[j]) + src[j]): one rounding to float32 either
// way, vectorised where the kernel set has it (the same bits as the Go
// loop). src must be at least as long as dst.
func CvtF32(dst []float32, src []float64, add bool) {
	n := cvtF32Arch(dst, src, add)
	src = src[:len(dst)]
	if add {
		for j := n; j < len(dst); j++ {
			dst[j] = float32(float64(dst[j]) + src[j])
		}
		return
	}
	for j := n; j < len(dst); j++ {
		dst[j] = float32(src[j])
	}
}
