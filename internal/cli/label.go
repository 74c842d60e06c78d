package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/judge"
	"github.com/gradcouple/gradcouple/trajlog"
	ucli "github.com/urfave/cli/v2"
)

// APIKeyEnv is the environment variable holding the judge's API key; the key
// is never a flag and never written to a file.
const APIKeyEnv = "GRADCOUPLE_JUDGE_API_KEY"

// LabelOptions are the inputs of `gradcouple label`.
type LabelOptions struct {
	Logs            []string
	Endpoint, Model string
	Votes           int
	Temperature     float64
	MaxTokens       int
	Prompt          string // template file; "" = the default
	Concurrency     int
	Rate            float64
	Timeout         time.Duration
	Retries         int
	Cache           string
	DryRun          bool
	Out, Judgments  string
	AgreementOut    string
	JudgeJ          int
	JudgeEps        float64
	Seed            uint64
	Read            ReadOptions
}

func newLabelCommand(env *Env) *ucli.Command {
	return &ucli.Command{
		Name:      "label",
		Usage:     "label step records good/bad with an LLM judge over an OpenAI-compatible chat-completions endpoint (majority of J votes, cached, resumable)",
		ArgsUsage: "LOGS...",
		Description: "Every distinct (state_key, action) pair of the logs is judged J times (--votes, default 5,\n" +
			"as in the paper) through POST ENDPOINT/chat/completions, with the judging prompt of --prompt\n" +
			"(a text/template; default: judge/prompts/default.txt, shown in docs/label.md). The answer must\n" +
			"be two lines, 'good' or 'bad' then a one-line reason; anything else (a refusal included) is an\n" +
			"unknown vote, counted, never guessed. The label is the majority (unknown when the unknown\n" +
			"votes could swing it), label_votes the number of good votes. The output is the logs as\n" +
			"canonical step records with label and label_votes set (the template's SHA-256, the model and\n" +
			"J in the parquet metadata), and a side table OUT.judgments.jsonl with every vote's verdict and\n" +
			"reason, keyed by state_key and action (usable as --labels).\n\n" +
			"The API key is read from " + APIKeyEnv + " (sent as a Bearer token; never a flag, never\n" +
			"stored). Answers are cached under --cache (default: judge-cache next to OUT), keyed by the\n" +
			"SHA-256 of the request (model, messages, temperature, max tokens, seed = vote index) and the\n" +
			"template hash: an interrupted run resumes without repeating a request. 429s, 5xx replies and\n" +
			"timeouts are retried with exponential backoff (Retry-After honoured). --dry-run prints the pairs,\n" +
			"the requests not yet cached and an estimate of their prompt tokens (characters/4), and sends\n" +
			"nothing.\n\n" +
			"Logs made by the bundled environments are replayed from their task IDs to get the oracle's\n" +
			"truth; the agreement of the LLM judge with it (accuracy and Cohen's kappa of the labels, the\n" +
			"per-vote error rate: the --judge-eps that would match) is printed per task family, next to the\n" +
			"bundled noisy judge's (--judge-j, --judge-eps) on the same steps." + logsDescription,
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "endpoint", Usage: "OpenAI-compatible base `URL` (e.g. http://127.0.0.1:8000/v1)"},
			&ucli.StringFlag{Name: "model", Usage: "model `NAME` sent with each request"},
			&ucli.IntFlag{Name: "votes", Aliases: []string{"j"}, Value: judge.DefaultVotes, Usage: "judgments `J` per (state, action) pair"},
			&ucli.Float64Flag{Name: "temperature", Value: 1.0, Usage: "sampling temperature `T` of every request (votes differ through it)"},
			&ucli.IntFlag{Name: "max-tokens", Value: 128, Usage: "answer length limit `N` in tokens"},
			&ucli.StringFlag{Name: "prompt", Usage: "judging prompt template `FILE` (text/template with .Structured, .Task, .History, .Observation, .Admissible, .Prompt, .Action)"},
			&ucli.IntFlag{Name: "concurrency", Value: 4, Usage: "requests in flight `N`"},
			&ucli.Float64Flag{Name: "rate", Usage: "at most `R` requests per second (0: no limit)"},
			&ucli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: "timeout `D` of one attempt"},
			&ucli.IntFlag{Name: "retries", Value: 5, Usage: "retries `N` after a 429, 5xx or timeout"},
			&ucli.StringFlag{Name: "cache", Usage: "answer cache `DIR` (default: judge-cache in OUT's directory)"},
			&ucli.BoolFlag{Name: "dry-run", Usage: "print pairs, requests and estimated prompt tokens; send nothing"},
			&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write the labelled step records to `FILE` (.parquet or .jsonl)"},
			&ucli.StringFlag{Name: "judgments", Usage: "write the votes and reasons to `FILE` (.jsonl; default OUT.judgments.jsonl)"},
			&ucli.StringFlag{Name: "agreement-out", Usage: "write the agreement table to `FILE` (.parquet, .csv or .json)"},
			&ucli.IntFlag{Name: "judge-j", Value: judge.DefaultVotes, Usage: "judgments `J` of the bundled noisy judge the agreement is compared with"},
			&ucli.Float64Flag{Name: "judge-eps", Value: 0.1, Usage: "error probability `E` of one judgment of the bundled noisy judge"},
			&ucli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed `S` of the bundled judge's simulated votes"},
		}, readFlags(false)...),
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 {
				return &UsageError{Msg: "label: want LOGS...", Usage: "gradcouple label LOGS... --endpoint URL --model NAME --out FILE [options]"}
			}
			return runLabel(c.Context, LabelOptions{
				Logs: c.Args().Slice(), Endpoint: c.String("endpoint"), Model: c.String("model"), Votes: c.Int("votes"),
				Temperature: c.Float64("temperature"), MaxTokens: c.Int("max-tokens"), Prompt: c.String("prompt"),
				Concurrency: c.Int("concurrency"), Rate: c.Float64("rate"), Timeout: c.Duration("timeout"), Retries: c.Int("retries"),
				Cache: c.String("cache"), DryRun: c.Bool("dry-run"), Out: c.String("out"), Judgments: c.String("judgments"),
				AgreementOut: c.String("agreement-out"), JudgeJ: c.Int("judge-j"), JudgeEps: c.Float64("judge-eps"), Seed: c.Uint64("seed"),
				Read: readOptionsOf(c),
			}, env)
		},
	}
}

func runLabel(ctx context.Context, opts LabelOptions, env *Env) error {
	switch {
	case opts.Model == "":
		return &UsageError{Msg: "label: --model NAME is required (it is part of every request and cache key)"}
	case !opts.DryRun && opts.Endpoint == "":
		return &UsageError{Msg: "label: --endpoint URL is required (or --dry-run)"}
	case !opts.DryRun && opts.Out == "":
		return &UsageError{Msg: "label: --out FILE is required"}
	case opts.Votes < 1 || opts.Votes > 127:
		return &UsageError{Msg: fmt.Sprintf("label: --votes %d: want 1 to 127 (label_votes is an int8)", opts.Votes)}
	case opts.Concurrency < 1:
		return &UsageError{Msg: "label: --concurrency must be at least 1"}
	case opts.Rate < 0 || opts.Timeout <= 0 || opts.Retries < 0 || opts.MaxTokens < 1:
		return &UsageError{Msg: "label: --rate must be >= 0, --timeout > 0, --retries >= 0, --max-tokens >= 1"}
	case opts.JudgeEps < 0 || opts.JudgeEps > 1 || opts.JudgeJ < 1:
		return &UsageError{Msg: "label: --judge-eps must be in [0, 1] and --judge-j at least 1"}
	}
	if opts.Out != "" {
		if _, err := trajlog.FormatOf(opts.Out); err != nil {
			return &UsageError{Msg: err.Error()}
		}
		if opts.Judgments == "" {
			opts.Judgments = analysis.JudgmentsPath(opts.Out)
		}
		if opts.Cache == "" {
			opts.Cache = filepath.Join(filepath.Dir(opts.Out), "judge-cache")
		}
	}
	if err := firstErr(checkOut(opts.AgreementOut), guardOutputs(opts.Logs,
		output{flag: "out", path: opts.Out}, output{flag: "judgments", path: opts.Judgments},
		output{flag: "agreement-out", path: opts.AgreementOut})); err != nil {
		return err
	}
	tmpl := judge.DefaultTemplate()
	if opts.Prompt != "" {
		b, err := os.ReadFile(opts.Prompt)
		if err != nil {
			return badInput(fmt.Errorf("--prompt: %w", err))
		}
		if tmpl, err = judge.ParseTemplate(opts.Prompt, string(b)); err != nil {
			return badInput(fmt.Errorf("--prompt: %w", err))
		}
	}
	aopts, err := opts.Read.adapterOptions()
	if err != nil {
		return err
	}
	jopts := judge.Options{
		Config: judge.Config{
			Endpoint: opts.Endpoint, Model: opts.Model, APIKey: os.Getenv(APIKeyEnv), Temperature: opts.Temperature,
			MaxTokens: opts.MaxTokens, Timeout: opts.Timeout, Retries: opts.Retries, Rate: opts.Rate,
		},
		Votes: opts.Votes, Concurrency: opts.Concurrency, Template: tmpl, Cache: judge.Cache{Dir: opts.Cache},
	}
	if opts.Retries == 0 {
		jopts.Config.Retries = -1 // judge.Config: 0 means the default, negative none
	}
	if env.Terminal {
		last := time.Time{}
		jopts.Progress = func(done, total int) {
			if now := time.Now(); now.Sub(last) > 200*time.Millisecond || done == total {
				last = now
				fmt.Fprintf(env.Stderr, "\rjudged %d of %d votes", done, total)
				if done == total {
					fmt.Fprintln(env.Stderr)
				}
			}
		}
	}
	rep, err := analysis.Label(ctx, opts.Logs, analysis.LabelOptions{
		Adapter: aopts, Judge: jopts, DryRun: opts.DryRun, Out: opts.Out, Judgments: opts.Judgments,
		Bundled: env2Judge(opts.JudgeJ, opts.JudgeEps), Seed: opts.Seed,
	})
	if rep != nil {
		logSources(env, rep.Sources)
	}
	w := env.Stdout
	if rep != nil && (opts.DryRun || err == nil) {
		p := rep.Plan
		fmt.Fprintf(w, "%d step records from %d file(s); %d distinct (state, action) pairs (%d with the bundled prompt layout, %d judged on the prompt as given)\n",
			rep.Sources.Rows, len(rep.Sources.Files), p.Pairs, p.Structured, p.Pairs-p.Structured)
		fmt.Fprintf(w, "template %s (sha256 %s), model %s, J = %d: %d judgments, %d cached, %d to send, about %d prompt tokens (characters/4, an estimate)\n",
			tmpl.Name(), tmpl.SHA256()[:16], opts.Model, opts.Votes, p.Votes, p.Cached, p.Requests, p.PromptTokens())
	}
	if err != nil {
		if rep != nil && rep.Stats.Requests+rep.Stats.Cached > 0 {
			fmt.Fprintf(env.Stderr, "%d answers cached in %s; run the same command again to resume\n", rep.Stats.Requests+rep.Stats.Cached, opts.Cache)
		}
		return err
	}
	if opts.DryRun {
		fmt.Fprintln(w, "dry run: nothing sent, nothing written")
		return nil
	}
	st := rep.Stats
	fmt.Fprintf(w, "sent %d requests (%d HTTP attempts with retries), %d answers from the cache; server-reported tokens: %d prompt, %d completion\n",
		st.Requests, st.Attempts, st.Cached, st.PromptTokens, st.CompletionTokens)
	fmt.Fprintf(w, "unknown votes (malformed or refused answers): %d of %d (%d refusals); pairs with an unknown label: %d of %d\n",
		st.UnknownVotes, st.Votes, st.Refusals, rep.UnknownPairs, rep.Plan.Pairs)
	fmt.Fprintf(w, "step records labelled: %d good, %d bad, %d unknown\n", rep.Good, rep.Bad, rep.Unknown)
	if rep.NotReplayed > 0 {
		fmt.Fprintf(env.Stderr, "warning: %d trajectories of bundled environments could not be replayed for the oracle (%s)\n", rep.NotReplayed, rep.NotReason)
	}
	if len(rep.Agreement) > 0 {
		fmt.Fprintf(w, "\nagreement with the oracle (bundled environments, replayed from task IDs); bundled judge: J = %d, eps = %g, simulated with seed %d\n",
			opts.JudgeJ, opts.JudgeEps, opts.Seed)
		if err := emit(w, opts.AgreementOut, rep.Agreement, nil); err != nil {
			return err
		}
		all := rep.Agreement[len(rep.Agreement)-1]
		fmt.Fprintf(w, "the LLM judge's votes err at rate %.4g: env sample/train --judge-eps %.2g gives the bundled judge the same per-vote noise\n",
			all.VoteErrorRate, all.VoteErrorRate)
	}
	fmt.Fprintf(w, "wrote %s and %s\n", opts.Out, opts.Judgments)
	return nil
}

// env2Judge is the bundled noisy judge of the comparison.
func env2Judge(j int, eps float64) env.Judge { return env.Judge{J: j, Eps: eps} }
