package cli

import (
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/policy"
	"github.com/gradcouple/gradcouple/trajlog"
)

// runFixture writes a small run directory (as analysis' tests do): run.json,
// checkpoints 0 (a seeded d=16 one-layer actor) and 1 (perturbed), and two
// iterations of household logs with GRPO advantages and judge labels.
func runFixture(t *testing.T, name string, seed uint64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	tok, err := policy.EnvTokenizer(env.Household)
	if err != nil {
		t.Fatal(err)
	}
	m, err := policy.NewModel(policy.Config{VocabSize: tok.Size(), Dim: 16, Layers: 1, Heads: 2, Context: 256}, rand.New(rand.NewPCG(seed, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := policy.Save(filepath.Join(dir, "checkpoints", "iter-000000"), m, tok, nil); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	for i := range m.Params {
		m.Params[i] += 0.05 * rng.NormFloat64()
	}
	m.RoundToFloat32()
	if err := policy.Save(filepath.Join(dir, "checkpoints", "iter-000001"), m, tok, nil); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
	for it := range 2 {
		recs, _, err := env.Sample(env.SampleConfig{Env: env.Household, Split: env.SplitTrain, Tasks: 6, Seed: seed*10 + uint64(it),
			GroupSize: 4, Policy: "mix", Eps: 0.7, Judge: env.Judge{J: 5, Eps: 0.1}, Run: name, GRPOAdvantage: true})
		if err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			recs[i].Iteration = int32(it)
			recs[i].TrajID = fmt.Sprintf("i%06d:%s", it, recs[i].TrajID)
		}
		if err := trajlog.WriteFile(filepath.Join(dir, "logs", fmt.Sprintf("iter-%06d.parquet", it)), recs, trajlog.Meta{Run: name}); err != nil {
			t.Fatal(err)
		}
	}
	manifest := fmt.Sprintf(`{"run": %q, "env": "household", "algo": "grpo", "config": {"model": {"history": 2}, "rollout": {"temperature": 1}, "judge": {"j": 5, "eps": 0.1}}}`, name)
	os.WriteFile(filepath.Join(dir, "run.json"), []byte(manifest), 0o644)
	return dir
}

func readCSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func TestCouplingCommand(t *testing.T) {
	run1 := runFixture(t, "alpha", 1)
	dir := t.TempDir()
	probes, out := filepath.Join(dir, "p.parquet"), filepath.Join(dir, "c.csv")
	heat, sim := filepath.Join(dir, "heat.csv"), filepath.Join(dir, "sim.json")
	stdout, stderr, code := run(t, "coupling", run1, "--num-probes", "40", "--heat", "4", "--pairs", "4", "--eta", "1e-3",
		"--probes-out", probes, "--out", out, "--heatmap-out", heat, "--sim-out", sim)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"40 probes (20 good, 20 bad) drawn with seed 1", "heatmap 4 x 4", "wrote " + probes,
		"cos_good_bad", "harmful_rate", "alpha iteration 1: heatmap predicted vs measured", "wrote " + heat, "wrote " + sim} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	rows := readCSV(t, out)
	if len(rows) != 2 || rows[1]["iteration"] != "1" || rows[1]["n"] != "40" {
		t.Fatalf("rows %v", rows)
	}
	if h := readCSV(t, heat); len(h) != 2*16 {
		t.Errorf("%d heatmap rows", len(h))
	}
	// Reusing the probe file on another run gives the same samples; on the
	// same run the same numbers.
	out2 := filepath.Join(dir, "c2.csv")
	if _, stderr, code := run(t, "coupling", run1, "--probes", probes, "--eta", "1e-3", "--out", out2); code != 0 {
		t.Fatalf("--probes: exit %d: %s", code, stderr)
	}
	again := readCSV(t, out2)
	for _, col := range []string{"cos_good_bad", "harmful_rate", "heat_pearson", "probe_acc_verdict"} {
		if again[1][col] != rows[1][col] {
			t.Errorf("%s: %s with --probes, %s before", col, again[1][col], rows[1][col])
		}
	}
	run2 := runFixture(t, "beta", 2)
	if stdout, stderr, code := run(t, "coupling", run2, "--probes", probes, "--checkpoints", "1"); code != 0 || !strings.Contains(stdout, "40 probes from") {
		t.Fatalf("other run: exit %d: %s\n%s", code, stderr, stdout)
	}

	// Sharded == unsharded, through the commands.
	shards := filepath.Join(dir, "shards")
	for i := range 3 {
		if _, stderr, code := run(t, "coupling", run1, "--probes", probes, "--checkpoints", "1", "--eta", "1e-3",
			"--shard", fmt.Sprintf("%d/3", i), "--shard-dir", shards, "--tile-rows", "8"); code != 0 {
			t.Fatalf("shard %d: exit %d: %s", i, code, stderr)
		}
	}
	files, _ := filepath.Glob(filepath.Join(shards, "*.safetensors"))
	merged := filepath.Join(dir, "merged.csv")
	stdout, stderr, code = run(t, append(append([]string{"merge"}, files...), "--out", merged, "--gram-dir", filepath.Join(dir, "grams"))...)
	if code != 0 || !strings.Contains(stdout, "alpha iteration 1: 3 shard files, 40 x 40 Gram") {
		t.Fatalf("merge: exit %d: %s\n%s", code, stderr, stdout)
	}
	m := readCSV(t, merged)[0]
	for _, col := range []string{"cos_good", "cos_bad", "cos_good_bad", "harmful_pairs", "harmful_rate", "harmful_mass", "net_delta"} {
		if m[col] != rows[1][col] {
			t.Errorf("merged %s = %s, unsharded %s", col, m[col], rows[1][col])
		}
	}
	if _, stderr, code := run(t, append([]string{"merge"}, files[:2]...)...); code != ExitBadInput || !strings.Contains(stderr, "missing shards") || !strings.Contains(stderr, "--partial") {
		t.Errorf("incomplete merge: exit %d: %s", code, stderr)
	}
	if out, stderr, code := run(t, append([]string{"merge", "--partial"}, files[:2]...)...); code != 0 || !strings.Contains(out, "1 shards missing") || !strings.Contains(out, "alpha") {
		t.Errorf("merge --partial: exit %d: %s%s", code, out, stderr)
	}

	// Export in Bergson form, then analyse it as an external store.
	exp := filepath.Join(dir, "export")
	if _, stderr, code := run(t, "coupling", run1, "--probes", probes, "--checkpoints", "1", "--export", exp, "--export-format", "bergson"); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	store := filepath.Join(exp, "alpha-iter-000001")
	storeOut := filepath.Join(dir, "store.csv")
	stdout, stderr, code = run(t, "coupling", "--grads", store, "--samples", filepath.Join(store, "samples.parquet"), "--eta", "1e-3", "--out", storeOut)
	if code != 0 || !strings.Contains(stdout, "bergson store "+store+": 40 x 11984 F32") { // 16 columns per word of env.Words(household)
		t.Fatalf("store: exit %d: %s\n%s", code, stderr, stdout)
	}
	s := readCSV(t, storeOut)[0]
	for _, col := range []string{"cos_good_bad", "harmful_rate", "harmful_mass"} {
		if s[col] != rows[1][col] {
			t.Errorf("store %s = %s, run %s", col, s[col], rows[1][col])
		}
	}
}

func TestCouplingBadInput(t *testing.T) {
	run1 := runFixture(t, "alpha", 3)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.npy")
	os.WriteFile(bad, []byte("\x93NUMPY\x01\x00\x10\x00{'descr': '<i4'}\n"), 0o644)
	labels := filepath.Join(dir, "l.csv")
	os.WriteFile(labels, []byte("label\n1\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"coupling"}, "want RUN..."},
		{[]string{"coupling", "--grads", bad}, "--samples TABLE is required"},
		{[]string{"coupling", run1, "--grads", bad, "--samples", labels}, "not both"},
		{[]string{"coupling", run1, "--samples", labels}, "labels an external store"},
		{[]string{"coupling", "--grads", bad, "--samples", labels}, "bad.npy"},
		{[]string{"coupling", filepath.Join(dir, "nope")}, "no run.json"},
		{[]string{"coupling", run1, "--eta", "-1"}, "--eta"},
		{[]string{"coupling", run1, "--shard", "3/2"}, "0 <= i < n"},
		{[]string{"coupling", run1, "--sim-edges", "0.5,0.2"}, "increasing"},
		{[]string{"coupling", run1, "--max-bytes", "lots"}, "--max-bytes"},
		{[]string{"coupling", run1, "--num-probes", "40", "--max-bytes", "1M", "--probes-out", filepath.Join(dir, "p.parquet")}, "--project K"},
		{[]string{"coupling", run1, "--checkpoints", "7", "--probes-out", filepath.Join(dir, "p.parquet")}, "no checkpoint of iteration 7"},
		{[]string{"coupling", run1, "--tensors", "transformer.nope", "--probes-out", filepath.Join(dir, "p.parquet")}, "transformer.nope"},
		{[]string{"coupling", run1, "--export", dir, "--export-format", "hdf5"}, "hdf5"},
		{[]string{"coupling", run1, "--probes", labels}, "missing column"},
		{[]string{"merge", labels}, "l.csv"},
	} {
		_, stderr, code := run(t, c.args...)
		if code != ExitBadInput || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, stderr, c.want)
		}
	}
}

func TestConsistencyResampleCommand(t *testing.T) {
	run1 := runFixture(t, "alpha", 4)
	dir := t.TempDir()
	out, states := filepath.Join(dir, "r.csv"), filepath.Join(dir, "s.parquet")
	stdout, stderr, code := run(t, "consistency", run1, "--repeated", "5", "--random", "5", "--out", out, "--states-out", states,
		"--probes-out", filepath.Join(dir, "probes.csv"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"10 probe states (5 repeated, 5 random)", "reconstruction: 10 ok", "10 actions per state at temperature 1",
		"high_good", "wrote " + out} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	rows := readCSV(t, out)
	if len(rows) != 6 || rows[0]["kind"] != "all" || rows[0]["iteration"] != "0" || rows[5]["iteration"] != "1" {
		t.Errorf("rows %v", rows)
	}
	// The log-based measure still runs on logs.
	if stdout, stderr, code := run(t, "consistency", filepath.Join(run1, "logs"), "--k", "2", "--threshold", "1"); code != 0 || !strings.Contains(stdout, "states occur at least 2 times") {
		t.Errorf("logs: exit %d: %s\n%s", code, stderr, stdout)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"consistency", run1, filepath.Join(run1, "logs")}, "not both"},
		{[]string{"consistency", filepath.Join(run1, "logs"), "--temperature", "0.5"}, "applies to resampling"},
		{[]string{"consistency", run1, "--k", "3", "--threshold", "4"}, "--threshold"},
		{[]string{"consistency", run1, "--checkpoints", "9"}, "no checkpoint of iteration 9"},
	} {
		_, stderr, code := run(t, c.args...)
		if code != ExitBadInput || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, stderr, c.want)
		}
	}
}

func TestModelGradsFormats(t *testing.T) {
	dir, log, ck := modelFixture(t)
	for _, c := range []struct{ format, out, want string }{
		{"npy", filepath.Join(dir, "g.npy"), "F32 ("},
		{"bergson", filepath.Join(dir, "g-bergson"), "bergson"},
	} {
		stdout, stderr, code := run(t, "model", "grads", "--checkpoint", ck, "--samples", log, "--out", c.out, "--format", c.format, "--dtype", "f16")
		if code != 0 || !strings.Contains(stdout, "F16") {
			t.Fatalf("%s: exit %d: %s\n%s", c.format, code, stderr, stdout)
		}
		samples := strings.TrimSuffix(c.out, ".npy") + ".samples.parquet"
		if c.format == "bergson" {
			samples = filepath.Join(c.out, "samples.parquet")
		}
		stdout, stderr, code = run(t, "coupling", "--grads", c.out, "--samples", samples)
		if code != 0 || !strings.Contains(stdout, c.format+" store") {
			t.Errorf("%s read back: exit %d: %s\n%s", c.format, code, stderr, stdout)
		}
	}
	if _, stderr, code := run(t, "model", "grads", "--checkpoint", ck, "--samples", log, "--out", filepath.Join(dir, "x.safetensors"), "--format", "npy"); code != ExitBadInput || !strings.Contains(stderr, "FILE.npy") {
		t.Errorf("npy with .safetensors: exit %d: %s", code, stderr)
	}
}

// TestMalformedGradStoresExit2 runs `coupling --grads` on every committed
// malformed store of testdata/gradstores/malformed.
func TestMalformedGradStoresExit2(t *testing.T) {
	fixtures, _ := filepath.Glob("../../testdata/gradstores/malformed/*")
	if len(fixtures) == 0 {
		t.Fatal("no fixtures in testdata/gradstores/malformed")
	}
	labels := filepath.Join(t.TempDir(), "l.csv")
	os.WriteFile(labels, []byte("label\n1\n0\n"), 0o644)
	for _, f := range fixtures {
		_, stderr, code := run(t, "coupling", "--grads", f, "--samples", labels)
		if code != ExitBadInput || !strings.Contains(stderr, filepath.Base(f)) || strings.Count(strings.TrimRight(stderr, "\n"), "\n") != 0 {
			t.Errorf("coupling --grads %s: exit %d, stderr %q", f, code, stderr)
		}
	}
}
