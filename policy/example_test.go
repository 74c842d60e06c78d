package policy_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gradcouple/gradcouple/policy"
)

func Example() {
	tok := policy.NewTokenizer([]string{"go to cabinet 1 2 take apple from countertop"})
	fmt.Println(policy.Split("Take apple 1 from countertop 1."))
	fmt.Println(tok.Encode("take apple 1 from countertop 1"))

	m, err := policy.NewModel(policy.Config{VocabSize: tok.Size(), Context: 64, Dim: 16, Layers: 2, Heads: 2}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		panic(err)
	}
	s, err := tok.EncodePair("go to cabinet 1", "take apple 1 from countertop 2", m.Config().Context)
	if err != nil {
		panic(err)
	}
	lp := m.LogProbs(nil, []policy.Seq{s})[0]
	// a random model is close to uniform over the 15 tokens: 7 targets
	// (6 action tokens and <eos>) cost about 7 log 15 = 18.96 nats
	fmt.Printf("log pi = %.1f\n", lp)
	fmt.Println(math.Abs(lp+7*math.Log(15)) < 0.5)

	g := m.PerSampleGrads(nil, policy.ActionTerms([]policy.Seq{s}), policy.Selection{})
	fmt.Println(len(g) == m.NumParams())
	// Output:
	// [take apple 1 from countertop 1 .]
	// [13 8 6 11 10 6]
	// log pi = -19.0
	// true
	// true
}
