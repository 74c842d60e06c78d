package coupling

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGroupMeansBruteForce: the O(N D) group means equal the pairwise means
// over the float64 reference matrix (i != j within groups), with zero rows
// left out of the cosine means and excluded rows (group -1) ignored.
func TestGroupMeansBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	n, d := 41, 90
	g := randRows(rng, n, d)
	for l := range d {
		g[5*d+l] = 0 // zero rows in group 0 and 2
		g[9*d+l] = 0
		g[6*d+l] = g[2*d+l] + 1 // shared offset makes cosines positive
		g[7*d+l] = g[2*d+l] + 1
	}
	labels := make([]int8, n)
	for i := range labels {
		labels[i] = int8(rng.IntN(3)) - 1 // -1, 0 or 1
	}
	labels[5], labels[9] = 1, 0
	group := GoodBadGroups(nil, labels)
	for _, k := range []int{2, 3} {
		grp := group
		if k == 3 {
			grp = make([]int, n)
			for i := range grp {
				grp[i] = i % 3
			}
			grp[4] = -1
		}
		s := GroupMeans(g, n, d, grp, k)
		ref, _ := gram64(g, n, d)
		for a := range k {
			for b := range k {
				var sumC, sumK float64
				var pc, pk int
				for i := range n {
					for j := range n {
						if i == j || grp[i] != a || grp[j] != b {
							continue
						}
						sumK += ref[i*n+j]
						pk++
						if ref[i*n+i] == 0 || ref[j*n+j] == 0 {
							continue
						}
						sumC += ref[i*n+j] / math.Sqrt(ref[i*n+i]*ref[j*n+j])
						pc++
					}
				}
				if c := s.Cosine[a*k+b]; math.Abs(c-sumC/float64(pc)) > 1e-12 {
					t.Errorf("k=%d cosine(%d,%d) = %v, brute force %v", k, a, b, c, sumC/float64(pc))
				}
				if v := s.Inner[a*k+b]; math.Abs(v-sumK/float64(pk)) > 1e-9*math.Abs(sumK/float64(pk))+1e-9 {
					t.Errorf("k=%d inner(%d,%d) = %v, brute force %v", k, a, b, v, sumK/float64(pk))
				}
			}
		}
	}
	s := GroupMeans(g, n, d, group, 2)
	if s.Count[GroupGood]-s.Nonzero[GroupGood] != 1 || s.Count[GroupBad]-s.Nonzero[GroupBad] != 1 {
		t.Errorf("zero rows: counts %v, nonzero %v", s.Count, s.Nonzero)
	}
}

func TestGroupMeansEdgeCases(t *testing.T) {
	g := []float32{1, 0, 0, 1, 0, 0}
	// group 0 has one row, group 1 one zero row: no pairs anywhere
	s := GroupMeans(g, 3, 2, []int{0, -1, 1}, 2)
	for i, v := range s.Cosine {
		if !math.IsNaN(v) {
			t.Errorf("Cosine[%d] = %v, want NaN", i, v)
		}
	}
	if v := s.Inner[0*2+1]; v != 0 {
		t.Errorf("Inner across = %v, want 0 (a zero row has inner product 0)", v)
	}
	g[0] = float32(math.NaN())
	s = GroupMeans(g, 3, 2, []int{0, 0, 1}, 2)
	if !math.IsNaN(s.Cosine[0]) || !math.IsNaN(s.Cosine[1]) {
		t.Errorf("NaN row: %v", s.Cosine)
	}
}
