package analysis

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/coupling"
)

// StoreOptions tune CouplingStore.
type StoreOptions struct {
	CouplingOptions
	// Tensor names the matrix of a safetensors store ("" means "grads", or
	// the only matrix).
	Tensor string
	// Name is the run column of the result; "" means the store's base name.
	Name string
	// Preconditioner is the diagonal of the optimizer's preconditioner P
	// over the store's D columns (checkpoint.ReadVector), e.g. Adam's
	// 1/(sqrt(v_hat)+eps) exported by the training framework: the kernel is
	// then K_ij = <g_i, P g_j> (the rows are scaled by sqrt(P) as they are
	// read) and the kernel column says "diag". Nil: the rows as stored, the
	// sgd kernel. Values must be finite and >= 0.
	Preconditioner []float32
}

// StoreInfo describes the store and samples CouplingStore read.
type StoreInfo struct {
	Format       string
	DType        checkpoint.DType
	Rows         int // rows in the store
	Cols         int // D
	Modules      int
	Samples      int // rows analysed (sample table rows)
	Good         int
	Bad          int
	Unknown      int
	Prompts      bool // the table has prompts: similarity bins are reported
	Actions      bool // the table has actions: twins and same-action strata are found
	HasAdvantage bool // the table has advantages
}

// storeSamples is the sample table of an external store.
type storeSamples struct {
	rows    []int // store row of each sample
	meta    sampleMeta
	info    StoreInfo
	prompts []string // nil without a prompt column
	actions []string // nil without an action column
}

// readStoreSamples reads the sample table that labels the rows of a store
// of n rows: a column label (1 good, 0 bad, -1 unknown; also true/false,
// good/bad) and optionally advantage (A_i, default 0), state_key (or
// state, state_id: samples with equal values are in the same state; by
// default each sample is its own state, or samples with identical prompts
// share one), prompt (enables coupling by prompt similarity) and row (or
// probe, index: the store row of each sample; by default sample i is row i
// and the table must have n rows). An action column (or response,
// completion) with the prompts lets the strata find twins and same-action
// pairs.
func readStoreSamples(path string, n int) (*storeSamples, error) {
	t, err := readLooseTable(path)
	if err != nil {
		return nil, err
	}
	lc := t.first("label", "labels", "y")
	if lc == "" {
		return nil, &TableError{File: path, Column: "label", Msg: "missing column: the sample table needs label (1 good, 0 bad, -1 unknown), and usually advantage and state_key"}
	}
	s := &storeSamples{}
	rc := t.first("row", "probe", "index")
	if rc == "" && t.n != n {
		return nil, &TableError{File: path, Msg: fmt.Sprintf("%d rows for a store of %d gradients (add a row column to analyse a subset)", t.n, n)}
	}
	if t.n < 2 {
		return nil, &TableError{File: path, Msg: fmt.Sprintf("%d rows: want at least 2 samples", t.n)}
	}
	ac := t.first("advantage", "advantages", "adv")
	sc := t.first("state_key", "state", "state_id")
	pc := t.first("prompt")
	actc := t.first("action", "response", "completion")
	used := map[int]int{}
	stateIdx := map[string]int{}
	var probes []Probe
	for i := range t.n {
		r := i
		if rc != "" {
			v, err := t.float(rc, i, -1)
			if err != nil {
				return nil, err
			}
			if v != float64(int(v)) || v < 0 || int(v) >= n {
				return nil, t.errorf(i, rc, "row %v is not a row of the store (0..%d)", v, n-1)
			}
			r = int(v)
			if j, dup := used[r]; dup {
				return nil, t.errorf(i, rc, "row %d is also sample %d", r, j+1)
			}
			used[r] = i
		}
		lab, err := t.label(lc, i)
		if err != nil {
			return nil, err
		}
		adv := 0.0
		if ac != "" {
			if adv, err = t.float(ac, i, 0); err != nil {
				return nil, err
			}
		}
		key := fmt.Sprintf("\x02%d", i)
		switch {
		case sc != "" && t.str(sc, i) != "":
			key = "\x00" + t.str(sc, i)
		case pc != "" && t.str(pc, i) != "":
			key = "\x01" + t.str(pc, i)
		}
		st, ok := stateIdx[key]
		if !ok {
			st = len(stateIdx)
			stateIdx[key] = st
		}
		s.rows = append(s.rows, r)
		s.meta.labels = append(s.meta.labels, lab)
		s.meta.adv = append(s.meta.adv, adv)
		s.meta.states = append(s.meta.states, st)
		if pc != "" {
			probes = append(probes, Probe{Prompt: t.str(pc, i)})
			s.prompts = append(s.prompts, t.str(pc, i))
		}
		if actc != "" {
			s.actions = append(s.actions, t.str(actc, i))
		}
		switch lab {
		case 1:
			s.info.Good++
		case 0:
			s.info.Bad++
		default:
			s.info.Unknown++
		}
	}
	if pc != "" {
		s.meta.sim = newJaccardIndex(probes).at
	}
	s.info.Samples, s.info.Prompts, s.info.HasAdvantage, s.info.Actions = t.n, pc != "", ac != "", actc != ""
	return s, nil
}

// CouplingStore computes the coupling statistics of a gradient store made
// elsewhere (DESIGN.md §3.3): EleutherAI Bergson, NumPy .npy or safetensors
// (checkpoint.OpenGradStore), labelled by the sample table at samples (see
// readStoreSamples). Rows are read in chunks and, with opts.Project, projected
// as they are read, so only N x K floats are held. The result has the
// gradient statistics of Coupling (group coupling, harmful coupling overall
// and by prompt similarity when the table has prompts); what needs the model
// (heatmap, representation separation) is NaN. In shard mode (opts.Shard)
// it writes Gram tiles instead.
func CouplingStore(ctx context.Context, store, samples string, opts StoreOptions) (*CouplingReport, StoreInfo, error) {
	start := time.Now()
	gs, err := checkpoint.OpenGradStore(store, checkpoint.GradStoreOptions{Tensor: opts.Tensor})
	if err != nil {
		return nil, StoreInfo{}, err
	}
	defer gs.Close()
	N, D := gs.Rows(), gs.Cols()
	ss, err := readStoreSamples(samples, N)
	if err != nil {
		return nil, StoreInfo{}, err
	}
	info := ss.info
	info.Format, info.DType, info.Rows, info.Cols, info.Modules = gs.Format(), gs.DType(), N, D, len(gs.Modules())
	n := len(ss.rows)
	dim := D
	if opts.Project > 0 {
		dim = opts.Project
	}
	if err := checkBudget(n, dim, opts.CouplingOptions); err != nil {
		return nil, info, err
	}
	where := make(map[int]int, n) // store row -> sample
	for i, r := range ss.rows {
		where[r] = i
	}
	g := make([]float32, n*dim)
	var proj *coupling.Projection
	if opts.Project > 0 {
		proj = &coupling.Projection{D: D, K: opts.Project, Kind: coupling.Rademacher, Seed: opts.ProjectSeed, Workers: opts.Workers}
	}
	scale, err := preconditionerScale(opts.Preconditioner, D, store)
	if err != nil {
		return nil, info, err
	}
	chunk := max(1, min(N, opts.chunkBytes()/(4*max(D, 1))))
	buf := make([]float32, chunk*D)
	var pbuf []float32
	for lo := 0; lo < N; lo += chunk {
		if err := ctx.Err(); err != nil {
			return nil, info, err
		}
		hi := min(N, lo+chunk)
		// Skip chunks with no sample.
		any := false
		for r := lo; r < hi && !any; r++ {
			_, any = where[r]
		}
		if !any {
			continue
		}
		rows := buf[:(hi-lo)*D]
		if err := gs.ReadRows(rows, lo, hi); err != nil {
			return nil, info, err
		}
		if scale != nil {
			for r := 0; r < hi-lo; r++ {
				row := rows[r*D : (r+1)*D]
				for c, s := range scale {
					row[c] *= s
				}
			}
		}
		// Gather the chunk's samples so that a projection runs once per
		// chunk (its matrix entries are generated once for all rows).
		var idx []int
		k := 0
		for r := lo; r < hi; r++ {
			i, ok := where[r]
			if !ok {
				continue
			}
			copy(rows[k*D:(k+1)*D], rows[(r-lo)*D:(r-lo+1)*D])
			idx = append(idx, i)
			k++
		}
		if proj != nil {
			pbuf = slices.Grow(pbuf[:0], k*dim)[:k*dim]
			proj.Project(pbuf, rows[:k*D], k)
		}
		for j, i := range idx {
			if proj != nil {
				copy(g[i*dim:(i+1)*dim], pbuf[j*dim:(j+1)*dim])
			} else {
				copy(g[i*dim:(i+1)*dim], rows[j*D:(j+1)*D])
			}
		}
		opts.progress("read rows %d-%d of %d", lo, hi, N)
	}
	name := opts.Name
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(filepath.Clean(store)), filepath.Ext(store))
	}
	rep := &CouplingReport{}
	if opts.Shard != nil {
		kernel := string(coupling.KernelSGD)
		if scale != nil {
			kernel = KernelDiag
		}
		path, err := writeShard(g, n, dim, ss.meta, shardSource{Run: name, Store: store}, opts.CouplingOptions, kernel)
		if err != nil {
			return nil, info, err
		}
		rep.Shards = append(rep.Shards, path)
		return rep, info, nil
	}
	row := emptyRow(name, 0, n, dim)
	row.Kernel = string(coupling.KernelSGD) // the rows as stored: no optimizer state
	if scale != nil {
		row.Kernel = KernelDiag
	}
	meta := withStrata(ss.meta, ss.prompts, ss.actions, opts.Strata, opts.Seed)
	bins, err := gramStats(&row, g, n, dim, meta, opts.CouplingOptions)
	if err != nil {
		return nil, info, err
	}
	row.Seconds = time.Since(start).Seconds()
	rep.Rows, rep.BySim = []CouplingRow{row}, bins
	meta.strata.fill(rep)
	return rep, info, nil
}

// KernelDiag names the kernel of a store analysed with a given diagonal
// preconditioner (StoreOptions.Preconditioner).
const KernelDiag = "diag"

// preconditionerScale returns sqrt(p), the row scale of the kernel
// <g_i, diag(p) g_j>, or nil for no preconditioner; p must have the store's
// D entries, each finite and >= 0.
func preconditionerScale(p []float32, d int, store string) ([]float32, error) {
	if p == nil {
		return nil, nil
	}
	if len(p) != d {
		return nil, &OptionsError{Msg: fmt.Sprintf("preconditioner of %d entries for the %d columns of %s", len(p), d, store)}
	}
	out := make([]float32, d)
	for i, v := range p {
		if !(v >= 0) || math.IsInf(float64(v), 0) {
			return nil, &OptionsError{Msg: fmt.Sprintf("preconditioner entry %d is %v: want a finite value >= 0", i, v)}
		}
		out[i] = float32(math.Sqrt(float64(v)))
	}
	return out, nil
}
