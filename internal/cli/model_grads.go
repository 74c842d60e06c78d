package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/policy/hf"
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
	// Hugging Face models (qwen2, qwen3, llama):
	Modules []string              // tensor or module globs (hf SelectTensors)
	Project int                   // Bergson's per-module projection side p; 0: dense rows
	Actor   analysis.ActorOptions // prompt format, end token, precision
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
			"`gradcouple coupling --grads OUT --samples ...`.\n\n" +
			"A Hugging Face directory (qwen2, qwen3, llama; docs/models.md) takes --modules GLOB,... over\n" +
			"its module and tensor names as Bergson names them (model.layers.23.mlp, model.layers.2[23].*,\n" +
			"lm_head: for tied embeddings its output-projection use), and --project P to store Bergson's\n" +
			"per-module projection L G R^T (P x P per linear module, its Rademacher matrices bit for bit,\n" +
			"biases and norms left out as Bergson does) instead of dense rows; adjacent records with equal\n" +
			"prompts share one prompt pass, and the expected time and memory are printed before starting.",
		Flags: []ucli.Flag{
			checkpointFlag, samplesFlag,
			&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "write the gradient matrix to `FILE.safetensors` (and FILE.samples.parquet); FILE.npy or DIR with --format"},
			&ucli.StringFlag{Name: "format", Value: "safetensors", Usage: "store `FORMAT`: safetensors, npy or bergson"},
			&ucli.StringFlag{Name: "dtype", Value: "F32", Usage: "element `TYPE`: F32 or F16"},
			&ucli.StringFlag{Name: "tensors", Usage: "only the tensors `NAME,...` (HF names, or prefixes ending in '.', e.g. transformer.h.1.)"},
			limitFlag,
			&ucli.StringFlag{Name: "modules", Usage: "Hugging Face models: tensors and modules `GLOB,...` (e.g. model.layers.23.*,lm_head; default all)"},
			&ucli.IntFlag{Name: "project", Usage: "Hugging Face models: store Bergson's per-module projection with side `P` (P x P per module); 0: dense rows"},
			&ucli.StringFlag{Name: "prompt", Value: analysis.PromptRaw, Usage: "Hugging Face models: the logged prompt is `FORMAT` raw or chat"},
			&ucli.BoolFlag{Name: "no-end", Usage: "Hugging Face models: no end-of-turn token after the action"},
			&ucli.StringFlag{Name: "precision", Value: "float32", Usage: "Hugging Face models: compute in `TYPE` float32 or float64"},
		},
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 0, "no arguments"); err != nil {
				return err
			}
			tensors := splitList(c.String("tensors"))
			prec := c.String("precision")
			if prec != "float32" && prec != "float64" {
				return &UsageError{Msg: fmt.Sprintf("model grads: --precision %q: want float32 or float64", prec)}
			}
			return runModelGrads(c.Context, ModelGradsOptions{
				Checkpoint: c.String("checkpoint"), Samples: c.String("samples"), Out: c.String("out"),
				Tensors: tensors, Limit: c.Int("limit"), Format: c.String("format"), DType: strings.ToUpper(c.String("dtype")),
				Modules: splitList(c.String("modules")), Project: c.Int("project"),
				Actor: analysis.ActorOptions{Prompt: c.String("prompt"), NoEnd: c.Bool("no-end"), Float64: prec == "float64"},
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
	if kind, ok := analysis.HFModelType(opts.Checkpoint); ok && kind != "gpt2" {
		return runModelGradsHF(ctx, opts, e)
	}
	if len(opts.Modules) > 0 || opts.Project != 0 {
		return &UsageError{Msg: "model grads: --modules and --project are for Hugging Face qwen2, qwen3 and llama directories (the bundled actor takes --tensors)"}
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
	if err := emit(w, "", gradParamRows(rep.Params), nil); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwrote %s\nwrote %s\n", opts.Out, rep.SamplesPath)
	return nil
}

// runModelGradsHF is model grads on a Hugging Face qwen2, qwen3 or llama
// directory.
func runModelGradsHF(ctx context.Context, opts ModelGradsOptions, e *Env) error {
	if len(opts.Tensors) > 0 {
		return &UsageError{Msg: "model grads: a Hugging Face model selects tensors with --modules GLOB,... (--tensors is the bundled actor's)"}
	}
	if opts.Project < 0 {
		return &UsageError{Msg: fmt.Sprintf("model grads: --project %d: want 0 (dense rows) or a side P >= 1", opts.Project)}
	}
	a, err := analysis.OpenActor(opts.Checkpoint, opts.Actor)
	if err != nil {
		return badInput(err)
	}
	hopts := analysis.HFGradOptions{Modules: opts.Modules}
	if opts.Project > 0 {
		hopts.Form, hopts.Project = analysis.GradBergson, opts.Project
	}
	format := opts.Format
	if format == "" {
		format = checkpoint.FormatSafetensors
	}
	prog, done := progress(e, "gradients")
	rep, err := analysis.WriteGradsHF(ctx, a, []string{opts.Samples}, opts.Out, format, checkpoint.DType(opts.DType),
		analysis.GradsOptions{ModelOptions: analysis.ModelOptions{Limit: opts.Limit, Progress: prog}, Checkpoint: opts.Checkpoint},
		hopts, func(est analysis.HFGradsEstimate) { printEstimate(e, a.Describe(), est) })
	done()
	if err != nil {
		if errors.Is(err, hf.ErrNoTensor) {
			return &UsageError{Msg: "model grads: --modules: " + err.Error()}
		}
		return err
	}
	logSources(e, rep.Sources)
	w := e.Stdout
	what := "dense rows"
	if opts.Project > 0 {
		what = fmt.Sprintf("Bergson's per-module projection, P = %d", opts.Project)
	}
	fmt.Fprintf(w, "%d step records from %d file(s), %d tokens: per-sample gradients g_n = grad log pi(a_n | s_n) of %s: %d x %d %s (%.1f MB, %s; %s) over %d tensors\n\n",
		rep.N, len(rep.Sources.Files), rep.Tokens.Tokens, a.Describe(), rep.N, rep.D, opts.DType, float64(rep.Bytes)/1e6, format, what, len(rep.Params))
	if err := emit(w, "", gradParamRows(rep.Params), nil); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwrote %s\nwrote %s\n", opts.Out, rep.SamplesPath)
	return nil
}

// printEstimate tells the user, on stderr, what a run of per-sample
// gradients of a Hugging Face model is expected to cost.
func printEstimate(e *Env, model string, est analysis.HFGradsEstimate) {
	fmt.Fprintf(e.Stderr, "%s: %d samples in %d prompt groups, %d tokens; expected about %s (%.0f GFLOP at the %.1f GFLOP/s measured on one core; a rough estimate) and %.2f GB of memory\n",
		model, est.Samples, est.Groups, est.Tokens, roundDuration(est.Seconds), est.GFLOP, est.GFLOPS, float64(est.Bytes)/1e9)
}

// roundDuration formats seconds for an estimate.
func roundDuration(s float64) string {
	switch {
	case s < 1:
		return "1 s or less"
	case s < 120:
		return fmt.Sprintf("%.0f s", s)
	case s < 7200:
		return fmt.Sprintf("%.0f min", s/60)
	}
	return fmt.Sprintf("%.1f h", s/3600)
}

// gradParamRows lists where each tensor's gradient sits in a row.
func gradParamRows(params []analysis.GradParam) []GradParamRow {
	rows := make([]GradParamRow, len(params))
	for i, p := range params {
		size := 1
		dims := make([]string, len(p.Shape))
		for j, d := range p.Shape {
			size *= d
			dims[j] = strconv.Itoa(d)
		}
		rows[i] = GradParamRow{Tensor: p.Name, Columns: fmt.Sprintf("%d-%d", p.Offset, p.Offset+size-1), Shape: "[" + strings.Join(dims, ", ") + "]"}
	}
	return rows
}
