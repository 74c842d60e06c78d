package metrics

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestLemmaClosedForms(t *testing.T) {
	// Hand values: q = 0.3, r = 0.2: E[A|a] = 0.2(-0.7) = -0.14, mass = 0.3(-0.14) = -0.042.
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-15 && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	near("ExpectedAdvantage", ExpectedAdvantage(0.3, 0.2), -0.14)
	near("AdvantageMass", AdvantageMass(0.3, 0.2), -0.042)
	near("GroupExpectedAdvantage G=4", GroupExpectedAdvantage(0.3, 0.2, 4), -0.105)
	near("GroupAdvantageMass G=4", GroupAdvantageMass(0.3, 0.2, 4), -0.0315)
	near("GroupAdvantageMass G=1", GroupAdvantageMass(0.3, 0.2, 1), math.NaN())
	near("AdvantageMass q=1", AdvantageMass(1, 0.2), 0) // always taken: no contrast
	near("AdvantageMass q>1", AdvantageMass(1.5, 0.2), math.NaN())
	near("ExpectedAdvantage NaN", ExpectedAdvantage(math.NaN(), 0.2), math.NaN())
	// Std limit: pbar = 0.6 - 0.06 = 0.54, sigma = sqrt(0.54*0.46).
	near("StdAdvantageMass", StdAdvantageMass(0.3, 0.2, 0.6), -0.042/math.Sqrt(0.54*0.46))
	near("StdAdvantageMass sigma=0", StdAdvantageMass(1, 0, 1), 0)
	near("StdAdvantageMass p-r<0", StdAdvantageMass(0.3, 0.5, 0.4), math.NaN())
}

// lemmaGrid is q in {0.1..0.9} x r in {0.05, 0.1, 0.2, 0.35, 0.5}, 45 points,
// with p = 0.5 + r/2 so that p - r = 0.5 - r/2 >= 0.25 and p <= 0.75, and
// group sizes cycling through 2, 3, 4, 8, 16.
func lemmaGrid() (pts [][3]float64, Gs []int) {
	i := 0
	for qi := 1; qi <= 9; qi++ {
		for _, r := range []float64{0.05, 0.1, 0.2, 0.35, 0.5} {
			pts = append(pts, [3]float64{float64(qi) / 10, r, 0.5 + r/2})
			Gs = append(Gs, []int{2, 3, 4, 8, 16}[i%5])
			i++
		}
	}
	return pts, Gs
}

// The no-std Monte Carlo agrees with the exact finite-G value (G-1)/G q r (q-1)
// at every grid point. Each of the 45 intervals is a 99.9% normal interval: a
// Bonferroni correction (0.05/45 = 0.0011 per point) keeps the chance of any
// false failure over the grid below 5% for a random seed.
func TestSimulateLemmaNoStdMatchesExactFiniteG(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 41))
	pts, Gs := lemmaGrid()
	for i, pt := range pts {
		q, r, p := pt[0], pt[1], pt[2]
		s, err := SimulateLemma(q, r, p, LemmaSimConfig{G: Gs[i], Groups: 20000, Level: 0.999, Adv: AdvantageConfig{NoStd: true}}, rng)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Mass.Contains(s.Exact) {
			t.Errorf("q=%.1f r=%.2f p=%.3f G=%d: mass %v, exact %v", q, r, p, Gs[i], s.Mass, s.Exact)
		}
		if !s.CondAdv.Contains(s.ExactCond) {
			t.Errorf("q=%.1f r=%.2f p=%.3f G=%d: E[A|a] %v, exact %v", q, r, p, Gs[i], s.CondAdv, s.ExactCond)
		}
		if want := GroupAdvantageMass(q, r, Gs[i]); s.Exact != want || s.Asymptotic != AdvantageMass(q, r) {
			t.Errorf("predictions %v %v", s.Exact, s.Asymptotic)
		}
	}
}

// The finite-G factor matters: at G = 2 the lemma's G -> infinity value
// q r (q-1) is rejected while (G-1)/G q r (q-1) is not.
func TestSimulateLemmaFiniteGCorrectionIsNeeded(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	s, err := SimulateLemma(0.5, 0.5, 0.75, LemmaSimConfig{G: 2, Groups: 20000, Level: 0.999, Adv: AdvantageConfig{NoStd: true}}, rng)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Mass.Contains(-0.0625) || s.Mass.Contains(-0.125) {
		t.Errorf("G=2 mass %v: want -0.0625 inside and -0.125 outside", s.Mass)
	}
}

// With std normalisation the mass is <= 0 at every grid point (the interval
// reaches 0 or below; 99.9% as above), and most points are significantly
// negative.
func TestSimulateLemmaStdMassNonPositive(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 9))
	pts, Gs := lemmaGrid()
	negative := 0
	for i, pt := range pts {
		s, err := SimulateLemma(pt[0], pt[1], pt[2], LemmaSimConfig{G: Gs[i], Groups: 20000, Level: 0.999}, rng)
		if err != nil {
			t.Fatal(err)
		}
		if s.Mass.Lo > 0 {
			t.Errorf("q=%.1f r=%.2f G=%d: std mass %v > 0", pt[0], pt[1], Gs[i], s.Mass)
		}
		if s.Mass.Hi < 0 {
			negative++
		}
		if !math.IsNaN(s.Exact) {
			t.Errorf("std: Exact = %v, want NaN (no closed form)", s.Exact)
		}
	}
	if negative < 40 {
		t.Errorf("only %d of %d grid points significantly negative", negative, len(pts))
	}
}

// With std normalisation the mass approaches q r (q-1)/sqrt(pbar(1-pbar)) as G
// grows; the finite-G deficit shrinks roughly like 1/G (measured about 13% at
// G = 8 and 1% at G = 128; Monte Carlo SE here is about 0.2%).
func TestSimulateLemmaStdApproachesAsymptote(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 13))
	for _, pt := range [][3]float64{{0.3, 0.2, 0.6}, {0.7, 0.4, 0.5}} {
		prev := math.Inf(1)
		for _, G := range []int{8, 32, 128} {
			s, err := SimulateLemma(pt[0], pt[1], pt[2], LemmaSimConfig{G: G, Groups: 1600000 / G}, rng)
			if err != nil {
				t.Fatal(err)
			}
			dev := math.Abs(s.Mass.Point/s.Asymptotic - 1)
			if dev >= prev {
				t.Errorf("q=%v r=%v G=%d: relative deviation %v did not shrink (was %v)", pt[0], pt[1], G, dev, prev)
			}
			prev = dev
		}
		if prev > 0.025 {
			t.Errorf("q=%v r=%v: relative deviation at G=128 is %v", pt[0], pt[1], prev)
		}
	}
}

func TestSimulateLemmaErrorsAndDeterminism(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct {
		q, r, p float64
		cfg     LemmaSimConfig
	}{
		{1.2, 0.1, 0.5, LemmaSimConfig{}},
		{0.5, 0.6, 0.5 + 0.05, LemmaSimConfig{}}, // p - r < 0
		{0.5, 0.1, 0.5, LemmaSimConfig{G: 1}},
		{0.5, 0.1, 0.5, LemmaSimConfig{Groups: -1}},
		{0.5, 0.1, 0.5, LemmaSimConfig{Level: 1.5}},
	} {
		if _, err := SimulateLemma(c.q, c.r, c.p, c.cfg, rng); !errors.Is(err, ErrParameter) {
			t.Errorf("%+v: err = %v, want ErrParameter", c, err)
		}
	}
	a, _ := SimulateLemma(0.4, 0.2, 0.6, LemmaSimConfig{Groups: 500}, rand.New(rand.NewPCG(3, 3)))
	b, _ := SimulateLemma(0.4, 0.2, 0.6, LemmaSimConfig{Groups: 500}, rand.New(rand.NewPCG(3, 3)))
	if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", b) { // %v: NaN fields compare equal
		t.Errorf("same seed, different result:\n%+v\n%+v", a, b)
	}
}
