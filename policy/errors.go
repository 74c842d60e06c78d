package policy

import "errors"

// ErrTooLong is returned (wrapped) when a sequence does not fit the
// model's context.
var ErrTooLong = errors.New("sequence longer than the context")
