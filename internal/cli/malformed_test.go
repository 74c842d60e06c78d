package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/internal/table"
	"github.com/gradcouple/gradcouple/trajlog"
)

// validRecord is a well-formed step record for building malformed files.
func validRecord() trajlog.Record {
	return trajlog.Record{Run: "r", Iteration: 1, Split: "train", Env: "household", TaskType: "pick", TaskID: "t1",
		GroupID: "g1", TrajID: "t1-0", Turn: 0, StateKey: "s0", Prompt: "You are in a room.", Action: "look",
		Valid: true, Label: -1, Outcome: 1, Success: true, Advantage: 0.5}
}

// malformedLogs writes bad log files into dir and returns, per file, the
// substrings that the one-line error must contain.
func malformedLogs(t *testing.T, dir string) map[string][]string {
	t.Helper()
	files := map[string][]string{}
	write := func(name, content string, want ...string) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		files[p] = append([]string{name}, want...)
	}
	write("empty.jsonl", "", "empty")
	write("empty.parquet", "", "empty")
	rec := `{"run":"r","iteration":1,"split":"train","env":"e","task_type":"t","task_id":"t","group_id":"g","traj_id":"x","turn":0,"state_key":"s","prompt":"p","action":"a","valid":true,"logprob":0,"label":-1,"label_votes":0,"corrected":false,"step_reward":0,"outcome":%s,"success":true,"advantage":0}`
	write("nan-outcome.jsonl", strings.Replace(rec, "%s", "1", 1)+"\n"+strings.Replace(rec, "%s", `"NaN"`, 1)+"\n", "2", "outcome")
	write("string-turn.jsonl", strings.Replace(strings.Replace(rec, "%s", "1", 1), `"turn":0`, `"turn":"zero"`, 1)+"\n", "1", "turn")
	write("missing-action.jsonl", strings.Replace(strings.Replace(rec, "%s", "1", 1), `"action":"a",`, "", 1)+"\n", "1", "action")
	write("long-line.jsonl", strings.Replace(rec, "%s", "1", 1)+"\n"+`{"prompt":"`+strings.Repeat("x", 17<<20)+`"}`+"\n", "2")
	write("bad-json.jsonl", "{\"run\": \n", "1")

	// Parquet: a valid file cut short, and files with a wrong schema.
	good := filepath.Join(dir, "good.parquet")
	if err := trajlog.WriteFile(good, []trajlog.Record{validRecord()}, trajlog.Meta{}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(good)
	os.Remove(good)
	write("truncated.parquet", string(b[:len(b)*2/3]))
	type wrongType struct {
		Run       string `parquet:"run"`
		Iteration string `parquet:"iteration"`
	}
	p := filepath.Join(dir, "wrong-type.parquet")
	if err := table.WriteFile(p, []wrongType{{"r", "one"}}, map[string]string{trajlog.MetadataSchemaKey: trajlog.SchemaVersion}); err != nil {
		t.Fatal(err)
	}
	files[p] = []string{"wrong-type.parquet", "iteration"}
	type missing struct {
		Run string `parquet:"run"`
	}
	p = filepath.Join(dir, "missing-column.parquet")
	if err := table.WriteFile(p, []missing{{"r"}}, map[string]string{trajlog.MetadataSchemaKey: trajlog.SchemaVersion}); err != nil {
		t.Fatal(err)
	}
	files[p] = []string{"missing-column.parquet"}
	return files
}

// TestMalformedLogsExit2: every log command refuses bad input with a one-line
// error naming the file (and the row and field where there is one), exit
// status 2, no panic and no output file.
func TestMalformedLogsExit2(t *testing.T) {
	dir := t.TempDir()
	files := malformedLogs(t, dir)
	for path, want := range files {
		for _, cmd := range [][]string{{"inspect"}, {"repetition"}, {"consistency"}, {"advantage"}} {
			out := filepath.Join(dir, "out.csv")
			args := append(append([]string{}, cmd...), "--out", out, path)
			_, stderr, code := run(t, args...)
			if code != ExitBadInput {
				t.Errorf("%v: exit %d, want 2; stderr %q", args, code, stderr)
			}
			if n := strings.Count(strings.TrimRight(stderr, "\n"), "\n"); n != 0 {
				t.Errorf("%v: error has %d lines, want one: %q", args, n+1, stderr)
			}
			for _, w := range want {
				if !strings.Contains(stderr, w) {
					t.Errorf("%v: error %q does not mention %q", args, stderr, w)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%v: wrote %s despite the error", args, out)
				os.Remove(out)
			}
		}
	}
}

// TestMalformedForeignLogsExit2: convert refuses the adapters' malformed
// fixtures with exit 2 and writes nothing.
func TestMalformedForeignLogsExit2(t *testing.T) {
	fixtures, _ := filepath.Glob("../../testdata/adapters/malformed/*")
	for _, pat := range []string{"verl-*", "trl-*", "rllm-*"} {
		more, _ := filepath.Glob("../../testdata/malformed/" + pat)
		fixtures = append(fixtures, more...)
	}
	if len(fixtures) == 0 {
		t.Fatal("no fixtures in testdata/adapters/malformed")
	}
	for _, f := range fixtures {
		out := filepath.Join(t.TempDir(), "out.parquet")
		_, stderr, code := run(t, "convert", f, "--out", out)
		if code != ExitBadInput || !strings.Contains(stderr, filepath.Base(f)) {
			t.Errorf("convert %s: exit %d, stderr %q", f, code, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("convert %s wrote %s", f, out)
		}
	}
}

// TestMalformedFixturesExit2 runs `inspect` on every committed fixture of
// testdata/malformed (written by `go test ./trajlog -run Malformed -update`).
func TestMalformedFixturesExit2(t *testing.T) {
	fixtures, _ := filepath.Glob("../../testdata/malformed/steps-*")
	if len(fixtures) == 0 {
		t.Fatal("no fixtures in testdata/malformed")
	}
	for _, f := range fixtures {
		_, stderr, code := run(t, "inspect", f)
		if code != ExitBadInput || !strings.Contains(stderr, filepath.Base(f)) || strings.Count(strings.TrimRight(stderr, "\n"), "\n") != 0 {
			t.Errorf("inspect %s: exit %d, stderr %q", f, code, stderr)
		}
	}
}

// TestUnknownLogExtensionExit2: a log whose extension names no format is
// bad input.
func TestUnknownLogExtensionExit2(t *testing.T) {
	f := filepath.Join("..", "..", "testdata", "malformed", "config-unknown-key.yaml")
	_, stderr, code := run(t, "inspect", f)
	if code != ExitBadInput || !strings.Contains(stderr, "unknown extension") {
		t.Errorf("inspect %s: exit %d, stderr %q; want 2", f, code, stderr)
	}
}
