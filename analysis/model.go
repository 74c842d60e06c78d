package analysis

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/internal/atomicfile"
	"github.com/gradcouple/gradcouple/internal/table"
	"github.com/gradcouple/gradcouple/policy"
	"github.com/gradcouple/gradcouple/trajlog"
)

// AllEnvs names every bundled environment in ModelInitConfig.Env.
const AllEnvs = "all"

// ModelInitConfig describes a fresh actor checkpoint (InitModel).
type ModelInitConfig struct {
	// Env is the environment whose vocabulary the tokenizer holds:
	// env.Household, env.Lab, or AllEnvs (the zero value means AllEnvs).
	Env string
	// Size is the model's size; VocabSize is ignored (the vocabulary sets
	// it) and zero fields take policy's defaults (d 64, 2 layers, 4 heads,
	// context 256).
	Size policy.Config
	// Seed seeds the initial weights: policy.NewModel draws from
	// PCG(Seed, InitStream).
	Seed int64
}

// InitStream is the PCG stream of InitModel's weight draws.
const InitStream = 0x6163746f72 // "actor"

// ModelSummary describes a checkpoint that InitModel wrote.
type ModelSummary struct {
	Env    string        // the environments of the vocabulary, comma-separated
	Seed   int64         // the seed of the weights
	Config policy.Config // the normalized size, VocabSize included
	Params int           // number of parameters
}

// InitModel writes a checkpoint directory dir (atomically, checkpoint.Save)
// holding a GPT-2 actor initialised as policy.NewModel does from the seed,
// with the word tokenizer of the environment's vocabulary
// (policy.EnvTokenizer). config.json's gradcouple section records the
// environment and the seed. An unknown environment or an invalid size is
// an error and writes nothing.
func InitModel(dir string, cfg ModelInitConfig) (ModelSummary, error) {
	names := []string{cfg.Env}
	switch cfg.Env {
	case "", AllEnvs:
		names = env.Names()
	case env.Household, env.Lab:
	default:
		return ModelSummary{}, fmt.Errorf("unknown environment %q: want %s or %s", cfg.Env, strings.Join(env.Names(), ", "), AllEnvs)
	}
	tok, err := policy.EnvTokenizer(names...)
	if err != nil {
		return ModelSummary{}, err
	}
	size := cfg.Size
	size.VocabSize = tok.Size()
	size, err = size.Normalize()
	if err != nil {
		return ModelSummary{}, err
	}
	m, err := policy.NewModel(size, rand.New(rand.NewPCG(uint64(cfg.Seed), InitStream)))
	if err != nil {
		return ModelSummary{}, err
	}
	c, err := m.Checkpoint(tok)
	if err != nil {
		return ModelSummary{}, err
	}
	envs := strings.Join(names, ",")
	c.Config.Gradcouple.Env = envs
	c.Config.Gradcouple.Seed = cfg.Seed
	if err := checkpoint.Save(dir, c); err != nil {
		return ModelSummary{}, err
	}
	return ModelSummary{Env: envs, Seed: cfg.Seed, Config: size, Params: m.NumParams()}, nil
}

// TokenStats counts the tokens a model read from a log.
type TokenStats struct {
	Tokens    int64 // prompt and action tokens
	LoggedIDs int64 // records read from their logged token ids, not their text
	Unknown   int64 // of which out of the vocabulary (<unk>)
	UnknownIn int64 // records with at least one <unk>
}

// encoder tokenizes step records for a model and keeps TokenStats.
type encoder struct {
	tok     *policy.Tokenizer
	context int
	stats   TokenStats
}

// encode tokenizes r's (prompt, action). A pair that does not fit the
// context (with <eos> and <verdict>) or has an empty prompt is a
// *trajlog.ValidationError naming the file and the row.
func (e *encoder) encode(file string, row int64, r *trajlog.Record) (policy.Seq, int, error) {
	s, err := e.tok.EncodePair(r.Prompt, r.Action, e.context)
	if err != nil {
		field := "prompt"
		if errors.Is(err, policy.ErrTooLong) {
			field = "prompt, action"
		}
		return policy.Seq{}, 0, &trajlog.ValidationError{File: file, Row: row, Field: field,
			Msg: strings.TrimPrefix(err.Error(), "policy: "), Err: err}
	}
	unk := 0
	for _, ids := range [][]int{s.Prompt, s.Action} {
		for _, id := range ids {
			if id == policy.UnkID {
				unk++
			}
		}
	}
	e.stats.Tokens += int64(len(s.Prompt) + len(s.Action))
	e.stats.Unknown += int64(unk)
	if unk > 0 {
		e.stats.UnknownIn++
	}
	return s, unk, nil
}

// readBatch is the number of records readRecords reads at once.
const readBatch = 1024

// readRecords streams the step records of every pattern (trajlog.Open) to
// fn with the file they come from and their 1-based row in it, in file and
// row order, stopping after limit records (0: no limit), at the first
// error, or when ctx is cancelled.
func readRecords(ctx context.Context, patterns []string, limit int, fn func(file string, row int64, r *trajlog.Record) error) (Sources, error) {
	var src Sources
	derived := map[string]bool{}
	buf := make([]trajlog.Record, readBatch)
	var file string
	var row int64
	done := false
	for _, p := range patterns {
		if done {
			break
		}
		r, err := trajlog.Open(p, trajlog.ReadOptions{})
		if err != nil {
			return src, err
		}
		err = func() error {
			for {
				if err := ctx.Err(); err != nil {
					return err
				}
				want := len(buf)
				if limit > 0 {
					want = min(want, limit-int(src.Rows))
				}
				n, err := r.Read(buf[:want])
				if f := r.File(); f != file {
					file, row = f, 0
					src.Files = append(src.Files, f)
				}
				for i := range n {
					row++
					src.Rows++
					if ferr := fn(file, row, &buf[i]); ferr != nil {
						return ferr
					}
				}
				if limit > 0 && int(src.Rows) >= limit {
					done = true
					return nil
				}
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return err
				}
			}
		}()
		if err := closeReader(r, err, derived); err != nil {
			return src, err
		}
	}
	src.Derived = slices.Sorted(maps.Keys(derived))
	return src, nil
}

// ScoreRow is one step record scored by a checkpoint.
type ScoreRow struct {
	Run           string  `parquet:"run"`
	Iteration     int32   `parquet:"iteration"`
	TrajID        string  `parquet:"traj_id"`
	Turn          int32   `parquet:"turn"`
	Action        string  `parquet:"action"`
	LogProb       float64 `parquet:"logprob"`        // log pi(action | prompt) under the checkpoint, the end token (<eos>, <|im_end|>, ...) included
	LoggedLogProb float32 `parquet:"logged_logprob"` // the log's logprob (the policy that collected it)
	PromptTokens  int32   `parquet:"prompt_tokens"`
	ActionTokens  int32   `parquet:"action_tokens"` // without the end token
	UnkTokens     int32   `parquet:"unk_tokens"`    // prompt and action tokens not in the vocabulary
}

// ScoreReport is the result of Score.
type ScoreReport struct {
	Rows []ScoreRow
	// MeanLogProb is the mean of LogProb over the rows, and
	// MeanTokenLogProb the mean log-probability per predicted token
	// (action tokens and the end token): sum LogProb / sum of predicted tokens.
	MeanLogProb, MeanTokenLogProb float64
	Tokens                        TokenStats
	Sources                       Sources
}

// ModelOptions tune Score and WriteGrads.
type ModelOptions struct {
	// Limit stops after the first Limit step records; 0 reads them all.
	Limit int
	// Progress, if not nil, is called after each batch with the number of
	// records done and the total (0 while it is not known).
	Progress func(done, total int)
}

// scoreBatch is the number of records whose log-probs are computed at once.
const scoreBatch = 512

// Score computes log pi(action | prompt) under the model of sc (the
// bundled actor or a Hugging Face model; OpenActor) for every step record
// that patterns name (files, directories or globs; trajlog.Open), in log
// order. For the bundled actor, words not in the vocabulary become <unk>
// and are counted. A pair that does not fit the model's context, or whose
// prompt has no tokens, is an error naming the file and row: nothing is
// truncated.
func Score(ctx context.Context, sc Actor, patterns []string, opts ModelOptions) (ScoreReport, error) {
	var rep ScoreReport
	var pairs []scorePair
	var predicted int
	lp := make([]float64, scoreBatch)
	flush := func() error {
		if len(pairs) == 0 {
			return nil
		}
		rows := rep.Rows[len(rep.Rows)-len(pairs):]
		if err := sc.score(lp[:len(pairs)], pairs); err != nil {
			return err
		}
		for i := range pairs {
			rows[i].LogProb = lp[i]
		}
		pairs = pairs[:0]
		if opts.Progress != nil {
			opts.Progress(len(rep.Rows), 0)
		}
		return nil
	}
	src, err := readRecords(ctx, patterns, opts.Limit, func(file string, row int64, r *trajlog.Record) error {
		p, err := sc.encode(file, row, r)
		if err != nil {
			return err
		}
		pairs = append(pairs, p)
		predicted += p.predicted
		rep.Rows = append(rep.Rows, ScoreRow{Run: r.Run, Iteration: r.Iteration, TrajID: r.TrajID, Turn: r.Turn,
			Action: r.Action, LoggedLogProb: r.Logprob, PromptTokens: int32(p.prompt),
			ActionTokens: int32(p.action), UnkTokens: int32(p.unknown)})
		if len(pairs) == scoreBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return ScoreReport{}, err
	}
	if err := flush(); err != nil {
		return ScoreReport{}, err
	}
	rep.Tokens, rep.Sources = sc.stats(), src
	if len(rep.Rows) > 0 {
		var sum float64
		for _, r := range rep.Rows {
			sum += r.LogProb
		}
		rep.MeanLogProb = sum / float64(len(rep.Rows))
		rep.MeanTokenLogProb = sum / float64(predicted)
	}
	return rep, nil
}

// GradSample is one row of a gradient store's sample table: the step
// record whose gradient is row Row of the matrix.
type GradSample struct {
	Row           int64   `parquet:"row"` // row of the grads matrix, from 0
	Run           string  `parquet:"run"`
	Iteration     int32   `parquet:"iteration"`
	TrajID        string  `parquet:"traj_id"`
	Turn          int32   `parquet:"turn"`
	StateKey      string  `parquet:"state_key"`
	Action        string  `parquet:"action"`
	Label         int8    `parquet:"label"`
	Advantage     float32 `parquet:"advantage"`
	LogProb       float64 `parquet:"logprob"`        // log pi(action | prompt) under the checkpoint
	LoggedLogProb float32 `parquet:"logged_logprob"` // the log's logprob
	UnkTokens     int32   `parquet:"unk_tokens"`
}

// GradParam locates one parameter tensor in the rows of a gradient matrix:
// its values are columns Offset .. Offset+prod(Shape)-1, row-major in
// Shape (HF GPT-2 name and layout).
type GradParam struct {
	Name   string `json:"name"`
	Offset int    `json:"offset"`
	Shape  []int  `json:"shape"`
}

// Metadata keys of a gradient store (grads.safetensors).
const (
	// GradsTensor is the name of the [N, D] F32 gradient matrix.
	GradsTensor = "grads"
	// GradsParamsKey holds the parameter order: a JSON list of GradParam.
	GradsParamsKey = "params"
	// GradsSamplesKey holds the file name of the sample table.
	GradsSamplesKey = "samples"
	// GradsCheckpointKey holds the checkpoint directory the gradients are of.
	GradsCheckpointKey = "checkpoint"
	// GradsDefinitionKey says what each row is.
	GradsDefinitionKey = "definition"
)

// GradsOptions tune WriteGrads.
type GradsOptions struct {
	ModelOptions
	// Tensors names the parameter tensors of the gradient (policy's
	// Model.Select: exact HF names, or prefixes ending in "." such as
	// "transformer.h.1."); none means every parameter.
	Tensors []string
	// Checkpoint is recorded in the file's metadata (informational).
	Checkpoint string
	// ChunkBytes bounds the memory of the gradient rows computed at once;
	// 0 means 64 MiB. At least one row is computed at a time.
	ChunkBytes int
}

// GradsReport is the result of WriteGrads.
type GradsReport struct {
	N, D        int
	Params      []GradParam
	SamplesPath string
	Bytes       int64 // size of the safetensors file
	Tokens      TokenStats
	Sources     Sources
}

// SamplesPath returns the sample table's path for a gradient store at path:
// grads.safetensors -> grads.samples.parquet.
func SamplesPath(path string) string {
	return strings.TrimSuffix(path, ".safetensors") + ".samples.parquet"
}

// ErrNoRecords is returned when a log has no step records to work on.
var ErrNoRecords = errors.New("no step records")

// WriteGrads writes the per-sample gradients g_n = grad log pi(a_n | s_n)
// under m of every step record that patterns name (DESIGN.md §3.3, §4) as
// a gradient store: the safetensors file out, holding the F32 tensor
// "grads" of shape [N, D] (row n is record n in log order, columns in the
// flat parameter order restricted to opts.Tensors) with the parameter order
// in its metadata (GradsParamsKey), and the sample table SamplesPath(out)
// (GradSample rows, parquet).
//
// Records are read and tokenized first (a pair that does not fit the
// context is an error naming the file and row, before anything is
// written); then the gradients are computed in chunks of at most
// opts.ChunkBytes and streamed to disk (checkpoint.StreamWriter), so memory
// is bounded by the chunk and the token ids of the log, never by N x D.
// Both files are written atomically; on any error (or cancellation) neither
// is left behind.
func WriteGrads(ctx context.Context, m *policy.Model, tok *policy.Tokenizer, patterns []string, out string, opts GradsOptions) (GradsReport, error) {
	sel, err := m.Select(opts.Tensors...)
	if err != nil {
		return GradsReport{}, err
	}
	params := gradParams(m, opts.Tensors)
	D := m.SelectionDim(sel)
	if last := params[len(params)-1]; last.Offset+prod(last.Shape) != D {
		return GradsReport{}, fmt.Errorf("analysis: parameter order of %d columns disagrees with the selection's %d", last.Offset+prod(last.Shape), D)
	}
	in, err := readGradInputs(ctx, m, tok, patterns, opts.Limit)
	if err != nil {
		return GradsReport{}, err
	}
	N := len(in.samples)
	rep := GradsReport{N: N, D: D, Params: params, SamplesPath: SamplesPath(out), Tokens: in.tokens, Sources: in.sources}
	pj, err := json.Marshal(params)
	if err != nil {
		return GradsReport{}, err
	}
	meta := map[string]string{
		GradsParamsKey:     string(pj),
		GradsSamplesKey:    filepath.Base(rep.SamplesPath),
		GradsDefinitionKey: "row n = grad_theta log pi(action_n | prompt_n), summed over the action's tokens and <eos>; F32 rounding of float64",
	}
	if opts.Checkpoint != "" {
		meta[GradsCheckpointKey] = opts.Checkpoint
	}
	err = atomicfile.Write(out, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		cw := &countWriter{w: bw}
		sw, err := checkpoint.NewStreamWriter(cw, []checkpoint.TensorDecl{{Name: GradsTensor, DType: checkpoint.F32, Shape: []int{N, D}}}, meta)
		if err != nil {
			return err
		}
		err = in.gradRows(ctx, m, sel, opts, func(g []float32) error {
			if err := sw.WriteFloat32(g); err != nil {
				return fmt.Errorf("writing %s: %w", out, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := sw.Close(); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("writing %s: %w", out, err)
		}
		rep.Bytes = cw.n
		return nil
	})
	if err != nil {
		return GradsReport{}, err
	}
	smeta := map[string]string{"grads": filepath.Base(out), "n": strconv.Itoa(N), "d": strconv.Itoa(D)}
	if err := table.WriteFile(rep.SamplesPath, in.samples, smeta); err != nil {
		os.Remove(out) // a gradient matrix without its sample table is not a store
		return GradsReport{}, err
	}
	return rep, nil
}

// gradInputs are the step records of a gradient store, tokenized: row n
// of the store is the gradient of terms[n], described by samples[n].
type gradInputs struct {
	terms   []policy.Term
	samples []GradSample
	tokens  TokenStats
	sources Sources
}

// readGradInputs reads the step records that patterns name (at most limit;
// 0: all) and tokenizes them for m. A pair that does not fit the context is
// an error naming the file and row; a log without records is ErrNoRecords.
func readGradInputs(ctx context.Context, m *policy.Model, tok *policy.Tokenizer, patterns []string, limit int) (gradInputs, error) {
	enc := &encoder{tok: tok, context: m.Config().Context}
	var seqs []policy.Seq
	var samples []GradSample
	src, err := readRecords(ctx, patterns, limit, func(file string, row int64, r *trajlog.Record) error {
		s, unk, err := enc.encode(file, row, r)
		if err != nil {
			return err
		}
		seqs = append(seqs, s)
		samples = append(samples, GradSample{Row: int64(len(samples)), Run: r.Run, Iteration: r.Iteration,
			TrajID: r.TrajID, Turn: r.Turn, StateKey: r.StateKey, Action: r.Action, Label: r.Label,
			Advantage: r.Advantage, LoggedLogProb: r.Logprob, UnkTokens: int32(unk)})
		return nil
	})
	if err != nil {
		return gradInputs{}, err
	}
	if len(seqs) == 0 {
		return gradInputs{}, fmt.Errorf("%w in %s", ErrNoRecords, strings.Join(patterns, " "))
	}
	return gradInputs{terms: policy.ActionTerms(seqs), samples: samples, tokens: enc.stats, sources: src}, nil
}

// gradRows computes the gradient rows of in under m, restricted to sel, in
// chunks of at most opts.ChunkBytes (0: 64 MiB; at least one row) and
// passes each chunk to emit in row order. It sets the LogProb of every
// sample, calls opts.Progress after each chunk and stops at the first
// error or when ctx is cancelled.
func (in gradInputs) gradRows(ctx context.Context, m *policy.Model, sel policy.Selection, opts GradsOptions, emit func(rows []float32) error) error {
	N, D := len(in.terms), m.SelectionDim(sel)
	chunkBytes := opts.ChunkBytes
	if chunkBytes <= 0 {
		chunkBytes = 64 << 20
	}
	chunk := max(1, min(N, chunkBytes/(4*max(D, 1))))
	buf := make([]float32, chunk*D)
	vals := make([]float64, chunk)
	for lo := 0; lo < N; lo += chunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(N, lo+chunk)
		g := m.PerSampleGrads32Values(buf[:(hi-lo)*D], vals[:hi-lo], in.terms[lo:hi], sel)
		for i, v := range vals[:hi-lo] {
			in.samples[lo+i].LogProb = v
		}
		if err := emit(g); err != nil {
			return err
		}
		if opts.Progress != nil {
			opts.Progress(hi, N)
		}
	}
	return nil
}

// selectedTensors lists the tensors that names select in m, in the flat
// order, as Model.Select selects them: a name is a tensor's exact HF name,
// or a prefix ending in "."; no names select every tensor.
func selectedTensors(m *policy.Model, names []string) []policy.Tensor {
	var out []policy.Tensor
	for _, t := range m.Tensors() {
		keep := len(names) == 0
		for _, n := range names {
			if n == t.Name || strings.HasSuffix(n, ".") && strings.HasPrefix(t.Name, n) {
				keep = true
			}
		}
		if keep {
			out = append(out, t)
		}
	}
	return out
}

// gradParams lists the tensors that names select in m (selectedTensors),
// with their columns in a selected gradient row.
func gradParams(m *policy.Model, names []string) []GradParam {
	var out []GradParam
	off := 0
	for _, t := range selectedTensors(m, names) {
		out = append(out, GradParam{Name: t.Name, Offset: off, Shape: t.Shape})
		off += t.Size
	}
	return out
}

func prod(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
