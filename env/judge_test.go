package env

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"testing"
)

func TestJudge(t *testing.T) {
	task := allTasks(t, Household, SplitTrain, 1)[0]
	e := start(t, task)
	good, bad := OptimalActions(e)[0], "look"
	if IsOptimal(e, bad) {
		t.Fatal("look is optimal")
	}
	// A perfect judge reports the truth unanimously.
	for _, c := range []struct {
		action string
		want   bool
	}{{good, true}, {bad, false}, {"no such action", false}} {
		g, v := (Judge{}).Verdict(e, c.action, nil)
		if g != c.want || (g && v != DefaultJudgments) || (!g && v != 0) {
			t.Errorf("perfect judge on %q: %v %d", c.action, g, v)
		}
	}
	// Deterministic given the rng; exactly J draws whatever Eps.
	j := Judge{J: 7, Eps: 0.3}
	r1, r2 := rand.New(rand.NewPCG(1, 2)), rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100; i++ {
		g1, v1 := j.Verdict(e, good, r1)
		g2, v2 := j.Verdict(e, good, r2)
		if g1 != g2 || v1 != v2 {
			t.Fatal("judge not deterministic")
		}
	}
	ra, rb := rand.New(rand.NewPCG(5, 6)), rand.New(rand.NewPCG(5, 6))
	(Judge{J: 7, Eps: 0}).Verdict(e, good, ra)
	(Judge{J: 7, Eps: 0.9}).Verdict(e, good, rb)
	if ra.Uint64() != rb.Uint64() {
		t.Error("the number of draws depends on Eps")
	}
	// Majority of J noisy votes: P(good verdict | good action) =
	// P(Binomial(J, 1-eps) > J/2). For J=5, eps=0.2: 0.94208.
	j = Judge{J: 5, Eps: 0.2}
	rng := rand.New(rand.NewPCG(7, 8))
	const n = 40000
	hits, votes := 0, 0
	for i := 0; i < n; i++ {
		g, v := j.Verdict(e, good, rng)
		if g {
			hits++
		}
		votes += v
	}
	if p := float64(hits) / n; math.Abs(p-0.94208) > 0.006 {
		t.Errorf("majority accuracy %.4f, want 0.94208", p)
	}
	if m := float64(votes) / n; math.Abs(m-4) > 0.03 {
		t.Errorf("mean votes %.3f, want 4", m)
	}
	// With an even J a tie is bad.
	if g, _ := (Judge{J: 2}).vote(true, nil); !g {
		t.Error("J=2 unanimous good is not good")
	}
	if g, v := (Judge{J: 4, Eps: 1}).vote(true, rand.New(rand.NewPCG(1, 1))); g || v != 0 {
		t.Errorf("eps 1 flips every judgment: %v %d", g, v)
	}
}

func TestJudgeNeedsRNG(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for Eps > 0 without rng")
		}
	}()
	(Judge{Eps: 0.1}).vote(true, nil)
}

// goldenLabels hashes, for 8 tasks of an environment and split played by a
// seeded eps = 0.3 mixture, every prompt (default config and history 1), the
// optimal set, the plan length, and the verdicts of a perfect and a noisy
// default-mode judge, plus each demonstration.
func goldenLabels(t *testing.T, judge Judge, name, split string) string {
	t.Helper()
	h := sha256.New()
	w := io.Writer(h)
	for _, task := range allTasks(t, name, split, 8) {
		demo, err := Demonstration(task)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "%s demo %q\n", task.ID, demo)
		e := start(t, task)
		rng := rand.New(rand.NewPCG(task.Seed, 1))
		jrng := rand.New(rand.NewPCG(task.Seed, 2))
		var past []Turn
		for !e.Done() {
			fmt.Fprintf(w, "%s\n%s\n", Prompt(e, past, PromptConfig{}), Prompt(e, past, PromptConfig{History: 1}))
			fmt.Fprintf(w, "%q %d\n", OptimalActions(e), PlanLength(e))
			a := MixPolicy{Eps: 0.3}.Act(e, "", rng)
			g0, v0 := (Judge{}).Verdict(e, a, nil)
			g1, v1 := judge.Verdict(e, a, jrng)
			fmt.Fprintf(w, "%s %v %d %v %d\n", a, g0, v0, g1, v1)
			past = append(past, Turn{Observation: e.Observation(), Action: a})
			e.Step(a)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestDefaultLabelsGolden: the default judge and prompt give, bit for bit,
// what they gave before identifiable labels existed, on train and eval-in
// (the hash of all six splits in order was 807ae9d3... at commit 8ec141d;
// these per-split hashes were taken at commit 21bec36, where the same
// text hashed in one gives that hash). eval-out was regenerated when it was
// divided by shift type (Task.Shift): its hashes are those of the
// shift-typed split.
func TestDefaultLabelsGolden(t *testing.T) {
	want := map[string]string{
		"household/train":    "4c23f0231a09c330c4fd9ec631f0c29a2763c542edafb11673a59d06f1fd018b",
		"household/eval-in":  "d621c023730a48906404f52dde726a3de5b88d232b2b213090a53701000cdd76",
		"household/eval-out": "870dc1b5e7ffb93e4e474c9761b883261c40a927d573e37bd51888e915504490",
		"lab/train":          "dc82c2d16d3ce5c30bb29120fdc3751da86ca9740155a228d68f82850340f7cb",
		"lab/eval-in":        "a4f50138b5824f9eb10d1583744fc372a5a9c3d8a2ce864a24b093d6011bf32e",
		"lab/eval-out":       "575d697845e5138d210ed1cc7ab08baa0d89d7e2f173ef3684ba5d4fdfcc98a6",
	}
	for _, name := range Names() {
		for _, split := range Splits() {
			k := name + "/" + split
			if got := goldenLabels(t, Judge{J: 5, Eps: 0.1}, name, split); got != want[k] {
				t.Errorf("%s: default prompts and labels changed: hash %s, want %s", k, got, want[k])
			}
		}
	}
}
