package analysis

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/policy"
	"github.com/gradcouple/gradcouple/trajlog"
)

// tinyRun writes a small run directory: run.json, two checkpoints of a
// d=16, one-layer actor (iteration 0 a seeded initialisation, iteration 1
// the same weights after a seeded perturbation of standard deviation 0.05,
// standing in for training) and two iterations of household logs sampled
// by a mix of the oracle and random play, with GRPO advantages and judge
// labels. It returns the directory.
func tinyRun(t testing.TB, name string, seed uint64) string {
	t.Helper()
	return tinyRunOf(t, name, env.Household, 6, seed)
}

// tinyRunOf is tinyRun with its logs drawn from the environment envName
// (household or a variant), tasks tasks per iteration.
func tinyRunOf(t testing.TB, name, envName string, tasks int, seed uint64) string {
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
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for it := range 2 {
		recs, _, err := env.Sample(env.SampleConfig{Env: envName, Split: env.SplitTrain, Tasks: tasks, Seed: seed*10 + uint64(it),
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
	manifest := fmt.Sprintf(`{"format": 1, "run": %q, "env": %q, "algo": "grpo", "seed": %d,
  "config": {"model": {"dim": 16, "layers": 1, "history": 2}, "rollout": {"temperature": 1}, "judge": {"j": 5, "eps": 0.1}}}`, name, envName, seed)
	if err := os.WriteFile(filepath.Join(dir, "run.json"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// openTinyRun is tinyRun and OpenRun.
func openTinyRun(t testing.TB, name string, seed uint64) Run {
	t.Helper()
	r, err := OpenRun(tinyRun(t, name, seed))
	if err != nil {
		t.Fatal(err)
	}
	return r
}
