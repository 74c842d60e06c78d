package analysis

import (
	"context"
	"errors"
	"io"
	"sort"

	"github.com/gradcouple/gradcouple/trajlog"
)

// Sources describes the log files an analysis read.
type Sources struct {
	Files   []string // every file read, in reading order
	Derived []string // fields that an adapter derived rather than read (sorted, unique)
	Rows    int64    // step records read
}

// scanBatch is the number of records read per call; it bounds memory.
const scanBatch = 4096

// scan streams the step records of every pattern (a file, a directory or a glob)
// to fn, in file order and row order. The *Record passed to fn is reused: fn must
// copy what it keeps. Reading stops at the first error, which names the file and
// row, or when ctx is cancelled.
func scan(ctx context.Context, patterns []string, opts trajlog.ReadOptions, fn func(*trajlog.Record) error) (Sources, error) {
	var src Sources
	derived := map[string]bool{}
	buf := make([]trajlog.Record, scanBatch)
	for _, p := range patterns {
		r, err := trajlog.Open(p, opts)
		if err != nil {
			return src, err
		}
		for {
			if err := ctx.Err(); err != nil {
				r.Close()
				return src, err
			}
			n, err := r.Read(buf)
			for i := 0; i < n; i++ {
				if ferr := fn(&buf[i]); ferr != nil {
					r.Close()
					return src, ferr
				}
			}
			src.Rows += int64(n)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				r.Close()
				return src, err
			}
		}
		src.Files = append(src.Files, r.Files()...)
		for _, d := range r.Derived() {
			derived[d] = true
		}
		if err := r.Close(); err != nil {
			return src, err
		}
	}
	for d := range derived {
		src.Derived = append(src.Derived, d)
	}
	sort.Strings(src.Derived)
	return src, nil
}
