package checkpoint

import (
	"errors"
	"strconv"
)

// Sentinel errors, matched with errors.Is, that say what kind of problem a
// *ValidationError reports.
var (
	// ErrTruncated: the file ends before the data its header promises (or
	// before the 8-byte header length).
	ErrTruncated = errors.New("file truncated")
	// ErrHeaderTooLarge: the safetensors header length exceeds the limit
	// (ReadOptions.MaxHeaderBytes, 100,000,000 bytes by default).
	ErrHeaderTooLarge = errors.New("header too large")
	// ErrHeader: the safetensors header is not valid UTF-8 JSON of the
	// expected form.
	ErrHeader = errors.New("malformed header")
	// ErrDType: an unknown dtype, or a dtype the reader cannot use here.
	ErrDType = errors.New("wrong dtype")
	// ErrShape: a negative, overflowing or unexpected shape, or a byte length
	// that disagrees with shape and dtype.
	ErrShape = errors.New("wrong shape")
	// ErrOffsets: data offsets outside the data buffer, overlapping, leaving
	// gaps, or not covering the buffer.
	ErrOffsets = errors.New("bad data offsets")
	// ErrMissingTensor: a tensor the config requires is absent, or a named
	// tensor was asked for and is not in the file.
	ErrMissingTensor = errors.New("missing tensor")
	// ErrUnexpectedTensor: a tensor the config does not describe.
	ErrUnexpectedTensor = errors.New("unexpected tensor")
	// ErrConfig: config.json is malformed or describes an architecture this
	// package does not implement.
	ErrConfig = errors.New("bad config")
	// ErrVocab: vocab.json is malformed or disagrees with the config.
	ErrVocab = errors.New("bad vocabulary")
	// ErrValue: a non-finite weight or optimizer moment, or tied weights that
	// differ.
	ErrValue = errors.New("bad value")
)

// ValidationError is bad input in a checkpoint file: it names the file, the
// tensor (empty when the problem is not about one tensor) and the field (a
// header field such as "dtype" or "data_offsets", a config.json key, a
// vocabulary token; empty when no single field is at fault).
type ValidationError struct {
	File   string
	Tensor string
	Field  string
	Msg    string
	Err    error // the kind of problem (one of the Err* sentinels) or the cause; may be nil
}

// Error formats the error as "FILE: tensor T: field F: MSG", leaving out the
// tensor and the field when they are empty.
func (e *ValidationError) Error() string {
	s := e.File
	if e.Tensor != "" {
		s += ": tensor " + strconv.Quote(e.Tensor)
	}
	if e.Field != "" {
		s += ": field " + e.Field
	}
	return s + ": " + e.Msg
}

// Unwrap returns the kind of problem or the underlying cause, so that
// errors.Is matches the Err* sentinels.
func (e *ValidationError) Unwrap() error { return e.Err }

// BadInput reports that the error is about the input data (exit status 2).
func (e *ValidationError) BadInput() bool { return true }

// ErrChecksum: a file of a checkpoint directory does not have the SHA-256
// its checksum manifest (SHA256SUMS) records, or the manifest is malformed.
var ErrChecksum = errors.New("checksum mismatch")

// NonFiniteError is a NaN or an infinity in a matrix of floats read from a
// file: a gradient store, or a tile of a Gram shard. Row and Col are 0-based,
// as numpy indexes the matrix (g[Row, Col]). It wraps ErrValue.
type NonFiniteError struct {
	File   string
	Tensor string // the tensor of a safetensors file; empty otherwise
	Row    int
	Col    int
	Value  float64
}

// Error formats the error as "FILE: tensor T: row R, column C: VALUE ...".
func (e *NonFiniteError) Error() string {
	s := e.File
	if e.Tensor != "" {
		s += ": tensor " + strconv.Quote(e.Tensor)
	}
	return s + ": row " + strconv.Itoa(e.Row) + ", column " + strconv.Itoa(e.Col) +
		" (0-based): " + strconv.FormatFloat(e.Value, 'g', -1, 64) + ", but every value must be finite"
}

// Unwrap returns ErrValue.
func (e *NonFiniteError) Unwrap() error { return ErrValue }

// BadInput reports that the error is about the input data (exit status 2).
func (e *NonFiniteError) BadInput() bool { return true }

// firstNonFiniteRow returns the first non-finite value of the rows of d
// columns in v as (row, column) relative to v, or (-1, -1).
func firstNonFiniteRow(v []float32, d int) (int, int) {
	i := firstNonFinite32(v)
	if i < 0 || d <= 0 {
		return -1, -1
	}
	return i / d, i % d
}
