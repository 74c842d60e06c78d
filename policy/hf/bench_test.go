package hf

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchModel returns a float32 model of the given width with random
// weights (no file I/O): 4 layers, 8 query and 2 key-value heads of width
// d/8, SwiGLU width 4d (rounded), Qwen's vocabulary of 151,936.
func benchModel(d int) *Model[float32] {
	c, _ := TinyConfig(Qwen2)
	c.Hidden, c.Intermediate, c.Layers, c.Heads, c.KVHeads, c.HeadDim = d, 4*d, 4, 8, 2, d/8
	m := NewZeroModel[float32](c)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range m.Params {
		m.Params[i] = float32(rng.NormFloat64() * 0.05)
	}
	return m
}

// BenchmarkLogProbs scores one sequence of a 256-token prompt and a
// 16-token action (the LM head runs for the 16 action positions only).
func BenchmarkLogProbs(b *testing.B) {
	for _, d := range []int{64, 256} {
		b.Run(fmt.Sprintf("d%d", d), func(b *testing.B) {
			m := benchModel(d)
			seq := Seq{Prompt: make([]int, 256), Action: make([]int, 16)}
			for i := range seq.Prompt {
				seq.Prompt[i] = (i * 7919) % 151936
			}
			b.ResetTimer()
			for range b.N {
				if _, _, err := m.LogProbs([]Seq{seq}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*272)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkSample draws 8 continuations of 16 tokens after a 256-token
// prompt (one prompt pass, then 8 x 16 single-token steps, each with the
// full LM head).
func BenchmarkSample(b *testing.B) {
	for _, d := range []int{64, 256} {
		b.Run(fmt.Sprintf("d%d", d), func(b *testing.B) {
			m := benchModel(d)
			prompt := make([]int, 256)
			for i := range prompt {
				prompt[i] = (i * 7919) % 151936
			}
			opt := SampleOptions{Temperature: 1, TopP: 0.95, MaxTokens: 16, Stop: []int{}}
			b.ResetTimer()
			for range b.N {
				if _, err := m.Sample(prompt, 8, opt, rand.New(rand.NewPCG(1, 2))); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*8*16)/b.Elapsed().Seconds(), "drawn-tokens/s")
		})
	}
}
