package policy

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchSizes are the benchmark tiers: the default actor (V = 216, the lab
// vocabulary; 130,304 parameters) and the same with twice the width
// (457,216 parameters; its blocks have 4x the default's parameters).
var benchSizes = []struct {
	name string
	cfg  Config
}{
	{"default", Config{VocabSize: 216}},
	{"4x", Config{VocabSize: 216, Dim: 128}},
}

// benchSeqs are n sequences shaped like agent steps: prompts of 100-200
// tokens (the environments' prompts are 64-233 tokens, mostly 128-192) and
// actions of 3-8 tokens.
func benchSeqs(n, V int) ([]Seq, int) {
	rng := rand.New(rand.NewPCG(1, 1))
	var seqs []Seq
	tokens := 0
	for range n {
		s := randSeq(rng, V, 100+rng.IntN(101), 3+rng.IntN(6))
		seqs = append(seqs, s)
		tokens += len(s.Prompt) + len(s.Action)
	}
	return seqs, tokens
}

func benchModel(b *testing.B, cfg Config) *Model {
	m, err := NewModel(cfg, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkForward: LogProbs over 64 sequences; reports input tokens/s.
func BenchmarkForward(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			m := benchModel(b, sz.cfg)
			seqs, tokens := benchSeqs(64, sz.cfg.VocabSize)
			dst := make([]float64, len(seqs))
			for b.Loop() {
				m.LogProbs(dst, seqs)
			}
			b.ReportMetric(float64(tokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
			b.ReportMetric(float64(m.NumParams()), "params")
		})
	}
}

// BenchmarkPerSampleGrads: g_n = grad log pi(a_n | s_n) over every
// parameter for 64 sequences; reports gradients/s.
func BenchmarkPerSampleGrads(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			m := benchModel(b, sz.cfg)
			seqs, _ := benchSeqs(64, sz.cfg.VocabSize)
			terms := ActionTerms(seqs)
			dst := make([]float32, len(seqs)*m.NumParams())
			for b.Loop() {
				m.PerSampleGrads32(dst, terms, Selection{})
			}
			b.ReportMetric(float64(len(seqs))*float64(b.N)/b.Elapsed().Seconds(), "grads/s")
			b.ReportMetric(float64(m.NumParams()), "params")
		})
	}
}

// BenchmarkSample: constrained sampling of 10 actions from one prompt of
// 150 tokens among 20 admissible actions; reports actions/s.
func BenchmarkSample(b *testing.B) {
	cfg := Config{VocabSize: 216}
	m := benchModel(b, cfg)
	rng := rand.New(rand.NewPCG(3, 4))
	prompt := randSeq(rng, 216, 150, 0).Prompt
	tr := &Trie{nodes: []trieNode{{}}}
	for range 20 {
		tr.add(randSeq(rng, 216, 1, 2+rng.IntN(5)).Action, "a")
	}
	for b.Loop() {
		if _, err := m.Sample(prompt, 10, tr, SampleOptions{}, rng); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(10*float64(b.N)/b.Elapsed().Seconds(), "actions/s")
}

// precisionWidths are the widths of BenchmarkPrecision: V = 216, 2 blocks,
// 4 heads, MLP 4d (d 512: 6.5M parameters).
var precisionWidths = []int{64, 128, 256, 512}

// BenchmarkPrecision compares the float64 path (Model) with the float32
// path (Model32) at each width: "forward" is LogProbs over 16 agent-like
// sequences (tokens/s), "grads" per-sample gradients over every parameter
// for 8 of them (grads/s; float64: Model.PerSampleGrads32, float32:
// Model32.PerSampleGrads, both with float32 rows). Sub-benchmarks are named
// with the kernel: f64=KernelName(), f32=KernelName32().
func BenchmarkPrecision(b *testing.B) {
	for _, d := range precisionWidths {
		cfg := Config{VocabSize: 216, Dim: d}
		m := benchModel(b, cfg)
		m32 := m.Float32()
		seqs, tokens := benchSeqs(16, cfg.VocabSize)
		terms := ActionTerms(seqs[:8])
		lp := make([]float64, len(seqs))
		g := make([]float32, len(terms)*m.NumParams())
		b.Run(fmt.Sprintf("forward/d=%d/f64=%s", d, KernelName()), func(b *testing.B) {
			for b.Loop() {
				m.LogProbs(lp, seqs)
			}
			b.ReportMetric(float64(tokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
		b.Run(fmt.Sprintf("forward/d=%d/f32=%s", d, KernelName32()), func(b *testing.B) {
			for b.Loop() {
				m32.LogProbs(lp, seqs)
			}
			b.ReportMetric(float64(tokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
		b.Run(fmt.Sprintf("grads/d=%d/f64=%s", d, KernelName()), func(b *testing.B) {
			for b.Loop() {
				m.PerSampleGrads32(g, terms, Selection{})
			}
			b.ReportMetric(float64(len(terms))*float64(b.N)/b.Elapsed().Seconds(), "grads/s")
		})
		b.Run(fmt.Sprintf("grads/d=%d/f32=%s", d, KernelName32()), func(b *testing.B) {
			for b.Loop() {
				m32.PerSampleGrads(g, terms, Selection{})
			}
			b.ReportMetric(float64(len(terms))*float64(b.N)/b.Elapsed().Seconds(), "grads/s")
		})
	}
}
