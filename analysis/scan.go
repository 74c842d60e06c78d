package analysis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/gradcouple/gradcouple/trajlog/adapter"
)

// Sources describes the log files an analysis read.
type Sources struct {
	Files   []string // every file read, in reading order
	Derived []string // fields that an adapter derived rather than read (sorted, unique)
	Rows    int64    // step records read
	Inputs  []Input  // one per pattern given, in order
}

// Input describes how one pattern (a file, a directory or a glob) was read:
// as canonical step records, or through the adapter of another trainer's
// log format (trajlog/adapter), as `gradcouple convert` reads it.
type Input struct {
	Pattern string
	// Format is "canonical" or the adapter's format (verl, verl-agent, trl,
	// rllm).
	Format  string
	Files   int
	Rows    int64
	Derived []string // fields not in the log (sorted)
	// The rest is set for adapter inputs only.
	State           string // the state rule ("" for the format's default)
	LabelColumn     string // Options.LabelColumn
	LabelFile       string // the label table's file
	Labelled        int64  // records with a known label
	LabelsFromTable int64  // records labelled by the label table
	Copies          int64  // exact copies of verl-agent step lines dropped
	NoActionTag     int64  // verl-agent responses without an <action> block
	ZeroedSingleton int64  // derived groups of one, given advantage 0
}

// Adapter reports whether the input was read through an adapter.
func (in Input) Adapter() bool { return in.Format != string(adapter.FormatCanonical) }

// scanBatch is the number of records read per call, and scanBuffers the
// number of batches in flight; together they bound memory.
const (
	scanBatch   = 4096
	scanBuffers = 3
)

// batch is a slice of records read from one Reader.
type batch struct {
	recs []trajlog.Record
	n    int
	file string // the file the records came from
}

// scan streams the step records of every pattern (a file, a directory or a glob)
// to fn, in file order and row order. Decoding runs on its own goroutine, one
// batch ahead of fn, so reading and counting overlap; fn is called from the
// calling goroutine, in order. The *Record passed to fn is reused: fn must copy
// what it keeps. Reading stops at the first error, which names the file and
// row, or when ctx is cancelled. Other trainers' logs are read with the
// adapters' defaults (see scanFiles).
func scan(ctx context.Context, patterns []string, opts trajlog.ReadOptions, fn func(*trajlog.Record) error) (Sources, error) {
	return scanFiles(ctx, patterns, opts, adapter.Options{}, func(_ string, r *trajlog.Record) error { return fn(r) })
}

// scanFiles is scan with the name of the file each record came from. A
// pattern naming verl, verl-agent, TRL or rLLM logs (adapter.Detect, or
// aopts.Format when set) is read through its adapter with aopts: two passes
// (adapter.Scan, then Log.EmitFiles), in batches, so memory is bounded by
// the number of groups and trajectories, not by the log's text. Canonical
// logs take trajlog.Open's path; the state rule and label options of aopts
// do not apply to them, and naming them is an error.
func scanFiles(ctx context.Context, patterns []string, opts trajlog.ReadOptions, aopts adapter.Options, fn func(file string, r *trajlog.Record) error) (Sources, error) {
	var src Sources
	derived := map[string]bool{}
	for _, p := range patterns {
		paths, format, err := classify(p, aopts)
		if err != nil {
			return src, err
		}
		in := Input{Pattern: p, Format: string(format)}
		if format == adapter.FormatCanonical {
			if !aopts.State.IsZero() || aopts.LabelColumn != "" || aopts.Labels != nil {
				return src, &OptionsError{Msg: fmt.Sprintf("%s holds canonical step records: a state rule and labels apply to other trainers' logs read through an adapter (convert the original log again with them)", p)}
			}
			r, err := trajlog.Open(p, opts)
			if err != nil {
				return src, err
			}
			n, err := scanReader(ctx, r, fn)
			src.Rows += n
			src.Files = append(src.Files, r.Files()...)
			in.Files, in.Rows, in.Derived = len(r.Files()), n, slices.Clone(r.Derived())
			src.Inputs = append(src.Inputs, in)
			if err := closeReader(r, err, derived); err != nil {
				return src, err
			}
			continue
		}
		o := aopts
		o.Format = format
		l, err := adapter.ScanPaths(paths, o)
		if err != nil {
			return src, err
		}
		var n int64
		err = l.EmitFiles(scanBatch, func(file string, recs []trajlog.Record) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			for i := range recs {
				if opts.SkipPrompt {
					recs[i].Prompt = ""
				}
				if err := fn(file, &recs[i]); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		src.Rows += n
		src.Files = append(src.Files, l.Files()...)
		in.Files, in.Rows, in.Derived = len(l.Files()), n, l.Derived()
		in.State = l.State().String()
		in.LabelColumn = aopts.LabelColumn
		if aopts.Labels != nil {
			in.LabelFile = aopts.Labels.File
		}
		in.Labelled, in.LabelsFromTable = l.Labelled(), l.LabelsFromTable()
		in.Copies, in.NoActionTag, in.ZeroedSingleton = l.Copies(), l.NoActionTag(), l.ZeroedSingletons()
		src.Inputs = append(src.Inputs, in)
		for _, d := range in.Derived {
			derived[d] = true
		}
		if err != nil {
			return src, err
		}
	}
	src.Derived = slices.Sorted(maps.Keys(derived))
	return src, nil
}

// OptionsError is a reading option that does not fit the input (bad usage).
type OptionsError struct{ Msg string }

func (e *OptionsError) Error() string { return e.Msg }

// BadInput marks the error as bad input (exit status 2).
func (e *OptionsError) BadInput() bool { return true }

// classify tells how pattern is read: canonical step records (trajlog.Open
// on the pattern, which also reports missing and malformed files), or the
// paths it names (itself, or a glob's matches) and their adapter format.
// A directory with a logs subdirectory is a run directory (canonical); a
// path whose format Detect cannot tell is left to trajlog.Open.
func classify(pattern string, aopts adapter.Options) ([]string, adapter.Format, error) {
	paths := []string{pattern}
	if _, err := os.Stat(pattern); err != nil {
		if !strings.ContainsAny(pattern, "*?[") {
			return nil, adapter.FormatCanonical, nil
		}
		m, gerr := filepath.Glob(pattern)
		if gerr != nil || len(m) == 0 {
			return nil, adapter.FormatCanonical, nil
		}
		paths = m
	}
	var format adapter.Format
	for _, p := range paths {
		f := aopts.Format
		if f == "" {
			f = adapter.FormatCanonical
			if fi, err := os.Stat(filepath.Join(p, "logs")); err == nil && fi.IsDir() {
				// A run directory: trajlog.Open reads its logs/.
			} else if d, err := adapter.Detect(p); err == nil {
				f = d
			} else if errors.Is(err, adapter.ErrMixedFormats) {
				return nil, "", err
			}
		}
		if format != "" && f != format {
			return nil, "", fmt.Errorf("%s: %w: %s is %s, %s is %s; give them as separate inputs", pattern, adapter.ErrMixedFormats, paths[0], format, p, f)
		}
		format = f
	}
	return paths, format, nil
}

// closeReader closes r, the reader of one pattern, once its records are
// read with the result err (a close error is returned only when err is
// nil), and adds the fields its adapter derived to derived, the set behind
// Sources.Derived.
func closeReader(r *trajlog.Reader, err error, derived map[string]bool) error {
	for _, d := range r.Derived() {
		derived[d] = true
	}
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return err
}

// scanReader feeds every record of r to fn, decoding on a second goroutine.
func scanReader(ctx context.Context, r *trajlog.Reader, fn func(string, *trajlog.Record) error) (int64, error) {
	free := make(chan *batch, scanBuffers)
	full := make(chan *batch, scanBuffers)
	for i := 0; i < scanBuffers; i++ {
		free <- &batch{recs: make([]trajlog.Record, scanBatch)}
	}
	stop := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(full)
		for {
			var b *batch
			select {
			case b = <-free:
			case <-stop:
				errc <- nil
				return
			}
			n, err := r.Read(b.recs)
			b.n, b.file = n, r.File() // one Read takes records from one file
			if n > 0 {
				full <- b
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				errc <- err
				return
			}
		}
	}()
	var rows int64
	var ferr error
	for b := range full {
		if ferr == nil {
			ferr = ctx.Err()
		}
		for i := 0; i < b.n && ferr == nil; i++ {
			ferr = fn(b.file, &b.recs[i])
		}
		if ferr == nil {
			rows += int64(b.n)
		}
		if ferr != nil {
			close(stop)
			for range full { // let the reader finish
			}
			<-errc
			return rows, ferr
		}
		free <- b
	}
	return rows, <-errc
}
