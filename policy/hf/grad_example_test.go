package hf_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/gradcouple/gradcouple/policy/hf"
)

// Per-sample gradients of a group of actions after one prompt, for the top
// layer's MLP and the tied LM head of a tiny random Qwen2.5-shaped model,
// as factors only (the head's dense gradient would be vocab_size x
// hidden), and the inner product of two samples' LM-head gradients from
// their factors.
func ExampleGrader_GroupGrads() {
	tmp, err := os.MkdirTemp("", "hf-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "qwen2-tiny")
	if err := hf.WriteTiny(dir, hf.TinyOptions{ModelType: hf.Qwen2, Seed: 1}); err != nil {
		panic(err)
	}
	m, err := hf.Load[float64](dir)
	if err != nil {
		panic(err)
	}
	sel, err := m.SelectTensors([]string{"model.layers.1.mlp", "lm_head"})
	if err != nil {
		panic(err)
	}
	for _, t := range sel {
		fmt.Println(t.Name, t.Shape)
	}
	g, err := m.NewGrader(sel, hf.GradOptions{Form: hf.GradFactors})
	if err != nil {
		panic(err)
	}
	prompt := []int{151644, 872, 198, 9707, 151645, 198, 151644, 77091, 198} // <|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n
	actions := [][]int{{13048, 151645}, {9707, 0, 151645}}
	var head []*hf.Factors[float64]
	sums, err := g.GroupGrads(prompt, actions, func(i int, s *hf.SampleGrad[float64]) error {
		last := s.Tensors[len(s.Tensors)-1]
		fmt.Printf("action %d: %d positions of the LM head (%d x %d), dense MLP gradients %v\n",
			i, last.Factors.Rows(), last.Factors.Out, last.Factors.In, s.Tensors[0].Dense != nil)
		head = append(head, last.Factors.Clone()) // valid only during the call
		return nil
	})
	if err != nil {
		panic(err)
	}
	want, _, _ := m.GroupLogProbs(prompt, actions)
	fmt.Println(sums[0] == want[0], sums[1] == want[1])
	// <G_0, G_1> of the LM head from the factors alone, and the cosine
	dot := head[0].Dot(head[1])
	cos := dot / math.Sqrt(head[0].Dot(head[0])*head[1].Dot(head[1]))
	fmt.Println(cos > -1 && cos < 1)
	// Output:
	// model.layers.1.mlp.gate_proj.weight [64 32]
	// model.layers.1.mlp.up_proj.weight [64 32]
	// model.layers.1.mlp.down_proj.weight [32 64]
	// lm_head.weight [151936 32]
	// action 0: 2 positions of the LM head (151936 x 32), dense MLP gradients false
	// action 1: 3 positions of the LM head (151936 x 32), dense MLP gradients false
	// true true
	// true
}
