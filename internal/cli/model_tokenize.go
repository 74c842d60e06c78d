package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"unicode/utf8"

	"github.com/gradcouple/gradcouple/policy/bpe"
	ucli "github.com/urfave/cli/v2"
)

// ModelTokenizeOptions are the inputs of `gradcouple model tokenize`.
type ModelTokenizeOptions struct {
	Tokenizer string   // tokenizer.json (or .json.gz), or a directory holding tokenizer.json
	Inputs    []string // text files; none: standard input
	JSON      bool     // each input line is a JSON string
	Special   bool     // add the post-processor's special tokens
}

func newModelTokenizeCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:      "tokenize",
		Usage:     "encode text with a Hugging Face tokenizer.json: one JSON array of token ids per input line",
		ArgsUsage: "[FILE...]",
		Description: "Reads FILEs (or standard input) line by line and prints, for each line, the ids that\n" +
			"Hugging Face tokenizers' encode(line, add_special_tokens=False) gives, as a JSON array on a\n" +
			"line of its own, so the output can be compared with the reference implementation (the\n" +
			"line's newline is not part of the text; --json takes each line as a JSON string, which\n" +
			"may hold newlines). --special adds the tokens of the tokenizer's post-processor, as\n" +
			"add_special_tokens=True does (Llama-3.1's <|begin_of_text|>). Byte-level BPE tokenizers\n" +
			"(Qwen2/2.5, Qwen3, Llama-3.x, SmolLM2, GPT-2) are read; anything else is refused naming\n" +
			"the JSON field (docs/models.md).",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "tokenizer", Aliases: []string{"t"}, Required: true, Usage: "`FILE` tokenizer.json (or .json.gz), or a model directory holding one"},
			&ucli.BoolFlag{Name: "json", Usage: "read each input line as a JSON string"},
			&ucli.BoolFlag{Name: "special", Usage: "add the post-processor's special tokens (add_special_tokens=True)"},
		},
		Action: func(c *ucli.Context) error {
			return runModelTokenize(ModelTokenizeOptions{
				Tokenizer: c.String("tokenizer"), Inputs: c.Args().Slice(), JSON: c.Bool("json"), Special: c.Bool("special"),
			}, e)
		},
	}
}

func runModelTokenize(opts ModelTokenizeOptions, e *Env) error {
	path := opts.Tokenizer
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, "tokenizer.json")
	}
	tok, err := bpe.ReadFile(path, bpe.Options{})
	if err != nil {
		return badInput(err)
	}
	w := bufio.NewWriter(e.Stdout)
	if len(opts.Inputs) == 0 {
		if err := tokenizeLines(w, e.Stdin, "standard input", tok, opts); err != nil {
			return err
		}
		return w.Flush()
	}
	for _, in := range opts.Inputs {
		f, err := os.Open(in)
		if err != nil {
			return badInput(err)
		}
		err = tokenizeLines(w, f, in, tok, opts)
		f.Close()
		if err != nil {
			return err
		}
	}
	return w.Flush()
}

// tokenizeLines writes one JSON array of ids per line of r (named name in
// errors, with the line number).
func tokenizeLines(w *bufio.Writer, r io.Reader, name string, tok *bpe.Tokenizer, opts ModelTokenizeOptions) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var buf []byte
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if opts.JSON {
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				return badInput(fmt.Errorf("%s:%d: not a JSON string: %w", name, n, err))
			}
		} else if !utf8.ValidString(line) {
			return badInput(fmt.Errorf("%s:%d: invalid UTF-8", name, n))
		}
		var ids []int
		var err error
		if opts.Special {
			ids, err = tok.EncodeSpecial(line)
		} else {
			ids, err = tok.Encode(line)
		}
		if err != nil {
			return badInput(fmt.Errorf("%s:%d: %w", name, n, err))
		}
		buf = append(buf[:0], '[')
		for i, id := range ids {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendInt(buf, int64(id), 10)
		}
		buf = append(buf, ']', '\n')
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return badInput(fmt.Errorf("%s: %w", name, err))
	}
	return nil
}
