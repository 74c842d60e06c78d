package analysis

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
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
	// encode, or its logged token ids when ids is not empty and the model
	// reads ids) and returns their text; the draws use rng only.
	sample(prompt string, ids []int32, k int, opt DrawOptions, rng *rand.Rand) ([]string, error)
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
// tokenizer.json and, for PromptChat, a chat template), a GPT-2 directory
// that Hugging Face wrote (model_type gpt2 with tokenizer.json, run on the
// bundled actor's network), or a gradcouple checkpoint of the bundled
// actor.
func OpenActor(dir string, opts ActorOptions) (Actor, error) {
	kind, err := modelKind(dir)
	if err != nil {
		return nil, err
	}
	switch kind {
	case hf.Qwen2, hf.Qwen3, hf.Llama, kindGPT2:
		return openTextActor(dir, kind, opts)
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

// kindGPT2 is a GPT-2 directory that Hugging Face wrote: model_type gpt2
// without gradcouple's section in config.json, with a tokenizer.json.
const kindGPT2 = "gpt2"

// HFModelType reports the model_type of dir's config.json when dir holds
// a model written by Hugging Face that OpenActor reads: qwen2, qwen3,
// llama, or gpt2 (a GPT-2 directory with a tokenizer.json, not a
// gradcouple checkpoint).
func HFModelType(dir string) (string, bool) {
	kind, err := modelKind(dir)
	if err != nil {
		return "", false
	}
	switch kind {
	case hf.Qwen2, hf.Qwen3, hf.Llama, kindGPT2:
		return kind, true
	}
	return "", false
}

// modelKind reads config.json's model_type ("" when absent); a gpt2
// config without a "gradcouple" section in a directory with a
// tokenizer.json is kindGPT2, any other gpt2 config the bundled actor's.
func modelKind(dir string) (string, error) {
	path := filepath.Join(dir, hf.ConfigFileName)
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var c struct {
		ModelType  string          `json:"model_type"`
		Gradcouple json.RawMessage `json:"gradcouple"`
	}
	if err := json.NewDecoder(f).Decode(&c); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if c.ModelType == "gpt2" {
		if _, err := os.Stat(filepath.Join(dir, hf.TokenizerFileName)); err == nil && c.Gradcouple == nil {
			return kindGPT2, nil
		}
		return "", nil
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

// textActor is the Actor of a model written by Hugging Face: its text goes
// through its own tokenizer.json (and chat template), its network is lm.
type textActor struct {
	net   lm
	vocab int   // the embedding's rows (config.json's vocab_size)
	eos   []int // config.json's eos_token_id
	tok   *bpe.Tokenizer
	tmpl  *chat.Template // nil for PromptRaw
	opts  ActorOptions
	tot   TokenStats
}

// lm is the network of a textActor.
type lm interface {
	describe() string
	// maxTokens is the longest prompt plus scored action (end token
	// included) the network reads, and the config field that sets it.
	maxTokens() (int, string)
	// logProbs returns the summed log-probability of each seq's action
	// tokens (the end token included when it is the action's last).
	logProbs(seqs []hf.Seq) ([]float64, error)
	// loggedAction reports why the network cannot score logged action
	// ids as they are, or nil.
	loggedAction(ids []int) error
	// sample draws k continuations of prompt and returns their tokens,
	// without the end token.
	sample(prompt []int, k int, so hf.SampleOptions, rng *rand.Rand) ([][]int, error)
}

// hfNet is a Hugging Face decoder of package policy/hf.
type hfNet[F float32 | float64] struct{ m *hf.Model[F] }

func (n hfNet[F]) describe() string {
	c := n.m.Config()
	var zero F
	return fmt.Sprintf("%s (hidden %d, %d layers, %d/%d heads, vocabulary %d; %T)",
		c.ModelType, c.Hidden, c.Layers, c.Heads, c.KVHeads, c.VocabSize, zero)
}

func (n hfNet[F]) loggedAction([]int) error { return nil }

func (n hfNet[F]) maxTokens() (int, string) {
	return n.m.Config().MaxPositions, "max_position_embeddings"
}

func (n hfNet[F]) logProbs(seqs []hf.Seq) ([]float64, error) {
	sums, _, err := n.m.LogProbs(seqs)
	return sums, err
}

func (n hfNet[F]) sample(prompt []int, k int, so hf.SampleOptions, rng *rand.Rand) ([][]int, error) {
	got, err := n.m.Sample(prompt, k, so, rng)
	if err != nil {
		return nil, err
	}
	out := make([][]int, len(got))
	for i, g := range got {
		out[i] = g.Tokens
	}
	return out, nil
}

// gpt2Net is a GPT-2 directory written by Hugging Face, run by the bundled
// actor's network (package policy), which always scores the end token and
// leaves room for its verdict marker.
type gpt2Net struct{ m *policy.Model }

func (n gpt2Net) describe() string {
	c := n.m.Config()
	return fmt.Sprintf("gpt2 (d %d, %d layers, %d heads, MLP %d, context %d, vocabulary %d; float64)",
		c.Dim, c.Layers, c.Heads, c.Inner(), c.Context, c.VocabSize)
}

func (n gpt2Net) loggedAction(ids []int) error {
	if eos := n.m.Config().EOS; ids[len(ids)-1] != eos {
		return fmt.Errorf("the GPT-2 network scores an action with its end token: the logged ids end with %d, not %d", ids[len(ids)-1], eos)
	}
	return nil
}

// maxTokens leaves one of n_positions for the verdict marker the network
// always makes room for.
func (n gpt2Net) maxTokens() (int, string) { return n.m.Config().Context - 1, "n_positions less one" }

func (n gpt2Net) logProbs(seqs []hf.Seq) ([]float64, error) {
	eos := n.m.Config().EOS
	ps := make([]policy.Seq, len(seqs))
	for i, s := range seqs {
		a := s.Action
		if len(a) == 0 || a[len(a)-1] != eos {
			return nil, fmt.Errorf("the GPT-2 network scores an action with its end token %d", eos)
		}
		ps[i] = policy.Seq{Prompt: s.Prompt, Action: a[:len(a)-1]}
	}
	return n.m.LogProbs(nil, ps), nil
}

func (n gpt2Net) sample(prompt []int, k int, so hf.SampleOptions, rng *rand.Rand) ([][]int, error) {
	if so.TopP > 0 && so.TopP < 1 {
		return nil, fmt.Errorf("top-p %g: the GPT-2 network draws from the full distribution (at a temperature) only", so.TopP)
	}
	got, err := n.m.Sample(prompt, k, nil, policy.SampleOptions{Temperature: so.Temperature, MaxTokens: so.MaxTokens}, rng)
	if err != nil {
		return nil, err
	}
	out := make([][]int, len(got))
	for i, g := range got {
		out[i] = g.Action
	}
	return out, nil
}

func openTextActor(dir, kind string, opts ActorOptions) (*textActor, error) {
	switch opts.Prompt {
	case "":
		opts.Prompt = PromptRaw
	case PromptRaw, PromptChat:
	default:
		return nil, fmt.Errorf("prompt format %q: want %s or %s", opts.Prompt, PromptRaw, PromptChat)
	}
	s := &textActor{opts: opts}
	var vocab int
	switch {
	case kind == kindGPT2:
		if opts.NoEnd {
			return nil, fmt.Errorf("%s: a GPT-2 directory is scored with its end token (no-end applies to qwen2, qwen3 and llama)", dir)
		}
		m, err := policy.LoadHF(dir)
		if err != nil {
			return nil, err
		}
		s.net, s.eos, vocab = gpt2Net{m}, []int{m.Config().EOS}, m.Config().VocabSize
	case opts.Float64:
		m, err := hf.Load[float64](dir)
		if err != nil {
			return nil, err
		}
		s.net, s.eos, vocab = hfNet[float64]{m}, m.Config().EOS, m.Config().VocabSize
	default:
		m, err := hf.Load[float32](dir)
		if err != nil {
			return nil, err
		}
		s.net, s.eos, vocab = hfNet[float32]{m}, m.Config().EOS, m.Config().VocabSize
	}
	tok, err := hf.LoadTokenizer(dir, vocab)
	if err != nil {
		return nil, err
	}
	s.tok, s.vocab = tok, vocab
	if opts.Prompt == PromptChat {
		if s.tmpl, err = chat.Load(dir); err != nil {
			return nil, err
		}
	}
	if !opts.NoEnd && len(s.eos) == 0 {
		return nil, fmt.Errorf("%s: config.json has no eos_token_id to end the action with (score without it: no end token)", filepath.Join(dir, hf.ConfigFileName))
	}
	return s, nil
}

func (s *textActor) Describe() string {
	return fmt.Sprintf("%s; prompts %s", s.net.describe(), s.opts.Prompt)
}

// promptTokens formats a logged prompt (PromptRaw: as is; PromptChat: one
// user message through the chat template with a generation prompt) and
// tokenizes it.
func (s *textActor) promptTokens(prompt string) ([]int, error) {
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

// loggedIDs checks token ids from a log against the model's vocabulary.
func (s *textActor) loggedIDs(ids []int32) ([]int, error) {
	out := make([]int, len(ids))
	for i, id := range ids {
		if int(id) >= s.vocab {
			return nil, fmt.Errorf("token id %d at position %d is outside the model's vocabulary of %d", id, i, s.vocab)
		}
		out[i] = int(id)
	}
	return out, nil
}

// encode tokenizes a record: its logged token ids when it has them (the
// exact input, scored as logged: the action's ids include whatever end
// token the model generated), else its text (PromptRaw or PromptChat, and
// the end token after the action unless NoEnd).
func (s *textActor) encode(file string, row int64, r *trajlog.Record) (scorePair, error) {
	bad := func(field string, err error) error {
		return &trajlog.ValidationError{File: file, Row: row, Field: field, Msg: err.Error(), Err: err}
	}
	if len(r.PromptIDs) > 0 {
		prompt, err := s.loggedIDs(r.PromptIDs)
		if err != nil {
			return scorePair{}, bad("prompt_ids", err)
		}
		action, err := s.loggedIDs(r.ActionIDs)
		if err != nil {
			return scorePair{}, bad("action_ids", err)
		}
		if err := s.net.loggedAction(action); err != nil {
			return scorePair{}, bad("action_ids", err)
		}
		if max, field := s.net.maxTokens(); len(prompt)+len(action) > max {
			return scorePair{}, bad("prompt_ids, action_ids", fmt.Errorf("%d tokens, more than %s %d", len(prompt)+len(action), field, max))
		}
		n := len(action)
		if slices.Contains(s.eos, action[n-1]) {
			n-- // the end token is scored but not counted as the action's
		}
		s.tot.Tokens += int64(len(prompt) + n)
		s.tot.LoggedIDs++
		return scorePair{hseq: hf.Seq{Prompt: prompt, Action: action}, prompt: len(prompt), action: n, predicted: len(action)}, nil
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
		action = append(action, s.eos[0])
	}
	if max, field := s.net.maxTokens(); len(prompt)+len(action) > max {
		return scorePair{}, bad("prompt, action", fmt.Errorf("%d tokens, more than %s %d", len(prompt)+len(action), field, max))
	}
	s.tot.Tokens += int64(len(prompt) + n)
	return scorePair{hseq: hf.Seq{Prompt: prompt, Action: action}, prompt: len(prompt), action: n, predicted: len(action)}, nil
}

func (s *textActor) score(dst []float64, pairs []scorePair) error {
	seqs := make([]hf.Seq, len(pairs))
	for i, p := range pairs {
		seqs[i] = p.hseq
	}
	sums, err := s.net.logProbs(seqs)
	if err != nil {
		return err
	}
	copy(dst, sums)
	return nil
}

func (s *textActor) stats() TokenStats { return s.tot }

func (s *textActor) sample(prompt string, logged []int32, k int, opt DrawOptions, rng *rand.Rand) ([]string, error) {
	var ids []int
	var err error
	if len(logged) > 0 {
		ids, err = s.loggedIDs(logged)
	} else {
		ids, err = s.promptTokens(prompt)
	}
	if err != nil {
		return nil, err
	}
	so := hf.SampleOptions{Temperature: opt.Temperature, TopP: opt.TopP, MaxTokens: opt.MaxTokens}
	if so.MaxTokens == 0 {
		so.MaxTokens = 64
	}
	got, err := s.net.sample(ids, k, so, rng)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(got))
	for i, g := range got {
		text, err := s.tok.Decode(g, true)
		if err != nil {
			return nil, err
		}
		out[i] = strings.TrimSpace(text)
	}
	return out, nil
}

func (a *bundledActor) sample(prompt string, _ []int32, k int, opt DrawOptions, rng *rand.Rand) ([]string, error) {
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
