package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/trajlog"
)

// readmeYourRun returns the commands of the README's "your run" block
// (between the your-run markers), without the leading "gradcouple".
func readmeYourRun(t *testing.T) [][]string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "<!-- your-run")
	j := strings.Index(s, "<!-- /your-run -->")
	if i < 0 || j < i {
		t.Fatal("README.md has no your-run block")
	}
	var cmds [][]string
	for _, l := range strings.Split(s[i:j], "\n") {
		if w := shellWords(l); len(w) > 1 && w[0] == "gradcouple" {
			cmds = append(cmds, w[1:])
		}
	}
	return cmds
}

// sampleTrajectories plays household tasks with a mixed oracle/random
// policy: GroupSize rollouts per task, so first states recur.
func sampleTrajectories(t *testing.T, tasks, g int) []trajlog.Record {
	t.Helper()
	recs, _, err := env.Sample(env.SampleConfig{Env: env.Household, Split: env.SplitTrain, Tasks: tasks, Seed: 5,
		GroupSize: g, Policy: "mix", Eps: 0.75, Judge: env.Judge{J: 5, Eps: 0.1}, Run: "readme"})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// writeVerlDump writes a single-turn verl rollout dump ({step}.jsonl with
// input, output, score, step, as _dump_generations writes it) of the first
// steps of sampled trajectories, scored by their success.
func writeVerlDump(t *testing.T, dir string) {
	t.Helper()
	var b bytes.Buffer
	for _, r := range sampleTrajectories(t, 6, 24) {
		if r.Turn != 0 {
			continue
		}
		line, _ := json.Marshal(map[string]any{"input": r.Prompt, "output": r.Action, "score": r.Outcome, "step": 1})
		b.Write(line)
		b.WriteByte('\n')
	}
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "1.jsonl"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeTRLTable writes a TRL completion table (completions_00001.parquet:
// step, prompt, completion, one reward column, advantage, as TRL saves it
// with pandas) of the first steps of sampled trajectories.
func writeTRLTable(t *testing.T, dir string) {
	t.Helper()
	type trlRow struct {
		Step       int64   `parquet:"step"`
		Prompt     string  `parquet:"prompt"`
		Completion string  `parquet:"completion"`
		Reward     float64 `parquet:"accuracy_reward"`
		Advantage  float64 `parquet:"advantage"`
	}
	var rows []trlRow
	for _, r := range sampleTrajectories(t, 6, 24) {
		if r.Turn == 0 {
			rows = append(rows, trlRow{1, r.Prompt, r.Action, float64(r.Outcome), 0})
		}
	}
	// TRL's advantage: (R - mean) / (std + 1e-4) over num_generations
	// consecutive rows (24 here, one task each).
	for i := 0; i < len(rows); i += 24 {
		g := rows[i:min(i+24, len(rows))]
		var m, ss float64
		for _, r := range g {
			m += r.Reward
		}
		m /= float64(len(g))
		for _, r := range g {
			ss += (r.Reward - m) * (r.Reward - m)
		}
		sd := 0.0
		if len(g) > 1 {
			sd = sqrt(ss / float64(len(g)-1))
		}
		for k := range g {
			g[k].Advantage = (g[k].Reward - m) / (sd + 1e-4)
		}
	}
	os.MkdirAll(dir, 0o755)
	f, err := os.Create(filepath.Join(dir, "completions_00001.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[trlRow](f)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func sqrt(x float64) float64 {
	z := x
	for i := 0; i < 60 && z > 0; i++ {
		z = (z + x/z) / 2
	}
	return z
}

// writeVerlAgentDump writes multi-turn trajectories the way
// scripts/verl-agent/gradcouple_dump.py makes verl-agent dump them: one
// line per step with uid, traj_uid, turn, anchor_obs, is_action_valid,
// rewards and episode_rewards, reordered, with copies appended.
func writeVerlAgentDump(t *testing.T, dir string) {
	t.Helper()
	recs := sampleTrajectories(t, 6, 24)
	var lines []string
	for _, r := range recs {
		line, _ := json.Marshal(map[string]any{
			"input": r.Prompt, "output": "<think>plan</think><action>" + r.Action + "</action>",
			"score": r.Outcome, "step": 1, "uid": r.GroupID, "traj_uid": r.TrajID, "turn": r.Turn,
			"anchor_obs": r.StateKey, "is_action_valid": r.Valid, "rewards": r.StepReward,
			"episode_rewards": r.Outcome})
		lines = append(lines, string(line))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 7 { // adjust_batch(mode="copy")
		lines = append(lines, lines[rng.IntN(len(lines))])
	}
	rng.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] }) // _balance_batch
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "1.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReadmeYourRun runs the README's first-screen commands on a verl dump,
// a TRL completion table and a verl-agent dump, without training anything:
// every command succeeds, repetition, consistency and advantage print
// non-empty tables (states recur, pairs are found), and the report is
// written.
func TestReadmeYourRun(t *testing.T) {
	if testing.Short() {
		t.Skip("samples three logs and writes three reports")
	}
	cmds := readmeYourRun(t)
	if len(cmds) != 5 {
		t.Fatalf("README your-run block has %d commands, want 5", len(cmds))
	}
	for _, src := range []struct {
		name  string
		write func(*testing.T, string)
	}{{"verl", writeVerlDump}, {"trl", writeTRLTable}, {"verl-agent", writeVerlAgentDump}} {
		t.Run(src.name, func(t *testing.T) {
			work := t.TempDir()
			rollouts := filepath.Join(work, "rollouts")
			src.write(t, rollouts)
			for _, c := range cmds {
				args := make([]string, len(c))
				for i, a := range c {
					switch a {
					case "ROLLOUTS":
						a = rollouts
					case "report.html":
						a = filepath.Join(work, "report.html")
					}
					args[i] = a
				}
				stdout, stderr, code := run(t, args...)
				if code != 0 {
					t.Fatalf("%v: exit %d\n%s", c, code, stderr)
				}
				if !strings.Contains(stderr, "as "+adapterWord(src.name)) {
					t.Errorf("%v: stderr does not name the adapter: %q", c, stderr)
				}
				switch c[0] {
				case "consistency":
					if strings.Contains(stdout, "; 0 states occur") {
						t.Errorf("consistency found no recurring state:\n%s", stdout)
					}
				case "advantage":
					if strings.Contains(stdout, "; 0 (state, action) pairs") {
						t.Errorf("advantage found no pair:\n%s", stdout)
					}
				case "repetition":
					if !strings.Contains(stdout, "repeat_rate") {
						t.Errorf("repetition printed no table:\n%s", stdout)
					}
				}
			}
			if st, err := os.Stat(filepath.Join(work, "report.html")); err != nil || st.Size() < 10000 {
				t.Errorf("report: %v", err)
			}
		})
	}
}

// adapterWord is how the stderr line names each format's adapter.
func adapterWord(format string) string {
	switch format {
	case "trl":
		return "TRL"
	case "verl-agent":
		return "a verl-agent"
	}
	return fmt.Sprintf("a %s", format)
}

// TestReadmeOwnModel runs the README's "your own model" block as written,
// in a scratch directory (testdata/ paths point at the repository's), and
// checks what each command says it did.
func TestReadmeOwnModel(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, "<!-- own-model"), strings.Index(s, "<!-- /own-model -->")
	if i < 0 || j < i {
		t.Fatal("README.md has no own-model block")
	}
	testdata, err := filepath.Abs("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	want := []string{"wrote qwen-tiny", "wrote rollouts.parquet", "scored by qwen-tiny: qwen2", "probe states from 14 step records",
		"wrote labelled.parquet", "exact inner products from per-position factors", "Bergson's per-module projection, P = 16"}
	n := 0
	for _, l := range strings.Split(s[i:j], "\n") {
		w := shellWords(l)
		if len(w) < 2 || w[0] != "gradcouple" {
			continue
		}
		for k, a := range w {
			if rest, ok := strings.CutPrefix(a, "testdata/"); ok {
				w[k] = filepath.Join(testdata, rest)
			}
		}
		out, errOut, code := run(t, w[1:]...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", l, code, out, errOut)
		}
		if n < len(want) && !strings.Contains(out, want[n]) {
			t.Errorf("%s: output lacks %q:\n%s", l, want[n], out)
		}
		n++
	}
	if n != len(want) {
		t.Fatalf("%d commands in the own-model block, want %d", n, len(want))
	}
	for _, f := range []string{"grads-bergson/info.json", "grads-bergson/gradients.bin", "grads-bergson/samples.parquet"} {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
}

// TestReadmeReferenceStudy plans the README's reference study (the first
// command of its section, the same as docs/figures.md's) without training
// it: --emit writes the job files after printing the plan, which must be
// the 40 runs and 20 shared cold starts the README describes.
func TestReadmeReferenceStudy(t *testing.T) {
	command := func(path, heading string) []string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		i := strings.Index(s, heading)
		if i < 0 {
			t.Fatalf("%s has no section %q", path, heading)
		}
		for _, l := range strings.Split(s[i:], "\n") {
			if w := shellWords(l); len(w) > 1 && w[0] == "gradcouple" {
				return w[1:]
			}
		}
		t.Fatalf("%s: no command in section %q", path, heading)
		return nil
	}
	readme := command("../../README.md", "## The reference study")
	doc := command("../../docs/figures.md", "## The reference study")
	if strings.Join(readme, " ") != strings.Join(doc, " ") {
		t.Errorf("README runs %q, docs/figures.md %q", readme, doc)
	}
	work := t.TempDir()
	args := append([]string{}, readme...)
	for i, a := range args {
		if i > 0 && (args[i-1] == "--out" || args[i-1] == "--export") {
			args[i] = filepath.Join(work, a)
		}
	}
	_, stderr, code := run(t, append(args, "--emit", "slurm")...)
	if code != 0 {
		t.Fatalf("%v: exit %d\n%s", args, code, stderr)
	}
	if !strings.Contains(stderr, "2 arm(s) x 2 environment(s) x 10 seed(s) = 40 runs and 20 shared cold start(s)") {
		t.Errorf("the reference study's plan is not the README's 40 runs from 20 cold starts:\n%s", stderr)
	}
}
