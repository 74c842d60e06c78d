package trainer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/internal/atomicfile"
)

// Names inside a run directory (DESIGN.md §3.2).
const (
	ManifestFile   = "run.json"
	MetricsFile    = "metrics.jsonl"
	TimingFile     = "timing.jsonl"
	LogsDir        = "logs"
	CheckpointsDir = "checkpoints"
)

// FormatVersion is the version of the run directory layout in run.json.
const FormatVersion = 1

// LogFile is the step-record file of iteration i inside a run directory.
func LogFile(i int) string { return filepath.Join(LogsDir, fmt.Sprintf("iter-%06d.parquet", i)) }

// CheckpointDir is the checkpoint directory of iteration i inside a run
// directory: the policy that collected iteration i's rollouts, with the Adam
// state after i updates.
func CheckpointDir(i int) string {
	return filepath.Join(CheckpointsDir, fmt.Sprintf("iter-%06d", i))
}

// Manifest is run.json. Started, Finished and Resumed are wall-clock facts
// that differ between an interrupted and an uninterrupted run of the same
// configuration; everything else is equal.
type Manifest struct {
	Format   int         `json:"format"`
	Version  string      `json:"version"` // gradcouple build that wrote the run: module version or devel, +revision, .dirty (internal/buildinfo)
	Run      string      `json:"run"`
	Env      string      `json:"env"`
	Algo     string      `json:"algo"`
	Seed     uint64      `json:"seed"`
	Preset   string      `json:"preset,omitempty"`
	Config   Config      `json:"config"`
	Started  string      `json:"started"`
	Finished string      `json:"finished,omitempty"`
	Resumed  []ResumeLog `json:"resumed,omitempty"`
}

// ResumeLog records one resumption: when, and the iteration (checkpoint)
// training restarted from.
type ResumeLog struct {
	At   string `json:"at"`
	From int    `json:"from_iteration"`
}

func writeManifest(dir string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(dir, ManifestFile), append(b, '\n'))
}

// ReadManifest reads dir/run.json.
func ReadManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s has no %s: %w", ErrNoRun, dir, ManifestFile, err)
		}
		return nil, err
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrRunDir, path, err)
	}
	if m.Format > FormatVersion {
		return nil, fmt.Errorf("%w: %s: format %d is newer than this trainer's %d", ErrRunDir, path, m.Format, FormatVersion)
	}
	return &m, nil
}

// ReadMetrics reads the committed lines of dir/metrics.jsonl: complete
// lines (ending in a newline) numbered 0, 1, 2, .... A final line without
// its newline is an interrupted write and is left out.
func ReadMetrics(dir string) ([]Metrics, error) {
	path := filepath.Join(dir, MetricsFile)
	lines, err := readLines(path)
	if err != nil {
		return nil, err
	}
	out := make([]Metrics, 0, len(lines))
	for n, line := range lines {
		var m Metrics
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, fmt.Errorf("%w: %s line %d: %v", ErrRunDir, path, n+1, err)
		}
		if m.Iteration != n {
			return nil, fmt.Errorf("%w: %s line %d: iteration %d, want %d", ErrRunDir, path, n+1, m.Iteration, n)
		}
		out = append(out, m)
	}
	return out, nil
}

// readLines returns the complete lines of a file (nil for a missing file).
func readLines(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var lines [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break // interrupted write
		}
		lines = append(lines, b[:i])
		b = b[i+1:]
	}
	return lines, nil
}

// appendLine appends v as one JSON line to path and syncs the file. The
// line of metrics.jsonl is the commit point of an iteration.
func appendLine(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("appending to %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	return f.Close()
}

// keepLines rewrites the JSON-lines file at path (atomically) with only its
// complete lines whose "iteration" is below before; malformed lines are
// dropped.
func keepLines(path string, before int) error {
	lines, err := readLines(path)
	if err != nil {
		return err
	}
	if lines == nil {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	var buf bytes.Buffer
	for _, line := range lines {
		var v struct {
			Iteration *int `json:"iteration"`
		}
		if json.Unmarshal(line, &v) != nil || v.Iteration == nil || *v.Iteration >= before {
			continue
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return atomicfile.WriteBytes(path, buf.Bytes())
}

// iterOf parses "iter-000012" (with an optional extension) into 12.
func iterOf(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "iter-")
	if !ok {
		return 0, false
	}
	s = strings.TrimSuffix(s, filepath.Ext(s))
	if len(s) != 6 {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// checkpointIters lists the iterations of the complete checkpoints of dir,
// in increasing order. Hidden entries (temporaries of an interrupted save)
// are skipped.
func checkpointIters(dir string) ([]int, error) {
	ents, err := os.ReadDir(filepath.Join(dir, CheckpointsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		if n, ok := iterOf(e.Name()); ok && e.IsDir() {
			out = append(out, n)
		}
	}
	return out, nil
}

// clean removes what an interrupted run may leave behind that does not
// belong to iterations before keep: hidden temporaries (".NAME.tmp-*",
// ".iter-*.old-*") in the run directory, logs/ and checkpoints/; logs of
// iterations >= keep; checkpoints of iterations > keepCkpt.
func clean(dir string, keep, keepCkpt int) error {
	for _, sub := range []string{".", LogsDir, CheckpointsDir} {
		d := filepath.Join(dir, sub)
		ents, err := os.ReadDir(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		for _, e := range ents {
			name := e.Name()
			n, isIter := iterOf(name)
			remove := false
			switch {
			case strings.HasPrefix(name, ".") && (strings.Contains(name, ".tmp-") || strings.Contains(name, ".old-")):
				remove = true
			case sub == LogsDir && isIter && strings.HasSuffix(name, ".parquet"):
				remove = n >= keep
			case sub == CheckpointsDir && isIter:
				remove = n > keepCkpt
			}
			if remove {
				if err := os.RemoveAll(filepath.Join(d, name)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// isEmptyDir reports whether dir is missing or holds nothing but its lock
// file and the temporary file of an interrupted first write of run.json.
func isEmptyDir(dir string) (bool, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		if e.Name() != LockFile && !strings.HasPrefix(e.Name(), "."+ManifestFile+".tmp-") {
			return false, nil
		}
	}
	return true, nil
}
