package coupling

import (
	"fmt"
	"math"
	"sort"
)

// Block is a named set of columns of the gradient rows: the coordinates of
// one group of parameter tensors (the embeddings, one layer's attention,
// ...). Ranges are half-open column ranges [lo, hi).
type Block struct {
	Name   string
	Ranges [][2]int
}

// Dim is the number of columns of b.
func (b Block) Dim() int {
	n := 0
	for _, r := range b.Ranges {
		n += r[1] - r[0]
	}
	return n
}

// CheckBlocks returns an error matching ErrParameter unless the blocks
// partition the columns [0, d): every column in exactly one block, every
// range non-empty and inside [0, d). Then sum_b K^b = K (BlockGrams).
func CheckBlocks(blocks []Block, d int) error {
	type span struct {
		lo, hi int
		name   string
	}
	var spans []span
	for _, b := range blocks {
		for _, r := range b.Ranges {
			if r[0] < 0 || r[1] > d || r[0] >= r[1] {
				return fmt.Errorf("%w: block %q has column range [%d, %d) outside [0, %d) or empty", ErrParameter, b.Name, r[0], r[1], d)
			}
			spans = append(spans, span{r[0], r[1], b.Name})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	next := 0
	for _, s := range spans {
		if s.lo < next {
			return fmt.Errorf("%w: block %q overlaps another at column %d", ErrParameter, s.name, s.lo)
		}
		if s.lo > next {
			return fmt.Errorf("%w: columns [%d, %d) are in no block", ErrParameter, next, s.lo)
		}
		next = s.hi
	}
	if next != d {
		return fmt.Errorf("%w: columns [%d, %d) are in no block", ErrParameter, next, d)
	}
	return nil
}

// Gather copies the columns of b from the n rows of g (length d) into dst
// (n x b.Dim(), row-major) and returns dst; nil allocates. g is not
// modified. A panic reports a length mismatch or a range outside [0, d).
func (b Block) Gather(dst, g []float32, n, d int) []float32 {
	checkRows(g, n, d)
	w := b.Dim()
	if dst == nil {
		dst = make([]float32, n*w)
	} else if len(dst) != n*w {
		panic("coupling: length mismatch")
	}
	for _, r := range b.Ranges {
		if r[0] < 0 || r[1] > d || r[0] > r[1] {
			panic("coupling: length mismatch")
		}
	}
	for i := range n {
		o := i * w
		for _, r := range b.Ranges {
			o += copy(dst[o:], g[i*d+r[0]:i*d+r[1]])
		}
	}
	return dst
}

// BlockGrams returns the Gram matrix of each block's columns (DESIGN.md
// §4, the coupling kernel split by parameter group):
//
//	K^b_ij = sum_{l in b} g_i[l] g_j[l],   K = sum_b K^b
//
// when the blocks partition the columns (CheckBlocks). Each K^b is Gram of
// the gathered columns, so it is summed as Gram sums (float32 products over
// blocks of 256 coordinates, block sums in float64, rounded once to
// float32); the sum over blocks of the K^b then agrees with Gram of all
// columns within float32 rounding, |sum_b K^b_ij - K_ij| <= about
// 1e-6 sum_l |g_i[l] g_j[l]| (TestBlockGramsSum), not bit for bit. The
// budget of cfg applies to each n x n result; the gathered columns of one
// block are held at a time. Errors and NaN as Gram.
func BlockGrams(g []float32, n, d int, blocks []Block, cfg GramConfig) ([][]float32, error) {
	checkRows(g, n, d)
	out := make([][]float32, len(blocks))
	var buf []float32
	for b, blk := range blocks {
		w := blk.Dim()
		buf = grow(buf, n*w)
		rows := blk.Gather(buf[:n*w], g, n, d)
		k, err := Gram(nil, rows, n, w, cfg)
		if err != nil {
			return nil, err
		}
		out[b] = k
	}
	return out, nil
}

// MeanAbsOffDiagonal returns the mean |K_ij| over the pairs i < j of the
// rows with keep[i] (nil keeps every row): the inner-product mass of a
// kernel, which BlockGrams splits additively up to the sign of each term,
// so mass_b / sum_b' mass_b' is the share of the coupling that block b
// carries. NaN with fewer than two rows kept, or NaN in K. A panic
// reports a length mismatch.
func MeanAbsOffDiagonal(k []float32, n int, keep []bool) float64 {
	if len(k) != n*n || keep != nil && len(keep) != n {
		panic("coupling: length mismatch")
	}
	var s float64
	pairs := 0
	for i := range n {
		if keep != nil && !keep[i] {
			continue
		}
		for j := i + 1; j < n; j++ {
			if keep != nil && !keep[j] {
				continue
			}
			s += math.Abs(float64(k[i*n+j]))
			pairs++
		}
	}
	if pairs == 0 {
		return math.NaN()
	}
	return s / float64(pairs)
}

// GramGroupMeans is GroupMeans computed from a dense n x n Gram matrix k
// (Gram, BlockGrams) instead of the rows, in O(n^2): the same means of
// C_ij = K_ij / sqrt(K_ii K_jj) and of K_ij within and across groups, with
// the diagonal excluded within a group and rows with K_ii = 0 left out of
// the cosine means. It serves kernels whose rows are not held, such as the
// Gram of one parameter block. k must be a Gram matrix (K_ii >= 0); a
// negative diagonal entry makes the cosine means involving its group NaN.
// A panic reports a length mismatch or a group >= kk.
func GramGroupMeans(k []float32, n int, group []int, kk int) GroupStats {
	if len(k) != n*n || len(group) != n || kk < 0 {
		panic("coupling: length mismatch")
	}
	s := GroupStats{K: kk, Count: make([]int, kk), Nonzero: make([]int, kk),
		Cosine: make([]float64, kk*kk), Inner: make([]float64, kk*kk)}
	sumC := make([]float64, kk*kk)
	sumK := make([]float64, kk*kk)
	for i, a := range group {
		if a < 0 {
			continue
		}
		if a >= kk {
			panic("coupling: group out of range")
		}
		s.Count[a]++
		if k[i*n+i] != 0 {
			s.Nonzero[a]++
		}
	}
	for i, a := range group {
		if a < 0 {
			continue
		}
		kii := float64(k[i*n+i])
		for j, b := range group {
			if b < 0 || j == i {
				continue
			}
			kij := float64(k[i*n+j])
			sumK[a*kk+b] += kij
			kjj := float64(k[j*n+j])
			if kii == 0 || kjj == 0 {
				continue
			}
			sumC[a*kk+b] += kij / math.Sqrt(kii*kjj)
		}
	}
	for a := range kk {
		for b := range kk {
			pc := float64(s.Nonzero[a]) * float64(s.Nonzero[b])
			pk := float64(s.Count[a]) * float64(s.Count[b])
			if a == b {
				pc -= float64(s.Nonzero[a])
				pk -= float64(s.Count[a])
			}
			c, in := math.NaN(), math.NaN()
			if pc > 0 {
				c = math.Max(-1, math.Min(1, sumC[a*kk+b]/pc))
			}
			if pk > 0 {
				in = sumK[a*kk+b] / pk
			}
			s.Cosine[a*kk+b], s.Inner[a*kk+b] = c, in
		}
	}
	return s
}
