package hf_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/gradcouple/gradcouple/policy/hf"
)

// Write a tiny random Qwen3 checkpoint in two BF16 shards, load it in
// float32, score an action and sample a group of continuations that share
// the prompt's key-value cache.
func Example() {
	tmp, err := os.MkdirTemp("", "hf-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "qwen3-tiny")
	if err := hf.WriteTiny(dir, hf.TinyOptions{ModelType: hf.Qwen3, Shards: 2, Seed: 1}); err != nil {
		panic(err)
	}
	m, err := hf.Load[float32](dir)
	if err != nil {
		panic(err)
	}
	c := m.Config()
	fmt.Println(c.ModelType, c.VocabSize, c.Hidden, c.Layers, c.HeadDim, c.NumParams())

	prompt := []int{151644, 872, 198, 9707, 151645, 198, 151644, 77091, 198} // <|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n
	sums, perToken, err := m.LogProbs([]hf.Seq{{Prompt: prompt, Action: []int{13048, 151645}}})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(perToken[0]), sums[0] < 0)

	group, err := m.Sample(prompt, 4, hf.SampleOptions{Temperature: 0.8, TopP: 0.95, MaxTokens: 5}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		panic(err)
	}
	fmt.Println(len(group), len(group[0].Tokens) <= 5)
	// Output:
	// qwen3 151936 32 2 16 4886752
	// 2 true
	// 4 true
}
