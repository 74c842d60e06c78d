package policy

import (
	"fmt"

	"github.com/gradcouple/gradcouple/env"
)

// EnvTokenizer returns the tokenizer of the named environments' vocabulary:
// NewTokenizer over the union of env.Words of each name, so a model built on
// it reads every prompt and action those environments produce without
// <unk>. No names means every bundled environment (env.Names); an unknown
// name is an error.
func EnvTokenizer(names ...string) (*Tokenizer, error) {
	if len(names) == 0 {
		names = env.Names()
	}
	var words []string
	for _, name := range names {
		w := env.Words(name)
		if w == nil {
			return nil, fmt.Errorf("policy: unknown environment %q (want one of %v)", name, env.Names())
		}
		words = append(words, w...)
	}
	return NewTokenizer(words), nil
}
