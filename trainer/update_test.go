package trainer

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gradcouple/gradcouple/policy"
)

// tinyModel returns a small random model and sequences shaped like agent
// steps.
func tinyModel(t testing.TB, n int) (*policy.Model, []policy.Seq) {
	t.Helper()
	m, err := policy.NewModel(policy.Config{VocabSize: 30, Context: 24, Dim: 8, Layers: 1, Heads: 2}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var seqs []policy.Seq
	for range n {
		var s policy.Seq
		for range 5 + rng.IntN(8) {
			s.Prompt = append(s.Prompt, 6+rng.IntN(24))
		}
		for range 1 + rng.IntN(3) {
			s.Action = append(s.Action, 6+rng.IntN(24))
		}
		if len(seqs)%2 == 1 {
			// constrained decoding: a forced token, then choices among 3
			for t := range len(s.Action) + 1 {
				tgt := policy.EOSID
				if t < len(s.Action) {
					tgt = s.Action[t]
				}
				set := []int{tgt}
				if t > 0 {
					set = append(set, (tgt+1)%30, (tgt+2)%30)
				}
				s.Allowed = append(s.Allowed, set)
			}
		}
		seqs = append(seqs, s)
	}
	return m, seqs
}

// refLoss computes the mini-batch loss of miniBatchTerms' doc comment
// directly from the model's log-probabilities and verdicts.
func refLoss(m *policy.Model, batch []*sample, lc lossConfig) float64 {
	seqs := make([]policy.Seq, len(batch))
	for n, s := range batch {
		seqs[n] = s.seq
	}
	cur := m.TokenLogProbs(seqs)
	ver := m.Verdicts(nil, seqs)
	T := 0
	for _, s := range batch {
		for t := range s.oldLogp {
			if !s.forced[t] {
				T++
			}
		}
	}
	var L float64
	for n, s := range batch {
		for t, old := range s.oldLogp {
			if s.forced[t] {
				continue
			}
			rho := math.Exp(cur[n][t] - old)
			cl := min(max(rho, 1-lc.clip), 1+lc.clip)
			L -= min(rho*s.adv, cl*s.adv) / float64(T)
			r := s.refLogp[t] - cur[n][t]
			L += lc.beta * (math.Exp(r) - r - 1) / float64(T)
		}
		lp := ver[n].LogGood
		if s.label == policy.BadID {
			lp = ver[n].LogBad
		}
		L -= lc.lambda * lp / float64(len(batch))
	}
	return L
}

// TestMiniBatchGradient checks the gradient of the PPO-clip + k3 KL + GCD
// terms against central finite differences of the loss along random
// directions. pi_old is pi perturbed so that ratios spread over [0.6, 1.5]
// (both clipped branches occur), and pi_ref likewise.
func TestMiniBatchGradient(t *testing.T) {
	m, seqs := tinyModel(t, 12)
	rng := rand.New(rand.NewPCG(5, 6))
	cur := m.TokenLogProbs(seqs)
	var batch []*sample
	for n, s := range seqs {
		sm := &sample{seq: s, adv: rng.NormFloat64(), label: policy.GoodID}
		if n%3 == 0 {
			sm.label = policy.BadID
		}
		for t, lp := range cur[n] {
			sm.oldLogp = append(sm.oldLogp, lp+0.4*(rng.Float64()-0.5)*2)
			sm.refLogp = append(sm.refLogp, lp+0.3*rng.NormFloat64())
			sm.forced = append(sm.forced, s.Allowed != nil && len(s.Allowed[t]) == 1)
		}
		batch = append(batch, sm)
	}
	lc := lossConfig{clip: 0.2, beta: 0.3, lambda: 0.7}
	var st lossStats
	terms := miniBatchTerms(batch, cur, lc, &st)
	if st.clipped == 0 || st.clipped == float64(st.tokens) {
		t.Fatalf("clipped %v of %d tokens: want both branches", st.clipped, st.tokens)
	}
	g, _ := m.Gradient(nil, terms)
	theta := append([]float64(nil), m.Params...)
	const h = 1e-6
	for trial := range 5 {
		v := make([]float64, len(theta))
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		var want float64
		for i := range v {
			want += g[i] * v[i]
		}
		for i := range theta {
			m.Params[i] = theta[i] + h*v[i]
		}
		lp := refLoss(m, batch, lc)
		for i := range theta {
			m.Params[i] = theta[i] - h*v[i]
		}
		lm := refLoss(m, batch, lc)
		copy(m.Params, theta)
		got := (lp - lm) / (2 * h)
		if math.Abs(got-want) > 1e-6*max(1, math.Abs(want)) {
			t.Errorf("direction %d: finite difference %.10g, gradient %.10g", trial, got, want)
		}
	}
}

// TestAdam checks two steps against the formulas, with clipping.
func TestAdam(t *testing.T) {
	a := newAdam(2, 0.1, 0.9, 0.999, 1e-8, 1)
	p := []float64{1, -1}
	g := []float64{3, 4} // norm 5: scaled by 1/(5+1e-6)
	if n := a.update(p, g); n != 5 {
		t.Fatalf("norm %v, want 5", n)
	}
	// step 1: m = 0.1 g', v = 0.001 g'^2, mhat = g', vhat = g'^2: step lr*sign
	s := 1 / (5 + 1e-6)
	for i, want := range []float64{1 - 0.1*3*s/(3*s+1e-8), -1 - 0.1*4*s/(4*s+1e-8)} {
		if math.Abs(p[i]-want) > 1e-15 {
			t.Errorf("step 1: p[%d] = %v, want %v", i, p[i], want)
		}
	}
	if g[0] != 3 || g[1] != 4 {
		t.Errorf("gradient modified: %v", g)
	}
	m0, v0 := 0.1*3*s, 0.001*9*s*s
	p0 := p[0]
	a.update(p, []float64{0.5, 0}) // below the clip
	m1, v1 := 0.9*m0+0.1*0.5, 0.999*v0+0.001*0.25
	want := p0 - 0.1*(m1/(1-0.81))/(math.Sqrt(v1/(1-0.999*0.999))+1e-8)
	if math.Abs(p[0]-want) > 1e-15 {
		t.Errorf("step 2: p[0] = %v, want %v", p[0], want)
	}
}

// TestPPOUpdateLearns: on a two-armed bandit (one prompt, actions x and y,
// advantage +1 for x and -1 for y, decoding constrained to {x, y}) a few
// PPO updates raise the constrained probability of x, and the KL term keeps
// the policy nearer the reference when beta is large.
func TestPPOUpdateLearns(t *testing.T) {
	for _, beta := range []float64{0, 5} {
		m, _ := tinyModel(t, 1)
		ref := m.Clone()
		prompt := []int{7, 8, 9, 10}
		x, y := 11, 12
		seq := func(a int) policy.Seq {
			return policy.Seq{Prompt: prompt, Action: []int{a}, Allowed: [][]int{{x, y}, {policy.EOSID}}}
		}
		pX := func(m *policy.Model) float64 { return math.Exp(m.TokenLogProbs([]policy.Seq{seq(x)})[0][0]) }
		p0 := pX(m)
		opt := newAdam(m.NumParams(), 1e-2, 0.9, 0.999, 1e-8, 1)
		for it := range 10 {
			var samples []*sample
			for k := range 8 {
				a, adv := x, 1.0
				if k%2 == 1 {
					a, adv = y, -1
				}
				s := seq(a)
				old := m.TokenLogProbs([]policy.Seq{s})[0]
				r := ref.TokenLogProbs([]policy.Seq{s})[0]
				samples = append(samples, &sample{seq: s, oldLogp: old, refLogp: r, forced: []bool{false, true}, adv: adv})
			}
			perm := func(e int) []int { return rand.New(rand.NewPCG(uint64(it), uint64(e))).Perm(len(samples)) }
			ppoUpdate(m, opt, samples, lossConfig{clip: 0.2, beta: beta}, 2, 2, perm)
		}
		p1 := pX(m)
		t.Logf("beta %v: p(x) %.4f -> %.4f", beta, p0, p1)
		if !(p1 > p0+0.05) {
			t.Errorf("beta %v: p(x) went from %.4f to %.4f; want a clear rise", beta, p0, p1)
		}
	}
}
