package coupling

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestProjectionJL: with K = JLDim(n, eps, delta) every inner product of
// random rows is preserved within eps |g_i| |g_j|, for both kinds of
// entries and several seeds (the bound promises this with probability at
// least 1 - delta = 0.99 per seed).
func TestProjectionJL(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	n, d := 40, 3000
	eps, delta := 0.2, 0.01
	k := JLDim(n, eps, delta)
	if k != 1463 { // 2 ln(2*1600/0.01) / (0.02 - 0.008/3) = 1462.6
		t.Fatalf("JLDim = %d", k)
	}
	g := randRows(rng, n, d)
	for i := 10; i < 20; i++ { // correlated rows too
		for l := range d {
			g[i*d+l] = g[(i-10)*d+l] + 0.5*g[i*d+l]
		}
	}
	ref, _ := gram64(g, n, d)
	for _, kind := range []ProjectionKind{Rademacher, Gaussian} {
		for seed := range uint64(3) {
			p := Projection{D: d, K: k, Kind: kind, Seed: seed}
			y := p.Project(nil, g, n)
			ky, _ := gram64(y, n, k)
			worst := 0.0
			for i := range n {
				for j := range n {
					e := math.Abs(ky[i*n+j]-ref[i*n+j]) / math.Sqrt(ref[i*n+i]*ref[j*n+j])
					worst = math.Max(worst, e)
				}
			}
			t.Logf("kind %d seed %d: K = %d, worst |<y_i,y_j> - <g_i,g_j>| / (|g_i||g_j|) = %.3f (eps %.2f)", kind, seed, k, worst, eps)
			if worst > eps {
				t.Errorf("kind %d seed %d: error %.3f > eps %.2f", kind, seed, worst, eps)
			}
		}
	}
}

// TestProjectionStreaming: a row projects to the same bits alone, in any
// chunk and with any number of workers, and the entries have mean 0 and
// variance 1.
func TestProjectionStreaming(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	n, d, k := 1100, 300, 70 // more rows than one work unit
	g := randRows(rng, n, d)
	orig := slices.Clone(g)
	for _, kind := range []ProjectionKind{Rademacher, Gaussian} {
		p := Projection{D: d, K: k, Kind: kind, Seed: 42}
		all := p.Project(nil, g, n)
		if !slices.Equal(g, orig) {
			t.Fatal("input modified")
		}
		p1 := p
		p1.Workers = 1
		if got := p1.Project(nil, g, n); !slices.Equal(got, all) {
			t.Fatal("Workers = 1 differs")
		}
		for _, i := range []int{0, 13, 1099} {
			one := p.Project(nil, g[i*d:(i+1)*d], 1)
			if !slices.Equal(one, all[i*k:(i+1)*k]) {
				t.Fatalf("row %d alone differs", i)
			}
		}
		chunk := p.Project(nil, g[500*d:1037*d], 537)
		if !slices.Equal(chunk, all[500*k:1037*k]) {
			t.Fatal("chunk differs")
		}
		var sum, sq float64
		const m = 200000
		for e := range m {
			v := float64(p.Entry(e/k, e%k))
			sum += v
			sq += v * v
		}
		if mean, v := sum/m, sq/m; math.Abs(mean) > 0.01 || math.Abs(v-1) > 0.02 {
			t.Errorf("kind %d: entries have mean %v, variance %v", kind, mean, v)
		}
	}
	// a larger K extends a smaller one
	small := (&Projection{D: d, K: 10, Seed: 3}).Project(nil, g[:d], 1)
	big := (&Projection{D: d, K: 40, Seed: 3}).Project(nil, g[:d], 1)
	for c := range small {
		if math.Abs(float64(small[c])*math.Sqrt(10)-float64(big[c])*math.Sqrt(40)) > 1e-3 {
			t.Fatalf("column %d: K=10 gives %v, K=40 gives %v (unscaled)", c, small[c], big[c])
		}
	}
}

func TestJLDimDomain(t *testing.T) {
	for _, c := range []struct {
		n          int
		eps, delta float64
		want       int
	}{{1, 0.1, 0.1, 1}, {10, 0, 0.1, 0}, {10, 0.1, 1, 0}, {10, math.NaN(), 0.1, 0}} {
		if got := JLDim(c.n, c.eps, c.delta); got != c.want {
			t.Errorf("JLDim(%d, %v, %v) = %d, want %d", c.n, c.eps, c.delta, got, c.want)
		}
	}
}
