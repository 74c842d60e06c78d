package hf

import (
	"bytes"
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

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/internal/cpuinfo"
	"github.com/gradcouple/gradcouple/internal/kernel"
)

// anchorGlobs is the selection of the gradient anchor: the top two layers
// of the Qwen2.5-0.5B shape and the (tied) LM head.
var anchorGlobs = []string{"model.layers.2[23].*", "lm_head"}

// BenchmarkGroupGrads times GroupGrads in float32 on benchModel(d) (4
// layers, Qwen's vocabulary), a 256-token prompt and groups of 1 and 8
// actions of 16 tokens, the top two layers and the LM head selected,
// dense and as factors, on one Grader; it reports seconds per sample.
func BenchmarkGroupGrads(b *testing.B) {
	for _, d := range []int{64, 256} {
		m := benchModel(d)
		sel, err := m.SelectTensors([]string{"model.layers.[23].*", "lm_head"})
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 3))
		prompt := randomTokens(rng, 256, m.cfg.VocabSize)
		var actions [][]int
		for range 8 {
			actions = append(actions, randomTokens(rng, 16, m.cfg.VocabSize))
		}
		for _, g := range []int{1, 8} {
			for _, form := range []GradForm{GradDense, GradFactors} {
				name := map[GradForm]string{GradDense: "dense", GradFactors: "factors"}[form]
				b.Run(fmt.Sprintf("d%d/group%d/%s", d, g, name), func(b *testing.B) {
					gr, err := m.NewGrader(sel, GradOptions{Form: form})
					if err != nil {
						b.Fatal(err)
					}
					for range b.N {
						if _, err := gr.GroupGrads(prompt, actions[:g], nil); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(b.Elapsed().Seconds()/float64(b.N*g), "s/sample")
				})
			}
		}
	}
}

// gradChildResult is what TestGradThroughputChild prints after "GRADCHILD ".
type gradChildResult struct {
	SecondsPerSample float64            `json:"seconds_per_sample"`
	LogProbs         []float64          `json:"logprobs"`
	Norms            map[string]float64 `json:"norms"`
	LoadSeconds      float64            `json:"load_seconds"`
	PeakRSS          int64              `json:"peak_rss"`
	LoadRSS          int64              `json:"load_rss"`
}

// TestTorchGradAnchor (GRADCOUPLE_TORCH=1) writes a random-weight
// Qwen2.5-0.5B-shaped checkpoint (BF16, two shards, as
// TestTorchThroughputAnchor) and times per-sample gradients of a 1,024-token
// prompt with 64-token actions, the top two layers and the tied LM head
// selected, in float32: GroupGrads here (dense, and factors only), each
// configuration in a child process of its own for its peak RSS, against
// scripts/torch/bench_hf_grads.py (torch autograd on hf_reference.py's
// model, the LM head at the scored positions only, no cache: every sample
// runs its whole sequence) in the same run, for groups of 1 and 8 (seconds
// per sample, after a one-sample warm-up on each side). It prints the
// times, ratios and peak RSS beside the CPU and kernel, and fails only if
// the log-probabilities or gradient norms disagree by more than 1e-4
// relative. Each group size runs PyTorch and then the Go children, so
// that both see about the same load from other processes; the load
// average before each run is printed. GRADCOUPLE_TORCH_THREADS fixes
// PyTorch's threads (default: the faster of 1 and 2 for the group of 1).
func TestTorchGradAnchor(t *testing.T) {
	if os.Getenv("GRADCOUPLE_TORCH") != "1" {
		t.Skip("set GRADCOUPLE_TORCH=1 (needs /usr/bin/python3 with torch and numpy, ~5 GB of memory, ~1 GB of disk, ~10 minutes)")
	}
	const P, A = 1024, 64
	c := qwen05B()
	dir := filepath.Join(t.TempDir(), "qwen05b")
	start := time.Now()
	if err := WriteTiny(dir, TinyOptions{ModelType: Qwen2, Config: &c, Shards: 2, DType: checkpoint.BF16, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote a %d-parameter qwen2 checkpoint in %s", c.NumParams(), time.Since(start).Round(time.Second))
	weights := float64(4 * c.NumParams())

	type torchRun struct {
		SecondsPerSample float64            `json:"seconds_per_sample"`
		LogProbs         []float64          `json:"logprobs"`
		Norms            map[string]float64 `json:"norms"`
		PeakRSS          int64              `json:"peak_rss"`
		Torch            string             `json:"torch"`
		Threads          int                `json:"threads"`
		Prompt           []int              `json:"prompt"`
		Actions          [][]int            `json:"actions"`
	}
	runTorch := func(G int, threads string) torchRun {
		args := append([]string{"../../scripts/torch/bench_hf_grads.py", dir, strconv.Itoa(P), strconv.Itoa(A), strconv.Itoa(G)}, anchorGlobs...)
		py := exec.Command(pythonPath(), args...)
		py.Env = append(os.Environ(), "GRADCOUPLE_TORCH_THREADS="+threads)
		var stderr bytes.Buffer
		py.Stderr = &stderr
		out, err := py.Output()
		if err != nil {
			t.Fatalf("bench_hf_grads.py: %v\n%s", err, stderr.String())
		}
		var r torchRun
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	threads := []string{"1", "2"}
	if s := os.Getenv("GRADCOUPLE_TORCH_THREADS"); s != "" {
		threads = []string{s}
	}
	runGo := func(prompt []int, actions [][]int, form GradForm) gradChildResult {
		req, _ := json.Marshal(struct {
			Prompt  []int   `json:"prompt"`
			Actions [][]int `json:"actions"`
			Form    int     `json:"form"`
		}{prompt, actions, int(form)})
		reqFile := filepath.Join(t.TempDir(), "req.json")
		if err := os.WriteFile(reqFile, req, 0o644); err != nil {
			t.Fatal(err)
		}
		child := exec.Command(os.Args[0], "-test.run=^TestGradThroughputChild$", "-test.v")
		child.Env = append(os.Environ(), "GRADCOUPLE_HF_GRAD_CHILD="+dir+"\t"+reqFile)
		var stderr bytes.Buffer
		child.Stderr = &stderr
		out, err := child.Output()
		if err != nil {
			t.Fatalf("child: %v\n%s%s", err, out, stderr.String())
		}
		i := bytes.Index(out, []byte("GRADCHILD "))
		if i < 0 {
			t.Fatalf("child printed no result:\n%s", out)
		}
		line, _, _ := bytes.Cut(out[i+len("GRADCHILD "):], []byte("\n"))
		var g gradChildResult
		if err := json.Unmarshal(line, &g); err != nil {
			t.Fatal(err)
		}
		return g
	}
	t.Logf("Qwen2.5-0.5B shape, %d parameters (float32 weights %.2f GB), prompt %d + action %d tokens, %q selected, float32 [CPU %s, GOMAXPROCS %d, Go kernel %s]; each group size: PyTorch, then Go right after (load average before each run in brackets):",
		c.NumParams(), weights/1e9, P, A, anchorGlobs, cpuinfo.Model(), runtime.GOMAXPROCS(0), kernel.F32Name())
	best := ""
	for _, G := range []int{1, 8} {
		var ref torchRun
		ths := threads
		if best != "" {
			ths = []string{best}
		}
		for _, th := range ths {
			la := loadAvg()
			r := runTorch(G, th)
			t.Logf("  group %d, PyTorch float32 (torch %s, %d thread(s)) [%s]: %.2f s per sample, peak RSS %.2f GB (%.2fx the weights)",
				G, r.Torch, r.Threads, la, r.SecondsPerSample, float64(r.PeakRSS)/1e9, float64(r.PeakRSS)/weights)
			if ref.SecondsPerSample == 0 || r.SecondsPerSample < ref.SecondsPerSample {
				ref = r
			}
		}
		best = strconv.Itoa(ref.Threads)
		for _, form := range []GradForm{GradDense, GradFactors} {
			la := loadAvg()
			g := runGo(ref.Prompt, ref.Actions, form)
			name := map[GradForm]string{GradDense: "dense", GradFactors: "factors"}[form]
			t.Logf("  group %d, Go %s [%s]: %.2f s per sample, Go/PyTorch throughput %.2f; peak RSS %.2f GB (%.2fx the weights; %.2f GB after loading)",
				G, name, la, g.SecondsPerSample, ref.SecondsPerSample/g.SecondsPerSample, float64(g.PeakRSS)/1e9, float64(g.PeakRSS)/weights, float64(g.LoadRSS)/1e9)
			for i, lp := range g.LogProbs {
				if math.Abs(lp-ref.LogProbs[i]) > 1e-4*math.Abs(ref.LogProbs[i]) {
					t.Errorf("group %d action %d: log pi Go %v, PyTorch %v", G, i, lp, ref.LogProbs[i])
				}
			}
			for name, n := range g.Norms {
				if want, ok := ref.Norms[name]; !ok || math.Abs(n-want) > 1e-4*want {
					t.Errorf("%s: gradient norm Go %v, PyTorch %v", name, n, want)
				}
			}
		}
	}
}

// loadAvg is the 1-, 5- and 15-minute load average ("" where /proc is
// missing): the anchor shares the machine with whatever else runs.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return "load " + strings.Join(f[:3], " ")
}

// TestGradThroughputChild is the Go side of TestTorchGradAnchor, run in a
// process of its own (GRADCOUPLE_HF_GRAD_CHILD=dir TAB request): it loads
// the model in float32, runs one action as a warm-up on a Grader, then
// times the Grader's GroupGrads of the request's group and prints seconds per sample, the
// log-probabilities, the first sample's gradient norms (dense form; the
// factors form does not compute the norms of factored tensors) and the
// peak RSS.
func TestGradThroughputChild(t *testing.T) {
	spec := os.Getenv("GRADCOUPLE_HF_GRAD_CHILD")
	if spec == "" {
		t.Skip("run by TestTorchGradAnchor")
	}
	dir, reqFile, _ := strings.Cut(spec, "\t")
	raw, err := os.ReadFile(reqFile)
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		Prompt  []int   `json:"prompt"`
		Actions [][]int `json:"actions"`
		Form    int     `json:"form"`
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	m, err := Load[float32](dir)
	if err != nil {
		t.Fatal(err)
	}
	res := gradChildResult{LoadSeconds: time.Since(t0).Seconds(), LoadRSS: peakRSS(), Norms: map[string]float64{}}
	sel, err := m.SelectTensors(anchorGlobs)
	if err != nil {
		t.Fatal(err)
	}
	gr, err := m.NewGrader(sel, GradOptions{Form: GradForm(req.Form)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gr.GroupGrads(req.Prompt, req.Actions[:1], nil); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	var inFn time.Duration // the norms' time, not counted
	res.LogProbs, err = gr.GroupGrads(req.Prompt, req.Actions, func(i int, g *SampleGrad[float32]) error {
		if i > 0 {
			return nil
		}
		defer func(t time.Time) { inFn = time.Since(t) }(time.Now())
		for _, tg := range g.Tensors {
			if tg.Dense != nil {
				var s float64
				for _, v := range tg.Dense {
					s += float64(v) * float64(v)
				}
				res.Norms[tg.Tensor.Name] = math.Sqrt(s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	res.SecondsPerSample = (time.Since(t0) - inFn).Seconds() / float64(len(req.Actions))
	res.PeakRSS = peakRSS()
	b, _ := json.Marshal(res)
	fmt.Printf("GRADCHILD %s\n", b)
}
