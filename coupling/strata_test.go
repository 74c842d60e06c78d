package coupling

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// levenshtein is the textbook full dynamic program, the reference for the
// banded EditDistance.
func levenshtein(a, b []int32) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev = cur
	}
	return prev[len(b)]
}

func TestEditDistanceBanded(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 3000 {
		// Near sequences (a few edits of a common base) and unrelated ones.
		la := rng.IntN(40)
		a := make([]int32, la)
		for i := range a {
			a[i] = int32(rng.IntN(5))
		}
		b := slices.Clone(a)
		if trial%3 == 0 {
			b = make([]int32, rng.IntN(40))
			for i := range b {
				b[i] = int32(rng.IntN(5))
			}
		} else {
			for range rng.IntN(6) {
				switch p := rng.IntN(len(b) + 1); rng.IntN(3) {
				case 0:
					b = slices.Insert(b, p, int32(rng.IntN(5)))
				case 1:
					if p < len(b) {
						b = slices.Delete(b, p, p+1)
					}
				default:
					if p < len(b) {
						b[p] = int32(rng.IntN(5))
					}
				}
			}
		}
		want := levenshtein(a, b)
		for _, k := range []int{0, 1, 2, 3, 5, 8, 50} {
			got := EditDistance(a, b, k)
			if want <= k && got != want || want > k && got != k+1 {
				t.Fatalf("a %v b %v k %d: got %d, want %d (true distance %d)", a, b, k, got, min(want, k+1), want)
			}
		}
		if g := multisetGap(a, b); g > 2*want {
			t.Fatalf("histogram bound %d > 2 * %d", g, want)
		}
	}
	// A 150-token prompt with one cue token changed is at distance 1.
	a := make([]int32, 150)
	for i := range a {
		a[i] = int32(i % 17)
	}
	b := slices.Clone(a)
	b[75] = 99
	if d := EditDistance(a, b, 15); d != 1 {
		t.Errorf("one substitution: %d", d)
	}
	if s := EditSimilarity(a, b, 0.1); math.Abs(s-(1-1.0/150)) > 1e-15 {
		t.Errorf("similarity %v", s)
	}
	if s := EditSimilarity(a, []int32{1, 2, 3}, 0.1); !math.IsNaN(s) {
		t.Errorf("far prompts: similarity %v, want NaN", s)
	}
}

// plantedTwins builds n/2 twin pairs (samples 2t good, 2t+1 bad, action
// t%actions, distinct states) of dimension d, with random Gaussian
// gradients and, when coupled, the bad twin's gradient equal to the good
// one's plus noise of the same size (cosine about 0.7).
func plantedTwins(n, d, actions int, coupled bool, rng *rand.Rand) (g []float32, labels []int8, adv []float64, acts, states []int, tokens [][]int32) {
	g = make([]float32, n*d)
	for i := range g {
		g[i] = float32(rng.NormFloat64())
	}
	for i := range n {
		labels = append(labels, int8(1-i%2))
		adv = append(adv, 1)
		acts = append(acts, (i/2)%actions)
		states = append(states, i)
		base := make([]int32, 60)
		for l := range base {
			base[l] = int32(1000*(i/2) + l) // prompts of different twin pairs share nothing
		}
		if i%2 == 1 {
			base[30] = -1 // the cue token
			if coupled {
				for l := range d {
					g[i*d+l] = g[(i-1)*d+l] + g[i*d+l]
				}
			}
		}
		tokens = append(tokens, base)
	}
	return
}

func TestStrataPlanted(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n, d = 160, 64
	g, labels, adv, acts, states, tokens := plantedTwins(n, d, 4, true, rng)
	k, err := Gram(nil, g, n, d, GramConfig{})
	if err != nil {
		t.Fatal(err)
	}
	norms := SquaredNorms(nil, g, n, d)
	st := FindStrata(StrataInput{Labels: labels, Actions: acts, States: states, Tokens: tokens}, StrataConfig{}, rand.New(rand.NewPCG(5, 6)))
	if len(st.Pairs[Twin]) != n/2 || st.Truncated || st.Compared != st.Candidates {
		t.Fatalf("twins %d of %d candidates (compared %d, truncated %v), want %d", len(st.Pairs[Twin]), st.Candidates, st.Compared, st.Truncated, n/2)
	}
	for _, p := range st.Pairs[Twin] {
		if p.J != p.I+1 || labels[p.I] != 1 {
			t.Fatalf("twin %v is not a planted pair", p)
		}
	}
	if len(st.Pairs[SameState]) != 0 || len(st.Pairs[Random]) != 4096 || len(st.Pairs[All]) != n*(n-1)/2 {
		t.Errorf("strata sizes: %d same state, %d random, %d all", len(st.Pairs[SameState]), len(st.Pairs[Random]), len(st.Pairs[All]))
	}
	data := PairData{K: k, N: n, Norms: norms, Labels: labels, Adv: adv, States: states, Actions: acts, Eta: 1}
	cfg := TestConfig{Null: 499, Boot: 500, Seed: 7}
	twin := TestPairs(data, st.Pairs[Twin], NullPartners, cfg)
	hr := twin.Tests[3]
	if hr.Value < 0.95 || hr.P >= 0.01 || math.Abs(hr.NullMean-0.5) > 0.08 || !(hr.Lo <= hr.Value && hr.Value <= hr.Hi) {
		t.Errorf("twin harmful rate %+v: want about 1, p < 0.01, null mean 0.5 +- 0.08", hr)
	}
	// Random pairs: the harmful rate is 0.5 within its interval.
	cfg.Stream = 1
	rnd := TestPairs(data, st.Pairs[Random], NullPartners, cfg)
	if r := rnd.Tests[3]; !(r.Lo <= 0.5 && 0.5 <= r.Hi) || r.Value < 0.4 || r.Value > 0.6 {
		t.Errorf("random harmful rate %+v: want 0.5 inside the interval", r)
	}
	// Uncoupled: the twin stratum is indistinguishable from its null.
	g0, _, _, _, _, _ := plantedTwins(n, d, 4, false, rand.New(rand.NewPCG(3, 4)))
	k0, _ := Gram(nil, g0, n, d, GramConfig{})
	data.K, data.Norms = k0, SquaredNorms(nil, g0, n, d)
	un := TestPairs(data, st.Pairs[Twin], NullPartners, cfg).Tests[3]
	if un.P < 0.01 || !(un.Lo <= 0.5 && 0.5 <= un.Hi) {
		t.Errorf("uncoupled twins %+v: want no signal", un)
	}
}

// TestPairStatisticsBruteForce compares PairStatistics on all pairs with
// GroupMeans (cosines) and HarmfulCoupling (rate, mass) on random data.
func TestPairStatisticsBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	const n, d = 30, 7
	g := make([]float32, n*d)
	for i := range g {
		g[i] = float32(rng.NormFloat64())
	}
	labels := make([]int8, n)
	adv := make([]float64, n)
	states := make([]int, n)
	var pairs []SamplePair
	for i := range n {
		labels[i] = int8(rng.IntN(3) - 1)
		adv[i] = rng.NormFloat64()
		states[i] = rng.IntN(12)
		for j := range i {
			pairs = append(pairs, SamplePair{j, i})
		}
	}
	k, _ := Gram(nil, g, n, d, GramConfig{})
	norms := SquaredNorms(nil, g, n, d)
	s := PairStatistics(k, n, norms, pairs, labels, adv, states, 0.1, nil)
	gm := GroupMeans(g, n, d, GoodBadGroups(nil, labels), 2)
	h := HarmfulCoupling(k, n, norms, HarmfulConfig{Eta: 0.1, Advantages: adv, Labels: labels, States: states})
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"cos_good", s.CosGood, gm.Mean(0, 0)}, {"cos_bad", s.CosBad, gm.Mean(1, 1)}, {"cos_good_bad", s.CosGoodBad, gm.Mean(0, 1)},
		{"harmful_rate", s.HarmfulRate, h.Rate}, {"harmful_mass", s.HarmfulMass, h.Mass}} {
		if math.Abs(c.got-c.want) > 1e-5 {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	if s.Eligible != h.Pairs {
		t.Errorf("eligible %d, want %d", s.Eligible, h.Pairs)
	}
	// Bootstrap weights of all ones give the same statistics.
	w := make([]float64, n)
	for i := range w {
		w[i] = 1
	}
	if s2 := PairStatistics(k, n, norms, pairs, labels, adv, states, 0.1, w); s2 != s {
		t.Errorf("unit weights: %+v, want %+v", s2, s)
	}
}

func TestPermutationP(t *testing.T) {
	// Null 0..9 (mean 4.5); obs 9 deviates by 4.5: values with |v - 4.5|
	// >= 4.5 are 0 and 9, so p = (1 + 2) / 11.
	null := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	m, p := PermutationP(9, null)
	if m != 4.5 || math.Abs(p-3.0/11) > 1e-15 {
		t.Errorf("mean %v p %v", m, p)
	}
	if _, p := PermutationP(100, null); math.Abs(p-1.0/11) > 1e-15 {
		t.Errorf("extreme: p %v, want 1/11", p)
	}
	if _, p := PermutationP(math.NaN(), null); !math.IsNaN(p) {
		t.Errorf("NaN obs: p %v", p)
	}
	lo, hi := PercentileInterval([]float64{4, 0, 3, 1, 2}, 0.5)
	if lo != 1 || hi != 3 {
		t.Errorf("interval %v %v, want 1 3", lo, hi)
	}
	// Under a true null, p is uniform: P(p <= 0.05) is about 0.05
	// (simulated with a normal statistic; tolerance 4 binomial SDs).
	rng := rand.New(rand.NewPCG(10, 11))
	rej := 0
	const trials, B = 2000, 99
	for range trials {
		nv := make([]float64, B)
		for b := range nv {
			nv[b] = rng.NormFloat64()
		}
		if _, p := PermutationP(rng.NormFloat64(), nv); p <= 0.05 {
			rej++
		}
	}
	if f := float64(rej) / trials; math.Abs(f-0.05) > 4*math.Sqrt(0.05*0.95/trials) {
		t.Errorf("size %v, want 0.05", f)
	}
}

func TestShuffles(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	labels := []int8{1, 0, 1, 0, 1, 1, 0, -1}
	block := []int{0, 0, 0, 1, 1, 1, -1, 1}
	in := slices.Clone(labels)
	for range 100 {
		s := ShuffleLabels(nil, labels, block, rng)
		for _, b := range []int{0, 1} {
			var x, y []int8
			for i := range labels {
				if block[i] == b {
					x, y = append(x, labels[i]), append(y, s[i])
				}
			}
			slices.Sort(x)
			slices.Sort(y)
			if !slices.Equal(x, y) {
				t.Fatalf("block %d: %v -> %v", b, labels, s)
			}
		}
		if s[6] != 0 {
			t.Fatal("a negative block moved")
		}
	}
	if !slices.Equal(in, labels) {
		t.Error("ShuffleLabels modified its input")
	}
	pairs := []SamplePair{{0, 1}, {2, 3}, {4, 5}, {6, 7}}
	kind := func(j int) int { return j % 2 }
	for range 100 {
		s := ShufflePartners(nil, pairs, kind, rng)
		var js []int
		for p, q := range s {
			if q.I != pairs[p].I {
				t.Fatal("ShufflePartners moved a first member")
			}
			js = append(js, q.J)
		}
		slices.Sort(js)
		if !slices.Equal(js, []int{1, 3, 5, 7}) {
			t.Fatalf("partners %v", js)
		}
	}
}
