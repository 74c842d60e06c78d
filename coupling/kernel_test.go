package coupling

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// withKernel runs f with micro-kernel id selected and restores the
// init-time choice.
func withKernel(id kernelID, f func()) {
	saved := gramChoice
	defer func() { gramChoice = saved }()
	gramChoice = kernelChoice{id: id}
	f()
}

// withGoKernel runs f with the portable kernel.
func withGoKernel(f func()) { withKernel(kernelGo, f) }

// runnableKernels lists the kernels this machine and build run, the
// portable one first.
func runnableKernels() []kernelID {
	var ids []kernelID
	for id := range kernels {
		if kernelSupported(kernelID(id)) {
			ids = append(ids, kernelID(id))
		}
	}
	return ids
}

// kernelCase is one packed problem for a micro-kernel: panels a (k x mr)
// and b (k x nr) and a float64 tile c with leading dimension ldc > nr, so
// that a write past column nr-1 would show.
type kernelCase struct {
	k    int
	a, b []float32
	c    []float64
	ldc  int
}

// kernelCases builds the shared table for a tile mr x nr: k from 1 to past
// gramKC, not multiples of the unroll (4 for AVX2, 2 for AVX-512) included;
// entries from normal draws over 40 binades, small integers and values
// 1 + j 2^-23 that make float32 ties (fma32's slow path) likely; and the
// double-rounding case of TestFMA32 planted at element (0, 0).
func kernelCases(rng *rand.Rand, mr, nr int) []kernelCase {
	var cs []kernelCase
	for _, k := range []int{1, 2, 3, 4, 5, 7, 8, 9, 17, 31, 64, 255, 256, 1 + rng.IntN(300)} {
		a := make([]float32, k*mr)
		b := make([]float32, k*nr)
		for i := range a {
			a[i] = float32(rng.NormFloat64())
			if i%7 == 0 {
				a[i] = float32(rng.IntN(9) - 4)
			}
		}
		for i := range b {
			b[i] = float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(40)-20)))
			if i%5 == 0 {
				b[i] = 1 + float32(rng.IntN(1<<12))/(1<<23)
			}
		}
		if k >= 2 {
			// element (0, 0) is fma(A, B, 1*1), the double-rounding case
			a[0], b[0] = 1, 1
			a[mr], b[nr] = math.Float32frombits(1073097259), math.Float32frombits(855973175)
			for i := 1; i < mr; i++ {
				a[i] = 0
			}
			for j := 1; j < nr; j++ {
				b[nr+j] = 0
			}
			for l := 2; l < k; l++ {
				a[l*mr] = 0
			}
		}
		ldc := nr + 1 + rng.IntN(8)
		c := make([]float64, (mr-1)*ldc+nr+3)
		for i := range c {
			c[i] = rng.NormFloat64()
		}
		cs = append(cs, kernelCase{k, a, b, c, ldc})
	}
	return cs
}

// TestKernelVariants is the shared table every micro-kernel passes: on the
// same packed panels, each kernel the machine runs gives the bits of
// gramKernelGo (tolerance 0: all kernels sum in the order of gramKC blocks
// of fused multiply-adds in float32, so none is looser), leaves c outside
// its tile untouched, and the double-rounding case at element (0, 0) comes
// out as fma32 rounds it.
func TestKernelVariants(t *testing.T) {
	for _, id := range runnableKernels() {
		k := kernels[id]
		t.Run(k.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, uint64(id)))
			for _, kc := range kernelCases(rng, k.mr, k.nr) {
				got := slices.Clone(kc.c)
				want := slices.Clone(kc.c)
				withKernel(id, func() { gramKernel(k.mr, k.nr, kc.k, kc.a, kc.b, got, kc.ldc) })
				gramKernelGo(k.mr, k.nr, kc.k, kc.a, kc.b, want, kc.ldc)
				for i := range got {
					if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
						t.Fatalf("k=%d ldc=%d: element %d (row %d, col %d): %s %v, go %v",
							kc.k, kc.ldc, i, i/kc.ldc, i%kc.ldc, k.name, got[i], want[i])
					}
				}
				if kc.k >= 2 {
					// 1 + A*B with the float32 sum rounded once: 1 + 2^-23
					if d := got[0] - kc.c[0]; float32(d) != 1+0x1p-23 {
						t.Fatalf("k=%d: double-rounding case gives %v, want 1+2^-23", kc.k, d)
					}
				}
			}
		})
	}
}

// TestGramKernelsAgree: Gram, CosineGram, SquaredNorms, GramTiles, TopK
// and Project give the same bits with every kernel the machine runs as
// with the portable one, on random shapes with ragged edges (n not a
// multiple of any tile side, d not a multiple of gramKC, of 16 or of the
// unrolls).
func TestGramKernelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	shapes := [][2]int{{1, 1}, {5, 3}, {75, 600}, {33, 257}, {129, 515}}
	for range 3 {
		shapes = append(shapes, [2]int{1 + rng.IntN(150), 1 + rng.IntN(700)})
	}
	type result struct {
		gram, cos, tiles, proj []float32
		sq                     []float64
		top                    []Pair
	}
	run := func(g []float32, n, d int) result {
		var r result
		cfg := GramConfig{TileRows: 40, Workers: 3}
		r.gram, _ = Gram(nil, g, n, d, cfg)
		r.cos, _ = CosineGram(nil, g, n, d, GramConfig{Workers: 2})
		r.sq = SquaredNorms(nil, g, n, d)
		plan := NewTilePlan(n, 32)
		r.tiles = make([]float32, n*n)
		err := GramTiles(g, n, d, plan.Tiles(), MeasureCosine, GramConfig{TileRows: 32}, func(b TileBlock) error {
			b.Put(r.tiles, n)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		r.top = TopK(g, n, d, TopKConfig{K: 7}, cfg)
		p := Projection{D: d, K: 50, Seed: 9}
		r.proj = p.Project(nil, g, n)
		return r
	}
	for _, s := range shapes {
		n, d := s[0], s[1]
		g := randRows(rng, n, d)
		g0 := slices.Clone(g)
		var want result
		withGoKernel(func() { want = run(g, n, d) })
		for _, id := range runnableKernels()[1:] {
			var got result
			withKernel(id, func() { got = run(g, n, d) })
			name := kernels[id].name
			switch {
			case !slices.Equal(got.gram, want.gram):
				t.Errorf("n=%d d=%d: Gram differs between %s and go", n, d, name)
			case !slices.Equal(got.cos, want.cos):
				t.Errorf("n=%d d=%d: CosineGram differs between %s and go", n, d, name)
			case !slices.Equal(got.sq, want.sq):
				t.Errorf("n=%d d=%d: SquaredNorms differs between %s and go", n, d, name)
			case !slices.Equal(got.tiles, want.cos):
				t.Errorf("n=%d d=%d: GramTiles differs between %s and CosineGram on go", n, d, name)
			case !slices.Equal(got.top, want.top):
				t.Errorf("n=%d d=%d: TopK differs between %s and go", n, d, name)
			case !slices.Equal(got.proj, want.proj):
				t.Errorf("n=%d d=%d: Project differs between %s and go", n, d, name)
			}
		}
		if !slices.Equal(g, g0) {
			t.Fatal("the gradients were modified")
		}
	}
}

// TestSelectKernel: GRADCOUPLE_KERNEL picks any supported kernel; empty
// means the best; an unknown or unsupported value gives the best and a
// note that KernelName shows.
func TestSelectKernel(t *testing.T) {
	all := func(kernelID) bool { return true }
	avx2 := func(id kernelID) bool { return id <= kernelAVX2 }
	goOnly := func(id kernelID) bool { return id == kernelGo }
	for _, c := range []struct {
		req       string
		supported func(kernelID) bool
		want      kernelID
		note      string
	}{
		{"", all, kernelAVX512, ""},
		{"", avx2, kernelAVX2, ""},
		{"", goOnly, kernelGo, ""},
		{"go", all, kernelGo, ""},
		{"avx2", all, kernelAVX2, ""},
		{" AVX512 ", all, kernelAVX512, ""},
		{"avx512", avx2, kernelAVX2, "not supported"},
		{"avx2", goOnly, kernelGo, "not supported"},
		{"neon", all, kernelAVX512, "unknown"},
	} {
		got := selectKernel(c.req, c.supported)
		if got.id != c.want || !strings.Contains(got.note, c.note) || (c.note == "") != (got.note == "") {
			t.Errorf("selectKernel(%q) = %v %q, want %v with a note containing %q", c.req, got.id, got.note, c.want, c.note)
		}
	}
	saved := gramChoice
	defer func() { gramChoice = saved }()
	gramChoice = selectKernel("avx1024", goOnly)
	if got, want := KernelName(), "go-4x16 (GRADCOUPLE_KERNEL=avx1024 is unknown (want avx512, avx2 or go))"; got != want {
		t.Errorf("KernelName() = %q, want %q", got, want)
	}
}
