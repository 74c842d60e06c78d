package coupling

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// A similarityEstimator returns an n x n matrix of similarities between
// the rows of g; only the off-diagonal entries are checked.
type similarityEstimator struct {
	name string
	// tol is the tolerance of the exact properties (identical, opposite,
	// scale invariance, symmetry); ref the tolerance against exact cosines.
	tol, ref float64
	sim      func(g []float32, n, d int) []float64
}

func estimators(t *testing.T) []similarityEstimator {
	toF64 := func(m []float32) []float64 {
		out := make([]float64, len(m))
		for i, v := range m {
			out[i] = float64(v)
		}
		return out
	}
	return []similarityEstimator{
		{"CosineGram", 1e-6, 0, func(g []float32, n, d int) []float64 {
			c, err := CosineGram(nil, g, n, d, GramConfig{TileRows: 7})
			if err != nil {
				t.Fatal(err)
			}
			return toF64(c)
		}},
		{"ProjectedCosine/Rademacher", 1e-6, 0.2, func(g []float32, n, d int) []float64 {
			p := Projection{D: d, K: 2048, Kind: Rademacher, Seed: 11}
			y := p.Project(nil, g, n)
			c, err := CosineGram(nil, y, n, p.K, GramConfig{})
			if err != nil {
				t.Fatal(err)
			}
			return toF64(c)
		}},
		{"ProjectedCosine/Gaussian", 1e-6, 0.2, func(g []float32, n, d int) []float64 {
			p := Projection{D: d, K: 2048, Kind: Gaussian, Seed: 12}
			y := p.Project(nil, g, n)
			c, err := CosineGram(nil, y, n, p.K, GramConfig{})
			if err != nil {
				t.Fatal(err)
			}
			return toF64(c)
		}},
		{"GroupMeans", 1e-9, 1e-6, func(g []float32, n, d int) []float64 {
			// every row its own group: the across-group mean is the cosine
			group := make([]int, n)
			for i := range group {
				group[i] = i
			}
			return GroupMeans(g, n, d, group, n).Cosine
		}},
		{"TopK", 1e-6, 1e-6, func(g []float32, n, d int) []float64 {
			out := make([]float64, n*n)
			for _, p := range TopK(g, n, d, TopKConfig{K: n * n}, GramConfig{TileRows: 9, Workers: 3}) {
				out[p.I*n+p.J] = float64(p.Cosine)
				out[p.J*n+p.I] = float64(p.Cosine)
			}
			return out
		}},
	}
}

// TestSimilarityConformance runs the shared suite (STYLE.md) on every
// similarity estimator: symmetry, bounds [-1, 1], identical rows -> 1,
// opposite rows -> -1, invariance to scaling a row, inputs unchanged, and
// agreement with exact float64 cosines.
func TestSimilarityConformance(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	n, d := 30, 300
	g := randRows(rng, n, d)
	for l := range d {
		g[1*d+l] = g[0*d+l]  // row 1 = row 0
		g[2*d+l] = -g[0*d+l] // row 2 = -row 0
		g[4*d+l] = g[3*d+l] + 0.1*g[5*d+l]
	}
	exact := func(i, j int) float64 {
		var s, a, b float64
		for l := range d {
			x, y := float64(g[i*d+l]), float64(g[j*d+l])
			s, a, b = s+x*y, a+x*x, b+y*y
		}
		return s / math.Sqrt(a*b)
	}
	for _, e := range estimators(t) {
		t.Run(e.name, func(t *testing.T) {
			orig := slices.Clone(g)
			s := e.sim(g, n, d)
			if !slices.Equal(g, orig) {
				t.Fatal("input modified")
			}
			for i := range n {
				for j := range n {
					if i == j {
						continue
					}
					v := s[i*n+j]
					if !(v >= -1 && v <= 1) {
						t.Fatalf("S[%d,%d] = %v outside [-1, 1]", i, j, v)
					}
					if math.Abs(v-s[j*n+i]) > e.tol {
						t.Fatalf("not symmetric: S[%d,%d] = %v, S[%d,%d] = %v", i, j, v, j, i, s[j*n+i])
					}
					if r := exact(i, j); math.Abs(v-r) > e.ref+1e-6 {
						t.Fatalf("S[%d,%d] = %v, exact cosine %v", i, j, v, r)
					}
				}
			}
			if v := s[0*n+1]; math.Abs(v-1) > e.tol {
				t.Errorf("identical rows: %v, want 1", v)
			}
			if v := s[0*n+2]; math.Abs(v+1) > e.tol {
				t.Errorf("opposite rows: %v, want -1", v)
			}
			for _, c := range []float32{2, 0.37, 1000, 1e-3} {
				h := slices.Clone(g)
				for l := range d {
					h[3*d+l] *= c
					h[0*d+l] *= c
				}
				sc := e.sim(h, n, d)
				for i := range n {
					for j := range n {
						if i != j && math.Abs(sc[i*n+j]-s[i*n+j]) > 1e-5 {
							t.Fatalf("scale %v: S[%d,%d] = %v, unscaled %v", c, i, j, sc[i*n+j], s[i*n+j])
						}
					}
				}
			}
		})
	}
}
