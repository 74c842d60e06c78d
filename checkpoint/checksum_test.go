package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// flipBit flips the lowest bit of the byte at the middle of the file.
func flipBit(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestChecksumCorruption: one flipped bit in any file of a saved checkpoint
// is refused by Load with a *ValidationError naming that file (ErrChecksum,
// exit status 2), before its content is parsed; the optimizer file only
// when it is read.
func TestChecksumCorruption(t *testing.T) {
	for _, name := range []string{ModelFileName, ConfigFileName, VocabFileName, OptimizerFileName} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ck")
			if err := Save(dir, tinyCheckpoint()); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, name)
			flipBit(t, path)
			_, err := Load(dir)
			checkValidationError(t, err, ErrChecksum, path, "", "", "differs from SHA256SUMS's")
			if !err.(*ValidationError).BadInput() {
				t.Error("not bad input")
			}
			_, err = LoadWith(dir, LoadOptions{SkipOptimizer: true})
			if name == OptimizerFileName {
				if err != nil {
					t.Errorf("SkipOptimizer reads no optimizer file: %v", err)
				}
				return
			}
			checkValidationError(t, err, ErrChecksum, path, "", "", "differs")
		})
	}
}

// TestChecksumManifest: a checkpoint without SHA256SUMS (an older run, or a
// directory made elsewhere) is read unchecked; a manifest that does not
// list a file read, or lists an optimizer file that is gone, is refused; a
// malformed manifest is refused naming its line.
func TestChecksumManifest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ck")
	if err := Save(dir, tinyCheckpoint()); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dir, ChecksumFileName)
	good, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(good), "\n"); n != 4 {
		t.Fatalf("manifest lists %d files:\n%s", n, good)
	}
	// The committed fixture without its manifest, as an older run has it.
	old := t.TempDir()
	for _, name := range []string{ConfigFileName, VocabFileName, ModelFileName, OptimizerFileName} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "checkpoint", "tiny", name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(old, name), b, 0o644)
	}
	if ok, err := verifyChecksums(old, []string{ConfigFileName}, nil); ok || err != nil {
		t.Errorf("no manifest: verified %v, %v", ok, err)
	}
	if got, err := Load(old); err != nil {
		t.Fatalf("checkpoint without a manifest: %v", err)
	} else {
		compareCheckpoints(t, tinyCheckpoint(), got)
	}

	without := func(name string) string {
		var keep []string
		for _, l := range strings.SplitAfter(string(good), "\n") {
			if !strings.HasSuffix(l, "  "+name+"\n") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "")
	}
	sumOf := strings.Fields(string(good))[0]
	for _, c := range []struct {
		name, manifest string
		remove         string // a file to delete
		file, field    string
		msg            string
	}{
		{"unlisted model", without(ModelFileName), "", ModelFileName, "", "not listed in SHA256SUMS"},
		{"listed optimizer gone", string(good), OptimizerFileName, OptimizerFileName, "", "missing, but SHA256SUMS lists it"},
		{"no final newline", strings.TrimSuffix(string(good), "\n"), "", ChecksumFileName, "line 4", "does not end with a newline"},
		{"one space", strings.Replace(string(good), "  ", " ", 1), "", ChecksumFileName, "line 1", "is not \"SHA-256  FILE\""},
		{"short sum", string(good)[2:], "", ChecksumFileName, "line 1", "is not \"SHA-256  FILE\""},
		{"not hex", "zz" + string(good)[2:], "", ChecksumFileName, "line 1", "not 64 hexadecimal digits"},
		{"path", sumOf + "  ../model.safetensors\n", "", ChecksumFileName, "line 1", "not a file name"},
		{"twice", string(good) + strings.SplitAfter(string(good), "\n")[0], "", ChecksumFileName, "line 5", "listed twice"},
		{"empty", "", "", ChecksumFileName, "line 1", "does not end with a newline"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "ck")
			if err := Save(d, tinyCheckpoint()); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, ChecksumFileName), []byte(c.manifest), 0o644); err != nil {
				t.Fatal(err)
			}
			if c.remove != "" {
				os.Remove(filepath.Join(d, c.remove))
			}
			_, err := Load(d)
			checkValidationError(t, err, ErrChecksum, filepath.Join(d, c.file), "", c.field, c.msg)
		})
	}
	// sha256sum's binary-mode marker is accepted.
	if err := os.WriteFile(manifest, []byte(strings.ReplaceAll(string(good), "  ", " *")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err != nil {
		t.Errorf("binary-mode manifest: %v", err)
	}
	// A required file that is gone is reported as missing, as before.
	os.Remove(filepath.Join(dir, VocabFileName))
	if _, err := Load(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing vocab.json: %v", err)
	}
}

// FuzzChecksums: the manifest parser never panics, its errors are
// *ValidationError naming the manifest, and what it accepts is written
// back (in sha256sum's text mode) to a manifest that parses to the same.
func FuzzChecksums(f *testing.F) {
	f.Add([]byte("9f405353cb3e59401805376eaca66f2da69413458fe41e8ef9f9ebcb89674250  config.json\n"))
	f.Add([]byte("9f405353cb3e59401805376eaca66f2da69413458fe41e8ef9f9ebcb89674250 *a b\n9f405353cb3e59401805376eaca66f2da69413458fe41e8ef9f9ebcb89674250  c\n"))
	f.Add([]byte("\n"))
	f.Add([]byte("x  ../y\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sums, err := parseChecksums(data, "SHA256SUMS")
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.File != "SHA256SUMS" || !errors.Is(err, ErrChecksum) {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		back, err := parseChecksums(sums.marshal(), "again")
		if err != nil || len(back) != len(sums) {
			t.Fatalf("rewritten: %v", err)
		}
		for k, v := range sums {
			if back[k] != v || k == "" || strings.ContainsAny(k, "/\n") {
				t.Fatalf("name %q", k)
			}
		}
	})
}
