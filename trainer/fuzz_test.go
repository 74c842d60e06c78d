package trainer

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecodeConfig feeds arbitrary YAML and TOML to the configuration
// decoder: a configuration or an error wrapping ErrConfig (or a read error)
// that names the file, never a panic; an accepted file round-trips.
func FuzzDecodeConfig(f *testing.F) {
	f.Add([]byte("iterations: 7\nupdate:\n  lr: 0.01\n"), false)
	f.Add([]byte("algo: gcd\ngcd: {lambda: 0.5, correction: false}\n"), false)
	f.Add([]byte("iterations = 7\n[update]\nlr = 0.01\n"), true)
	f.Add([]byte("[gcd]\nthreshold = nan\n"), true)
	f.Add([]byte("model: [1, 2]\n"), false)
	base, err := Defaults(PresetQuick, AlgoGRPO)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, isTOML bool) {
		name := "c.yaml"
		if isTOML {
			name = "c.toml"
		}
		c, err := DecodeConfig(bytes.NewReader(data), name, base)
		if err != nil {
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), name) {
				t.Fatalf("error %v: want ErrConfig naming %s", err, name)
			}
			return
		}
		_ = c.Validate() // must not panic on any decoded values
		if _, err := PeekAlgo(bytes.NewReader(data), name); err != nil {
			t.Fatalf("PeekAlgo rejects a file DecodeConfig accepted: %v", err)
		}
	})
}

// FuzzRunDir feeds arbitrary run.json and metrics.jsonl contents to the
// readers Resume and the analyses rely on: a value or an error, never a
// panic.
func FuzzRunDir(f *testing.F) {
	f.Add([]byte(`{"format":1,"run":"r","env":"household","algo":"grpo","seed":1,"config":{}}`), []byte("{\"iteration\":0}\n{\"iteration\":1}\n{\"itera"))
	f.Add([]byte(`{"format":99}`), []byte("{\"iteration\":1}\n"))
	f.Add([]byte(`{`), []byte("\n\n"))
	f.Fuzz(func(t *testing.T, manifest, metrics []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ManifestFile), manifest, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, MetricsFile), metrics, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadManifest(dir); err != nil && !errors.Is(err, ErrRunDir) {
			t.Fatalf("ReadManifest: %v, want ErrRunDir", err)
		}
		lines, err := ReadMetrics(dir)
		if err == nil {
			for k, m := range lines {
				if m.Iteration != k {
					t.Fatalf("line %d has iteration %d", k, m.Iteration)
				}
			}
		}
	})
}
