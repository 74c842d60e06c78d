//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package trainer

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// acquireLock opens (creating) the lock file at path and takes an exclusive
// flock on it without waiting; errHeld when another open file holds it. The
// kernel drops the lock when its holder exits, however it exits.
func acquireLock(path string) (*os.File, error) {
	for range 100 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, errHeld
			}
			return nil, fmt.Errorf("flock %s: %w", path, err)
		}
		// The holder may have released and removed the file between our
		// open and our lock: then we hold a lock on a removed file.
		fi, err1 := f.Stat()
		pi, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(fi, pi) {
			return f, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("%s keeps being replaced while it is being locked", path)
}
