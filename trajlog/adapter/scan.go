package adapter

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gradcouple/gradcouple/trajlog"
)

// Log is a foreign rollout log that Scan has read once. Its records are
// produced by a second read, Emit, in bounded batches, so that converting a
// log takes memory proportional to its number of groups and trajectories
// (a few words each), not to the text of its prompts and actions.
type Log struct {
	path    string
	format  Format
	files   []string
	opts    Options
	d       *deriver
	rewards []string // TRL: the reward columns summed, in order of first appearance
	defRew  bool     // TRL: rewards were chosen by default
	emitted bool
}

// Scan reads the log at path (a file or a directory) once, checking every
// line, row or episode and collecting what the derived fields need: the
// groups (by a hash of their identity) and the outcomes of their
// trajectories. The format is Options.Format, or Detect's. Errors are as for
// Read. Call Emit for the records.
func Scan(path string, opts Options) (*Log, error) {
	return ScanPaths([]string{path}, opts)
}

// ScanPaths is Scan over several files or directories read as one log (the
// matches of a glob): their log files are read in step order, then path
// order. Every path must be of one format (else an error matching
// ErrMixedFormats); the default run name is that of the first path.
func ScanPaths(paths []string, opts Options) (*Log, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("adapter: no paths to read: %w", ErrUnknownFormat)
	}
	format := opts.Format
	if format == "" {
		for _, p := range paths {
			f, err := Detect(p)
			if err != nil {
				return nil, err
			}
			if f == FormatCanonical {
				return nil, fmt.Errorf("reading %s: %w", p, ErrCanonical)
			}
			if format != "" && f != format {
				return nil, fmt.Errorf("reading %s: %w: %s (%s) and %s (%s)", strings.Join(paths, ", "), ErrMixedFormats, paths[0], format, p, f)
			}
			format = f
		}
	}
	var files []string
	for _, p := range paths {
		fs, err := listFiles(p, format)
		if err != nil {
			return nil, err
		}
		if len(fs) == 0 {
			return nil, fmt.Errorf("reading %s: %w: no %s logs (%s) in the directory", p, ErrUnknownFormat, format, namePattern(format))
		}
		files = append(files, fs...)
	}
	if len(paths) > 1 {
		sortByStep(files)
		files = slices.Compact(files)
	}
	path := paths[0]
	if len(paths) > 1 {
		path = strings.Join(paths, ", ")
	}
	l := &Log{path: path, format: format, files: files, opts: opts,
		d: newDeriver(opts, defaultRun(paths[0], format, true), format)}
	observe := func(r *row) error { return l.d.observe(r) }
	for _, name := range files {
		info, err := readFile(name, format, opts, observe)
		if err != nil {
			return nil, err
		}
		for _, c := range info.rewards {
			if !slices.Contains(l.rewards, c) {
				l.rewards = append(l.rewards, c)
			}
		}
		l.defRew = l.defRew || info.defaulted
	}
	if err := l.d.compute(path); err != nil {
		return nil, err
	}
	return l, nil
}

// namePattern is the file name of one format's logs, for messages.
func namePattern(f Format) string {
	switch f {
	case FormatVerl, FormatVerlAgent:
		return "{step}.jsonl"
	case FormatTRL:
		return "completions_{step}.parquet"
	case FormatRLLM:
		return "episode_*.json"
	}
	return "iter-*.parquet"
}

// Format returns the format of the log.
func (l *Log) Format() Format { return l.format }

// Files returns the log files, in the order they are read. The caller must
// not modify the slice.
func (l *Log) Files() []string { return l.files }

// Run returns the run name written to every record.
func (l *Log) Run() string { return l.d.run }

// Records returns the number of step records.
func (l *Log) Records() int64 { return l.d.records }

// Copies returns the number of exact copies of step lines dropped (verl-agent
// pads its batch with copies of random samples, adjust_batch(mode="copy")).
func (l *Log) Copies() int64 { return l.d.copies }

// NoActionTag returns the number of verl-agent responses without an
// <action>...</action> block: invalid actions, as verl-agent's projection
// treats them.
func (l *Log) NoActionTag() int64 { return l.d.noTag }

// ZeroedSingletons returns the number of groups derived from identical
// prompts that held a single trajectory and so got advantage 0 instead of
// their reward (a group the log did not say is not a group of one).
func (l *Log) ZeroedSingletons() int64 { return l.d.zeroed }

// State returns the state rule (the zero rule: the format's default).
func (l *Log) State() StateRule { return l.opts.State }

// Labelled returns the number of records emitted so far with a known
// label (good or bad); after Emit, of every record.
func (l *Log) Labelled() int64 { return l.d.labelled }

// LabelsFromTable returns the number of records emitted so far whose label
// came from Options.Labels.
func (l *Log) LabelsFromTable() int64 { return l.d.fromTable }

// Trajectories returns the number of trajectories.
func (l *Log) Trajectories() int64 { return l.d.trajs }

// Groups returns the number of rollout groups.
func (l *Log) Groups() int { return len(l.d.groups) }

// Derived lists, sorted, the record fields that were not read from the log
// but derived (see Result.Derived).
func (l *Log) Derived() []string { return l.d.derivedFields() }

// RewardColumns returns, for a TRL log, the reward columns summed into the
// outcome in order of first appearance, and whether they were chosen by
// default (every float column; Options.RewardColumns empty). Nil for other
// formats.
func (l *Log) RewardColumns() (cols []string, byDefault bool) {
	return slices.Clone(l.rewards), l.defRew
}

// Emit reads the log a second time and hands its finished records to fn in
// input order (as Result.Records), at most batch at a time (1024 when batch
// <= 0). fn must not keep the slice, which is reused. An error of fn stops
// Emit and is returned as is. Emit can be called once; errors are those of
// Scan, plus a derived record that breaks the schema (e.g. an advantage
// overflowing float32), a prompt in which the state rule finds no state,
// and a log that changed since Scan.
func (l *Log) Emit(batch int, fn func([]trajlog.Record) error) error {
	return l.emit(batch, false, func(_ string, recs []trajlog.Record) error { return fn(recs) })
}

// EmitFiles is Emit with the log file each batch comes from: a batch never
// spans two files.
func (l *Log) EmitFiles(batch int, fn func(file string, recs []trajlog.Record) error) error {
	return l.emit(batch, true, fn)
}

// emit is Emit, with batches cut at file boundaries when perFile is set.
func (l *Log) emit(batch int, perFile bool, fn func(file string, recs []trajlog.Record) error) error {
	if l.emitted {
		return errors.New("adapter: Log.Emit called twice")
	}
	l.emitted = true
	if batch <= 0 {
		batch = 1024
	}
	buf := make([]trajlog.Record, 0, batch)
	var fnErr error
	file := ""
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if err := fn(file, buf); err != nil {
			fnErr = err
			return err
		}
		clear(buf)
		buf = buf[:0]
		return nil
	}
	apply := func(r *row) error {
		rec, keep, err := l.d.apply(r)
		if err != nil || !keep {
			return err
		}
		buf = append(buf, rec)
		if len(buf) == batch {
			return flush()
		}
		return nil
	}
	var n int64
	for _, name := range l.files {
		file = name
		_, err := readFile(name, l.format, l.opts, func(r *row) error { n++; return apply(r) })
		if err == nil && perFile {
			err = flush()
		}
		if err != nil {
			if fnErr != nil {
				return fnErr
			}
			return err
		}
	}
	if n != l.d.records+l.d.copies {
		return fmt.Errorf("reading %s: the log changed while it was being read (%d records, then %d)", l.path, l.d.records, n)
	}
	return flush()
}
