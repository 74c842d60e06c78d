//go:build amd64 && !purego

package coupling

import (
	"math"
	"testing"
)

// TestFMA32: fma32 is correctly rounded, checked against the exact value in
// float64 where the sum is exact (a*b + c with few significant bits) and at
// constructed midpoints.
func TestFMA32(t *testing.T) {
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
		if got := fma32(c.a, c.b, c.c); got != c.want {
			t.Errorf("fma32(%g, %g, %g) = %g, want %g", c.a, c.b, c.c, got, c.want)
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
	if got := fma32(a, b, 1); got != 1+0x1p-23 {
		t.Errorf("fma32 double rounding: got %v, want 1+2^-23", got)
	}
}
