package checkpoint

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// compareCheckpoints fails unless got equals want bit for bit.
func compareCheckpoints(t *testing.T, want, got *Checkpoint) {
	t.Helper()
	if diff := cmp.Diff(want.Config, got.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.Vocab, got.Vocab); diff != "" {
		t.Errorf("vocab (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.Extra, got.Extra); diff != "" {
		t.Errorf("extra (-want +got):\n%s", diff)
	}
	if len(got.Tensors) != len(want.Tensors) {
		t.Errorf("%d tensors, want %d", len(got.Tensors), len(want.Tensors))
	}
	for name, v := range want.Tensors {
		if !equalBits(got.Tensors[name], v) {
			t.Errorf("tensor %s differs", name)
		}
	}
	if (want.Optimizer == nil) != (got.Optimizer == nil) {
		t.Fatalf("optimizer %v, want %v", got.Optimizer != nil, want.Optimizer != nil)
	}
	if want.Optimizer == nil {
		return
	}
	wantOpt, gotOpt := want.Optimizer, got.Optimizer
	if gotOpt.Step != wantOpt.Step || gotOpt.DType != wantOpt.DType && !(wantOpt.DType == "" && gotOpt.DType == F64) {
		t.Errorf("optimizer step %d dtype %s, want %d %s", gotOpt.Step, gotOpt.DType, wantOpt.Step, wantOpt.DType)
	}
	if diff := cmp.Diff(wantOpt.Extra, gotOpt.Extra); diff != "" {
		t.Errorf("optimizer extra (-want +got):\n%s", diff)
	}
	for _, m := range []struct{ w, g map[string][]float64 }{{wantOpt.M, gotOpt.M}, {wantOpt.V, gotOpt.V}} {
		if len(m.w) != len(m.g) {
			t.Errorf("%d moments, want %d", len(m.g), len(m.w))
		}
		for name, v := range m.w {
			want := v
			if wantOpt.DType == F32 {
				want = make([]float64, len(v))
				for i, x := range v {
					want[i] = float64(float32(x))
				}
			}
			if !equalBits64(m.g[name], want) {
				t.Errorf("moment of %s differs", name)
			}
		}
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	want := tinyCheckpoint()
	// Awkward but finite values must survive bit for bit.
	wte := want.Tensors["transformer.wte.weight"]
	wte[0], wte[1], wte[2] = float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, math.MaxFloat32
	dir := filepath.Join(t.TempDir(), "runs", "r", "checkpoints", "iter-000003")
	if err := Save(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	compareCheckpoints(t, want, got)

	// F32 moments, no extra.
	want.Optimizer.DType = F32
	want.Extra = nil
	if err := Save(dir, want); err != nil {
		t.Fatal(err)
	}
	if got, err = Load(dir); err != nil {
		t.Fatal(err)
	}
	compareCheckpoints(t, want, got)

	// Without optimizer; and LoadWith skipping it.
	if got, err = LoadWith(dir, LoadOptions{SkipOptimizer: true}); err != nil || got.Optimizer != nil {
		t.Fatalf("SkipOptimizer: %v %v", got.Optimizer, err)
	}
	want.Optimizer = nil
	if err := Save(dir, want); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, OptimizerFileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("optimizer file of the replaced checkpoint survived: %v", err)
	}
	if got, err = Load(dir); err != nil {
		t.Fatal(err)
	}
	compareCheckpoints(t, want, got)
	assertOnlyEntries(t, filepath.Dir(dir), "iter-000003")
}

// assertOnlyEntries checks that dir holds exactly names (no temporary or
// backup directories left behind).
func assertOnlyEntries(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if diff := cmp.Diff(names, got); diff != "" {
		t.Errorf("entries of %s (-want +got):\n%s", dir, diff)
	}
}

// TestSaveDeterministic: the same checkpoint gives the same bytes, whatever
// the map iteration order.
func TestSaveDeterministic(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a", "b"} {
		if err := Save(filepath.Join(root, d), tinyCheckpoint()); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{ConfigFileName, VocabFileName, ModelFileName, OptimizerFileName, ChecksumFileName} {
		a, err := os.ReadFile(filepath.Join(root, "a", name))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(root, "b", name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two saves", name)
		}
	}
}

// TestTinyFixture keeps testdata/checkpoint/tiny (rewritten with -update)
// equal, byte for byte, to what Save writes for tinyCheckpoint, and loads it.
func TestTinyFixture(t *testing.T) {
	dir := filepath.Join("..", "testdata", "checkpoint", "tiny")
	if *update {
		if err := Save(dir, tinyCheckpoint()); err != nil {
			t.Fatal(err)
		}
	}
	fresh := filepath.Join(t.TempDir(), "tiny")
	if err := Save(fresh, tinyCheckpoint()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ConfigFileName, VocabFileName, ModelFileName, OptimizerFileName, ChecksumFileName} {
		a, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%v (run go test -update ./checkpoint/)", err)
		}
		b, _ := os.ReadFile(filepath.Join(fresh, name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from what Save writes (run go test -update ./checkpoint/)", name)
		}
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	compareCheckpoints(t, tinyCheckpoint(), got)
	cfgJSON, _ := os.ReadFile(filepath.Join(dir, ConfigFileName))
	if string(cfgJSON) != goldenConfig {
		t.Errorf("committed config.json differs from the golden config")
	}
}

func TestSaveRefuses(t *testing.T) {
	root := t.TempDir()
	// A directory that is not a checkpoint is never replaced.
	other := filepath.Join(root, "run")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, "run.json"), []byte("{}"), 0o644)
	err := Save(other, tinyCheckpoint())
	if err == nil || !strings.Contains(err.Error(), "not a checkpoint directory") {
		t.Errorf("error %v", err)
	}
	if _, err := os.Stat(filepath.Join(other, "run.json")); err != nil {
		t.Errorf("run.json: %v", err)
	}
	// Nor a file.
	f := filepath.Join(root, "file")
	os.WriteFile(f, nil, 0o644)
	if err := Save(f, tinyCheckpoint()); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("error %v", err)
	}
	// An invalid checkpoint writes nothing.
	for name, edit := range map[string]func(c *Checkpoint){
		"missing tensor":        func(c *Checkpoint) { delete(c.Tensors, "transformer.ln_f.bias") },
		"extra tensor":          func(c *Checkpoint) { c.Tensors["transformer.h.1.ln_1.bias"] = make([]float32, 8) },
		"lm head":               func(c *Checkpoint) { c.Tensors[LMHeadName] = c.Tensors["transformer.wte.weight"] },
		"length":                func(c *Checkpoint) { c.Tensors["transformer.wpe.weight"] = make([]float32, 63) },
		"nan":                   func(c *Checkpoint) { c.Tensors["transformer.wpe.weight"][9] = float32(math.NaN()) },
		"vocab":                 func(c *Checkpoint) { c.Vocab = c.Vocab[:15] },
		"duplicate vocab":       func(c *Checkpoint) { c.Vocab[15] = "go" },
		"config":                func(c *Checkpoint) { c.Config.NHead = 3 },
		"extra format":          func(c *Checkpoint) { c.Extra["format"] = "tf" },
		"optimizer step":        func(c *Checkpoint) { c.Optimizer.Step = -1 },
		"optimizer M without V": func(c *Checkpoint) { delete(c.Optimizer.V, "transformer.wte.weight") },
		"optimizer unknown":     func(c *Checkpoint) { c.Optimizer.M["x"] = nil; c.Optimizer.V["x"] = nil },
		"optimizer length":      func(c *Checkpoint) { c.Optimizer.M["transformer.wte.weight"] = nil },
		"optimizer inf":         func(c *Checkpoint) { c.Optimizer.V["transformer.wte.weight"][3] = math.Inf(1) },
		"optimizer dtype":       func(c *Checkpoint) { c.Optimizer.DType = BF16 },
		"optimizer step key":    func(c *Checkpoint) { c.Optimizer.Extra = map[string]string{"step": "1"} },
	} {
		c := tinyCheckpoint()
		edit(c)
		dir := filepath.Join(root, "bad")
		if err := Save(dir, c); err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the directory exists: %v", name, err)
		}
	}
	assertOnlyEntries(t, root, "file", "run")
}

// TestSaveReplacesEmptyDir: an existing empty directory (made by a caller)
// is replaced.
func TestSaveReplacesEmptyDir(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "ck")
	os.Mkdir(dir, 0o755)
	if err := Save(dir, tinyCheckpoint()); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err != nil {
		t.Fatal(err)
	}
	assertOnlyEntries(t, root, "ck")
}

// TestSaveFailureKeepsOld: when writing fails midway, the previous
// checkpoint is untouched and no temporary directory is left.
func TestSaveFailureKeepsOld(t *testing.T) {
	if os.Geteuid() == 0 {
		// root ignores directory permissions; simulate with a name clash
		// instead: a file where the temporary directory's parent must be.
		root := t.TempDir()
		blocker := filepath.Join(root, "blocker")
		os.WriteFile(blocker, nil, 0o644)
		if err := Save(filepath.Join(blocker, "ck"), tinyCheckpoint()); err == nil {
			t.Fatal("no error")
		}
		assertOnlyEntries(t, root, "blocker")
		return
	}
	root := t.TempDir()
	dir := filepath.Join(root, "ck")
	if err := Save(dir, tinyCheckpoint()); err != nil {
		t.Fatal(err)
	}
	os.Chmod(root, 0o555)
	defer os.Chmod(root, 0o755)
	c := tinyCheckpoint()
	c.Extra["iteration"] = "4"
	if err := Save(dir, c); err == nil {
		t.Fatal("no error")
	}
	os.Chmod(root, 0o755)
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Extra["iteration"] != "3" {
		t.Errorf("iteration %q", got.Extra["iteration"])
	}
	assertOnlyEntries(t, root, "ck")
}

// writeDir writes a checkpoint directory from parts, so that tests can break
// any of them: the tiny config and vocabulary, and model tensors ts.
func writeDir(t *testing.T, cfgJSON, vocabJSON string, ts []Tensor, meta map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if cfgJSON != "" {
		os.WriteFile(filepath.Join(dir, ConfigFileName), []byte(cfgJSON), 0o644)
	}
	if vocabJSON != "" {
		os.WriteFile(filepath.Join(dir, VocabFileName), []byte(vocabJSON), 0o644)
	}
	if ts != nil {
		os.WriteFile(filepath.Join(dir, ModelFileName), mustWrite(t, ts, meta), 0o644)
	}
	return dir
}

// tinyModel returns the tiny checkpoint's model tensors, with edit applied
// to the list.
func tinyModel(edit func([]Tensor) []Tensor) []Tensor {
	c := tinyCheckpoint()
	var ts []Tensor
	for _, s := range GPT2Shapes(c.Config) {
		ts = append(ts, F32Tensor(s.Name, s.Shape, c.Tensors[s.Name]))
	}
	if edit != nil {
		ts = edit(ts)
	}
	return ts
}

// replace returns an edit that replaces the named tensor.
func replace(name string, t Tensor) func([]Tensor) []Tensor {
	return func(ts []Tensor) []Tensor {
		for i := range ts {
			if ts[i].Name == name {
				ts[i] = t
			}
		}
		return ts
	}
}

func TestLoadHostile(t *testing.T) {
	vocab, _ := MarshalVocab(tinyVocab)
	cfg := goldenConfig
	wte := tinyCheckpoint().Tensors["transformer.wte.weight"]
	for _, tc := range []struct {
		name          string
		cfg, vocab    string
		ts            []Tensor
		file          string // file the error names
		kind          error
		tensor, field string
		msg           string
	}{
		{"wrong dtype", cfg, string(vocab), tinyModel(replace("transformer.wpe.weight", F64Tensor("transformer.wpe.weight", []int{8, 8}, make([]float64, 64)))),
			ModelFileName, ErrDType, "transformer.wpe.weight", "dtype", "F64, want F32"},
		{"shape disagrees with config", cfg, string(vocab), tinyModel(replace("transformer.wte.weight", F32Tensor("transformer.wte.weight", []int{17, 8}, make([]float32, 136)))),
			ModelFileName, ErrShape, "transformer.wte.weight", "shape", "[17 8], want [16 8]"},
		{"transposed conv1d", cfg, string(vocab), tinyModel(replace("transformer.h.0.attn.c_attn.weight", F32Tensor("transformer.h.0.attn.c_attn.weight", []int{24, 8}, make([]float32, 192)))),
			ModelFileName, ErrShape, "transformer.h.0.attn.c_attn.weight", "shape", "[24 8], want [8 24]"},
		{"missing tensor", cfg, string(vocab), tinyModel(func(ts []Tensor) []Tensor { return ts[:len(ts)-1] }),
			ModelFileName, ErrMissingTensor, "transformer.ln_f.bias", "", "missing"},
		{"unexpected tensor", cfg, string(vocab), tinyModel(func(ts []Tensor) []Tensor {
			return append(ts, F32Tensor("transformer.h.1.ln_1.weight", []int{8}, make([]float32, 8)))
		}), ModelFileName, ErrUnexpectedTensor, "transformer.h.1.ln_1.weight", "", "n_layer 1"},
		{"both spellings", cfg, string(vocab), tinyModel(func(ts []Tensor) []Tensor {
			return append(ts, F32Tensor("ln_f.bias", []int{8}, make([]float32, 8)))
		}), ModelFileName, ErrUnexpectedTensor, "transformer.ln_f.bias", "", `names the same tensor as "ln_f.bias"`},
		{"untied head", cfg, string(vocab), tinyModel(func(ts []Tensor) []Tensor {
			head := append([]float32(nil), wte...)
			head[17] += 1e-3
			return append(ts, F32Tensor(LMHeadName, []int{16, 8}, head))
		}), ModelFileName, ErrValue, LMHeadName, "", "differs from transformer.wte.weight at element [2, 1]"},
		{"head shape", cfg, string(vocab), tinyModel(func(ts []Tensor) []Tensor {
			return append(ts, F32Tensor(LMHeadName, []int{8, 16}, wte))
		}), ModelFileName, ErrShape, LMHeadName, "shape", "[8 16], want [16 8]"},
		{"attn mask shape", cfg, string(vocab), tinyModel(func(ts []Tensor) []Tensor {
			return append(ts, F32Tensor("transformer.h.0.attn.bias", []int{8, 8}, make([]float32, 64)))
		}), ModelFileName, ErrShape, "transformer.h.0.attn.bias", "shape", "want [1 1 8 8]"},
		{"nan weight", cfg, string(vocab), tinyModel(func(ts []Tensor) []Tensor {
			v := make([]float32, 8)
			v[5] = float32(math.NaN())
			return append(ts[:len(ts)-1], F32Tensor("transformer.ln_f.bias", []int{8}, v))
		}), ModelFileName, ErrValue, "transformer.ln_f.bias", "", "element [5] is NaN"},
		{"config heads", strings.Replace(cfg, `"n_head": 2`, `"n_head": 3`, 1), string(vocab), tinyModel(nil),
			ConfigFileName, ErrConfig, "", "n_head", "does not divide"},
		{"config more layers", strings.Replace(cfg, `"n_layer": 1`, `"n_layer": 2`, 1), string(vocab), tinyModel(nil),
			ModelFileName, ErrMissingTensor, "transformer.h.1.ln_1.weight", "", "missing"},
		{"vocab short", cfg, "{\"a\": 0}", tinyModel(nil), VocabFileName, ErrVocab, "", "", "1 tokens, but config.json has vocab_size 16"},
		{"vocab duplicate", cfg, strings.Replace(string(vocab), `"2": 15`, `"go": 15`, 1), tinyModel(nil), VocabFileName, ErrVocab, "", `token "go"`, "duplicate token"},
		{"vocab gap", cfg, strings.Replace(string(vocab), `"2": 15`, `"2": 16`, 1), tinyModel(nil), VocabFileName, ErrVocab, "", `token "2"`, "outside [0, 16)"},
		{"vocab shared id", cfg, strings.Replace(string(vocab), `"2": 15`, `"2": 14`, 1), tinyModel(nil), VocabFileName, ErrVocab, "", `token "2"`, `also the id of "1"`},
		{"vocab string id", cfg, strings.Replace(string(vocab), `"2": 15`, `"2": "15"`, 1), tinyModel(nil), VocabFileName, ErrVocab, "", `token "2"`, "not a number"},
		{"vocab fraction", cfg, strings.Replace(string(vocab), `"2": 15`, `"2": 15.0`, 1), tinyModel(nil), VocabFileName, ErrVocab, "", `token "2"`, "not a non-negative integer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeDir(t, tc.cfg, tc.vocab, tc.ts, map[string]string{"format": "pt"})
			c, err := Load(dir)
			if c != nil {
				t.Error("returned a checkpoint with the error")
			}
			checkValidationError(t, err, tc.kind, filepath.Join(dir, tc.file), tc.tensor, tc.field, tc.msg)
		})
	}
	// Missing files: fs.ErrNotExist (exit status 2 in the CLI).
	for _, missing := range []string{ConfigFileName, VocabFileName, ModelFileName} {
		dir := writeDir(t, cfg, string(vocab), tinyModel(nil), nil)
		os.Remove(filepath.Join(dir, missing))
		if _, err := Load(dir); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
			t.Errorf("without %s: %v", missing, err)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v", err)
	}
}

// TestLoadAccepts: variants of a model file that transformers (or older
// versions of it) writes load, and give the same weights.
func TestLoadAccepts(t *testing.T) {
	vocab, _ := MarshalVocab(tinyVocab)
	want := tinyCheckpoint().Tensors
	wte := want["transformer.wte.weight"]
	mask := make([]float32, 64)
	for i := 0; i < 8; i++ {
		for j := 0; j <= i; j++ {
			mask[i*8+j] = 1
		}
	}
	for name, edit := range map[string]func([]Tensor) []Tensor{
		"tied head stored": func(ts []Tensor) []Tensor { return append(ts, F32Tensor(LMHeadName, []int{16, 8}, wte)) },
		"attention buffers": func(ts []Tensor) []Tensor {
			return append(ts,
				F32Tensor("transformer.h.0.attn.bias", []int{1, 1, 8, 8}, mask),
				Tensor{Name: "transformer.h.0.attn.masked_bias", DType: F32, Shape: []int{}, Data: f32bytes(-1e4)})
		},
		"bool mask": func(ts []Tensor) []Tensor {
			return append(ts, Tensor{Name: "h.0.attn.bias", DType: Bool, Shape: []int{1, 1, 8, 8}, Data: make([]byte, 64)})
		},
		"GPT2Model names": func(ts []Tensor) []Tensor {
			for i := range ts {
				ts[i].Name = strings.TrimPrefix(ts[i].Name, "transformer.")
			}
			return ts
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := writeDir(t, goldenConfig, string(vocab), tinyModel(edit), nil)
			c, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Tensors) != len(want) {
				t.Errorf("%d tensors", len(c.Tensors))
			}
			for n, v := range want {
				if !equalBits(c.Tensors[n], v) {
					t.Errorf("%s differs", n)
				}
			}
			if c.Extra != nil || c.Optimizer != nil {
				t.Errorf("extra %v optimizer %v", c.Extra, c.Optimizer)
			}
		})
	}
}

func TestLoadHostileOptimizer(t *testing.T) {
	good := tinyCheckpoint()
	specs := GPT2Shapes(good.Config)
	ts, meta := good.Optimizer.tensors(specs)
	for _, tc := range []struct {
		name          string
		edit          func(ts []Tensor, meta map[string]string) []Tensor
		kind          error
		tensor, field string
		msg           string
	}{
		{"no step", func(ts []Tensor, meta map[string]string) []Tensor { delete(meta, "step"); return ts }, ErrHeader, "", "__metadata__", `no "step" entry`},
		{"bad step", func(ts []Tensor, meta map[string]string) []Tensor { meta["step"] = "-3"; return ts }, ErrHeader, "", "__metadata__", "not a non-negative integer"},
		{"unknown tensor", func(ts []Tensor, meta map[string]string) []Tensor {
			return append(ts, F64Tensor("momentum.transformer.wte.weight", []int{16, 8}, make([]float64, 128)))
		}, ErrUnexpectedTensor, "momentum.transformer.wte.weight", "", "not an Adam moment"},
		{"unknown parameter", func(ts []Tensor, meta map[string]string) []Tensor {
			return append(ts, F64Tensor("exp_avg.lm_head.weight", []int{16, 8}, make([]float64, 128)))
		}, ErrUnexpectedTensor, "exp_avg.lm_head.weight", "", "not a parameter"},
		{"shape", func(ts []Tensor, meta map[string]string) []Tensor {
			ts[0] = F64Tensor(ts[0].Name, []int{1, len(ts[0].Data) / 8}, make([]float64, len(ts[0].Data)/8))
			return ts
		}, ErrShape, ts[0].Name, "shape", "want"},
		{"mixed dtypes", func(ts []Tensor, meta map[string]string) []Tensor {
			ts[0] = F32Tensor(ts[0].Name, []int{24}, make([]float32, 24))
			return ts
		}, ErrDType, "", "dtype", "other moments are"},
		{"half", func(ts []Tensor, meta map[string]string) []Tensor {
			ts[0] = Tensor{Name: ts[0].Name, DType: F16, Shape: []int{24}, Data: make([]byte, 48)}
			return ts
		}, ErrDType, ts[0].Name, "dtype", "F16, want F64 or F32"},
		{"v without m", func(ts []Tensor, meta map[string]string) []Tensor { return ts[1:] }, ErrMissingTensor, ts[0].Name, "", "missing, but exp_avg_sq."},
		{"nan", func(ts []Tensor, meta map[string]string) []Tensor {
			v := make([]float64, 8)
			v[2] = math.NaN()
			for i := range ts {
				if ts[i].Name == "exp_avg.transformer.ln_f.bias" {
					ts[i] = F64Tensor(ts[i].Name, []int{8}, v)
				}
			}
			return ts
		}, ErrValue, "exp_avg.transformer.ln_f.bias", "", "element [2] is NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ck")
			if err := Save(dir, tinyCheckpoint()); err != nil {
				t.Fatal(err)
			}
			m := map[string]string{}
			for k, v := range meta {
				m[k] = v
			}
			edited := tc.edit(append([]Tensor(nil), ts...), m)
			path := filepath.Join(dir, OptimizerFileName)
			if err := os.WriteFile(path, mustWrite(t, edited, m), 0o644); err != nil {
				t.Fatal(err)
			}
			// As made elsewhere: with the manifest the checksum is reported.
			if _, err := Load(dir); !errors.Is(err, ErrChecksum) {
				t.Errorf("with %s: %v", ChecksumFileName, err)
			}
			os.Remove(filepath.Join(dir, ChecksumFileName))
			_, err := Load(dir)
			if tc.name == "mixed dtypes" {
				// Which tensor is reported depends on name order; any is fine.
				var ve *ValidationError
				if errors.As(err, &ve) {
					tc.tensor = ve.Tensor
				}
			}
			checkValidationError(t, err, tc.kind, path, tc.tensor, tc.field, tc.msg)
			if _, err := LoadWith(dir, LoadOptions{SkipOptimizer: true}); err != nil {
				t.Errorf("SkipOptimizer: %v", err)
			}
		})
	}
}

func TestVocabRoundTrip(t *testing.T) {
	toks := []string{"<pad>", "a\"b", "ü", "\\", "<&>", "x y", "\t"}
	b, err := MarshalVocab(toks)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"<&>": 4`) {
		t.Errorf("HTML characters escaped:\n%s", b)
	}
	got, err := ParseVocab(b, "v.json")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(toks, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// HF's compact form, keys in any order.
	got, err = ParseVocab([]byte(`{"b":1,"a":0}`), "v.json")
	if err != nil || !cmp.Equal(got, []string{"a", "b"}) {
		t.Errorf("%v %v", got, err)
	}
	for _, bad := range [][]string{{""}, {"a", "a"}, {"\xff"}} {
		if _, err := MarshalVocab(bad); err == nil {
			t.Errorf("MarshalVocab(%q): no error", bad)
		}
	}
	for _, tc := range []struct{ data, msg string }{
		{`{"": 0}`, "empty token"},
		{`{"a": -1}`, "not a non-negative integer"},
		{`{"a": 1e0}`, "not a non-negative integer"},
		{`{"a": 99999999999999999999999}`, "not a non-negative integer"},
		{`["a"]`, "not a JSON object"},
		{`{"a": 0} x`, "invalid JSON"},
		{"{\"\xff\": 0}", "UTF-8"},
	} {
		_, err := ParseVocab([]byte(tc.data), "v.json")
		var ve *ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, ErrVocab) || !strings.Contains(ve.Msg, tc.msg) {
			t.Errorf("ParseVocab(%q) = %v, want %q", tc.data, err, tc.msg)
		}
	}
}
