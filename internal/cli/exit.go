package cli

import (
	"errors"
	"io/fs"
)

// Exit statuses of the gradcouple binary.
const (
	ExitOK       = 0 // success
	ExitFailure  = 1 // the work failed (I/O error, internal error)
	ExitBadInput = 2 // bad input or usage: a missing or malformed file, a wrong flag
)

// UsageError is a command-line mistake: an unknown flag, a missing argument, a
// value out of range. It maps to ExitBadInput. Usage, when set, is the
// command's usage line ("gradcouple inspect [options] LOGS..."), printed on
// a line of its own after Msg.
type UsageError struct {
	Msg   string
	Usage string
}

func (e *UsageError) Error() string {
	if e.Usage == "" {
		return e.Msg
	}
	return e.Msg + "\nusage: " + e.Usage
}

// BadInput marks a usage error as bad input.
func (e *UsageError) BadInput() bool { return true }

// badInputer is implemented by errors that describe bad input data: each
// package's validation error type (trajlog.ValidationError, ...) has it.
type badInputer interface{ BadInput() bool }

// ExitCode maps an error returned by a command to the process exit status. It
// is the one place where errors become exit codes.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var bi badInputer
	if errors.As(err, &bi) && bi.BadInput() {
		return ExitBadInput
	}
	if errors.Is(err, fs.ErrNotExist) {
		return ExitBadInput
	}
	return ExitFailure
}

// inputError marks an error of a lower package as bad input.
type inputError struct{ err error }

func (e *inputError) Error() string  { return e.err.Error() }
func (e *inputError) Unwrap() error  { return e.err }
func (e *inputError) BadInput() bool { return true }

// badInput marks err (if not nil) as bad input, exit status 2.
func badInput(err error) error {
	if err == nil {
		return nil
	}
	return &inputError{err}
}
