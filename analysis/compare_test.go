package analysis

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/metrics"
)

// TestCompareFewRuns: with fewer than MinRuns runs per group, the final
// performance and the probability of improvement keep their values but carry
// a note, and the comparison a warning; with three runs per group, neither.
func TestCompareFewRuns(t *testing.T) {
	study := func(perGroup int) *Study {
		st := &Study{Seed: 3, Options: StudyOptions{Bootstrap: metrics.BootstrapConfig{Resamples: 200}}}
		for i := range perGroup {
			for _, a := range []string{"grpo", "gcd"} {
				name := a + string(rune('1'+i))
				v := 0.2 + 0.1*float64(i)
				if a == "gcd" {
					v += 0.3
				}
				st.Runs = append(st.Runs, StudyRun{Name: name, Env: "household", Algo: a})
				st.Series = append(st.Series, SeriesRow{Run: name, Metric: MetricEvalOutGreedy, Iteration: 10, Value: v})
			}
		}
		return st
	}
	one := study(1)
	cmp, err := Compare(one, GroupByAlgo(one), CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cmp.Improvements) != 1 || len(cmp.Final) != 2 {
		t.Fatalf("improvements %+v, final %+v", cmp.Improvements, cmp.Final)
	}
	im := cmp.Improvements[0]
	if im.P != 1 || im.Note != "1 run per group: P(X>Y) is 0 or 1 by construction; run >= 3 seeds" {
		t.Errorf("one run per group: P %g, note %q", im.P, im.Note)
	}
	for _, f := range cmp.Final {
		if !strings.HasPrefix(f.Note, "1 run: ") || f.Runs != 1 {
			t.Errorf("final %+v", f)
		}
	}
	if len(cmp.Warnings) != 1 || !strings.Contains(cmp.Warnings[0], "grpo (1), gcd (1)") || !strings.Contains(cmp.Warnings[0], "run >= 3 seeds") {
		t.Errorf("warnings %q", cmp.Warnings)
	}

	two := study(2)
	cmp, err = Compare(two, GroupByAlgo(two), CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := cmp.Improvements[0].Note; n != "2 vs 2 runs: P(X>Y) takes one of 9 values; run >= 3 seeds" {
		t.Errorf("two runs: %q", n)
	}
	if len(cmp.Warnings) != 1 {
		t.Errorf("two runs: warnings %q", cmp.Warnings)
	}

	three := study(3)
	cmp, err = Compare(three, GroupByAlgo(three), CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cmp.Improvements[0].Note != "" || cmp.Final[0].Note != "" || len(cmp.Warnings) != 0 {
		t.Errorf("three runs: %+v %+v %q", cmp.Improvements[0], cmp.Final[0], cmp.Warnings)
	}
}

// P(X > Y) over n and m runs is U/(n m) with U a multiple of 1/2 in
// [0, n m]: 2 n m + 1 values, as FewRunsNote says.
func TestFewRunsNoteValues(t *testing.T) {
	seen := map[float64]bool{}
	x, y := make([]float64, 2), make([]float64, 3)
	// Every ordering of 2 vs 3 values drawn from {0, 1, 2}, ties included.
	for code := range 243 {
		c := code
		for i := range x {
			x[i], c = float64(c%3), c/3
		}
		for i := range y {
			y[i], c = float64(c%3), c/3
		}
		seen[metrics.ProbImprovement(x, y)] = true
	}
	if !strings.Contains(FewRunsNote(2, 3), "one of 13 values") || len(seen) > 13 {
		t.Errorf("%q; %d values seen", FewRunsNote(2, 3), len(seen))
	}
	if FewRunsNote(3, 0) != "" || FewRunsNote(3, 4) != "" {
		t.Error("notes with enough runs")
	}
}

// TestComparePaired: runs of two groups with equal environment and seed
// are paired; the paired mean, its sd and the minimum detectable effect
// follow their closed forms, the interval holds the mean, P(mean > 0) is
// 1 when every difference is positive, and an unpaired run is left out.
func TestComparePaired(t *testing.T) {
	st := &Study{Seed: 5, Options: StudyOptions{Bootstrap: metrics.BootstrapConfig{Resamples: 500, Level: 0.95}}}
	diffs := []float64{0.1, 0.3, 0.2, 0.4, 0.05, 0.25, 0.15, 0.35, 0.3, 0.1, 0.2, 0.2}
	for i, d := range diffs {
		env := "household"
		if i%2 == 1 {
			env = "lab"
		}
		base := 0.1 + 0.03*float64(i)
		for _, a := range []string{"grpo", "gcd"} {
			v := base
			if a == "gcd" {
				v += d
			}
			name := fmt.Sprintf("%s-%s-%d", env, a, i)
			st.Runs = append(st.Runs, StudyRun{Name: name, Env: env, Algo: a, Seed: uint64(i)})
			st.Series = append(st.Series, SeriesRow{Run: name, Metric: MetricEvalOutGreedy, Iteration: 10, Value: v})
		}
	}
	// A GCD run whose seed GRPO never ran: not paired.
	st.Runs = append(st.Runs, StudyRun{Name: "extra", Env: "lab", Algo: "gcd", Seed: 99})
	st.Series = append(st.Series, SeriesRow{Run: "extra", Metric: MetricEvalOutGreedy, Iteration: 10, Value: 0.9})
	cmp, err := Compare(st, GroupByAlgo(st), CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cmp.Paired) != 1 {
		t.Fatalf("paired rows %+v", cmp.Paired)
	}
	p := cmp.Paired[0]
	var mean, ss float64
	for _, d := range diffs {
		mean += d
	}
	mean /= float64(len(diffs))
	for _, d := range diffs {
		ss += (d - mean) * (d - mean)
	}
	sd := math.Sqrt(ss / float64(len(diffs)-1))
	mde := (1.959963984540054 + 0.8416212335729143) * sd / math.Sqrt(float64(len(diffs)))
	if p.X != "gcd" || p.Y != "grpo" || p.Pairs != len(diffs) || math.Abs(p.Mean-mean) > 1e-12 ||
		math.Abs(p.SD-sd) > 1e-12 || math.Abs(p.MDE-mde) > 1e-12 {
		t.Errorf("paired %+v; want %d pairs, mean %v, sd %v, mde %v", p, len(diffs), mean, sd, mde)
	}
	if !(p.Lo < mean && mean < p.Hi) || p.Lo <= 0 || p.PBetter != 1 || p.Note != "" {
		t.Errorf("interval [%v, %v], P(better) %v, note %q", p.Lo, p.Hi, p.PBetter, p.Note)
	}
}

// TestStudyRunArm: the arm of a study run comes from its name ENV-ARM-SEED
// when ARM starts with the algorithm; any other name gives the algorithm.
func TestStudyRunArm(t *testing.T) {
	for _, c := range []struct {
		r    StudyRun
		want string
	}{
		{StudyRun{Name: "household-grpo-1", Env: "household", Algo: "grpo", Seed: 1}, "grpo"},
		{StudyRun{Name: "household-twin-grpo-twin_share0.5-2", Env: "household-twin", Algo: "grpo", Seed: 2}, "grpo-twin_share0.5"},
		{StudyRun{Name: "lab-gcd-lambda0-10", Env: "lab", Algo: "gcd", Seed: 10}, "gcd-lambda0"},
		{StudyRun{Name: "lab-grpo-lambda0-10", Env: "lab", Algo: "gcd", Seed: 10}, "gcd"},       // ARM not of the algorithm
		{StudyRun{Name: "my-run", Env: "household", Algo: "grpo", Seed: 1}, "grpo"},             // not ENV-...
		{StudyRun{Name: "household-grpo-x-1", Env: "household", Algo: "grpo", Seed: 2}, "grpo"}, // another seed
		{StudyRun{Name: "household-grpo-1", Env: "household", Algo: "", Seed: 1}, ""},
	} {
		if got := c.r.Arm(); got != c.want {
			t.Errorf("%s (%s %s seed %d): arm %q, want %q", c.r.Name, c.r.Env, c.r.Algo, c.r.Seed, got, c.want)
		}
	}
	st := &Study{Runs: []StudyRun{
		{Name: "bandit-gcd-1", Env: "bandit", Algo: "gcd", Seed: 1},
		{Name: "bandit-grpo-twin_share1-1", Env: "bandit", Algo: "grpo", Seed: 1},
		{Name: "bandit-grpo-1", Env: "bandit", Algo: "grpo", Seed: 1},
		{Name: "bandit-grpo-twin_share1-2", Env: "bandit", Algo: "grpo", Seed: 2},
	}}
	var names []string
	for _, g := range GroupByAlgo(st) {
		names = append(names, fmt.Sprintf("%s%v", g.Name, g.Runs))
	}
	if got := strings.Join(names, " "); got != "grpo[bandit-grpo-1] gcd[bandit-gcd-1] grpo-twin_share1[bandit-grpo-twin_share1-1 bandit-grpo-twin_share1-2]" {
		t.Errorf("groups %s", got)
	}
}
