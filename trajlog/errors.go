package trajlog

import (
	"errors"
	"fmt"
)

// ErrSchemaVersion is matched (errors.Is) by errors about a parquet file written
// with a schema version this build does not read.
var ErrSchemaVersion = errors.New("unsupported schema version")

// ValidationError is bad input in a log file: it names the file, the row (or
// line) and the field. Row is 1-based; 0 means the error concerns the whole file
// (its schema, its footer). Field is empty when no single field is at fault.
type ValidationError struct {
	File  string
	Row   int64
	Field string
	Msg   string
	Err   error // underlying cause, may be nil
}

// Error formats the error as "FILE: row R: field F: MSG", leaving out the row
// when Row is 0 and the field when Field is empty. For JSONL files the row is
// the line number.
func (e *ValidationError) Error() string {
	s := e.File
	if e.Row > 0 {
		s += fmt.Sprintf(": row %d", e.Row)
	}
	if e.Field != "" {
		s += fmt.Sprintf(": field %s", e.Field)
	}
	return s + ": " + e.Msg
}

// Unwrap returns the underlying cause (nil if none), so that errors.Is
// matches, for example, ErrSchemaVersion.
func (e *ValidationError) Unwrap() error { return e.Err }

// BadInput reports that the error is about the input data (exit status 2).
func (e *ValidationError) BadInput() bool { return true }
