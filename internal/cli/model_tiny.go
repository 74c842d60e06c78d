package cli

import (
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/policy"
	"github.com/gradcouple/gradcouple/policy/hf"
	ucli "github.com/urfave/cli/v2"
)

// ModelTinyOptions are the inputs of `gradcouple model tiny`.
type ModelTinyOptions struct {
	Type         string // qwen2, qwen3, llama or gpt2
	Tokenizer    string // directory with tokenizer.json[.gz], tokenizer_config.json, chat_template.jinja
	ChatTemplate string // a chat_template.jinja to use instead of the tokenizer directory's
	Out          string
	Shards       int    // 0: 2 (1 for gpt2)
	DType        string // "": BF16 (F32 for gpt2)
	Transformers int    // 4 or 5: the config.json layout
	Seed         uint64
}

func newModelTinyCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:  "tiny",
		Usage: "write a tiny random-weight Hugging Face checkpoint (qwen2, qwen3, llama or gpt2) in the exact layout transformers writes",
		Description: "For trying the commands that read users' models without downloading one: config.json as\n" +
			"transformers 4.x (or 5.x with --transformers 5) writes it, the weights as BF16 safetensors,\n" +
			"sharded with model.safetensors.index.json when --shards > 1, and the tokenizer files of\n" +
			"--tokenizer (a real tokenizer.json: the repository has Qwen3's and Llama-3's in testdata/hf).\n" +
			"The sizes are tiny (hidden 32, 2 layers, 4 query and 2 key-value heads) but the vocabulary,\n" +
			"special tokens, RoPE and norms are a real member's: Qwen2.5-0.5B-Instruct (qwen2), Qwen3-0.6B\n" +
			"(qwen3), Llama-3.1-8B-Instruct with llama3 RoPE scaling (llama). A gpt2 directory (d 32, 2 layers,\n" +
			"4 heads, GPT-2's 50,257 tokens and 1,024 positions) is written as save_pretrained writes\n" +
			"GPT2LMHeadModel: one F32 model.safetensors. See docs/models.md.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "type", Required: true, Usage: "model type `TYPE`: qwen2, qwen3, llama or gpt2"},
			&ucli.StringFlag{Name: "tokenizer", Required: true, Usage: "directory `DIR` with tokenizer.json (or .json.gz) and tokenizer_config.json"},
			&ucli.StringFlag{Name: "chat-template", Usage: "`FILE` written as chat_template.jinja (else the tokenizer directory's, if any)"},
			&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "write the checkpoint directory `DIR` (must not exist)"},
			&ucli.IntFlag{Name: "shards", Usage: "safetensors files `N` (1: model.safetensors; default 2, gpt2 1)"},
			&ucli.StringFlag{Name: "dtype", Usage: "weight `TYPE`: BF16, F16 or F32 (default BF16, gpt2 F32)"},
			&ucli.IntFlag{Name: "transformers", Value: 4, Usage: "config.json as transformers `MAJOR` version 4 or 5 writes it"},
			&ucli.Uint64Flag{Name: "seed", Usage: "seed `S` of the weights"},
		},
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 0, "no arguments"); err != nil {
				return err
			}
			return runModelTiny(ModelTinyOptions{
				Type: c.String("type"), Tokenizer: c.String("tokenizer"), ChatTemplate: c.String("chat-template"),
				Out: c.String("out"), Shards: c.Int("shards"), DType: c.String("dtype"),
				Transformers: c.Int("transformers"), Seed: c.Uint64("seed"),
			}, e)
		},
	}
}

func runModelTiny(opts ModelTinyOptions, e *Env) error {
	if opts.Type == "gpt2" {
		return runModelTinyGPT2(opts, e)
	}
	cfg, ok := hf.TinyConfig(opts.Type)
	if !ok {
		return &UsageError{Msg: fmt.Sprintf("model tiny: --type %q: want qwen2, qwen3, llama or gpt2", opts.Type)}
	}
	if opts.Shards == 0 {
		opts.Shards = 2
	}
	if opts.DType == "" {
		opts.DType = string(checkpoint.BF16)
	}
	dt := checkpoint.DType(opts.DType)
	if dt != checkpoint.BF16 && dt != checkpoint.F16 && dt != checkpoint.F32 {
		return &UsageError{Msg: fmt.Sprintf("model tiny: --dtype %q: want BF16, F16 or F32", opts.DType)}
	}
	if opts.Transformers != 4 && opts.Transformers != 5 {
		return &UsageError{Msg: fmt.Sprintf("model tiny: --transformers %d: want 4 or 5", opts.Transformers)}
	}
	if opts.Shards < 1 || opts.Shards > 99 {
		return &UsageError{Msg: fmt.Sprintf("model tiny: --shards %d: want 1 to 99", opts.Shards)}
	}
	if err := checkTinyPaths(opts); err != nil {
		return err
	}
	t := hf.TinyOptions{ModelType: opts.Type, Transformers5: opts.Transformers == 5, Shards: opts.Shards,
		DType: dt, Seed: opts.Seed, Tokenizer: os.DirFS(opts.Tokenizer)}
	if opts.ChatTemplate != "" {
		b, err := os.ReadFile(opts.ChatTemplate)
		if err != nil {
			return badInput(err)
		}
		t.ChatTemplate = b
	}
	if err := hf.WriteTiny(opts.Out, t); err != nil {
		return badInput(err)
	}
	fmt.Fprintf(e.Stdout, "%s, seed %d: hidden %d, %d layers, %d/%d heads, vocabulary %d, %s in %d shard(s): %d parameters\n",
		opts.Type, opts.Seed, cfg.Hidden, cfg.Layers, cfg.Heads, cfg.KVHeads, cfg.VocabSize, dt, opts.Shards, cfg.NumParams())
	fmt.Fprintf(e.Stdout, "wrote %s\n", opts.Out)
	return nil
}

// checkTinyPaths refuses an existing --out, a --tokenizer that is not a
// directory, and an output that is one of the inputs.
func checkTinyPaths(opts ModelTinyOptions) error {
	if _, err := os.Lstat(opts.Out); err == nil {
		return &UsageError{Msg: fmt.Sprintf("model tiny: --out %s exists; choose a new directory", opts.Out)}
	}
	if fi, err := os.Stat(opts.Tokenizer); err != nil || !fi.IsDir() {
		return badInput(fmt.Errorf("model tiny: --tokenizer %s: want a directory holding tokenizer.json", opts.Tokenizer))
	}
	inputs := []string{opts.Tokenizer}
	if opts.ChatTemplate != "" {
		inputs = append(inputs, opts.ChatTemplate)
	}
	return guardOutputs(inputs, output{flag: "out", path: opts.Out})
}

// runModelTinyGPT2 writes a tiny random GPT-2 with GPT-2's vocabulary and
// positions, as save_pretrained writes GPT2LMHeadModel.
func runModelTinyGPT2(opts ModelTinyOptions, e *Env) error {
	if opts.Shards > 1 {
		return &UsageError{Msg: "model tiny: --type gpt2 writes one model.safetensors (no --shards)"}
	}
	if opts.DType != "" && opts.DType != string(checkpoint.F32) {
		return &UsageError{Msg: fmt.Sprintf("model tiny: --type gpt2 --dtype %q: GPT-2 directories are read in F32 only", opts.DType)}
	}
	if opts.Transformers != 4 {
		return &UsageError{Msg: "model tiny: --type gpt2 has one config.json layout (no --transformers)"}
	}
	if opts.ChatTemplate != "" {
		return &UsageError{Msg: "model tiny: --type gpt2 takes no --chat-template (GPT-2 has none)"}
	}
	if err := checkTinyPaths(opts); err != nil {
		return err
	}
	cfg := policy.Config{VocabSize: 50257, Context: 1024, Dim: 32, Layers: 2, Heads: 4, EOS: 50256}
	m, err := policy.NewModel(cfg, rand.New(rand.NewPCG(opts.Seed, 0x6770_7432)))
	if err != nil {
		return err
	}
	cfgJSON, tensors, err := m.HFFiles()
	if err != nil {
		return err
	}
	if err := hf.WriteDir(opts.Out, cfgJSON, tensors, 1, os.DirFS(opts.Tokenizer), nil); err != nil {
		return badInput(err)
	}
	c := m.Config()
	fmt.Fprintf(e.Stdout, "gpt2, seed %d: d %d, %d layers, %d heads, vocabulary %d, context %d, F32: %d parameters\n",
		opts.Seed, c.Dim, c.Layers, c.Heads, c.VocabSize, c.Context, c.NumParams())
	fmt.Fprintf(e.Stdout, "wrote %s\n", opts.Out)
	return nil
}
