package metrics

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// ExpectedAdvantage returns the expected advantage of a flawed action a under
// Lemma 3.1 of Liu et al. (arXiv 2509.23870): the policy takes a with
// probability q, taking it lowers the success probability from p to p - r, and
// A = R - E[R]. Then E[R] = q(p-r) + (1-q)p = p - qr and
//
//	E[A | a] = (p - r) - (p - qr) = r(q - 1)
//
// which is <= 0 for r >= 0 and does not depend on p. q outside [0, 1], r
// outside [-1, 1] or NaN returns NaN.
func ExpectedAdvantage(q, r float64) float64 {
	if !validQR(q, r) {
		return math.NaN()
	}
	return r * (q - 1)
}

// AdvantageMass returns the advantage mass of a flawed action, Lemma 3.1 of
// Liu et al. (arXiv 2509.23870):
//
//	E_pi[1{a} A] = P(a) E[A | a] = q r (q - 1)  (<= 0 for r >= 0)
//
// It is the G -> infinity limit of the Dr. GRPO (no-std) group advantage; see
// GroupAdvantageMass for a finite group. Domain as ExpectedAdvantage.
func AdvantageMass(q, r float64) float64 {
	if !validQR(q, r) {
		return math.NaN()
	}
	return q * r * (q - 1)
}

// GroupExpectedAdvantage returns E[A_j | a_j] for the Dr. GRPO advantage
// A_j = R_j - mean R over a group of G independent trajectories
// (GroupAdvantages with NoStd), in the setting of Lemma 3.1:
//
//	E[A_j | a_j] = (G-1)/G r (q-1)
//
// Derivation: A_j = (1 - 1/G) R_j - (1/G) sum_{k != j} R_k, and the other
// trajectories are independent of a_j with E[R_k] = p - qr, so
// E[A_j | a_j] = (1 - 1/G)(p - r) - ((G-1)/G)(p - qr) = (G-1)/G r (q-1).
// The group mean contains R_j itself, which shrinks the lemma's value by
// (G-1)/G. G < 2 returns NaN (verl gives a singleton A = R, not R - E[R]);
// otherwise domain as ExpectedAdvantage.
func GroupExpectedAdvantage(q, r float64, G int) float64 {
	if G < 2 {
		return math.NaN()
	}
	return float64(G-1) / float64(G) * ExpectedAdvantage(q, r)
}

// GroupAdvantageMass returns the exact finite-G advantage mass of the Dr. GRPO
// advantage in the setting of Lemma 3.1 (see GroupExpectedAdvantage):
//
//	E[1{a_j} A_j] = q E[A_j | a_j] = (G-1)/G q r (q-1)
//
// G < 2 returns NaN; otherwise domain as AdvantageMass.
func GroupAdvantageMass(q, r float64, G int) float64 {
	if G < 2 {
		return math.NaN()
	}
	return float64(G-1) / float64(G) * AdvantageMass(q, r)
}

// StdAdvantageMass returns the G -> infinity limit of the advantage mass with
// std normalisation, A = (R - mean R)/(std R + eps), in the setting of Lemma
// 3.1 with Bernoulli outcomes: the group mean tends to pbar = p - qr and the
// sample std to sigma = sqrt(pbar (1 - pbar)), so
//
//	E[1{a} A] -> q r (q - 1) / sigma
//
// (eps is negligible unless sigma is). When sigma = 0 every outcome is equal
// and the limit is 0. Finite groups have no closed form (SimulateLemma); their
// sign is still <= 0 for r >= 0 (see SimulateLemma). Returns NaN when q, p or
// p - r is outside [0, 1] or NaN.
func StdAdvantageMass(q, r, p float64) float64 {
	if !validQRP(q, r, p) {
		return math.NaN()
	}
	pbar := p - q*r
	sigma := math.Sqrt(pbar * (1 - pbar))
	if sigma == 0 {
		return 0
	}
	return q * r * (q - 1) / sigma
}

func validQR(q, r float64) bool {
	return q >= 0 && q <= 1 && r >= -1 && r <= 1
}

func validQRP(q, r, p float64) bool {
	return validQR(q, r) && p >= 0 && p <= 1 && p-r >= 0 && p-r <= 1
}

// LemmaSimConfig sets SimulateLemma. The zero value is G = 8, 20000 groups, a
// 95% interval and the std-normalised GRPO advantage.
type LemmaSimConfig struct {
	G      int             // group size, at least 2; zero means 8
	Groups int             // replicate groups; zero means 20000
	Level  float64         // two-sided normal CI level in (0, 1); zero means 0.95
	Adv    AdvantageConfig // advantage convention (Adv.NoStd for Dr. GRPO)
}

// LemmaSim is the result of SimulateLemma.
type LemmaSim struct {
	Q, R, P       float64
	G, Groups     int
	NoStd         bool
	FlawedSamples int // samples that took the flawed action
	// Mass estimates the advantage mass E[1{a_j} A_j] per sample: the mean over
	// groups of (1/G) sum_j 1{a_j} A_j, with a normal CI from its standard
	// error MassSE across groups (groups are independent replicates).
	Mass   Interval
	MassSE float64
	// CondAdv estimates E[A_j | a_j] = sum 1{a}A / sum 1{a} (a ratio of group
	// means) with a delta-method standard error over groups; NaN when no
	// sample took the action.
	CondAdv   Interval
	CondAdvSE float64
	// Exact is the exact finite-G prediction of Mass, GroupAdvantageMass, and
	// ExactCond that of CondAdv, GroupExpectedAdvantage; both NaN with std
	// normalisation (no closed form).
	Exact, ExactCond float64
	// Asymptotic is the G -> infinity prediction of Mass: AdvantageMass
	// without std, StdAdvantageMass with it. AsymptoticCond = Asymptotic / q.
	Asymptotic, AsymptoticCond float64
}

// SimulateLemma checks Lemma 3.1 of Liu et al. (arXiv 2509.23870) by Monte
// Carlo over finite GRPO groups. Each of cfg.Groups groups has G independent
// trajectories; trajectory j takes the flawed action a with probability q and
// then succeeds (R = 1, else 0) with probability p - r, otherwise with
// probability p. Advantages come from GroupAdvantages with cfg.Adv. Draws per
// trajectory: one uniform for a, one for success, in order, so the result is
// deterministic for a seeded rng.
//
// Without std normalisation the exact expectation is (G-1)/G q r (q-1)
// (GroupAdvantageMass), not the lemma's q r (q-1): the group mean includes
// the sample itself. With std normalisation there is no closed form, but the
// sign is provably kept: given the other outcomes of the group, A_j is
// non-decreasing in R_j (R_j = 1 gives A_j >= 0, R_j = 0 gives A_j <= 0), and
// R_j given a_j is Bernoulli(p - r), stochastically below Bernoulli(p), so
// E[A_j | a_j] <= E[A_j | not a_j]; since sum_j A_j = 0 in every group,
// E[A_j] = 0, hence E[A_j | a_j] <= 0 and the mass is <= 0 for r >= 0. For
// large G it approaches StdAdvantageMass.
//
// Errors (matching ErrParameter): q, p or p - r outside [0, 1] or NaN, G < 2,
// negative Groups, Level outside (0, 1). With Groups == 1 the standard errors
// and intervals are NaN. A nil rng panics.
func SimulateLemma(q, r, p float64, cfg LemmaSimConfig, rng *rand.Rand) (LemmaSim, error) {
	if cfg.G == 0 {
		cfg.G = 8
	}
	if cfg.Groups == 0 {
		cfg.Groups = 20000
	}
	if cfg.Level == 0 {
		cfg.Level = 0.95
	}
	switch {
	case !validQRP(q, r, p):
		return LemmaSim{}, fmt.Errorf("%w: need q, p and p-r in [0, 1], got q=%g r=%g p=%g", ErrParameter, q, r, p)
	case cfg.G < 2:
		return LemmaSim{}, fmt.Errorf("%w: group size G=%d < 2", ErrParameter, cfg.G)
	case cfg.Groups < 0:
		return LemmaSim{}, fmt.Errorf("%w: Groups=%d < 0", ErrParameter, cfg.Groups)
	case !(cfg.Level > 0 && cfg.Level < 1):
		return LemmaSim{}, fmt.Errorf("%w: Level=%g outside (0, 1)", ErrParameter, cfg.Level)
	}
	if rng == nil {
		panic("metrics: nil rng")
	}
	G := cfg.G
	res := LemmaSim{Q: q, R: r, P: p, G: G, Groups: cfg.Groups, NoStd: cfg.Adv.NoStd}
	rewards := make([]float64, G)
	adv := make([]float64, G)
	took := make([]bool, G)
	var mom bivariate
	for range cfg.Groups {
		for j := range G {
			took[j] = rng.Float64() < q
			ps := p
			if took[j] {
				ps = p - r
			}
			rewards[j] = 0
			if rng.Float64() < ps {
				rewards[j] = 1
			}
		}
		GroupAdvantages(adv, rewards, cfg.Adv)
		var x, y float64
		for j := range G {
			if took[j] {
				x += adv[j]
				y++
				res.FlawedSamples++
			}
		}
		mom.add(x/float64(G), y/float64(G))
	}
	z := normalQuantile(cfg.Level)
	b := float64(mom.n)
	res.MassSE = math.Sqrt(mom.varX() / b)
	res.Mass = Interval{Point: mom.mx, Lo: mom.mx - z*res.MassSE, Hi: mom.mx + z*res.MassSE}
	ratio := mom.mx / mom.my
	res.CondAdvSE = math.Sqrt((mom.varX()-2*ratio*mom.covXY()+ratio*ratio*mom.varY())/b) / mom.my
	res.CondAdv = Interval{Point: ratio, Lo: ratio - z*res.CondAdvSE, Hi: ratio + z*res.CondAdvSE}
	if res.FlawedSamples == 0 {
		nan := math.NaN()
		res.CondAdv, res.CondAdvSE = Interval{nan, nan, nan}, nan
	}
	if cfg.Adv.NoStd {
		res.Exact, res.ExactCond = GroupAdvantageMass(q, r, G), GroupExpectedAdvantage(q, r, G)
		res.Asymptotic = AdvantageMass(q, r)
	} else {
		res.Exact, res.ExactCond = math.NaN(), math.NaN()
		res.Asymptotic = StdAdvantageMass(q, r, p)
	}
	res.AsymptoticCond = res.Asymptotic / q
	return res, nil
}

// normalQuantile returns z with P(|N(0,1)| <= z) = level.
func normalQuantile(level float64) float64 {
	return math.Sqrt2 * math.Erfinv(level)
}

// bivariate accumulates means, variances and the covariance of pairs
// (Welford's online update; sample moments with n-1 divisor).
type bivariate struct {
	n             int
	mx, my        float64
	sxx, syy, sxy float64
}

func (m *bivariate) add(x, y float64) {
	m.n++
	dx, dy := x-m.mx, y-m.my
	m.mx += dx / float64(m.n)
	m.my += dy / float64(m.n)
	m.sxx += dx * (x - m.mx)
	m.syy += dy * (y - m.my)
	m.sxy += dx * (y - m.my)
}

func (m *bivariate) varX() float64  { return m.sxx / float64(m.n-1) }
func (m *bivariate) varY() float64  { return m.syy / float64(m.n-1) }
func (m *bivariate) covXY() float64 { return m.sxy / float64(m.n-1) }
