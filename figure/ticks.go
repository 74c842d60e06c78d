package figure

import (
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
)

// zeroTicks are gonum's default ticks with a tick that is zero up to
// rounding put at 0 and labelled as gonum labels 0. gonum places labelled
// tick i at lMin + i*step, which Go's compiler fuses into one multiply-add on
// arm64 but not on amd64, so on arm64 the tick meant to be 0 of an axis from
// -0.15 by 0.05 came out as -1.4e-17 and was labelled "-1.4e-17".
type zeroTicks struct{}

func (zeroTicks) Ticks(lo, hi float64) []plot.Tick {
	return snapZero(plot.DefaultTicks{}.Ticks(lo, hi))
}

// snapZero moves a labelled tick within 1e-9 of the labelled spacing of 0 to
// 0 and relabels it the way plot.DefaultTicks formats 0: "0" when it formats
// with %g (spacings below 0.1 or of 1e7 and more), otherwise "0" with as many
// decimals as the other labels. ticks is modified in place and returned.
func snapZero(ticks []plot.Tick) []plot.Tick {
	var labelled []int
	for i, t := range ticks {
		if t.Label != "" {
			labelled = append(labelled, i)
		}
	}
	if len(labelled) < 2 {
		return ticks
	}
	d := math.Abs(ticks[labelled[1]].Value - ticks[labelled[0]].Value)
	if !(d > 0) || math.IsInf(d, 0) {
		return ticks
	}
	for k, i := range labelled {
		v := ticks[i].Value
		if v == 0 || math.Abs(v) > 1e-9*d {
			continue
		}
		// gonum's decimal exponent of the spacing: d = q 10^mag, q in [1, 5].
		mag := int(math.Floor(math.Log10(d) + 1e-6))
		label := "0"
		if mag >= -1 && mag <= 6 {
			other := ticks[labelled[(k+1)%len(labelled)]].Label
			if dot := strings.IndexByte(other, '.'); dot >= 0 {
				label = strconv.FormatFloat(0, 'f', len(other)-dot-1, 64)
			}
		}
		ticks[i].Value, ticks[i].Label = 0, label
	}
	return ticks
}
