package metrics

import "errors"

// ErrParameter is matched (errors.Is) by errors about a model parameter
// outside its domain (a probability outside [0, 1], a group size below 2).
var ErrParameter = errors.New("metrics: invalid parameter")
