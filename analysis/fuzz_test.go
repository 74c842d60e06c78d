package analysis

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadMetrics feeds arbitrary bytes to the metrics.jsonl reader: it
// must return lines or an error that names the file, never panic.
func FuzzReadMetrics(f *testing.F) {
	f.Add([]byte("{\"iteration\":0,\"train_success\":0.5,\"eval_in_greedy_success\":0.25}\n{\"iteration\":1,\"train_success\":0.75}\n"))
	f.Add([]byte("{\"iteration\":0}\n{\"iteration\":0}\n"))
	f.Add([]byte("{\"iteration\":0,\"train_success\":NaN}\n"))
	f.Add([]byte("{\"iteration\":0,\"eval_success_by_family\":{\"eval-in/greedy\":{\"x\":1}}}\n{\"iter"))
	f.Add([]byte("[1,2]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines, err := ReadMetrics(bytes.NewReader(data), "m.jsonl")
		if err != nil {
			if !strings.Contains(err.Error(), "m.jsonl") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for k, l := range lines {
			if k > 0 && l.Iteration <= lines[k-1].Iteration {
				t.Fatalf("iterations not increasing: %d after %d", l.Iteration, lines[k-1].Iteration)
			}
		}
	})
}

// FuzzSampleTable feeds arbitrary CSV and JSON lines to the sample-table
// reader of --samples: a table or an error naming the file, never a panic.
func FuzzSampleTable(f *testing.F) {
	f.Add([]byte("row,label,advantage,state_key\n0,1,0.5,s1\n1,bad,-0.5,s2\n"), false)
	f.Add([]byte("label\ngood\n-1\n"), false)
	f.Add([]byte("{\"label\":1,\"prompt\":\"go to cabinet 1\"}\n{\"label\":\"bad\"}\n"), true)
	f.Add([]byte("{\"label\":1e400}\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, jsonl bool) {
		name := "s.csv"
		if jsonl {
			name = "s.jsonl"
		}
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := readStoreSamples(path, 4)
		var te *TableError
		if err != nil && !errors.As(err, &te) && !strings.Contains(err.Error(), name) {
			t.Fatalf("error neither a TableError nor naming the file: %v", err)
		}
	})
}
