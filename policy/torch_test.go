package policy

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/gradcouple/gradcouple/env"
)

// TestTorchAnchor is the PyTorch anchor of DESIGN.md §6. It runs only with
// GRADCOUPLE_TORCH=1 (it needs Debian's python3-torch for /usr/bin/python3,
// or GRADCOUPLE_PYTHON):
//
//	GRADCOUPLE_TORCH=1 go test ./policy -run TorchAnchor -v
//
// For the default actor and the 4x tier of the benchmarks (d 128), with
// seeded weights and the vocabulary of both environments, it samples
// realistic (prompt, action) pairs from the environments (the mixed
// oracle/random policy, prompts with history), saves a checkpoint and hands
// the token ids to scripts/torch/reference.py, an independent GPT-2 in
// PyTorch that loads the checkpoint from its files. It checks that the
// float64 log-probs and per-sample gradients agree to 1e-4 relative (in
// fact ~1e-15) and prints both implementations' throughputs: forward
// tokens/s (Go LogProbs; PyTorch's faster of a per-sequence loop and a
// padded batch) and per-sample gradients/s over every parameter (Go
// PerSampleGrads32; PyTorch's faster of an autograd loop and functorch
// vmap(grad), in float32). PyTorch runs at 2 threads and, because OpenMP's
// two threads can be slower than one on these small per-sample problems
// (much slower when the machine is shared), at 1 thread too; its faster
// result is the anchor. Go runs with GOMAXPROCS 2 (and 1, reported too),
// timed before and after the script. Every timing is the best of 5 runs,
// which filters out a shared machine's load. GRADCOUPLE_TORCH_N sets the
// number of timed pairs (default 32).
func TestTorchAnchor(t *testing.T) {
	if os.Getenv("GRADCOUPLE_TORCH") != "1" {
		t.Skip("set GRADCOUPLE_TORCH=1 to compare with PyTorch (needs /usr/bin/python3 with torch)")
	}
	python := os.Getenv("GRADCOUPLE_PYTHON")
	if python == "" {
		python = "/usr/bin/python3"
	}
	n := 32
	if s := os.Getenv("GRADCOUPLE_TORCH_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("GRADCOUPLE_TORCH_N=%q", s)
		}
		n = v
	}
	const compare, repeats = 8, 5
	script, err := filepath.Abs("../scripts/torch/reference.py")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := EnvTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	seqs := anchorSeqs(t, tok, n)
	tokens := 0
	for _, s := range seqs {
		tokens += len(s.Prompt) + len(s.Action)
	}
	t.Logf("%d pairs sampled from household and lab (%d tokens, %.0f per pair); V = %d; %d CPUs",
		n, tokens, float64(tokens)/float64(n), tok.Size(), runtime.NumCPU())

	for _, sz := range []struct {
		name string
		cfg  Config
	}{
		{"default", Config{VocabSize: tok.Size()}},
		{"4x", Config{VocabSize: tok.Size(), Dim: 128}},
	} {
		m, err := NewModel(sz.cfg, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		ck := filepath.Join(dir, "ck")
		if err := Save(ck, m, tok, nil); err != nil {
			t.Fatal(err)
		}
		type pair struct {
			Prompt []int `json:"prompt"`
			Action []int `json:"action"`
		}
		req := struct {
			Seqs     []pair `json:"seqs"`
			Compare  int    `json:"compare"`
			GradsOut string `json:"grads_out"`
			Repeats  int    `json:"repeats"`
			Threads  []int  `json:"threads"`
		}{Compare: compare, GradsOut: filepath.Join(dir, "grads64.bin"), Repeats: repeats, Threads: []int{2, 1}}
		for _, s := range seqs {
			req.Seqs = append(req.Seqs, pair{s.Prompt, append([]int{}, s.Action...)})
		}
		reqPath := filepath.Join(dir, "request.json")
		b, _ := json.Marshal(req)
		if err := os.WriteFile(reqPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
		before := goTimings(m, seqs, repeats)
		goTimes := map[int][2]float64{}
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(python, script, ck, reqPath)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s", python, script, err, stderr.String())
		}
		var res struct {
			Torch          string                        `json:"torch"`
			Functorch      string                        `json:"functorch"`
			Params         int                           `json:"params"`
			LogProbs       []float64                     `json:"logprobs"`
			VmapRel        *float64                      `json:"vmap_vs_loop_grad_rel"`
			ForwardTokS    float64                       `json:"forward_tokens_per_s"`
			ForwardMethod  string                        `json:"forward_method"`
			GradsS         float64                       `json:"grads_per_s"`
			GradsMethod    string                        `json:"grads_method"`
			Timings        map[string]map[string]float64 `json:"timings"`
			BatchedLoopRel float64                       `json:"batched_vs_loop_logprob_rel"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
			t.Fatalf("reading the script's output: %v\n%s", err, stdout.String())
		}
		if res.Params != m.NumParams() || len(res.LogProbs) != compare {
			t.Fatalf("%s: PyTorch model has %d parameters and %d log-probs, want %d and %d", sz.name, res.Params, len(res.LogProbs), m.NumParams(), compare)
		}

		// Values, float64.
		lp := m.LogProbs(nil, seqs[:compare])
		var lpRel float64
		for i, want := range res.LogProbs {
			lpRel = max(lpRel, math.Abs(lp[i]-want)/math.Abs(want))
		}
		raw, err := os.ReadFile(req.GradsOut)
		if err != nil {
			t.Fatal(err)
		}
		D := m.NumParams()
		if len(raw) != 8*compare*D {
			t.Fatalf("%s: gradient file of %d bytes, want %d", sz.name, len(raw), 8*compare*D)
		}
		g := m.PerSampleGrads(nil, ActionTerms(seqs[:compare]), Selection{})
		// The relative difference of a gradient: per sample and tensor,
		// max |go - torch| / max |torch| over the tensor's entries.
		var gRel float64
		worst := ""
		for i := range compare {
			for _, ts := range m.Tensors() {
				var diff, scale float64
				for k := ts.Offset; k < ts.Offset+ts.Size; k++ {
					want := math.Float64frombits(binary.LittleEndian.Uint64(raw[8*(i*D+k):]))
					diff = max(diff, math.Abs(g[i*D+k]-want))
					scale = max(scale, math.Abs(want))
				}
				if scale == 0 {
					if diff != 0 {
						t.Errorf("%s: sample %d, %s: PyTorch's gradient is zero, Go's is not", sz.name, i, ts.Name)
					}
					continue
				}
				if r := diff / scale; r > gRel {
					gRel, worst = r, fmt.Sprintf("sample %d, %s", i, ts.Name)
				}
			}
		}

		// Throughputs: the best of `repeats` runs, as in the script, taken
		// before and after the script ran (the machine may be shared).
		for procs, r := range goTimings(m, seqs, repeats) {
			a := before[procs]
			goTimes[procs] = [2]float64{max(a[0], r[0]), max(a[1], r[1])}
		}
		goFwd, goGrads := goTimes[2][0], goTimes[2][1]
		torch1 := res.Timings["1"]
		torch2 := res.Timings["2"]

		t.Logf("%s (d %d, %d parameters), PyTorch %s (%s):", sz.name, m.Config().Dim, D, res.Torch, res.Functorch)
		t.Logf("  forward:          Go %8.0f tokens/s, PyTorch %8.0f tokens/s (%s), ratio %.1fx", goFwd, res.ForwardTokS, res.ForwardMethod, goFwd/res.ForwardTokS)
		t.Logf("  per-sample grads: Go %8.1f grads/s,  PyTorch %8.1f grads/s  (%s), ratio %.1fx", goGrads, res.GradsS, res.GradsMethod, goGrads/res.GradsS)
		t.Logf("  2 cores: Go %.0f tokens/s, %.1f grads/s; PyTorch 2 threads: forward loop %.0f, batched %.0f tokens/s; grads loop %.1f, vmap %.1f /s",
			goTimes[2][0], goTimes[2][1], torch2["forward_loop_tokens_per_s"], torch2["forward_batched_tokens_per_s"], torch2["grads_loop_per_s"], torch2["grads_vmap_per_s"])
		t.Logf("  1 core:  Go %.0f tokens/s, %.1f grads/s; PyTorch 1 thread:  forward loop %.0f, batched %.0f tokens/s; grads loop %.1f, vmap %.1f /s",
			goTimes[1][0], goTimes[1][1], torch1["forward_loop_tokens_per_s"], torch1["forward_batched_tokens_per_s"], torch1["grads_loop_per_s"], torch1["grads_vmap_per_s"])
		t.Logf("  largest relative difference, float64: log-probs %.2e, gradients %.2e (%s)", lpRel, gRel, worst)
		if res.VmapRel != nil {
			t.Logf("  PyTorch vmap vs loop gradients %.2e, padded batch vs loop log-probs %.2e", *res.VmapRel, res.BatchedLoopRel)
		}
		if !(lpRel < 1e-4) || !(gRel < 1e-4) {
			t.Errorf("%s: relative difference from PyTorch: log-probs %v, gradients %v (%s); want < 1e-4", sz.name, lpRel, gRel, worst)
		}
		if res.VmapRel != nil && !(*res.VmapRel < 1e-4) {
			t.Errorf("%s: PyTorch's vmap gradients differ from its loop's by %v", sz.name, *res.VmapRel)
		}
	}
}

// anchorSeqs samples n (prompt, action) pairs from both environments'
// train splits with the mixed policy, shuffled with a fixed seed.
func anchorSeqs(t *testing.T, tok *Tokenizer, n int) []Seq {
	t.Helper()
	var seqs []Seq
	for _, name := range env.Names() {
		recs, _, err := env.Sample(env.SampleConfig{Env: name, Split: env.SplitTrain, Tasks: max(4, n/8), Seed: 100,
			GroupSize: 2, Policy: "mix", Eps: 0.3, Judge: env.Judge{J: 1}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			s, err := tok.EncodePair(r.Prompt, r.Action, DefaultContext)
			if err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, s)
		}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	rng.Shuffle(len(seqs), func(i, j int) { seqs[i], seqs[j] = seqs[j], seqs[i] })
	if len(seqs) < n {
		t.Fatalf("sampled %d pairs, want %d", len(seqs), n)
	}
	return seqs[:n]
}

// goTimings measures forward tokens/s (LogProbs) and per-sample
// gradients/s (PerSampleGrads32 over every parameter) of m on seqs, the best
// of k runs each, with GOMAXPROCS 2 and 1 (keyed by GOMAXPROCS).
func goTimings(m *Model, seqs []Seq, k int) map[int][2]float64 {
	tokens := 0
	for _, s := range seqs {
		tokens += len(s.Prompt) + len(s.Action)
	}
	dst := make([]float64, len(seqs))
	grads := make([]float32, len(seqs)*m.NumParams())
	terms := ActionTerms(seqs)
	out := map[int][2]float64{}
	old := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(old)
	for _, procs := range []int{2, 1} {
		runtime.GOMAXPROCS(procs)
		fwd := bestOf(k, func() { m.LogProbs(dst, seqs) })
		psg := bestOf(k, func() { m.PerSampleGrads32(grads, terms, Selection{}) })
		out[procs] = [2]float64{float64(tokens) / fwd.Seconds(), float64(len(seqs)) / psg.Seconds()}
	}
	return out
}

// bestOf returns the shortest of k runs of fn.
func bestOf(k int, fn func()) time.Duration {
	best := time.Duration(math.MaxInt64)
	for range k {
		t0 := time.Now()
		fn()
		best = min(best, time.Since(t0))
	}
	return best
}
