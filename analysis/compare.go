package analysis

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/gradcouple/gradcouple/metrics"
)

// RunGroup is a named set of runs of a study, typically the seeds of one
// method (GRPO, GCD). Runs are run names (StudyRun.Name).
type RunGroup struct {
	Name string
	Runs []string
}

// GroupByAlgo groups the study's runs by algorithm, or by arm where the
// run names carry one (StudyRun.Arm: the runs of `gradcouple study
// --arms grpo,gcd-lambda0` form the groups grpo and gcd-lambda0): GRPO,
// the baseline, first, then the others in order of first appearance (so
// that Compare's probability of improvement is that of a method over
// GRPO); runs without an algorithm form the group "runs".
func GroupByAlgo(st *Study) []RunGroup {
	var out []RunGroup
	algos := st.Arms()
	if i := slices.Index(algos, "grpo"); i > 0 {
		algos = append(append([]string{"grpo"}, algos[:i]...), algos[i+1:]...)
	}
	for _, a := range algos {
		name := a
		if name == "" {
			name = "runs"
		}
		out = append(out, RunGroup{Name: name, Runs: st.runsOf(a)})
	}
	return out
}

// GroupByEnvAlgo groups the study's runs by environment and algorithm,
// named "ENV ALGO", environment by environment in order of first
// appearance and GRPO first within each, so that the probability of
// improvement compares methods within an environment (groups without a
// common environment are not compared). With one environment it is
// GroupByAlgo.
func GroupByEnvAlgo(st *Study) []RunGroup {
	var envs []string
	for _, r := range st.Runs {
		if !slices.Contains(envs, r.Env) {
			envs = append(envs, r.Env)
		}
	}
	if len(envs) < 2 {
		return GroupByAlgo(st)
	}
	var out []RunGroup
	for _, e := range envs {
		sub := &Study{}
		for _, r := range st.Runs {
			if r.Env == e {
				sub.Runs = append(sub.Runs, r)
			}
		}
		for _, g := range GroupByAlgo(sub) {
			g.Name = envLabel(e) + " " + g.Name
			out = append(out, g)
		}
	}
	return out
}

// GroupByRun makes one group per run, named after it (a study of single
// runs side by side).
func GroupByRun(st *Study) []RunGroup {
	out := make([]RunGroup, len(st.Runs))
	for i, r := range st.Runs {
		out[i] = RunGroup{Name: r.Name, Runs: []string{r.Name}}
	}
	return out
}

// CompareOptions tune Compare.
type CompareOptions struct {
	// Bootstrap sets every interval; the zero value is 2000 resamples at
	// 95%. Draws derive from the study's seed.
	Bootstrap metrics.BootstrapConfig
	// Final are the metrics.jsonl metrics whose last value per run is the
	// final performance; none means in-domain and out-of-domain greedy
	// evaluation success (sampled when no run has greedy).
	Final []string
}

// GroupCurve is one metric of one group over training: at each iteration
// where any run of the group has the metric, the mean over the runs that
// have it and a percentile bootstrap interval of that mean (runs
// resampled); Seeds holds each run's curve (NaN where it has no value).
// With one run at an iteration the interval is NaN.
type GroupCurve struct {
	Group, Metric string
	Runs          []string
	Iterations    []int
	Mean, Lo, Hi  []float64
	N             []int // runs with a value at each iteration
	Seeds         [][]float64
}

// CompareRow is one point of a GroupCurve, the table form.
type CompareRow struct {
	Group     string  `parquet:"group" json:"group"`
	Metric    string  `parquet:"metric" json:"metric"`
	Iteration int     `parquet:"iteration" json:"iteration"`
	Runs      int     `parquet:"runs" json:"runs"`
	Mean      float64 `parquet:"mean" json:"mean"`
	Lo        float64 `parquet:"ci_lo" json:"ci_lo"`
	Hi        float64 `parquet:"ci_hi" json:"ci_hi"`
	Seed      uint64  `parquet:"seed" json:"seed" text:"-"`
}

// FinalRunRow is the final performance of one run: the last value of a
// metric (the last evaluation).
type FinalRunRow struct {
	Group     string  `parquet:"group" json:"group"`
	Run       string  `parquet:"run" json:"run"`
	Env       string  `parquet:"env" json:"env"`
	Metric    string  `parquet:"metric" json:"metric"`
	Iteration int     `parquet:"iteration" json:"iteration"`
	Value     float64 `parquet:"value" json:"value"`
}

// FinalRow is the final performance of a group on one metric: the
// interquartile mean over its runs (metrics.PooledIQM over environments)
// with a stratified bootstrap interval (environments are the strata, runs
// are resampled within each; Agarwal et al. 2021), and the plain mean.
type FinalRow struct {
	Group  string  `parquet:"group" json:"group"`
	Metric string  `parquet:"metric" json:"metric"`
	Runs   int     `parquet:"runs" json:"runs"`
	IQM    float64 `parquet:"iqm" json:"iqm"`
	Lo     float64 `parquet:"ci_lo" json:"ci_lo"`
	Hi     float64 `parquet:"ci_hi" json:"ci_hi"`
	Mean   float64 `parquet:"mean" json:"mean"`
	Seed   uint64  `parquet:"seed" json:"seed"`
	// Note warns when the group has fewer than MinRuns runs (FewRunsNote).
	Note string `parquet:"note" json:"note"`
}

// ImprovementRow is the probability of improvement P(X > Y) of group X over
// group Y on one metric: the Mann-Whitney statistic of their runs' final
// values averaged over the environments both groups ran on, with a
// percentile bootstrap interval (metrics.ProbImprovementCI). 0.5 is no
// difference.
type ImprovementRow struct {
	Metric string  `parquet:"metric" json:"metric"`
	X      string  `parquet:"x" json:"x"`
	Y      string  `parquet:"y" json:"y"`
	Envs   int     `parquet:"envs" json:"envs"`
	RunsX  int     `parquet:"runs_x" json:"runs_x"`
	RunsY  int     `parquet:"runs_y" json:"runs_y"`
	P      float64 `parquet:"p_x_gt_y" json:"p_x_gt_y"`
	Lo     float64 `parquet:"ci_lo" json:"ci_lo"`
	Hi     float64 `parquet:"ci_hi" json:"ci_hi"`
	Seed   uint64  `parquet:"seed" json:"seed"`
	// Note warns when either group has fewer than MinRuns runs
	// (FewRunsNote).
	Note string `parquet:"note" json:"note"`
}

// PairedRow is the paired difference of group X over group Y on one
// metric: runs of the two groups with the same environment and training
// seed form a pair (with --init a shared cold start, the two arms then
// start from one policy), d_i = x_i - y_i. Mean is the mean of d over the
// pairs with a percentile bootstrap interval (pairs resampled, stratified
// by environment), PBetter the share of bootstrap means above 0, and MDE
// the smallest true mean difference this many pairs would detect with 80%
// power in a two-sided test at level 0.05, (z_0.975 + z_0.8) sd(d) /
// sqrt(n) (normal approximation; sd(d) holds the seed-to-seed and the
// evaluation-task noise alike). NaN where there are fewer than 2 pairs.
type PairedRow struct {
	Metric  string  `parquet:"metric" json:"metric"`
	X       string  `parquet:"x" json:"x"`
	Y       string  `parquet:"y" json:"y"`
	Pairs   int     `parquet:"pairs" json:"pairs"`
	Mean    float64 `parquet:"mean_diff" json:"mean_diff"`
	Lo      float64 `parquet:"ci_lo" json:"ci_lo"`
	Hi      float64 `parquet:"ci_hi" json:"ci_hi"`
	PBetter float64 `parquet:"p_better" json:"p_better"`
	SD      float64 `parquet:"sd_diff" json:"sd_diff"`
	MDE     float64 `parquet:"mde_80" json:"mde_80"`
	Seed    uint64  `parquet:"seed" json:"seed"`
	Note    string  `parquet:"note" json:"note"`
}

// mdeFactor is z_0.975 + z_0.8: the minimum detectable effect is this many
// standard errors.
const mdeFactor = 1.959963984540054 + 0.8416212335729143

// pairedDiff computes a PairedRow's statistics from the differences d,
// grouped by environment (the bootstrap strata).
func pairedDiff(row *PairedRow, strata [][]float64, cfg metrics.BootstrapConfig, rng *rand.Rand) {
	var all []float64
	for _, s := range strata {
		all = append(all, s...)
	}
	row.Pairs = len(all)
	nan := math.NaN()
	row.Mean, row.Lo, row.Hi, row.PBetter, row.SD, row.MDE = nan, nan, nan, nan, nan, nan
	if len(all) == 0 {
		return
	}
	mean := func(st [][]float64) float64 {
		var s float64
		n := 0
		for _, v := range st {
			for _, x := range v {
				s += x
				n++
			}
		}
		return s / float64(n)
	}
	row.Mean = mean(strata)
	if len(all) < 2 {
		row.Note = "1 pair: no interval; run >= 10 paired seeds"
		return
	}
	var ss float64
	for _, d := range all {
		ss += (d - row.Mean) * (d - row.Mean)
	}
	row.SD = math.Sqrt(ss / float64(len(all)-1))
	row.MDE = mdeFactor * row.SD / math.Sqrt(float64(len(all)))
	if cfg.Resamples == 0 {
		cfg = metrics.BootstrapConfig{Resamples: 2000, Level: 0.95}
	}
	// The bootstrap means, to read the interval and P(mean > 0) from one
	// set of draws.
	means := make([]float64, cfg.Resamples)
	buf := make([][]float64, len(strata))
	for b := range means {
		for k, st := range strata {
			buf[k] = buf[k][:0]
			for range st {
				buf[k] = append(buf[k], st[rng.IntN(len(st))])
			}
		}
		means[b] = mean(buf)
	}
	slices.Sort(means)
	alpha := (1 - cfg.Level) / 2
	row.Lo, row.Hi = quantileSorted(means, alpha), quantileSorted(means, 1-alpha)
	above := 0
	for _, m := range means {
		if m > 0 {
			above++
		}
	}
	row.PBetter = float64(above) / float64(len(means))
	if len(all) < 10 {
		row.Note = fmt.Sprintf("%d pairs: the interval rests on %d values; the issue's standard is >= 10 paired seeds", len(all), len(all))
	}
}

// quantileSorted is the q-quantile of sorted v by linear interpolation.
func quantileSorted(v []float64, q float64) float64 {
	x := q * float64(len(v)-1)
	i := int(x)
	if i >= len(v)-1 {
		return v[len(v)-1]
	}
	f := x - float64(i)
	return v[i]*(1-f) + v[i+1]*f
}

// MinRuns is the number of runs per group below which Compare's final
// performance and probability of improvement carry a note: with one run per
// group P(X > Y) is 0 or 1 by construction and the IQM has no interval;
// with two, P(X > Y) takes one of five values and the bootstrap interval
// rests on two points.
const MinRuns = 3

// FewRunsNote returns the note of a comparison of groups with nx and ny
// runs (ny = 0 for a single group's final performance), or "" when every
// group has at least MinRuns runs.
func FewRunsNote(nx, ny int) string {
	if ny == 0 {
		switch {
		case nx >= MinRuns:
			return ""
		case nx == 1:
			return "1 run: the IQM is that run's value, with no interval; run >= 3 seeds"
		default:
			return fmt.Sprintf("%d runs: the IQM is their mean and its interval rests on %d values; run >= 3 seeds", nx, nx)
		}
	}
	switch {
	case min(nx, ny) >= MinRuns:
		return ""
	case nx == 1 && ny == 1:
		return "1 run per group: P(X>Y) is 0 or 1 by construction; run >= 3 seeds"
	default:
		return fmt.Sprintf("%d vs %d runs: P(X>Y) takes one of %d values; run >= 3 seeds", nx, ny, 2*nx*ny+1)
	}
}

// Comparison is the result of Compare.
type Comparison struct {
	Seed      uint64
	Groups    []RunGroup
	Curves    []GroupCurve
	Rows      []CompareRow
	FinalRuns []FinalRunRow
	Final     []FinalRow
	// Improvements compare every later group with every earlier one:
	// with groups A and B, P(B > A).
	Improvements []ImprovementRow
	// Paired compares the same pairs of groups run by run: B - A over the
	// runs with equal environment and seed.
	Paired []PairedRow
	// Claims tests the claims of DESIGN.md §1 on the study's runs
	// (Claims), whatever the groups.
	Claims []ClaimRow
	// Warnings are one line each, for stderr and the report: groups with
	// fewer than MinRuns runs, whose final performance and probability of
	// improvement carry a Note.
	Warnings []string
}

// Curve returns the curve of a group and metric, and whether there is one.
func (c *Comparison) Curve(group, metric string) (GroupCurve, bool) {
	for _, gc := range c.Curves {
		if gc.Group == group && gc.Metric == metric {
			return gc, true
		}
	}
	return GroupCurve{}, false
}

// FinalMetrics returns the metrics of the final performance, in order.
func (c *Comparison) FinalMetrics() []string {
	var out []string
	for _, f := range c.Final {
		if !slices.Contains(out, f.Metric) {
			out = append(out, f.Metric)
		}
	}
	return out
}

// Compare summarises the study's runs by group: every per-iteration metric
// of the study (Study.Series) as a mean over the group's runs with a
// bootstrap interval, the final performance of each group as an IQM with a
// stratified bootstrap interval, and the probability of improvement of
// every later group over every earlier one. Groups name runs of the study;
// an unknown run, a run in two groups, or an empty group is an error.
// Every draw comes from the study's seed, one stream per (group, metric,
// iteration), so a number does not depend on which others were computed.
func Compare(st *Study, groups []RunGroup, opts CompareOptions) (*Comparison, error) {
	if opts.Bootstrap.Resamples == 0 {
		opts.Bootstrap = st.Options.Bootstrap
	}
	seen := map[string]string{}
	for _, g := range groups {
		if len(g.Runs) == 0 {
			return nil, fmt.Errorf("compare: group %q has no runs", g.Name)
		}
		for _, r := range g.Runs {
			if _, ok := st.Run(r); !ok {
				return nil, fmt.Errorf("compare: group %q: no run %q in the study", g.Name, r)
			}
			if other, ok := seen[r]; ok {
				return nil, fmt.Errorf("compare: run %q is in groups %q and %q", r, other, g.Name)
			}
			seen[r] = g.Name
		}
	}
	c := &Comparison{Seed: st.Seed, Groups: groups}

	// Per-run series by metric.
	type key struct{ run, metric string }
	series := map[key]map[int]float64{}
	var metricOrder []string
	for _, s := range st.Series {
		k := key{s.Run, s.Metric}
		if series[k] == nil {
			series[k] = map[int]float64{}
		}
		series[k][s.Iteration] = s.Value
		if !slices.Contains(metricOrder, s.Metric) {
			metricOrder = append(metricOrder, s.Metric)
		}
	}
	for _, g := range groups {
		for _, m := range metricOrder {
			its := map[int]bool{}
			for _, r := range g.Runs {
				for it := range series[key{r, m}] {
					its[it] = true
				}
			}
			if len(its) == 0 {
				continue
			}
			gc := GroupCurve{Group: g.Name, Metric: m, Runs: g.Runs}
			for it := range its {
				gc.Iterations = append(gc.Iterations, it)
			}
			sort.Ints(gc.Iterations)
			n := len(gc.Iterations)
			gc.Mean, gc.Lo, gc.Hi, gc.N = make([]float64, n), make([]float64, n), make([]float64, n), make([]int, n)
			for _, r := range g.Runs {
				curve := make([]float64, n)
				for i, it := range gc.Iterations {
					v, ok := series[key{r, m}][it]
					if !ok {
						v = math.NaN()
					}
					curve[i] = v
				}
				gc.Seeds = append(gc.Seeds, curve)
			}
			vals := make([]float64, 0, len(g.Runs))
			for i, it := range gc.Iterations {
				vals = vals[:0]
				for _, sd := range gc.Seeds {
					if !math.IsNaN(sd[i]) {
						vals = append(vals, sd[i])
					}
				}
				gc.N[i] = len(vals)
				iv := meanInterval(vals, opts.Bootstrap, streamRNG(st.Seed, "curve", g.Name, m, it))
				gc.Mean[i], gc.Lo[i], gc.Hi[i] = iv.Point, iv.Lo, iv.Hi
				c.Rows = append(c.Rows, CompareRow{Group: g.Name, Metric: m, Iteration: it, Runs: gc.N[i],
					Mean: iv.Point, Lo: iv.Lo, Hi: iv.Hi, Seed: st.Seed})
			}
			c.Curves = append(c.Curves, gc)
		}
	}

	// Final performance.
	final := opts.Final
	if len(final) == 0 {
		final = defaultFinal(st)
	}
	type envVals map[string][]float64
	byGroup := map[string]map[string]envVals{} // group -> metric -> env -> values
	type envSeed struct {
		env  string
		seed uint64
	}
	bySeed := map[string]map[string]map[envSeed]float64{} // group -> metric -> (env, seed) -> value
	for _, g := range groups {
		byGroup[g.Name] = map[string]envVals{}
		bySeed[g.Name] = map[string]map[envSeed]float64{}
		for _, m := range final {
			ev := envVals{}
			es := map[envSeed]float64{}
			bySeed[g.Name][m] = es
			for _, rn := range g.Runs {
				it, v, ok := lastValue(series[key{rn, m}])
				if !ok {
					continue
				}
				run, _ := st.Run(rn)
				ev[run.Env] = append(ev[run.Env], v)
				es[envSeed{run.Env, run.Seed}] = v
				c.FinalRuns = append(c.FinalRuns, FinalRunRow{Group: g.Name, Run: rn, Env: run.Env, Metric: m, Iteration: it, Value: v})
			}
			byGroup[g.Name][m] = ev
		}
	}
	for _, m := range final {
		for _, g := range groups {
			ev := byGroup[g.Name][m]
			envs := sortedKeys(ev)
			strata := make([][]float64, len(envs))
			n := 0
			var sum float64
			for i, e := range envs {
				strata[i] = ev[e]
				n += len(ev[e])
				for _, v := range ev[e] {
					sum += v
				}
			}
			if n == 0 {
				continue
			}
			row := FinalRow{Group: g.Name, Metric: m, Runs: n, Mean: sum / float64(n), Seed: st.Seed, Note: FewRunsNote(n, 0)}
			if n == 1 {
				row.IQM, row.Lo, row.Hi = metrics.PooledIQM(strata), math.NaN(), math.NaN()
			} else {
				iv := metrics.StratifiedBootstrap(strata, metrics.PooledIQM, opts.Bootstrap, streamRNG(st.Seed, "final", g.Name, m, 0))
				row.IQM, row.Lo, row.Hi = iv.Point, iv.Lo, iv.Hi
			}
			c.Final = append(c.Final, row)
		}
		for j := range groups {
			for i := range j {
				x, y := byGroup[groups[j].Name][m], byGroup[groups[i].Name][m]
				var xs, ys [][]float64
				nx, ny := 0, 0
				for _, e := range sortedKeys(x) {
					if len(y[e]) == 0 {
						continue
					}
					xs, ys = append(xs, x[e]), append(ys, y[e])
					nx, ny = nx+len(x[e]), ny+len(y[e])
				}
				if len(xs) == 0 {
					continue
				}
				iv := metrics.ProbImprovementCI(xs, ys, opts.Bootstrap, streamRNG(st.Seed, "improvement", groups[j].Name+">"+groups[i].Name, m, 0))
				if nx < 2 && ny < 2 {
					iv.Lo, iv.Hi = math.NaN(), math.NaN()
				}
				c.Improvements = append(c.Improvements, ImprovementRow{Metric: m, X: groups[j].Name, Y: groups[i].Name, Envs: len(xs),
					RunsX: nx, RunsY: ny, P: iv.Point, Lo: iv.Lo, Hi: iv.Hi, Seed: st.Seed, Note: FewRunsNote(nx, ny)})

				// Paired by (environment, seed).
				px, py := bySeed[groups[j].Name][m], bySeed[groups[i].Name][m]
				diffs := map[string][]float64{}
				var keys []envSeed
				for k := range px {
					if _, ok := py[k]; ok {
						keys = append(keys, k)
					}
				}
				slices.SortFunc(keys, func(a, b envSeed) int {
					if c := strings.Compare(a.env, b.env); c != 0 {
						return c
					}
					return cmp.Compare(a.seed, b.seed)
				})
				for _, k := range keys {
					diffs[k.env] = append(diffs[k.env], px[k]-py[k])
				}
				if len(keys) == 0 {
					continue
				}
				var strata [][]float64
				for _, e := range sortedKeys(diffs) {
					strata = append(strata, diffs[e])
				}
				row := PairedRow{Metric: m, X: groups[j].Name, Y: groups[i].Name, Seed: st.Seed}
				pairedDiff(&row, strata, opts.Bootstrap, streamRNG(st.Seed, "paired", groups[j].Name+"-"+groups[i].Name, m, 0))
				c.Paired = append(c.Paired, row)
			}
		}
	}
	c.Claims = Claims(st, opts.Bootstrap)
	c.Warnings = fewRunsWarnings(c)
	return c, nil
}

// fewRunsWarnings says which groups have fewer than MinRuns runs with a
// final value, once per comparison.
func fewRunsWarnings(c *Comparison) []string {
	var few []string
	runs := map[string]int{}
	for _, f := range c.Final {
		runs[f.Group] = max(runs[f.Group], f.Runs)
	}
	for _, g := range c.Groups {
		if n, ok := runs[g.Name]; ok && n < MinRuns {
			few = append(few, fmt.Sprintf("%s (%d)", g.Name, n))
		}
	}
	if len(few) == 0 {
		return nil
	}
	w := fmt.Sprintf("compare: fewer than %d runs in group(s) %s: the IQM has no or a weak interval", MinRuns, strings.Join(few, ", "))
	if len(c.Improvements) > 0 {
		w += " and P(X>Y) is coarse (0 or 1 by construction with 1 run per group)"
	}
	return []string{w + "; run >= 3 seeds per group"}
}

// defaultFinal chooses the final-performance metrics: evaluation success
// in-domain and out-of-domain, greedy when any run has it, else sampled.
func defaultFinal(st *Study) []string {
	has := map[string]bool{}
	for _, s := range st.Series {
		has[s.Metric] = true
	}
	var out []string
	for _, pair := range [][2]string{{MetricEvalInGreedy, MetricEvalInSampled}, {MetricEvalOutGreedy, MetricEvalOutSampled}} {
		switch {
		case has[pair[0]]:
			out = append(out, pair[0])
		case has[pair[1]]:
			out = append(out, pair[1])
		}
	}
	return out
}

// lastValue returns the value at the largest iteration.
func lastValue(m map[int]float64) (int, float64, bool) {
	best, ok := -1, false
	for it := range m {
		if it > best {
			best, ok = it, true
		}
	}
	if !ok {
		return 0, math.NaN(), false
	}
	return best, m[best], true
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// meanInterval is the mean of vals with a percentile bootstrap interval
// (NaN bounds for fewer than two values; NaN for none).
func meanInterval(vals []float64, cfg metrics.BootstrapConfig, rng *rand.Rand) metrics.Interval {
	nan := math.NaN()
	switch len(vals) {
	case 0:
		return metrics.Interval{Point: nan, Lo: nan, Hi: nan}
	case 1:
		return metrics.Interval{Point: vals[0], Lo: nan, Hi: nan}
	}
	mean := func(st [][]float64) float64 {
		var s float64
		for _, v := range st[0] {
			s += v
		}
		return s / float64(len(st[0]))
	}
	return metrics.StratifiedBootstrap([][]float64{vals}, mean, cfg, rng)
}

// streamRNG is the random stream of one named quantity: PCG(seed, FNV-1a of
// its names and iteration).
func streamRNG(seed uint64, kind, group, metric string, it int) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d", kind, group, metric, it)
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}
