package trajlog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJSONLLoneSurrogate: Python's json writes bytes it could not decode as
// lone surrogate escapes ("\udcff"); encoding/json would read them as U+FFFD.
// The reader refuses them, naming the row and field; a proper pair (an emoji
// written with ensure_ascii) is read.
func TestJSONLLoneSurrogate(t *testing.T) {
	recs := genRecords(2, 2)
	lines := jsonlLines(t, recs)
	for _, tc := range []struct {
		name, action string
		bad          bool
	}{
		{"lone low", `go to \udcff desk`, true},
		{"lone high", `go to \ud83d desk`, true},
		{"high then text", `\ud83d\u0041`, true},
		{"pair", `go \ud83d\ude00`, false},
		{"escaped backslash", `go \\udcff`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := lines[1]
			i := strings.Index(l, `"action":"`)
			if i < 0 {
				t.Fatalf("no action in %s", l)
			}
			j := i + len(`"action":"`)
			k := j + strings.Index(l[j:], `"`)
			l = l[:j] + tc.action + l[k:]
			p := filepath.Join(t.TempDir(), "s.jsonl")
			if err := os.WriteFile(p, []byte(lines[0]+"\n"+l+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadAll(p, ReadOptions{})
			var ve *ValidationError
			switch {
			case tc.bad && (!errors.As(err, &ve) || ve.Row != 2 || ve.Field != "action" || !strings.Contains(ve.Msg, "surrogate")):
				t.Errorf("got %v, want a surrogate error at row 2, field action", err)
			case !tc.bad && err != nil:
				t.Errorf("got %v, want no error", err)
			}
		})
	}
}
