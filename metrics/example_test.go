package metrics_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gradcouple/gradcouple/metrics"
)

// Two interleaved groups of three rollouts with binary outcomes.
func ExampleAdvantages() {
	rewards := []float64{1, 0, 0, 1, 1, 1}
	group := []int{7, 3, 7, 3, 7, 3}
	adv := metrics.Advantages(nil, rewards, group, metrics.AdvantageConfig{})
	fmt.Printf("%.3f\n", adv)
	drGRPO := metrics.Advantages(nil, rewards, group, metrics.AdvantageConfig{NoStd: true})
	fmt.Printf("%.3f\n", drGRPO)
	// Output:
	// [0.577 -1.155 -1.155 0.577 0.577 0.577]
	// [0.333 -0.667 -0.667 0.333 0.333 0.333]
}

func ExampleHomogeneousGroupProb() {
	// A task solved 90% of the time gives no signal in 43% of groups of 8.
	fmt.Printf("%.3f\n", metrics.HomogeneousGroupProb(0.9, 8))
	fmt.Printf("%.3f\n", metrics.ZeroStdFraction([][]float64{{1, 1, 1}, {0, 1, 1}}))
	// Output:
	// 0.430
	// 0.500
}

func ExampleRepetitionCounter() {
	var c metrics.RepetitionCounter
	// Steps may arrive in any order.
	for _, s := range []metrics.RepStep{
		{Iteration: 1, Traj: "a", Turn: 2, Action: "go to desk 1", State: "s0"},
		{Iteration: 1, Traj: "a", Turn: 0, Action: "go to desk 1", State: "s0"},
		{Iteration: 1, Traj: "b", Turn: 0, Action: "look", State: "s0", Success: true},
		{Iteration: 1, Traj: "a", Turn: 1, Action: "go to desk 1", State: "s1"},
	} {
		c.Add(s)
	}
	for _, r := range c.Result() {
		fmt.Printf("iteration %d: %d steps, %d repeated, %d loops; failure repeat rate %.2f, success %.2f\n",
			r.Iteration, r.All.Steps, r.All.Repeated, r.All.Loops, r.Failure.RepeatRate, r.Success.RepeatRate)
	}
	// Output:
	// iteration 1: 4 steps, 2 repeated, 1 loops; failure repeat rate 0.67, success 0.00
}

func ExampleConsistencyCounter() {
	c := metrics.NewConsistencyCounter(metrics.ConsistencyConfig{}) // K = 10, threshold 5
	add := func(state, action string, label int8, n int) {
		for range n {
			c.Add(metrics.ConsistencySample{Iteration: 3, State: state, Action: action, Label: label})
		}
	}
	add("kitchen", "take apple 1", metrics.LabelGood, 7)
	add("kitchen", "look", metrics.LabelBad, 3)
	add("hall", "open door 1", metrics.LabelBad, 12) // 12 occurrences: averaged over 10-subsets
	add("hall", "go to sofa 1", metrics.LabelGood, 8)
	add("garage", "look", metrics.LabelBad, 4) // fewer than K: not eligible
	for _, s := range c.States() {
		fmt.Printf("%s: modal %q, E[M] = %.2f, P(high) = %.2f\n", s.State, s.ModalAction, s.Consistency, s.High)
	}
	for _, r := range c.Result() {
		fmt.Printf("iteration %d: %d of %d states eligible, high %.2f (good %.2f, bad %.2f)\n",
			r.Iteration, r.Eligible, r.States, r.High, r.HighGood, r.HighBad)
	}
	// Output:
	// hall: modal "open door 1", E[M] = 6.19, P(high) = 1.00
	// kitchen: modal "take apple 1", E[M] = 7.00, P(high) = 1.00
	// iteration 3: 2 of 3 states eligible, high 1.00 (good 0.60, bad 0.40)
}

func ExampleAdvantageMass() {
	q, r := 0.4, 0.2 // the flawed action is taken 40% of the time and costs 20 points of success
	fmt.Printf("E[A|a] = %.3f, mass = %.4f, mass with G = 8 (Dr. GRPO) = %.4f\n",
		metrics.ExpectedAdvantage(q, r), metrics.AdvantageMass(q, r), metrics.GroupAdvantageMass(q, r, 8))
	// Output:
	// E[A|a] = -0.120, mass = -0.0480, mass with G = 8 (Dr. GRPO) = -0.0420
}

// The Dr. GRPO Monte Carlo agrees with the exact finite-G value
// (G-1)/G q r (q-1), not with the lemma's G -> infinity value q r (q-1).
func ExampleSimulateLemma() {
	rng := rand.New(rand.NewPCG(1, 2))
	s, err := metrics.SimulateLemma(0.4, 0.2, 0.6, metrics.LemmaSimConfig{G: 8, Groups: 50000,
		Adv: metrics.AdvantageConfig{NoStd: true}}, rng)
	if err != nil {
		panic(err)
	}
	fmt.Printf("Monte Carlo %.4f in [%.4f, %.4f]; exact %.4f; G->inf %.4f\n",
		s.Mass.Point, s.Mass.Lo, s.Mass.Hi, s.Exact, s.Asymptotic)
	// Output:
	// Monte Carlo -0.0425 in [-0.0432, -0.0418]; exact -0.0420; G->inf -0.0480
}

func ExampleSqueezePath() {
	// Actions (good, bad2, bad1) with success probabilities 1 > 0.3 > 0.
	logits := []float64{math.Log(0.1), math.Log(0.6), math.Log(0.3)}
	path := metrics.SqueezePath(logits, []float64{1, 0.3, 0}, metrics.SqueezeConfig{Eta: 0.5, Steps: 10})
	for _, t := range []int{0, 5, 10} {
		pi := path[t]
		fmt.Printf("t=%2d  pi=%.3f  bad mass %.3f\n", t, pi, pi[1]+pi[2])
	}
	// Output:
	// t= 0  pi=[0.100 0.600 0.300]  bad mass 0.900
	// t= 5  pi=[0.125 0.624 0.251]  bad mass 0.875
	// t=10  pi=[0.163 0.621 0.215]  bad mass 0.837
}

func ExampleStratifiedBootstrap() {
	// Success rates of 5 runs on each of 3 tasks.
	scores := [][]float64{
		{0.61, 0.58, 0.66, 0.70, 0.55},
		{0.31, 0.40, 0.28, 0.35, 0.33},
		{0.90, 0.85, 0.88, 0.93, 0.80},
	}
	rng := rand.New(rand.NewPCG(42, 0))
	iv := metrics.StratifiedBootstrap(scores, metrics.PooledIQM, metrics.BootstrapConfig{}, rng)
	fmt.Printf("IQM %.3f, 95%% CI [%.3f, %.3f]\n", iv.Point, iv.Lo, iv.Hi)
	// Output:
	// IQM 0.611, 95% CI [0.581, 0.642]
}

func ExampleIQM() {
	// scipy.stats.trim_mean(x, 0.25): floor(5/4) = 1 value cut from each end.
	fmt.Println(metrics.IQM([]float64{1, 2, 3, 10, 100}))
	// Output:
	// 5
}

func ExampleProbImprovement() {
	x := []float64{0.7, 0.8, 0.6}
	y := []float64{0.6, 0.5, 0.4}
	fmt.Printf("%.3f\n", metrics.ProbImprovement(x, y)) // 8 wins and 1 tie of 9 pairs
	// Output:
	// 0.944
}

func ExampleEMA() {
	fmt.Printf("%.3f\n", metrics.EMA(nil, []float64{1, 2, 3, 2, 1}, 0.6))
	// Output:
	// [1.000 1.625 2.327 2.176 1.666]
}
