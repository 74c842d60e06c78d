package trajlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// jsonRecord is Record with pointer fields, so that a missing (or null) field
// can be told from a zero value.
type jsonRecord struct {
	Run        *string  `json:"run"`
	Iteration  *int32   `json:"iteration"`
	Split      *string  `json:"split"`
	Env        *string  `json:"env"`
	TaskType   *string  `json:"task_type"`
	TaskID     *string  `json:"task_id"`
	GroupID    *string  `json:"group_id"`
	TrajID     *string  `json:"traj_id"`
	Turn       *int32   `json:"turn"`
	StateKey   *string  `json:"state_key"`
	Prompt     *string  `json:"prompt"`
	Action     *string  `json:"action"`
	Valid      *bool    `json:"valid"`
	Logprob    *float32 `json:"logprob"`
	Label      *int8    `json:"label"`
	LabelVotes *int8    `json:"label_votes"`
	Corrected  *bool    `json:"corrected"`
	StepReward *float32 `json:"step_reward"`
	Outcome    *float32 `json:"outcome"`
	Success    *bool    `json:"success"`
	Advantage  *float32 `json:"advantage"`
	// The token ids are optional, and parsed by parseIDs for errors that
	// name the element.
	PromptIDs json.RawMessage `json:"prompt_ids"`
	ActionIDs json.RawMessage `json:"action_ids"`
}

// record copies j's flat fields into r (its token ids nil) and returns the
// name of the first missing field, or "".
func (j *jsonRecord) record(r *Record) string {
	type pair struct {
		name string
		ok   bool
	}
	for _, p := range [...]pair{
		{"run", j.Run != nil}, {"iteration", j.Iteration != nil}, {"split", j.Split != nil},
		{"env", j.Env != nil}, {"task_type", j.TaskType != nil}, {"task_id", j.TaskID != nil},
		{"group_id", j.GroupID != nil}, {"traj_id", j.TrajID != nil}, {"turn", j.Turn != nil},
		{"state_key", j.StateKey != nil}, {"prompt", j.Prompt != nil}, {"action", j.Action != nil},
		{"valid", j.Valid != nil}, {"logprob", j.Logprob != nil}, {"label", j.Label != nil},
		{"label_votes", j.LabelVotes != nil}, {"corrected", j.Corrected != nil},
		{"step_reward", j.StepReward != nil}, {"outcome", j.Outcome != nil},
		{"success", j.Success != nil}, {"advantage", j.Advantage != nil},
	} {
		if !p.ok {
			return p.name
		}
	}
	*r = Record{
		Run: *j.Run, Iteration: *j.Iteration, Split: *j.Split, Env: *j.Env,
		TaskType: *j.TaskType, TaskID: *j.TaskID, GroupID: *j.GroupID, TrajID: *j.TrajID,
		Turn: *j.Turn, StateKey: *j.StateKey, Prompt: *j.Prompt, Action: *j.Action,
		Valid: *j.Valid, Logprob: *j.Logprob, Label: *j.Label, LabelVotes: *j.LabelVotes,
		Corrected: *j.Corrected, StepReward: *j.StepReward, Outcome: *j.Outcome,
		Success: *j.Success, Advantage: *j.Advantage,
	}
	return ""
}

// jsonlFile reads step records from JSON Lines: one object per line, every
// Record field present with its JSON type, unknown fields ignored, blank lines
// skipped.
type jsonlFile struct {
	name       string
	closer     io.Closer
	br         *bufio.Reader
	maxLine    int
	skipPrompt bool
	line       int64  // lines read so far
	buf        []byte // a line longer than br's buffer
	records    int64
	eof        bool
}

func newJSONLFile(name string, r io.Reader, closer io.Closer, opts ReadOptions) *jsonlFile {
	return &jsonlFile{
		name:       name,
		closer:     closer,
		br:         bufio.NewReaderSize(r, 64<<10),
		maxLine:    opts.maxLine(),
		skipPrompt: opts.SkipPrompt,
	}
}

func (j *jsonlFile) keyValues() map[string]string { return nil }

func (j *jsonlFile) close() error {
	if j.closer != nil {
		c := j.closer
		j.closer = nil
		return c.Close()
	}
	return nil
}

// nextLine returns the next line without its newline, or io.EOF. It reads at
// most maxLine+1 bytes of a line before giving up on it.
func (j *jsonlFile) nextLine() ([]byte, error) {
	if j.eof {
		return nil, io.EOF
	}
	j.buf = j.buf[:0]
	for {
		frag, err := j.br.ReadSlice('\n')
		line := frag
		if len(j.buf) > 0 || err == bufio.ErrBufferFull {
			j.buf = append(j.buf, frag...)
			line = j.buf
		}
		if n := len(bytes.TrimSuffix(line, []byte("\n"))); n > j.maxLine {
			j.buf = nil
			return nil, &ValidationError{File: j.name, Row: j.line + 1, Msg: fmt.Sprintf(
				"line longer than %d bytes (ReadOptions.MaxLineBytes)", j.maxLine)}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			j.eof = true
			if len(line) == 0 {
				return nil, io.EOF
			}
		case err != nil:
			return nil, fmt.Errorf("reading step records from %s: %w", j.name, err)
		}
		j.line++
		return bytes.TrimSuffix(line, []byte("\n")), nil
	}
}

func (j *jsonlFile) read(dst []Record) (int, error) {
	n := 0
	for n < len(dst) {
		line, err := j.nextLine()
		if err == io.EOF {
			if j.records == 0 {
				msg := "empty file"
				if j.line > 0 {
					msg = "empty file: no records, only blank lines"
				}
				return n, &ValidationError{File: j.name, Msg: msg}
			}
			return n, io.EOF
		}
		if err != nil {
			return n, err
		}
		if j.line == 1 {
			line = bytes.TrimPrefix(line, utf8BOM) // Windows tools start UTF-8 files with a BOM
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := j.decode(line, &dst[n]); err != nil {
			return n, err
		}
		j.records++
		n++
	}
	return n, nil
}

// utf8BOM is the byte order mark some tools write at the start of UTF-8 text.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// decode parses one line into r and validates it.
func (j *jsonlFile) decode(line []byte, r *Record) error {
	if !utf8.Valid(line) {
		// encoding/json would replace the bad bytes by U+FFFD: find the
		// field they are in and refuse the line instead.
		if err := j.invalidText(line); err != nil {
			return err
		}
	}
	if bytes.Contains(line, []byte(`\u`)) {
		// encoding/json turns an escaped lone UTF-16 surrogate ("\udcff", how
		// Python writes bytes it could not decode) into U+FFFD: refuse it.
		if err := j.loneSurrogate(line); err != nil {
			return err
		}
	}
	var jr jsonRecord
	if err := json.Unmarshal(line, &jr); err != nil {
		ve := &ValidationError{File: j.name, Row: j.line, Err: err}
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te) && te.Field != "":
			ve.Field = te.Field
			ve.Msg = fmt.Sprintf("got JSON %s, want %s", te.Value, te.Type)
		case errors.As(err, &te):
			ve.Msg = fmt.Sprintf("got JSON %s, want an object", te.Value)
		case errors.As(err, &se):
			ve.Msg = fmt.Sprintf("invalid JSON at byte %d of the line: %v", se.Offset, err)
		default:
			ve.Msg = "invalid JSON: " + err.Error()
		}
		return ve
	}
	if missing := jr.record(r); missing != "" {
		msg := "missing (or null)"
		var keys map[string]json.RawMessage
		if json.Unmarshal(line, &keys) == nil && keys["input"] != nil && keys["output"] != nil && keys["score"] != nil {
			msg += "; the line has verl's input, output and score: convert the rollout dump first (gradcouple convert --format verl)"
		}
		return &ValidationError{File: j.name, Row: j.line, Field: missing, Msg: msg}
	}
	for i, raw := range [...]json.RawMessage{listPromptIDs: jr.PromptIDs, listActionIDs: jr.ActionIDs} {
		ids, msg := parseIDs(raw)
		if msg != "" {
			return &ValidationError{File: j.name, Row: j.line, Field: listFields[i].name, Msg: msg}
		}
		*listFields[i].ids(r) = ids
	}
	if f, msg := r.Validate(); f != "" {
		return &ValidationError{File: j.name, Row: j.line, Field: f, Msg: msg}
	}
	if j.skipPrompt {
		r.Prompt, r.PromptIDs, r.ActionIDs = "", nil, nil
	}
	return nil
}

// invalidText returns the error for a line with invalid UTF-8: the field
// whose value holds it, or the line when it is elsewhere (a key, or a syntax
// error).
func (j *jsonlFile) invalidText(line []byte) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err == nil {
		for i := range fields {
			if raw, ok := obj[fields[i].name]; ok && !utf8.Valid(raw) {
				return &ValidationError{File: j.name, Row: j.line, Field: fields[i].name, Msg: invalidUTF8(raw) + " (counting from the value's opening quote)"}
			}
		}
		// Only unknown fields hold the bad bytes: they are ignored anyway.
		return nil
	}
	return &ValidationError{File: j.name, Row: j.line, Msg: invalidUTF8(line) + " of the line"}
}

// loneSurrogate returns the error for a line whose string fields hold an
// escaped UTF-16 surrogate without its partner, naming the field, or nil.
func (j *jsonlFile) loneSurrogate(line []byte) error {
	var obj map[string]json.RawMessage
	if json.Unmarshal(line, &obj) != nil {
		return nil // the syntax error is reported by the decoder
	}
	for i := range fields {
		raw, ok := obj[fields[i].name]
		if !ok {
			continue
		}
		if at, u := loneSurrogateEscape(raw); at >= 0 {
			return &ValidationError{File: j.name, Row: j.line, Field: fields[i].name,
				Msg: fmt.Sprintf("not valid Unicode: a lone UTF-16 surrogate \\u%04x at byte %d of the value (Python writes undecodable bytes so)", u, at)}
		}
	}
	return nil
}

// loneSurrogateEscape finds the first \uD800-\uDFFF escape of the JSON text
// b that is not a high surrogate followed by a low one, returning its byte
// offset and value, or -1.
func loneSurrogateEscape(b []byte) (int, rune) {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
			return 0, false
		}
		var v rune
		for _, c := range b[i+2 : i+6] {
			switch {
			case c >= '0' && c <= '9':
				v = v<<4 | rune(c-'0')
			case c >= 'a' && c <= 'f':
				v = v<<4 | rune(c-'a'+10)
			case c >= 'A' && c <= 'F':
				v = v<<4 | rune(c-'A'+10)
			default:
				return 0, false
			}
		}
		return v, true
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		u, ok := hex4(i)
		if !ok {
			i++ // another escape: skip the escaped character
			continue
		}
		switch {
		case u >= 0xD800 && u <= 0xDBFF:
			if lo, ok := hex4(i + 6); ok && lo >= 0xDC00 && lo <= 0xDFFF {
				i += 11
				continue
			}
			return i, u
		case u >= 0xDC00 && u <= 0xDFFF:
			return i, u
		}
		i += 5
	}
	return -1, 0
}

// parseIDs parses the JSON value raw of a token-id field (syntactically valid
// JSON, as json.Unmarshal checked it): an array of integers in [0, MaxInt32],
// at most MaxTokenIDs of them. Absent, null and [] give nil. Anything else
// gives a message naming the offending element.
func parseIDs(raw []byte) ([]int32, string) {
	b := bytes.TrimLeft(raw, " \t\r\n")
	if len(b) == 0 || b[0] == 'n' {
		return nil, ""
	}
	if b[0] != '[' {
		return nil, fmt.Sprintf("got JSON %s, want an array of integer token ids", jsonKind(b[0]))
	}
	b = bytes.TrimLeft(b[1:], " \t\r\n")
	var ids []int32
	for i := 0; len(b) > 0 && b[0] != ']'; i++ {
		if c := b[0]; c != '-' && (c < '0' || c > '9') {
			return nil, fmt.Sprintf("element %d is JSON %s, want an integer token id", i, jsonKind(c))
		}
		end := 1
		for end < len(b) && bytes.IndexByte([]byte("0123456789+-.eE"), b[end]) >= 0 {
			end++
		}
		tok := string(b[:end])
		x, err := strconv.ParseInt(tok, 10, 64)
		switch {
		case err != nil && strings.ContainsAny(tok, ".eE"):
			return nil, fmt.Sprintf("element %d is %s, not an integer token id", i, clip(tok))
		case err != nil, x > math.MaxInt32:
			return nil, fmt.Sprintf("token id %s at index %d does not fit in int32", clip(tok), i)
		case x < 0:
			return nil, fmt.Sprintf("negative token id %d at index %d", x, i)
		case i >= MaxTokenIDs:
			return nil, fmt.Sprintf("more than %d token ids", MaxTokenIDs)
		}
		ids = append(ids, int32(x))
		b = bytes.TrimLeft(b[end:], " \t\r\n")
		if len(b) > 0 && b[0] == ',' {
			b = bytes.TrimLeft(b[1:], " \t\r\n")
		}
	}
	return ids, ""
}

// jsonKind names the kind of the JSON value starting with c.
func jsonKind(c byte) string {
	switch c {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}
