package trainer

import (
	"fmt"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/policy"
)

// Limits of the character tokenizer on household and lab (ModelConfig.Tokenizer).
const (
	minCharContext      = 1024 // longest prompt 863 characters with history 1, + 39 + 2
	minCharActionTokens = 40   // longest admissible action 39 characters, + <eos>
)

// knownTokenizer reports whether kind is a value of model.tokenizer.
func knownTokenizer(kind string) bool {
	return kind == "" || kind == policy.TokenizerWord || kind == policy.TokenizerChar
}

// charText reports whether c runs the character tokenizer on one of the
// text worlds, whose prompt lengths ModelConfig.Tokenizer documents.
func charText(c Config) bool {
	return c.Model.Tokenizer == policy.TokenizerChar && (c.Env == env.Household || c.Env == env.Lab)
}

// CharTokenizer returns the character tokenizer of a run on envName: the
// characters of the environment's words (env.Words) and of the correction
// line, with the space and the newline (policy.NewCharTokenizer).
func CharTokenizer(envName string) *policy.Tokenizer {
	return policy.NewCharTokenizer(append(env.Words(envName), fmt.Sprintf(correctionText, "")))
}

// RunTokenizer returns the tokenizer of a run of c: Tokenizer(c.Env) for
// model.tokenizer word (or ""), CharTokenizer(c.Env) for char. c must be
// valid.
func RunTokenizer(c Config) *policy.Tokenizer {
	if c.Model.Tokenizer == policy.TokenizerChar {
		return CharTokenizer(c.Env)
	}
	return Tokenizer(c.Env)
}
