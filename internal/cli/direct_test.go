package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var adapterFixtures = filepath.Join("..", "..", "testdata", "adapters")

// TestAnalysesReadForeignLogs: every analysis command reads verl,
// verl-agent, TRL and rLLM logs directly and says on stderr which adapter
// read them; the output equals that of convert-then-read.
func TestAnalysesReadForeignLogs(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		input, format string
		flags         []string
	}{
		{"verl", "a verl rollout dump", nil},
		{filepath.Join("verl-agent", "patched"), "a verl-agent rollout dump", nil},
		{filepath.Join("verl-agent", "stock"), "a verl rollout dump", []string{"--single-turn", "--state", "verl-agent"}},
		{"trl", "TRL GRPO completion tables", nil},
		{"rllm", "rLLM episodes", nil},
	} {
		in := filepath.Join(adapterFixtures, tc.input)
		conv := filepath.Join(dir, strings.ReplaceAll(tc.input, string(filepath.Separator), "-")+".parquet")
		if _, stderr, code := run(t, append(append([]string{"convert"}, tc.flags...), "--out", conv, in)...); code != 0 {
			t.Fatalf("convert %s: exit %d: %s", tc.input, code, stderr)
		}
		for _, cmd := range [][]string{{"repetition"}, {"consistency"}, {"advantage", "--min-visits", "2", "--resamples", "50"}, {"inspect"}} {
			direct, stderr, code := run(t, append(append(append([]string{}, cmd...), tc.flags...), in)...)
			if code != 0 || !strings.Contains(stderr, "read "+in+" as "+tc.format+" (adapter") {
				t.Fatalf("%s %s: exit %d, stderr %q", cmd[0], tc.input, code, stderr)
			}
			converted, stderr, code := run(t, append(append([]string{}, cmd...), conv)...)
			if code != 0 {
				t.Fatalf("%s %s converted: exit %d: %s", cmd[0], tc.input, code, stderr)
			}
			// The first line counts files: one parquet file against the dump's files.
			_, d, _ := strings.Cut(direct, "\n")
			_, c, _ := strings.Cut(converted, "\n")
			if cmd[0] == "inspect" {
				_, d, _ = strings.Cut(d, "\n\n")
				_, c, _ = strings.Cut(c, "\n\n")
			}
			if d != c {
				t.Errorf("%s %s: direct output\n%s\nconverted\n%s", cmd[0], tc.input, d, c)
			}
		}
	}
}

// TestInspectWarningsAndStrict: inspect names the flag that makes states
// recur and the flags that give labels; --strict exits 2 on problems (a
// zero-signal iteration here) and 0 without; problems are in the JSON
// output and in a problems table beside a CSV one.
func TestInspectWarningsAndStrict(t *testing.T) {
	stock := filepath.Join(adapterFixtures, "verl-agent", "stock")
	_, stderr, code := run(t, "inspect", "--single-turn", stock)
	if code != 0 || !strings.Contains(stderr, "no state occurs 10 times") || !strings.Contains(stderr, "--state verl-agent") ||
		!strings.Contains(stderr, "--label-column") {
		t.Errorf("stock dump: exit %d, stderr %s", code, stderr)
	}
	_, stderr, _ = run(t, "inspect", "--single-turn", "--state", "verl-agent", stock)
	if strings.Contains(stderr, "no state occurs") {
		t.Errorf("--state verl-agent still warns: %s", stderr)
	}

	dir := t.TempDir()
	labels := filepath.Join(dir, "labels.csv")
	os.WriteFile(labels, []byte("state_key,action,label\nnone,none,1\n"), 0o644)
	patched := filepath.Join(adapterFixtures, "verl-agent", "patched")
	if _, stderr, code := run(t, "inspect", "--strict", "--max-zero-std", "1", patched); code != 0 {
		t.Errorf("--strict --max-zero-std 1: exit %d: %s", code, stderr)
	}
	out := filepath.Join(dir, "inspect.json")
	stdout, stderr, code := run(t, "inspect", "--strict", "--out", out, patched)
	if code != ExitBadInput || !strings.Contains(stdout, "zero-signal") || !strings.Contains(stderr, "inspect --strict: 1 problem(s) in the logs (zero-signal)") {
		t.Errorf("--strict: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	var rep struct {
		Rows     []map[string]any `json:"rows"`
		Problems []struct {
			Kind      string `json:"kind"`
			Iteration int    `json:"iteration"`
		} `json:"problems"`
		Warnings []struct{ Kind, Fix string } `json:"warnings"`
		Inputs   []struct{ Format string }    `json:"inputs"`
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("%s: %v\n%s", out, err, data)
	}
	if len(rep.Rows) != 2 || len(rep.Problems) != 1 || rep.Problems[0].Kind != "zero-signal" || rep.Problems[0].Iteration != 2 ||
		len(rep.Warnings) != 1 || rep.Warnings[0].Kind != "no-label" || len(rep.Inputs) != 1 || rep.Inputs[0].Format != "verl-agent" {
		t.Errorf("JSON report %+v", rep)
	}
	csvOut := filepath.Join(dir, "inspect.csv")
	if _, stderr, code := run(t, "inspect", "--out", csvOut, patched); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	probs, err := os.ReadFile(filepath.Join(dir, "inspect.problems.csv"))
	if err != nil || !strings.HasPrefix(string(probs), "run,iteration,split,where,kind,detail\n") || !strings.Contains(string(probs), "zero-signal") {
		t.Errorf("problems table: %v\n%s", err, probs)
	}
}

// TestInspectStrictMalformed: inspect --strict fails (exit 2) on every
// malformed fixture.
func TestInspectStrictMalformed(t *testing.T) {
	var files []string
	for _, g := range []string{filepath.Join("..", "..", "testdata", "malformed", "*"), filepath.Join(adapterFixtures, "malformed", "*")} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) < 50 {
		t.Fatalf("%d malformed fixtures", len(files))
	}
	for _, f := range files {
		if _, stderr, code := run(t, "inspect", "--strict", f); code != ExitBadInput {
			t.Errorf("inspect --strict %s: exit %d: %s", f, code, stderr)
		}
	}
}

// TestConvertStateAndLabels: convert takes the state rule and labels (a
// column and a table); the converted log then feeds inspect without
// warnings, and a bad label is exit 2 naming file, row and field.
func TestConvertStateAndLabels(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(adapterFixtures, "verl-agent", "patched", "1.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i, l := range strings.Split(strings.TrimSpace(string(src)), "\n") {
		lines = append(lines, strings.TrimSuffix(l, "}")+`, "judge": "`+[]string{"good", "bad"}[i%2]+`"}`)
	}
	dump := filepath.Join(dir, "dump")
	os.Mkdir(dump, 0o755)
	os.WriteFile(filepath.Join(dump, "1.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	out := filepath.Join(dir, "steps.parquet")
	stdout, stderr, code := run(t, "convert", "--state", "verl-agent", "--label-column", "judge", "--out", out, dump)
	if code != 0 || !strings.Contains(stdout, "state_key from state rule verl-agent") || !strings.Contains(stdout, "labelled (column judge)") {
		t.Fatalf("convert: exit %d\n%s\n%s", code, stdout, stderr)
	}
	stdout, stderr, code = run(t, "inspect", out)
	if code != 0 || strings.Contains(stderr, "warning") {
		t.Errorf("inspect converted: exit %d\n%s\n%s", code, stdout, stderr)
	}
	lines[3] = strings.Replace(lines[3], `"judge": "bad"`, `"judge": "so-so"`, 1)
	os.WriteFile(filepath.Join(dump, "1.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	_, stderr, code = run(t, "repetition", "--label-column", "judge", dump)
	if code != ExitBadInput || !strings.Contains(stderr, "1.jsonl: row 4: field judge") {
		t.Errorf("bad label: exit %d: %s", code, stderr)
	}
	_, stderr, code = run(t, "repetition", "--state", "whole", dump)
	if code != ExitBadInput || !strings.Contains(stderr, "--state") {
		t.Errorf("bad rule: exit %d: %s", code, stderr)
	}
	_, stderr, code = run(t, "repetition", "--state", "prompt", out)
	if code != ExitBadInput || !strings.Contains(stderr, "canonical step records") {
		t.Errorf("rule on canonical logs: exit %d: %s", code, stderr)
	}
}
