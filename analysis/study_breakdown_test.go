package analysis

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/metrics"
)

// TestStudyBreakdowns: evaluation success per task family or shift
// (METRIC/SUFFIX in metrics.jsonl, or the trainer's eval_success_by_family)
// is picked up into the series and the final metrics, and compared like
// the overall rates; runs without it have none and nothing fails.
func TestStudyBreakdowns(t *testing.T) {
	root := t.TempDir()
	lines := map[string]string{
		// Breakdowns as top-level keys, and as the trainer's nested
		// per-family object (which a top-level key of the same name wins
		// over).
		"grpo": `{"iteration": 0, "eval_in_greedy_success": 0.2, "eval_in_greedy_success/pick": 0.1, "eval_out_greedy_success": 0.1}
{"iteration": 5, "eval_in_greedy_success": 0.3, "eval_in_greedy_success/pick": 0.2, "eval_out_greedy_success": 0.2, "eval_out_greedy_success/new-names": 0.25, "eval_success_by_family": {"eval-in/greedy": {"pick": 0.9, "heat": 0.4}, "eval-out/sampled": {"pick": 0.5}}}
`,
		"gcd": `{"iteration": 0, "eval_in_greedy_success": 0.2, "eval_out_greedy_success": 0.1}
{"iteration": 5, "eval_in_greedy_success": 0.5, "eval_in_greedy_success/pick": 0.6, "eval_out_greedy_success": 0.3, "eval_out_greedy_success/new-names": 0.35, "eval_success_by_family": {"eval-in/greedy": {"heat": 0.5}}}
`,
		"plain": `{"iteration": 0, "eval_in_greedy_success": 0.2}
`,
	}
	var dirs []string
	for _, name := range []string{"grpo", "gcd", "plain"} {
		d := filepath.Join(root, name)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "metrics.jsonl"), []byte(lines[name]), 0o644)
		dirs = append(dirs, d)
	}
	st, err := StudyRuns(context.Background(), dirs, StudyOptions{Seed: 1, Bootstrap: metrics.BootstrapConfig{Resamples: 100}, LemmaGroups: -1})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range st.Series {
		if strings.Contains(s.Metric, "/") {
			got[s.Run+" "+s.Metric+" "+ftoa(float64(s.Iteration))] = s.Value
		}
	}
	want := map[string]float64{
		"grpo eval_in_greedy_success/pick 0": 0.1, "grpo eval_in_greedy_success/pick 5": 0.2, "grpo eval_in_greedy_success/heat 5": 0.4,
		"grpo eval_out_greedy_success/new-names 5": 0.25, "grpo eval_out_sampled_success/pick 5": 0.5,
		"gcd eval_in_greedy_success/pick 5": 0.6, "gcd eval_in_greedy_success/heat 5": 0.5, "gcd eval_out_greedy_success/new-names 5": 0.35,
	}
	if len(got) != len(want) {
		t.Errorf("breakdown series %v\nwant %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s: %v (%v), want %v", k, g, ok, v)
		}
	}
	fm := st.FinalMetrics()
	if w := []string{MetricEvalInGreedy, MetricEvalInGreedy + "/heat", MetricEvalInGreedy + "/pick", MetricEvalOutGreedy, MetricEvalOutGreedy + "/new-names"}; !slices.Equal(fm, w) {
		t.Errorf("final metrics %v, want %v", fm, w)
	}
	cmp, err := Compare(st, []RunGroup{{Name: "grpo", Runs: []string{"grpo"}}, {Name: "gcd", Runs: []string{"gcd"}}}, CompareOptions{Final: fm})
	if err != nil {
		t.Fatal(err)
	}
	var paired []string
	for _, p := range cmp.Paired {
		paired = append(paired, p.Metric)
		if p.Metric == MetricEvalInGreedy+"/pick" && (p.Pairs != 1 || math.Abs(p.Mean-0.4) > 1e-12) {
			t.Errorf("paired %+v", p)
		}
	}
	if !slices.Equal(paired, fm) {
		t.Errorf("paired metrics %v, want %v", paired, fm)
	}

	// Without breakdowns: the overall rates alone.
	st, err = StudyRuns(context.Background(), dirs[2:], StudyOptions{Seed: 1, LemmaGroups: -1})
	if err != nil {
		t.Fatal(err)
	}
	if fm := st.FinalMetrics(); !slices.Equal(fm, []string{MetricEvalInGreedy}) {
		t.Errorf("final metrics without breakdowns: %v", fm)
	}
}
