package hf

import (
	"errors"
	"strconv"
)

// Sentinel errors, matched with errors.Is. Every error of this package about
// a model directory wraps one of them (or a checkpoint.ValidationError from
// the safetensors reader) and names the file and the field or tensor.
var (
	// ErrUnsupported: the model uses something this package does not
	// compute exactly (another model type, sliding-window attention that
	// is switched on, a RoPE type other than default and llama3, mixture of
	// experts, biases a llama does not have, an activation other than silu,
	// quantized or unsupported tensor dtypes, a LoRA adapter without its
	// base). The error names the config field, tensor or file.
	ErrUnsupported = errors.New("unsupported model setting")
	// ErrMalformed: config.json (or another file of the directory) is not
	// valid JSON of the expected shape, or is inconsistent (a size that is
	// not positive, heads that do not divide, a tensor of the wrong shape).
	ErrMalformed = errors.New("malformed model directory")
	// ErrTooLong: a sequence longer than max_position_embeddings.
	ErrTooLong = errors.New("sequence longer than the context")
	// ErrTokenID: a token id outside [0, vocab_size).
	ErrTokenID = errors.New("token id outside the vocabulary")
)

// Error is bad input in a model directory: the file, the field (a
// config.json key such as "rope_scaling.rope_type", or a tensor name) and
// what is wrong. It wraps ErrUnsupported or ErrMalformed.
type Error struct {
	File  string
	Field string
	Msg   string
	Err   error
}

// Error formats the error as "FILE: field F: MSG".
func (e *Error) Error() string {
	s := e.File
	if e.Field != "" {
		if s != "" {
			s += ": "
		}
		s += "field " + strconv.Quote(e.Field)
	}
	if s != "" {
		s += ": "
	}
	return s + e.Msg
}

// Unwrap returns the kind of problem.
func (e *Error) Unwrap() error { return e.Err }

// BadInput reports that the error is about the input (exit status 2).
func (e *Error) BadInput() bool { return true }
