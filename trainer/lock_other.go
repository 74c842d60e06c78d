//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package trainer

import (
	"errors"
	"io/fs"
	"os"
	"runtime"
)

// acquireLock creates the lock file at path exclusively; errHeld when it
// exists and its recorded holder may be alive. Without an OS advisory lock a
// killed holder leaves the file behind: it is taken over when the holder was
// on this host and its process is gone.
func acquireLock(path string) (*os.File, error) {
	for range 2 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		h := readHolder(path)
		host, _ := os.Hostname()
		if h.PID == 0 || h.Host != host || alive(h.PID) {
			return nil, errHeld
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return nil, errHeld
}

// alive reports whether process pid may be running. Only Windows' FindProcess
// checks; elsewhere a process is assumed alive.
func alive(pid int) bool {
	if runtime.GOOS != "windows" {
		return true
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}
