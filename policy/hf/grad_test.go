package hf

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// gradConfig is a small model of the given type for gradient tests: 3
// layers of width 16, 4 query and 2 key-value heads of width 4 (qwen3:
// 8, so the query width 32 differs from the hidden size), SwiGLU width
// 24, a vocabulary of 101, and the type's RoPE, norms, biases and tying
// (TinyConfig); tied overrides the tying.
func gradConfig(typ string, tied bool) Config {
	c, _ := TinyConfig(typ)
	c.VocabSize, c.Hidden, c.Intermediate, c.Layers, c.Heads, c.KVHeads, c.HeadDim = 101, 16, 24, 3, 4, 2, 4
	if typ == Qwen3 {
		c.HeadDim = 8
	}
	c.TieWordEmbeddings = tied
	c.EOS = []int{100}
	c.BOS = 99
	return c
}

// randomModel returns a float64 model of config c with weights drawn as
// TinyWeights draws them (uniform, seeded), without rounding to BF16.
func randomModel(c Config, seed uint64) *Model[float64] {
	m := NewZeroModel[float64](c)
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, t := range c.Tensors() {
		var lo, hi float64
		switch {
		case t.Name == EmbedName:
			lo, hi = sym(1)
		case t.Name == HeadName:
			lo, hi = sym(2 / math.Sqrt(float64(c.Hidden)))
		case strings.HasSuffix(t.Name, "norm.weight"):
			lo, hi = 0.5, 1.5
		case strings.HasSuffix(t.Name, ".bias"):
			lo, hi = sym(0.5)
		default:
			lo, hi = sym(1.5 / math.Sqrt(float64(t.Shape[1])))
		}
		for i := range t.Size {
			m.Params[t.Offset+i] = lo + (hi-lo)*rng.Float64()
		}
	}
	return m
}

func randomTokens(rng *rand.Rand, n, V int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = rng.IntN(V)
	}
	return out
}

// sampleGrads is one action's gradients, copied out of the callback.
type sampleGrads[F float] struct {
	logProb float64
	dense   map[string][]F
	factors map[string]*Factors[F]
}

// collectGrads runs GroupGrads and copies every callback's gradients.
func collectGrads[F float](t testing.TB, m *Model[F], prompt []int, actions [][]int, sel []Tensor, opt GradOptions) ([]float64, []sampleGrads[F]) {
	t.Helper()
	var out []sampleGrads[F]
	sums, err := m.GroupGrads(prompt, actions, sel, opt, func(i int, g *SampleGrad[F]) error {
		if i != len(out) {
			return fmt.Errorf("callback %d after %d", i, len(out))
		}
		s := sampleGrads[F]{logProb: g.LogProb, dense: map[string][]F{}, factors: map[string]*Factors[F]{}}
		if len(g.Tensors) != len(sel) {
			return fmt.Errorf("%d tensors, selected %d", len(g.Tensors), len(sel))
		}
		for j, tg := range g.Tensors {
			if tg.Tensor.Name != sel[j].Name {
				return fmt.Errorf("tensor %d is %s, selected %s", j, tg.Tensor.Name, sel[j].Name)
			}
			if tg.Dense != nil {
				s.dense[tg.Tensor.Name] = slices.Clone(tg.Dense)
			}
			if tg.Factors != nil {
				s.factors[tg.Tensor.Name] = tg.Factors.Clone()
			}
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums, out
}

func mustSelect[F float](t testing.TB, m *Model[F], globs ...string) []Tensor {
	t.Helper()
	sel, err := m.SelectTensors(globs)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

// gradCases are the configurations of the finite-difference and
// consistency tests.
var gradCases = []gradCase{
	{"qwen2-tied", Qwen2, true, 0},
	{"qwen2-untied", Qwen2, false, 0},
	{"qwen3-tied", Qwen3, true, 0},
	{"llama-untied", Llama, false, 0},
	{"llama-1-layer", Llama, true, 1},
}

type gradCase struct {
	name   string
	typ    string
	tied   bool
	layers int // 0: gradConfig's 3
}

func (gc gradCase) config() Config {
	c := gradConfig(gc.typ, gc.tied)
	if gc.layers > 0 {
		c.Layers = gc.layers
	}
	return c
}

// TestGradFiniteDifferences checks every tensor kind's gradient (all
// tensors selected, so the backward pass runs down to the embedding) in
// float64 against the five-point central difference of LogProbs,
// (8 (f(w+h) - f(w-h)) - (f(w+2h) - f(w-2h))) / 12h with h = fdStep
// (truncation error ~h^4 f^(5), rounding ~1e-15 |f| / h), relative to
// max(|g|, 0.01), at the largest coordinate of each tensor and 2 random
// ones, for a 150-token prompt (two attention row blocks of scoreRows)
// with a 4-token action and a 3-token prompt with a 1-token action. With
// tied embeddings, perturbing the embedding moves both its uses, so the
// difference quotient is compared with the sum of the EmbedName and
// HeadName gradients.
func TestGradFiniteDifferences(t *testing.T) {
	for ci, gc := range gradCases {
		t.Run(gc.name, func(t *testing.T) {
			t.Parallel()
			c := gc.config()
			m := randomModel(c, uint64(10+ci))
			rng := rand.New(rand.NewPCG(uint64(ci), 3))
			seqs := []Seq{
				{Prompt: randomTokens(rng, 150, c.VocabSize), Action: randomTokens(rng, 4, c.VocabSize)},
				{Prompt: randomTokens(rng, 3, c.VocabSize), Action: randomTokens(rng, 1, c.VocabSize)},
				{Prompt: randomTokens(rng, 1, c.VocabSize), Action: randomTokens(rng, 3, c.VocabSize)},
			}
			sel := mustSelect(t, m)
			worst := 0.0
			for si, s := range seqs {
				_, gs := collectGrads(t, m, s.Prompt, [][]int{s.Action}, sel, GradOptions{})
				g := gs[0]
				f := func() float64 {
					v, _, err := m.LogProbs([]Seq{s})
					if err != nil {
						t.Fatal(err)
					}
					return v[0]
				}
				for _, tn := range m.Tensors() {
					grad := g.dense[tn.Name]
					if gc.tied && tn.Name == EmbedName {
						grad = slices.Clone(grad)
						addTo(grad, g.dense[HeadName])
					}
					coords := []int{argmaxAbs(grad)}
					for range 2 {
						coords = append(coords, rng.IntN(tn.Size))
					}
					for _, j := range coords {
						w := m.Params[tn.Offset+j]
						at := func(x float64) float64 {
							m.Params[tn.Offset+j] = w + x
							return f()
						}
						fd := (8*(at(fdStep)-at(-fdStep)) - (at(2*fdStep) - at(-2*fdStep))) / (12 * fdStep)
						m.Params[tn.Offset+j] = w
						e := math.Abs(fd-grad[j]) / math.Max(1e-2, math.Abs(grad[j]))
						worst = max(worst, e)
						if e > 1e-7 {
							t.Errorf("seq %d: %s[%d]: gradient %.10g, central difference %.10g (error %.2g)", si, tn.Name, j, grad[j], fd, e)
						}
					}
				}
			}
			t.Logf("%s: largest relative difference from central differences %.2g", gc.name, worst)
		})
	}
}

// fdStep is the step of the finite differences.
const fdStep = 1e-4

func argmaxAbs[F float](x []F) int {
	best := 0
	for i, v := range x {
		if math.Abs(float64(v)) > math.Abs(float64(x[best])) {
			best = i
		}
	}
	return best
}

// relDiff is |a - b| / |b| over the whole vectors (0 when both are 0).
func relDiff[F, G float](a []F, b []G) float64 {
	var num, den float64
	for i := range b {
		e := float64(a[i]) - float64(b[i])
		num += e * e
		den += float64(b[i]) * float64(b[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

func dot[F float](a, b []F) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func sameBits[F float](a, b []F) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(float64(a[i])) != math.Float64bits(float64(b[i])) {
			return false
		}
	}
	return true
}

// groupCase is a 260-token prompt (three attention row blocks, two blocks
// of the forward pass and of the dense MLP backward) and a group of
// actions: two of several tokens, one of one token, an empty one and a
// repeat of the first.
func groupCase(c Config, seed uint64) ([]int, [][]int) {
	rng := rand.New(rand.NewPCG(seed, 5))
	prompt := randomTokens(rng, 260, c.VocabSize)
	a0 := randomTokens(rng, 5, c.VocabSize)
	return prompt, [][]int{a0, randomTokens(rng, 3, c.VocabSize), randomTokens(rng, 1, c.VocabSize), {}, a0}
}

// TestGradFactors checks that the factors give the dense gradients,
// sum_t Delta_t Act_t^T = G (float64: 1e-13 relative; float32: 1e-6), and
// that their inner products give the dense ones, across the actions of a
// group (float64: 1e-12 relative to |G_i| |G_j|; float32: 1e-5), for
// the LM head, the input embedding and every linear weight of the top
// two layers, with the factors-only form giving the same factors as the
// dense-and-factors form, whose dense gradients equal GradDense's to
// rounding (GradDense runs the MLP backward in blocks of rows, so its
// gate_proj, up_proj and down_proj gradients are sums of the blocks'
// products).
func TestGradFactors(t *testing.T) {
	for ci, gc := range gradCases {
		if gc.layers != 0 {
			continue // the selections below name layers 1 and 2
		}
		t.Run(gc.name, func(t *testing.T) {
			t.Parallel()
			m64 := randomModel(gc.config(), uint64(20+ci))
			prompt, actions := groupCase(m64.Config(), uint64(ci))
			checkFactors(t, m64, prompt, actions, 1e-13, 1e-12)
			checkFactors(t, Convert[float32](m64), prompt, actions, 1e-6, 1e-5)
		})
	}
}

func checkFactors[F float](t *testing.T, m *Model[F], prompt []int, actions [][]int, tolDense, tolDot float64) {
	t.Helper()
	sel := mustSelect(t, m, "lm_head", "model.embed_tokens", "model.layers.[12].*_proj.weight")
	_, both := collectGrads(t, m, prompt, actions, sel, GradOptions{Form: GradDenseAndFactors})
	_, only := collectGrads(t, m, prompt, actions, sel, GradOptions{Form: GradFactors})
	_, dense := collectGrads(t, m, prompt, actions, sel, GradOptions{})
	worstDense, worstDot, worstForm := 0.0, 0.0, 0.0
	for i := range actions {
		for _, s := range sel {
			e := relDiff(dense[i].dense[s.Name], both[i].dense[s.Name])
			worstForm = max(worstForm, e)
			if e > tolDense {
				t.Errorf("%s action %d: GradDense and GradDenseAndFactors differ by %.2g", s.Name, i, e)
			}
		}
	}
	for _, s := range sel {
		for i := range actions {
			f := both[i].factors[s.Name]
			if f == nil {
				t.Fatalf("%s: no factors", s.Name)
			}
			if only[i].dense[s.Name] != nil {
				t.Errorf("%s: GradFactors returned a dense gradient", s.Name)
			}
			g := only[i].factors[s.Name]
			if !slices.Equal(f.Pos, g.Pos) || !sameBits(f.Delta, g.Delta) || !sameBits(f.Act, g.Act) || !slices.Equal(f.Tokens, g.Tokens) {
				t.Errorf("%s action %d: factors differ between GradFactors and GradDenseAndFactors", s.Name, i)
			}
			wantRows := len(prompt) + len(actions[i]) - 1
			if len(actions[i]) == 0 {
				wantRows = 0
			}
			if len(f.Pos) > wantRows || len(f.Delta) != len(f.Pos)*f.Out || (f.Act != nil && len(f.Act) != len(f.Pos)*f.In) {
				t.Errorf("%s action %d: %d positions, Delta %d, Act %d", s.Name, i, len(f.Pos), len(f.Delta), len(f.Act))
			}
			dense := both[i].dense[s.Name]
			e := relDiff(f.Dense(nil), dense)
			worstDense = max(worstDense, e)
			if e > tolDense {
				t.Errorf("%s action %d: sum_t Delta_t Act_t^T differs from the dense gradient by %.2g", s.Name, i, e)
			}
			for j := range actions {
				want := dot(dense, both[j].dense[s.Name])
				got := f.Dot(both[j].factors[s.Name])
				scale := math.Sqrt(dot(dense, dense) * dot(both[j].dense[s.Name], both[j].dense[s.Name]))
				e := math.Abs(got - want)
				if scale > 0 {
					e /= scale
				}
				worstDot = max(worstDot, e)
				if e > tolDot {
					t.Errorf("%s actions %d, %d: factor inner product %.12g, dense %.12g", s.Name, i, j, got, want)
				}
			}
		}
	}
	t.Logf("%T: dense from factors within %.2g, inner products within %.2g; GradDense (its MLP in blocks of rows) within %.2g of GradDenseAndFactors", m.Params[0], worstDense, worstDot, worstForm)
}

// TestGroupGradsSharing checks that GroupGrads of a group gives each
// action exactly (bit for bit) what GroupGrads of that action alone
// gives, that the sums equal GroupLogProbs' bit for bit, that an empty
// action has zero gradients, that a Grader
// reused across prompts of other lengths gives what fresh ones give, and
// that a
// tensor's gradient does not depend on what else is selected (bit for
// bit: the backward pass of a layer is the same whatever lies below it).
func TestGroupGradsSharing(t *testing.T) {
	for ci, gc := range gradCases {
		if gc.layers != 0 {
			continue // the selections below name layers 1 and 2
		}
		t.Run(gc.name, func(t *testing.T) {
			t.Parallel()
			m64 := randomModel(gc.config(), uint64(30+ci))
			prompt, actions := groupCase(m64.Config(), uint64(ci))
			checkSharing(t, m64, prompt, actions)
			checkSharing(t, Convert[float32](m64), prompt, actions)
		})
	}
}

func checkSharing[F float](t *testing.T, m *Model[F], prompt []int, actions [][]int) {
	t.Helper()
	params, p0 := slices.Clone(m.Params), slices.Clone(prompt)
	var a0 [][]int
	for _, a := range actions {
		a0 = append(a0, slices.Clone(a))
	}
	all := mustSelect(t, m)
	sums, group := collectGrads(t, m, prompt, actions, all, GradOptions{})
	if !sameBits(m.Params, params) || !slices.Equal(prompt, p0) || !slices.EqualFunc(actions, a0, slices.Equal) {
		t.Fatal("GroupGrads changed its inputs")
	}
	want, _, err := m.GroupLogProbs(prompt, actions)
	if err != nil {
		t.Fatal(err)
	}
	for i := range actions {
		if math.Float64bits(sums[i]) != math.Float64bits(want[i]) || math.Float64bits(group[i].logProb) != math.Float64bits(want[i]) {
			t.Errorf("action %d: GroupGrads log pi %.17g (callback %.17g), GroupLogProbs %.17g", i, sums[i], group[i].logProb, want[i])
		}
		_, alone := collectGrads(t, m, prompt, actions[i:i+1], all, GradOptions{})
		for _, s := range all {
			if !sameBits(group[i].dense[s.Name], alone[0].dense[s.Name]) {
				t.Errorf("action %d: %s in the group differs from the action alone (%.2g)", i, s.Name, relDiff(group[i].dense[s.Name], alone[0].dense[s.Name]))
			}
			if len(actions[i]) == 0 && slices.ContainsFunc(group[i].dense[s.Name], func(v F) bool { return v != 0 }) {
				t.Errorf("empty action: %s is not zero", s.Name)
			}
		}
	}
	// one Grader for prompts of several lengths (its buffers shrink and
	// grow): the same bits as fresh ones
	gr, err := m.NewGrader(all, GradOptions{})
	if err != nil {
		t.Fatal(err)
	}
	short := prompt[:7]
	for _, p := range [][]int{short, prompt, short, prompt} {
		var reused []map[string][]F
		if _, err := gr.GroupGrads(p, actions, func(i int, g *SampleGrad[F]) error {
			c := map[string][]F{}
			for _, tg := range g.Tensors {
				c[tg.Tensor.Name] = slices.Clone(tg.Dense)
			}
			reused = append(reused, c)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		_, fresh := collectGrads(t, m, p, actions, all, GradOptions{})
		for i := range actions {
			for _, s := range all {
				if !sameBits(reused[i][s.Name], fresh[i].dense[s.Name]) {
					t.Errorf("prompt of %d tokens, action %d: %s from a reused Grader differs from a fresh one", len(p), i, s.Name)
				}
			}
		}
	}
	// selections
	for _, globs := range [][]string{{"lm_head"}, {"model.norm"}, {"model.layers.2.*"}, {"model.layers.2.mlp.down_proj"},
		{"model.layers.1.self_attn.[kv]_proj*", "lm_head"}, {"model.layers.1.input_layernorm"}, {"model.layers.0.mlp"}} {
		sel := mustSelect(t, m, globs...)
		_, got := collectGrads(t, m, prompt, actions, sel, GradOptions{})
		for i := range actions {
			for _, s := range sel {
				if !sameBits(got[i].dense[s.Name], group[i].dense[s.Name]) {
					t.Errorf("selection %q, action %d: %s differs from its gradient with every tensor selected (%.2g)", globs, i, s.Name, relDiff(got[i].dense[s.Name], group[i].dense[s.Name]))
				}
			}
		}
	}
}

// TestGradGOMAXPROCS checks that GOMAXPROCS changes no bit of the
// gradients (1, 2 and 5 goroutines; the products are large enough to be
// split) for a float32 and a float64 model wide enough for the parallel
// products.
func TestGradGOMAXPROCS(t *testing.T) {
	c := gradConfig(Qwen3, true)
	c.Hidden, c.Intermediate, c.Heads, c.KVHeads, c.HeadDim, c.VocabSize = 64, 96, 8, 2, 16, 3001
	m64 := randomModel(c, 40)
	prompt, actions := groupCase(c, 4)
	checkProcs(t, m64, prompt, actions)
	checkProcs(t, Convert[float32](m64), prompt, actions)
}

func checkProcs[F float](t *testing.T, m *Model[F], prompt []int, actions [][]int) {
	t.Helper()
	all := mustSelect(t, m)
	old := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(old)
	var ref []sampleGrads[F]
	for _, procs := range []int{1, 2, 5} {
		runtime.GOMAXPROCS(procs)
		_, got := collectGrads(t, m, prompt, actions, all, GradOptions{})
		if ref == nil {
			ref = got
			continue
		}
		for i := range actions {
			for _, s := range all {
				if !sameBits(got[i].dense[s.Name], ref[i].dense[s.Name]) {
					t.Errorf("%T, action %d: %s differs between GOMAXPROCS 1 and %d", m.Params[0], i, s.Name, procs)
				}
			}
		}
	}
}

func TestSelectTensors(t *testing.T) {
	tied := randomModel(gradConfig(Qwen3, true), 1)
	untied := randomModel(gradConfig(Llama, false), 1)
	names := func(ts []Tensor) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.Name)
		}
		return out
	}
	for _, tc := range []struct {
		m     *Model[float64]
		globs []string
		want  []string
	}{
		{tied, []string{"lm_head.weight"}, []string{HeadName}},
		{tied, []string{"lm_head"}, []string{HeadName}},
		{tied, []string{"model.embed_tokens"}, []string{EmbedName}},
		{untied, []string{"lm_head", "model.norm.weight"}, []string{"model.norm.weight", HeadName}},
		{tied, []string{"model.layers.2.mlp"}, []string{"model.layers.2.mlp.gate_proj.weight", "model.layers.2.mlp.up_proj.weight", "model.layers.2.mlp.down_proj.weight"}},
		{tied, []string{"model.layers.*.mlp.down_proj.weight"}, []string{"model.layers.0.mlp.down_proj.weight", "model.layers.1.mlp.down_proj.weight", "model.layers.2.mlp.down_proj.weight"}},
		{tied, []string{"model.layers.2.self_attn.?_norm"}, []string{"model.layers.2.self_attn.q_norm.weight", "model.layers.2.self_attn.k_norm.weight"}},
		{tied, []string{"model.layers.1", "model.layers.1.mlp"}, names(tied.Tensors()[1+11 : 1+22])},
	} {
		got, err := tc.m.SelectTensors(tc.globs)
		if err != nil {
			t.Errorf("%q: %v", tc.globs, err)
			continue
		}
		if !slices.Equal(names(got), tc.want) {
			t.Errorf("%q: %q, want %q", tc.globs, names(got), tc.want)
		}
	}
	all, _ := tied.SelectTensors(nil)
	if len(all) != len(tied.Tensors())+1 || all[len(all)-1].Name != HeadName || all[len(all)-1].Offset != 0 {
		t.Errorf("no globs on a tied model: %q", names(all))
	}
	// "model.layers.2" must not select layers 20-29, nor "model.layers.1" layer 12
	if got, _ := tied.SelectTensors([]string{"model.layers.1"}); len(got) != 11 {
		t.Errorf("model.layers.1 selects %d tensors, want 11", len(got))
	}
	for _, bad := range []string{"model.layers.3.*", "lm_head.bias", "model.layers.1.mlp.down"} {
		if _, err := tied.SelectTensors([]string{"model.norm", bad}); !errors.Is(err, ErrNoTensor) || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: error %v", bad, err)
		}
	}
	if _, err := tied.SelectTensors([]string{"model.[layers"}); err == nil {
		t.Error("malformed glob accepted")
	}
	// tensors of another model, twice, and bad input
	sel := mustSelect(t, untied, "lm_head")
	if _, err := tied.GroupGrads([]int{1}, [][]int{{2}}, sel, GradOptions{}, nil); !errors.Is(err, ErrNoTensor) {
		t.Errorf("a tensor of another model: %v", err)
	}
	sel = mustSelect(t, tied, "model.norm")
	if _, err := tied.GroupGrads([]int{1}, [][]int{{2}}, append(sel, sel...), GradOptions{}, nil); err == nil {
		t.Error("a tensor selected twice accepted")
	}
	if _, err := tied.GroupGrads(nil, [][]int{{2}}, sel, GradOptions{}, nil); !errors.Is(err, ErrEmptyPrompt) {
		t.Errorf("empty prompt: %v", err)
	}
	if _, err := tied.GroupGrads([]int{1}, [][]int{{2}, {101}}, sel, GradOptions{}, nil); !errors.Is(err, ErrTokenID) || !strings.Contains(err.Error(), "action 1") {
		t.Errorf("token outside the vocabulary: %v", err)
	}
	if _, err := tied.GroupGrads([]int{1}, [][]int{{2}}, sel, GradOptions{Form: 7}, nil); err == nil {
		t.Error("GradForm 7 accepted")
	}
	stop := errors.New("stop")
	calls := 0
	if _, err := tied.GroupGrads([]int{1}, [][]int{{2}, {3}}, sel, GradOptions{}, func(int, *SampleGrad[float64]) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("callback error: %v after %d calls", err, calls)
	}
}
