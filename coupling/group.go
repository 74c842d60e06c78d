package coupling

import "math"

// Groups of rows for GroupMeans: GroupGood and GroupBad are the indices
// GoodBadGroups gives to judge labels.
const (
	GroupGood = 0
	GroupBad  = 1
)

// GoodBadGroups maps judge labels (DESIGN.md §3.1: 1 good, 0 bad, -1
// unknown) to groups for GroupMeans: 1 -> GroupGood, 0 -> GroupBad, any
// other value -> -1 (excluded). The result is stored in dst (allocated when
// nil, else len(dst) must be len(labels)).
func GoodBadGroups(dst []int, labels []int8) []int {
	if dst == nil {
		dst = make([]int, len(labels))
	} else if len(dst) != len(labels) {
		panic("coupling: length mismatch")
	}
	for i, l := range labels {
		switch l {
		case 1:
			dst[i] = GroupGood
		case 0:
			dst[i] = GroupBad
		default:
			dst[i] = -1
		}
	}
	return dst
}

// GroupStats holds the mean coupling within and across k groups of rows.
// Element (a, b) of the k x k matrices is at index a*K + b; the matrices
// are symmetric.
type GroupStats struct {
	K int
	// Count is the number of rows in each group; Nonzero counts those of
	// nonzero norm, the only ones that enter the cosine means.
	Count, Nonzero []int
	// Cosine is the mean cosine C_ij over pairs i in group a, j in group b,
	// i != j; NaN when there is no such pair (a group with fewer than two
	// nonzero rows has no within-group pair).
	Cosine []float64
	// Inner is the mean inner product K_ij over the same pairs, with every
	// row of the groups (a zero row contributes inner products of 0).
	Inner []float64
}

// Mean returns Cosine[a*K+b].
func (s GroupStats) Mean(a, b int) float64 { return s.Cosine[a*s.K+b] }

// GroupMeans returns the mean cosine and the mean inner product within and
// across groups of the n rows of g (row length d), in O(n d) time and
// O(k d) memory, without a Gram matrix (DESIGN.md §4, group coupling).
// group[i] in [0, k) is the group of row i; a negative group excludes the
// row. With the unit vectors u_i = g_i / |g_i| and the group sums
// S_a = sum_{i in a} u_i and T_a = sum_{i in a} g_i (n_a rows, m_a of them
// of nonzero norm):
//
//	within a: mean_{i != j} C_ij = (|S_a|^2 - m_a) / (m_a (m_a - 1))
//	across:   mean C_ij          = <S_a, S_b> / (m_a m_b)
//	within a: mean_{i != j} K_ij = (|T_a|^2 - sum_{i in a} |g_i|^2) / (n_a (n_a - 1))
//	across:   mean K_ij          = <T_a, T_b> / (n_a n_b)
//
// The diagonal i = j is excluded from the within-group means by
// subtracting its contribution, |u_i|^2 = 1 for each unit vector (|g_i|^2
// for the raw rows). Everything is accumulated in float64; the means agree
// with the pairwise means of CosineGram and Gram to about 1e-6 (float32
// rounding of those matrices), see TestGroupMeansBruteForce, and are
// clamped to [-1, 1]. A zero row
// has no direction and is left out of the cosine means (it is counted in
// Count, not Nonzero); NaN in a row makes every mean involving its group
// NaN. A panic reports a length mismatch or a group >= k.
func GroupMeans(g []float32, n, d int, group []int, k int) GroupStats {
	checkRows(g, n, d)
	if len(group) != n || k < 0 {
		panic("coupling: length mismatch")
	}
	s := GroupStats{K: k, Count: make([]int, k), Nonzero: make([]int, k),
		Cosine: make([]float64, k*k), Inner: make([]float64, k*k)}
	unit := make([]float64, k*d) // S_a
	raw := make([]float64, k*d)  // T_a
	self := make([]float64, k)   // sum |g_i|^2
	for i, a := range group {
		if a < 0 {
			continue
		}
		if a >= k {
			panic("coupling: group out of range")
		}
		row := g[i*d : (i+1)*d]
		var nn float64
		for _, v := range row {
			nn += float64(v) * float64(v)
		}
		s.Count[a]++
		self[a] += nn
		t := raw[a*d : (a+1)*d]
		for l, v := range row {
			t[l] += float64(v)
		}
		if nn == 0 {
			continue
		}
		s.Nonzero[a]++
		inv := 1 / math.Sqrt(nn)
		u := unit[a*d : (a+1)*d]
		for l, v := range row {
			u[l] += float64(v) * inv
		}
	}
	dot := func(x, y []float64) float64 {
		var z float64
		for l, v := range x {
			z += v * y[l]
		}
		return z
	}
	for a := range k {
		for b := a; b < k; b++ {
			sab := dot(unit[a*d:(a+1)*d], unit[b*d:(b+1)*d])
			tab := dot(raw[a*d:(a+1)*d], raw[b*d:(b+1)*d])
			var c, in float64
			if a == b {
				m, nn := float64(s.Nonzero[a]), float64(s.Count[a])
				c = (sab - m) / (m * (m - 1))
				in = (tab - self[a]) / (nn * (nn - 1))
				if s.Nonzero[a] < 2 {
					c = math.NaN()
				}
				if s.Count[a] < 2 {
					in = math.NaN()
				}
			} else {
				c = sab / (float64(s.Nonzero[a]) * float64(s.Nonzero[b]))
				in = tab / (float64(s.Count[a]) * float64(s.Count[b]))
				if s.Nonzero[a] == 0 || s.Nonzero[b] == 0 {
					c = math.NaN()
				}
				if s.Count[a] == 0 || s.Count[b] == 0 {
					in = math.NaN()
				}
			}
			c = math.Max(-1, math.Min(1, c)) // a mean of cosines; rounding may step past 1 (NaN stays)
			s.Cosine[a*k+b], s.Cosine[b*k+a] = c, c
			s.Inner[a*k+b], s.Inner[b*k+a] = in, in
		}
	}
	return s
}
