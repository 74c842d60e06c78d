package metrics

import (
	"math"
	"slices"
	"testing"
)

func TestEMAHandValues(t *testing.T) {
	// w = 0.5 on (1, 2, 3): last = 0.5, 1.25, 2.125; debias by 1 - 0.5^k:
	// 0.5/0.5 = 1, 1.25/0.75 = 5/3, 2.125/0.875 = 17/7.
	x := []float64{1, 2, 3}
	got := EMA(nil, x, 0.5)
	want := []float64{1, 5.0 / 3, 17.0 / 7}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-15 {
			t.Errorf("EMA[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if !slices.Equal(x, []float64{1, 2, 3}) {
		t.Error("input modified")
	}
	// Non-finite values pass through and do not advance k: (1, NaN, 3) -> 1, NaN, (0.25+1.5)/0.75.
	got = EMA(nil, []float64{1, math.NaN(), 3}, 0.5)
	if got[0] != 1 || !math.IsNaN(got[1]) || math.Abs(got[2]-1.75/0.75) > 1e-15 {
		t.Errorf("NaN passthrough: %v", got)
	}
	// Constant series unchanged (TensorBoard #786); w = 0 is the identity.
	if got := EMA(nil, []float64{0.1, 0.1, 0.1}, 0.9); !slices.Equal(got, []float64{0.1, 0.1, 0.1}) {
		t.Errorf("constant: %v", got)
	}
	if got := EMA(nil, []float64{3, -1, 4}, 0); !slices.Equal(got, []float64{3, -1, 4}) {
		t.Errorf("w = 0: %v", got)
	}
	for _, w := range []float64{1, -0.1, math.NaN()} {
		if got := EMA(nil, []float64{1, 2}, w); !math.IsNaN(got[0]) || !math.IsNaN(got[1]) {
			t.Errorf("w = %v: %v", w, got)
		}
	}
	// In place.
	y := []float64{1, 2, 3}
	EMA(y, y, 0.5)
	if math.Abs(y[2]-17.0/7) > 1e-15 {
		t.Errorf("in place: %v", y)
	}
}
