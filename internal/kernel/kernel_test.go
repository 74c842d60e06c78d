package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// f32Case is one packed problem for an F32 kernel: panels a (k x mr) and b
// (k x nr) and a float64 tile c with leading dimension ldc > nr, so that a
// write past column nr-1 would show.
type f32Case struct {
	k    int
	a, b []float32
	c    []float64
	ldc  int
}

// f32Cases builds the shared table for a tile mr x nr: k from 1 to past 256,
// not multiples of the unrolls included; entries from normal draws over 40
// binades, small integers and values 1 + j 2^-23 that make float32 ties
// (Fma32's slow path) likely; and the double-rounding case of TestFma32
// planted at element (0, 0).
func f32Cases(rng *rand.Rand, mr, nr int) []f32Case {
	var cs []f32Case
	for _, k := range []int{1, 2, 3, 4, 5, 7, 8, 9, 17, 31, 64, 255, 256, 1 + rng.IntN(300)} {
		a := make([]float32, k*mr)
		b := make([]float32, k*nr)
		for i := range a {
			a[i] = float32(rng.NormFloat64())
			if i%7 == 0 {
				a[i] = float32(rng.IntN(9) - 4)
			}
		}
		for i := range b {
			b[i] = float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(40)-20)))
			if i%5 == 0 {
				b[i] = 1 + float32(rng.IntN(1<<12))/(1<<23)
			}
		}
		if k >= 2 {
			// element (0, 0) is fma(A, B, 1*1), the double-rounding case
			a[0], b[0] = 1, 1
			a[mr], b[nr] = math.Float32frombits(1073097259), math.Float32frombits(855973175)
			for i := 1; i < mr; i++ {
				a[i] = 0
			}
			for j := 1; j < nr; j++ {
				b[nr+j] = 0
			}
			for l := 2; l < k; l++ {
				a[l*mr] = 0
			}
		}
		ldc := nr + 1 + rng.IntN(8)
		c := make([]float64, (mr-1)*ldc+nr+3)
		for i := range c {
			c[i] = rng.NormFloat64()
		}
		cs = append(cs, f32Case{k, a, b, c, ldc})
	}
	return cs
}

// TestF32Kernels is the shared table every F32 kernel passes: on the same
// packed panels, each kernel set the machine runs gives the bits of F32Go
// (tolerance 0: all sum by float32 fused multiply-adds in the same order),
// leaves c outside its tile untouched, and the double-rounding case at
// element (0, 0) comes out as Fma32 rounds it.
func TestF32Kernels(t *testing.T) {
	for _, id := range Runnable() {
		mr, nr := id.F32Tile()
		t.Run(fmt.Sprintf("%s-%dx%d", id, mr, nr), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, uint64(id)))
			for _, kc := range f32Cases(rng, mr, nr) {
				got := slices.Clone(kc.c)
				want := slices.Clone(kc.c)
				func() {
					defer Use(id)()
					F32(mr, nr, kc.k, kc.a, kc.b, got, kc.ldc)
				}()
				F32Go(mr, nr, kc.k, kc.a, kc.b, want, kc.ldc)
				for i := range got {
					if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
						t.Fatalf("k=%d ldc=%d: element %d (row %d, col %d): %s %v, go %v",
							kc.k, kc.ldc, i, i/kc.ldc, i%kc.ldc, id, got[i], want[i])
					}
				}
				if kc.k >= 2 {
					// 1 + A*B with the float32 sum rounded once: 1 + 2^-23
					if d := got[0] - kc.c[0]; float32(d) != 1+0x1p-23 {
						t.Fatalf("k=%d: double-rounding case gives %v, want 1+2^-23", kc.k, d)
					}
				}
			}
		})
	}
}

// TestPackF32: every kernel set packs the same panels as the Go loop, for
// both AVX-512 panel widths and ragged row and column counts.
func TestPackF32(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, d := range []int{17, 64, 300} {
		n := 70
		g := make([]float32, n*d)
		for i := range g {
			g[i] = float32(rng.NormFloat64())
		}
		for _, w := range []int{6, 14, 16, 32} {
			for _, r := range [][2]int{{0, n}, {3, 40}, {32, 64}} {
				for _, pc := range []int{0, 1, d / 2} {
					kb := d - pc
					var want []float32
					for _, id := range Runnable() {
						dst := make([]float32, (n/w+2)*w*d)
						func() {
							defer Use(id)()
							dst = dst[:PackF32(dst, g, d, r[0], r[1], pc, kb, w)]
						}()
						if want == nil {
							want = dst
							for p := range (r[1] - r[0] + w - 1) / w {
								for l := range kb {
									for i := range w {
										row := r[0] + p*w + i
										v := float32(0)
										if row < r[1] {
											v = g[row*d+pc+l]
										}
										if got := dst[p*kb*w+l*w+i]; got != v {
											t.Fatalf("d=%d w=%d rows %v pc=%d: panel %d (%d, %d) = %v, want %v", d, w, r, pc, p, l, i, got, v)
										}
									}
								}
							}
							continue
						}
						if !slices.Equal(dst, want) {
							t.Fatalf("d=%d w=%d rows %v pc=%d: %s packs differently from go", d, w, r, pc, id)
						}
					}
				}
			}
		}
	}
}

// TestFma32: Fma32 is correctly rounded, checked against the exact value in
// float64 where the sum is exact (a*b + c with few significant bits) and at
// constructed midpoints.
func TestFma32(t *testing.T) {
	// 1 + 2^-24 is halfway between 1 and 1+2^-23; the tiny product decides.
	one := float32(1)
	half := float32(0x1p-24)
	for _, c := range []struct {
		a, b, c, want float32
	}{
		{half, 1, one, 1},                      // exact midpoint: ties to even
		{half, 1 + 0x1p-23, one, 1 + 0x1p-23},  // just above: rounds up
		{half, 1 - 0x1p-24, one, 1},            // just below: rounds down
		{-half, 1 + 0x1p-23, one, 1 - 0x1p-24}, // below 1 the spacing halves
		{3, 5, 7, 22},
		{float32(math.Inf(1)), 1, 1, float32(math.Inf(1))},
	} {
		if got := Fma32(c.a, c.b, c.c); got != c.want {
			t.Errorf("Fma32(%g, %g, %g) = %g, want %g", c.a, c.b, c.c, got, c.want)
		}
	}
	// A case found by search (exact rationals in Python): the float64 sum
	// a*b + 1 rounds to the midpoint 1 + 2^-24, which float32() rounds to
	// even (1), but the exact sum lies above it.
	a := math.Float32frombits(1073097259) // 1.9231618642807007
	b := math.Float32frombits(855973175)  // 3.099304635156841e-08
	if naive := float32(float64(a)*float64(b) + 1); naive != 1 {
		t.Fatalf("naive = %v, the case is not a double-rounding case", naive)
	}
	if got := Fma32(a, b, 1); got != 1+0x1p-23 {
		t.Errorf("Fma32 double rounding: got %v, want 1+2^-23", got)
	}
}

// f64Ref is the reference for an F64 kernel of any tile: each element summed
// from 0 in increasing order of l with math.FMA, as the assembly kernels do.
func f64Ref(mr, nr, k int, a, b, c []float64, ldc int, add bool) {
	for i := range mr {
		for j := range nr {
			var s float64
			for l := range k {
				s = math.FMA(a[l*mr+i], b[l*nr+j], s)
			}
			if add {
				c[i*ldc+j] += s
			} else {
				c[i*ldc+j] = s
			}
		}
	}
}

// TestF64Kernels: every F64 kernel the machine runs gives the bits of f64Ref
// (fused multiply-adds in the same order) — the portable Go kernel, which
// rounds each product, within 1e-14 of the sum of absolute products — sets
// or increments as asked, and leaves c outside its tile untouched.
func TestF64Kernels(t *testing.T) {
	for _, id := range Runnable() {
		mr, nr := id.F64Tile()
		t.Run(fmt.Sprintf("%s-%dx%d", id, mr, nr), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(6, uint64(id)))
			for _, k := range []int{1, 2, 3, 5, 8, 17, 64, 255, 256, 300} {
				a := make([]float64, k*mr)
				b := make([]float64, k*nr)
				for i := range a {
					a[i] = rng.NormFloat64()
				}
				for i := range b {
					b[i] = rng.NormFloat64() * math.Pow(2, float64(rng.IntN(20)-10))
				}
				ldc := nr + 1 + rng.IntN(5)
				c0 := make([]float64, (mr-1)*ldc+nr+2)
				for i := range c0 {
					c0[i] = rng.NormFloat64()
				}
				for _, add := range []bool{false, true} {
					got, want := slices.Clone(c0), slices.Clone(c0)
					func() {
						defer Use(id)()
						F64(k, a, b, got, ldc, add)
					}()
					f64Ref(mr, nr, k, a, b, want, ldc, add)
					for i := range got {
						r, col := i/ldc, i%ldc
						if r >= mr || col >= nr {
							if got[i] != c0[i] {
								t.Fatalf("k=%d add=%v: wrote outside the tile at (%d, %d)", k, add, r, col)
							}
							continue
						}
						tol := 0.0
						if id == Go {
							var abs float64
							for l := range k {
								abs += math.Abs(a[l*mr+r] * b[l*nr+col])
							}
							tol = 1e-14 * (abs + math.Abs(c0[i]))
						}
						if math.Abs(got[i]-want[i]) > tol {
							t.Fatalf("k=%d add=%v (%d, %d): %s %v, reference %v", k, add, r, col, id, got[i], want[i])
						}
					}
				}
			}
		})
	}
}

// TestF64Strided: the in-place kernel, where there is one, agrees bit for
// bit with F64 on the same operands packed.
func TestF64Strided(t *testing.T) {
	for _, id := range Runnable() {
		restore := Use(id)
		if !HasF64Strided() {
			restore()
			continue
		}
		mr, nr := F64Tile()
		rng := rand.New(rand.NewPCG(7, 7))
		for _, k := range []int{1, 7, 64, 129} {
			// A stored transposed (cs = lda), B row-major with a wider stride
			lda, bs := mr+3, nr+5
			at := make([]float64, k*lda)
			bm := make([]float64, k*bs)
			for i := range at {
				at[i] = rng.NormFloat64()
			}
			for i := range bm {
				bm[i] = rng.NormFloat64()
			}
			ap := make([]float64, k*mr)
			bp := make([]float64, k*nr)
			for l := range k {
				copy(ap[l*mr:l*mr+mr], at[l*lda:])
				copy(bp[l*nr:l*nr+nr], bm[l*bs:])
			}
			got := make([]float64, mr*nr)
			want := make([]float64, mr*nr)
			if !F64Strided(k, at, 1, lda, bm, bs, got, nr, false) {
				t.Fatalf("%s: HasF64Strided but F64Strided did nothing", id)
			}
			F64(k, ap, bp, want, nr, false)
			if !slices.Equal(got, want) {
				t.Fatalf("%s k=%d: strided kernel differs from packed", id, k)
			}
		}
		restore()
	}
}

// TestExpShiftSum: with every kernel set, ExpShiftSum agrees with math.Exp
// to 4e-16 relative (about 2 ulp) on [-700, 700], to that plus one
// subnormal spacing in the subnormal range, underflows to 0 and overflows
// to +Inf where math.Exp does, passes NaN through, and sums what it stores.
func TestExpShiftSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, 4099)
	for i := range x {
		switch i % 4 {
		case 0:
			x[i] = -700 * rng.Float64()
		case 1:
			x[i] = 700 * rng.Float64()
		case 2:
			x[i] = rng.NormFloat64()
		default:
			x[i] = 1e-3 * rng.NormFloat64()
		}
	}
	x[0], x[1], x[2], x[3] = -800, 800, 0, -1e6
	// the subnormal range, the edges of 0 and +Inf, and a NaN
	for i, v := range []float64{-708.5, -720, -730.1, -740, -744.4, -745.1, -745.2, -746, 709, 710, -750, -751, math.Inf(-1), math.Inf(1)} {
		x[4+i] = v
	}
	x[30] = math.NaN()
	for _, id := range Runnable() {
		y := slices.Clone(x)
		func() {
			defer Use(id)()
			ExpShiftSum(y, 0, 1)
		}()
		for i, v := range x {
			e := math.Exp(v)
			switch {
			case math.IsNaN(e):
				if !math.IsNaN(y[i]) {
					t.Fatalf("%s: exp(NaN) = %v", id, y[i])
				}
			case e < 0x1p-1022: // subnormal: the last rounding is absolute
				if math.Abs(y[i]-e) > 4e-16*e+0x1p-1074 {
					t.Fatalf("%s: exp(%v) = %v, want %v", id, v, y[i], e)
				}
			case e == 0 || math.IsInf(e, 1):
				if y[i] != e {
					t.Fatalf("%s: exp(%v) = %v, want %v", id, v, y[i], e)
				}
			case math.Abs(y[i]-e) > 4e-16*e:
				t.Fatalf("%s: exp(%v) = %v, want %v (rel err %.2g)", id, v, y[i], e, math.Abs(y[i]-e)/e)
			}
		}
		z := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}
		var s float64
		func() {
			defer Use(id)()
			s = ExpShiftSum(z, 9, 0.5)
		}()
		var ws float64
		for i, v := range z {
			e := math.Exp((float64(i+1) - 9) * 0.5)
			ws += e
			if math.Abs(v-e) > 4e-16*e {
				t.Errorf("%s: ExpShiftSum[%d] = %v, want %v", id, i, v, e)
			}
		}
		if math.Abs(s-ws) > 1e-15*ws {
			t.Errorf("%s: ExpShiftSum sum %v, want %v", id, s, ws)
		}
	}
}

// TestSelect: GRADCOUPLE_KERNEL picks any supported kernel set; empty means
// the fastest; an unknown or unsupported value gives the fastest and a note
// that Name shows.
func TestSelect(t *testing.T) {
	all := func(id ID) bool { return id != NEON }
	avx2 := func(id ID) bool { return id <= AVX2 }
	arm := func(id ID) bool { return id == Go || id == NEON }
	goOnly := func(id ID) bool { return id == Go }
	for _, c := range []struct {
		req       string
		supported func(ID) bool
		want      ID
		note      string
	}{
		{"", all, AVX512, ""},
		{"", avx2, AVX2, ""},
		{"", arm, NEON, ""},
		{"", goOnly, Go, ""},
		{"go", all, Go, ""},
		{"avx2", all, AVX2, ""},
		{" AVX512 ", all, AVX512, ""},
		{"go", arm, Go, ""},
		{"avx512", avx2, AVX2, "not supported"},
		{"avx2", goOnly, Go, "not supported"},
		{"neon", all, AVX512, "not supported"},
		{"avx1024", arm, NEON, "unknown"},
	} {
		got := selectID(c.req, c.supported)
		if got.id != c.want || !strings.Contains(got.note, c.note) || (c.note == "") != (got.note == "") {
			t.Errorf("selectID(%q) = %v %q, want %v with a note containing %q", c.req, got.id, got.note, c.want, c.note)
		}
	}
	saved := choice
	defer func() { choice = saved }()
	choice = selectID("avx1024", goOnly)
	if got, want := Name(), "go (GRADCOUPLE_KERNEL=avx1024 is unknown (want avx512, avx2, neon or go))"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
}

// TestCvtF32: with every kernel set, CvtF32 gives the bits of Go's
// conversions (one rounding to nearest even) on lengths around the vector
// width, for values that round up, down and to even, overflow to Inf,
// become subnormal or zero, and for Inf and NaN.
func TestCvtF32(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	special := []float64{0, math.Copysign(0, -1), 1 + 0x1p-24, 1 + 3*0x1p-24, 1 - 0x1p-25, 0x1p-140, -0x1p-150, 3.5e38, -1e39, math.Inf(1), math.NaN(), 0x1p-126 * (1 - 0x1p-30)}
	for _, n := range []int{0, 1, 7, 8, 9, 16, 31, 100} {
		src := make([]float64, n)
		d0 := make([]float32, n)
		for i := range src {
			src[i] = rng.NormFloat64() * math.Pow(2, float64(rng.IntN(60)-30))
			if i%3 == 0 {
				src[i] = special[rng.IntN(len(special))]
			}
			d0[i] = float32(rng.NormFloat64())
		}
		for _, add := range []bool{false, true} {
			want := slices.Clone(d0)
			for j := range want {
				if add {
					want[j] = float32(float64(want[j]) + src[j])
				} else {
					want[j] = float32(src[j])
				}
			}
			for _, id := range Runnable() {
				got := slices.Clone(d0)
				func() {
					defer Use(id)()
					CvtF32(got, src, add)
				}()
				for j := range got {
					if math.Float32bits(got[j]) != math.Float32bits(want[j]) && !(got[j] != got[j] && want[j] != want[j]) {
						t.Fatalf("%s n=%d add=%v: [%d] = %v, want %v (src %v)", id, n, add, j, got[j], want[j], src[j])
					}
				}
			}
		}
	}
}
