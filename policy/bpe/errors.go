package bpe

import "errors"

// Sentinel errors, matched with errors.Is. Every error returned by this
// package wraps one of them and names the JSON field or input position.
var (
	// ErrUnsupported: the tokenizer.json uses a component or setting this
	// package does not implement exactly (a Unigram model, byte_fallback,
	// a normalizer other than NFC, ...). The message names the field.
	ErrUnsupported = errors.New("unsupported tokenizer setting")
	// ErrMalformed: the tokenizer.json is not valid JSON of the expected
	// shape, or is inconsistent (a merge of tokens not in the vocabulary,
	// two tokens with one id, a regex that does not compile).
	ErrMalformed = errors.New("malformed tokenizer")
	// ErrInvalidUTF8: Encode was given text that is not valid UTF-8.
	ErrInvalidUTF8 = errors.New("text is not valid UTF-8")
	// ErrUnknownID: Decode or Token was given an id outside the vocabulary.
	ErrUnknownID = errors.New("token id not in the vocabulary")
	// ErrRegexTimeout: the pre-tokenizer's regex ran longer than
	// Options.RegexTimeout on one input (catastrophic backtracking).
	ErrRegexTimeout = errors.New("pre-tokenizer regex timed out")
)
