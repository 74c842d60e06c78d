package policy

import (
	"fmt"
	"math"

	"github.com/gradcouple/gradcouple/checkpoint"
)

// TokenizerName is the word tokenizer's name in config.json's gradcouple
// section (TokenizerWord; the character tokenizer's is TokenizerChar).
const TokenizerName = TokenizerWord

// CheckpointConfig returns the HF GPT-2 config of a model of size c (which
// must be normalized) with the special token ids of the word tokenizer:
// bos and eos <eos> (2), pad <pad> (0). (The character tokenizer has the
// same special ids; Model.Checkpoint records the tokenizer's kind.)
func CheckpointConfig(c Config) checkpoint.Config {
	cc := checkpoint.NewConfig(c.VocabSize, c.Context, c.Dim, c.Layers, c.Heads)
	if c.Inner() != 4*c.Dim {
		inner := c.Inner()
		cc.NInner = &inner
	}
	cc.BOSTokenID, cc.EOSTokenID = c.EOS, c.EOS
	pad := PadID
	cc.PadTokenID = &pad
	if cc.Gradcouple != nil {
		cc.Gradcouple.Tokenizer = TokenizerName
	}
	return cc
}

// ConfigFromCheckpoint returns the model size of an HF GPT-2 config, or an
// error if the config describes an architecture this package does not
// implement (checkpoint.Config.Validate).
func ConfigFromCheckpoint(cc checkpoint.Config) (Config, error) {
	if err := cc.Validate(); err != nil {
		return Config{}, err
	}
	return Config{VocabSize: cc.VocabSize, Context: cc.NPositions, Dim: cc.NEmbd,
		Layers: cc.NLayer, Heads: cc.NHead, MLP: cc.Inner(), EOS: cc.EOSTokenID}.Normalize()
}

// Checkpoint returns the content of a checkpoint of m and tok (the
// optimizer state and Extra are left for the caller to fill in). Each
// parameter is rounded to the nearest float32, exactly so if the model was
// RoundToFloat32'd (see Model.RoundToFloat32).
func (m *Model) Checkpoint(tok *Tokenizer) (*checkpoint.Checkpoint, error) {
	if tok.Size() != m.cfg.VocabSize {
		return nil, fmt.Errorf("policy: tokenizer has %d tokens, model %d", tok.Size(), m.cfg.VocabSize)
	}
	c := &checkpoint.Checkpoint{Config: CheckpointConfig(m.cfg), Tensors: map[string][]float32{}, Vocab: tok.Tokens()}
	c.Config.Gradcouple.Tokenizer = tok.Kind()
	for _, t := range m.tensors {
		v := make([]float32, t.Size)
		for i, x := range m.Params[t.Offset : t.Offset+t.Size] {
			v[i] = float32(x)
		}
		c.Tensors[t.Name] = v
	}
	return c, nil
}

// FromCheckpoint builds the model and tokenizer of a loaded checkpoint. The
// tokenizer is the kind config.json's gradcouple.tokenizer names
// (TokenizerOf: "word", absent, or "char"); the vocabulary must have the
// special tokens at their fixed ids and fit that kind (see
// TokenizerFromTokens, CharTokenizerFromTokens); every tensor of the model
// must be present with its size.
func FromCheckpoint(c *checkpoint.Checkpoint) (*Model, *Tokenizer, error) {
	cfg, err := ConfigFromCheckpoint(c.Config)
	if err != nil {
		return nil, nil, err
	}
	kind := ""
	if g := c.Config.Gradcouple; g != nil {
		kind = g.Tokenizer
	}
	tok, err := TokenizerOf(kind, c.Vocab)
	if err != nil {
		return nil, nil, err
	}
	if tok.Size() != cfg.VocabSize {
		return nil, nil, fmt.Errorf("policy: vocabulary of %d tokens, config vocab_size %d", tok.Size(), cfg.VocabSize)
	}
	m, err := modelFromTensors(cfg, c.Tensors)
	if err != nil {
		return nil, nil, err
	}
	return m, tok, nil
}

// modelFromTensors builds a model of size cfg from its tensors by name.
func modelFromTensors(cfg Config, tensors map[string][]float32) (*Model, error) {
	m, err := NewZeroModel(cfg)
	if err != nil {
		return nil, err
	}
	for _, t := range m.tensors {
		v, ok := tensors[t.Name]
		if !ok {
			return nil, fmt.Errorf("policy: checkpoint has no tensor %s", t.Name)
		}
		if len(v) != t.Size {
			return nil, fmt.Errorf("policy: checkpoint tensor %s has %d values, want %d", t.Name, len(v), t.Size)
		}
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("policy: checkpoint tensor %s[%d] is %v", t.Name, i, x)
			}
			m.Params[t.Offset+i] = float64(x)
		}
	}
	return m, nil
}

// Save writes m and tok as the checkpoint directory dir (atomically, see
// checkpoint.Save) with the given free-form facts in Extra.
func Save(dir string, m *Model, tok *Tokenizer, extra map[string]string) error {
	c, err := m.Checkpoint(tok)
	if err != nil {
		return err
	}
	c.Extra = extra
	return checkpoint.Save(dir, c)
}

// Load reads the model and tokenizer of the checkpoint directory dir
// (without the optimizer state).
func Load(dir string) (*Model, *Tokenizer, error) {
	c, err := checkpoint.LoadWith(dir, checkpoint.LoadOptions{SkipOptimizer: true})
	if err != nil {
		return nil, nil, err
	}
	m, tok, err := FromCheckpoint(c)
	if err != nil {
		return nil, nil, fmt.Errorf("loading checkpoint %s: %w", dir, err)
	}
	return m, tok, nil
}

// LoadHF reads the network of a GPT-2 directory that Hugging Face wrote
// (save_pretrained, or the hub's openai-community/gpt2 and distilgpt2):
// config.json as GPT2Config, model.safetensors with GPT2LMHeadModel's or
// GPT2Model's tensor names (checkpoint.ReadGPT2). Its vocabulary is a
// byte-level BPE (tokenizer.json, package policy/bpe), not the word
// tokenizer, so vocab.json is not read; the model's end token is the
// config's eos_token_id.
func LoadHF(dir string) (*Model, error) {
	c, err := checkpoint.LoadWith(dir, checkpoint.LoadOptions{SkipOptimizer: true, SkipVocab: true})
	if err != nil {
		return nil, err
	}
	cfg, err := ConfigFromCheckpoint(c.Config)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", dir, err)
	}
	m, err := modelFromTensors(cfg, c.Tensors)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", dir, err)
	}
	return m, nil
}

// HFFiles returns the config.json and the tensors of m as transformers'
// save_pretrained writes a GPT2LMHeadModel: the GPT2Config fields without
// gradcouple's section (bos and eos the model's end token), and the F32
// parameters under their transformer.* names in state-dict order (the tied
// LM head is not stored). LoadHF reads them back.
func (m *Model) HFFiles() (cfgJSON []byte, tensors []checkpoint.Tensor, err error) {
	cc := CheckpointConfig(m.cfg)
	cc.Gradcouple, cc.PadTokenID = nil, nil // GPT-2 has no padding token
	if cfgJSON, err = checkpoint.MarshalConfig(cc); err != nil {
		return nil, nil, err
	}
	for _, t := range m.tensors {
		v := make([]float32, t.Size)
		for i, x := range m.Params[t.Offset : t.Offset+t.Size] {
			v[i] = float32(x)
		}
		tensors = append(tensors, checkpoint.F32Tensor(t.Name, t.Shape, v))
	}
	return cfgJSON, tensors, nil
}
