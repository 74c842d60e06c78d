package coupling

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/gradcouple/gradcouple/internal/kernel"
)

// DefaultMaxBytes is the memory budget of a dense result when
// GramConfig.MaxBytes is 0: 4 GiB, a 32768 x 32768 float32 matrix.
const DefaultMaxBytes = 4 << 30

// GramConfig sets up the Gram computations (Gram, CosineGram, GramTiles,
// TopK). The zero value means the defaults. No setting changes a single
// bit of a result: every element is summed in the fixed order described at
// Gram.
type GramConfig struct {
	// MaxBytes is the memory budget for a dense N x N result (N*N*4 bytes
	// for float32); a larger one is refused with an error matching
	// ErrTooLarge. 0 means DefaultMaxBytes; negative means no limit. It
	// does not cover the scratch space of about 3 MiB per worker.
	MaxBytes int64
	// TileRows is the side of a square tile, the unit of work and of
	// sharding. 0 means 512 for GramTiles (a plan shared by processes must
	// not depend on the machine) and, for Gram, CosineGram and TopK, 512
	// halved while that leaves fewer than 4 tiles per worker (down to 64).
	TileRows int
	// Workers is the number of goroutines; 0 means runtime.GOMAXPROCS(0).
	Workers int
}

func (c GramConfig) tileRows() int {
	if c.TileRows <= 0 {
		return 512
	}
	return c.TileRows
}

// denseTileRows is the tile side of Gram, CosineGram and TopK for n rows:
// TileRows if set, else 512 halved while there are fewer than 4 tiles per
// worker, down to 64. The tile side changes no bit of the results.
func (c GramConfig) denseTileRows(n int) int {
	if c.TileRows > 0 {
		return c.TileRows
	}
	t := 512
	for t > 64 {
		b := (n + t - 1) / t
		if b*(b+1)/2 >= 4*c.workers() {
			break
		}
		t /= 2
	}
	return t
}

func (c GramConfig) workers() int {
	if c.Workers <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return c.Workers
}

// checkBudget refuses a dense n x n matrix of elemSize-byte elements that
// would exceed the budget.
func (c GramConfig) checkBudget(n, elemSize int) error {
	limit := c.MaxBytes
	if limit == 0 {
		limit = DefaultMaxBytes
	}
	need := float64(n) * float64(n) * float64(elemSize)
	if limit < 0 || need <= float64(limit) {
		return nil
	}
	return fmt.Errorf("%w: a dense %d x %d matrix needs %s, the budget is %s; "+
		"use group statistics (mean cosines within and across groups in O(N D)), "+
		"the top-k most coupled pairs, or compute the tiles in shards and merge them",
		ErrTooLarge, n, n, byteSize(need), byteSize(float64(limit)))
}

func byteSize(b float64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%.0f B", b)
	}
	exp := 0
	for b >= unit && exp < 5 {
		b /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", b, "KMGTP"[exp-1])
}

func checkRows(g []float32, n, d int) {
	if n < 0 || d < 0 || len(g) != n*d {
		panic("coupling: length mismatch")
	}
}

// Gram returns the Gram matrix of n per-sample gradients, the coupling
// kernel of DESIGN.md §4:
//
//	K_ij = <g_i, g_j> = sum_l g_i[l] g_j[l]
//
// g holds the rows g_0..g_{n-1} of length d, row-major (len(g) == n*d). The
// result is the dense n x n matrix, row-major, stored in dst (allocated when
// nil, else len(dst) must be n*n). g is not modified.
//
// Precision: the sum runs over consecutive blocks of 256 coordinates; within
// a block the products are accumulated in float32 by fused multiply-adds
// in increasing coordinate order, and the block sums are added in float64;
// the result is rounded once to float32. Against a float64 reference on
// standard normal rows with D = 16384 (TestGramPrecision) the error
// relative to sum_l |g_i[l] g_j[l]| is 2.5e-9 at the median and 1e-7 at the
// maximum (the diagonal, where it is the final rounding to float32; a plain
// float32 running sum gives 1.4e-8 and 4.2e-6), and cosines are within 1e-8.
// The order is fixed, so the bits do
// not depend on GOMAXPROCS, Workers, TileRows or sharding, and K_ij and
// K_ji are the same bits.
//
// Only the tiles on and above the diagonal are computed and mirrored. A
// dense result larger than cfg.MaxBytes returns an error matching
// ErrTooLarge (and a nil matrix). NaN or Inf in a row propagate into its
// row and column. A panic reports a length mismatch.
//
// Built with -tags openblas (gram_openblas.go: cgo and libopenblas), Gram
// and CosineGram make one call of OpenBLAS's ssyrk instead, the routine
// behind NumPy's G @ G.T, and mirror its upper triangle: the products are
// summed in float32 in OpenBLAS's blocking (on the data above 2.8e-9 at
// the median and 3e-7 at the maximum), which agrees with the Go tiles
// within float32 rounding (TestOpenBLASMatchesGo) but not bit for bit. The
// bits then depend on OpenBLAS's kernel (OPENBLAS_CORETYPE) and, for some
// kernels, on its number of threads (OPENBLAS_NUM_THREADS, which replaces
// Workers there); GramTiles, TileBlock.Put, TopK, SquaredNorms and Dot keep
// the Go tiles, so their bit-for-bit statements hold for the default build.
func Gram(dst, g []float32, n, d int, cfg GramConfig) ([]float32, error) {
	return dense(dst, g, n, d, MeasureInner, cfg)
}

// CosineGram returns the cosine similarities of n per-sample gradients
// (DESIGN.md §4):
//
//	C_ij = K_ij / (|g_i| |g_j|),  |g_i|^2 = K_ii
//
// with K summed as in Gram, the division done in float64 and the result
// clamped to [-1, 1] and rounded to float32; C_ii = 1 exactly. A row of zero
// norm has no direction: its row and column of C are 0, its diagonal too.
// Arguments, budget and errors as Gram.
func CosineGram(dst, g []float32, n, d int, cfg GramConfig) ([]float32, error) {
	return dense(dst, g, n, d, MeasureCosine, cfg)
}

// Measure selects what a tile holds: inner products or cosines.
type Measure int

const (
	// MeasureInner is K_ij = <g_i, g_j> (Gram).
	MeasureInner Measure = iota
	// MeasureCosine is C_ij = K_ij / (|g_i| |g_j|) (CosineGram).
	MeasureCosine
)

func dense(dst, g []float32, n, d int, m Measure, cfg GramConfig) ([]float32, error) {
	checkRows(g, n, d)
	if err := cfg.checkBudget(n, 4); err != nil {
		return nil, err
	}
	if dst == nil {
		dst = make([]float32, n*n)
	} else if len(dst) != n*n {
		panic("coupling: length mismatch")
	}
	if blasDense(dst, g, n, d, m, cfg) {
		return dst, nil
	}
	denseGo(dst, g, n, d, m, cfg)
	return dst, nil
}

// denseGo computes the dense matrix of measure m on the Go tiles, the path
// of Gram and CosineGram in the default build, into dst (len n*n).
func denseGo(dst, g []float32, n, d int, m Measure, cfg GramConfig) {
	plan := NewTilePlan(n, cfg.denseTileRows(n))
	var norms []float64
	if m == MeasureCosine {
		norms = SquaredNorms(nil, g, n, d)
	}
	runTiles(g, n, d, plan, plan.Tiles(), cfg.workers(), func(_ int, w *gramWork, t Tile) {
		r0, r1, c0, c1 := plan.Bounds(t)
		w.finish(m, norms, r0, r1, c0, c1)
		diag := t.I == t.J
		cols := c1 - c0
		// the tile, row by row (a diagonal tile from its diagonal on)
		for i := r0; i < r1; i++ {
			j0 := c0
			if diag {
				j0 = i
			}
			copy(dst[i*n+j0:i*n+c1], w.out[(i-r0)*cols+j0-c0:(i-r0+1)*cols])
		}
		// its transpose in 32 x 32 blocks, each destination row written
		// in sequence while the reads down the tile's columns stay in a few
		// cache lines (scattering the writes is several times slower)
		const bs = 32
		for jb := c0; jb < c1; jb += bs {
			for ib := r0; ib < r1; ib += bs {
				for j := jb; j < min(jb+bs, c1); j++ {
					i1 := min(ib+bs, r1)
					if diag {
						i1 = min(i1, j) // strictly below the diagonal
					}
					if i1 <= ib {
						continue
					}
					row := dst[j*n+ib : j*n+i1]
					src := w.out[(ib-r0)*cols+j-c0:]
					for k := range row {
						row[k] = src[k*cols]
					}
				}
			}
		}
	})
}

// SquaredNorms returns |g_i|^2 = K_ii for the n rows of g (row length d),
// summed exactly as Gram sums K_ii (the same bits, in float64; in a build
// with -tags openblas, as the Go tiles sum it), in dst
// (allocated when nil, else len(dst) must be n). g is not modified.
func SquaredNorms(dst []float64, g []float32, n, d int) []float64 {
	checkRows(g, n, d)
	if dst == nil {
		dst = make([]float64, n)
	} else if len(dst) != n {
		panic("coupling: length mismatch")
	}
	mr, nr := kernel.F32Tile()
	kc := min(gramKC, max(d, 1))
	ap := make([]float32, kc*mr)
	bp := make([]float32, kc*nr)
	acc := make([]float64, mr*nr)
	// Rows are taken mr at a time; the kernel computes their mr x nr block
	// against themselves (zero-padded), whose diagonal is the squared norms.
	for r0 := 0; r0 < n; r0 += mr {
		r1 := min(r0+mr, n)
		clear(acc)
		for pc := 0; pc < d; pc += gramKC {
			kb := min(gramKC, d-pc)
			kernel.PackF32(ap, g, d, r0, r1, pc, kb, mr)
			kernel.PackF32(bp, g, d, r0, r1, pc, kb, nr)
			kernel.F32(mr, nr, kb, ap, bp, acc, nr)
		}
		for i := r0; i < r1; i++ {
			dst[i] = acc[(i-r0)*nr+i-r0]
		}
	}
	return dst
}

// cosine returns K_ij / sqrt(K_ii K_jj) clamped to [-1, 1], 0 when either
// norm is zero, NaN when any input is NaN.
func cosine(k, nii, njj float64) float64 {
	if nii == 0 || njj == 0 {
		if math.IsNaN(k) || math.IsNaN(nii) || math.IsNaN(njj) {
			return math.NaN()
		}
		return 0
	}
	c := k / math.Sqrt(nii*njj)
	if c > 1 {
		c = 1
	} else if c < -1 {
		c = -1
	}
	return c
}

// TilePlan cuts the n x n Gram matrix into square tiles of TileRows rows
// and columns (the last ones shorter). Tile{I, J} covers rows
// [I*TileRows, (I+1)*TileRows) and columns [J*TileRows, (J+1)*TileRows);
// only tiles with I <= J are computed, the others are their transposes.
type TilePlan struct {
	N, TileRows int
}

// NewTilePlan returns the plan of n rows in tiles of tileRows (0 means
// 512).
func NewTilePlan(n, tileRows int) TilePlan {
	if tileRows <= 0 {
		tileRows = 512
	}
	return TilePlan{N: n, TileRows: tileRows}
}

// Tile names the tile in block row I and block column J.
type Tile struct{ I, J int }

// Blocks returns the number of block rows, ceil(N / TileRows).
func (p TilePlan) Blocks() int { return (p.N + p.TileRows - 1) / p.TileRows }

// Tiles returns the tiles on and above the diagonal, ordered by I then J.
func (p TilePlan) Tiles() []Tile {
	b := p.Blocks()
	ts := make([]Tile, 0, b*(b+1)/2)
	for i := range b {
		for j := i; j < b; j++ {
			ts = append(ts, Tile{i, j})
		}
	}
	return ts
}

// Shard returns shard i of n (0 <= i < n) of Tiles: the tiles whose
// position k in Tiles has k mod n == i. The shards partition the tiles and
// have nearly equal cost. i outside [0, n) returns an error matching
// ErrParameter.
func (p TilePlan) Shard(i, n int) ([]Tile, error) {
	if n < 1 || i < 0 || i >= n {
		return nil, fmt.Errorf("%w: shard %d/%d (want 0 <= i < n)", ErrParameter, i, n)
	}
	var ts []Tile
	for k, t := range p.Tiles() {
		if k%n == i {
			ts = append(ts, t)
		}
	}
	return ts, nil
}

// Bounds returns the rows [r0, r1) and columns [c0, c1) of tile t.
func (p TilePlan) Bounds(t Tile) (r0, r1, c0, c1 int) {
	r0 = t.I * p.TileRows
	c0 = t.J * p.TileRows
	return r0, min(r0+p.TileRows, p.N), c0, min(c0+p.TileRows, p.N)
}

// TileBlock is one computed tile: Data holds rows [Row, Row+Rows) and
// columns [Col, Col+Cols) of the matrix, row-major. A tile on the diagonal
// holds the full square (both triangles).
type TileBlock struct {
	Tile
	Row, Col, Rows, Cols int
	Data                 []float32
}

// Put writes b and its transpose into the dense n x n matrix dst; putting
// every tile of a plan (from any number of shards, in any order) gives the
// matrix Gram or CosineGram returns, bit for bit (in a build with -tags
// openblas, the matrix of the Go tiles; see Gram). A block outside the
// matrix or with len(Data) != Rows*Cols panics.
func (b TileBlock) Put(dst []float32, n int) {
	if len(dst) != n*n || len(b.Data) != b.Rows*b.Cols || b.Row < 0 || b.Col < 0 ||
		b.Row+b.Rows > n || b.Col+b.Cols > n {
		panic("coupling: length mismatch")
	}
	for i := range b.Rows {
		row := b.Data[i*b.Cols : (i+1)*b.Cols]
		copy(dst[(b.Row+i)*n+b.Col:], row)
		for j, v := range row {
			dst[(b.Col+j)*n+b.Row+i] = v
		}
	}
}

// GramTiles computes the given tiles of the Gram (MeasureInner) or cosine
// (MeasureCosine) matrix of g and passes each to fn, one call at a time, in
// the order of tiles; it stops at the first error fn returns and returns it.
// The values are those of Gram or CosineGram bit for bit (with -tags
// openblas, those of the Go tiles; see Gram), so a shard i/n
// (TilePlan.Shard) can be computed by one process and the blocks of all
// shards put together (TileBlock.Put) elsewhere. Tiles must come from the
// plan NewTilePlan(n, cfg.TileRows); fn must not keep Data after it
// returns (copy it). No dense matrix is built, so MaxBytes does not apply;
// at most about 2*Workers tiles are held at once.
func GramTiles(g []float32, n, d int, tiles []Tile, m Measure, cfg GramConfig, fn func(TileBlock) error) error {
	checkRows(g, n, d)
	plan := NewTilePlan(n, cfg.tileRows())
	b := plan.Blocks()
	for _, t := range tiles {
		if t.I < 0 || t.J < t.I || t.J >= b {
			return fmt.Errorf("%w: tile %v is not in the upper triangle of a %d x %d tiling", ErrParameter, t, b, b)
		}
	}
	var norms []float64
	if m == MeasureCosine {
		norms = squaredNormsOf(g, n, d, plan, tiles)
	}
	workers := max(1, min(cfg.workers(), len(tiles)))
	window := 2 * workers
	var (
		mu      sync.Mutex
		cond    = sync.NewCond(&mu)
		ready   = make(map[int]TileBlock)
		next    int // next tile to pass to fn
		claimed int // next tile to compute
		failed  error
		pool    = sync.Pool{New: func() any { return new(gramWork) }}
	)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := pool.Get().(*gramWork)
			defer pool.Put(w)
			for {
				mu.Lock()
				for failed == nil && claimed < len(tiles) && claimed >= next+window {
					cond.Wait()
				}
				if failed != nil || claimed >= len(tiles) {
					mu.Unlock()
					return
				}
				k := claimed
				claimed++
				mu.Unlock()

				t := tiles[k]
				r0, r1, c0, c1 := plan.Bounds(t)
				w.compute(g, d, r0, r1, c0, c1, t.I == t.J)
				w.finish(m, norms, r0, r1, c0, c1)
				blk := TileBlock{Tile: t, Row: r0, Col: c0, Rows: r1 - r0, Cols: c1 - c0,
					Data: append([]float32(nil), w.out[:(r1-r0)*(c1-c0)]...)}
				if t.I == t.J {
					// complete the lower triangle of a diagonal tile from the upper
					for i := 0; i < blk.Rows; i++ {
						for j := 0; j < i; j++ {
							blk.Data[i*blk.Cols+j] = blk.Data[j*blk.Cols+i]
						}
					}
				}

				mu.Lock()
				ready[k] = blk
				for failed == nil {
					b, ok := ready[next]
					if !ok {
						break
					}
					delete(ready, next)
					if err := fn(b); err != nil {
						failed = err
					}
					next++
				}
				cond.Broadcast()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failed
}

// squaredNormsOf returns the squared norms (SquaredNorms) of the rows that
// the tiles touch; the other entries are 0.
func squaredNormsOf(g []float32, n, d int, plan TilePlan, tiles []Tile) []float64 {
	norms := make([]float64, n)
	need := make([]bool, plan.Blocks())
	for _, t := range tiles {
		need[t.I], need[t.J] = true, true
	}
	for b, ok := range need {
		if !ok {
			continue
		}
		r0 := b * plan.TileRows
		r1 := min(r0+plan.TileRows, n)
		SquaredNorms(norms[r0:r1], g[r0*d:r1*d], r1-r0, d)
	}
	return norms
}

// gramWork is the scratch space of one worker.
type gramWork struct {
	ap, bp []float32 // packed panels of the row block and the column block
	acc    []float64 // the tile's sums, mr-padded rows of ldc columns
	ldc    int
	out    []float32 // the finished tile, (r1-r0) x (c1-c0)
}

// compute sets w.acc to the inner products of rows [r0, r1) with rows
// [c0, c1). On a diagonal tile (diag) only the micro-tiles that meet the
// upper triangle are computed.
func (w *gramWork) compute(g []float32, d, r0, r1, c0, c1 int, diag bool) {
	mr, nr := kernel.F32Tile()
	rows := (r1 - r0 + mr - 1) / mr * mr
	cols := (c1 - c0 + nr - 1) / nr * nr
	w.ldc = cols
	w.acc = grow(w.acc, rows*cols)
	clear(w.acc)
	kc := min(gramKC, max(d, 1))
	w.ap = grow(w.ap, rows*kc)
	w.bp = grow(w.bp, cols*kc)
	for pc := 0; pc < d; pc += gramKC {
		kb := min(gramKC, d-pc)
		kernel.PackF32(w.ap, g, d, r0, r1, pc, kb, mr)
		kernel.PackF32(w.bp, g, d, c0, c1, pc, kb, nr)
		for jr := 0; jr < cols; jr += nr {
			bpanel := w.bp[jr*kb : (jr+nr)*kb]
			for ir := 0; ir < rows; ir += mr {
				if diag && ir >= jr+nr {
					break // the micro-tile lies below the diagonal
				}
				kernel.F32(mr, nr, kb, w.ap[ir*kb:(ir+mr)*kb], bpanel, w.acc[ir*cols+jr:], cols)
			}
		}
	}
}

// finish converts w.acc to the measure m in w.out, (r1-r0) x (c1-c0).
func (w *gramWork) finish(m Measure, norms []float64, r0, r1, c0, c1 int) {
	cols := c1 - c0
	w.out = grow(w.out, (r1-r0)*cols)
	for i := r0; i < r1; i++ {
		a := w.acc[(i-r0)*w.ldc : (i-r0)*w.ldc+cols]
		o := w.out[(i-r0)*cols : (i-r0+1)*cols]
		if m == MeasureInner {
			for j, v := range a {
				o[j] = float32(v)
			}
			continue
		}
		for j, v := range a {
			if i == c0+j && norms[i] != 0 && !math.IsNaN(v) {
				o[j] = 1
				continue
			}
			o[j] = float32(cosine(v, norms[i], norms[c0+j]))
		}
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// runTiles computes tiles on workers goroutines and calls f for each on
// the goroutine that computed it, with the worker's index in [0, workers)
// (f must write disjoint memory or the worker's own state).
func runTiles(g []float32, n, d int, plan TilePlan, tiles []Tile, workers int, f func(worker int, w *gramWork, t Tile)) {
	workers = max(1, min(workers, len(tiles)))
	var next atomic.Int64
	var wg sync.WaitGroup
	for worker := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := new(gramWork)
			for {
				k := int(next.Add(1)) - 1
				if k >= len(tiles) {
					return
				}
				t := tiles[k]
				r0, r1, c0, c1 := plan.Bounds(t)
				w.compute(g, d, r0, r1, c0, c1, t.I == t.J)
				f(worker, w, t)
			}
		}()
	}
	wg.Wait()
}
