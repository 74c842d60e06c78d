package metrics

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// massWorld generates Dr. GRPO logs for one recurring state: groups of G
// trajectories each visit state once and take "flawed" with probability q,
// else "good1" or "good2" with equal probability; success has probability
// p - r after "flawed" and p otherwise. Each trajectory also visits its own
// unique state (below MinVisits). Advantages are Advantages with NoStd.
// With grouped false the Group field is left empty.
func massWorld(acc *MassAccumulator, rng *rand.Rand, state string, q, r, p float64, groups, G int, grouped bool) {
	for g := range groups {
		rewards := make([]float64, G)
		actions := make([]string, G)
		for j := range G {
			u := rng.Float64()
			switch {
			case u < q:
				actions[j] = "flawed"
			case u < q+(1-q)/2:
				actions[j] = "good1"
			default:
				actions[j] = "good2"
			}
			ps := p
			if actions[j] == "flawed" {
				ps = p - r
			}
			if rng.Float64() < ps {
				rewards[j] = 1
			}
		}
		adv := GroupAdvantages(nil, rewards, AdvantageConfig{NoStd: true})
		for j := range G {
			traj := fmt.Sprintf("%s-g%d-t%d", state, g, j)
			group := ""
			if grouped {
				group = fmt.Sprintf("%s-g%d", state, g)
			}
			acc.Add(MassSample{State: state, Traj: traj, Group: group, Action: actions[j], Success: rewards[j] == 1, Advantage: adv[j]})
			acc.Add(MassSample{State: "tail-" + traj, Traj: traj, Group: group, Action: "done", Success: rewards[j] == 1, Advantage: adv[j]})
		}
	}
}

// massTruth returns the true q_b, r_b and finite-G Dr. GRPO mass of action b
// in massWorld. For any action b with probability q_b and success p_b, and
// pbar = sum_b q_b p_b: r_b = (pbar - q_b p_b)/(1 - q_b) - p_b and the mass is
// (G-1)/G q_b (p_b - pbar) = (G-1)/G q_b r_b (q_b - 1), as in Lemma 3.1.
func massTruth(action string, q, r, p float64, G int) (qb, rb, mass float64) {
	pbar := p - q*r
	pb := p
	qb = (1 - q) / 2
	if action == "flawed" {
		qb, pb = q, p-r
	}
	rb = (pbar-qb*pb)/(1-qb) - pb
	return qb, rb, float64(G-1) / float64(G) * qb * (pb - pbar)
}

// On synthetic logs with known q, r and p, the estimator recovers q, r, the
// advantage mass and the prediction q r (q-1) within its bootstrap intervals,
// for the flawed action and for the others. 99.9% intervals: 24 checks with a
// fixed seed; at 95% about one would fail by chance for an arbitrary seed.
func TestMassAccumulatorRecoversSyntheticTruth(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 19))
	const G = 8
	worlds := map[string][3]float64{"sA": {0.3, 0.25, 0.7}, "sB": {0.6, 0.4, 0.8}}
	var acc MassAccumulator
	for _, s := range []string{"sA", "sB"} {
		w := worlds[s]
		massWorld(&acc, rng, s, w[0], w[1], w[2], 150, G, true)
	}
	est := acc.Estimate(MassConfig{Bootstrap: BootstrapConfig{Resamples: 2000, Level: 0.999}}, rng)
	if len(est) != 6 { // 2 states x 3 actions; tail states have 1 visit each
		t.Fatalf("%d estimates, want 6: %+v", len(est), est)
	}
	for _, e := range est {
		w := worlds[e.State]
		qb, rb, mass := massTruth(e.Action, w[0], w[1], w[2], G)
		if e.Visits != 1200 || e.Trajectories != 1200 || e.Clusters != 150 || !e.ByGroup || e.Undefined != 0 {
			t.Errorf("%s/%s: visits %d trajectories %d clusters %d undefined %d", e.State, e.Action, e.Visits, e.Trajectories, e.Clusters, e.Undefined)
		}
		for _, c := range []struct {
			name string
			iv   Interval
			want float64
		}{
			{"q", e.Q, qb}, {"r", e.R, rb}, {"mass", e.Mass, mass}, {"prediction", e.Prediction, AdvantageMass(qb, rb)},
		} {
			if !c.iv.Contains(c.want) {
				t.Errorf("%s/%s: %s %+v does not contain %v", e.State, e.Action, c.name, c.iv, c.want)
			}
		}
	}
	// Determinism: a second run with the same seed agrees exactly.
	rng1 := rand.New(rand.NewPCG(1, 2))
	rng2 := rand.New(rand.NewPCG(1, 2))
	a := acc.Estimate(MassConfig{Bootstrap: BootstrapConfig{Resamples: 100}}, rng1)
	b := acc.Estimate(MassConfig{Bootstrap: BootstrapConfig{Resamples: 100}}, rng2)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Error("same seed, different estimates")
	}
}

// The 95% bootstrap interval of the mass covers the truth about 95% of the
// time over independent synthetic logs when resampling by rollout group (200
// replications: binomial sd 1.5%). Resampling single trajectories ignores that
// a group's advantages sum to zero and over-covers (measured 0.99 with 400
// replications), which is why MassAccumulator clusters by Group.
func TestMassAccumulatorCoverage(t *testing.T) {
	if testing.Short() {
		t.Skip("coverage study")
	}
	rng := rand.New(rand.NewPCG(23, 29))
	const G, reps = 8, 200
	q, r, p := 0.4, 0.3, 0.7
	_, _, mass := massTruth("flawed", q, r, p, G)
	coverage := func(grouped bool) float64 {
		covered := 0
		for range reps {
			var acc MassAccumulator
			massWorld(&acc, rng, "s", q, r, p, 100, G, grouped)
			for _, e := range acc.Estimate(MassConfig{Bootstrap: BootstrapConfig{Resamples: 400}}, rng) {
				if e.Action == "flawed" && e.Mass.Contains(mass) {
					covered++
				}
			}
		}
		return float64(covered) / reps
	}
	if c := coverage(true); c < 0.90 || c > 0.99 {
		t.Errorf("clustered coverage %v, want about 0.95", c)
	}
	if c := coverage(false); c < 0.97 {
		t.Errorf("trajectory-level coverage %v, expected over-coverage (>= 0.97)", c)
	}
}

// A state visited by the trajectories of a single rollout group cannot be
// cluster-resampled (one cluster gives a zero-width interval); the bootstrap
// falls back to trajectories and the intervals still cover the truth.
func TestMassAccumulatorFewGroupsFallsBack(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	const G = 400
	q, r, p := 0.3, 0.3, 0.7
	var acc MassAccumulator
	massWorld(&acc, rng, "s", q, r, p, 1, G, true)
	est := acc.Estimate(MassConfig{Bootstrap: BootstrapConfig{Resamples: 1000, Level: 0.999}}, rng)
	qb, rb, mass := massTruth("flawed", q, r, p, G)
	for _, e := range est {
		if e.Action != "flawed" {
			continue
		}
		if e.ByGroup || e.Clusters != G {
			t.Errorf("ByGroup %v, Clusters %d: want trajectory resampling", e.ByGroup, e.Clusters)
		}
		if !(e.Q.Lo < e.Q.Hi) || !e.Q.Contains(qb) || !e.R.Contains(rb) || !e.Mass.Contains(mass) {
			t.Errorf("q %+v (%v), r %+v (%v), mass %+v (%v)", e.Q, qb, e.R, rb, e.Mass, mass)
		}
		return
	}
	t.Fatal("no estimate for the flawed action")
}

func TestMassAccumulatorUndefinedR(t *testing.T) {
	var acc MassAccumulator
	for i := range 30 {
		acc.Add(MassSample{State: "s", Traj: fmt.Sprint(i), Action: "only", Success: i%2 == 0, Advantage: 0.5 - float64(i%2)})
	}
	est := acc.Estimate(MassConfig{Bootstrap: BootstrapConfig{Resamples: 50}}, rand.New(rand.NewPCG(1, 1)))
	if len(est) != 1 {
		t.Fatalf("%+v", est)
	}
	e := est[0]
	if e.Q.Point != 1 || !math.IsNaN(e.R.Point) || !math.IsNaN(e.Prediction.Point) || e.Undefined != 50 || e.Mass.Point != 0 {
		t.Errorf("%+v", e)
	}
	var empty MassAccumulator
	if got := empty.Estimate(MassConfig{}, rand.New(rand.NewPCG(1, 1))); len(got) != 0 {
		t.Errorf("empty: %+v", got)
	}
}
