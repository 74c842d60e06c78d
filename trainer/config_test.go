package trainer

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestDefaultsValid(t *testing.T) {
	for _, preset := range Presets() {
		for _, algo := range []string{AlgoGRPO, AlgoGCD} {
			c, err := Defaults(preset, algo)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("%s %s: %v", preset, algo, err)
			}
			if (algo == AlgoGCD) != (c.GCD.Lambda > 0 && c.GCD.Correction && c.ColdStart.VerdictWeight > 0) {
				t.Errorf("%s %s: gcd parts %+v", preset, algo, c.GCD)
			}
		}
	}
	if _, err := Defaults("huge", AlgoGRPO); !errors.Is(err, ErrConfig) {
		t.Errorf("unknown preset: %v", err)
	}
	if _, err := Defaults(PresetDefault, "ppo"); !errors.Is(err, ErrConfig) {
		t.Errorf("unknown algo: %v", err)
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	c, _ := Defaults(PresetQuick, AlgoGCD)
	c.Run, c.Seed, c.GCD.Threshold, c.Rollout.Unconstrained = "r", 1<<63+5, 0.25, true
	var buf bytes.Buffer
	if err := c.WriteYAML(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeConfig(&buf, "c.yaml", Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Fatalf("round trip:\n%+v\nwant\n%+v", got, c)
	}
}

func TestDecodeConfig(t *testing.T) {
	base, _ := Defaults(PresetDefault, AlgoGRPO)
	got, err := DecodeConfig(strings.NewReader("iterations: 7\nupdate:\n  lr: 0.01\n"), "c.yaml", base)
	if err != nil {
		t.Fatal(err)
	}
	want := base
	want.Iterations, want.Update.LR = 7, 0.01
	if got != want {
		t.Fatalf("got %+v", got)
	}
	if got, err := DecodeConfig(strings.NewReader(""), "empty.yaml", base); err != nil || got != base {
		t.Fatalf("empty file: %v", err)
	}
	for _, bad := range []string{"iteration: 7\n", "update: {lrr: 1}\n", "iterations: many\n", "[1, 2]\n"} {
		if _, err := DecodeConfig(strings.NewReader(bad), "bad.yaml", base); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "bad.yaml") {
			t.Errorf("%q: %v, want ErrConfig naming the file", bad, err)
		}
	}
}

func TestDecodeConfigTOML(t *testing.T) {
	base, _ := Defaults(PresetDefault, AlgoGRPO)
	got, err := DecodeConfig(strings.NewReader("iterations = 7\n[update]\nlr = 0.01\n[gcd]\nmax_tries = 3\n"), "c.toml", base)
	if err != nil {
		t.Fatal(err)
	}
	want := base
	want.Iterations, want.Update.LR, want.GCD.MaxTries = 7, 0.01, 3
	if got != want {
		t.Fatalf("got %+v", got)
	}
	if a, err := PeekAlgo(strings.NewReader("algo = \"gcd\"\n"), "c.toml"); err != nil || a != AlgoGCD {
		t.Fatalf("PeekAlgo = %q, %v", a, err)
	}
	if got, err := DecodeConfig(strings.NewReader(""), "empty.toml", base); err != nil || got != base {
		t.Fatalf("empty file: %v", err)
	}
	for _, bad := range []string{"iteration = 7\n", "[update]\nlrr = 1\n", "iterations = \"many\"\n", "iterations = \n"} {
		if _, err := DecodeConfig(strings.NewReader(bad), "bad.toml", base); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "bad.toml") {
			t.Errorf("%q: %v, want ErrConfig naming the file", bad, err)
		}
	}
}

func TestValidate(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"env":            func(c *Config) { c.Env = "kitchen" },
		"grpo with gcd":  func(c *Config) { c.GCD.Lambda = 1 },
		"heads":          func(c *Config) { c.Model.Heads = 3 },
		"context":        func(c *Config) { c.Model.Context = 8 },
		"history":        func(c *Config) { c.Model.History = -1 },
		"tasks > pool":   func(c *Config) { c.Rollout.Tasks = c.TrainTasks + 1 },
		"temperature":    func(c *Config) { c.Rollout.Temperature = 0 },
		"clip":           func(c *Config) { c.Update.Clip = 1 },
		"beta NaN":       func(c *Config) { c.Update.KLBeta = nan() },
		"judge j":        func(c *Config) { c.Judge.J = 0 },
		"judge eps":      func(c *Config) { c.Judge.Eps = 1.5 },
		"eval modes":     func(c *Config) { c.Eval.Greedy, c.Eval.Sampled = false, false },
		"max steps":      func(c *Config) { c.Rollout.MaxSteps = -1 },
		"epochs":         func(c *Config) { c.Update.Epochs = 0 },
		"adam eps":       func(c *Config) { c.Update.AdamEps = 0 },
		"threshold":      func(c *Config) { c.GCD.Threshold = 2 },
		"cold start lr":  func(c *Config) { c.ColdStart.LR = -1 },
		"cold start bat": func(c *Config) { c.ColdStart.Batch = 0 },
	} {
		c, _ := Defaults(PresetDefault, AlgoGRPO)
		mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}

func nan() float64 {
	var z float64
	return z / z
}
