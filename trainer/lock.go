package trainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// LockFile is the lock of a run directory, held by the process training into
// it. It is hidden, so readers of the directory skip it, and records its
// holder (LockHolder) for the message of a refused second trainer.
const LockFile = ".lock"

// LockHolder is what a lock file records about the process holding it.
type LockHolder struct {
	PID     int    `json:"pid"`
	Host    string `json:"host"`
	Started string `json:"started"`
}

func (h LockHolder) String() string {
	if h.PID == 0 {
		return "another process (it has not recorded itself yet)"
	}
	return fmt.Sprintf("pid %d on host %s since %s", h.PID, h.Host, h.Started)
}

// errHeld is returned by acquireLock when another process holds the lock.
var errHeld = errors.New("lock held")

// runLock is a held lock of a run directory.
type runLock struct {
	f    *os.File
	path string
}

// lockRun creates dir if needed and takes its lock, or fails at once with an
// error matching ErrLocked that names the holder. The lock is an OS advisory
// lock (flock) where there is one, so the kernel releases it when its holder
// dies, even by kill -9; the next trainer then takes it over. Elsewhere it is
// an exclusive file, taken over when its holder is on this host and no longer
// alive.
func lockRun(dir, started string) (*runLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating run directory: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := acquireLock(path)
	if errors.Is(err, errHeld) {
		return nil, fmt.Errorf("%w: %s is being trained by %s (lock file %s)", ErrLocked, dir, readHolder(path), path)
	}
	if err != nil {
		return nil, fmt.Errorf("locking run directory %s: %w", dir, err)
	}
	host, _ := os.Hostname()
	b, err := json.Marshal(LockHolder{PID: os.Getpid(), Host: host, Started: started})
	if err == nil {
		if err = f.Truncate(0); err == nil {
			if _, err = f.WriteAt(append(b, '\n'), 0); err == nil {
				err = f.Sync()
			}
		}
	}
	l := &runLock{f: f, path: path}
	if err != nil {
		l.release()
		return nil, fmt.Errorf("recording the holder in %s: %w", path, err)
	}
	return l, nil
}

// release removes the lock file and releases the lock. A trainer that opened
// the file just before its removal sees that the file it locked is no longer
// the lock file and tries again (acquireLock).
func (l *runLock) release() {
	if l == nil {
		return
	}
	err := os.Remove(l.path)
	l.f.Close()
	if err != nil { // Windows removes no open file
		os.Remove(l.path)
	}
}

// readHolder reads the holder recorded in a lock file, waiting briefly for a
// holder that has just taken the lock to write it.
func readHolder(path string) LockHolder {
	var h LockHolder
	for range 20 {
		if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &h) == nil && h.PID != 0 {
			return h
		}
		time.Sleep(10 * time.Millisecond)
	}
	return LockHolder{}
}
