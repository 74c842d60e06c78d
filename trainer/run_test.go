package trainer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/policy"
	"github.com/gradcouple/gradcouple/trajlog"
)

// tinyConfig is a GCD run small enough to train in well under a second:
// every part of the loop (cold start with verdicts, correction, eval,
// several mini-batches and epochs, checkpoints) runs.
func tinyConfig() Config {
	c, err := Defaults(PresetDefault, AlgoGCD)
	if err != nil {
		panic(err)
	}
	c.Run = "tiny"
	c.Seed = 7
	c.Iterations = 3
	c.TrainTasks = 20
	c.CheckpointEvery = 2
	c.Model = ModelConfig{Dim: 8, Layers: 1, Heads: 2, Context: 320, History: 1}
	c.ColdStart = ColdStartConfig{Demos: 2, Steps: 3, Batch: 4, LR: 1e-2, VerdictWeight: 0.5}
	c.Rollout.Tasks, c.Rollout.GroupSize, c.Rollout.MaxSteps = 2, 3, 6
	c.Update.Epochs, c.Update.MiniBatches, c.Update.LR = 2, 2, 1e-2
	c.Eval = EvalConfig{Every: 2, Tasks: 2, Greedy: true, Sampled: true}
	return c
}

var errAbort = errors.New("aborted by the test")

// runDir runs cfg into a new directory under t.TempDir.
func runDir(t *testing.T, cfg Config, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if _, err := Run(context.Background(), cfg, Options{Dir: dir, Version: "test"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// compareRuns fails unless directories a and b hold the same files with the
// same bytes, except timing.jsonl (wall-clock) and run.json's started,
// finished and resumed fields.
func compareRuns(t *testing.T, a, b string) {
	t.Helper()
	fa, fb := listFiles(t, a), listFiles(t, b)
	if fmt.Sprint(fa) != fmt.Sprint(fb) {
		t.Fatalf("files differ:\n%s: %v\n%s: %v", a, fa, b, fb)
	}
	for _, f := range fa {
		if f == TimingFile {
			continue
		}
		da, err := os.ReadFile(filepath.Join(a, f))
		if err != nil {
			t.Fatal(err)
		}
		db, err := os.ReadFile(filepath.Join(b, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == ManifestFile {
			da, db = normManifest(t, da), normManifest(t, db)
		}
		if !bytes.Equal(da, db) {
			t.Errorf("%s differs", f)
		}
	}
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func normManifest(t *testing.T, b []byte) []byte {
	t.Helper()
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Started == "" || m.Finished == "" {
		t.Errorf("run.json: started %q, finished %q", m.Started, m.Finished)
	}
	m.Started, m.Finished, m.Resumed = "", "", nil
	out, _ := json.Marshal(m)
	return out
}

func TestRunDirectory(t *testing.T) {
	cfg := tinyConfig()
	dir := runDir(t, cfg, "run")
	files := listFiles(t, dir)
	want := []string{"checkpoints/iter-000000/SHA256SUMS", "checkpoints/iter-000000/config.json", "checkpoints/iter-000000/model.safetensors",
		"checkpoints/iter-000000/optimizer.safetensors", "checkpoints/iter-000000/vocab.json",
		"checkpoints/iter-000002/SHA256SUMS", "checkpoints/iter-000002/config.json", "checkpoints/iter-000002/model.safetensors",
		"checkpoints/iter-000002/optimizer.safetensors", "checkpoints/iter-000002/vocab.json",
		"checkpoints/iter-000003/SHA256SUMS", "checkpoints/iter-000003/config.json", "checkpoints/iter-000003/model.safetensors",
		"checkpoints/iter-000003/optimizer.safetensors", "checkpoints/iter-000003/vocab.json",
		"logs/iter-000000.parquet", "logs/iter-000001.parquet", "logs/iter-000002.parquet", "logs/iter-000003.parquet",
		"metrics.jsonl", "run.json", "timing.jsonl"}
	if fmt.Sprint(files) != fmt.Sprint(want) {
		t.Fatalf("files:\n%v\nwant\n%v", files, want)
	}
	man, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if man.Config != cfg || man.Seed != cfg.Seed || man.Algo != AlgoGCD || man.Finished == "" {
		t.Errorf("run.json: %+v", man)
	}
	lines, err := ReadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 4 {
		t.Fatalf("%d metrics lines, want 4", len(lines))
	}
	if lines[0].ColdStart == nil || lines[0].ColdStart.Steps != 3 || lines[0].ColdStart.VerdictPairs == 0 {
		t.Errorf("cold start: %+v", lines[0].ColdStart)
	}
	if lines[0].EvalInGreedy == nil || lines[1].EvalInGreedy != nil || lines[3].EvalOutSampled == nil || lines[3].TrainSuccess != nil {
		t.Errorf("eval at the wrong iterations")
	}
	for i, m := range lines[:3] {
		if m.Samples == 0 || m.OptSteps != 4 || m.AdamStep != int64(4*(i+1)) || m.Loss == nil || m.VerdictAcc == nil || m.CorrectionRate == nil {
			t.Errorf("iteration %d: %+v", i, m)
		}
	}
	// The records: train rows then eval rows; logprob is log pi_i under
	// checkpoint i; advantages sum to zero within each group.
	m0, tok, err := policy.Load(filepath.Join(dir, CheckpointDir(0)))
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range lines {
		recs, err := trajlog.ReadAll(filepath.Join(dir, LogFile(i)), trajlog.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		train, evalRows := 0, 0
		groups := map[string]float64{}
		for _, r := range recs {
			if r.Iteration != int32(i) || r.Run != "tiny" || r.Env != cfg.Env {
				t.Fatalf("iteration %d: record %+v", i, r)
			}
			if r.Split == trajlog.SplitTrain {
				if evalRows > 0 {
					t.Fatalf("iteration %d: train row after eval rows", i)
				}
				train++
				if r.Turn == 0 {
					groups[r.GroupID] += float64(r.Advantage)
				}
			} else {
				evalRows++
				if r.Advantage != 0 || r.Corrected {
					t.Errorf("eval row %+v", r)
				}
			}
		}
		if train != m.Samples {
			t.Errorf("iteration %d: %d train rows, metrics say %d samples", i, train, m.Samples)
		}
		if want := 0; (m.EvalInGreedy != nil) != (evalRows > want) {
			t.Errorf("iteration %d: %d eval rows", i, evalRows)
		}
		for g, s := range groups {
			if math.Abs(s) > 1e-5 {
				t.Errorf("group %s: advantages sum to %v", g, s)
			}
		}
		if i != 0 {
			continue
		}
		var pairs []policy.Seq
		for _, r := range recs {
			seq, err := tok.EncodePair(r.Prompt, r.Action, m0.Config().Context)
			if err != nil {
				t.Fatal(err)
			}
			pairs = append(pairs, seq)
		}
		for n, lp := range m0.LogProbs(nil, pairs) {
			if got := float64(recs[n].Logprob); math.Abs(got-lp) > 1e-5*max(1, math.Abs(lp)) {
				t.Fatalf("row %d: logprob %v, checkpoint 0 gives %v", n, got, lp)
			}
		}
	}
}

func TestDeterministicAcrossGOMAXPROCS(t *testing.T) {
	cfg := tinyConfig()
	prev := runtime.GOMAXPROCS(1)
	a := runDir(t, cfg, "run")
	runtime.GOMAXPROCS(4)
	b := runDir(t, cfg, "run")
	runtime.GOMAXPROCS(prev)
	compareRuns(t, a, b)
}

func TestRunRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), tinyConfig(), Options{Dir: dir}); !errors.Is(err, ErrRunExists) {
		t.Fatalf("got %v, want ErrRunExists", err)
	}
	if _, err := Resume(context.Background(), Options{Dir: t.TempDir()}); !errors.Is(err, ErrNoRun) {
		t.Fatalf("got %v, want ErrNoRun", err)
	}
}

func TestResumeFinished(t *testing.T) {
	dir := runDir(t, tinyConfig(), "run")
	res, err := Resume(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !res.AlreadyFinished || len(res.Metrics) != 4 {
		t.Fatalf("resume of a finished run: %+v", res)
	}
}

// TestResumeAtEveryStage interrupts a run after every stage of every
// iteration (and after the cold start), resumes it, and compares the result
// with an uninterrupted run byte for byte. Some interruptions also leave
// what a kill -9 in the middle of a write leaves: a torn metrics line and
// temporary files.
func TestResumeAtEveryStage(t *testing.T) {
	cfg := tinyConfig()
	ref := runDir(t, cfg, "run")
	type point struct {
		iter  int
		stage string
	}
	points := []point{{-1, stageColdStart}}
	for i := 0; i <= cfg.Iterations; i++ {
		for _, s := range []string{stageCheckpoint, stageEval, stageRollout, stageUpdate, stageLogs, stageTiming, stageMetrics} {
			if i == cfg.Iterations && (s == stageRollout || s == stageUpdate) {
				continue
			}
			points = append(points, point{i, s})
		}
	}
	for n, p := range points {
		t.Run(fmt.Sprintf("%d-%s", p.iter, p.stage), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			hook := func(i int, stage string) error {
				if i == p.iter && stage == p.stage {
					return errAbort
				}
				return nil
			}
			_, err := Run(context.Background(), cfg, Options{Dir: dir, Version: "test", hook: hook})
			if !errors.Is(err, errAbort) {
				t.Fatalf("interrupted run: %v", err)
			}
			if n%2 == 1 {
				// What a kill in the middle of writes leaves behind.
				f, err := os.OpenFile(filepath.Join(dir, MetricsFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString(`{"iteration":99,"train_succ`)
				f.Close()
				for _, tmp := range []string{".metrics.jsonl.tmp-123", "logs/.iter-000009.parquet.tmp-1", "checkpoints/.iter-000009.tmp-1/model.safetensors"} {
					os.MkdirAll(filepath.Dir(filepath.Join(dir, tmp)), 0o755)
					os.WriteFile(filepath.Join(dir, tmp), []byte("partial"), 0o644)
				}
			}
			res, err := Resume(context.Background(), Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if res.AlreadyFinished || len(res.Metrics) != cfg.Iterations+1 {
				t.Fatalf("resume: %+v", res)
			}
			compareRuns(t, ref, dir)
			man, err := ReadManifest(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(man.Resumed) != 1 {
				t.Errorf("run.json resumed: %+v", man.Resumed)
			}
		})
	}
}

// TestResumeTwice interrupts the resumed run again.
func TestResumeTwice(t *testing.T) {
	cfg := tinyConfig()
	ref := runDir(t, cfg, "run")
	dir := filepath.Join(t.TempDir(), "run")
	stop := func(at int) func(int, string) error {
		return func(i int, stage string) error {
			if i == at && stage == stageUpdate {
				return errAbort
			}
			return nil
		}
	}
	if _, err := Run(context.Background(), cfg, Options{Dir: dir, Version: "test", hook: stop(1)}); !errors.Is(err, errAbort) {
		t.Fatal(err)
	}
	if _, err := Resume(context.Background(), Options{Dir: dir, hook: stop(2)}); !errors.Is(err, errAbort) {
		t.Fatal(err)
	}
	if _, err := Resume(context.Background(), Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	compareRuns(t, ref, dir)
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cfg := tinyConfig()
	dir := filepath.Join(t.TempDir(), "run")
	_, err := Run(ctx, cfg, Options{Dir: dir, Version: "test", Progress: func(p Progress) {
		if p.Stage == StageIteration && p.Iteration == 1 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if _, err := Resume(context.Background(), Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	compareRuns(t, runDir(t, cfg, "run"), dir)
}

// TestResumeDamagedCheckpoint: when the latest checkpoint differs from its
// SHA256SUMS, Resume refuses it, naming the file, rather than discard the
// iterations after an earlier one; when it does not load and has no manifest
// (outside damage to a checkpoint of an older run), Resume restarts from the
// one before it; when no checkpoint is left for committed iterations, it
// refuses.
func TestResumeDamagedCheckpoint(t *testing.T) {
	cfg := tinyConfig()
	ref := runDir(t, cfg, "run")
	dir := filepath.Join(t.TempDir(), "run")
	hook := func(i int, stage string) error {
		if i == 3 && stage == stageEval {
			return errAbort
		}
		return nil
	}
	if _, err := Run(context.Background(), cfg, Options{Dir: dir, Version: "test", hook: hook}); !errors.Is(err, errAbort) {
		t.Fatal(err)
	}
	model := filepath.Join(dir, CheckpointDir(3), "model.safetensors")
	if err := os.Truncate(model, 100); err != nil {
		t.Fatal(err)
	}
	_, err := Resume(context.Background(), Options{Dir: dir})
	var ve *checkpoint.ValidationError
	if !errors.Is(err, checkpoint.ErrChecksum) || !errors.As(err, &ve) || ve.File != model {
		t.Fatalf("resume from a corrupt checkpoint: %v, want a checksum error naming %s", err, model)
	}
	if err := os.Remove(filepath.Join(dir, CheckpointDir(3), checkpoint.ChecksumFileName)); err != nil {
		t.Fatal(err)
	}
	res, err := Resume(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.From != 2 {
		t.Errorf("resumed from %d, want 2", res.From)
	}
	compareRuns(t, ref, dir)

	if err := os.RemoveAll(filepath.Join(dir, CheckpointsDir)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), mustManifestUnfinished(t, dir), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Resume(context.Background(), Options{Dir: dir}); !errors.Is(err, ErrRunDir) {
		t.Fatalf("resume without checkpoints: %v, want ErrRunDir", err)
	}
}

// mustManifestUnfinished returns dir's run.json with finished cleared.
func mustManifestUnfinished(t *testing.T, dir string) []byte {
	t.Helper()
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	m.Finished = ""
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
