package figure

import (
	"testing"

	"gonum.org/v1/plot"
)

// A labelled tick that is zero up to rounding (as gonum's lMin + i*step gives
// on arm64, where it is one fused multiply-add) is put at 0 and labelled as
// gonum labels an exact 0; other ticks are left alone.
func TestSnapZero(t *testing.T) {
	cases := []struct {
		in   []plot.Tick
		zero int // the tick that is 0 up to rounding
		want string
	}{
		{[]plot.Tick{{Value: -0.15, Label: "-0.15"}, {Value: -0.1, Label: "-0.1"}, {Value: -0.05, Label: "-0.05"}, {Value: -1.4e-17, Label: "-1.4e-17"}}, 3, "0"},
		{[]plot.Tick{{Value: -1, Label: "-1.0"}, {Value: -0.75}, {Value: -0.5, Label: "-0.5"}, {Value: 5.5e-17, Label: "0.0"}}, 3, "0.0"},
		{[]plot.Tick{{Value: -20, Label: "-20"}, {Value: 1e-15, Label: "0"}, {Value: 20, Label: "20"}}, 1, "0"},
	}
	for _, c := range cases {
		got := snapZero(append([]plot.Tick(nil), c.in...))
		for i, tk := range got {
			if i == c.zero {
				if tk.Value != 0 || tk.Label != c.want {
					t.Errorf("%v: tick %d = %+v, want 0 %q", c.in, i, tk, c.want)
				}
				continue
			}
			if tk != c.in[i] {
				t.Errorf("%v: tick %d changed to %+v", c.in, i, tk)
			}
		}
	}
	// An exact 0 from gonum keeps its label; nothing else moves.
	for _, r := range [][2]float64{{-0.15, 0.02}, {-3, 7}, {0, 1}, {-1e-3, 1e-3}, {1, 2}} {
		want := plot.DefaultTicks{}.Ticks(r[0], r[1])
		got := zeroTicks{}.Ticks(r[0], r[1])
		for i := range want {
			if want[i].Value != 0 && (want[i].Value > 1e-12 || want[i].Value < -1e-12) && got[i] != want[i] {
				t.Errorf("%v: tick %d = %+v, gonum %+v", r, i, got[i], want[i])
			}
		}
	}
}
