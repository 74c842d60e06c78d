package hf

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/internal/cpuinfo"
	"github.com/gradcouple/gradcouple/internal/kernel"
)

// qwen05B is the shape of Qwen2.5-0.5B: hidden 896, 24 layers, 14 query
// and 2 key-value heads (head_dim 64), SwiGLU 4864, vocabulary 151,936,
// tied embeddings, q/k/v biases: 494,032,768 parameters.
func qwen05B() Config {
	c, _ := TinyConfig(Qwen2)
	c.Hidden, c.Intermediate, c.Layers, c.Heads, c.KVHeads, c.HeadDim = 896, 4864, 24, 14, 2, 64
	return c
}

// TestTorchThroughputAnchor (GRADCOUPLE_TORCH=1) writes a random-weight
// Qwen2.5-0.5B-shaped checkpoint (BF16, two shards) and times one forward
// pass over 1,024 prompt and 64 action tokens in float32 here and in the
// PyTorch reference (scripts/torch/bench_hf.py, the equations of
// hf_reference.py, whose LM head runs over every position as
// transformers' forward does) in the same run, best of 3 after a warm-up;
// it prints the ratio beside the CPU, the kernel and both peak RSS
// figures, and fails only if the two log-probabilities differ by more
// than 1e-4 relative. GRADCOUPLE_TORCH_THREADS sets PyTorch's threads.
func TestTorchThroughputAnchor(t *testing.T) {
	if os.Getenv("GRADCOUPLE_TORCH") != "1" {
		t.Skip("set GRADCOUPLE_TORCH=1 (needs /usr/bin/python3 with torch and numpy, ~4 GB of memory, ~1 GB of disk)")
	}
	const P, A, R = 1024, 64, 3
	c := qwen05B()
	dir := filepath.Join(t.TempDir(), "qwen05b")
	start := time.Now()
	if err := WriteTiny(dir, TinyOptions{ModelType: Qwen2, Config: &c, Shards: 2, DType: checkpoint.BF16, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote a %d-parameter qwen2 checkpoint in %s", c.NumParams(), time.Since(start).Round(time.Second))

	type torchRun struct {
		Seconds     float64 `json:"seconds"`
		LogProb     float64 `json:"logprob"`
		LoadSeconds float64 `json:"load_seconds"`
		PeakRSS     int64   `json:"peak_rss"`
		Torch       string  `json:"torch"`
		Threads     int     `json:"threads"`
		Prompt      []int   `json:"prompt"`
		Action      []int   `json:"action"`
	}
	// PyTorch at 1 and 2 threads; the faster is the anchor
	var ref torchRun
	for _, threads := range []string{"1", "2"} {
		py := exec.Command("/usr/bin/python3", "../../scripts/torch/bench_hf.py", dir, strconv.Itoa(P), strconv.Itoa(A), strconv.Itoa(R))
		py.Env = append(os.Environ(), "GRADCOUPLE_TORCH_THREADS="+threads)
		var stderr bytes.Buffer
		py.Stderr = &stderr
		out, err := py.Output()
		if err != nil {
			t.Fatalf("bench_hf.py: %v\n%s", err, stderr.String())
		}
		var r torchRun
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatal(err)
		}
		t.Logf("  PyTorch float32, %d thread(s): %.2f s, peak RSS %.2f GB", r.Threads, r.Seconds, float64(r.PeakRSS)/1e9)
		if ref.Seconds == 0 || r.Seconds < ref.Seconds {
			ref = r
		}
	}

	// Go in a child process, so that its peak RSS is the model's alone
	req, _ := json.Marshal(Seq{Prompt: ref.Prompt, Action: ref.Action})
	reqFile := filepath.Join(t.TempDir(), "seq.json")
	if err := os.WriteFile(reqFile, req, 0o644); err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^TestThroughputChild$", "-test.v")
	child.Env = append(os.Environ(), "GRADCOUPLE_HF_CHILD="+dir+"\t"+reqFile+"\t"+strconv.Itoa(R))
	var stderr bytes.Buffer
	child.Stderr = &stderr
	out, err := child.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s%s", err, out, stderr.String())
	}
	var g childResult
	i := bytes.Index(out, []byte("CHILD "))
	if i < 0 {
		t.Fatalf("child printed no result:\n%s", out)
	}
	line, _, _ := bytes.Cut(out[i+len("CHILD "):], []byte("\n"))
	if err := json.Unmarshal(line, &g); err != nil {
		t.Fatal(err)
	}
	best, lp, rss := g.Seconds, g.LogProb, g.PeakRSS
	load := time.Duration(g.LoadSeconds * float64(time.Second))
	weights := float64(4 * c.NumParams())
	where := fmt.Sprintf("CPU %s, GOMAXPROCS %d, Go kernel %s; torch %s, %d threads", cpuinfo.Model(), runtime.GOMAXPROCS(0), kernel.F32Name(), ref.Torch, ref.Threads)
	t.Logf("Qwen2.5-0.5B shape, %d parameters, one sequence of %d + %d tokens, float32, best of %d:", c.NumParams(), P, A, R)
	t.Logf("  Go %.2f s (%.0f tokens/s), PyTorch %.2f s (%.0f tokens/s): Go/PyTorch throughput %.2f [%s]",
		best, float64(P+A)/best, ref.Seconds, float64(P+A)/ref.Seconds, ref.Seconds/best, where)
	t.Logf("  peak RSS: Go %.2f GB (%.2fx the float32 weights, %.2f GB), PyTorch %.2f GB (%.2fx); load: Go %.1f s, PyTorch %.1f s",
		float64(rss)/1e9, float64(rss)/weights, weights/1e9, float64(ref.PeakRSS)/1e9, float64(ref.PeakRSS)/weights, load.Seconds(), ref.LoadSeconds)
	t.Logf("  log pi(action | prompt): Go %.6f, PyTorch %.6f", lp, ref.LogProb)
	if d := math.Abs(lp - ref.LogProb); d > 1e-4*math.Abs(ref.LogProb) {
		t.Errorf("log-probabilities differ: Go %v, PyTorch %v", lp, ref.LogProb)
	}
}

// peakRSS is the process's peak resident set (VmHWM) in bytes, 0 where
// /proc is missing.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// childResult is what TestThroughputChild prints after "CHILD ".
type childResult struct {
	Seconds     float64 `json:"seconds"`
	LogProb     float64 `json:"logprob"`
	LoadSeconds float64 `json:"load_seconds"`
	PeakRSS     int64   `json:"peak_rss"`
}

// TestThroughputChild is the Go side of TestTorchThroughputAnchor, run in
// a process of its own (GRADCOUPLE_HF_CHILD=dir TAB request TAB repeats):
// it loads the model in float32 and times LogProbs of the one sequence.
func TestThroughputChild(t *testing.T) {
	spec := os.Getenv("GRADCOUPLE_HF_CHILD")
	if spec == "" {
		t.Skip("run by TestTorchThroughputAnchor")
	}
	parts := strings.Split(spec, "\t")
	dir, reqFile := parts[0], parts[1]
	repeats, _ := strconv.Atoi(parts[2])
	raw, err := os.ReadFile(reqFile)
	if err != nil {
		t.Fatal(err)
	}
	var seq Seq
	if err := json.Unmarshal(raw, &seq); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	m, err := Load[float32](dir)
	if err != nil {
		t.Fatal(err)
	}
	res := childResult{LoadSeconds: time.Since(t0).Seconds(), Seconds: math.Inf(1)}
	for i := range repeats + 1 {
		t0 := time.Now()
		sums, _, err := m.LogProbs([]Seq{seq})
		if err != nil {
			t.Fatal(err)
		}
		res.LogProb = sums[0]
		if i > 0 {
			res.Seconds = min(res.Seconds, time.Since(t0).Seconds())
		}
	}
	res.PeakRSS = peakRSS()
	b, _ := json.Marshal(res)
	fmt.Printf("CHILD %s\n", b)
}
