package trainer

import (
	"fmt"
	"math"
	"strconv"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/policy"
)

// adam is the Adam optimizer (Kingma & Ba 2015, Algorithm 1, as PyTorch's
// torch.optim.Adam without weight decay) with global gradient-norm clipping
// (torch.nn.utils.clip_grad_norm_):
//
//	g <- g * min(1, clip / (|g| + 1e-6))          (clip > 0)
//	m <- b1 m + (1 - b1) g
//	v <- b2 v + (1 - b2) g^2
//	theta <- theta - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
//
// in float64 over the flat parameter vector. The moments are saved at full
// precision (checkpoint.OptimizerState, F64), so a resumed run continues
// with exactly the state it stopped with.
type adam struct {
	lr, b1, b2, eps, clip float64
	step                  int64
	m, v                  []float64
}

func newAdam(n int, lr, b1, b2, eps, clip float64) *adam {
	return &adam{lr: lr, b1: b1, b2: b2, eps: eps, clip: clip, m: make([]float64, n), v: make([]float64, n)}
}

// update applies one step with gradient g (of the loss, to be descended) to
// params and returns the norm of g before clipping. g is not modified.
func (a *adam) update(params, g []float64) float64 {
	var ss float64
	for _, x := range g {
		ss += x * x
	}
	norm := math.Sqrt(ss)
	scale := 1.0
	if a.clip > 0 && norm > a.clip {
		scale = a.clip / (norm + 1e-6)
	}
	a.step++
	bc1 := 1 - math.Pow(a.b1, float64(a.step))
	bc2 := 1 - math.Pow(a.b2, float64(a.step))
	for i, x := range g {
		x *= scale
		a.m[i] = a.b1*a.m[i] + (1-a.b1)*x
		a.v[i] = a.b2*a.v[i] + (1-a.b2)*x*x
		params[i] -= a.lr * (a.m[i] / bc1) / (math.Sqrt(a.v[i]/bc2) + a.eps)
	}
	return norm
}

// state returns the optimizer state in checkpoint form, keyed by the tensors
// of m.
func (a *adam) state(m *policy.Model) *checkpoint.OptimizerState {
	st := &checkpoint.OptimizerState{Step: a.step, M: map[string][]float64{}, V: map[string][]float64{},
		DType: checkpoint.F64, Extra: map[string]string{
			"optimizer": "adam",
			"lr":        strconv.FormatFloat(a.lr, 'g', -1, 64),
			"beta1":     strconv.FormatFloat(a.b1, 'g', -1, 64),
			"beta2":     strconv.FormatFloat(a.b2, 'g', -1, 64),
			"eps":       strconv.FormatFloat(a.eps, 'g', -1, 64),
			"grad_clip": strconv.FormatFloat(a.clip, 'g', -1, 64),
		}}
	for _, t := range m.Tensors() {
		st.M[t.Name] = append([]float64(nil), a.m[t.Offset:t.Offset+t.Size]...)
		st.V[t.Name] = append([]float64(nil), a.v[t.Offset:t.Offset+t.Size]...)
	}
	return st
}

// restore sets the step and moments from a checkpoint's optimizer state,
// which must cover every tensor of m.
func (a *adam) restore(m *policy.Model, st *checkpoint.OptimizerState) error {
	if st == nil {
		return fmt.Errorf("%w: checkpoint has no optimizer state", ErrRunDir)
	}
	for _, t := range m.Tensors() {
		mm, vv := st.M[t.Name], st.V[t.Name]
		if len(mm) != t.Size || len(vv) != t.Size {
			return fmt.Errorf("%w: optimizer state of %s has %d and %d values, want %d", ErrRunDir, t.Name, len(mm), len(vv), t.Size)
		}
		copy(a.m[t.Offset:], mm)
		copy(a.v[t.Offset:], vv)
	}
	a.step = st.Step
	return nil
}

// Adam is the trainer's optimizer as a checkpoint left it, for analyses
// that take the step the trainer would take next with exactly its update
// code (analysis: the Adam coupling kernel and its check against a real
// step). Step advances a copy's moments; Clone keeps the restored state.
type Adam struct {
	// LR, Beta1, Beta2, Eps and Clip are the hyperparameters as trained
	// (the checkpoint's optimizer metadata); Clip 0 means no clipping.
	LR, Beta1, Beta2, Eps, Clip float64
	a                           *adam
}

// RestoreAdam returns the optimizer of a checkpoint: the hyperparameters
// from st.Extra (lr, beta1, beta2, eps, grad_clip, as the trainer writes
// them), the step count and the moments of every tensor of m.
func RestoreAdam(m *policy.Model, st *checkpoint.OptimizerState) (*Adam, error) {
	if st == nil {
		return nil, fmt.Errorf("%w: checkpoint has no optimizer state", ErrRunDir)
	}
	if o := st.Extra["optimizer"]; o != "adam" {
		return nil, fmt.Errorf("%w: optimizer state is of %q, not adam", ErrRunDir, o)
	}
	var h [5]float64
	for k, key := range []string{"lr", "beta1", "beta2", "eps", "grad_clip"} {
		x, err := strconv.ParseFloat(st.Extra[key], 64)
		if err != nil {
			return nil, fmt.Errorf("%w: optimizer state: %s %q: %v", ErrRunDir, key, st.Extra[key], err)
		}
		h[k] = x
	}
	a := newAdam(m.NumParams(), h[0], h[1], h[2], h[3], h[4])
	if err := a.restore(m, st); err != nil {
		return nil, err
	}
	return &Adam{LR: h[0], Beta1: h[1], Beta2: h[2], Eps: h[3], Clip: h[4], a: a}, nil
}

// Steps is the number of updates taken (Adam's t before the next step).
func (o *Adam) Steps() int64 { return o.a.step }

// SecondMoment returns Adam's v over the flat parameter vector (the
// optimizer's own slice: do not modify it).
func (o *Adam) SecondMoment() []float64 { return o.a.v }

// Clone returns an independent copy of the optimizer state.
func (o *Adam) Clone() *Adam {
	c := *o
	a := *o.a
	a.m = append([]float64(nil), o.a.m...)
	a.v = append([]float64(nil), o.a.v...)
	c.a = &a
	return &c
}

// Step applies the trainer's update with loss gradient g (to be descended)
// to params, advancing the moments and the step count, and returns the
// norm of g before clipping. Unlike training it does not round params to
// float32 afterwards, so that small steps stay visible.
func (o *Adam) Step(params, g []float64) float64 { return o.a.update(params, g) }
