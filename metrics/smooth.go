package metrics

import "math"

// EMA smooths a series with TensorBoard's debiased exponential moving average
// (tensorboard/components/vz_line_chart2/line-chart.ts, resmoothDataset; also
// the W&B default). With weight w and the k-th finite value y_k:
//
//	last_k = w last_{k-1} + (1-w) y_k,  last_0 = 0
//	s_k    = last_k / (1 - w^k)
//
// The division removes the bias towards the zero start: a constant series c
// gives s_k = c. As in TensorBoard, non-finite values (NaN, ±Inf) are passed
// through unchanged and do not update the average (k counts finite values
// only), and a series whose values are all equal is returned unchanged. w = 0
// is no smoothing; w must be in [0, 1), otherwise (or NaN) every output is
// NaN.
//
// The result is written to dst, which must have len(x) or be nil (allocate);
// dst may be x. Empty x returns dst[:0].
func EMA(dst, x []float64, w float64) []float64 {
	if dst == nil {
		dst = make([]float64, len(x))
	}
	if len(dst) != len(x) {
		panic("metrics: length mismatch")
	}
	if !(w >= 0 && w < 1) {
		for i := range dst {
			dst[i] = math.NaN()
		}
		return dst
	}
	constant := true
	for _, v := range x {
		if v != x[0] {
			constant = false
			break
		}
	}
	last, k := 0.0, 0
	for i, v := range x {
		if constant || math.IsNaN(v) || math.IsInf(v, 0) {
			dst[i] = v
			continue
		}
		last = last*w + (1-w)*v
		k++
		dst[i] = last / (1 - math.Pow(w, float64(k)))
	}
	return dst
}
