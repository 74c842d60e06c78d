package coupling

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBlockGramsSum checks K = sum_b K^b for blocks that partition the
// columns (non-contiguous ranges, a block of fewer than 256 columns and
// one of more), against a float64 reference: the error relative to
// sum_l |g_i[l] g_j[l]| is at most 1e-6 (float32 rounding of each K^b and
// of the reference Gram).
func TestBlockGramsSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	n, d := 17, 1000
	g := randRows(rng, n, d)
	blocks := []Block{
		{Name: "a", Ranges: [][2]int{{0, 100}, {900, 1000}}},
		{Name: "b", Ranges: [][2]int{{100, 613}}},
		{Name: "c", Ranges: [][2]int{{613, 620}}},
		{Name: "d", Ranges: [][2]int{{620, 900}}},
	}
	if err := CheckBlocks(blocks, d); err != nil {
		t.Fatal(err)
	}
	orig := slices.Clone(g)
	ks, err := BlockGrams(g, n, d, blocks, GramConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g, orig) {
		t.Fatal("BlockGrams modified the gradients")
	}
	full, err := Gram(nil, g, n, d, GramConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		for j := range n {
			var ref, abs float64
			for l := range d {
				p := float64(g[i*d+l]) * float64(g[j*d+l])
				ref += p
				abs += math.Abs(p)
			}
			var sum float64
			for _, k := range ks {
				sum += float64(k[i*n+j])
			}
			if e := math.Abs(sum-ref) / abs; e > 1e-6 {
				t.Fatalf("(%d, %d): sum of block Grams %v, float64 reference %v (relative error %g)", i, j, sum, ref, e)
			}
			if e := math.Abs(sum-float64(full[i*n+j])) / abs; e > 1e-6 {
				t.Fatalf("(%d, %d): sum of block Grams %v, Gram %v (relative error %g)", i, j, sum, full[i*n+j], e)
			}
		}
	}
	// one block's Gram is the Gram of its columns alone
	sub := blocks[0].Gather(nil, g, n, d)
	ka, _ := Gram(nil, sub, n, blocks[0].Dim(), GramConfig{})
	if !slices.Equal(ka, ks[0]) {
		t.Error("block Gram differs from Gram of the gathered columns")
	}
}

func TestCheckBlocks(t *testing.T) {
	for _, c := range []struct {
		name   string
		blocks []Block
		ok     bool
	}{
		{"partition", []Block{{"x", [][2]int{{0, 3}}}, {"y", [][2]int{{3, 10}}}}, true},
		{"gap", []Block{{"x", [][2]int{{0, 3}}}, {"y", [][2]int{{4, 10}}}}, false},
		{"overlap", []Block{{"x", [][2]int{{0, 5}}}, {"y", [][2]int{{4, 10}}}}, false},
		{"short", []Block{{"x", [][2]int{{0, 9}}}}, false},
		{"outside", []Block{{"x", [][2]int{{0, 11}}}}, false},
		{"empty range", []Block{{"x", [][2]int{{0, 10}, {10, 10}}}}, false},
	} {
		err := CheckBlocks(c.blocks, 10)
		if (err == nil) != c.ok || err != nil && !errors.Is(err, ErrParameter) {
			t.Errorf("%s: CheckBlocks = %v, want ok %v", c.name, err, c.ok)
		}
	}
}

func TestMeanAbsOffDiagonal(t *testing.T) {
	k := []float32{
		9, -1, 2,
		-1, 9, 3,
		2, 3, 9,
	}
	if got := MeanAbsOffDiagonal(k, 3, nil); got != 2 {
		t.Errorf("all rows: %v, want (1+2+3)/3 = 2", got)
	}
	if got := MeanAbsOffDiagonal(k, 3, []bool{true, false, true}); got != 2 {
		t.Errorf("rows 0, 2: %v, want 2", got)
	}
	if got := MeanAbsOffDiagonal(k, 3, []bool{true, false, false}); !math.IsNaN(got) {
		t.Errorf("one row: %v, want NaN", got)
	}
}

// TestGramGroupMeans checks the means from a Gram against GroupMeans from
// the rows (1e-6: float32 rounding of the Gram), with a zero row and an
// excluded row.
func TestGramGroupMeans(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	n, d := 12, 300
	g := randRows(rng, n, d)
	clear(g[3*d : 4*d])
	group := []int{0, 1, 0, 1, 0, 1, 0, 1, -1, 0, 1, 1}
	k, err := Gram(nil, g, n, d, GramConfig{})
	if err != nil {
		t.Fatal(err)
	}
	want := GroupMeans(g, n, d, group, 2)
	got := GramGroupMeans(k, n, group, 2)
	if !slices.Equal(got.Count, want.Count) || !slices.Equal(got.Nonzero, want.Nonzero) {
		t.Fatalf("counts %v %v, want %v %v", got.Count, got.Nonzero, want.Count, want.Nonzero)
	}
	for i := range want.Cosine {
		if math.Abs(got.Cosine[i]-want.Cosine[i]) > 1e-6 {
			t.Errorf("cosine %d: %v, want %v", i, got.Cosine[i], want.Cosine[i])
		}
		if math.Abs(got.Inner[i]-want.Inner[i]) > 1e-6*math.Abs(want.Inner[i])+1e-4 {
			t.Errorf("inner %d: %v, want %v", i, got.Inner[i], want.Inner[i])
		}
	}
}
