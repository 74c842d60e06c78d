package policy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/gradcouple/gradcouple/internal/kernel"
)

// float32Cases are the models of the float32 tests: the trainer's
// initialisation (NewModel, weights N(0, 0.02^2), near-uniform softmaxes)
// at the default size and at width 128, and an O(1)-scale random model
// (randomModel, sigma 0.3: peaked softmaxes, large activations), the
// hardest case for float32.
var float32Cases = []struct {
	name  string
	cfg   Config
	sigma float64 // 0: NewModel
}{
	{"init-d64", Config{VocabSize: 216}, 0},
	{"init-d128", Config{VocabSize: 216, Dim: 128}, 0},
	{"random-d64", Config{VocabSize: 216}, 0.3},
}

func float32Model(t testing.TB, cfg Config, sigma float64) *Model {
	if sigma == 0 {
		m, err := NewModel(cfg, rand.New(rand.NewPCG(21, 22)))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	return randomModel(t, cfg, 23, sigma)
}

// float32Terms are agent-step-shaped terms (prompts of 20-230 tokens,
// actions of 0-8 tokens) followed by mixedTerms (token weights, verdicts,
// restricted softmaxes).
func float32Terms(rng *rand.Rand, V int) []Term {
	var ts []Term
	for range 24 {
		ts = append(ts, Term{Seq: randSeq(rng, V, 20+rng.IntN(211), rng.IntN(9)), Weight: 1})
	}
	return append(ts, mixedTerms(rng, V)...)
}

// The agreement bounds of the float32 path (TestFloat32Agreement).
const (
	lpBound32   = 5e-5 // |log pi_32 - log pi_64|, also for the verdict log-probabilities
	gradBound32 = 5e-5 // ||g32 - g64|| / ||g64||
)

// float64Ref is what the float32 path is compared with: the Model's
// log-probabilities, verdicts and per-sample gradients.
type float64Ref struct {
	seqs []Seq
	lp   []float64
	ver  []Verdict
	g    []float64
}

func newFloat64Ref(m *Model, terms []Term) float64Ref {
	var r float64Ref
	for _, tm := range terms {
		r.seqs = append(r.seqs, tm.Seq)
	}
	r.lp, r.ver = m.LogProbs(nil, r.seqs), m.Verdicts(nil, r.seqs)
	r.g = m.PerSampleGrads(nil, terms, Selection{})
	return r
}

// float32Diff returns the largest |log-prob difference| over the sequences
// (action and verdict log-probabilities) and the largest relative
// difference ||g32 - g64|| / ||g64|| of the per-sample gradients (rows with
// ||g64|| = 0 must be 0 in both) between the float64 reference and m32.
func float32Diff(t *testing.T, ref float64Ref, m32 *Model32, terms []Term) (lp, grad float64) {
	seqs := ref.seqs
	l32, v32 := m32.LogProbs(nil, seqs), m32.Verdicts(nil, seqs)
	for i := range l32 {
		lp = max(lp, math.Abs(ref.lp[i]-l32[i]), math.Abs(ref.ver[i].LogGood-v32[i].LogGood), math.Abs(ref.ver[i].LogBad-v32[i].LogBad))
	}
	D := m32.Model().NumParams()
	g64 := ref.g
	vals := make([]float64, len(terms))
	g32 := m32.PerSampleGradsValues(nil, vals, terms, Selection{})
	for n := range terms {
		var num, den float64
		for k := n * D; k < (n+1)*D; k++ {
			num += (float64(g32[k]) - g64[k]) * (float64(g32[k]) - g64[k])
			den += g64[k] * g64[k]
		}
		if den == 0 {
			if num != 0 {
				t.Errorf("term %d: float64 gradient 0, float32 not", n)
			}
			continue
		}
		grad = max(grad, math.Sqrt(num/den))
	}
	if lp32 := m32.LogProbs(nil, seqs[:8]); !slices.Equal(lp32, vals[:8]) {
		t.Errorf("PerSampleGradsValues values differ from Model32.LogProbs")
	}
	return lp, grad
}

// TestFloat32Agreement: Model32 (float32 compute) agrees with the Model
// (float64) on log-probabilities and per-sample gradients, measured over
// 32 terms (24 agent-like sequences of up to 238 tokens plus mixedTerms)
// on each float32Cases model with each kernel set.
//
// The float32 path gives the same bits with every kernel set here (checked):
// the F32 kernels all sum in one order, and the AVX-512 exp kernel's 2-ulp
// float64 differences from math.Exp vanish when rounded to float32 except
// for ~1 value in 10^8, which none of these inputs hits.
//
// Measured worst cases (amd64): |log pi_32 - log pi_64| 3.5e-7 at
// initialisation (d 64 and 128) and 1.1e-5 for the O(1)-scale random
// model; ||g32 - g64|| / ||g64|| 5.1e-7 at initialisation and 8.5e-6 for
// the random model. Why that size: a float32 pass rounds every activation
// and weight to u = 2^-24 = 6e-8 relative, the matrix products add at most
// ~256 u per k block (and typically ~sqrt(k) u), and an error of the logits
// reaches a log-probability unamplified (d log softmax / dz has norm <= 2)
// but scaled by the logits' size, summed over the A+1 <= 9 targets: a few u
// for near-uniform softmaxes, ~100 u for the random model's logits of
// size ~10-30. The gradient's relative error is the same rounding carried
// back through as many layers. The bounds checked, lpBound32 = 5e-5 and
// gradBound32 = 5e-5, are 4.5x and 6x the worst measured.
func TestFloat32Agreement(t *testing.T) {
	for _, c := range float32Cases {
		m := float32Model(t, c.cfg, c.sigma)
		m32 := m.Float32()
		terms := float32Terms(rand.New(rand.NewPCG(31, 32)), c.cfg.VocabSize)
		r64 := newFloat64Ref(m, terms)
		var ref string
		for _, id := range kernel.Runnable() {
			if testing.Short() && id == kernel.Go && c.cfg.Dim > 64 {
				continue // the portable F32 kernel emulates fused multiply-adds: slow
			}
			t.Run(c.name+"/"+id.String(), func(t *testing.T) {
				defer kernel.Use(id)()
				lp, grad := float32Diff(t, r64, m32, terms)
				t.Logf("%s %s: max |dlogp| %.3g, max rel grad diff %.3g", c.name, KernelName32(), lp, grad)
				if lp > lpBound32 || grad > gradBound32 {
					t.Errorf("float32 vs float64: max |log-prob diff| %.3g (bound %g), max gradient rel diff %.3g (bound %g)", lp, lpBound32, grad, gradBound32)
				}
				// the float32 path sums in the same order with every kernel set
				var seqs []Seq
				for _, tm := range terms {
					seqs = append(seqs, tm.Seq)
				}
				got := fmt.Sprint(m32.LogProbs(nil, seqs), m32.PerSampleGrads(nil, terms[:4], Selection{}))
				if ref == "" {
					ref = got
				} else if got != ref {
					t.Errorf("float32 results differ between kernel sets")
				}
			})
		}
	}
}

// TestFloat32Sampling: Model32 sampling with a fixed seed draws valid
// actions (constrained: one of the trie's actions with exactly its tokens;
// unconstrained: token ids in range, at most MaxTokens), the same draws for
// GOMAXPROCS 1, 2 and 3 and with every kernel set, and Sampled.LogProb
// (from the float32 cache) agrees with the Model32's and the Model's
// LogProbs within lpBound32.
func TestFloat32Sampling(t *testing.T) {
	tok := NewTokenizer([]string{"go to cabinet 1 2 take apple from countertop in/on put open look"})
	cfg := Config{VocabSize: tok.Size(), Context: 64, Dim: 16, Layers: 2, Heads: 2}
	m := randomModel(t, cfg, 31, 0.5)
	m32 := m.Float32()
	actions := []string{"go to cabinet 1", "go to cabinet 2", "take apple 1 from countertop 1", "put apple 1 in/on cabinet 2", "look", "open cabinet 1", "go to countertop 1"}
	trie := NewTrie(tok, actions)
	prompt := tok.Encode("look . go to cabinet 1 . take apple 1 from countertop 1 .")
	draw := func(procs int) string {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		con, err := m32.Sample(prompt, 200, trie, SampleOptions{}, rand.New(rand.NewPCG(5, 6)))
		if err != nil {
			t.Fatal(err)
		}
		free, err := m32.Sample(prompt, 50, nil, SampleOptions{MaxTokens: 4, Temperature: 1.5}, rand.New(rand.NewPCG(7, 8)))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range con {
			if !slices.Contains(actions, d.Text) || !d.Ended || !slices.Equal(d.Action, tok.Encode(d.Text)) {
				t.Fatalf("drew %q (tokens %v, ended %v), not an admissible action", d.Text, d.Action, d.Ended)
			}
			s := []Seq{{Prompt: prompt, Action: d.Action}}
			if l32, l64 := m32.LogProbs(nil, s)[0], m.LogProbs(nil, s)[0]; math.Abs(d.LogProb-l32) > lpBound32 || math.Abs(d.LogProb-l64) > lpBound32 {
				t.Fatalf("%q: Sampled.LogProb %v, Model32 LogProbs %v, Model LogProbs %v", d.Text, d.LogProb, l32, l64)
			}
		}
		for _, d := range free {
			if len(d.Action) > 4 {
				t.Fatalf("action of %d tokens with MaxTokens 4", len(d.Action))
			}
			for _, id := range d.Action {
				if id < 0 || id >= cfg.VocabSize {
					t.Fatalf("token id %d out of range", id)
				}
			}
		}
		return fmt.Sprint(con, free)
	}
	ref := draw(1)
	for _, id := range kernel.Runnable() {
		func() {
			defer kernel.Use(id)()
			for _, procs := range []int{1, 2, 3} {
				if draw(procs) != ref {
					t.Errorf("kernel %s, GOMAXPROCS %d: draws differ", id, procs)
				}
			}
		}()
	}
}

// TestFloat32Refresh: a Model32 is a snapshot; Refresh brings in changed
// parameters, after which it equals a fresh Float32 bit for bit.
func TestFloat32Refresh(t *testing.T) {
	m := randomModel(t, tinyConfig, 41, 0.5)
	m32 := m.Float32()
	seqs := []Seq{randSeq(rand.New(rand.NewPCG(1, 2)), tinyConfig.VocabSize, 10, 3)}
	before := m32.LogProbs(nil, seqs)[0]
	for i := range m.Params {
		m.Params[i] *= 1.5
	}
	if got := m32.LogProbs(nil, seqs)[0]; got != before {
		t.Fatalf("snapshot changed with Params: %v -> %v", before, got)
	}
	m32.Refresh()
	got, want := m32.LogProbs(nil, seqs)[0], m.Float32().LogProbs(nil, seqs)[0]
	if got != want || got == before {
		t.Fatalf("after Refresh %v, fresh Float32 %v, before %v", got, want, before)
	}
}
