package analysis

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/checkpoint"
)

var update = flag.Bool("update", false, "rewrite the generated Gram shard fixtures in testdata/malformed")

// nanShardFixtures are the committed Gram shards of testdata/malformed with a
// non-finite value, each a complete matrix (shard 0 of 1) of 5 samples, 3
// columns and tiles of 2 rows, and the substring its merge error must hold.
var nanShardFixtures = map[string]string{
	"gram-shard-nan-tile.safetensors":      `tensor "tile.000001.000002": row 3, column 4 (0-based): NaN`,
	"gram-shard-inf-advantage.safetensors": `tensor "advantages": row 2, column 0 (0-based): +Inf`,
}

// nanShard writes a valid shard of a 5 x 3 matrix to dir, then sets element
// [3, 4] of the Gram (in tile (1, 2)) to NaN, or advantage 2 to +Inf.
func nanShard(t *testing.T, dir, name string) []byte {
	t.Helper()
	g := []float32{1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0, 1, -1, 0, 0}
	meta := sampleMeta{labels: []int8{1, 0, 1, 0, -1}, adv: []float64{1, -1, 0.5, -1, 0}, states: []int{0, 1, 2, 3, 4}}
	opts := CouplingOptions{Shard: &ShardOptions{Index: 0, Count: 1, Dir: dir, TileRows: 2}}
	path, err := writeShard(g, 5, 3, meta, shardSource{Run: "nan", Store: "g.npy"}, opts, "sgd")
	if err != nil {
		t.Fatal(err)
	}
	ts, md, err := checkpoint.ReadSafetensorsFile(path, checkpoint.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range ts {
		switch {
		case strings.Contains(name, "tile") && ts[i].Name == "tile.000001.000002":
			// Rows 2-3, column 4: element [1, 0] of the 2 x 1 tile.
			binary.LittleEndian.PutUint32(ts[i].Data[4*1:], math.Float32bits(float32(math.NaN())))
		case strings.Contains(name, "advantage") && ts[i].Name == "advantages":
			binary.LittleEndian.PutUint64(ts[i].Data[8*2:], math.Float64bits(math.Inf(1)))
		}
	}
	var b bytes.Buffer
	if err := checkpoint.WriteSafetensors(&b, ts, md); err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	return b.Bytes()
}

// TestMergeNonFinite: a NaN or an infinity in a Gram shard is refused by
// MergeShards with a *checkpoint.NonFiniteError naming the file, the tensor,
// the row and the column, instead of becoming a null statistic or a pair
// counted as not harmful. The fixtures are rewritten with -update.
func TestMergeNonFinite(t *testing.T) {
	dir := filepath.Join("..", "testdata", "malformed")
	for name, want := range nanShardFixtures {
		b := nanShard(t, t.TempDir(), name)
		path := filepath.Join(dir, name)
		if *update {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if old, err := os.ReadFile(path); err != nil || !bytes.Equal(old, b) {
			t.Fatalf("%s differs from the generator (run go test -update ./analysis/ -run MergeNonFinite): %v", name, err)
		}
		_, err := MergeShards([]string{path}, MergeOptions{})
		var nf *checkpoint.NonFiniteError
		if !errors.As(err, &nf) || !errors.Is(err, checkpoint.ErrValue) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want a *checkpoint.NonFiniteError containing %q", name, err, want)
		}
	}
	// The unedited shard merges.
	g := []float32{1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0, 1, -1, 0, 0}
	meta := sampleMeta{labels: []int8{1, 0, 1, 0, -1}, adv: []float64{1, -1, 0.5, -1, 0}, states: []int{0, 1, 2, 3, 4}}
	path, err := writeShard(g, 5, 3, meta, shardSource{Run: "nan", Store: "g.npy"}, CouplingOptions{Shard: &ShardOptions{Index: 0, Count: 1, Dir: t.TempDir(), TileRows: 2}}, "sgd")
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := MergeShards([]string{path}, MergeOptions{}); err != nil || rep.Rows[0].Pairs == 0 || math.IsNaN(rep.Rows[0].HarmfulRate) {
		t.Fatalf("finite shard: %v %+v", err, rep)
	}
}
