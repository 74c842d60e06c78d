package cli

import (
	"context"
	"fmt"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/internal/table"
	"github.com/gradcouple/gradcouple/metrics"
	ucli "github.com/urfave/cli/v2"
)

// ModelResampleOptions are the inputs of `gradcouple consistency LOGS...
// --model DIR`: consistency by resampling a model at the logs' states.
type ModelResampleOptions struct {
	Logs      []string
	Model     string
	Actor     analysis.ActorOptions
	Draw      analysis.DrawOptions
	K         int
	Threshold int
	States    int
	Seed      uint64
	Split     string
	Read      ReadOptions
	Out       string
	StatesOut string
}

// modelResampleFlags are the consistency flags of resampling a model at
// logged states.
var modelResampleFlags = []ucli.Flag{
	&ucli.StringFlag{Name: "model", Usage: "resample the model in `DIR` (a Hugging Face qwen2/qwen3/llama directory or a gradcouple checkpoint) at the logs' states"},
	&ucli.IntFlag{Name: "states", Value: 100, Usage: "--model: probe `N` states of the logs (seeded)"},
	&ucli.Float64Flag{Name: "top-p", Usage: "--model: top-p `P` of the draws (Hugging Face models; 0: none)"},
	&ucli.IntFlag{Name: "max-tokens", Usage: "--model: at most `N` tokens per drawn action (0: 64 for Hugging Face models)"},
	&ucli.StringFlag{Name: "prompt", Value: analysis.PromptRaw, Usage: "--model: the logged prompt is `FORMAT` raw (the model's input text) or chat (one user message through the chat template)"},
	&ucli.StringFlag{Name: "precision", Value: "float32", Usage: "--model: compute in `TYPE` float32 or float64 (Hugging Face models)"},
}

// modelResampleDescription documents --model in consistency --help.
const modelResampleDescription = "\n\nLOGS with --model DIR resample a model at the logs' own states, for runs no environment\n" +
	"can rebuild (verl, TRL, rLLM logs): --states distinct states (state_key, by the same\n" +
	"--state rules) are drawn with --seed, the model draws K actions at each from the prompt\n" +
	"logged for it (--temperature, default 1; --top-p; --prompt raw or chat), and a drawn action\n" +
	"takes the label the log gives it at that state (unknown when never logged there)."

func modelResampleAction(c *ucli.Context, env *Env) error {
	prec := c.String("precision")
	if prec != "float32" && prec != "float64" {
		return &UsageError{Msg: fmt.Sprintf("consistency: --precision %q: want float32 or float64", prec)}
	}
	if p := c.String("prompt"); p != analysis.PromptRaw && p != analysis.PromptChat {
		return &UsageError{Msg: fmt.Sprintf("consistency: --prompt %q: want raw or chat", p)}
	}
	return runModelResample(c.Context, ModelResampleOptions{
		Logs: c.Args().Slice(), Model: c.String("model"),
		Actor: analysis.ActorOptions{Prompt: c.String("prompt"), Float64: prec == "float64"},
		Draw:  analysis.DrawOptions{Temperature: c.Float64("temperature"), TopP: c.Float64("top-p"), MaxTokens: c.Int("max-tokens")},
		K:     c.Int("k"), Threshold: c.Int("threshold"), States: c.Int("states"), Seed: c.Uint64("seed"),
		Split: c.String("split"), Read: readOptionsOf(c), Out: c.String("out"), StatesOut: c.String("states-out"),
	}, env)
}

func runModelResample(ctx context.Context, o ModelResampleOptions, env *Env) error {
	inputs := append([]string{o.Model}, o.Logs...)
	if err := firstErr(checkOut(o.Out), checkOut(o.StatesOut), checkSplit(o.Split),
		guardOutputs(inputs, output{flag: "out", path: o.Out}, output{flag: "states-out", path: o.StatesOut})); err != nil {
		return err
	}
	if o.K < 1 || o.Threshold < 1 || o.Threshold > o.K {
		return &UsageError{Msg: fmt.Sprintf("consistency: want 1 <= --threshold <= --k, got threshold %d, k %d", o.Threshold, o.K)}
	}
	if o.States < 1 || o.Draw.Temperature < 0 || o.Draw.TopP < 0 || o.Draw.TopP > 1 || o.Draw.MaxTokens < 0 {
		return &UsageError{Msg: "consistency: want --states >= 1, --temperature >= 0, 0 <= --top-p <= 1 and --max-tokens >= 0"}
	}
	aopts, err := o.Read.adapterOptions()
	if err != nil {
		return err
	}
	actor, err := analysis.OpenActor(o.Model, o.Actor)
	if err != nil {
		return badInput(err)
	}
	prog, done := progress(env, "states resampled")
	rep, err := analysis.ResampleLog(ctx, actor, o.Logs, analysis.LogResampleOptions{K: o.K, Threshold: o.Threshold,
		States: o.States, Draw: o.Draw, Seed: o.Seed, Filter: analysis.LogFilter{Split: o.Split, Adapter: aopts}, Progress: prog})
	done()
	if err != nil {
		return formatError(err)
	}
	logSources(env, rep.Sources)
	w := env.Stdout
	temp := o.Draw.Temperature
	if temp == 0 {
		temp = 1
	}
	same := 0
	for _, s := range rep.States {
		if s.SameAsLog {
			same++
		}
	}
	fmt.Fprintf(w, "%d probe states from %d step records; %s drew %d actions at each (temperature %g, seed %d), high consistency at >= %d\n",
		len(rep.States), rep.Sources.Rows, rep.Model, o.K, temp, o.Seed, o.Threshold)
	ci := metrics.Wilson(float64(same), float64(len(rep.States)), 0.95)
	fmt.Fprintf(w, "the drawn modal action is the logged modal action at %d of %d states (%.2f, 95%% Wilson interval %.2f-%.2f)\n\n",
		same, len(rep.States), float64(same)/float64(len(rep.States)), ci.Lo, ci.Hi)
	if err := emit(w, o.Out, rep.Rows, nil); err != nil {
		return err
	}
	if o.StatesOut != "" {
		if err := table.WriteFile(o.StatesOut, rep.States, nil); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s\n", o.StatesOut)
	}
	return nil
}
