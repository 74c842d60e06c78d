package adapter

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/metrics"
	"github.com/gradcouple/gradcouple/trajlog"
)

// Format names a rollout-log format.
type Format string

// The formats Detect recognises.
const (
	// FormatVerl is a verl rollout dump: trainer.rollout_data_dir/{step}.jsonl.
	FormatVerl Format = "verl"
	// FormatVerlAgent is a verl-agent rollout dump carrying the batch's fields
	// (uid, traj_uid, turn, episode_rewards, ...; scripts/verl-agent): the
	// same file names as verl, one line per environment step.
	FormatVerlAgent Format = "verl-agent"
	// FormatTRL is a TRL GRPOTrainer completion table: completions/completions_{step:05d}.parquet.
	FormatTRL Format = "trl"
	// FormatRLLM is an rLLM episode log: episodes/{mode}_step_{step}_epoch_{epoch}/episode_*.json.
	FormatRLLM Format = "rllm"
	// FormatCanonical is gradcouple's own step-record log (logs/iter-NNNNNN.parquet
	// or .jsonl). It needs no adapter: Read refuses it with ErrCanonical.
	FormatCanonical Format = "canonical"
)

// ParseFormat returns the Format named s ("verl", "verl-agent", "trl",
// "rllm", "canonical"), case-insensitively. An unknown name gives an error
// matching ErrUnknownFormat.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case FormatVerl, FormatVerlAgent, FormatTRL, FormatRLLM, FormatCanonical:
		return f, nil
	}
	return "", fmt.Errorf("%w %q (want verl, verl-agent, trl, rllm or canonical)", ErrUnknownFormat, s)
}

// MaxLineBytes bounds one line of a JSONL log (16 MiB). A longer line is
// reported as a *trajlog.ValidationError instead of being buffered.
const MaxLineBytes = 16 << 20

// MaxFileBytes bounds a TRL parquet table given to ReadTRL as an io.Reader,
// which must be held in memory whole (1 GiB).
const MaxFileBytes = 1 << 30

// MaxEpisodeBytes bounds an rLLM episode file, which is parsed whole: the same
// bound as a verl line (MaxLineBytes), since an episode plays the part of a
// line.
const MaxEpisodeBytes = MaxLineBytes

// Options controls how foreign logs map into step records. The zero value
// gives the defaults written on each field.
type Options struct {
	// Run is the run name written to every record. Default: the base name of
	// the directory holding the logs, skipping the containers the trainers
	// create themselves (TRL's completions/{train,eval}, rLLM's episodes/ and
	// {mode}_step_{n}_epoch_{e}); for an io.Reader entry point without a
	// directory in its name, the format name.
	Run string
	// Advantage selects the GRPO convention used where an advantage has to be
	// recomputed (std-normalised by default; NoStd for Dr. GRPO).
	Advantage metrics.AdvantageConfig
	// SuccessThreshold: where a log has no success flag, a trajectory succeeds
	// when its outcome is strictly greater than this value. Default 0, so a
	// 0/1 reward maps 1 to success.
	SuccessThreshold float64
	// Split overrides the split of every record (trajlog.SplitTrain,
	// SplitEvalIn or SplitEvalOut). Default: from the log where it says
	// (TRL's mode column or completions/eval/, rLLM's val_step_* directories,
	// mapped to eval-in), otherwise train.
	Split string
	// RewardColumns names the reward-function columns of a TRL table. Default:
	// every top-level float or double column other than step, prompt,
	// completion and advantage. TRL also writes the columns of log_extra into
	// the same table without marking them; name the reward columns here when a
	// numeric extra column would otherwise be summed into the outcome.
	RewardColumns []string
	// Format reads the log as this format instead of detecting it: a file is
	// read whatever its name or content, so that a file missing a column gets
	// an error naming the column; in a directory, the files named as that
	// format's logs are ({step}.jsonl, completions_{step}.parquet,
	// episode_*.json). Default "": Detect.
	Format Format
	// SingleTurn reads a verl dump whose lines look like the environment
	// steps of multi-turn trajectories (step counters or histories in the
	// prompts, exact copies) as single-turn anyway, every line its own
	// one-step trajectory. Default false: such a dump is refused with a
	// *MultiTurnError naming the fields to dump.
	SingleTurn bool
	// RawAction keeps a verl-agent response whole as the action. Default
	// false: the action is the text between <action> and </action>, as
	// verl-agent's projection gives it to the environment.
	RawAction bool
	// GroupAdvantage says over what a recomputed advantage of a verl-agent
	// dump takes its group statistics. Default AdvantageTrajectory.
	GroupAdvantage GroupAdvantageMode
	// State is the state rule that makes state_key (ParseStateRule). Default
	// (the zero rule): the whole prompt, and for verl-agent the dump's
	// anchor_obs or else the prompt without its history.
	State StateRule
	// LabelColumn names the field that holds each step's judge label: a key
	// of a verl or verl-agent line, a column of a TRL table (never summed
	// into the outcome), a field of an rLLM step. Values: 1, 0, -1, true,
	// false, "good", "bad" (null: unknown). A row without the field, or
	// with another value, is an error naming file, row and field. Default
	// "": every label unknown.
	LabelColumn string
	// Labels is a label table (ReadLabels) applied to the finished records;
	// where it names a step, its label (and label_votes) replace the label
	// column's. Default nil.
	Labels *Labels
}

func (o Options) check() error {
	switch o.GroupAdvantage {
	case "", AdvantageTrajectory, AdvantageCrossStep, AdvantageGiGPO:
	default:
		return fmt.Errorf("adapter: unknown advantage mode %q", o.GroupAdvantage)
	}
	switch o.Format {
	case "", FormatVerl, FormatVerlAgent, FormatTRL, FormatRLLM:
	case FormatCanonical:
		return fmt.Errorf("adapter: format %s: %w", o.Format, ErrCanonical)
	default:
		return fmt.Errorf("adapter: %w %q", ErrUnknownFormat, o.Format)
	}
	switch o.Split {
	case "", trajlog.SplitTrain, trajlog.SplitEvalIn, trajlog.SplitEvalOut:
		return nil
	}
	return fmt.Errorf("adapter: invalid split %q (want %s, %s or %s)", o.Split,
		trajlog.SplitTrain, trajlog.SplitEvalIn, trajlog.SplitEvalOut)
}

// Result is what an adapter read.
type Result struct {
	// Format is the format that was read.
	Format Format
	// Records are the step records in input order: files in step order, then
	// lines, rows or trajectories and turns in the order of the file.
	Records []trajlog.Record
	// Derived lists, sorted, the record fields that were not read from the log
	// but derived or filled with an "unknown" value (see the package
	// documentation). It is meant for trajlog.MetadataDerivedKey.
	Derived []string
}

var (
	verlName      = regexp.MustCompile(`^(\d+)\.jsonl$`)
	trlName       = regexp.MustCompile(`^completions_(\d+)\.parquet$`)
	rllmName      = regexp.MustCompile(`^episode_.*\.json$`)
	canonicalName = regexp.MustCompile(`^iter-\d+\.(parquet|jsonl)$`)
	rllmStepDir   = regexp.MustCompile(`^([A-Za-z]+)_step_(\d+)_epoch_(\d+)$`)
)

// formatOfName classifies a file by its base name, "" when it is not a log.
func formatOfName(base string) Format {
	switch {
	case verlName.MatchString(base):
		return FormatVerl
	case trlName.MatchString(base):
		return FormatTRL
	case rllmName.MatchString(base):
		return FormatRLLM
	case canonicalName.MatchString(base):
		return FormatCanonical
	}
	return ""
}

// Detect reports the format of the log at path, a file or a directory.
//
// A directory is searched recursively and classified by file names: {step}.jsonl
// is verl, completions_{step}.parquet is TRL, episode_*.json is rLLM and
// iter-NNNNNN.parquet/.jsonl is canonical. A directory holding none of them
// gives an error matching ErrUnknownFormat, one holding several kinds an error
// matching ErrMixedFormats. A file is classified by its name, or failing that
// by its content: a parquet file with prompt and completion columns is TRL, one
// with traj_id and iteration columns canonical; a JSONL file whose first line
// has input, output and score is verl, one with traj_id and iteration canonical;
// a JSON object with a trajectories array is rLLM.
func Detect(path string) (Format, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("detecting log format of %s: %w", path, err)
	}
	if !fi.IsDir() {
		if f := formatOfName(filepath.Base(path)); f != "" {
			return verlKind(f, path), nil
		}
		return sniffFile(path)
	}
	found := map[Format]string{} // format -> first file seen
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if f := formatOfName(d.Name()); f != "" && found[f] == "" {
				found[f] = p
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("detecting log format of %s: %w", path, err)
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("detecting log format of %s: %w: no verl {step}.jsonl, TRL completions_{step}.parquet, rLLM episode_*.json or canonical iter-*.parquet files", path, ErrUnknownFormat)
	case 1:
		for f, p := range found {
			return verlKind(f, p), nil
		}
	}
	var kinds []string
	for f, p := range found {
		kinds = append(kinds, fmt.Sprintf("%s (%s)", f, p))
	}
	slices.Sort(kinds)
	return "", fmt.Errorf("detecting log format of %s: %w: %s", path, ErrMixedFormats, strings.Join(kinds, ", "))
}

// verlKind tells a verl-agent dump from a plain verl one by the first line of
// file, a {step}.jsonl of format f: verl-agent's lines carry traj_uid. Other
// formats are returned as they are.
func verlKind(f Format, file string) Format {
	if f != FormatVerl {
		return f
	}
	fh, err := os.Open(file)
	if err != nil {
		return f // the reader reports it
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	for sc.Scan() {
		line := bytes.TrimSpace(bytes.TrimPrefix(sc.Bytes(), utf8BOM))
		if len(line) == 0 {
			continue
		}
		if v, err := parsePyJSON(line, 1); err == nil && v.get("traj_uid") != nil {
			return FormatVerlAgent
		}
		break
	}
	return f
}

// sniffFile classifies a file with an unconventional name by its content.
func sniffFile(path string) (Format, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("detecting log format of %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("detecting log format of %s: %w", path, err)
	}
	head := make([]byte, 4)
	if n, _ := io.ReadFull(f, head); n == 4 && string(head) == "PAR1" {
		cols, err := parquetColumns(f, fi.Size())
		if err == nil {
			switch {
			case cols["prompt"] && cols["completion"]:
				return FormatTRL, nil
			case cols["traj_id"] && cols["iteration"]:
				return FormatCanonical, nil
			}
		}
		return "", fmt.Errorf("detecting log format of %s: %w: parquet file without TRL (prompt, completion) or canonical (traj_id, iteration) columns", path, ErrUnknownFormat)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("detecting log format of %s: %w", path, err)
	}
	// A JSON object: either one JSONL line or a whole episode file.
	data, err := io.ReadAll(io.LimitReader(f, MaxLineBytes))
	if err != nil {
		return "", fmt.Errorf("detecting log format of %s: %w", path, err)
	}
	data = bytes.TrimPrefix(data, utf8BOM)
	if v, err := parsePyJSON(data, 1); err == nil {
		if v.get("trajectories").present() {
			return FormatRLLM, nil
		}
	}
	line, _, _ := bytes.Cut(bytes.TrimLeft(data, " \t\r\n"), []byte("\n"))
	if v, err := parsePyJSON(line, 1); err == nil && v.kind == jObject {
		switch {
		case v.get("input") != nil && v.get("output") != nil && v.get("score") != nil:
			if v.get("traj_uid") != nil {
				return FormatVerlAgent, nil
			}
			return FormatVerl, nil
		case v.get("traj_id") != nil && v.get("iteration") != nil:
			return FormatCanonical, nil
		}
	}
	return "", fmt.Errorf("detecting log format of %s: %w", path, ErrUnknownFormat)
}

// Read reads the foreign rollout log at path (a file or a directory, format
// from Detect unless Options.Format names it) into step records held in
// memory. Files are read in step order. Bad input gives a
// *trajlog.ValidationError naming the file, the line or row and the field;
// canonical logs give an error matching ErrCanonical. For logs larger than
// memory use Scan, which streams.
func Read(path string, opts Options) (*Result, error) {
	l, err := Scan(path, opts)
	if err != nil {
		return nil, err
	}
	res := &Result{Format: l.Format(), Records: make([]trajlog.Record, 0, l.Records())}
	err = l.Emit(1024, func(recs []trajlog.Record) error {
		res.Records = append(res.Records, recs...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Derived = l.Derived()
	return res, nil
}

// listFiles returns the files of format under path (path itself when it is a
// file), sorted by step and then by path.
func listFiles(path string, format Format) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("listing %s logs in %s: %w", format, path, err)
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && sameFiles(formatOfName(d.Name()), format) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s logs in %s: %w", format, path, err)
	}
	sortByStep(files)
	return files, nil
}

// sortByStep sorts log files by step, then by path.
func sortByStep(files []string) {
	slices.SortFunc(files, func(a, b string) int {
		if sa, sb := stepOfPath(a), stepOfPath(b); sa != sb {
			if sa < sb {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
}

// sameFiles reports whether a file named as format got's logs belongs to a
// log of format want: verl-agent dumps are named as verl's.
func sameFiles(got, want Format) bool {
	return got == want || (got == FormatVerl && want == FormatVerlAgent)
}

// stepOfPath extracts the training step a log file's path names: the number in
// {step}.jsonl or completions_{step}.parquet, or the step of the nearest
// {mode}_step_{n}_epoch_{e} directory. It returns -1 when there is none.
func stepOfPath(p string) int64 {
	base := filepath.Base(p)
	for _, re := range []*regexp.Regexp{verlName, trlName} {
		if m := re.FindStringSubmatch(base); m != nil {
			if n, err := strconv.ParseInt(m[1], 10, 64); err == nil {
				return n
			}
		}
	}
	if _, step, ok := rllmModeStep(p); ok {
		return step
	}
	return -1
}

// readFile opens one log file and hands its rows, in order, to emit. The
// row passed to emit is only valid during the call.
func readFile(name string, format Format, opts Options, emit func(*row) error) (trlInfo, error) {
	f, err := os.Open(name)
	if err != nil {
		return trlInfo{}, fmt.Errorf("reading %s log: %w", format, err)
	}
	defer f.Close()
	switch format {
	case FormatVerl:
		return trlInfo{}, parseVerl(f, name, opts, emit)
	case FormatVerlAgent:
		return trlInfo{}, parseVerlAgent(f, name, opts, emit)
	case FormatTRL:
		fi, err := f.Stat()
		if err != nil {
			return trlInfo{}, fmt.Errorf("reading %s log: %w", format, err)
		}
		return parseTRL(f, fi.Size(), name, opts, emit)
	case FormatRLLM:
		return trlInfo{}, parseRLLM(f, name, opts, emit)
	}
	return trlInfo{}, fmt.Errorf("reading %s: %w %q", name, ErrUnknownFormat, format)
}

// defaultRun is the run name for logs at path: the base name of the directory
// holding them, skipping the containers each trainer creates.
func defaultRun(path string, format Format, onDisk bool) string {
	dir := path
	if onDisk {
		if abs, err := filepath.Abs(path); err == nil {
			dir = abs
		}
		if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
			dir = filepath.Dir(dir)
		}
	} else {
		dir = filepath.Dir(path)
	}
	for {
		base := filepath.Base(dir)
		parent := filepath.Dir(dir)
		if base == "." || base == string(filepath.Separator) || base == "" {
			return string(format)
		}
		skip := false
		switch format {
		case FormatTRL:
			skip = base == "completions" ||
				((base == "train" || base == "eval") && filepath.Base(parent) == "completions")
		case FormatRLLM:
			skip = base == "episodes" || rllmStepDir.MatchString(base)
		}
		if !skip || parent == dir {
			return base
		}
		dir = parent
	}
}

// row is a step record on its way out, with what the reader knew about it.
type row struct {
	rec trajlog.Record
	// outcome is the trajectory reward in float64, for advantages.
	outcome float64
	// groupKey is the text whose identity defines a derived group (the first
	// prompt of the trajectory); used when rec.GroupID and groupSuffix are empty.
	groupKey string
	// groupSuffix is a group read from the log that is unique only within an
	// iteration (rLLM's task id); finish prefixes it with the iteration.
	groupSuffix string

	file string // file the row came from, for errors
	line int64  // line (verl, rLLM) or row (TRL) in file, for errors

	// score is the line's own score (verl, verl-agent), for exact-copy
	// detection and verl-agent's cross-step advantages.
	score float64
	// dedupe marks a row keyed by (traj_id, turn) whose exact copies are
	// dropped (verl-agent); content identifies its content.
	dedupe  bool
	content uint64
	// stateText, when set, is hashed into state_key instead of the prompt.
	stateText string

	hasAdv            bool // rec.Advantage was read from the log
	hasValid          bool // rec.Valid was read from the log
	noActionTag       bool // verl-agent: the response had no <action> tag
	stepRewardDerived bool // rec.StepReward was not in the log
	hasSuccess        bool // rec.Success was read from the log
	hasLogprob        bool // rec.Logprob was read from the log
	trajDerived       bool // rec.TrajID was made up from file and line/row
	splitDerived      bool // rec.Split is the default, not read
}

// newRow returns a row with the fields every adapter fills the same way.
func newRow() row {
	return row{rec: trajlog.Record{
		Split:      trajlog.SplitTrain,
		Valid:      true,
		Label:      trajlog.LabelUnknown,
		LabelVotes: 0,
	}, splitDerived: true}
}

// StateKey is the state_key the adapters give a prompt: the first 16 hex digits
// (64 bits) of the SHA-256 of its UTF-8 bytes. Equal prompts get equal keys
// across trajectories, files and runs.
func StateKey(prompt string) string {
	sum := sha256.Sum256([]byte(prompt))
	return hex.EncodeToString(sum[:8])
}

// groupPrefix is the iteration part of a group id: "step-<n>" for training
// rows, "<split>/step-<n>" otherwise.
func groupPrefix(split string, iter int32) string {
	if split == trajlog.SplitTrain {
		return "step-" + strconv.Itoa(int(iter))
	}
	return split + "/step-" + strconv.Itoa(int(iter))
}

// readAllLimited reads r whole, refusing more than limit bytes.
func readAllLimited(r io.Reader, limit int64, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, invalid(name, 0, "", "file larger than %d bytes", limit)
	}
	return data, nil
}
