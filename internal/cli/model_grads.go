package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/checkpoint"
	ucli "github.com/urfave/cli/v2"
)

// ModelGradsOptions are the inputs of `gradcouple model grads`.
type ModelGradsOptions struct {
	Checkpoint string
	Samples    string
	Out        string
	Tensors    []string
	Limit      int
	Format     string // checkpoint.FormatSafetensors (default), FormatNPY or FormatBergson
	DType      string // F32 (default) or F16
}

func newModelGradsCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:  "grads",
		Usage: "per-sample gradients g_n = grad log pi(a_n | s_n) of logged steps as a gradient store",
		Description: "Writes OUT.safetensors with the F32 tensor \"grads\" [N, D] (row n: step record n of the log,\n" +
			"columns in the flat parameter order, see the metadata key \"params\": a JSON list of\n" +
			"{name, offset, shape}) and OUT.samples.parquet (row, run, iteration, traj_id, turn,\n" +
			"state_key, action, label, advantage, logprob, ...). Gradients are exact, computed in float64\n" +
			"and rounded to float32; they stream to disk in chunks, so memory stays bounded.\n" +
			"--format npy writes OUT.npy (C order) and OUT.samples.parquet; --format bergson writes the\n" +
			"directory OUT as an EleutherAI Bergson index (gradients.bin + info.json, one module per\n" +
			"tensor) with samples.parquet inside; --dtype F16 halves the size. All are read back by\n" +
			"`gradcouple coupling --grads OUT --samples ...`.",
		Flags: []ucli.Flag{
			checkpointFlag, samplesFlag,
			&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "write the gradient matrix to `FILE.safetensors` (and FILE.samples.parquet); FILE.npy or DIR with --format"},
			&ucli.StringFlag{Name: "format", Value: "safetensors", Usage: "store `FORMAT`: safetensors, npy or bergson"},
			&ucli.StringFlag{Name: "dtype", Value: "F32", Usage: "element `TYPE`: F32 or F16"},
			&ucli.StringFlag{Name: "tensors", Usage: "only the tensors `NAME,...` (HF names, or prefixes ending in '.', e.g. transformer.h.1.)"},
			limitFlag,
		},
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 0, "no arguments"); err != nil {
				return err
			}
			var tensors []string
			for _, t := range strings.Split(c.String("tensors"), ",") {
				if t = strings.TrimSpace(t); t != "" {
					tensors = append(tensors, t)
				}
			}
			return runModelGrads(c.Context, ModelGradsOptions{
				Checkpoint: c.String("checkpoint"), Samples: c.String("samples"), Out: c.String("out"),
				Tensors: tensors, Limit: c.Int("limit"), Format: c.String("format"), DType: strings.ToUpper(c.String("dtype")),
			}, e)
		},
	}
}

// GradParamRow is one line of the parameter-order table that grads prints.
type GradParamRow struct {
	Tensor  string `parquet:"tensor"`
	Columns string `parquet:"columns"`
	Shape   string `parquet:"shape"`
}

func runModelGrads(ctx context.Context, opts ModelGradsOptions, e *Env) error {
	if err := analysis.CheckExport(opts.Format, checkpoint.DType(opts.DType)); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	switch opts.Format {
	case "", checkpoint.FormatSafetensors:
		if !strings.HasSuffix(opts.Out, ".safetensors") {
			return &UsageError{Msg: fmt.Sprintf("--out %q: want a FILE.safetensors", opts.Out)}
		}
	case checkpoint.FormatNPY:
		if !strings.HasSuffix(opts.Out, ".npy") {
			return &UsageError{Msg: fmt.Sprintf("--out %q: want a FILE.npy with --format npy", opts.Out)}
		}
	}
	if opts.Limit < 0 {
		return &UsageError{Msg: fmt.Sprintf("--limit %d: want 0 or more", opts.Limit)}
	}
	samples := strings.TrimSuffix(strings.TrimSuffix(opts.Out, ".npy"), ".safetensors") + ".samples.parquet"
	if opts.Format == checkpoint.FormatBergson {
		samples = filepath.Join(opts.Out, "samples.parquet")
	}
	if err := guardOutputs([]string{opts.Checkpoint, opts.Samples}, output{flag: "out", path: opts.Out}, output{flag: "out (sample table)", path: samples}); err != nil {
		return err
	}
	m, tok, err := loadModel(opts.Checkpoint)
	if err != nil {
		return err
	}
	if _, err := m.Select(opts.Tensors...); err != nil {
		return &UsageError{Msg: "--tensors: " + strings.TrimPrefix(err.Error(), "policy: ")}
	}
	prog, done := progress(e, "gradients")
	format := opts.Format
	if format == "" {
		format = checkpoint.FormatSafetensors
	}
	rep, err := analysis.WriteGradsAs(ctx, m, tok, []string{opts.Samples}, opts.Out, format, checkpoint.DType(opts.DType), analysis.GradsOptions{
		ModelOptions: analysis.ModelOptions{Limit: opts.Limit, Progress: prog},
		Tensors:      opts.Tensors,
		Checkpoint:   opts.Checkpoint,
	})
	done()
	if err != nil {
		return err
	}
	logSources(e, rep.Sources)
	w := e.Stdout
	fmt.Fprintf(w, "%d step records from %d file(s): %d tokens, %d out of the vocabulary (<unk>) in %d records\n",
		rep.N, len(rep.Sources.Files), rep.Tokens.Tokens, rep.Tokens.Unknown, rep.Tokens.UnknownIn)
	scope := "every parameter"
	if len(opts.Tensors) > 0 {
		scope = fmt.Sprintf("%d of %d tensors", len(rep.Params), len(m.Tensors()))
	}
	dt := opts.DType
	if dt == "" {
		dt = "F32"
	}
	fmt.Fprintf(w, "per-sample gradients g_n = grad log pi(a_n | s_n): %d x %d %s (%.1f MB, %s) over %s\n\n",
		rep.N, rep.D, dt, float64(rep.Bytes)/1e6, format, scope)
	rows := make([]GradParamRow, len(rep.Params))
	for i, p := range rep.Params {
		size := 1
		dims := make([]string, len(p.Shape))
		for j, d := range p.Shape {
			size *= d
			dims[j] = strconv.Itoa(d)
		}
		rows[i] = GradParamRow{Tensor: p.Name, Columns: fmt.Sprintf("%d-%d", p.Offset, p.Offset+size-1), Shape: "[" + strings.Join(dims, ", ") + "]"}
	}
	if err := emit(w, "", rows, nil); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwrote %s\nwrote %s\n", opts.Out, rep.SamplesPath)
	return nil
}
