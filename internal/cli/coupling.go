package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/coupling"
	"github.com/gradcouple/gradcouple/internal/cluster"
	"github.com/gradcouple/gradcouple/internal/table"
	"github.com/gradcouple/gradcouple/policy/hf"
	ucli "github.com/urfave/cli/v2"
)

// CouplingOptions are the inputs of `gradcouple coupling`.
type CouplingOptions struct {
	Runs []string
	// External store mode.
	Grads, Samples, GradsTensor, Name string
	// Preconditioner is a file with the diagonal of P over the store's
	// columns (--preconditioner).
	Preconditioner string
	// Model mode: Runs are logs, the gradients those of a Hugging Face
	// model (qwen2, qwen3, llama) over Modules; Exact computes the inner
	// products from per-position factors, Project (> 0) stores Bergson's
	// per-module projections.
	// Emit writes job files for an engine ("slurm" or "k8s") into EmitDir
	// instead of computing: an array of Shards tasks of this coupling with
	// --shard auto, and the merge after them.
	Emit, EmitDir string
	Shards        int         // array tasks
	Cluster       cluster.Job // resources, image, claim (name, stages and commands are set by emit)
	Model         string
	Modules       []string
	Exact         bool
	Limit         int
	Actor         analysis.ActorOptions
	// Probe set.
	Probes, ProbesOut string
	NumProbes         int
	Pairs, Heat       int
	PositiveGood      float64
	ProbeSplit        string
	ProbeIterations   []int
	Seed              uint64
	// Analysis.
	Checkpoints []int
	Tensors     []string
	Eta         float64
	Kernel      string // sgd, adam or "" (the run's optimizer)
	LogProb     string // trained or full
	Project     int
	ProjectSeed uint64
	MaxBytes    int64
	SimEdges    []float64
	// Shards and exports.
	Shard        string
	ShardDir     string
	TileRows     int
	Export       string
	ExportFormat string
	ExportDType  string
	// Outputs.
	Out, SimOut, HeatmapOut string
	// Strata: nulls, intervals, twins (analysis.StrataOptions).
	StrataOut, BandsOut string
	Null, Boot, Twins   int
	TwinDistance        float64
}

func newCouplingCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:      "coupling",
		Usage:     "gradient coupling per checkpoint: group cosines, harmful coupling, similar states, separation, measured influence (paper Fig. 3)",
		ArgsUsage: "RUN... | --grads STORE --samples TABLE",
		Description: "With run directories (runs/NAME: run.json, logs/, checkpoints/iter-NNNNNN/), a probe set of\n" +
			"labelled (state, action) samples is drawn once from the logs of all runs (seeded; half good,\n" +
			"half bad, --positive-good of the good ones with A > 0; one per distinct (task, state, action))\n" +
			"and written to --probes-out; reuse it with --probes, so that every checkpoint of every run\n" +
			"compared sees the same samples. At every\n" +
			"checkpoint the exact per-sample gradients g_n = grad log pi(a_n|s_n) of the probes (log pi as\n" +
			"trained: constrained to the admissible actions, forced tokens dropped; --logprob full for the\n" +
			"full softmax), under the kernel K_ij = <g_i, P g_j> of the run's optimiser (--kernel adam: P from\n" +
			"the checkpoint's Adam moments, the default for bundled runs; --kernel sgd: P = I), give:\n" +
			"  cos_good, cos_bad, cos_good_bad  mean gradient cosines within and across labels\n" +
			"  harmful_rate, harmful_mass       pairs (i good with A_i > 0, j bad, other state) whose first-\n" +
			"                                   order Delta_ij (eta A_i K_ij; times the Adam step's factor c)\n" +
			"                                   is > 0, and the mean positive Delta\n" +
			"  pair_cos_jaccard                 gradient cosine of good/bad pairs with the most similar prompts\n" +
			"  probe_acc_state, probe_acc_verdict  linear-probe accuracy of good vs bad from the hidden state\n" +
			"                                   at the last prompt token and at the GCD verdict marker\n" +
			"  heat_pearson, heat_rel_err       agreement of the heatmap's predicted Delta_ij with the change of\n" +
			"                                   log pi(a_j|s_j) measured after the real step on sample i (plain\n" +
			"                                   SGD, or the trainer's Adam update) applied to a copy\n" +
			"--sim-out has harmful coupling by prompt Jaccard bins; --heatmap-out every heatmap cell;\n" +
			"--strata-out the statistics per pair stratum (twins, same state, same action and label,\n" +
			"random, all) with bootstrap intervals, permutation-null means and p-values; --bands-out\n" +
			"harmful coupling by token edit similarity and hidden-state cosine bands.\n\n" +
			"With --model DIR (a Hugging Face qwen2, qwen3 or llama directory) the arguments are logs\n" +
			"(converted step records): every record's gradient under the model over --modules (globs over\n" +
			"its module and tensor names, e.g. model.layers.23.*,lm_head), labelled by the record (label,\n" +
			"advantage, state_key or prompt), with the sgd kernel; --exact computes <g_i, g_j> from\n" +
			"per-position factors without materialising the gradients, --project P keeps Bergson's P x P\n" +
			"projection per linear module, neither keeps dense rows. The expected time and memory are\n" +
			"printed before starting. To shard, write a store with `model grads` and use --grads.\n\n" +
			"With --grads STORE --samples TABLE the same gradient statistics come from per-sample gradients\n" +
			"computed elsewhere: a Bergson index directory (gradients.bin + info.json, or its shards/), a\n" +
			"NumPy .npy (float32/float16, C order) or a .safetensors (tensor \"grads\" [N, D], or\n" +
			"--grads-tensor). TABLE (.parquet, .csv, .jsonl) has label (1 good, 0 bad, -1 unknown) and\n" +
			"optionally advantage, state_key, prompt (for similarity bins) and row (the store row).\n\n" +
			"Memory: the N x D rows and the N x N Gram must fit --max-bytes; --project K keeps N x K rows.\n" +
			"--shard i/n writes the Gram tiles of shard i to --shard-dir instead; `gradcouple merge` joins them.",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "grads", Usage: "analyse the external gradient store `STORE` (Bergson dir, .npy, .safetensors)"},
			&ucli.StringFlag{Name: "model", Usage: "the arguments are logs, the gradients those of the Hugging Face model in `DIR` (qwen2, qwen3, llama)"},
			&ucli.StringFlag{Name: "emit", Usage: "write job files for `ENGINE` slurm or k8s into --emit-dir instead of computing: an array of --shards tasks (--shard auto) and the merge after them"},
			&ucli.StringFlag{Name: "emit-dir", Value: "jobs", Usage: "--emit: the shared `DIR` for the job files, the probe set, the shards and the merged table"},
			&ucli.IntFlag{Name: "shards", Value: 4, Usage: "--emit: array tasks `N` (one Gram shard each)"},
			&ucli.StringFlag{Name: "modules", Usage: "--model: tensors and modules `GLOB,...` (e.g. model.layers.23.*,lm_head; default all)"},
			&ucli.BoolFlag{Name: "exact", Usage: "--model: exact inner products from per-position factors, without dense rows"},
			&ucli.IntFlag{Name: "limit", Usage: "--model: use only the first `N` step records (0: all)"},
			&ucli.StringFlag{Name: "prompt", Value: analysis.PromptRaw, Usage: "--model: the logged prompt is `FORMAT` raw or chat"},
			&ucli.StringFlag{Name: "precision", Value: "float32", Usage: "--model: compute in `TYPE` float32 or float64"},
			&ucli.StringFlag{Name: "samples", Usage: "sample `TABLE` labelling the rows of --grads (.parquet, .csv, .jsonl)"},
			&ucli.StringFlag{Name: "preconditioner", Usage: "with --grads: `FILE` (.npy or .safetensors vector of D entries) with the diagonal of the optimizer's preconditioner P, e.g. Adam's 1/(sqrt(v_hat)+eps); the kernel becomes <g_i, P g_j> (kernel column: diag). Default: the rows as stored (sgd)"},
			&ucli.StringFlag{Name: "grads-tensor", Usage: "the `NAME` of the matrix in a .safetensors store (default grads)"},
			&ucli.StringFlag{Name: "name", Usage: "`NAME` of the store in the output (default: its file name)"},
			&ucli.StringFlag{Name: "probes", Usage: "reuse the probe set `FILE` (.parquet written by --probes-out)"},
			&ucli.StringFlag{Name: "probes-out", Value: "coupling-probes.parquet", Usage: "write the drawn probe set to `FILE`"},
			&ucli.IntFlag{Name: "num-probes", Value: 256, Usage: "probe samples `N` (half good, half bad)"},
			&ucli.IntFlag{Name: "pairs", Value: 32, Usage: "similar-state pairs `P` of each kind (prompt Jaccard, hidden cosine)"},
			&ucli.IntFlag{Name: "heat", Value: 8, Usage: "heatmap side `H`: H good samples x H bad samples"},
			&ucli.Float64Flag{Name: "positive-good", Value: 0.5, Usage: "share `F` of good probes drawn from records with a positive advantage (0: uniform)"},
			&ucli.StringFlag{Name: "probe-split", Value: "train", Usage: "draw probes from `SPLIT` records"},
			&ucli.StringFlag{Name: "probe-iterations", Usage: "draw probes from log iterations `LIST` (default: all)"},
			&ucli.Uint64Flag{Name: "seed", Value: 1, Usage: "`SEED` of the probe draw and the linear probes"},
			&ucli.StringFlag{Name: "checkpoints", Usage: "analyse checkpoint iterations `LIST` (default: every checkpoint)"},
			&ucli.StringFlag{Name: "tensors", Usage: "gradients over the tensors `NAME,...` only (HF names, or prefixes ending in '.')"},
			&ucli.Float64Flag{Name: "eta", Value: analysis.DefaultEta, Usage: "step size `ETA` of Delta_ij = eta A_i K_ij and of the measured step"},
			&ucli.StringFlag{Name: "kernel", Usage: "coupling kernel `K`: sgd (K_ij = <g_i, g_j>) or adam (<g_i, P g_j>, P = diag(1/(sqrt(v_hat)+eps)) from the checkpoint's Adam moments); default the run's optimizer (adam for bundled runs; sgd for --grads stores)"},
			&ucli.StringFlag{Name: "logprob", Value: analysis.LogProbTrained, Usage: "`LOGPI` of the probe gradients: trained (constrained to the admissible actions, forced tokens dropped, as the trainer optimises it) or full (full-vocabulary softmax); not for --grads stores"},
			&ucli.IntFlag{Name: "project", Usage: "project each gradient to `K` dimensions (seeded Rademacher, JL scaling); 0: exact"},
			&ucli.Uint64Flag{Name: "project-seed", Usage: "`SEED` of the projection"},
			&ucli.StringFlag{Name: "max-bytes", Value: "4G", Usage: "memory budget `BYTES` of the dense rows and Gram (e.g. 512M, 16G; -1: none)"},
			&ucli.StringFlag{Name: "sim-edges", Usage: "prompt Jaccard bins `EDGES` (default 0,0.5,0.6,0.7,0.8,0.9,1)"},
			&ucli.StringFlag{Name: "shard", Usage: "compute only Gram shard `i/n` and write its tiles (see gradcouple merge); auto (or auto/N) takes i and n from a Slurm job array (SLURM_ARRAY_TASK_ID, _MIN, _MAX) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, N from auto/N or GRADCOUPLE_SHARDS)"},
			&ucli.StringFlag{Name: "shard-dir", Value: "shards", Usage: "write shard files to `DIR`"},
			&ucli.IntFlag{Name: "tile-rows", Usage: "Gram tile side `T` for --shard (default 512; the same for every shard)"},
			&ucli.StringFlag{Name: "export", Usage: "also write each checkpoint's probe gradients as a store in `DIR`"},
			&ucli.StringFlag{Name: "export-format", Value: "npy", Usage: "store `FORMAT` of --export: npy, bergson or safetensors"},
			&ucli.StringFlag{Name: "export-dtype", Value: "F32", Usage: "element `TYPE` of --export: F32 or F16"},
			outFlag,
			&ucli.StringFlag{Name: "sim-out", Usage: "write harmful coupling by prompt similarity to `FILE` (.parquet, .csv, .json)"},
			&ucli.StringFlag{Name: "heatmap-out", Usage: "write the heatmap cells (predicted and measured Delta) to `FILE`"},
			&ucli.StringFlag{Name: "strata-out", Usage: "write coupling per pair stratum (twins, same state, same action and label, random, all) with intervals, null means and p-values to `FILE`"},
			&ucli.StringFlag{Name: "bands-out", Usage: "write harmful coupling by token edit similarity and hidden-state cosine bands to `FILE`"},
			&ucli.IntFlag{Name: "null", Value: 999, Usage: "permutation-null draws `B` per statistic and stratum (seeded by --seed; negative: none)"},
			&ucli.IntFlag{Name: "boot", Value: 1000, Usage: "bootstrap draws `B` over probes for the 95% intervals (negative: none)"},
			&ucli.IntFlag{Name: "twins", Usage: "oversample twin pairs into the probe set up to `N` pairs (0: uniform draw; the number available is printed)"},
			&ucli.Float64Flag{Name: "twin-distance", Value: 0.1, Usage: "largest normalised token edit distance `D` of twin prompts"},
		}, emitFlags()...),
		Action: func(c *ucli.Context) error {
			prec := c.String("precision")
			if prec != "float32" && prec != "float64" {
				return &UsageError{Msg: fmt.Sprintf("coupling: --precision %q: want float32 or float64", prec)}
			}
			o := CouplingOptions{Runs: c.Args().Slice(), Grads: c.String("grads"), Samples: c.String("samples"),
				Model: c.String("model"), Modules: splitList(c.String("modules")), Exact: c.Bool("exact"), Limit: c.Int("limit"),
				Emit: c.String("emit"), EmitDir: c.String("emit-dir"),
				Shards: c.Int("shards"), Cluster: emitJobOf(c),
				Actor:       analysis.ActorOptions{Prompt: c.String("prompt"), Float64: prec == "float64"},
				GradsTensor: c.String("grads-tensor"), Name: c.String("name"), Preconditioner: c.String("preconditioner"),
				Probes: c.String("probes"), ProbesOut: c.String("probes-out"), NumProbes: c.Int("num-probes"),
				Pairs: c.Int("pairs"), Heat: c.Int("heat"), PositiveGood: c.Float64("positive-good"), ProbeSplit: c.String("probe-split"), Seed: c.Uint64("seed"),
				Eta: c.Float64("eta"), Kernel: c.String("kernel"), LogProb: c.String("logprob"), Project: c.Int("project"), ProjectSeed: c.Uint64("project-seed"),
				Shard: c.String("shard"), ShardDir: c.String("shard-dir"), TileRows: c.Int("tile-rows"),
				Export: c.String("export"), ExportFormat: c.String("export-format"), ExportDType: c.String("export-dtype"),
				Out: c.String("out"), SimOut: c.String("sim-out"), HeatmapOut: c.String("heatmap-out"),
				StrataOut: c.String("strata-out"), BandsOut: c.String("bands-out"), Null: c.Int("null"), Boot: c.Int("boot"),
				Twins: c.Int("twins"), TwinDistance: c.Float64("twin-distance")}
			if !c.IsSet("probes-out") && o.Probes != "" {
				o.ProbesOut = ""
			}
			var err error
			if o.MaxBytes, err = parseBytes("max-bytes", c.String("max-bytes")); err != nil {
				return err
			}
			if s := c.String("checkpoints"); s != "" {
				if o.Checkpoints, err = parseInts("checkpoints", s); err != nil {
					return err
				}
			}
			if s := c.String("probe-iterations"); s != "" {
				if o.ProbeIterations, err = parseInts("probe-iterations", s); err != nil {
					return err
				}
			}
			if s := c.String("sim-edges"); s != "" {
				if o.SimEdges, err = parseFloats("sim-edges", s); err != nil {
					return err
				}
			}
			o.Tensors = splitList(c.String("tensors"))
			return runCoupling(c.Context, o, e)
		},
	}
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// parseBytes parses a byte count with an optional K, M, G or T suffix
// (powers of 1024); -1 means no limit.
func parseBytes(flag, s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "B")
	mult := int64(1)
	for i, suf := range []string{"K", "M", "G", "T"} {
		if strings.HasSuffix(t, suf) {
			mult = int64(1) << (10 * (i + 1))
			t = strings.TrimSuffix(t, suf)
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || (v < 0 && v != -1) || v*float64(mult) > math.MaxInt64/2 {
		return 0, &UsageError{Msg: fmt.Sprintf("--%s %q: want a byte count such as 512M or 16G, or -1 for no limit", flag, s)}
	}
	if v == -1 {
		return -1, nil
	}
	if v == 0 {
		return 0, &UsageError{Msg: fmt.Sprintf("--%s %q: want a positive byte count, or -1 for no limit", flag, s)}
	}
	return int64(v * float64(mult)), nil
}

func (o CouplingOptions) check() error {
	if err := firstErr(checkOut(o.Out), checkOut(o.SimOut), checkOut(o.HeatmapOut), checkOut(o.StrataOut), checkOut(o.BandsOut)); err != nil {
		return err
	}
	if !(o.TwinDistance > 0 && o.TwinDistance < 1) || o.Twins < 0 {
		return &UsageError{Msg: "coupling: --twin-distance must be in (0, 1) and --twins >= 0"}
	}
	switch o.Kernel {
	case "", "sgd", "adam":
	default:
		return &UsageError{Msg: fmt.Sprintf("--kernel %q: want sgd or adam", o.Kernel)}
	}
	switch o.LogProb {
	case "", analysis.LogProbTrained, analysis.LogProbFull:
	default:
		return &UsageError{Msg: fmt.Sprintf("--logprob %q: want trained or full", o.LogProb)}
	}
	if o.Model == "" && (len(o.Modules) > 0 || o.Exact || o.Limit != 0) {
		return &UsageError{Msg: "coupling: --modules, --exact and --limit apply with --model DIR"}
	}
	if o.Model != "" {
		switch {
		case o.Grads != "":
			return &UsageError{Msg: "coupling: give either --model DIR with logs or --grads STORE --samples TABLE, not both"}
		case len(o.Runs) == 0:
			return &UsageError{Msg: "coupling --model: want the logs LOG... (converted step records) as arguments"}
		case o.Kernel == "adam":
			return &UsageError{Msg: "coupling --model: a Hugging Face directory carries no Adam moments; give the diagonal of P (e.g. 1/(sqrt(v_hat)+eps) exported from the trainer's optimizer state) with --preconditioner FILE"}
		case o.Samples != "" || o.Probes != "" || o.Export != "":
			return &UsageError{Msg: "coupling --model: --samples, --probes and --export apply to stores and runs; the records of the logs are the samples"}
		case o.Preconditioner != "" && (o.Exact || o.Project > 0):
			return &UsageError{Msg: "coupling --model: --preconditioner scales dense rows; it does not combine with --exact or --project"}
		case o.Shard != "":
			return &UsageError{Msg: "coupling --model: to shard, write a store with `gradcouple model grads` and run coupling --grads STORE --shard i/n"}
		case o.Exact && o.Project > 0:
			return &UsageError{Msg: "coupling --model: --exact and --project exclude each other"}
		case o.Limit < 0:
			return &UsageError{Msg: fmt.Sprintf("coupling: --limit %d: want 0 or more", o.Limit)}
		}
		if o.LogProb == analysis.LogProbFull {
			return &UsageError{Msg: "coupling --model: --logprob does not apply: a Hugging Face model's log pi is its full softmax"}
		}
	} else if o.Grads != "" {
		if o.Kernel == "adam" {
			return &UsageError{Msg: "coupling --grads: --kernel adam needs a checkpoint's Adam moments; give the preconditioner's diagonal with --preconditioner FILE (or precondition the rows before export, e.g. Bergson's Adam normalizers)"}
		}
		if o.LogProb == analysis.LogProbFull {
			return &UsageError{Msg: "coupling --grads: --logprob does not apply to a store: its rows are whatever gradients were exported"}
		}
		if len(o.Runs) > 0 {
			return &UsageError{Msg: "coupling: give either run directories or --grads STORE --samples TABLE, not both"}
		}
		if o.Samples == "" {
			return &UsageError{Msg: "coupling --grads: --samples TABLE is required (label, advantage, state_key, prompt per row)"}
		}
	} else {
		if len(o.Runs) == 0 {
			return &UsageError{Msg: "coupling: want RUN... (run directories with checkpoints/), --grads STORE --samples TABLE, or --model DIR LOG...; see 'gradcouple coupling --help'"}
		}
		if o.Samples != "" {
			return &UsageError{Msg: "coupling: --samples labels an external store (--grads); the probes of a run come from its logs (--num-probes)"}
		}
		if o.Preconditioner != "" {
			return &UsageError{Msg: "coupling: --preconditioner applies to --grads stores; a run's kernel comes from its checkpoints (--kernel)"}
		}
	}
	if o.Eta <= 0 || math.IsInf(o.Eta, 0) {
		return &UsageError{Msg: fmt.Sprintf("--eta %v: want a positive step size", o.Eta)}
	}
	if o.PositiveGood < 0 || o.PositiveGood > 1 {
		return &UsageError{Msg: fmt.Sprintf("--positive-good %v: want a share in [0, 1]", o.PositiveGood)}
	}
	if o.Project < 0 || o.NumProbes < 2 || o.TileRows < 0 {
		return &UsageError{Msg: "coupling: --project and --tile-rows must be >= 0 and --num-probes >= 2"}
	}
	if o.ProbesOut != "" && !strings.HasSuffix(strings.ToLower(o.ProbesOut), ".parquet") {
		return &UsageError{Msg: fmt.Sprintf("--probes-out %q: want a .parquet file", o.ProbesOut)}
	}
	if err := checkSplit(o.ProbeSplit); err != nil {
		return err
	}
	for i := 1; i < len(o.SimEdges); i++ {
		if !(o.SimEdges[i] > o.SimEdges[i-1]) {
			return &UsageError{Msg: "--sim-edges: want increasing numbers"}
		}
	}
	if len(o.SimEdges) == 1 {
		return &UsageError{Msg: "--sim-edges: want at least two edges"}
	}
	if o.Export != "" {
		if o.Grads != "" {
			return &UsageError{Msg: "--export writes the gradients of a run's probes; with --grads they already are a store"}
		}
		if err := analysis.CheckExport(o.ExportFormat, checkpoint.DType(strings.ToUpper(o.ExportDType))); err != nil {
			return &UsageError{Msg: "--export: " + err.Error()}
		}
	}
	for _, f := range []output{{flag: "out", path: o.Out}, {flag: "sim-out", path: o.SimOut}, {flag: "heatmap-out", path: o.HeatmapOut}, {flag: "probes-out", path: o.ProbesOut},
		{flag: "strata-out", path: o.StrataOut}, {flag: "bands-out", path: o.BandsOut}} {
		if f.path == "" {
			continue
		}
		if st, err := os.Stat(filepath.Dir(f.path)); err != nil || !st.IsDir() {
			return &UsageError{Msg: fmt.Sprintf("--%s %s: the directory %s does not exist", f.flag, f.path, filepath.Dir(f.path))}
		}
	}
	outs := []output{{flag: "out", path: o.Out}, {flag: "sim-out", path: o.SimOut}, {flag: "heatmap-out", path: o.HeatmapOut}, {flag: "probes-out", path: o.ProbesOut}, {flag: "export", path: o.Export},
		{flag: "strata-out", path: o.StrataOut}, {flag: "bands-out", path: o.BandsOut}}
	if o.Shard != "" {
		outs = append(outs, output{flag: "shard-dir", path: o.ShardDir, shared: true})
	}
	return guardOutputs(append([]string{o.Grads, o.Samples, o.Probes, o.Model}, o.Runs...), outs...)
}

func runCoupling(ctx context.Context, o CouplingOptions, e *Env) (err error) {
	if err := o.check(); err != nil {
		return err
	}
	if o.Emit != "" {
		return emitCoupling(ctx, o, e)
	}
	// No partial output: every file this call writes is listed, and removed
	// again if a later step fails (a later checkpoint, a bad --sim-out).
	var written []string
	_, statErr := os.Stat(o.Export)
	newExportDir := o.Export != "" && statErr != nil
	defer func() {
		if err != nil {
			for _, f := range written {
				os.RemoveAll(f)
			}
			if newExportDir {
				os.Remove(o.Export) // only if empty: the directory this call created
			}
		}
	}()
	opts := analysis.CouplingOptions{Checkpoints: o.Checkpoints, Tensors: o.Tensors, Eta: o.Eta, Kernel: o.Kernel, LogProb: o.LogProb, Project: o.Project,
		ProjectSeed: o.ProjectSeed, MaxBytes: o.MaxBytes, SimEdges: o.SimEdges, Seed: o.Seed}
	opts.Strata = analysis.StrataOptions{Null: o.Null, Boot: o.Boot, TwinDistance: o.TwinDistance}
	if o.Null == 0 {
		opts.Strata.Null = -1
	}
	if o.Boot == 0 {
		opts.Strata.Boot = -1
	}
	if o.Shard != "" {
		i, n, err := cluster.Shard(o.Shard, os.Getenv)
		if err != nil {
			return &UsageError{Msg: "--" + err.Error()}
		}
		opts.Shard = &analysis.ShardOptions{Index: i, Count: n, Dir: o.ShardDir, TileRows: o.TileRows}
	}
	if o.Export != "" {
		opts.Export = &analysis.ExportOptions{Dir: o.Export, Format: o.ExportFormat, DType: checkpoint.DType(strings.ToUpper(o.ExportDType))}
	}
	if e.Terminal {
		opts.Progress = func(what string) { fmt.Fprintf(e.Stderr, "\r\033[K%s", what) }
		defer fmt.Fprint(e.Stderr, "\r\033[K")
	}
	w := e.Stdout
	var rep *analysis.CouplingReport
	if o.Model != "" {
		r, err := runCouplingModel(ctx, o, opts, e)
		if err != nil {
			return couplingError(err)
		}
		rep = r
	} else if o.Grads != "" {
		var pre []float32
		if o.Preconditioner != "" {
			var err error
			if pre, err = checkpoint.ReadVector(o.Preconditioner, ""); err != nil {
				return couplingError(err)
			}
		}
		r, info, err := analysis.CouplingStore(ctx, o.Grads, o.Samples, analysis.StoreOptions{CouplingOptions: opts, Tensor: o.GradsTensor, Name: o.Name, Preconditioner: pre})
		if err != nil {
			return couplingError(err)
		}
		rep = r
		fmt.Fprintf(w, "%s store %s: %d x %d %s, %d modules; %d samples from %s (%d good, %d bad, %d unknown)",
			info.Format, o.Grads, info.Rows, info.Cols, info.DType, info.Modules, info.Samples, o.Samples, info.Good, info.Bad, info.Unknown)
		if !info.HasAdvantage {
			fmt.Fprint(w, "; no advantage column: every A_i = 0, so no harmful pairs")
		}
		fmt.Fprintln(w)
	} else {
		var runs []analysis.Run
		for _, d := range o.Runs {
			r, err := analysis.OpenRun(d)
			if err != nil {
				return err
			}
			runs = append(runs, r)
		}
		ps, err := couplingProbes(ctx, o, runs, e)
		if err != nil {
			return err
		}
		r, err := analysis.Coupling(ctx, runs, ps, opts)
		if r != nil {
			written = append(written, r.Exports...)
		}
		if err != nil {
			return couplingError(err)
		}
		rep = r
		if o.ProbesOut != "" {
			if err := analysis.WriteProbes(o.ProbesOut, ps); err != nil {
				return err
			}
			written = append(written, o.ProbesOut)
			fmt.Fprintf(w, "wrote %s (reuse with --probes to analyse other runs on the same samples)\n", o.ProbesOut)
		}
		if rep.FullLogProb > 0 {
			fmt.Fprintf(e.Stderr, "warning: %d probes keep the full-vocabulary log pi: their action is not among the admissible actions their prompt lists, so no constrained decoder produced it\n", rep.FullLogProb)
		}
		if rep.Unknown > 0 {
			fmt.Fprintf(w, "warning: %d probe tokens are not in a checkpoint's vocabulary (<unk>)\n", rep.Unknown)
		}
	}
	if opts.Shard != nil {
		for _, f := range rep.Shards {
			fmt.Fprintf(w, "wrote %s\n", f)
		}
		fmt.Fprintf(w, "Gram shard %s written; when every shard is done: gradcouple merge %s/*.safetensors\n", o.Shard, o.ShardDir)
		return nil
	}
	fmt.Fprintln(w)
	if err := emit(w, o.Out, rep.Rows, map[string]string{"eta": strconv.FormatFloat(opts.Eta, 'g', -1, 64)}); err != nil {
		return err
	}
	if o.Out != "" {
		written = append(written, o.Out)
	}
	for _, r := range rep.Rows {
		if !math.IsNaN(r.HeatPearson) {
			fmt.Fprintf(w, "%s iteration %d: heatmap predicted vs measured Delta log pi at eta %g: Pearson r %.6f, relative error %.2e, slope %.4f (largest |predicted| %.3g)\n",
				r.Run, r.Iteration, o.Eta, r.HeatPearson, r.HeatRelErr, r.HeatSlope, r.HeatScale)
		}
	}
	if o.SimOut != "" {
		if err := emitFile(w, o.SimOut, rep.BySim, nil); err != nil {
			return err
		}
		written = append(written, o.SimOut)
	}
	if o.HeatmapOut != "" {
		if err := emitFile(w, o.HeatmapOut, rep.Heat, nil); err != nil {
			return err
		}
	}
	if err := emitStrata(w, o, rep, &written); err != nil {
		return err
	}
	for _, f := range rep.Exports {
		fmt.Fprintf(w, "wrote %s\n", f)
	}
	return nil
}

// couplingProbes reads the probe file or draws the probe set and writes it.
func couplingProbes(ctx context.Context, o CouplingOptions, runs []analysis.Run, e *Env) (*analysis.ProbeSet, error) {
	w := e.Stdout
	if o.Probes != "" {
		ps, err := analysis.ReadProbes(o.Probes)
		if err != nil {
			return nil, err
		}
		good, bad := ps.Heat()
		fmt.Fprintf(w, "%d probes from %s (%d heatmap cells, %d pairs)\n", len(ps.Probes), o.Probes, len(good)*len(bad), len(ps.Pairs))
		return ps, nil
	}
	po := analysis.ProbeOptions{Split: o.ProbeSplit, Iterations: o.ProbeIterations, Samples: o.NumProbes, Pairs: o.Pairs,
		Heatmap: o.Heat, PositiveGood: o.PositiveGood, Seed: o.Seed, Reference: runs[0].CheckpointDir(runs[0].Checkpoints[0]),
		Twins: o.Twins, TwinDistance: o.TwinDistance}
	if o.Pairs == 0 {
		po.Pairs = -1
	}
	if o.Heat == 0 {
		po.Heatmap = -1
	}
	if o.PositiveGood == 0 {
		po.PositiveGood = -1
	}
	ps, src, err := analysis.SelectProbes(ctx, runs, po)
	if err != nil {
		return nil, err
	}
	logSources(e, src)
	nGood := 0
	for _, p := range ps.Probes {
		if p.Label == 1 {
			nGood++
		}
	}
	good, bad := ps.Heat()
	fmt.Fprintf(w, "%d probes (%d good, %d bad) drawn with seed %d from %d distinct good and %d bad %s (state, action) pairs in %d step records\n",
		len(ps.Probes), nGood, len(ps.Probes)-nGood, o.Seed, ps.Candidates[1], ps.Candidates[0], po.Split, src.Rows)
	fmt.Fprintf(w, "heatmap %d x %d; %d similar-state pairs (reference for hidden-state cosine: %s)\n",
		len(good), len(bad), len(ps.Pairs), po.Reference)
	if o.Twins > 0 {
		t := ps.Twins
		fmt.Fprintf(w, "twins: %d pairs exist among the pooled records (%d same-action good x bad pairs compared of %d", t.Found, t.Compared, t.Candidates)
		if t.Truncated {
			fmt.Fprint(w, "; work bound reached")
		}
		fmt.Fprintf(w, "); %d taken of the %d asked\n", t.Taken, o.Twins)
	}
	return ps, nil
}

// couplingError marks a refused memory budget as bad input: the request,
// not the machine, is at fault, and the message says what to change.
func couplingError(err error) error {
	if errors.Is(err, coupling.ErrTooLarge) {
		return badInput(err)
	}
	return err
}

// emitStrata prints the per-stratum table (not on a data stdout) and
// writes --strata-out and --bands-out.
func emitStrata(w io.Writer, o CouplingOptions, rep *analysis.CouplingReport, written *[]string) error {
	if len(rep.Strata) == 0 {
		return nil
	}
	if _, data := w.(*dataStdout); !data {
		t := rep.Twins
		fmt.Fprintf(w, "\ntwins (distinct states, same action, good and bad, token edit distance <= %g of the prompt): %d of %d same-action good x bad pairs compared",
			o.TwinDistance, t.Twins, t.Compared)
		if t.Truncated {
			fmt.Fprintf(w, " (work bound reached: %d candidates not compared)", t.Candidates-t.Compared)
		}
		fmt.Fprintf(w, "\nper stratum: statistic, 95%% bootstrap interval over probes (%d draws), permutation-null mean and two-sided p = (1 + #{|null - mean| >= |obs - mean|}) / (1 + %d), seed %d\n",
			o.Boot, o.Null, o.Seed)
		if err := table.WriteText(w, rep.Strata); err != nil {
			return err
		}
	}
	meta := map[string]string{"seed": strconv.FormatUint(o.Seed, 10), "null_draws": strconv.Itoa(o.Null), "boot_draws": strconv.Itoa(o.Boot)}
	for _, f := range []struct {
		path string
		rows any
	}{{o.StrataOut, rep.Strata}, {o.BandsOut, rep.Bands}} {
		if f.path == "" {
			continue
		}
		if err := emitFile(w, f.path, f.rows, meta); err != nil {
			return err
		}
		*written = append(*written, f.path)
	}
	return nil
}

// runCouplingModel computes coupling on the records of logs under a
// Hugging Face model.
func runCouplingModel(ctx context.Context, o CouplingOptions, opts analysis.CouplingOptions, e *Env) (*analysis.CouplingReport, error) {
	a, err := analysis.OpenActor(o.Model, o.Actor)
	if err != nil {
		return nil, badInput(err)
	}
	if _, ok := analysis.HFModelType(o.Model); !ok {
		return nil, &UsageError{Msg: fmt.Sprintf("coupling --model %s: not a Hugging Face qwen2, qwen3 or llama directory (a run of the bundled trainer is an argument: coupling RUN)", o.Model)}
	}
	hopts := analysis.HFGradOptions{Modules: o.Modules}
	switch {
	case o.Exact:
		hopts.Form = analysis.GradExact
	case o.Project > 0:
		hopts.Form, hopts.Project = analysis.GradBergson, o.Project
		opts.Project = 0 // the projection is Bergson's, per module
	}
	name := o.Name
	if name == "" {
		name = filepath.Base(filepath.Clean(o.Model))
	}
	prog, done := progress(e, "gradients")
	defer done()
	var pre []float32
	if o.Preconditioner != "" {
		if pre, err = checkpoint.ReadVector(o.Preconditioner, ""); err != nil {
			return nil, err
		}
	}
	rep, err := analysis.CouplingHF(ctx, a, o.Runs, analysis.CouplingHFOptions{CouplingOptions: opts, HFGradOptions: hopts, Preconditioner: pre,
		Limit: o.Limit, Name: name, Samples: prog, Estimate: func(est analysis.HFGradsEstimate) { printEstimate(e, a.Describe(), est) }})
	if err != nil {
		if errors.Is(err, hf.ErrNoTensor) {
			return nil, &UsageError{Msg: "coupling --modules: " + err.Error()}
		}
		return nil, err
	}
	form := "dense rows"
	switch hopts.Form {
	case analysis.GradExact:
		form = "exact inner products from per-position factors"
	case analysis.GradBergson:
		form = fmt.Sprintf("Bergson's per-module projection, P = %d", o.Project)
	}
	r := rep.Rows[0]
	fmt.Fprintf(e.Stdout, "%d step records of %s under %s: gradients over %s, %s; kernel %s\n", r.N, strings.Join(o.Runs, " "), a.Describe(), moduleList(o.Modules), form, r.Kernel)
	return rep, nil
}

// moduleList names the selected modules for a message.
func moduleList(globs []string) string {
	if len(globs) == 0 {
		return "every tensor"
	}
	return strings.Join(globs, ",")
}

// emitCoupling draws the probe set once and writes the job files of a
// sharded coupling over the runs' checkpoints: every task reads the same
// probes, computes its shard of each checkpoint's Gram into EmitDir/shards
// (keeping a finished one), and the merge writes EmitDir/coupling.csv.
func emitCoupling(ctx context.Context, o CouplingOptions, e *Env) error {
	switch {
	case o.Emit != "slurm" && o.Emit != "k8s":
		return &UsageError{Msg: fmt.Sprintf("coupling --emit %q: want slurm or k8s", o.Emit)}
	case o.Grads != "" || o.Model != "" || len(o.Runs) == 0:
		return &UsageError{Msg: "coupling --emit: give the run directories (RUN...); stores and --model are not sharded by --emit"}
	case o.Shard != "" || o.Export != "" || o.Out != "" || o.SimOut != "" || o.HeatmapOut != "" || o.StrataOut != "" || o.BandsOut != "":
		return &UsageError{Msg: "coupling --emit: the job files choose --shard and the outputs; drop --shard, --export and the --*-out flags"}
	case o.Shards < 1:
		return &UsageError{Msg: fmt.Sprintf("coupling --emit: --shards %d: want at least 1", o.Shards)}
	}
	dir, err := filepath.Abs(o.EmitDir)
	if err != nil {
		return err
	}
	var runs []analysis.Run
	var abs []string
	for _, d := range o.Runs {
		r, err := analysis.OpenRun(d)
		if err != nil {
			return err
		}
		runs = append(runs, r)
		a, err := filepath.Abs(d)
		if err != nil {
			return err
		}
		abs = append(abs, a)
	}
	probes := filepath.Join(dir, "probes.parquet")
	if o.Probes == "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		po := o
		po.ProbesOut = probes
		ps, err := couplingProbes(ctx, po, runs, e)
		if err != nil {
			return err
		}
		if err := analysis.WriteProbes(probes, ps); err != nil {
			return err
		}
	} else if probes, err = filepath.Abs(o.Probes); err != nil {
		return err
	}
	task := append([]string{"gradcouple", "coupling"}, abs...)
	task = append(task, "--probes", probes, "--shard", "auto", "--shard-dir", filepath.Join(dir, "shards"),
		"--seed", strconv.FormatUint(o.Seed, 10), "--eta", strconv.FormatFloat(o.Eta, 'g', -1, 64))
	if len(o.Checkpoints) > 0 {
		task = append(task, "--checkpoints", joinInts(o.Checkpoints))
	}
	if len(o.Tensors) > 0 {
		task = append(task, "--tensors", strings.Join(o.Tensors, ","))
	}
	if o.Kernel != "" {
		task = append(task, "--kernel", o.Kernel)
	}
	if o.LogProb != "" {
		task = append(task, "--logprob", o.LogProb)
	}
	if o.Project > 0 {
		task = append(task, "--project", strconv.Itoa(o.Project), "--project-seed", strconv.FormatUint(o.ProjectSeed, 10))
	}
	if o.TileRows > 0 {
		task = append(task, "--tile-rows", strconv.Itoa(o.TileRows))
	}
	task = append(task, "--max-bytes", strconv.FormatInt(o.MaxBytes, 10))
	j := o.Cluster
	j.Name = "coupling-" + jobName(filepath.Base(abs[0]))
	j.Workdir = dir
	j.Stages = []cluster.Stage{{Tasks: o.Shards, Argv: task},
		{Name: "merge", Argv: []string{"gradcouple", "merge", filepath.Join(dir, "shards"), "--out", filepath.Join(dir, "coupling.csv"), "--max-bytes", strconv.FormatInt(o.MaxBytes, 10)}}}
	submit, err := writeJobFiles("coupling", o.Emit, dir, j, e)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "%d tasks; %s must be shared by every node. Submit with %s; a task that failed is re-run alone (its finished shards are kept), then the merge.\n",
		o.Shards, dir, submit)
	return nil
}

// writeJobFiles writes the job files of j for engine ("slurm" or "k8s")
// into dir, names each on stdout, and returns the submit script's path;
// cmd names the command in errors.
func writeJobFiles(cmd, engine, dir string, j cluster.Job, e *Env) (string, error) {
	var files []string
	var err error
	switch engine {
	case "slurm":
		files, err = cluster.WriteSlurm(dir, j)
	case "k8s":
		files, err = cluster.WriteK8s(dir, j)
	default:
		return "", &UsageError{Msg: fmt.Sprintf("%s --emit %q: want slurm or k8s", cmd, engine)}
	}
	if err != nil {
		return "", &UsageError{Msg: cmd + " --emit: " + err.Error()}
	}
	for _, f := range files {
		fmt.Fprintf(e.Stdout, "wrote %s\n", f)
	}
	return filepath.Join(dir, j.Name+"-submit.sh"), nil
}

// jobName makes s a valid job name: lower case, [a-z0-9-], at most 40.
func jobName(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	out := strings.Trim(string(b), "-")
	if len(out) > 40 {
		out = strings.Trim(out[:40], "-")
	}
	if out == "" {
		out = "run"
	}
	return out
}

// joinInts formats a list flag.
func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// emitFlags are the resource flags of the job files --emit writes (coupling
// and study).
func emitFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.IntFlag{Name: "parallel", Usage: "--emit: array tasks `N` running at once (0: all)"},
		&ucli.IntFlag{Name: "cpus", Value: 2, Usage: "--emit: cores `C` per task"},
		&ucli.StringFlag{Name: "mem", Value: "8G", Usage: "--emit: memory `M` per task (e.g. 8G)"},
		&ucli.StringFlag{Name: "time", Value: "04:00:00", Usage: "--emit slurm: time limit `T` per task"},
		&ucli.StringFlag{Name: "partition", Usage: "--emit slurm: `PARTITION`"},
		&ucli.StringFlag{Name: "image", Usage: "--emit k8s: container `IMAGE` holding gradcouple"},
		&ucli.StringFlag{Name: "pvc", Usage: "--emit k8s: PersistentVolumeClaim `NAME` mounted at the shared directory"},
	}
}

// emitJobOf reads the resource flags of emitFlags.
func emitJobOf(c *ucli.Context) cluster.Job {
	return cluster.Job{Parallel: c.Int("parallel"), CPUs: c.Int("cpus"), Mem: c.String("mem"),
		Time: c.String("time"), Partition: c.String("partition"), Image: c.String("image"), PVC: c.String("pvc")}
}
