package trajlog

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// kind is the Go type of a Record field, which fixes its parquet type.
type kind uint8

const (
	kindString  kind = iota // BYTE_ARRAY (STRING)
	kindInt32               // INT32
	kindInt8                // INT32 (INT(8,true))
	kindBool                // BOOLEAN
	kindFloat32             // FLOAT
)

func (k kind) String() string {
	switch k {
	case kindString:
		return "BYTE_ARRAY (STRING)"
	case kindInt32:
		return "INT32"
	case kindInt8:
		return "INT32 (INT(8,true))"
	case kindBool:
		return "BOOLEAN"
	default:
		return "FLOAT"
	}
}

// field describes one column of the step-record schema: its name (the parquet
// and json tag of Record), its kind and an accessor for its Record field.
type field struct {
	name string
	kind kind
	str  func(*Record) *string
	i32  func(*Record) *int32
	i8   func(*Record) *int8
	bl   func(*Record) *bool
	f32  func(*Record) *float32
}

// Indexes into fields of the columns that the reader treats specially.
const fieldPrompt = 10

// fields lists the columns of Record in declaration order. A test checks it
// against the struct tags, so adding a Record field without adding it here
// fails the build's tests.
var fields = [...]field{
	{name: "run", kind: kindString, str: func(r *Record) *string { return &r.Run }},
	{name: "iteration", kind: kindInt32, i32: func(r *Record) *int32 { return &r.Iteration }},
	{name: "split", kind: kindString, str: func(r *Record) *string { return &r.Split }},
	{name: "env", kind: kindString, str: func(r *Record) *string { return &r.Env }},
	{name: "task_type", kind: kindString, str: func(r *Record) *string { return &r.TaskType }},
	{name: "task_id", kind: kindString, str: func(r *Record) *string { return &r.TaskID }},
	{name: "group_id", kind: kindString, str: func(r *Record) *string { return &r.GroupID }},
	{name: "traj_id", kind: kindString, str: func(r *Record) *string { return &r.TrajID }},
	{name: "turn", kind: kindInt32, i32: func(r *Record) *int32 { return &r.Turn }},
	{name: "state_key", kind: kindString, str: func(r *Record) *string { return &r.StateKey }},
	{name: "prompt", kind: kindString, str: func(r *Record) *string { return &r.Prompt }},
	{name: "action", kind: kindString, str: func(r *Record) *string { return &r.Action }},
	{name: "valid", kind: kindBool, bl: func(r *Record) *bool { return &r.Valid }},
	{name: "logprob", kind: kindFloat32, f32: func(r *Record) *float32 { return &r.Logprob }},
	{name: "label", kind: kindInt8, i8: func(r *Record) *int8 { return &r.Label }},
	{name: "label_votes", kind: kindInt8, i8: func(r *Record) *int8 { return &r.LabelVotes }},
	{name: "corrected", kind: kindBool, bl: func(r *Record) *bool { return &r.Corrected }},
	{name: "step_reward", kind: kindFloat32, f32: func(r *Record) *float32 { return &r.StepReward }},
	{name: "outcome", kind: kindFloat32, f32: func(r *Record) *float32 { return &r.Outcome }},
	{name: "success", kind: kindBool, bl: func(r *Record) *bool { return &r.Success }},
	{name: "advantage", kind: kindFloat32, f32: func(r *Record) *float32 { return &r.Advantage }},
}

// MaxTokenIDs bounds the length of Record.PromptIDs and Record.ActionIDs (1<<20
// ids each, some 4 MiB): far above any context window, and low enough that a
// corrupt or hostile file cannot make a reader hold gigabytes for one row.
const MaxTokenIDs = 1 << 20

// listField describes one optional list column of the step-record schema: a
// list of token ids (parquet LIST<INT32>, a JSON array of integers).
type listField struct {
	name string
	ids  func(*Record) *[]int32
}

// Indexes into listFields.
const (
	listPromptIDs = 0
	listActionIDs = 1
)

// listFields lists the list columns of Record, which follow the flat columns
// of fields in declaration order. They are optional: a file without them reads
// with the ids empty.
var listFields = [...]listField{
	{name: "prompt_ids", ids: func(r *Record) *[]int32 { return &r.PromptIDs }},
	{name: "action_ids", ids: func(r *Record) *[]int32 { return &r.ActionIDs }},
}

// Columns returns the column names of the step-record schema in Record field
// order (the parquet and json names, e.g. "run", "iteration", ...,
// "advantage", "prompt_ids", "action_ids"), the optional list columns last.
// The slice is newly allocated on every call.
func Columns() []string {
	names := make([]string, 0, len(fields)+len(listFields))
	for i := range fields {
		names = append(names, fields[i].name)
	}
	for i := range listFields {
		names = append(names, listFields[i].name)
	}
	return names
}

// isColumn reports whether name is a column of the step-record schema, flat
// or list.
func isColumn(name string) bool {
	for i := range fields {
		if fields[i].name == name {
			return true
		}
	}
	for i := range listFields {
		if listFields[i].name == name {
			return true
		}
	}
	return false
}

// Validate checks the values of one record against the rules of the schema
// (DESIGN.md §3.1) and returns the first offending field, in column order, with
// a message; both are empty when the record is valid. The rules:
//
//   - iteration >= 0, turn >= 0, label_votes >= 0;
//   - split is one of SplitTrain, SplitEvalIn, SplitEvalOut;
//   - traj_id is not empty;
//   - label is one of LabelGood, LabelBad, LabelUnknown;
//   - logprob, step_reward, outcome and advantage are finite (no NaN, no ±Inf);
//   - prompt_ids and action_ids are both empty or both non-empty (the one
//     that is empty is named), hold at most MaxTokenIDs ids each, and every
//     id is >= 0. An upper bound (the model's vocabulary size) is checked by
//     the code that scores the ids with a model, not here.
//
// Other strings may be empty. Validate does not modify r and does not allocate
// unless the record is invalid. A nil r panics.
func (r *Record) Validate() (field, msg string) {
	switch {
	case r.Iteration < 0:
		return "iteration", fmt.Sprintf("negative value %d", r.Iteration)
	case r.Split != SplitTrain && r.Split != SplitEvalIn && r.Split != SplitEvalOut:
		return "split", fmt.Sprintf("%q is not one of %q, %q, %q", clip(r.Split), SplitTrain, SplitEvalIn, SplitEvalOut)
	case r.TrajID == "":
		return "traj_id", "empty"
	case r.Turn < 0:
		return "turn", fmt.Sprintf("negative value %d", r.Turn)
	case !finite(r.Logprob):
		return "logprob", notFinite(r.Logprob)
	case r.Label != LabelGood && r.Label != LabelBad && r.Label != LabelUnknown:
		return "label", fmt.Sprintf("value %d is not one of 1 (good), 0 (bad), -1 (unknown)", r.Label)
	case r.LabelVotes < 0:
		return "label_votes", fmt.Sprintf("negative value %d", r.LabelVotes)
	case !finite(r.StepReward):
		return "step_reward", notFinite(r.StepReward)
	case !finite(r.Outcome):
		return "outcome", notFinite(r.Outcome)
	case !finite(r.Advantage):
		return "advantage", notFinite(r.Advantage)
	}
	return r.validateIDs()
}

// validateIDs checks the token-id columns (see Validate), in column order.
func (r *Record) validateIDs() (field, msg string) {
	if len(r.PromptIDs) == 0 && len(r.ActionIDs) == 0 {
		return "", ""
	}
	for i := range listFields {
		f, other := &listFields[i], &listFields[1-i]
		ids := *f.ids(r)
		if len(ids) == 0 {
			return f.name, fmt.Sprintf("empty while %s has %d ids (token ids come in pairs: both or neither)",
				other.name, len(*other.ids(r)))
		}
		if len(ids) > MaxTokenIDs {
			return f.name, fmt.Sprintf("%d token ids, more than the limit of %d", len(ids), MaxTokenIDs)
		}
		for j, id := range ids {
			if id < 0 {
				return f.name, fmt.Sprintf("negative token id %d at index %d", id, j)
			}
		}
	}
	return "", ""
}

// Validate is Record.Validate as an error: nil for a valid record, otherwise a
// *ValidationError with Field and Msg set and File and Row left empty for the
// caller (an adapter knows the file and row) to fill in. A nil r panics.
func Validate(r *Record) error {
	if f, msg := r.Validate(); f != "" {
		return &ValidationError{Field: f, Msg: msg}
	}
	return nil
}

func finite(f float32) bool {
	return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0)
}

func notFinite(f float32) string {
	return fmt.Sprintf("%v is not a finite number", f)
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "..."
}

// invalidUTF8 says where b stops being UTF-8, for an error message. Text in
// the schema is UTF-8; a reader refuses other bytes rather than replacing
// them (a silent change of a prompt) or passing them on (DuckDB and pyarrow
// reject such parquet files).
func invalidUTF8(b []byte) string {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return fmt.Sprintf("not valid UTF-8: byte 0x%02x at byte %d of the text", b[i], i)
		}
		i += n
	}
	return "not valid UTF-8"
}
