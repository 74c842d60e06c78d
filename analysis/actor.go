package analysis

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/gradcouple/gradcouple/policy"
	"github.com/gradcouple/gradcouple/policy/bpe"
	"github.com/gradcouple/gradcouple/policy/chat"
	"github.com/gradcouple/gradcouple/policy/hf"
	"github.com/gradcouple/gradcouple/trajlog"
)

// An Actor is a model the analyses run on logged steps: the bundled actor
// (a gradcouple checkpoint) or a Hugging Face model (qwen2, qwen3, llama;
// package policy/hf). It scores log pi(action | prompt) (Score) and draws
// actions at a logged prompt (ResampleLog). OpenActor chooses the kind by
// the directory's config.json. It is used by one goroutine at a time.
type Actor interface {
	// Describe names the model: its kind, sizes and precision.
	Describe() string
	// encode tokenizes one record; an error names the file and row.
	encode(file string, row int64, r *trajlog.Record) (scorePair, error)
	// score sets dst[i] to the summed log-probability of pairs[i]'s action.
	score(dst []float64, pairs []scorePair) error
	// stats are the token counts of the records encoded so far.
	stats() TokenStats
	// sample draws k actions at prompt (a logged prompt, formatted as for
	// encode) and returns their text; the draws use rng only.
	sample(prompt string, k int, opt DrawOptions, rng *rand.Rand) ([]string, error)
}

// DrawOptions set how an Actor draws actions.
type DrawOptions struct {
	// Temperature divides the logits; 0 means 1.
	Temperature float64
	// TopP truncates to the most likely tokens holding TopP of the
	// probability (Hugging Face models only); 0 or 1 means none.
	TopP float64
	// MaxTokens caps an action's tokens; 0 means the model's default (64
	// for Hugging Face models, the context for the bundled actor).
	MaxTokens int
}

// scorePair is one encoded record: the sequence of the model that encoded
// it, and its token counts (predicted: the action tokens and the end token
// that are scored).
type scorePair struct {
	seq                       policy.Seq
	hseq                      hf.Seq
	prompt, action, predicted int
	unknown                   int
}

// Prompt formats of a Hugging Face model.
const (
	PromptRaw  = "raw"  // the logged prompt is the model's input text (special tokens included where the log kept them)
	PromptChat = "chat" // the logged prompt is one user message, rendered with the model's chat template and a generation prompt
)

// ActorOptions tune OpenActor for Hugging Face models; the bundled actor
// ignores them (its prompts are its own).
type ActorOptions struct {
	// Prompt is PromptRaw (default) or PromptChat.
	Prompt string
	// NoEnd leaves out the end-of-turn token after the action (the first
	// eos_token_id of config.json: <|im_end|> for Qwen, <|eot_id|> for
	// Llama-3 instruct), which is otherwise scored as part of it, as the
	// bundled actor scores its <eos>.
	NoEnd bool
	// Float64 computes in float64 instead of float32.
	Float64 bool
}

// OpenActor loads the model in dir: a Hugging Face directory (config.json
// with model_type qwen2, qwen3 or llama, safetensors weights,
// tokenizer.json and, for PromptChat, a chat template) or a gradcouple
// checkpoint of the bundled actor.
func OpenActor(dir string, opts ActorOptions) (Actor, error) {
	mt, err := modelType(dir)
	if err != nil {
		return nil, err
	}
	switch mt {
	case hf.Qwen2, hf.Qwen3, hf.Llama:
		return openHFActor(dir, opts)
	}
	m, tok, err := policy.Load(dir)
	if err != nil {
		return nil, err
	}
	return NewBundledActor(m, tok), nil
}

// NewBundledActor is the Actor of the bundled actor m with its tokenizer.
func NewBundledActor(m *policy.Model, tok *policy.Tokenizer) Actor {
	return &bundledActor{m: m, enc: encoder{tok: tok, context: m.Config().Context}}
}

// HFModelType reports the model_type of dir's config.json when dir holds
// a Hugging Face model that OpenActor reads (qwen2, qwen3, llama).
func HFModelType(dir string) (string, bool) {
	mt, err := modelType(dir)
	if err != nil {
		return "", false
	}
	switch mt {
	case hf.Qwen2, hf.Qwen3, hf.Llama:
		return mt, true
	}
	return "", false
}

// modelType reads config.json's model_type ("" when absent).
func modelType(dir string) (string, error) {
	path := filepath.Join(dir, hf.ConfigFileName)
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var c struct {
		ModelType string `json:"model_type"`
	}
	if err := json.NewDecoder(f).Decode(&c); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return c.ModelType, nil
}

// bundledActor scores with the bundled actor.
type bundledActor struct {
	m   *policy.Model
	enc encoder
}

func (a *bundledActor) Describe() string {
	c := a.m.Config()
	return fmt.Sprintf("the bundled GPT-2 actor (%d tokens, d %d, %d layers, %d heads, MLP %d, context %d; float64)",
		c.VocabSize, c.Dim, c.Layers, c.Heads, c.Inner(), c.Context)
}

func (a *bundledActor) encode(file string, row int64, r *trajlog.Record) (scorePair, error) {
	s, unk, err := a.enc.encode(file, row, r)
	if err != nil {
		return scorePair{}, err
	}
	return scorePair{seq: s, prompt: len(s.Prompt), action: len(s.Action), predicted: len(s.Action) + 1, unknown: unk}, nil
}

func (a *bundledActor) score(dst []float64, pairs []scorePair) error {
	seqs := make([]policy.Seq, len(pairs))
	for i, p := range pairs {
		seqs[i] = p.seq
	}
	a.m.LogProbs(dst, seqs)
	return nil
}

func (a *bundledActor) stats() TokenStats { return a.enc.stats }

// hfActor scores with a Hugging Face model in float32 or float64.
type hfActor struct {
	cfg  hf.Config
	m32  *hf.Model[float32]
	m64  *hf.Model[float64]
	tok  *bpe.Tokenizer
	tmpl *chat.Template // nil for PromptRaw
	opts ActorOptions
	tot  TokenStats
}

func openHFActor(dir string, opts ActorOptions) (*hfActor, error) {
	switch opts.Prompt {
	case "":
		opts.Prompt = PromptRaw
	case PromptRaw, PromptChat:
	default:
		return nil, fmt.Errorf("prompt format %q: want %s or %s", opts.Prompt, PromptRaw, PromptChat)
	}
	s := &hfActor{opts: opts}
	if opts.Float64 {
		m, err := hf.Load[float64](dir)
		if err != nil {
			return nil, err
		}
		s.m64, s.cfg = m, m.Config()
	} else {
		m, err := hf.Load[float32](dir)
		if err != nil {
			return nil, err
		}
		s.m32, s.cfg = m, m.Config()
	}
	tok, err := hf.LoadTokenizer(dir, s.cfg)
	if err != nil {
		return nil, err
	}
	s.tok = tok
	if opts.Prompt == PromptChat {
		if s.tmpl, err = chat.Load(dir); err != nil {
			return nil, err
		}
	}
	if !opts.NoEnd && len(s.cfg.EOS) == 0 {
		return nil, fmt.Errorf("%s: config.json has no eos_token_id to end the action with (score without it: no end token)", filepath.Join(dir, hf.ConfigFileName))
	}
	return s, nil
}

func (s *hfActor) Describe() string {
	c := s.cfg
	prec := "float32"
	if s.opts.Float64 {
		prec = "float64"
	}
	return fmt.Sprintf("%s (hidden %d, %d layers, %d/%d heads, vocabulary %d; %s; prompts %s)",
		c.ModelType, c.Hidden, c.Layers, c.Heads, c.KVHeads, c.VocabSize, prec, s.opts.Prompt)
}

// promptTokens formats a logged prompt (PromptRaw: as is; PromptChat: one
// user message through the chat template with a generation prompt) and
// tokenizes it.
func (s *hfActor) promptTokens(prompt string) ([]int, error) {
	text := prompt
	if s.tmpl != nil {
		var err error
		text, err = s.tmpl.Render([]chat.Message{{Role: "user", Content: prompt}}, chat.Options{AddGenerationPrompt: true})
		if err != nil {
			return nil, fmt.Errorf("rendering the chat template: %w", err)
		}
	}
	ids, err := s.tok.Encode(text)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, hf.ErrEmptyPrompt
	}
	return ids, nil
}

func (s *hfActor) encode(file string, row int64, r *trajlog.Record) (scorePair, error) {
	bad := func(field string, err error) error {
		return &trajlog.ValidationError{File: file, Row: row, Field: field, Msg: err.Error(), Err: err}
	}
	prompt, err := s.promptTokens(r.Prompt)
	if err != nil {
		return scorePair{}, bad("prompt", err)
	}
	action, err := s.tok.Encode(r.Action)
	if err != nil {
		return scorePair{}, bad("action", err)
	}
	n := len(action)
	if !s.opts.NoEnd {
		action = append(action, s.cfg.EOS[0])
	}
	if total := len(prompt) + len(action); total > s.cfg.MaxPositions {
		return scorePair{}, bad("prompt, action", fmt.Errorf("%d tokens, more than max_position_embeddings %d", total, s.cfg.MaxPositions))
	}
	s.tot.Tokens += int64(len(prompt) + n)
	return scorePair{hseq: hf.Seq{Prompt: prompt, Action: action}, prompt: len(prompt), action: n, predicted: len(action)}, nil
}

func (s *hfActor) score(dst []float64, pairs []scorePair) error {
	seqs := make([]hf.Seq, len(pairs))
	for i, p := range pairs {
		seqs[i] = p.hseq
	}
	var sums []float64
	var err error
	if s.m64 != nil {
		sums, _, err = s.m64.LogProbs(seqs)
	} else {
		sums, _, err = s.m32.LogProbs(seqs)
	}
	if err != nil {
		return err
	}
	copy(dst, sums)
	return nil
}

func (s *hfActor) stats() TokenStats { return s.tot }

func (s *hfActor) sample(prompt string, k int, opt DrawOptions, rng *rand.Rand) ([]string, error) {
	ids, err := s.promptTokens(prompt)
	if err != nil {
		return nil, err
	}
	so := hf.SampleOptions{Temperature: opt.Temperature, TopP: opt.TopP, MaxTokens: opt.MaxTokens}
	if so.MaxTokens == 0 {
		so.MaxTokens = 64
	}
	var got []hf.Sampled
	if s.m64 != nil {
		got, err = s.m64.Sample(ids, k, so, rng)
	} else {
		got, err = s.m32.Sample(ids, k, so, rng)
	}
	if err != nil {
		return nil, err
	}
	out := make([]string, len(got))
	for i, g := range got {
		text, err := s.tok.Decode(g.Tokens, true)
		if err != nil {
			return nil, err
		}
		out[i] = strings.TrimSpace(text)
	}
	return out, nil
}

func (a *bundledActor) sample(prompt string, k int, opt DrawOptions, rng *rand.Rand) ([]string, error) {
	got, err := a.m.Sample(a.enc.tok.Encode(prompt), k, nil, policy.SampleOptions{Temperature: opt.Temperature, MaxTokens: opt.MaxTokens}, rng)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(got))
	for i, g := range got {
		out[i] = g.Text
		if out[i] == "" { // unconstrained draws carry tokens only
			out[i] = a.enc.tok.Decode(g.Action)
		}
	}
	return out, nil
}
