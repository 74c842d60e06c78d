package analysis

import (
	"context"
	"errors"
	"io"
	"maps"
	"slices"

	"github.com/gradcouple/gradcouple/trajlog"
)

// Sources describes the log files an analysis read.
type Sources struct {
	Files   []string // every file read, in reading order
	Derived []string // fields that an adapter derived rather than read (sorted, unique)
	Rows    int64    // step records read
}

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
// row, or when ctx is cancelled.
func scan(ctx context.Context, patterns []string, opts trajlog.ReadOptions, fn func(*trajlog.Record) error) (Sources, error) {
	return scanFiles(ctx, patterns, opts, func(_ string, r *trajlog.Record) error { return fn(r) })
}

// scanFiles is scan with the name of the file each record came from.
func scanFiles(ctx context.Context, patterns []string, opts trajlog.ReadOptions, fn func(file string, r *trajlog.Record) error) (Sources, error) {
	var src Sources
	derived := map[string]bool{}
	for _, p := range patterns {
		r, err := trajlog.Open(p, opts)
		if err != nil {
			return src, err
		}
		n, err := scanReader(ctx, r, fn)
		src.Rows += n
		src.Files = append(src.Files, r.Files()...)
		if err := closeReader(r, err, derived); err != nil {
			return src, err
		}
	}
	src.Derived = slices.Sorted(maps.Keys(derived))
	return src, nil
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
