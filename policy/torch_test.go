package policy

import (
	"bytes"
	"context"
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
	"strings"
	"testing"
	"time"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/internal/cpuinfo"
)

// TestTorchAnchor is the PyTorch anchor of DESIGN.md §6. It runs only with
// GRADCOUPLE_TORCH=1 (it needs Debian's python3-torch for /usr/bin/python3,
// or GRADCOUPLE_PYTHON):
//
//	GRADCOUPLE_TORCH=1 go test ./policy -run TorchAnchor -v
//
// For the default actor (2 layers, 4 heads, context 256) at the widths d in
// {64, 128, 256, 512} (GRADCOUPLE_TORCH_DIMS lists others, e.g. "64,128"),
// with seeded weights and the vocabulary of both environments, it samples
// realistic (prompt, action) pairs from the environments (the mixed
// oracle/random policy, prompts with history), saves a checkpoint and hands
// the token ids to scripts/torch/reference.py, an independent GPT-2 in
// PyTorch that loads the checkpoint from its files. It checks that the
// float64 log-probs and per-sample gradients agree to 1e-4 relative (in
// fact ~1e-15); it never fails for speed. It prints the throughputs of
// every Go actor (goActors: float64 and float32) and of PyTorch in float32 (its
// default dtype) and float64: forward tokens/s (Go LogProbs; PyTorch's
// faster of a per-sequence loop and a padded batch) and per-sample
// gradients/s over every parameter (Go PerSampleGrads32; PyTorch's faster
// of an autograd loop and functorch vmap(grad)), each ratio beside the CPU
// model, GOMAXPROCS, the Go kernel (KernelName), the torch version and
// threads and the BLAS library torch calls. PyTorch runs at 2 threads and,
// because OpenMP's two threads can be slower than one on these small
// per-sample problems (much slower when the machine is shared), at 1
// thread too (OpenBLAS's threads set to match); its faster result is the
// anchor. It runs without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, as the
// NumPy anchor does. Go runs with GOMAXPROCS 2 (and 1, reported too),
// timed before and after the script. Every timing is the best of up to 5
// runs, which filters out a shared machine's load. GRADCOUPLE_TORCH_N sets
// the number of timed pairs (default 32).
//
// The test finishes before go test's -timeout (10m by default) on any CPU:
// from the time the previous width took, scaled by the number of
// parameters, it estimates the next and times fewer runs, or leaves the
// width out, when the estimate does not fit in the time left; it says so
// and names the -timeout that would fit. If no width fits it skips.
func TestTorchAnchor(t *testing.T) {
	if os.Getenv("GRADCOUPLE_TORCH") != "1" {
		t.Skip("set GRADCOUPLE_TORCH=1 to compare with PyTorch (needs /usr/bin/python3 with torch)")
	}
	start := time.Now()
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
	dims := []int{64, 128, 256, 512}
	if s := os.Getenv("GRADCOUPLE_TORCH_DIMS"); s != "" {
		dims = nil
		for _, f := range strings.Split(s, ",") {
			d, err := strconv.Atoi(f)
			if err != nil || d < DefaultHeads || d%DefaultHeads != 0 {
				t.Fatalf("GRADCOUPLE_TORCH_DIMS=%q: want widths that %d heads divide", s, DefaultHeads)
			}
			dims = append(dims, d)
		}
	}
	const compare, maxRepeats = 8, 5
	torchDtypes := []string{"float32", "float64"}
	deadline, bounded := t.Deadline()
	if bounded { // keep a fifth of the time left, and 15 s, for what follows
		deadline = deadline.Add(-time.Until(deadline)/5 - 15*time.Second)
	}
	ctx := t.Context()
	if bounded {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
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
	cpu := cpuinfo.Model()
	t.Logf("%d pairs sampled from household and lab (%d tokens, %.0f per pair); V = %d; CPU %s, %d CPUs, Go kernel %s",
		n, tokens, float64(tokens)/float64(n), tok.Size(), cpu, runtime.NumCPU(), goKernels())

	// cost is what the last width measured: its parameters, the seconds of
	// one run of every timing, and the seconds outside the timings (values,
	// files, starting Python).
	var cost struct {
		params      int
		once, fixed float64
	}
	// grow is the factor from the last width to a model of p parameters:
	// the work per token and the gradient's size grow with p; padded by
	// half for noise and caches.
	grow := func(p int) float64 { return 1.5 * float64(p) / float64(cost.params) }
	params := func(dim int) int {
		c, _ := Config{VocabSize: tok.Size(), Dim: dim}.Normalize()
		return c.NumParams()
	}
	measurements := 8*len(goActors) + 4*len(torchDtypes)*2 // Go: 2 passes x 2 GOMAXPROCS x 2; PyTorch: 2 threads x 4
	var rows, left []string
	var want time.Duration // the -timeout that would run everything asked
	for i, dim := range dims {
		cfg := Config{VocabSize: tok.Size(), Dim: dim}
		m, err := NewModel(cfg, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		D := m.NumParams()
		// Each timing is the best of up to maxRepeats runs, fewer (at least
		// one) once its runs have taken slice seconds: this width's time
		// left after what the later widths need at least, shared among
		// its timings. The first width gets 1/len(dims) of the time left.
		slice := math.Inf(1)
		if cost.params > 0 {
			var all float64
			for _, d := range dims[i:] {
				all += grow(params(d)) * (cost.fixed + float64(maxRepeats)*cost.once)
			}
			w := (time.Since(start) + time.Duration(all*float64(time.Second))) * 5 / 4
			want = max(want, (w + 15*time.Second + time.Minute - 1).Truncate(time.Minute))
		}
		if bounded {
			rest := time.Until(deadline).Seconds()
			switch {
			case cost.params == 0:
				slice = rest / float64(len(dims)) / float64(measurements)
			case grow(D)*(cost.fixed+cost.once) > rest:
				left = append(left, strconv.Itoa(dim))
				t.Logf("d %d left out: one run of each timing needs about %.0f s (scaled from %d parameters), %.0f s are left; run with -timeout %s",
					dim, grow(D)*(cost.fixed+cost.once), cost.params, rest, want)
				continue
			default:
				var later float64
				for _, d := range dims[i+1:] {
					if need := grow(params(d)) * (cost.fixed + cost.once); need < rest {
						later += need
					}
				}
				slice = max(0, rest-later-grow(D)*cost.fixed) / float64(measurements)
			}
		}
		t0 := time.Now()
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
			Seqs     []pair   `json:"seqs"`
			Compare  int      `json:"compare"`
			GradsOut string   `json:"grads_out"`
			Repeats  int      `json:"repeats"`
			Threads  []int    `json:"threads"`
			Dtypes   []string `json:"dtypes"`
			Budget   *float64 `json:"budget_seconds,omitempty"`
		}{Compare: compare, GradsOut: filepath.Join(dir, "grads64.bin"), Repeats: maxRepeats, Threads: []int{2, 1}, Dtypes: torchDtypes}
		if !math.IsInf(slice, 1) {
			req.Budget = &slice
		}
		for _, s := range seqs {
			req.Seqs = append(req.Seqs, pair{s.Prompt, append([]int{}, s.Action...)})
		}
		reqPath := filepath.Join(dir, "request.json")
		b, _ := json.Marshal(req)
		if err := os.WriteFile(reqPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
		goSpent := time.Now()
		before, goOnce, goRuns := goTimings(m, seqs, maxRepeats, slice)
		goSeconds := time.Since(goSpent).Seconds()
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, python, script, ck, reqPath)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Env = pythonEnv()
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil {
				t.Skipf("d %d: PyTorch did not finish before the -timeout deadline; run with a longer -timeout (estimate for all: %s): %v", dim, want, err)
			}
			t.Fatalf("%s %s: %v\n%s", python, script, err, stderr.String())
		}
		var res struct {
			Torch          string                                   `json:"torch"`
			Functorch      string                                   `json:"functorch"`
			BLAS           string                                   `json:"blas"`
			DefaultThreads int                                      `json:"default_threads"`
			DefaultDtype   string                                   `json:"default_dtype"`
			Params         int                                      `json:"params"`
			LogProbs       []float64                                `json:"logprobs"`
			VmapRel        *float64                                 `json:"vmap_vs_loop_grad_rel"`
			Best           map[string]torchBest                     `json:"best"`
			Timings        map[string]map[string]map[string]float64 `json:"timings"`
			TimingSeconds  float64                                  `json:"timing_seconds"`
			OnceSeconds    float64                                  `json:"once_seconds"`
			MinRuns        int                                      `json:"min_runs"`
			BatchedLoopRel float64                                  `json:"batched_vs_loop_logprob_rel"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
			t.Fatalf("reading the script's output: %v\n%s", err, stdout.String())
		}
		if res.Params != D || len(res.LogProbs) != compare {
			t.Fatalf("d %d: PyTorch model has %d parameters and %d log-probs, want %d and %d", dim, res.Params, len(res.LogProbs), D, compare)
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
		if len(raw) != 8*compare*D {
			t.Fatalf("d %d: gradient file of %d bytes, want %d", dim, len(raw), 8*compare*D)
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
						t.Errorf("d %d: sample %d, %s: PyTorch's gradient is zero, Go's is not", dim, i, ts.Name)
					}
					continue
				}
				if r := diff / scale; r > gRel {
					gRel, worst = r, fmt.Sprintf("sample %d, %s", i, ts.Name)
				}
			}
		}
		raw, g = nil, nil

		// Throughputs: the best of up to maxRepeats runs, as in the script, taken
		// before and after the script ran (the machine may be shared).
		goSpent = time.Now()
		after, once, runs := goTimings(m, seqs, maxRepeats, slice)
		goSeconds += time.Since(goSpent).Seconds()
		spent := time.Since(t0).Seconds()
		cost.params, cost.once = D, goOnce+once+res.OnceSeconds
		cost.fixed = max(0, spent-goSeconds-res.TimingSeconds)
		runs = min(runs, goRuns, res.MinRuns)

		where := fmt.Sprintf("CPU %s, GOMAXPROCS 2, Go kernel %s, torch %s %s (default %s, %d threads), %s; best of %d-%d runs",
			cpu, goKernels(), res.Torch, res.Functorch, res.DefaultDtype, res.DefaultThreads, res.BLAS, runs, maxRepeats)
		t.Logf("d %d (%d layers, %d heads, %d parameters), %.0f s (timing: Go %.0f s, PyTorch %.0f s; %.1f s per timing at most):",
			dim, m.Config().Layers, m.Config().Heads, D, spent, goSeconds, res.TimingSeconds, slice)
		row := fmt.Sprintf("| %d | %d | %d |", dim, D, runs)
		for ai, a := range goActors {
			best := func(procs int) [2]float64 {
				return [2]float64{max(before[ai][procs][0], after[ai][procs][0]), max(before[ai][procs][1], after[ai][procs][1])}
			}
			two, one := best(2), best(1)
			for _, dt := range torchDtypes {
				pt := res.Best[dt]
				t.Logf("  forward:          %s %9.0f tokens/s, PyTorch %s %9.0f tokens/s (%s): ratio %.2f [%s]",
					a.name, two[0], dt, pt.ForwardTokS, pt.ForwardMethod, two[0]/pt.ForwardTokS, where)
				t.Logf("  per-sample grads: %s %9.1f grads/s,  PyTorch %s %9.1f grads/s  (%s): ratio %.2f [%s]",
					a.name, two[1], dt, pt.GradsS, pt.GradsMethod, two[1]/pt.GradsS, where)
				row += fmt.Sprintf(" %.2f | %.2f |", two[0]/pt.ForwardTokS, two[1]/pt.GradsS)
			}
			t.Logf("  %s: GOMAXPROCS 2 %.0f tokens/s, %.1f grads/s; GOMAXPROCS 1 %.0f tokens/s, %.1f grads/s", a.name, two[0], two[1], one[0], one[1])
			row += fmt.Sprintf(" %.0f | %.1f |", two[0], two[1])
		}
		for _, dt := range torchDtypes {
			for _, th := range req.Threads {
				r := res.Timings[dt][strconv.Itoa(th)]
				t.Logf("  PyTorch %s, %d thread%s: forward loop %.0f, batched %.0f tokens/s; grads loop %.1f, vmap %.1f /s",
					dt, th, map[bool]string{true: "", false: "s"}[th == 1], r["forward_loop_tokens_per_s"], r["forward_batched_tokens_per_s"], r["grads_loop_per_s"], r["grads_vmap_per_s"])
			}
			row += fmt.Sprintf(" %.0f | %.1f |", res.Best[dt].ForwardTokS, res.Best[dt].GradsS)
		}
		rows = append(rows, row)
		t.Logf("  largest relative difference, float64: log-probs %.2e, gradients %.2e (%s)", lpRel, gRel, worst)
		if res.VmapRel != nil {
			t.Logf("  PyTorch vmap vs loop gradients %.2e, padded batch vs loop log-probs %.2e", *res.VmapRel, res.BatchedLoopRel)
		}
		if !(lpRel < 1e-4) || !(gRel < 1e-4) {
			t.Errorf("d %d: relative difference from PyTorch: log-probs %v, gradients %v (%s); want < 1e-4", dim, lpRel, gRel, worst)
		}
		if res.VmapRel != nil && !(*res.VmapRel < 1e-4) {
			t.Errorf("d %d: PyTorch's vmap gradients differ from its loop's by %v", dim, *res.VmapRel)
		}
	}
	if len(rows) > 0 {
		header := "| d | parameters | fewest runs |"
		for _, a := range goActors {
			for _, dt := range torchDtypes {
				header += fmt.Sprintf(" %s/PyTorch %s forward | grads |", a.name, dt)
			}
			header += fmt.Sprintf(" %s tokens/s | grads/s |", a.name)
		}
		for _, dt := range torchDtypes {
			header += fmt.Sprintf(" PyTorch %s tokens/s | grads/s |", dt)
		}
		t.Logf("Go vs PyTorch, %d pairs, CPU %s, GOMAXPROCS 2, Go kernel %s (ratios > 1: Go faster):\n%s\n%s\n%s",
			n, cpu, goKernels(), header, strings.Repeat("|---", strings.Count(header, "|")-1)+"|", strings.Join(rows, "\n"))
	}
	t.Logf("%s in all", time.Since(start).Round(time.Second))
	if len(left) > 0 {
		msg := fmt.Sprintf("widths %s left out to finish before the -timeout deadline; run with -timeout %s", strings.Join(left, ","), want)
		if len(rows) == 0 {
			t.Skip(msg)
		}
		t.Log(msg)
	}
}

// torchBest is the script's best throughput in one dtype, and how.
type torchBest struct {
	ForwardTokS   float64 `json:"forward_tokens_per_s"`
	ForwardMethod string  `json:"forward_method"`
	GradsS        float64 `json:"grads_per_s"`
	GradsMethod   string  `json:"grads_method"`
}

// goActor is a Go implementation of the actor timed against PyTorch: bind
// returns its two timed operations on m and seqs, the log-probs of every
// sequence and the per-sample gradients of every parameter.
type goActor struct {
	name string
	bind func(m *Model, seqs []Seq) (forward, grads func())
}

// goActors are the Go columns of TestTorchAnchor; a float32 actor is one
// more line.
var goActors = []goActor{
	{"Go float64", bindFloat64},
	{"Go float32", bindFloat32},
}

// goKernels names the Go actors' kernels: float64's and float32's.
func goKernels() string { return "f64 " + KernelName() + ", f32 " + KernelName32() }

// bindFloat32 times the float32 path (Model32): LogProbs and
// PerSampleGrads in float32 arithmetic.
func bindFloat32(m *Model, seqs []Seq) (forward, grads func()) {
	m32 := m.Float32()
	dst := make([]float64, len(seqs))
	g := make([]float32, len(seqs)*m.NumParams())
	terms := ActionTerms(seqs)
	return func() { m32.LogProbs(dst, seqs) }, func() { m32.PerSampleGrads(g, terms, Selection{}) }
}

// bindFloat64 times LogProbs and PerSampleGrads32 (float64 arithmetic,
// float32 gradients).
func bindFloat64(m *Model, seqs []Seq) (forward, grads func()) {
	dst := make([]float64, len(seqs))
	g := make([]float32, len(seqs)*m.NumParams())
	terms := ActionTerms(seqs)
	return func() { m.LogProbs(dst, seqs) }, func() { m.PerSampleGrads32(g, terms, Selection{}) }
}

// pythonEnv is the environment without OPENBLAS_CORETYPE and
// OPENBLAS_L2_SIZE, so that OpenBLAS picks its own kernel for this CPU (as
// in the NumPy anchor of package coupling), unless
// GRADCOUPLE_ANCHOR_CORETYPE names one (Haswell: the AVX2 kernels, for
// comparing GRADCOUPLE_KERNEL=avx2 with what an AVX2-only machine runs;
// ATEN_CPU_CAPABILITY=avx2 does the same for PyTorch's own kernels).
func pythonEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "OPENBLAS_CORETYPE=") && !strings.HasPrefix(e, "OPENBLAS_L2_SIZE=") {
			env = append(env, e)
		}
	}
	if ct := os.Getenv("GRADCOUPLE_ANCHOR_CORETYPE"); ct != "" {
		env = append(env, "OPENBLAS_CORETYPE="+ct)
	}
	return env
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

// goTimings measures, for each of goActors, forward tokens/s and
// per-sample gradients/s of m on seqs, with GOMAXPROCS 2 and 1 (keyed by
// GOMAXPROCS), each the best of up to k runs within slice seconds (see
// bestOf). It also returns the seconds of the first run of every timing and
// the fewest runs of any.
func goTimings(m *Model, seqs []Seq, k int, slice float64) (rates []map[int][2]float64, once float64, runs int) {
	tokens := 0
	for _, s := range seqs {
		tokens += len(s.Prompt) + len(s.Action)
	}
	old := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(old)
	runs = k
	for _, a := range goActors {
		forward, grads := a.bind(m, seqs)
		r := map[int][2]float64{}
		for _, procs := range []int{2, 1} {
			runtime.GOMAXPROCS(procs)
			fwd, first, n := bestOf(k, slice, forward)
			once, runs = once+first.Seconds(), min(runs, n)
			psg, first, n := bestOf(k, slice, grads)
			once, runs = once+first.Seconds(), min(runs, n)
			r[procs] = [2]float64{float64(tokens) / fwd.Seconds(), float64(len(seqs)) / psg.Seconds()}
		}
		rates = append(rates, r)
	}
	return rates, once, runs
}

// bestOf returns the shortest of up to k runs of fn, fewer (at least one)
// once the runs have taken slice seconds, the time of the first run and the
// number of runs.
func bestOf(k int, slice float64, fn func()) (best, first time.Duration, runs int) {
	var spent time.Duration
	best = time.Duration(math.MaxInt64)
	for runs < k && (runs == 0 || spent.Seconds() < slice) {
		t0 := time.Now()
		fn()
		d := time.Since(t0)
		if runs == 0 {
			first = d
		}
		best, spent, runs = min(best, d), spent+d, runs+1
	}
	return best, first, runs
}
