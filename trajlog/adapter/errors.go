package adapter

import (
	"errors"
	"fmt"

	"github.com/gradcouple/gradcouple/trajlog"
)

// ErrUnknownFormat is matched (errors.Is) by errors from Detect and Read about a
// path that holds no log this package recognises.
var ErrUnknownFormat = errors.New("unrecognised log format")

// ErrMixedFormats is matched (errors.Is) by errors about a directory that holds
// logs of more than one format.
var ErrMixedFormats = errors.New("directory mixes log formats")

// ErrCanonical is matched (errors.Is) by the error Read returns for logs that
// are already in gradcouple's step-record schema (FormatCanonical): they need
// no adapter and are read with package trajlog.
var ErrCanonical = errors.New("log is already in the canonical step-record schema; read it with package trajlog")

// invalid returns a *trajlog.ValidationError about file, row (1-based line or
// row; 0 for the whole file) and field.
func invalid(file string, row int64, field, format string, args ...any) *trajlog.ValidationError {
	return &trajlog.ValidationError{File: file, Row: row, Field: field, Msg: fmt.Sprintf(format, args...)}
}
