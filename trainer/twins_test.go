package trainer

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/env"
)

// banditConfig is a GRPO run on the default bandit that learns the cue in
// about a second: no cold start, a one-layer d 32 actor, B x G = 16 x 8.
func banditConfig() Config {
	c, err := Defaults(PresetDefault, AlgoGRPO)
	if err != nil {
		panic(err)
	}
	c.Run, c.Env, c.Seed = "bandit", env.Bandit, 1
	c.Iterations, c.TrainTasks, c.CheckpointEvery = 40, 200, 0
	c.Model = ModelConfig{Dim: 32, Layers: 1, Heads: 2, Context: 96, History: 0}
	c.ColdStart.Demos = 0
	c.Rollout.Tasks, c.Rollout.GroupSize, c.Rollout.MaxSteps = 16, 8, 1
	c.Update.LR, c.Update.KLBeta = 3e-3, 0
	c.Eval = EvalConfig{Every: 40, Tasks: 64, Greedy: true}
	return c
}

// twinPairs counts the seeds of a batch whose twin is in it too.
func twinPairs(seeds []int) int {
	n := 0
	for _, s := range seeds {
		if slices.Contains(seeds, int(env.TwinSeed(uint64(s)))) {
			n++
		}
	}
	return n
}

// TestDrawTasksTwinShare: share 0 is the trainer's draw without the knob
// (the first B of the iteration's permutation: twins meet by chance only);
// share 1 draws whole twin pairs; in between, the share of seeds with their
// twin lies between the two.
func TestDrawTasksTwinShare(t *testing.T) {
	cfg := banditConfig()
	cfg.Rollout.Tasks, cfg.TrainTasks = 8, 200
	var paired [3]int
	for i := range 200 {
		for k, share := range []float64{0, 0.5, 1} {
			cfg.Rollout.TwinShare = share
			seeds := drawTasks(cfg, i)
			if len(seeds) != 8 || len(slices.Compact(slices.Sorted(slices.Values(seeds)))) != 8 {
				t.Fatalf("share %v iteration %d: seeds %v", share, i, seeds)
			}
			for _, s := range seeds {
				if s < 0 || s >= cfg.TrainTasks {
					t.Fatalf("seed %d outside the pool", s)
				}
			}
			switch share {
			case 0:
				if want := stream(cfg.Seed, i, purposeTasks, 0).Perm(cfg.TrainTasks)[:8]; !slices.Equal(seeds, want) {
					t.Fatalf("share 0 iteration %d: %v, want the uniform draw %v", i, seeds, want)
				}
			case 1:
				if twinPairs(seeds) != 8 {
					t.Fatalf("share 1 iteration %d: %v has unpaired tasks", i, seeds)
				}
			}
			paired[k] += twinPairs(seeds)
		}
	}
	// 1,600 seeds per share: by chance a twin is in the batch with
	// probability 7/199 (about 56 seeds); at share 0.5, 2p/(1+p) = 2/3.
	if paired[0] > 120 || paired[1] < 900 || paired[1] > 1250 || paired[2] != 1600 {
		t.Errorf("seeds with their twin in the batch at share 0, 0.5, 1: %v", paired)
	}
	// An odd batch and an odd pool: the last task's twin has no room, seed
	// 4's twin 5 is not in the pool of 5.
	cfg.Rollout.Tasks, cfg.TrainTasks, cfg.Rollout.TwinShare = 3, 5, 1
	for i := range 50 {
		seeds := drawTasks(cfg, i)
		if len(seeds) != 3 || (slices.Contains(seeds, 4) && twinPairs(seeds) > 2) {
			t.Fatalf("odd batch %v", seeds)
		}
	}
}

func TestValidateTwinShare(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"share > 1":          func(c *Config) { c.Rollout.TwinShare = 1.5 },
		"share < 0":          func(c *Config) { c.Rollout.TwinShare = -0.1 },
		"share NaN":          func(c *Config) { c.Rollout.TwinShare = nan() },
		"share on household": func(c *Config) { c.Env, c.Rollout.TwinShare = env.Household, 0.5 },
		"bandit not canon":   func(c *Config) { c.Env = "bandit-alias-d4" },
		"bandit default opt": func(c *Config) { c.Env = "bandit-k4" },
		"bandit bad":         func(c *Config) { c.Env = "bandit-k1" },
	} {
		c := banditConfig()
		mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	for _, name := range []string{"bandit", "bandit-d4-alias", "bandit-k8-f32"} {
		c := banditConfig()
		c.Env, c.Rollout.TwinShare = name, 1
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestTwinShareConfigFile: a zero twin share is left out of the YAML and
// run.json forms (existing configurations write what they wrote before);
// a set one round-trips.
func TestTwinShareConfigFile(t *testing.T) {
	c := banditConfig()
	var buf bytes.Buffer
	if err := c.WriteYAML(&buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "twin_share") {
		t.Errorf("zero twin share written:\n%s", buf.String())
	}
	c.Rollout.TwinShare = 0.25
	buf.Reset()
	if err := c.WriteYAML(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeConfig(&buf, "c.yaml", Config{})
	if err != nil || got != c {
		t.Fatalf("round trip: %v\n%+v", err, got.Rollout)
	}
	got, err = DecodeConfig(strings.NewReader("[rollout]\ntwin_share = 1.0\n"), "c.toml", c)
	if err != nil || got.Rollout.TwinShare != 1 {
		t.Fatalf("toml: %v %v", err, got.Rollout.TwinShare)
	}
}

// TestBanditLearns: GRPO from scratch learns the cue of the default bandit
// well above chance (1/4) in a couple of seconds, with whole twin pairs in
// every batch.
func TestBanditLearns(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a few seconds")
	}
	cfg := banditConfig()
	cfg.Rollout.TwinShare = 1
	dir := filepath.Join(t.TempDir(), "bandit")
	res, err := Run(context.Background(), cfg, Options{Dir: dir, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	first, last := res.Metrics[0], res.Metrics[len(res.Metrics)-1]
	if first.EvalInGreedy == nil || last.EvalInGreedy == nil || last.EvalOutGreedy == nil {
		t.Fatal("no evaluation")
	}
	in, out := *last.EvalInGreedy, *last.EvalOutGreedy
	t.Logf("greedy success eval-in %.3f -> %.3f, eval-out %.3f -> %.3f", *first.EvalInGreedy, in, *first.EvalOutGreedy, out)
	// 64 tasks at chance 1/4: sd 0.054; 0.45 is 3.7 sd above.
	if in < 0.45 || out < 0.45 {
		t.Errorf("greedy success eval-in %.3f, eval-out %.3f after %d iterations: not above chance", in, out, cfg.Iterations)
	}
}
