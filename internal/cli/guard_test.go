package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// copyFile copies src to dst.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOutputOverInputRefused: no command may write an output over one of its
// inputs (the same path, a symbolic link to it, a hard link, a path with
// "..") or into an input run's logs/ or checkpoints/; each is refused with
// exit 2 before any work, and the input is left byte for byte.
func TestOutputOverInputRefused(t *testing.T) {
	run0 := runFixture(t, "r", 3)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.parquet")
	copyFile(t, filepath.Join(run0, "logs", "iter-000000.parquet"), in)
	orig, _ := os.ReadFile(in)
	link := filepath.Join(dir, "link.parquet")
	hard := filepath.Join(dir, "hard.parquet")
	if runtime.GOOS != "windows" {
		if err := os.Symlink(in, link); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(in, hard); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	os.MkdirAll(sub, 0o755)
	probes := filepath.Join(dir, "probes.parquet")
	copyFile(t, in, probes)
	verlDir := filepath.Join(dir, "verl")
	os.MkdirAll(verlDir, 0o755)
	verlFile := filepath.Join(verlDir, "1.jsonl")
	copyFile(t, filepath.Join("..", "..", "testdata", "adapters", "verl", "1.jsonl"), verlFile)
	verlOrig, _ := os.ReadFile(verlFile)
	for _, args := range [][]string{
		{"inspect", in, "--out", in},
		{"inspect", in, "--out", filepath.Join(sub, "..", "in.parquet")},
		{"inspect", in, "--out", link},
		{"inspect", link, "--out", in},
		{"inspect", in, "--out", hard},
		{"inspect", filepath.Join(dir, "*.parquet"), "--out", in},
		{"repetition", in, "--out", in},
		{"advantage", in, "--out", in},
		{"consistency", in, "--states-out", in},
		{"consistency", in, "--out", filepath.Join(dir, "same.csv"), "--states-out", filepath.Join(dir, "same.csv")},
		{"inspect", run0, "--out", filepath.Join(run0, "logs", "summary.parquet")},
		{"inspect", filepath.Join(run0, "logs", "iter-000001.parquet"), "--out", filepath.Join(run0, "logs", "summary.csv")},
		{"inspect", run0, "--out", filepath.Join(run0, "checkpoints", "x.csv")},
		{"coupling", run0, "--probes", probes, "--probes-out", probes},
		{"coupling", run0, "--num-probes", "4", "--sim-out", filepath.Join(run0, "logs", "sim.csv")},
		{"coupling", run0, "--num-probes", "4", "--export", filepath.Join(run0, "checkpoints", "grads")},
		{"figures", run0, "--out", filepath.Join(run0, "logs")},
		{"report", run0, "--out", filepath.Join(run0, "checkpoints", "r.html")},
		{"model", "score", filepath.Join(run0, "checkpoints", "iter-000000"), in, "--out", in},
		{"convert", verlFile, "--out", verlFile},
		{"convert", verlDir, "--out", filepath.Join(verlDir, "3.jsonl")},
		{"merge", in, "--out", in},
		{"merge", in, "--gram-dir", in},
	} {
		if strings.Contains(strings.Join(args, " "), "link.parquet") && runtime.GOOS == "windows" {
			continue
		}
		_, stderr, code := run(t, args...)
		if code != ExitBadInput {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, ExitBadInput, stderr)
		}
		if got, _ := os.ReadFile(in); !bytes.Equal(got, orig) {
			t.Fatalf("%v: the input was changed", args)
		}
		if got, _ := os.ReadFile(verlFile); !bytes.Equal(got, verlOrig) {
			t.Fatalf("%v: the verl input was changed", args)
		}
	}
	if _, err := os.Stat(filepath.Join(verlDir, "3.jsonl")); err == nil {
		t.Errorf("convert wrote into its input directory")
	}
	for _, f := range []string{filepath.Join(run0, "logs", "summary.parquet"), filepath.Join(run0, "logs", "summary.csv"), filepath.Join(run0, "logs", "sim.csv")} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s was written", f)
		}
	}
	// An output beside the inputs is fine.
	if _, stderr, code := run(t, "inspect", in, "--out", filepath.Join(dir, "summary.csv")); code != 0 {
		t.Errorf("inspect --out beside the input: exit %d: %s", code, stderr)
	}
}

// TestRunLogsOnlyIterFiles: a foreign parquet dropped into a run's logs/ is
// not read as step records of the run.
func TestRunLogsOnlyIterFiles(t *testing.T) {
	run0 := runFixture(t, "r", 3)
	before, stderr, code := run(t, "inspect", run0)
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, stderr)
	}
	// A copy of a log under another name would double its records.
	copyFile(t, filepath.Join(run0, "logs", "iter-000000.parquet"), filepath.Join(run0, "logs", "summary.parquet"))
	after, stderr, code := run(t, "inspect", run0)
	if code != 0 {
		t.Fatalf("inspect with a foreign parquet in logs/: exit %d: %s", code, stderr)
	}
	first := func(s string) string { return strings.SplitN(s, "\n", 2)[0] }
	if first(after) != first(before) {
		t.Errorf("a foreign parquet in logs/ was read: %q, before %q", first(after), first(before))
	}
}

// TestStaleTempsCleaned: the temporaries that a killed earlier write of the
// same output left behind are removed by the next run of the command.
func TestStaleTempsCleaned(t *testing.T) {
	run0 := runFixture(t, "r", 3)
	dir := t.TempDir()
	out := filepath.Join(dir, "summary.csv")
	stale := []string{filepath.Join(dir, ".summary.csv.tmp-12345"), filepath.Join(dir, ".summary.csv.tmp-999")}
	for _, s := range stale {
		os.WriteFile(s, []byte("half"), 0o644)
	}
	other := filepath.Join(dir, ".other.csv.tmp-1")
	os.WriteFile(other, []byte("another output's"), 0o644)
	if _, stderr, code := run(t, "inspect", run0, "--out", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, s := range stale {
		if _, err := os.Stat(s); err == nil {
			t.Errorf("%s was left behind", s)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("the temporary of another output was removed: %v", err)
	}
}

// TestModelInitExistingOut: model init refuses an existing --out without
// --force, and with it replaces only a directory holding nothing but its own
// files.
func TestModelInitExistingOut(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ckpt")
	args := []string{"model", "init", "--env", "household", "--dim", "8", "--layers", "1", "--heads", "2", "--context", "64", "--out", out}
	if _, stderr, code := run(t, args...); code != 0 {
		t.Fatalf("first init: exit %d: %s", code, stderr)
	}
	if _, stderr, code := run(t, args...); code != ExitBadInput || !strings.Contains(stderr, "--force") {
		t.Errorf("second init without --force: exit %d, stderr %q; want %d mentioning --force", code, stderr, ExitBadInput)
	}
	if _, stderr, code := run(t, append(args, "--force", "--seed", "5")...); code != 0 {
		t.Errorf("init --force over its own checkpoint: exit %d: %s", code, stderr)
	}
	notes := filepath.Join(out, "NOTES.txt")
	os.WriteFile(notes, []byte("mine"), 0o644)
	if _, stderr, code := run(t, append(args, "--force")...); code != ExitBadInput || !strings.Contains(stderr, "NOTES.txt") {
		t.Errorf("init --force over a directory with a foreign file: exit %d, stderr %q; want %d naming NOTES.txt", code, stderr, ExitBadInput)
	}
	if b, err := os.ReadFile(notes); err != nil || string(b) != "mine" {
		t.Errorf("the foreign file after init --force: %q, %v", b, err)
	}
	other := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, "x.csv"), []byte("1"), 0o644)
	if _, _, code := run(t, "model", "init", "--out", other, "--force"); code != ExitBadInput {
		t.Errorf("init --force over a data directory: exit %d, want %d", code, ExitBadInput)
	}
	if _, err := os.Stat(filepath.Join(other, "x.csv")); err != nil {
		t.Errorf("data directory file: %v", err)
	}
}

// TestDuplicateStepsExit2: the diagnostics that would count a duplicated
// step twice refuse the logs with exit 2, naming the file and the key;
// inspect lists the duplicates and exits 0.
func TestDuplicateStepsExit2(t *testing.T) {
	run0 := runFixture(t, "r", 3)
	orig := filepath.Join(run0, "logs", "iter-000000.parquet")
	dup := filepath.Join(t.TempDir(), "copy.parquet")
	copyFile(t, orig, dup)
	for _, cmd := range [][]string{{"repetition"}, {"consistency"}, {"advantage"}} {
		_, stderr, code := run(t, append(cmd, orig, dup)...)
		if code != ExitBadInput || !strings.Contains(stderr, "copy.parquet") || !strings.Contains(stderr, "duplicate step record") {
			t.Errorf("%s on duplicated logs: exit %d, stderr %q", cmd[0], code, stderr)
		}
	}
	out, stderr, code := run(t, "inspect", orig, dup)
	if code != 0 || !strings.Contains(out, "duplicate-step") {
		t.Errorf("inspect on duplicated logs: exit %d, stderr %q, no duplicate-step problem in\n%s", code, stderr, out)
	}
}
