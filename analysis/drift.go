package analysis

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/gradcouple/gradcouple/policy"
	"github.com/gradcouple/gradcouple/trainer"
)

// DriftRow describes a group of token embedding rows (wte, which is also
// the tied LM head) of one model, compared with the same rows of the run's
// initial model (the model before the cold start). For rows e_1..e_n of
// the model and e0_1..e0_n at initialisation, with d_i = e_i - e0_i:
//
//	norm      = mean_i |e_i|
//	cos       = mean over pairs i != j of cos(e_i, e_j)
//	moved     = #{i : e_i != e0_i in any coordinate}
//	shift     = mean_i |d_i|
//	shift_cos = mean over pairs i != j of moved rows of cos(d_i, d_j)
//	init_cos  = mean_i cos(e_i, e0_i)
//
// The pair means are computed from the sum of unit vectors u_i:
// (|sum u_i|^2 - n) / (n (n - 1)). shift_cos near 1 says the rows moved in
// one common direction; cos rising from its initial ~0 says they became
// alike. A mean over no pair (fewer than 2 rows, or moved rows) is NaN;
// a zero row has no cosine and is left out of cos and init_cos.
type DriftRow struct {
	Model    string  `parquet:"model"` // "init", "iter-NNNNNN" of the run, or a checkpoint directory
	Group    string  `parquet:"group"` // "unseen": tokens absent from the cold-start data; "seen": the others
	Rows     int     `parquet:"rows"`
	Norm     float64 `parquet:"norm"`
	Cos      float64 `parquet:"cos"`
	Moved    int     `parquet:"moved"`
	Shift    float64 `parquet:"shift"`
	ShiftCos float64 `parquet:"shift_cos"`
	InitCos  float64 `parquet:"init_cos"`
}

// DriftGroups of DriftRow.Group.
const (
	DriftUnseen = "unseen"
	DriftSeen   = "seen"
)

// DriftReport is what Drift measured: the run's facts and one DriftRow
// per model and group (init first, then the run's checkpoints in
// iteration order, then the extra checkpoints in the order given).
type DriftReport struct {
	Env          string
	Tokenizer    string   // the run's tokenizer kind
	FreezeUnseen bool     // the run's cold_start.freeze_unseen
	Vocab        int      // tokens in the vocabulary
	Unseen       []string // the unseen tokens, in id order
	Rows         []DriftRow
}

// DriftOptions selects the models Drift compares with the initial model.
type DriftOptions struct {
	// Iterations are the run's checkpoints to read (nil: every one).
	Iterations []int
	// Checkpoints are further checkpoint directories with the run's
	// vocabulary (e.g. of a run that differs only in
	// cold_start.freeze_unseen, which starts from the same initial model).
	Checkpoints []string
}

// Drift measures how the embedding rows of the tokens absent from a run's
// cold-start data (trainer.ColdStartTokens: the rows freeze_unseen keeps)
// and of the other tokens moved away from the run's initial model
// (trainer.InitialModel, rebuilt from run.json's configuration and seed)
// in the run's checkpoints. A directory that is no run, or a checkpoint
// with another vocabulary, is an error.
func Drift(ctx context.Context, dir string, opts DriftOptions) (DriftReport, error) {
	run, err := OpenRun(dir)
	if err != nil {
		return DriftReport{}, err
	}
	its, err := run.selectCheckpoints(opts.Iterations)
	if err != nil {
		return DriftReport{}, err
	}
	man, err := trainer.ReadManifest(dir)
	if err != nil {
		return DriftReport{}, &RunError{Dir: dir, Msg: err.Error(), Err: err}
	}
	cfg := man.Config
	if err := cfg.Validate(); err != nil {
		return DriftReport{}, &RunError{Dir: dir, Msg: "run.json: " + err.Error(), Err: err}
	}
	init, tok, err := trainer.InitialModel(cfg)
	if err != nil {
		return DriftReport{}, err
	}
	_, unseen, err := trainer.ColdStartTokens(cfg)
	if err != nil {
		return DriftReport{}, err
	}
	rep := DriftReport{Env: cfg.Env, Tokenizer: tok.Kind(), FreezeUnseen: cfg.ColdStart.FreezeUnseen, Vocab: tok.Size()}
	var seen []int
	for id := range tok.Size() {
		if !slices.Contains(unseen, id) {
			seen = append(seen, id)
		}
	}
	for _, id := range unseen {
		rep.Unseen = append(rep.Unseen, tok.Token(id))
	}
	add := func(name string, m *policy.Model) {
		rep.Rows = append(rep.Rows, EmbeddingDrift(name, DriftUnseen, init, m, unseen), EmbeddingDrift(name, DriftSeen, init, m, seen))
	}
	add("init", init)
	type source struct{ name, dir string }
	var srcs []source
	for _, it := range its {
		srcs = append(srcs, source{fmt.Sprintf("iter-%06d", it), run.CheckpointDir(it)})
	}
	for _, d := range opts.Checkpoints {
		srcs = append(srcs, source{d, d})
	}
	for _, s := range srcs {
		if err := ctx.Err(); err != nil {
			return DriftReport{}, err
		}
		m, mtok, err := policy.Load(s.dir)
		if err != nil {
			return DriftReport{}, err
		}
		if mtok.Kind() != tok.Kind() || !slices.Equal(mtok.Tokens(), tok.Tokens()) || m.Config() != init.Config() {
			return DriftReport{}, fmt.Errorf("%s: another vocabulary or model size than run %s (%s tokenizer of %s, %d tokens)", s.dir, dir, tok.Kind(), cfg.Env, tok.Size())
		}
		add(s.name, m)
	}
	return rep, nil
}

// EmbeddingDrift computes the DriftRow of the embedding rows ids of m
// against the same rows of init (models of the same size; see DriftRow for
// the formulas). model and group name the row.
func EmbeddingDrift(model, group string, init, m *policy.Model, ids []int) DriftRow {
	if init.Config() != m.Config() {
		panic("analysis: EmbeddingDrift of models of different sizes")
	}
	row := DriftRow{Model: model, Group: group, Rows: len(ids)}
	e, e0 := embeddingRows(m), embeddingRows(init)
	d := m.Config().Dim
	var rows, shifts [][]float64
	var initCos, initN float64
	for _, id := range ids {
		r, r0 := e[id*d:(id+1)*d], e0[id*d:(id+1)*d]
		rows = append(rows, r)
		row.Norm += rowNorm(r) / float64(len(ids))
		if !slices.Equal(r, r0) {
			row.Moved++
			s := make([]float64, d)
			for k := range s {
				s[k] = r[k] - r0[k]
			}
			shifts = append(shifts, s)
			row.Shift += rowNorm(s) / float64(len(ids))
		}
		if c := rowCosine(r, r0); !math.IsNaN(c) {
			initCos += c
			initN++
		}
	}
	row.Cos, row.ShiftCos = meanPairCosine(rows), meanPairCosine(shifts)
	row.InitCos = initCos / initN
	if len(ids) == 0 {
		row.Norm = math.NaN()
	}
	return row
}

// embeddingRows is the wte tensor of m, [vocab, dim] row-major.
func embeddingRows(m *policy.Model) []float64 {
	for _, t := range m.Tensors() {
		if t.Name == "transformer.wte.weight" {
			return m.Params[t.Offset : t.Offset+t.Size]
		}
	}
	panic("analysis: model without transformer.wte.weight")
}

func rowNorm(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s)
}

// rowCosine is x.y / (|x| |y|), NaN if either is zero.
func rowCosine(x, y []float64) float64 {
	var xy float64
	for k := range x {
		xy += x[k] * y[k]
	}
	nx, ny := rowNorm(x), rowNorm(y)
	if nx == 0 || ny == 0 {
		return math.NaN()
	}
	return xy / (nx * ny)
}

// meanPairCosine is the mean cosine over the distinct pairs of the
// non-zero vectors xs, (|sum u_i|^2 - n) / (n (n - 1)) with u_i = x_i/|x_i|;
// NaN with fewer than 2 non-zero vectors.
func meanPairCosine(xs [][]float64) float64 {
	var sum []float64
	n := 0
	for _, x := range xs {
		nx := rowNorm(x)
		if nx == 0 {
			continue
		}
		if sum == nil {
			sum = make([]float64, len(x))
		}
		for k, v := range x {
			sum[k] += v / nx
		}
		n++
	}
	if n < 2 {
		return math.NaN()
	}
	s := rowNorm(sum)
	return (s*s - float64(n)) / float64(n*(n-1))
}
