package trainer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/policy"
)

// coldConfig is tinyConfig with a cold start of a few more steps and
// nothing after it.
func coldConfig() Config {
	c := tinyConfig()
	c.Iterations = 0
	c.Eval.Every = 0
	c.ColdStart = ColdStartConfig{Demos: 3, Steps: 8, Batch: 4, LR: 1e-2, VerdictWeight: 0.5}
	return c
}

// wteRow is the embedding row of token id in params.
func wteRow(m *policy.Model, params []float64, id int) []float64 {
	d := m.Config().Dim
	for _, t := range m.Tensors() {
		if t.Name == "transformer.wte.weight" {
			return params[t.Offset+id*d : t.Offset+(id+1)*d]
		}
	}
	panic("no wte")
}

// pairCosine is the mean cosine over the distinct pairs of xs (none zero).
func pairCosine(xs [][]float64) float64 {
	var sum float64
	n := 0
	for i := range xs {
		for j := range i {
			var xy, xx, yy float64
			for k := range xs[i] {
				xy += xs[i][k] * xs[j][k]
				xx += xs[i][k] * xs[i][k]
				yy += xs[j][k] * xs[j][k]
			}
			sum += xy / math.Sqrt(xx*yy)
			n++
		}
	}
	return sum / float64(n)
}

// TestFreezeUnseen: with cold_start.freeze_unseen the embedding rows of
// the tokens absent from the cold-start data stay bit for bit as
// initialised while the rows of seen tokens train; without it the same
// unseen rows all move (the full softmax's normaliser reaches them, and
// Adam scales its small gradient up), and they move in a shared
// direction. ColdStartTokens names the same tokens the run froze.
func TestFreezeUnseen(t *testing.T) {
	for _, freeze := range []bool{false, true} {
		cfg := coldConfig()
		cfg.ColdStart.FreezeUnseen = freeze
		tr, err := newTrainer(cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		init := slices.Clone(tr.model.Params)
		st, err := tr.coldStart(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		tok, unseen, err := ColdStartTokens(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Kind() != policy.TokenizerWord || tok.Size() != tr.tok.Size() {
			t.Fatalf("ColdStartTokens tokenizer %s of %d tokens, the run's %d", tok.Kind(), tok.Size(), tr.tok.Size())
		}
		// Held-out names of household's eval-out (the names shift) are among them.
		for _, w := range []string{policy.PadToken, policy.UnkToken, "bodax", "kabrol"} {
			if id, ok := tok.ID(w); !ok || !slices.Contains(unseen, id) {
				t.Errorf("%q is not an unseen token of the vocabulary", w)
			}
		}
		if want := 0; !freeze && st.Frozen != want || freeze && st.Frozen != len(unseen) {
			t.Errorf("freeze %v: Frozen %d, %d unseen tokens", freeze, st.Frozen, len(unseen))
		}
		var shifts [][]float64
		moved := 0
		for _, id := range unseen {
			a, b := wteRow(tr.model, init, id), wteRow(tr.model, tr.model.Params, id)
			if !slices.Equal(a, b) {
				moved++
				s := make([]float64, len(a))
				for k := range s {
					s[k] = b[k] - a[k]
				}
				shifts = append(shifts, s)
			}
		}
		seenMoved := 0
		for id := range tok.Size() {
			if !slices.Contains(unseen, id) && !slices.Equal(wteRow(tr.model, init, id), wteRow(tr.model, tr.model.Params, id)) {
				seenMoved++
			}
		}
		if seenMoved != tok.Size()-len(unseen) {
			t.Errorf("freeze %v: %d of %d seen rows trained", freeze, seenMoved, tok.Size()-len(unseen))
		}
		if freeze {
			if moved != 0 {
				t.Errorf("freeze: %d of %d unseen rows changed", moved, len(unseen))
			}
			continue
		}
		if moved != len(unseen) {
			t.Errorf("no freeze: %d of %d unseen rows moved", moved, len(unseen))
		}
		c := pairCosine(shifts)
		t.Logf("no freeze: %d unseen rows moved, mean pairwise cosine of their shifts %.3f", moved, c)
		if !(c > 0.5) {
			t.Errorf("no freeze: unseen rows moved apart (mean shift cosine %.3f), not together", c)
		}
	}
}

// TestColdStartTokensNoColdStart: without a cold start every token is
// unseen, and InitialModel is the model a run saves as checkpoint 0.
func TestColdStartTokensNoColdStart(t *testing.T) {
	cfg := coldConfig()
	cfg.ColdStart.Demos = 0
	tok, unseen, err := ColdStartTokens(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(unseen) != tok.Size() {
		t.Errorf("%d unseen of %d tokens without a cold start", len(unseen), tok.Size())
	}
	dir := runDir(t, cfg, "run")
	m, _, err := policy.Load(filepath.Join(dir, CheckpointDir(0)))
	if err != nil {
		t.Fatal(err)
	}
	init, _, err := InitialModel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(init.Params, m.Params) {
		t.Error("InitialModel differs from checkpoint 0 of a run without cold start")
	}
}

// TestCharTokenizerRun: model.tokenizer char builds the actor over
// characters; its cold start trains (the loss falls) and leaves few
// tokens unseen, a short run works end to end, and its
// checkpoints record the kind and load back as the character tokenizer.
func TestCharTokenizerRun(t *testing.T) {
	cfg := coldConfig()
	cfg.Model.Tokenizer = policy.TokenizerChar
	cfg.Model.Context = 1024
	cfg.ColdStart.Steps = 6
	tr, err := newTrainer(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.tok.Kind() != policy.TokenizerChar || tr.model.Config().VocabSize != tr.tok.Size() || tr.tok.Size() > 64 {
		t.Fatalf("tokenizer %s of %d tokens", tr.tok.Kind(), tr.tok.Size())
	}
	st, err := tr.coldStart(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !(st.LossLast < st.LossFirst) || st.Samples == 0 {
		t.Errorf("char cold start: %+v", st)
	}
	// Even 3 demonstrations leave few characters unseen (rare letters and
	// digits), where the word tokenizer leaves most names unseen.
	_, unseen, err := ColdStartTokens(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, unseenWords, err := ColdStartTokens(coldConfig())
	if err != nil {
		t.Fatal(err)
	}
	if len(unseen) > 8 || 4*len(unseen) > len(unseenWords) {
		t.Errorf("%d unseen characters, %d unseen words", len(unseen), len(unseenWords))
	}

	cfg.Iterations = 1
	cfg.Rollout.Tasks, cfg.Rollout.GroupSize, cfg.Rollout.MaxSteps = 1, 2, 3
	cfg.ColdStart.Steps = 2
	dir := runDir(t, cfg, "char")
	for _, it := range []int{0, 1} {
		ck := filepath.Join(dir, CheckpointDir(it))
		b, err := os.ReadFile(filepath.Join(ck, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(`"tokenizer": "char"`)) {
			t.Errorf("checkpoint %d config.json does not record the char tokenizer", it)
		}
		_, tok, err := policy.Load(ck)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Kind() != policy.TokenizerChar || !slices.Equal(tok.Tokens(), tr.tok.Tokens()) {
			t.Errorf("checkpoint %d loads a %s tokenizer", it, tok.Kind())
		}
	}
	man, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if man.Config.Model.Tokenizer != policy.TokenizerChar {
		t.Errorf("run.json model.tokenizer %q", man.Config.Model.Tokenizer)
	}
	// A word-tokenizer run cannot start from the char checkpoint.
	word := coldConfig()
	word.Init = filepath.Join(dir, CheckpointDir(0))
	word.Model.Context = 1024
	if _, err := Run(context.Background(), word, Options{Dir: filepath.Join(t.TempDir(), "w")}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "another vocabulary") {
		t.Errorf("word run from a char checkpoint: %v", err)
	}
}

// TestTokenizerConfig: the new keys are omitted at their zero values (so
// run.json and YAML of existing configurations are unchanged), decode from
// YAML, and are validated.
func TestTokenizerConfig(t *testing.T) {
	c, err := Defaults(PresetDefault, AlgoGCD)
	if err != nil {
		t.Fatal(err)
	}
	var y bytes.Buffer
	if err := c.WriteYAML(&y); err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(c)
	for _, key := range []string{"tokenizer", "freeze_unseen"} {
		if strings.Contains(y.String(), key) || strings.Contains(string(j), key) {
			t.Errorf("default configuration writes %s", key)
		}
	}
	d, err := DecodeConfig(strings.NewReader("model:\n  tokenizer: char\n  context: 1024\ncold_start:\n  freeze_unseen: true\n"), "c.yaml", c)
	if err != nil {
		t.Fatal(err)
	}
	if d.Model.Tokenizer != policy.TokenizerChar || !d.ColdStart.FreezeUnseen || d.Validate() != nil {
		t.Errorf("decoded %+v %+v: %v", d.Model, d.ColdStart, d.Validate())
	}
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"unknown tokenizer", func(c *Config) { c.Model.Tokenizer = "bpe" }, "model.tokenizer"},
		{"char short context", func(c *Config) { c.Model.Tokenizer = policy.TokenizerChar }, "model.context"},
		{"char lab short context", func(c *Config) { c.Env, c.Model.Tokenizer, c.Model.Context = env.Lab, policy.TokenizerChar, 1000 }, "model.context"},
		{"char unconstrained", func(c *Config) {
			c.Model.Tokenizer, c.Model.Context, c.Rollout.Unconstrained = policy.TokenizerChar, 1024, true
		}, "rollout.max_action_tokens"},
	} {
		c2 := c
		tc.edit(&c2)
		if err := c2.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	for _, edit := range []func(*Config){
		func(c *Config) { c.Model.Tokenizer = policy.TokenizerWord },
		func(c *Config) { c.Env, c.Model.Tokenizer = env.Bandit, policy.TokenizerChar }, // short prompts
		func(c *Config) {
			c.Model.Tokenizer, c.Model.Context, c.Rollout.Unconstrained, c.Rollout.MaxActionTokens = policy.TokenizerChar, 1024, true, 40
		},
	} {
		c2 := c
		edit(&c2)
		if err := c2.Validate(); err != nil {
			t.Error(err)
		}
	}
}
