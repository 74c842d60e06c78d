package coupling

import "math"

// Kernel names the inner product under which gradients couple
// (DESIGN.md §4): the optimizer's preconditioner P in K_ij = <g_i, P g_j>.
type Kernel string

const (
	// KernelSGD is P = I: the first-order effect of a plain gradient step.
	KernelSGD Kernel = "sgd"
	// KernelAdam is P = diag(1/(sqrt(v_hat)+eps)) from Adam's second
	// moments (AdamStep.Diagonal).
	KernelAdam Kernel = "adam"
	// KernelDiagonal is a diagonal preconditioner given as a vector (for
	// example Adam second moments exported by another trainer).
	KernelDiagonal Kernel = "diagonal"
)

// AdamStep is the state of an Adam optimizer (Kingma & Ba 2015, Algorithm
// 1, without weight decay) just before its next step: the hyperparameters
// as trained and the number of steps already taken.
//
// # First-order effect of one sample on the next step
//
// From the state (m, v, t), a step with loss gradient G moves the
// parameters by
//
//	Delta(G) = -LR * (m'/(1-b1^(t+1))) / (sqrt(v'/(1-b2^(t+1))) + eps),
//	m' = b1 m + (1-b1) G,   v' = b2 v + (1-b2) G^2,
//
// elementwise. Delta(0) is not zero (momentum keeps moving the parameters),
// so the effect of a sample is the change of the update it causes,
// Delta(G) - Delta(0), linearised in G. m' is linear in G and v' depends on
// G only through G^2, whose derivative vanishes at G = 0, so
//
//	Delta(G) - Delta(0) = -c P G + O(G^2),
//	c = LR (1-b1) / (1-b1^(t+1))                       (Gain),
//	P = diag(1 / (sqrt(b2 v / (1-b2^(t+1))) + eps))     (Diagonal).
//
// For the policy-gradient objective eta A_i log pi(a_i|s_i) (loss gradient
// G = -eta A_i g_i) the update changes log pi(a_j|s_j) by
//
//	Delta_ij = eta A_i c <g_j, P g_i> = eta A_i c K_ij + O(eta^2),
//
// the Adam counterpart of the SGD step's eta A_i <g_i, g_j>. The bias
// corrections are those of the step about to be taken (t+1), and v_hat =
// b2 v/(1-b2^(t+1)) is the second moment that step divides by when the new
// gradient's own square is negligible; it differs from the textbook
// v/(1-b2^t) by a factor b2 (1-b2^t)/(1-b2^(t+1)), within 1.3% for t >= 1
// at b2 = 0.999. Global gradient-norm clipping multiplies every sample's
// contribution by the same positive factor, which changes no sign and no
// cosine; it is inactive for a single sample at small eta.
type AdamStep struct {
	LR, Beta1, Beta2, Eps float64
	// Step is t, the number of updates already taken (0: fresh moments).
	Step int64
}

// Gain returns c = LR (1-b1) / (1-b1^(t+1)), the factor by which the next
// Adam step passes a new gradient (preconditioned by P) into the update.
func (a AdamStep) Gain() float64 {
	return a.LR * (1 - a.Beta1) / (1 - math.Pow(a.Beta1, float64(a.Step+1)))
}

// Diagonal returns the diagonal of Adam's preconditioner for the next step,
//
//	P_k = 1 / (sqrt(b2 v_k / (1-b2^(t+1))) + eps),
//
// from the second moments v, in dst (allocated when nil, else len(v)).
// A zero moment gives 1/eps; a negative or NaN moment gives NaN. v is not
// modified. A panic reports a length mismatch.
func (a AdamStep) Diagonal(dst, v []float64) []float64 {
	if dst == nil {
		dst = make([]float64, len(v))
	} else if len(dst) != len(v) {
		panic("coupling: length mismatch")
	}
	bc2 := 1 - math.Pow(a.Beta2, float64(a.Step+1))
	for k, x := range v {
		dst[k] = 1 / (math.Sqrt(a.Beta2*x/bc2) + a.Eps)
	}
	return dst
}

// SqrtDiagonal returns sqrt(p) elementwise as float32, the row scale that
// turns the Euclidean Gram of the scaled rows into the kernel
// <g_i, diag(p) g_j> (ScaleRows). A negative or NaN entry gives NaN.
func SqrtDiagonal(dst []float32, p []float64) []float32 {
	if dst == nil {
		dst = make([]float32, len(p))
	} else if len(dst) != len(p) {
		panic("coupling: length mismatch")
	}
	for k, x := range p {
		dst[k] = float32(math.Sqrt(x))
	}
	return dst
}

// ScaleRows multiplies each of the n rows of g (length d) elementwise by
// s (length d), in dst (allocated when nil, else len n*d; dst may be g).
// With s = sqrt(diag P) the Gram, cosines, group means, projection and
// shards of the scaled rows are those of the kernel K_ij = <g_i, P g_j>
// and the P-norms |g|_P = sqrt(<g, P g>), so C_ij = K_ij / (|g_i|_P
// |g_j|_P). NaN propagates. A panic reports a length mismatch.
func ScaleRows(dst, g []float32, n, d int, s []float32) []float32 {
	checkRows(g, n, d)
	if len(s) != d {
		panic("coupling: length mismatch")
	}
	if dst == nil {
		dst = make([]float32, n*d)
	} else if len(dst) != n*d {
		panic("coupling: length mismatch")
	}
	for i := range n {
		row, out := g[i*d:(i+1)*d], dst[i*d:(i+1)*d]
		for k, x := range row {
			out[k] = x * s[k]
		}
	}
	return dst
}
