package coupling

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// Representation separation of good and bad samples (DESIGN.md §4): how far
// apart the actor's hidden states of good and bad actions lie. x holds n
// hidden states of length h, row-major; labels are the judge labels (1
// good, 0 bad; any other value excludes the row). GCD is meant to raise
// all three measures.

// classes returns the indices of the good and the bad rows.
func classes(x []float64, n, h int, labels []int8) (good, bad []int) {
	if n < 0 || h < 0 || len(x) != n*h || len(labels) != n {
		panic("coupling: length mismatch")
	}
	for i, l := range labels {
		switch l {
		case 1:
			good = append(good, i)
		case 0:
			bad = append(bad, i)
		}
	}
	return good, bad
}

// FisherConfig sets up FisherRatio.
type FisherConfig struct {
	// Ridge is the shrinkage of the within-class scatter, as a fraction of
	// its mean eigenvalue: S_W + Ridge tr(S_W)/h I. 0 means 1e-3; negative
	// means none (S_W must then be positive definite).
	Ridge float64
}

// FisherRatio returns Fisher's discriminant ratio of good versus bad along
// the LDA direction: the between-class over the within-class scatter of the
// projections onto w (Fisher 1936; Bishop, Pattern Recognition and Machine
// Learning, Sec. 4.1.4),
//
//	J(w) = w^T S_B w / w^T S_W' w,  w = S_W'^{-1} (m_1 - m_0)
//	     = n_0 n_1 / n (m_1 - m_0)^T S_W'^{-1} (m_1 - m_0)
//
// with class means m_c, S_B = sum_c n_c (m_c - m)(m_c - m)^T = (n_0 n_1 / n)
// (m_1 - m_0)(m_1 - m_0)^T, the within-class scatter S_W = sum_c sum_{i in
// c} (x_i - m_c)(x_i - m_c)^T and its shrunk form S_W' = S_W + lambda I,
// lambda = Ridge tr(S_W) / h (hidden states usually outnumber the samples,
// leaving S_W singular). J is the largest generalised Rayleigh quotient, so
// no other direction separates the classes better; it grows with n (a
// scatter ratio, not a variance ratio): J / n is the between over the
// within variance. Fewer than one row in a class or h = 0 returns NaN, as
// does NaN input; a singular S_W' returns +Inf.
func FisherRatio(x []float64, n, h int, labels []int8, cfg FisherConfig) float64 {
	good, bad := classes(x, n, h, labels)
	if len(good) == 0 || len(bad) == 0 || h == 0 {
		return math.NaN()
	}
	mean := func(idx []int) []float64 {
		m := make([]float64, h)
		for _, i := range idx {
			for l, v := range x[i*h : (i+1)*h] {
				m[l] += v
			}
		}
		for l := range m {
			m[l] /= float64(len(idx))
		}
		return m
	}
	m1, m0 := mean(good), mean(bad)
	sw := mat.NewSymDense(h, nil)
	dev := make([]float64, h)
	for _, c := range []struct {
		idx []int
		m   []float64
	}{{good, m1}, {bad, m0}} {
		for _, i := range c.idx {
			for l, v := range x[i*h : (i+1)*h] {
				dev[l] = v - c.m[l]
			}
			sw.SymRankOne(sw, 1, mat.NewVecDense(h, dev))
		}
	}
	ridge := cfg.Ridge
	if ridge == 0 {
		ridge = 1e-3
	}
	if ridge > 0 {
		var tr float64
		for l := range h {
			tr += sw.At(l, l)
		}
		lambda := ridge * tr / float64(h)
		for l := range h {
			sw.SetSym(l, l, sw.At(l, l)+lambda)
		}
	}
	delta := make([]float64, h)
	for l := range delta {
		delta[l] = m1[l] - m0[l]
		if math.IsNaN(delta[l]) {
			return math.NaN()
		}
	}
	var chol mat.Cholesky
	if ok := chol.Factorize(sw); !ok {
		return math.Inf(1)
	}
	var w mat.VecDense
	if err := chol.SolveVecTo(&w, mat.NewVecDense(h, delta)); err != nil {
		return math.Inf(1)
	}
	n0, n1 := float64(len(bad)), float64(len(good))
	return n0 * n1 / (n0 + n1) * mat.Dot(&w, mat.NewVecDense(h, delta))
}

// SilhouetteConfig sets up Silhouette.
type SilhouetteConfig struct {
	// Euclidean uses the Euclidean distance |x_i - x_j|; the default is the
	// cosine distance 1 - cos(x_i, x_j), blind to the scale of hidden states.
	Euclidean bool
}

// Silhouette returns the mean silhouette of the good/bad partition of the
// hidden states (Rousseeuw 1987): for each labelled row i, with a_i the mean
// distance to the other rows of its class and b_i the mean distance to the
// rows of the other class,
//
//	s_i = (b_i - a_i) / max(a_i, b_i)
//
// and s_i = 0 when i is alone in its class (as scikit-learn). The result
// lies in [-1, 1]: near 1 the classes are compact and apart, near 0 they
// overlap. The cosine distance of a zero row is 1 to every row. O(n^2 h).
// Fewer than one row in a class returns NaN, as does NaN input.
func Silhouette(x []float64, n, h int, labels []int8, cfg SilhouetteConfig) float64 {
	good, bad := classes(x, n, h, labels)
	if len(good) == 0 || len(bad) == 0 {
		return math.NaN()
	}
	idx := append(append([]int(nil), good...), bad...)
	m := len(idx)
	norm := make([]float64, m)
	for a, i := range idx {
		norm[a] = math.Sqrt(dot64(x[i*h:(i+1)*h], x[i*h:(i+1)*h]))
	}
	dist := func(a, b int) float64 {
		xi, xj := x[idx[a]*h:(idx[a]+1)*h], x[idx[b]*h:(idx[b]+1)*h]
		if cfg.Euclidean {
			var s float64
			for l, v := range xi {
				d := v - xj[l]
				s += d * d
			}
			return math.Sqrt(s)
		}
		if norm[a] == 0 || norm[b] == 0 {
			return 1
		}
		return 1 - dot64(xi, xj)/(norm[a]*norm[b])
	}
	ng := len(good)
	sumIn := make([]float64, m)  // distance sums to the own class
	sumOut := make([]float64, m) // and to the other
	for a := range m {
		for b := a + 1; b < m; b++ {
			dd := dist(a, b)
			if (a < ng) == (b < ng) {
				sumIn[a] += dd
				sumIn[b] += dd
			} else {
				sumOut[a] += dd
				sumOut[b] += dd
			}
		}
	}
	var total float64
	for a := range m {
		own, other := ng, m-ng
		if a >= ng {
			own, other = m-ng, ng
		}
		if own == 1 {
			continue
		}
		ai := sumIn[a] / float64(own-1)
		bi := sumOut[a] / float64(other)
		if den := math.Max(ai, bi); den > 0 {
			total += (bi - ai) / den
		}
	}
	return total / float64(m)
}

func dot64(x, y []float64) float64 {
	var s float64
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// ProbeConfig sets up LinearProbe. The zero value means the defaults.
type ProbeConfig struct {
	// Folds is the number of cross-validation folds; 0 means 5.
	Folds int
	// L2 is the penalty lambda/2 |w|^2 (bias not penalised) added to the
	// mean log-loss; 0 means 1e-2; negative means none.
	L2 float64
	// MaxIter caps the L-BFGS iterations per fold; 0 means 200.
	MaxIter int
}

// ProbeResult is the cross-validated accuracy of a linear probe.
type ProbeResult struct {
	// Accuracy is the share of held-out rows classified correctly, pooled
	// over the folds.
	Accuracy float64
	// FoldAccuracy is the accuracy of each fold.
	FoldAccuracy []float64
	// Majority is the accuracy of always predicting the larger class, the
	// baseline Accuracy must beat.
	Majority float64
}

// LinearProbe returns the k-fold cross-validated accuracy of L2-regularised
// logistic regression predicting good (1) versus bad (0) from the hidden
// states. Folds are stratified: the rows of each class are shuffled with
// rng and dealt to the folds in turn. Within a fold the features are
// standardised with the training rows' means and standard deviations
// (constant features are left centred), and the model
// p(good | x) = sigmoid(w.x + b) minimises
//
//	mean_i log(1 + exp(-y_i (w.x_i + b))) + L2/2 |w|^2,  y_i in {-1, +1}
//
// by L-BFGS from zero to a gradient norm of 1e-6 or
// MaxIter iterations; a held-out row is predicted good when
// w.x + b > 0. Randomness comes only from rng, so the result is fixed by
// its seed. Fewer rows in a class than folds returns an error matching
// ErrParameter; NaN in x gives NaN accuracies.
func LinearProbe(x []float64, n, h int, labels []int8, cfg ProbeConfig, rng *rand.Rand) (ProbeResult, error) {
	good, bad := classes(x, n, h, labels)
	k := cfg.Folds
	if k == 0 {
		k = 5
	}
	if k < 2 || len(good) < k || len(bad) < k {
		return ProbeResult{}, fmt.Errorf("%w: %d-fold probe with %d good and %d bad rows (need at least one per fold and class)",
			ErrParameter, k, len(good), len(bad))
	}
	lambda := cfg.L2
	if lambda == 0 {
		lambda = 1e-2
	} else if lambda < 0 {
		lambda = 0
	}
	maxIter := cfg.MaxIter
	if maxIter <= 0 {
		maxIter = 200
	}
	fold := make([]int, n)
	for _, idx := range [][]int{good, bad} {
		perm := append([]int(nil), idx...)
		rng.Shuffle(len(perm), func(a, b int) { perm[a], perm[b] = perm[b], perm[a] })
		for p, i := range perm {
			fold[i] = p % k
		}
	}
	res := ProbeResult{FoldAccuracy: make([]float64, k),
		Majority: float64(max(len(good), len(bad))) / float64(len(good)+len(bad))}
	all := append(append([]int(nil), good...), bad...)
	var correct, total int
	for f := range k {
		var train, test []int
		for _, i := range all {
			if fold[i] == f {
				test = append(test, i)
			} else {
				train = append(train, i)
			}
		}
		// standardise with the training rows
		mu := make([]float64, h)
		sd := make([]float64, h)
		for _, i := range train {
			for l, v := range x[i*h : (i+1)*h] {
				mu[l] += v
			}
		}
		for l := range mu {
			mu[l] /= float64(len(train))
		}
		for _, i := range train {
			for l, v := range x[i*h : (i+1)*h] {
				sd[l] += (v - mu[l]) * (v - mu[l])
			}
		}
		for l := range sd {
			sd[l] = math.Sqrt(sd[l] / float64(len(train)))
			if sd[l] == 0 {
				sd[l] = 1
			}
		}
		z := make([]float64, len(train)*h)
		y := make([]float64, len(train))
		for r, i := range train {
			for l, v := range x[i*h : (i+1)*h] {
				z[r*h+l] = (v - mu[l]) / sd[l]
			}
			y[r] = -1
			if labels[i] == 1 {
				y[r] = 1
			}
		}
		w := fitLogistic(z, y, h, lambda, maxIter)
		var ok int
		zi := make([]float64, h)
		for _, i := range test {
			for l, v := range x[i*h : (i+1)*h] {
				zi[l] = (v - mu[l]) / sd[l]
			}
			s := dot64(w[:h], zi) + w[h]
			if (s > 0) == (labels[i] == 1) {
				ok++
			}
			if math.IsNaN(s) {
				ok = -len(test) * 2 // poison: NaN accuracy below
			}
		}
		res.FoldAccuracy[f] = float64(ok) / float64(len(test))
		if ok < 0 {
			res.FoldAccuracy[f] = math.NaN()
		}
		correct += ok
		total += len(test)
	}
	res.Accuracy = float64(correct) / float64(total)
	if correct < 0 {
		res.Accuracy = math.NaN()
	}
	return res, nil
}

// fitLogistic returns the weights (h of them, then the bias) of L2-penalised
// logistic regression on rows z (m x h) with labels y in {-1, +1}.
func fitLogistic(z, y []float64, h int, lambda float64, maxIter int) []float64 {
	m := len(y)
	margin := make([]float64, m)
	fg := func(grad, w []float64) float64 {
		var f float64
		if grad != nil {
			clear(grad)
		}
		for r := range m {
			s := y[r] * (dot64(w[:h], z[r*h:(r+1)*h]) + w[h])
			margin[r] = s
			// log(1 + exp(-s)), stably
			if s > 0 {
				f += math.Log1p(math.Exp(-s))
			} else {
				f += -s + math.Log1p(math.Exp(s))
			}
			if grad != nil {
				// d/ds log(1+exp(-s)) = -1/(1+exp(s))
				c := -y[r] / (1 + math.Exp(s)) / float64(m)
				for l, v := range z[r*h : (r+1)*h] {
					grad[l] += c * v
				}
				grad[h] += c
			}
		}
		f /= float64(m)
		for l := range h {
			f += lambda / 2 * w[l] * w[l]
			if grad != nil {
				grad[l] += lambda * w[l]
			}
		}
		return f
	}
	return lbfgs(fg, make([]float64, h+1), maxIter, 1e-6)
}

// lbfgs minimises f from x0 by limited-memory BFGS (Nocedal and Wright,
// Numerical Optimization, Algorithm 7.5, memory 10) with a backtracking
// Armijo line search, until the gradient's max-norm falls below tol or
// after maxIter iterations. fg returns f(x) and, when grad is not nil,
// stores the gradient in it.
func lbfgs(fg func(grad, x []float64) float64, x []float64, maxIter int, tol float64) []float64 {
	const mem = 10
	dim := len(x)
	g := make([]float64, dim)
	f := fg(g, x)
	var sHist, yHist [][]float64
	var rho []float64
	dir := make([]float64, dim)
	alpha := make([]float64, mem)
	xNew := make([]float64, dim)
	gNew := make([]float64, dim)
	for it := 0; it < maxIter; it++ {
		gmax := 0.0
		for _, v := range g {
			gmax = math.Max(gmax, math.Abs(v))
		}
		if !(gmax > tol) {
			break
		}
		// two-loop recursion: dir = -H g
		copy(dir, g)
		for k := len(sHist) - 1; k >= 0; k-- {
			alpha[k] = rho[k] * dot64(sHist[k], dir)
			for l := range dir {
				dir[l] -= alpha[k] * yHist[k][l]
			}
		}
		gamma := 1.0
		if k := len(sHist) - 1; k >= 0 {
			gamma = dot64(sHist[k], yHist[k]) / dot64(yHist[k], yHist[k])
		}
		for l := range dir {
			dir[l] *= gamma
		}
		for k := range sHist {
			beta := rho[k] * dot64(yHist[k], dir)
			for l := range dir {
				dir[l] += sHist[k][l] * (alpha[k] - beta)
			}
		}
		for l := range dir {
			dir[l] = -dir[l]
		}
		slope := dot64(g, dir)
		if !(slope < 0) { // not a descent direction: restart from the gradient
			sHist, yHist, rho = sHist[:0], yHist[:0], rho[:0]
			for l := range dir {
				dir[l] = -g[l]
			}
			slope = -dot64(g, g)
		}
		step := 1.0
		if len(sHist) == 0 {
			step = math.Min(1, 1/math.Sqrt(-slope))
		}
		var fNew float64
		accepted := false
		for range 50 {
			for l := range x {
				xNew[l] = x[l] + step*dir[l]
			}
			fNew = fg(gNew, xNew)
			if fNew <= f+1e-4*step*slope {
				accepted = true
				break
			}
			step /= 2
		}
		if !accepted {
			break
		}
		sv := make([]float64, dim)
		yv := make([]float64, dim)
		for l := range x {
			sv[l] = xNew[l] - x[l]
			yv[l] = gNew[l] - g[l]
		}
		if sy := dot64(sv, yv); sy > 1e-12*math.Sqrt(dot64(sv, sv)*dot64(yv, yv)) {
			if len(sHist) == mem {
				sHist, yHist, rho = sHist[1:], yHist[1:], rho[1:]
			}
			sHist = append(sHist, sv)
			yHist = append(yHist, yv)
			rho = append(rho, 1/sy)
		}
		copy(x, xNew)
		copy(g, gNew)
		f = fNew
	}
	return x
}
