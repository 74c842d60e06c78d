package cli

import (
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/mattn/go-isatty"
)

// Env is what commands may touch of the outside world: standard streams, the
// clock and whether stderr is a terminal (for progress bars). Commands never use
// os.Stdout directly, so tests run them against buffers.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Now returns the current time; tests may fix it.
	Now func() time.Time
	// Terminal reports whether Stderr is an interactive terminal.
	Terminal bool
	// Log is the logger for --log-level messages; NewApp sets it up on Stderr.
	Log *slog.Logger
}

// SystemEnv returns the Env of the running process.
func SystemEnv() *Env {
	return &Env{
		Stdin:    os.Stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Now:      time.Now,
		Terminal: isatty.IsTerminal(os.Stderr.Fd()) || isatty.IsCygwinTerminal(os.Stderr.Fd()),
	}
}
