package coupling

import "errors"

// ErrTooLarge is matched (errors.Is) by the error returned when a dense
// result would exceed the memory budget (GramConfig.MaxBytes). The message
// names the alternatives that need no dense matrix: group statistics
// (GroupCosines), the top-k pairs (TopK) and sharded tiles (GramTiles).
var ErrTooLarge = errors.New("coupling: dense result exceeds the memory budget")

// ErrParameter is matched by errors about a parameter outside its domain
// (a shard index outside [0, shards), a fold count below 2).
var ErrParameter = errors.New("coupling: invalid parameter")
