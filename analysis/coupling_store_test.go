package analysis

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/coupling"
	"github.com/gradcouple/gradcouple/policy"
)

// TestShardedEqualsUnsharded computes the Gram of a checkpoint's probe
// gradients in three shards with tiles of 16 rows, merges them, and checks
// that the merged Gram is the unsharded one and that the statistics agree:
// bit for bit in the default build, within gramTol (float32 rounding) when
// the unsharded Gram comes from OpenBLAS (build tag openblas).
func TestShardedEqualsUnsharded(t *testing.T) {
	r := openTinyRun(t, "tiny", 7)
	ps, _, err := SelectProbes(context.Background(), []Run{r}, ProbeOptions{Samples: 50, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	full, err := Coupling(context.Background(), []Run{r}, ps, CouplingOptions{Checkpoints: []int{1}, LogProb: LogProbFull})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var files []string
	for i := range 3 {
		rep, err := Coupling(context.Background(), []Run{r}, ps, CouplingOptions{Checkpoints: []int{1}, LogProb: LogProbFull, Shard: &ShardOptions{Index: i, Count: 3, Dir: dir, TileRows: 16}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Rows) != 0 || len(rep.Shards) != 1 {
			t.Fatalf("shard %d: %d rows, shards %v", i, len(rep.Rows), rep.Shards)
		}
		files = append(files, rep.Shards...)
	}
	gramDir := t.TempDir()
	slices.Reverse(files) // any order
	mr, err := MergeShards(files, MergeOptions{GramDir: gramDir})
	if err != nil {
		t.Fatal(err)
	}
	if len(mr.Rows) != 1 || len(mr.Grams) != 1 || mr.Files[0] != 3 {
		t.Fatalf("merge: %+v", mr)
	}
	a, b := mr.Rows[0], full.Rows[0]
	for _, c := range []struct {
		name string
		x, y float64
	}{{"cos_good", a.CosGood, b.CosGood}, {"cos_bad", a.CosBad, b.CosBad}, {"cos_good_bad", a.CosGoodBad, b.CosGoodBad},
		{"harmful_rate", a.HarmfulRate, b.HarmfulRate}, {"harmful_mass", a.HarmfulMass, b.HarmfulMass}, {"net", a.NetDelta, b.NetDelta}} {
		if !withinGramTol(c.x, c.y, math.Max(math.Abs(c.x), math.Abs(c.y))) {
			t.Errorf("%s: merged %v, unsharded %v (tolerance %g)", c.name, c.x, c.y, gramTol)
		}
	}
	if a.Pairs != b.Pairs || a.Pairs == 0 || a.N != b.N || a.Dim != b.Dim || a.Run != "tiny" || a.Iteration != 1 {
		t.Errorf("merged %+v, unsharded %+v", a, b)
	}
	// The merged matrix is the Gram of the rows (bit for bit when gramTol
	// is 0).
	m, tok, _ := policy.Load(r.CheckpointDir(1))
	seqs, _ := encodeProbes(ps, m, tok)
	n, d := len(seqs), m.NumParams()
	g := m.PerSampleGrads32(nil, policy.ActionTerms(seqs), policy.Selection{})
	want, _ := coupling.Gram(nil, g, n, d, coupling.GramConfig{})
	f, err := checkpoint.OpenFile(mr.Grams[0], checkpoint.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := f.Float32("gram")
	f.Close()
	if err != nil || len(got) != len(want) {
		t.Fatalf("merged Gram: %d values, unsharded %d (%v)", len(got), len(want), err)
	}
	for i := range n {
		for j := range n {
			var abs float64 // sum_l |g_i[l] g_j[l]|, the scale of K_ij's rounding
			if gramTol != 0 {
				for l := range d {
					abs += math.Abs(float64(g[i*d+l]) * float64(g[j*d+l]))
				}
			}
			if x, y := float64(got[i*n+j]), float64(want[i*n+j]); !withinGramTol(x, y, abs) {
				t.Fatalf("merged Gram [%d,%d] = %v, unsharded %v (tolerance %g of %v)", i, j, x, y, gramTol, abs)
			}
		}
	}
	// A missing shard is refused, naming every missing one; with Partial
	// the complete matrices are merged and the missing shards listed.
	_, err = MergeShards(files[1:], MergeOptions{})
	if err == nil || !strings.Contains(err.Error(), "missing shards") || !strings.Contains(err.Error(), "tiny iteration 1: shards 2 of 3") {
		t.Errorf("missing shard: %v", err)
	}
	pr, err := MergeShards(files[1:], MergeOptions{Partial: true})
	if err != nil || len(pr.Rows) != 0 || len(pr.Missing) != 1 || pr.Missing[0] != (MissingShard{Run: "tiny", Iteration: 1, Shard: 2, Shards: 3}) {
		t.Errorf("partial merge: %+v, %v", pr, err)
	}
	// A task run again keeps its finished shard file (same name, same
	// probes): nothing is computed, the file is unchanged.
	before, _ := os.Stat(files[0])
	again, err := Coupling(context.Background(), []Run{r}, ps, CouplingOptions{Checkpoints: []int{1}, LogProb: LogProbFull, Shard: &ShardOptions{Index: 2, Count: 3, Dir: dir, TileRows: 16}})
	if err != nil || again.Kept != 1 || len(again.Shards) != 1 || again.Shards[0] != files[0] {
		t.Errorf("re-run shard: %+v, %v", again, err)
	}
	if after, _ := os.Stat(files[0]); !after.ModTime().Equal(before.ModTime()) {
		t.Error("a finished shard file was written again")
	}
	if _, err := MergeShards(append(files, files[0]), MergeOptions{}); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("repeated shard: %v", err)
	}
	if _, err := MergeShards(files, MergeOptions{MaxBytes: 100}); !errors.Is(err, coupling.ErrTooLarge) {
		t.Errorf("budget: %v", err)
	}
	if _, err := MergeShards([]string{mr.Grams[0]}, MergeOptions{}); err == nil || !strings.Contains(err.Error(), "not a Gram shard") {
		t.Errorf("not a shard: %v", err)
	}
}

// withinGramTol reports whether x and y agree within gramTol of scale:
// x == y when gramTol is 0.
func withinGramTol(x, y, scale float64) bool {
	return x == y || math.Abs(x-y) <= gramTol*scale
}

// TestExportAndImport exports a checkpoint's probe gradients in every store
// format and reads them back with CouplingStore: the statistics equal those
// of the run analysis (F32), and are close for F16.
func TestExportAndImport(t *testing.T) {
	r := openTinyRun(t, "tiny", 8)
	ps, _, err := SelectProbes(context.Background(), []Run{r}, ProbeOptions{Samples: 30, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		format string
		dt     checkpoint.DType
	}{{checkpoint.FormatNPY, checkpoint.F32}, {checkpoint.FormatBergson, checkpoint.F32}, {checkpoint.FormatSafetensors, checkpoint.F32}, {checkpoint.FormatNPY, checkpoint.F16}, {checkpoint.FormatBergson, checkpoint.F16}} {
		dir := t.TempDir()
		rep, err := Coupling(context.Background(), []Run{r}, ps, CouplingOptions{Checkpoints: []int{1}, Export: &ExportOptions{Dir: dir, Format: c.format, DType: c.dt}})
		if err != nil {
			t.Fatal(err)
		}
		store := rep.Exports[0]
		samples := storeSamplesPath(store, c.format)
		if _, err := os.Stat(samples); err != nil {
			t.Fatalf("%s: %v (exports %v)", c.format, err, rep.Exports)
		}
		sr, info, err := CouplingStore(context.Background(), store, samples, StoreOptions{})
		if err != nil {
			t.Fatalf("%s %s: %v", c.format, c.dt, err)
		}
		if info.Format != c.format || info.DType != c.dt || info.Rows != 30 || info.Good+info.Bad != 30 || !info.Prompts {
			t.Errorf("%s: %+v", c.format, info)
		}
		if c.format != checkpoint.FormatNPY && info.Modules != len(policy.Config{}.Tensors()) && info.Modules == 0 {
			t.Errorf("%s: no modules", c.format)
		}
		a, b := sr.Rows[0], rep.Rows[0]
		tol := 0.0
		if c.dt == checkpoint.F16 {
			tol = 1e-3
		}
		if math.Abs(a.CosGoodBad-b.CosGoodBad) > tol || math.Abs(a.HarmfulRate-b.HarmfulRate) > 10*tol || a.Pairs != b.Pairs {
			t.Errorf("%s %s: store %+v\nrun %+v", c.format, c.dt, a, b)
		}
		if len(sr.BySim) != len(DefaultSimEdges)-1 {
			t.Errorf("%s: %d similarity bins", c.format, len(sr.BySim))
		}
	}
}

func TestStoreSamplesTable(t *testing.T) {
	dir := t.TempDir()
	g := []float32{1, 0, 0, 1, 1, 0, 0.9, 0.1, -1, 0}
	hdr, _ := checkpoint.NPYHeaderBytes(checkpoint.F32, []int{5, 2})
	store := filepath.Join(dir, "g.npy")
	os.WriteFile(store, checkpoint.AppendFloats(hdr, g, checkpoint.F32), 0o644)
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	csv := write("s.csv", "label,advantage,state_key\n1,1,a\n0,-1,b\n1,0.5,c\n0,-1,c\n-1,0,d\n")
	rep, info, err := CouplingStore(context.Background(), store, csv, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Good != 2 || info.Bad != 2 || info.Unknown != 1 || info.Prompts {
		t.Errorf("info %+v", info)
	}
	// Good rows 0 and 2 (A > 0), bad rows 1 and 3, row 4 unknown; rows 2
	// and 3 share state c. Eligible ordered pairs (i good, j bad, other
	// state): (0,1), (0,3), (2,1) with K = 0, 0.9, 0: one harmful of three.
	row := rep.Rows[0]
	if row.Pairs != 3 {
		t.Errorf("pairs %d", row.Pairs)
	}
	if math.Abs(row.HarmfulRate-1.0/3) > 1e-12 || math.Abs(row.HarmfulMass-DefaultEta*0.9/3) > 1e-9 {
		t.Errorf("harmful rate %v", row.HarmfulRate)
	}
	jsonl := write("s.jsonl", `{"row": 4, "label": "bad", "advantage": 0}
{"row": 0, "label": "good", "advantage": 1, "prompt": "go to cabinet 1"}
`)
	if rep, info, err = CouplingStore(context.Background(), store, jsonl, StoreOptions{}); err != nil || info.Samples != 2 || rep.Rows[0].Pairs != 1 || rep.Rows[0].HarmfulRate != 0 {
		t.Errorf("subset by row: %v %+v", err, info)
	}
	for _, c := range []struct{ name, body, want string }{
		{"s1.csv", "label\n1\n0\n", "2 rows for a store of 5"},
		{"s2.csv", "advantage\n1\n0\n1\n1\n1\n", "missing column"},
		{"s3.csv", "label\n1\n2\n1\n1\n1\n", "row 2: column label: label 2"},
		{"s4.jsonl", `{"row": 9, "label": 1}` + "\n" + `{"row": 0, "label": 0}`, "not a row of the store"},
		{"s5.jsonl", `{"row": 1, "label": 1}` + "\n" + `{"row": 1, "label": 0}`, "also sample 1"},
		{"s6.csv", "label,advantage\n1,x\n0,1\n1,1\n1,1\n1,1\n", "\"x\" is not a number"},
		{"s7.txt", "label\n", "unknown table format"},
		{"s8.jsonl", "{\"label\": 1}\n[1, 2]\n", "malformed JSON"},
		{"s9.parquet", "PAR1 not really", "parquet"},
	} {
		_, _, err := CouplingStore(context.Background(), store, write(c.name, c.body), StoreOptions{})
		var te *TableError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestWriteGradsAs(t *testing.T) {
	r := openTinyRun(t, "tiny", 9)
	m, tok, err := policy.Load(r.CheckpointDir(0))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref.safetensors")
	if _, err := WriteGrads(context.Background(), m, tok, []string{r.Logs()}, ref, GradsOptions{ModelOptions: ModelOptions{Limit: 20}}); err != nil {
		t.Fatal(err)
	}
	want, err := checkpoint.OpenGradStore(ref, checkpoint.GradStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wrows := make([]float32, want.Rows()*want.Cols())
	want.ReadRows(wrows, 0, want.Rows())
	want.Close()
	for _, c := range []struct{ format, out string }{{checkpoint.FormatNPY, "g.npy"}, {checkpoint.FormatBergson, "g-bergson"}} {
		out := filepath.Join(dir, c.out)
		rep, err := WriteGradsAs(context.Background(), m, tok, []string{r.Logs()}, out, c.format, checkpoint.F32, GradsOptions{ModelOptions: ModelOptions{Limit: 20}})
		if err != nil {
			t.Fatal(err)
		}
		s, err := checkpoint.OpenGradStore(out, checkpoint.GradStoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, s.Rows()*s.Cols())
		s.ReadRows(got, 0, s.Rows())
		if !slices.Equal(got, wrows) || rep.N != 20 {
			t.Errorf("%s: rows differ from the safetensors store", c.format)
		}
		if c.format == checkpoint.FormatBergson && len(s.Modules()) != len(m.Tensors()) {
			t.Errorf("bergson modules %d", len(s.Modules()))
		}
		s.Close()
		if _, err := os.Stat(rep.SamplesPath); err != nil {
			t.Error(err)
		}
	}
}

// TestShardedEqualsUnshardedAdam: under the Adam kernel the shards record
// the kernel and the effective step (eta times Adam's gain c), so the
// merged table equals the unsharded one, harmful mass included.
func TestShardedEqualsUnshardedAdam(t *testing.T) {
	r := openTinyRun(t, "tiny", 7)
	ps, _, err := SelectProbes(context.Background(), []Run{r}, ProbeOptions{Samples: 40, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	withAdamState(t, r, 1, ps)
	opts := CouplingOptions{Checkpoints: []int{1}, Kernel: "adam", LogProb: LogProbFull, Strata: StrataOptions{Null: -1, Boot: -1}}
	full, err := Coupling(context.Background(), []Run{r}, ps, opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var files []string
	for i := range 2 {
		o := opts
		o.Shard = &ShardOptions{Index: i, Count: 2, Dir: dir, TileRows: 16}
		rep, err := Coupling(context.Background(), []Run{r}, ps, o)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, rep.Shards...)
	}
	mr, err := MergeShards(files, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := mr.Rows[0], full.Rows[0]
	if a.Kernel != "adam" || b.Kernel != "adam" {
		t.Errorf("kernels: merged %q, unsharded %q", a.Kernel, b.Kernel)
	}
	for _, c := range []struct {
		name string
		x, y float64
	}{{"cos_good_bad", a.CosGoodBad, b.CosGoodBad}, {"harmful_rate", a.HarmfulRate, b.HarmfulRate},
		{"harmful_mass", a.HarmfulMass, b.HarmfulMass}, {"net", a.NetDelta, b.NetDelta}} {
		if !withinGramTol(c.x, c.y, math.Max(math.Abs(c.x), math.Abs(c.y))) || c.y == 0 {
			t.Errorf("%s: merged %v, unsharded %v", c.name, c.x, c.y)
		}
	}
}
