package adapter

import (
	"fmt"
	"unicode/utf8"
)

// Text in the step-record schema is UTF-8. A log whose text is not (raw
// invalid bytes, or in Python's JSON a lone surrogate escape such as "\udcff",
// which is how Python writes bytes it could not decode) is refused, never
// repaired: replacing the bytes would silently change prompts and actions,
// and passing them on would give parquet files that DuckDB and pyarrow reject.

// invalidUTF8 describes the first invalid sequence of b for an error.
func invalidUTF8(b []byte) string {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			if i+3 <= len(b) && b[i] == 0xED && b[i+1]&0xE0 == 0xA0 && b[i+2]&0xC0 == 0x80 {
				sur := 0xD000 | rune(b[i+1]&0x3F)<<6 | rune(b[i+2]&0x3F)
				return fmt.Sprintf("not valid Unicode: a lone UTF-16 surrogate \\u%04x at byte %d of the text (Python writes undecodable bytes so)", sur, i)
			}
			return fmt.Sprintf("not valid UTF-8: byte 0x%02x at byte %d of the text", b[i], i)
		}
		i += n
	}
	return "not valid UTF-8"
}

// checkText refuses a row whose text fields are not valid UTF-8, naming the
// record field.
func checkText(r *row) error {
	for _, f := range [...]struct {
		name string
		s    string
	}{
		{"prompt", r.rec.Prompt}, {"action", r.rec.Action}, {"group_id", r.rec.GroupID},
		{"group_id", r.groupSuffix}, {"traj_id", r.rec.TrajID}, {"task_id", r.rec.TaskID},
		{"split", r.rec.Split},
	} {
		if !utf8.ValidString(f.s) {
			return invalid(r.file, r.line, f.name, "%s", invalidUTF8([]byte(f.s)))
		}
	}
	return nil
}
