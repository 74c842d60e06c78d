package cli

import (
	"fmt"
	"os"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/policy/hf"
	ucli "github.com/urfave/cli/v2"
)

// ModelTinyOptions are the inputs of `gradcouple model tiny`.
type ModelTinyOptions struct {
	Type         string // qwen2, qwen3 or llama
	Tokenizer    string // directory with tokenizer.json[.gz], tokenizer_config.json, chat_template.jinja
	ChatTemplate string // a chat_template.jinja to use instead of the tokenizer directory's
	Out          string
	Shards       int
	DType        string
	Transformers int // 4 or 5: the config.json layout
	Seed         uint64
}

func newModelTinyCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:  "tiny",
		Usage: "write a tiny random-weight Hugging Face checkpoint (qwen2, qwen3 or llama) in the exact layout transformers writes",
		Description: "For trying the commands that read users' models without downloading one: config.json as\n" +
			"transformers 4.x (or 5.x with --transformers 5) writes it, the weights as BF16 safetensors,\n" +
			"sharded with model.safetensors.index.json when --shards > 1, and the tokenizer files of\n" +
			"--tokenizer (a real tokenizer.json: the repository has Qwen3's and Llama-3's in testdata/hf).\n" +
			"The sizes are tiny (hidden 32, 2 layers, 4 query and 2 key-value heads) but the vocabulary,\n" +
			"special tokens, RoPE and norms are a real member's: Qwen2.5-0.5B-Instruct (qwen2), Qwen3-0.6B\n" +
			"(qwen3), Llama-3.1-8B-Instruct with llama3 RoPE scaling (llama). See docs/models.md.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "type", Required: true, Usage: "model type `TYPE`: qwen2, qwen3 or llama"},
			&ucli.StringFlag{Name: "tokenizer", Required: true, Usage: "directory `DIR` with tokenizer.json (or .json.gz) and tokenizer_config.json"},
			&ucli.StringFlag{Name: "chat-template", Usage: "`FILE` written as chat_template.jinja (else the tokenizer directory's, if any)"},
			&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "write the checkpoint directory `DIR` (must not exist)"},
			&ucli.IntFlag{Name: "shards", Value: 2, Usage: "safetensors files `N` (1: model.safetensors)"},
			&ucli.StringFlag{Name: "dtype", Value: "BF16", Usage: "weight `TYPE`: BF16, F16 or F32"},
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
	cfg, ok := hf.TinyConfig(opts.Type)
	if !ok {
		return &UsageError{Msg: fmt.Sprintf("model tiny: --type %q: want qwen2, qwen3 or llama", opts.Type)}
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
	if err := guardOutputs(inputs, output{flag: "out", path: opts.Out}); err != nil {
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
