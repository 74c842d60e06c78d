package kernel

import "math"

// F64 sets the mr x nr tile of C at c (F64Tile of the kernel in use) to,
// or with add increments it by, the product of the packed panels a
// (k x mr) and b (k x nr): C(i, j) = sum over l < k of a[l*mr+i] b[l*nr+j],
// summed in increasing order of l.
func F64(k int, a, b, c []float64, ldc int, add bool) {
	if f64Arch(k, a, b, c, ldc, add) {
		return
	}
	F64Go(k, a, b, c, ldc, add)
}

// F64Go is the portable F64 kernel for the 4 x 8 tile of the Go kernel
// set: each element is summed from 0 in increasing order of l, each product
// rounded before it is added (Go does not fuse on amd64; on arm64 the
// compiler may fuse, which changes the last bits).
func F64Go(k int, a, b, c []float64, ldc int, add bool) {
	const mr, nr = 4, 8
	var acc [mr][nr]float64
	a = a[:k*mr]
	b = b[:k*nr]
	for l := 0; l < k; l++ {
		bl := b[l*nr : l*nr+nr : l*nr+nr]
		al := a[l*mr : l*mr+mr : l*mr+mr]
		for i := range mr {
			ai := al[i]
			r := &acc[i]
			r[0] += ai * bl[0]
			r[1] += ai * bl[1]
			r[2] += ai * bl[2]
			r[3] += ai * bl[3]
			r[4] += ai * bl[4]
			r[5] += ai * bl[5]
			r[6] += ai * bl[6]
			r[7] += ai * bl[7]
		}
	}
	for i := range mr {
		ci := c[i*ldc : i*ldc+nr : i*ldc+nr]
		if add {
			for j := range nr {
				ci[j] += acc[i][j]
			}
		} else {
			copy(ci, acc[i][:])
		}
	}
}

// F64Strided reports whether the kernel in use can read an unpacked A and
// a row-major B in place (HasF64Strided) and, if so, computes the F64 tile
// with A(i, l) = a[i*rs + l*cs] and B(l, j) = b[l*bs + j]. Only the
// AVX-512 set has such a kernel; elsewhere it does nothing and returns false.
func F64Strided(k int, a []float64, rs, cs int, b []float64, bs int, c []float64, ldc int, add bool) bool {
	return f64StridedArch(k, a, rs, cs, b, bs, c, ldc, add)
}

// HasF64Strided reports whether F64Strided computes anything with the
// kernel in use.
func HasF64Strided() bool { return hasF64Strided() }

// ExpShiftSum sets x[i] = exp((x[i]-shift)*scale) for every i and returns
// the sum of the new values (the normaliser of a softmax). The AVX-512
// kernel agrees with math.Exp to about 2 ulp (4e-16 relative); elsewhere it
// is math.Exp.
func ExpShiftSum(x []float64, shift, scale float64) float64 {
	s, n := expArch(x, shift, scale)
	for i := n; i < len(x); i++ {
		e := math.Exp((x[i] - shift) * scale)
		x[i] = e
		s += e
	}
	return s
}
