package analysis

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/internal/atomicfile"
	"github.com/gradcouple/gradcouple/internal/table"
	"github.com/gradcouple/gradcouple/policy"
)

// ExportOptions describe a gradient store written by the analyses: the
// per-sample gradients g_n = grad log pi(a_n|s_n) (rows) with a sample
// table, in a form other tools read (DESIGN.md §3.3).
type ExportOptions struct {
	// Dir receives the stores (coupling --export).
	Dir string
	// Format is checkpoint.FormatNPY (the default), FormatBergson or
	// FormatSafetensors.
	Format string
	// DType is the element type: checkpoint.F32 (the default) or F16.
	DType checkpoint.DType
}

func (o ExportOptions) format() string {
	if o.Format == "" {
		return checkpoint.FormatNPY
	}
	return o.Format
}

func (o ExportOptions) dtype() checkpoint.DType {
	if o.DType == "" {
		return checkpoint.F32
	}
	return o.DType
}

// CheckExport validates a format and dtype before any work is done.
func CheckExport(format string, dt checkpoint.DType) error {
	switch format {
	case "", checkpoint.FormatNPY, checkpoint.FormatBergson, checkpoint.FormatSafetensors:
	default:
		return fmt.Errorf("gradient store format %q: want npy, bergson or safetensors", format)
	}
	if dt != "" && dt != checkpoint.F32 && dt != checkpoint.F16 {
		return fmt.Errorf("gradient store dtype %q: want F32 or F16", dt)
	}
	return nil
}

// StorePath returns the path of a store named base in the given format: a
// directory for Bergson, base.npy or base.safetensors otherwise.
func StorePath(base, format string) string {
	switch format {
	case checkpoint.FormatBergson:
		return base
	case checkpoint.FormatSafetensors:
		return base + ".safetensors"
	}
	return base + ".npy"
}

// storeSamplesPath is where a store's sample table goes: inside a Bergson
// directory, next to a file otherwise.
func storeSamplesPath(path, format string) string {
	if format == checkpoint.FormatBergson {
		return filepath.Join(path, "samples.parquet")
	}
	return strings.TrimSuffix(strings.TrimSuffix(path, ".npy"), ".safetensors") + ".samples.parquet"
}

// writeGradStore writes n rows of d columns, produced in order by produce,
// as a store at path in the given format, with the sample table written by
// samples after the rows (so it may use values computed with them). Every
// file is atomic; on error nothing is left behind. It returns the files.
func writeGradStore(path, format string, dt checkpoint.DType, n, d int, mods []checkpoint.GradModule, meta map[string]string,
	samples func(w io.Writer) error, produce func(emit func(rows []float32) error) error) ([]string, error) {
	spath := storeSamplesPath(path, format)
	emitTo := func(w io.Writer) func(rows []float32) error {
		var buf []byte
		return func(rows []float32) error {
			buf = checkpoint.AppendFloats(buf[:0], rows, dt)
			_, err := w.Write(buf)
			return err
		}
	}
	switch format {
	case checkpoint.FormatBergson:
		info := checkpoint.BergsonInfo{NumGrads: n, Modules: mods, DType: dt}
		if len(mods) == 0 {
			info.Modules = []checkpoint.GradModule{{Name: "grads", Size: d}}
		}
		err := checkpoint.WriteBergsonDir(path, info, func(w io.Writer) error { return produce(emitTo(w)) },
			map[string]func(io.Writer) error{filepath.Base(spath): samples})
		if err != nil {
			return nil, err
		}
		return []string{path}, nil
	case checkpoint.FormatNPY:
		err := atomicfile.Write(path, func(w io.Writer) error {
			bw := bufio.NewWriterSize(w, 1<<20)
			hdr, err := checkpoint.NPYHeaderBytes(dt, []int{n, d})
			if err != nil {
				return err
			}
			if _, err := bw.Write(hdr); err != nil {
				return err
			}
			if err := produce(emitTo(bw)); err != nil {
				return err
			}
			return bw.Flush()
		})
		if err != nil {
			return nil, err
		}
	case checkpoint.FormatSafetensors:
		err := atomicfile.Write(path, func(w io.Writer) error {
			bw := bufio.NewWriterSize(w, 1<<20)
			sw, err := checkpoint.NewStreamWriter(bw, []checkpoint.TensorDecl{{Name: GradsTensor, DType: dt, Shape: []int{n, d}}}, meta)
			if err != nil {
				return err
			}
			if err := produce(emitTo(sw)); err != nil {
				return err
			}
			if err := sw.Close(); err != nil {
				return err
			}
			return bw.Flush()
		})
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("gradient store format %q: want npy, bergson or safetensors", format)
	}
	if err := atomicfile.Write(spath, samples); err != nil {
		os.Remove(path) // rows without their sample table are not a store
		return nil, err
	}
	return []string{path, spath}, nil
}

// gradModules lists the tensors that names select in m as store modules.
func gradModules(m *policy.Model, names []string) ([]checkpoint.GradModule, string) {
	ps := gradParams(m, names)
	mods := make([]checkpoint.GradModule, len(ps))
	for i, p := range ps {
		mods[i] = checkpoint.GradModule{Name: p.Name, Offset: p.Offset, Size: prod(p.Shape)}
	}
	js, _ := json.Marshal(ps)
	return mods, string(js)
}

// exportCheckpoint writes the probes' exact gradients at one checkpoint as a
// store in opts.Export.Dir, named RUN-iter-NNNNNN, with the probe table.
func exportCheckpoint(run Run, it int, ps *ProbeSet, m *policy.Model, opts CouplingOptions, n, d int, logp []float64,
	produce func(emit func(rows []float32) error) error) ([]string, error) {
	ex := opts.Export
	if err := os.MkdirAll(ex.Dir, 0o755); err != nil {
		return nil, err
	}
	base := filepath.Join(ex.Dir, shardName(shardSource{Run: run.Name, Iteration: it}, 0, 1))
	base = strings.TrimSuffix(base, ".shard-000-of-001.safetensors")
	mods, pj := gradModules(m, opts.Tensors)
	meta := map[string]string{GradsParamsKey: pj, GradsCheckpointKey: run.CheckpointDir(it),
		GradsDefinitionKey: "row n = grad_theta log pi(action_n | prompt_n) of probe n, summed over the action's tokens and <eos>"}
	rows := make([]ExportRow, n)
	samples := func(w io.Writer) error {
		for i, p := range ps.Probes {
			rows[i] = ExportRow{Probe: p.Probe, Run: p.Run, Iteration: p.Iteration, Split: p.Split, TaskID: p.TaskID,
				TrajID: p.TrajID, Turn: p.Turn, StateKey: p.StateKey, Prompt: p.Prompt, Action: p.Action,
				Label: p.Label, Advantage: p.Advantage, LogProb: logp[i]}
		}
		return table.WriteParquet(w, rows, map[string]string{"grads": filepath.Base(StorePath(base, ex.format())), "n": strconv.Itoa(n), "d": strconv.Itoa(d)})
	}
	return writeGradStore(StorePath(base, ex.format()), ex.format(), ex.dtype(), n, d, mods, meta, samples, produce)
}

// ExportRow is a row of an exported store's sample table: the probe and its
// log-probability under the checkpoint.
type ExportRow struct {
	Probe     int32   `parquet:"probe"` // the row of the gradient matrix
	Run       string  `parquet:"run"`
	Iteration int32   `parquet:"iteration"`
	Split     string  `parquet:"split"`
	TaskID    string  `parquet:"task_id"`
	TrajID    string  `parquet:"traj_id"`
	Turn      int32   `parquet:"turn"`
	StateKey  string  `parquet:"state_key"`
	Prompt    string  `parquet:"prompt"`
	Action    string  `parquet:"action"`
	Label     int8    `parquet:"label"`
	Advantage float32 `parquet:"advantage"`
	LogProb   float64 `parquet:"logprob"` // log pi(action | prompt) under the checkpoint
}

// WriteGradsAs is WriteGrads in any store format: the per-sample gradients
// of every step record that patterns name as a .npy file (out ends in .npy),
// a Bergson directory or a safetensors file, in F32 or F16, with the sample
// table (GradSample rows) next to it (OUT.samples.parquet) or inside the
// Bergson directory (samples.parquet). F32 safetensors is exactly WriteGrads.
func WriteGradsAs(ctx context.Context, m *policy.Model, tok *policy.Tokenizer, patterns []string, out, format string, dt checkpoint.DType, opts GradsOptions) (GradsReport, error) {
	if format == checkpoint.FormatSafetensors && (dt == "" || dt == checkpoint.F32) {
		return WriteGrads(ctx, m, tok, patterns, out, opts)
	}
	if err := CheckExport(format, dt); err != nil {
		return GradsReport{}, err
	}
	if dt == "" {
		dt = checkpoint.F32
	}
	sel, err := m.Select(opts.Tensors...)
	if err != nil {
		return GradsReport{}, err
	}
	D := m.SelectionDim(sel)
	in, err := readGradInputs(ctx, m, tok, patterns, opts.Limit)
	if err != nil {
		return GradsReport{}, err
	}
	N := len(in.samples)
	mods, pj := gradModules(m, opts.Tensors)
	meta := map[string]string{GradsParamsKey: pj,
		GradsDefinitionKey: "row n = grad_theta log pi(action_n | prompt_n), summed over the action's tokens and <eos>"}
	if opts.Checkpoint != "" {
		meta[GradsCheckpointKey] = opts.Checkpoint
	}
	produce := func(emit func([]float32) error) error { return in.gradRows(ctx, m, sel, opts, emit) }
	sm := func(w io.Writer) error {
		return table.WriteParquet(w, in.samples, map[string]string{"grads": filepath.Base(out), "n": strconv.Itoa(N), "d": strconv.Itoa(D)})
	}
	files, err := writeGradStore(out, format, dt, N, D, mods, meta, sm, produce)
	if err != nil {
		return GradsReport{}, err
	}
	rep := GradsReport{N: N, D: D, Params: gradParams(m, opts.Tensors), SamplesPath: storeSamplesPath(out, format), Tokens: in.tokens, Sources: in.sources}
	if st, err := os.Stat(files[0]); err == nil && !st.IsDir() {
		rep.Bytes = st.Size()
	} else if st, err := os.Stat(filepath.Join(out, checkpoint.BergsonGradientsFile)); err == nil {
		rep.Bytes = st.Size()
	}
	return rep, nil
}
