package analysis

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/coupling"
	"github.com/gradcouple/gradcouple/internal/atomicfile"
)

// Sharded Gram matrices (DESIGN.md §7): `coupling --shard i/n` computes the
// tiles of shard i of the coupling.TilePlan of the Gram K_ij = <g_i, g_j>
// and writes them, with what the statistics need about the rows, to a
// safetensors file; MergeShards puts the tiles of every shard back into the
// dense matrix (bit for bit the unsharded Gram) and computes the Gram-based
// statistics. One process per shard runs as a Slurm array or a Kubernetes
// indexed Job.
//
// A shard file holds the F32 tensors "tile.IIIIII.JJJJJJ" (rows and
// columns of tile (I, J) of the plan), "labels" I8 [N], "advantages" F64
// [N], "states" I64 [N] and "sqnorms" F64 [N] (|g_i|^2 summed as Gram sums
// K_ii), and in its metadata the plan (n, tile_rows, shard, shards), the
// source (run, iteration, checkpoint or store), dim, eta, the projection
// and the group means computed from the rows (coupling.GroupMeans, JSON).

// ShardOptions select one shard of the Gram tiles.
type ShardOptions struct {
	Index, Count int
	// Dir receives the shard files (created if missing).
	Dir string
	// TileRows is the tile side; 0 means 512. Every shard of one matrix
	// must use the same value.
	TileRows int
}

// shardSource says what a Gram was computed from.
type shardSource struct {
	Run        string `json:"run"`
	Dir        string `json:"dir,omitempty"`
	Iteration  int    `json:"iteration"`
	Checkpoint string `json:"checkpoint,omitempty"`
	Store      string `json:"store,omitempty"`
}

// Metadata keys of a shard file.
const (
	shardFormatKey = "gradcouple.gram_shard"
	shardFormat    = "1"
)

// shardMeta is the metadata of a shard file (JSON under "shard").
type shardMeta struct {
	Source   shardSource `json:"source"`
	N        int         `json:"n"`
	Dim      int         `json:"dim"`
	TileRows int         `json:"tile_rows"`
	Shard    int         `json:"shard"`
	Shards   int         `json:"shards"`
	// Eta is the effective step of Delta_ij = Eta A_i K_ij: the step size
	// times the kernel's gain (Adam's c; 1 for sgd and diag).
	Eta float64 `json:"eta"`
	// Kernel is the kernel of the Gram (sgd, adam, diag; "" in files
	// written before kernels: sgd).
	Kernel      string              `json:"kernel,omitempty"`
	Project     int                 `json:"project"`
	ProjectSeed uint64              `json:"project_seed"`
	Groups      coupling.GroupStats `json:"-"`
	GroupsJSON  json.RawMessage     `json:"groups"`
}

// shardName is the file name of a shard of a source.
func shardName(src shardSource, shard, shards int) string {
	base := src.Run
	if base == "" {
		base = "store"
	}
	base = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ' ' || r == ':' {
			return '_'
		}
		return r
	}, base)
	return fmt.Sprintf("%s-iter-%06d.shard-%03d-of-%03d.safetensors", base, src.Iteration, shard, shards)
}

// shardComplete reports whether path holds a finished shard file of
// shard index of count over samples with these labels and advantages:
// written (atomically, so present means complete) with readable shard
// metadata naming that shard. A file of another probe set under the same
// name is not complete: it is computed again.
func shardComplete(path string, index, count int, labels []int8, adv []float64) bool {
	f, err := checkpoint.OpenFile(path, checkpoint.ReadOptions{})
	if err != nil {
		return false
	}
	defer f.Close()
	md := f.Metadata()
	var sm shardMeta
	if md[shardFormatKey] != shardFormat || json.Unmarshal([]byte(md["shard"]), &sm) != nil {
		return false
	}
	if sm.Shard != index || sm.Shards != count || sm.N != len(labels) {
		return false
	}
	lt, err := f.Tensor("labels")
	if err != nil || len(lt.Data) != len(labels) {
		return false
	}
	for i, l := range labels {
		if int8(lt.Data[i]) != l {
			return false
		}
	}
	at, err := f.Tensor("advantages")
	if err != nil || len(at.Data) != 8*len(adv) {
		return false
	}
	return bytes.Equal(at.Data, f64Bytes(adv))
}

// groupsJSON encodes group statistics with NaN as null.
func groupsJSON(gs coupling.GroupStats) json.RawMessage {
	f := func(v []float64) []any {
		out := make([]any, len(v))
		for i, x := range v {
			if !math.IsNaN(x) {
				out[i] = x
			}
		}
		return out
	}
	b, _ := json.Marshal(map[string]any{"k": gs.K, "count": gs.Count, "nonzero": gs.Nonzero, "cosine": f(gs.Cosine), "inner": f(gs.Inner)})
	return b
}

func parseGroups(b json.RawMessage) (coupling.GroupStats, error) {
	var v struct {
		K       int        `json:"k"`
		Count   []int      `json:"count"`
		Nonzero []int      `json:"nonzero"`
		Cosine  []*float64 `json:"cosine"`
		Inner   []*float64 `json:"inner"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return coupling.GroupStats{}, err
	}
	if v.K != 2 || len(v.Cosine) != 4 || len(v.Inner) != 4 {
		return coupling.GroupStats{}, errors.New("want 2 groups")
	}
	g := coupling.GroupStats{K: v.K, Count: v.Count, Nonzero: v.Nonzero}
	for _, p := range v.Cosine {
		g.Cosine = append(g.Cosine, deref(p))
	}
	for _, p := range v.Inner {
		g.Inner = append(g.Inner, deref(p))
	}
	return g, nil
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// writeShard computes the tiles of opts.Shard of the Gram of the n rows of g
// and streams them to a shard file; it returns the file's path.
func writeShard(g []float32, n, dim int, meta sampleMeta, src shardSource, opts CouplingOptions, kernel string) (string, error) {
	so := opts.Shard
	plan := coupling.NewTilePlan(n, so.TileRows)
	tiles, err := plan.Shard(so.Index, so.Count)
	if err != nil {
		return "", err
	}
	gs := coupling.GroupMeans(g, n, dim, coupling.GoodBadGroups(nil, meta.labels), 2)
	sm := shardMeta{Source: src, N: n, Dim: dim, TileRows: plan.TileRows, Shard: so.Index, Shards: so.Count,
		Eta: opts.eta(), Kernel: kernel, Project: opts.Project, ProjectSeed: opts.ProjectSeed, GroupsJSON: groupsJSON(gs)}
	mj, err := json.Marshal(sm)
	if err != nil {
		return "", err
	}
	decls := []checkpoint.TensorDecl{
		{Name: "labels", DType: checkpoint.I8, Shape: []int{n}},
		{Name: "advantages", DType: checkpoint.F64, Shape: []int{n}},
		{Name: "states", DType: checkpoint.I64, Shape: []int{n}},
		{Name: "sqnorms", DType: checkpoint.F64, Shape: []int{n}},
	}
	for _, t := range tiles {
		r0, r1, c0, c1 := plan.Bounds(t)
		decls = append(decls, checkpoint.TensorDecl{Name: tileName(t), DType: checkpoint.F32, Shape: []int{r1 - r0, c1 - c0}})
	}
	norms := coupling.SquaredNorms(nil, g, n, dim)
	fixed := map[string][]byte{}
	var b []byte
	for _, l := range meta.labels {
		b = append(b, byte(l))
	}
	fixed["labels"] = b
	fixed["advantages"] = f64Bytes(meta.adv)
	b = nil
	for _, s := range meta.states {
		b = binary.LittleEndian.AppendUint64(b, uint64(int64(s)))
	}
	fixed["states"] = b
	fixed["sqnorms"] = f64Bytes(norms)
	if err := os.MkdirAll(so.Dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(so.Dir, shardName(src, so.Index, so.Count))
	err = atomicfile.Write(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		sw, err := checkpoint.NewStreamWriter(bw, decls, map[string]string{shardFormatKey: shardFormat, "shard": string(mj)})
		if err != nil {
			return err
		}
		order := sw.Order()
		for i := 0; i < len(order); i++ {
			if data, ok := fixed[order[i]]; ok {
				if _, err := sw.Write(data); err != nil {
					return err
				}
				continue
			}
			// The tiles are contiguous in the writer's order (all F32, named by
			// position), and in the plan's order.
			k := 0
			err := coupling.GramTiles(g, n, dim, tiles, coupling.MeasureInner, coupling.GramConfig{TileRows: plan.TileRows, Workers: opts.Workers},
				func(tb coupling.TileBlock) error {
					if order[i+k] != tileName(tb.Tile) {
						return fmt.Errorf("internal: tile %s out of the writer's order (%s)", tileName(tb.Tile), order[i+k])
					}
					k++
					return sw.WriteFloat32(tb.Data)
				})
			if err != nil {
				return err
			}
			i += k - 1
		}
		if err := sw.Close(); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return "", err
	}
	return path, nil
}

func tileName(t coupling.Tile) string { return fmt.Sprintf("tile.%06d.%06d", t.I, t.J) }

var tilePattern = regexp.MustCompile(`^tile\.(\d{6})\.(\d{6})$`)

func f64Bytes(v []float64) []byte {
	b := make([]byte, 0, 8*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

// MergeOptions tune MergeShards.
type MergeOptions struct {
	// MaxBytes is the budget of the dense N x N matrix; 0 means
	// coupling.DefaultMaxBytes, negative no limit.
	MaxBytes int64
	// GramDir, if not empty, receives each merged Gram as a safetensors file
	// ("gram" F32 [N, N], with "labels", "advantages", "states", "sqnorms").
	GramDir string
	// Partial merges the matrices whose shards are all present and lists
	// the missing shards of the others (MergeReport.Missing) instead of
	// failing on the first one.
	Partial bool
}

// MissingShard is a shard no file was given for: the task of an array job
// that did not finish (task Shard of an array of Shards).
type MissingShard struct {
	Run       string `parquet:"run" json:"run"`
	Iteration int    `parquet:"iteration" json:"iteration"`
	Shard     int    `parquet:"shard" json:"shard"`
	Shards    int    `parquet:"shards" json:"shards"`
}

// MergeReport is the result of MergeShards.
type MergeReport struct {
	Rows  []CouplingRow
	Grams []string // files written to GramDir
	// Files counts the shard files of each merged matrix, in Rows order.
	Files []int
	// Missing lists, matrix by matrix, the shards no file was given for
	// (with MergeOptions.Partial; otherwise a missing shard is an error
	// listing them all).
	Missing []MissingShard
}

// shardFile is one opened shard.
type shardFile struct {
	path string
	f    *checkpoint.File
	meta shardMeta
}

// MergeShards reads shard files written by `coupling --shard`, groups them
// by the matrix they belong to (source, iteration, N, dim), checks that
// every group has each of its shards exactly once with identical row data
// and plan, assembles the dense Gram (coupling.TileBlock.Put: bit for bit the
// unsharded Gram) and computes the Gram-based statistics: the group means the
// shards carry, and harmful coupling from the Gram. Anything inconsistent is
// a *TableError naming the file; a NaN or an infinity in a tile, the
// advantages or the squared norms is a *checkpoint.NonFiniteError naming the
// file, the tensor and the row and column (of the whole Gram for a tile).
func MergeShards(paths []string, opts MergeOptions) (*MergeReport, error) {
	groups := map[string][]*shardFile{}
	var order []string
	defer func() {
		for _, g := range groups {
			for _, s := range g {
				s.f.Close()
			}
		}
	}()
	for _, p := range paths {
		f, err := checkpoint.OpenFile(p, checkpoint.ReadOptions{})
		if err != nil {
			return nil, err
		}
		md := f.Metadata()
		if md[shardFormatKey] != shardFormat {
			f.Close()
			return nil, &TableError{File: p, Msg: "not a Gram shard (written by `gradcouple coupling --shard i/n`)"}
		}
		var sm shardMeta
		if err := json.Unmarshal([]byte(md["shard"]), &sm); err != nil {
			f.Close()
			return nil, &TableError{File: p, Msg: "malformed shard metadata: " + err.Error()}
		}
		if sm.Groups, err = parseGroups(sm.GroupsJSON); err != nil {
			f.Close()
			return nil, &TableError{File: p, Msg: "malformed group statistics: " + err.Error()}
		}
		if sm.N < 1 || sm.N > 1<<26 || sm.Shards < 1 || sm.Shards > 1<<20 || sm.Shard < 0 || sm.Shard >= sm.Shards || sm.TileRows < 1 {
			f.Close()
			return nil, &TableError{File: p, Msg: fmt.Sprintf("bad plan: n %d, shard %d of %d, tile rows %d", sm.N, sm.Shard, sm.Shards, sm.TileRows)}
		}
		src, _ := json.Marshal(sm.Source)
		key := fmt.Sprintf("%s|%d|%d|%d|%d", src, sm.N, sm.Dim, sm.Project, sm.ProjectSeed)
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], &shardFile{path: p, f: f, meta: sm})
	}
	rep := &MergeReport{}
	var incomplete []string
	for _, key := range order {
		if miss := missingShards(groups[key]); len(miss) > 0 {
			rep.Missing = append(rep.Missing, miss...)
			incomplete = append(incomplete, fmt.Sprintf("%s iteration %d: shards %s of %d", miss[0].Run, miss[0].Iteration, shardList(miss), miss[0].Shards))
			continue
		}
		row, gram, err := mergeGroup(groups[key], opts)
		if err != nil {
			return nil, err
		}
		rep.Rows = append(rep.Rows, row)
		rep.Files = append(rep.Files, len(groups[key]))
		if gram != "" {
			rep.Grams = append(rep.Grams, gram)
		}
	}
	if len(incomplete) > 0 && !opts.Partial {
		return nil, &TableError{File: paths[0], Msg: "missing shards (re-run those tasks of the array, or merge the complete matrices with --partial): " + strings.Join(incomplete, "; ")}
	}
	return rep, nil
}

// missingShards lists the shards of a matrix that no file holds.
func missingShards(files []*shardFile) []MissingShard {
	m := files[0].meta
	have := map[int]bool{}
	for _, f := range files {
		have[f.meta.Shard] = true
	}
	var out []MissingShard
	for i := range m.Shards {
		if !have[i] {
			out = append(out, MissingShard{Run: m.Source.Run, Iteration: m.Source.Iteration, Shard: i, Shards: m.Shards})
		}
	}
	return out
}

// shardList formats the shard numbers of missing shards: "1, 3".
func shardList(miss []MissingShard) string {
	s := make([]string, len(miss))
	for i, m := range miss {
		s[i] = strconv.Itoa(m.Shard)
	}
	return strings.Join(s, ", ")
}

// mergeGroup merges the shards of one matrix.
func mergeGroup(files []*shardFile, opts MergeOptions) (CouplingRow, string, error) {
	first := files[0]
	m := first.meta
	bad := func(f *shardFile, format string, args ...any) (CouplingRow, string, error) {
		return CouplingRow{}, "", &TableError{File: f.path, Msg: fmt.Sprintf(format, args...)}
	}
	seen := map[int]*shardFile{}
	var fixed map[string][]byte
	for _, f := range files {
		if f.meta.Shards != m.Shards || f.meta.TileRows != m.TileRows || f.meta.Eta != m.Eta {
			return bad(f, "plan (shards %d, tile rows %d, eta %g) differs from %s's (%d, %d, %g)",
				f.meta.Shards, f.meta.TileRows, f.meta.Eta, first.path, m.Shards, m.TileRows, m.Eta)
		}
		if o, dup := seen[f.meta.Shard]; dup {
			return bad(f, "shard %d of %d given twice (also %s)", f.meta.Shard, m.Shards, o.path)
		}
		seen[f.meta.Shard] = f
		cur := map[string][]byte{}
		for _, name := range []string{"labels", "advantages", "states", "sqnorms"} {
			t, err := f.f.Tensor(name)
			if err != nil {
				return CouplingRow{}, "", err
			}
			width := map[string]int{"labels": 1, "advantages": 8, "states": 8, "sqnorms": 8}[name]
			if len(t.Data) != width*m.N {
				return bad(f, "tensor %s has %d bytes, want %d", name, len(t.Data), width*m.N)
			}
			cur[name] = t.Data
		}
		if fixed == nil {
			fixed = cur
		} else {
			for name, b := range cur {
				if !bytes.Equal(b, fixed[name]) {
					return bad(f, "tensor %s differs from %s's: the shards were computed from different rows", name, first.path)
				}
			}
		}
		if !slices.Equal(f.meta.Groups.Cosine, m.Groups.Cosine) && !nanEqual(f.meta.Groups.Cosine, m.Groups.Cosine) {
			return bad(f, "group statistics differ from %s's", first.path)
		}
	}
	for i := range m.Shards {
		if seen[i] == nil {
			return CouplingRow{}, "", &TableError{File: first.path, Msg: fmt.Sprintf("shard %d of %d of %s iteration %d is missing", i, m.Shards, m.Source.Run, m.Source.Iteration)}
		}
	}
	n := m.N
	budget := opts.MaxBytes
	if budget == 0 {
		budget = coupling.DefaultMaxBytes
	}
	if budget >= 0 && 4*int64(n)*int64(n) > budget {
		return CouplingRow{}, "", fmt.Errorf("%w: the merged %d x %d Gram needs %.1f MB, more than the budget of %.1f MB; raise --max-bytes",
			coupling.ErrTooLarge, n, n, 4*float64(n)*float64(n)/1e6, float64(budget)/1e6)
	}
	plan := coupling.NewTilePlan(n, m.TileRows)
	want := map[coupling.Tile]bool{}
	for _, t := range plan.Tiles() {
		want[t] = true
	}
	k := make([]float32, n*n)
	for _, f := range files {
		shardTiles, _ := plan.Shard(f.meta.Shard, f.meta.Shards)
		expect := map[coupling.Tile]bool{}
		for _, t := range shardTiles {
			expect[t] = true
		}
		for _, name := range f.f.Names() {
			mm := tilePattern.FindStringSubmatch(name)
			if mm == nil {
				continue
			}
			I, _ := strconv.Atoi(mm[1])
			J, _ := strconv.Atoi(mm[2])
			t := coupling.Tile{I: I, J: J}
			if !expect[t] {
				return bad(f, "tile %s does not belong to shard %d of %d", name, f.meta.Shard, f.meta.Shards)
			}
			if !want[t] {
				return bad(f, "tile %s given twice", name)
			}
			r0, r1, c0, c1 := plan.Bounds(t)
			v, shape, err := f.f.Float32(name)
			if err != nil {
				return CouplingRow{}, "", err
			}
			if len(shape) != 2 || shape[0] != r1-r0 || shape[1] != c1-c0 {
				return bad(f, "tile %s has shape %v, want [%d %d]", name, shape, r1-r0, c1-c0)
			}
			if i := firstNonFinite(v); i >= 0 {
				w := c1 - c0
				return CouplingRow{}, "", &checkpoint.NonFiniteError{File: f.path, Tensor: name, Row: r0 + i/w, Col: c0 + i%w, Value: float64(v[i])}
			}
			coupling.TileBlock{Tile: t, Row: r0, Col: c0, Rows: r1 - r0, Cols: c1 - c0, Data: v}.Put(k, n)
			delete(want, t)
			delete(expect, t)
		}
		if len(expect) > 0 {
			return bad(f, "%d tiles of shard %d are missing", len(expect), f.meta.Shard)
		}
	}
	labels := make([]int8, n)
	for i, b := range fixed["labels"] {
		labels[i] = int8(b)
	}
	adv, norms := make([]float64, n), make([]float64, n)
	states := make([]int, n)
	for i := range n {
		adv[i] = math.Float64frombits(binary.LittleEndian.Uint64(fixed["advantages"][8*i:]))
		norms[i] = math.Float64frombits(binary.LittleEndian.Uint64(fixed["sqnorms"][8*i:]))
		states[i] = int(int64(binary.LittleEndian.Uint64(fixed["states"][8*i:])))
		for _, c := range []struct {
			name string
			v    float64
		}{{"advantages", adv[i]}, {"sqnorms", norms[i]}} {
			if math.IsNaN(c.v) || math.IsInf(c.v, 0) {
				return CouplingRow{}, "", &checkpoint.NonFiniteError{File: first.path, Tensor: c.name, Row: i, Col: 0, Value: c.v}
			}
		}
	}
	row := emptyRow(m.Source.Run, m.Source.Iteration, n, m.Dim)
	row.Seconds = math.NaN()
	row.Kernel = m.Kernel
	if row.Kernel == "" {
		row.Kernel = string(coupling.KernelSGD)
	}
	gs := m.Groups
	row.CosGood, row.CosBad, row.CosGoodBad = gs.Cosine[0], gs.Cosine[3], gs.Cosine[1]
	row.InnerGood, row.InnerBad, row.InnerGoodBd = gs.Inner[0], gs.Inner[3], gs.Inner[1]
	h := coupling.HarmfulCoupling(k, n, norms, coupling.HarmfulConfig{Eta: m.Eta, Advantages: adv, Labels: labels, States: states})
	row.Pairs, row.HarmfulRate, row.HarmfulMass, row.NetDelta = h.Pairs, h.Rate, h.Mass, h.Net
	var gram string
	if opts.GramDir != "" {
		if err := os.MkdirAll(opts.GramDir, 0o755); err != nil {
			return row, "", err
		}
		gram = filepath.Join(opts.GramDir, strings.TrimSuffix(shardName(m.Source, 0, 1), ".shard-000-of-001.safetensors")+".gram.safetensors")
		ts := []checkpoint.Tensor{checkpoint.F32Tensor("gram", []int{n, n}, k),
			{Name: "labels", DType: checkpoint.I8, Shape: []int{n}, Data: fixed["labels"]},
			{Name: "advantages", DType: checkpoint.F64, Shape: []int{n}, Data: fixed["advantages"]},
			{Name: "states", DType: checkpoint.I64, Shape: []int{n}, Data: fixed["states"]},
			{Name: "sqnorms", DType: checkpoint.F64, Shape: []int{n}, Data: fixed["sqnorms"]}}
		src, _ := json.Marshal(m.Source)
		if err := checkpoint.WriteSafetensorsFile(gram, ts, map[string]string{"source": string(src), "definition": "gram[i, j] = <g_i, g_j>, merged from shards bit for bit"}); err != nil {
			return row, "", err
		}
	}
	return row, gram, nil
}

// firstNonFinite returns the index of the first NaN or infinity in v, or -1.
func firstNonFinite(v []float32) int {
	for i, x := range v {
		if x-x != 0 { // NaN or ±Inf
			return i
		}
	}
	return -1
}

func nanEqual(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}
