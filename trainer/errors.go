package trainer

import "errors"

// Sentinel errors, matched with errors.Is.
var (
	// ErrConfig: a configuration value is out of range or a configuration
	// file is malformed.
	ErrConfig = errors.New("trainer: bad configuration")
	// ErrRunExists: a new run was asked for in a directory that already
	// holds files (use Resume to continue it).
	ErrRunExists = errors.New("trainer: run directory is not empty")
	// ErrLocked: another process is training into the run directory (its
	// lock file, LockFile, is held); the message names the holder.
	ErrLocked = errors.New("trainer: run directory is locked")
	// ErrNoRun: Resume was asked for in a directory without a run.json.
	ErrNoRun = errors.New("trainer: not a run directory")
	// ErrRunDir: a run directory's files are inconsistent (a malformed
	// run.json or metrics.jsonl, a missing reference checkpoint).
	ErrRunDir = errors.New("trainer: inconsistent run directory")
)
