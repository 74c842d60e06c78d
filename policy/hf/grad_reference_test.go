package hf

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// gradRefPath holds the PyTorch gradients (sketched) of the tiny
// checkpoints.
const gradRefPath = "../../testdata/hf/models/grads.json"

// Tolerances of the gradients against torch float64, per tensor (see
// sketchErr and fullErr).
const (
	gradTol64 = 1e-9 // Model[float64]
	gradTol32 = 1e-4 // Model[float32]
)

// gradSketch summarises one gradient as scripts/torch/hf_grads.py does.
type gradSketch struct {
	Norm  float64   `json:"norm"`
	Sum   float64   `json:"sum"`
	Proj  []float64 `json:"proj"`
	Index []int     `json:"index"`
	Value []float64 `json:"value"`
}

type gradRefSample struct {
	Prompt []int `json:"prompt"`
	Action []int `json:"action"`
}

type gradRefValues struct {
	LogProbs []float64                `json:"logprobs"`
	Grads    []map[string]*gradSketch `json:"grads"`
}

type gradRefCase struct {
	Weights map[string]string `json:"weights_sha256"`
	Tensors []string          `json:"tensors"`
	Samples []gradRefSample   `json:"samples"`
	Float64 gradRefValues     `json:"float64"`
}

type gradRefFile struct {
	About string                  `json:"about"`
	Torch string                  `json:"torch"`
	Cases map[string]*gradRefCase `json:"cases"`
}

// gradRefSamples are the reference samples of a tiny case: the long
// multi-turn prompt of refConversations with two actions (its own and the
// first conversation's: one group), and the third conversation. The
// committed file holds their ids (TestReference checks that the chat
// template and tokenizer still give them; the live run rebuilds them).
func gradRefSamples(seqs []refSeq) []gradRefSample {
	return []gradRefSample{
		{seqs[1].Prompt, seqs[1].ActionIDs},
		{seqs[1].Prompt, seqs[0].ActionIDs},
		{seqs[2].Prompt, seqs[2].ActionIDs},
	}
}

// splitmix64 is Vigna's generator step (hf_grads.py has the same).
func splitmix64(x uint64) uint64 {
	z := x + 0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// signCache holds, per vector length, bit k of element i set when
// rho_k[i] = -1: rho_k[i] is the sign of the top bit of
// splitmix64((k+1) 2^32 + i), as in hf_grads.py.
var signCache = struct {
	sync.Mutex
	m map[int][]uint8
}{m: map[int][]uint8{}}

func projSigns(n, k int) []uint8 {
	signCache.Lock()
	defer signCache.Unlock()
	if s, ok := signCache.m[n]; ok {
		return s
	}
	s := make([]uint8, n)
	for j := range k {
		for i := range s {
			s[i] |= uint8(splitmix64(uint64(j+1)<<32+uint64(i))>>63) << j
		}
	}
	signCache.m[n] = s
	return s
}

// sketchErr compares a gradient with the sketch of the reference r:
// the largest of |(|g| - |r|)| / |r|, |g_S - r_S| / |r_S| over the
// sketch's coordinates S, and |<g - r, rho_k>| / |r| over its random sign
// vectors rho_k.
func sketchErr[F float](g []F, sk *gradSketch) float64 {
	if len(sk.Proj) > 8 {
		panic("sketchErr: more than 8 projections")
	}
	signs := projSigns(len(g), len(sk.Proj))
	var n2 float64
	var proj [8]float64
	for i, v := range g {
		x := float64(v)
		n2 += x * x
		xb, b := math.Float64bits(x), uint64(signs[i])
		for k := range proj {
			proj[k] += math.Float64frombits(xb ^ (b>>k&1)<<63) // -x where rho_k[i] = -1
		}
	}
	e := math.Abs(math.Sqrt(n2)-sk.Norm) / sk.Norm
	var num, den float64
	for i, j := range sk.Index {
		d := float64(g[j]) - sk.Value[i]
		num += d * d
		den += sk.Value[i] * sk.Value[i]
	}
	e = max(e, math.Sqrt(num/den))
	for k, want := range sk.Proj {
		e = max(e, math.Abs(proj[k]-want)/sk.Norm)
	}
	return e
}

// goGrads runs GroupGrads with every tensor of GradTensors selected on
// the reference samples, grouping samples that share a prompt, and calls
// visit with each sample's dense gradients (valid during the call). It
// returns the log-probabilities.
func goGrads[F float](t *testing.T, m *Model[F], samples []gradRefSample, visit func(i int, g map[string][]F)) []float64 {
	t.Helper()
	sel := mustSelect(t, m)
	var lps []float64
	for i := 0; i < len(samples); {
		j := i + 1
		for j < len(samples) && slices.Equal(samples[j].Prompt, samples[i].Prompt) {
			j++
		}
		var actions [][]int
		for _, s := range samples[i:j] {
			actions = append(actions, s.Action)
		}
		sums, err := m.GroupGrads(samples[i].Prompt, actions, sel, GradOptions{}, func(k int, sg *SampleGrad[F]) error {
			g := map[string][]F{}
			for _, tg := range sg.Tensors {
				g[tg.Tensor.Name] = tg.Dense
			}
			visit(i+k, g)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		lps = append(lps, sums...)
		i = j
	}
	return lps
}

// TestGradsAgainstTorch compares GroupGrads of the three tiny checkpoints
// (tinyCases: qwen2 with q/k/v biases and a tied head, qwen3 with
// q_norm/k_norm and a tied head, llama with llama3 RoPE and an untied
// head), every tensor selected (the embedding and the tied lm_head.weight
// as separate uses, both layers' attention, MLP and norms, the final
// norm), with the gradients of scripts/torch/hf_grads.py (torch autograd
// on hf_reference.py's model), committed as sketches in
// testdata/hf/models/grads.json: per tensor within gradTol64 (float64)
// and gradTol32 (float32) of torch's float64 by sketchErr.
//
// With GRADCOUPLE_TORCH=1 it runs the script live and compares the full
// gradients, |g - r| / |r| per tensor, and the committed sketches with the
// live ones; GRADCOUPLE_TORCH_UPDATE=1 then rewrites the committed file.
func TestGradsAgainstTorch(t *testing.T) {
	live := os.Getenv("GRADCOUPLE_TORCH") == "1"
	update := live && os.Getenv("GRADCOUPLE_TORCH_UPDATE") == "1"
	var committed gradRefFile
	if !update {
		b, err := os.ReadFile(gradRefPath)
		if err != nil {
			t.Fatalf("%v (regenerate with GRADCOUPLE_TORCH=1 GRADCOUPLE_TORCH_UPDATE=1)", err)
		}
		if err := json.Unmarshal(b, &committed); err != nil {
			t.Fatal(err)
		}
	}
	fresh := &gradRefFile{
		About: "per-sample gradients (sketched: norm, sum, 4 random-sign projections, 16 largest and 16 random coordinates) of the tiny checkpoints of policy/hf " +
			"from scripts/torch/hf_grads.py in float64; regenerate with GRADCOUPLE_TORCH=1 GRADCOUPLE_TORCH_UPDATE=1 go test ./policy/hf -run TestGradsAgainstTorch",
		Cases: map[string]*gradRefCase{},
	}
	t.Run("models", func(t *testing.T) {
		for _, tc := range tinyCases {
			t.Run(tc.Name, func(t *testing.T) {
				t.Parallel()
				testGradsAgainstTorch(t, tc, live, update, &committed, fresh)
			})
		}
	})
	if update && !t.Failed() {
		out, err := exec.Command(pythonPath(), "-c", "import torch; print(torch.__version__)").Output()
		if err != nil {
			t.Fatal(err)
		}
		fresh.Torch = strings.TrimSpace(string(out))
		b, err := json.Marshal(fresh)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, b, "", " "); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(gradRefPath, append(compactNumbers(buf.Bytes()), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", gradRefPath)
	}
}

// compactNumbers puts arrays of numbers on one line each in indented JSON.
func compactNumbers(b []byte) []byte {
	lines := strings.Split(string(b), "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasSuffix(l, "[") {
			j := i + 1
			var items []string
			for j < len(lines) {
				s := strings.TrimSpace(lines[j])
				if s == "]" || s == "]," {
					break
				}
				v := strings.TrimSuffix(s, ",")
				if _, err := strconv.ParseFloat(v, 64); err != nil {
					items = nil
					break
				}
				items = append(items, v)
				j++
			}
			if items != nil && j < len(lines) {
				out = append(out, l+strings.Join(items, ",")+strings.TrimSpace(lines[j]))
				i = j
				continue
			}
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, "\n"))
}

// compareFull returns the largest |g - r| / |r| per tensor and sample,
// reporting those above tol.
func compareFull[F float](t *testing.T, what string, got []map[string][]F, want []map[string][]float64, tol float64) float64 {
	t.Helper()
	worst := 0.0
	for i := range want {
		for name, r := range want[i] {
			g := got[i][name]
			if len(g) != len(r) {
				t.Errorf("%s sample %d: %s has %d values, torch %d", what, i, name, len(g), len(r))
				continue
			}
			e := relDiff(g, r)
			worst = max(worst, e)
			if !(e <= tol) {
				t.Errorf("%s sample %d: %s: |g - torch| / |torch| = %.3g (> %.0e)", what, i, name, e, tol)
			}
		}
	}
	return worst
}

// runTorchGrads runs scripts/torch/hf_grads.py on rc's samples and
// tensors in float64 and float32 and returns its sketches and the full
// gradients (by dtype, sample and tensor).
func runTorchGrads(t *testing.T, dir string, rc *gradRefCase) (*gradRefCase, map[string][]map[string][]float64) {
	t.Helper()
	tmp := t.TempDir()
	req := map[string]any{"samples": rc.Samples, "tensors": rc.Tensors, "dtypes": []string{"float64", "float32"},
		"sketch": map[string]int{"top": 16, "random": 16, "projections": 4, "seed": 1}, "out_dir": tmp}
	b, _ := json.Marshal(req)
	reqPath := filepath.Join(tmp, "request.json")
	if err := os.WriteFile(reqPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pythonPath(), "../../scripts/torch/hf_grads.py", dir, reqPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hf_grads.py: %v\n%s", err, stderr.String())
	}
	var res struct {
		Results map[string]gradRefValues `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("hf_grads.py output: %v", err)
	}
	full := map[string][]map[string][]float64{}
	for _, dt := range []string{"float64", "float32"} {
		for i := range rc.Samples {
			g := map[string][]float64{}
			for _, name := range rc.Tensors {
				raw, err := os.ReadFile(filepath.Join(tmp, dt, strconv.Itoa(i), name+".f64"))
				if err != nil {
					t.Fatal(err)
				}
				v := make([]float64, len(raw)/8)
				if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, v); err != nil {
					t.Fatal(err)
				}
				g[name] = v
			}
			full[dt] = append(full[dt], g)
		}
	}
	if len(res.Results["float64"].Grads) != len(rc.Samples) {
		t.Fatal(fmt.Sprintf("hf_grads.py returned %d samples", len(res.Results["float64"].Grads)))
	}
	return &gradRefCase{Float64: res.Results["float64"]}, full
}

// testGradsAgainstTorch is TestGradsAgainstTorch for one tiny case.
func testGradsAgainstTorch(t *testing.T, tc tinyCase, live, update bool, committed, fresh *gradRefFile) {
	dir := tinyDir(t, tc)
	m64, m32 := tinyModel64(t, tc), tinyModel32(t, tc)
	var names []string
	for _, x := range m64.GradTensors() {
		names = append(names, x.Name)
	}
	rc := &gradRefCase{Weights: weightHashes(t, dir), Tensors: names}
	if live {
		rc.Samples = gradRefSamples(buildSeqs(t, dir, tc))
	}
	want := committed.Cases[tc.Name]
	if !update {
		if want == nil {
			t.Fatalf("no case %s in %s", tc.Name, gradRefPath)
		}
		for f, h := range want.Weights {
			if rc.Weights[f] != h {
				t.Errorf("%s: SHA-256 %s, committed %s: WriteTiny writes other weights than the reference was made from", f, rc.Weights[f], h)
			}
		}
		if !slices.Equal(want.Tensors, names) {
			t.Fatalf("tensors %q, committed %q", names, want.Tensors)
		}
		if live {
			if len(want.Samples) != len(rc.Samples) {
				t.Fatalf("%d samples, committed %d", len(rc.Samples), len(want.Samples))
			}
			for i, s := range want.Samples {
				if !slices.Equal(s.Prompt, rc.Samples[i].Prompt) || !slices.Equal(s.Action, rc.Samples[i].Action) {
					t.Errorf("sample %d: the chat template and tokenizer now give other ids than committed", i)
				}
			}
		}
		rc.Samples = want.Samples
	}
	keep := func(dst *[]map[string][]float64) func(int, map[string][]float64) {
		return func(_ int, g map[string][]float64) {
			c := map[string][]float64{}
			for k, v := range g {
				c[k] = slices.Clone(v)
			}
			*dst = append(*dst, c)
		}
	}
	if live {
		liveCase, full := runTorchGrads(t, dir, rc)
		if want != nil {
			worst := 0.0
			for i, sks := range want.Float64.Grads {
				for name, sk := range sks {
					worst = max(worst, sketchErr(full["float64"][i][name], sk))
				}
			}
			// 1e-10: the projections are sums over up to 4.9M elements,
			// numpy's pairwise and sketchErr's sequential, which differ
			// by ~5e-12 relative to the norm
			if worst > 1e-10 {
				t.Errorf("the committed sketches differ from the live torch gradients by %.2g", worst)
			}
		}
		rc.Float64 = liveCase.Float64
		var g64 []map[string][]float64
		goGrads(t, m64, rc.Samples, keep(&g64))
		e64 := compareFull(t, "float64", g64, full["float64"], gradTol64)
		g64 = nil
		var g32 []map[string][]float32
		goGrads(t, m32, rc.Samples, func(_ int, g map[string][]float32) {
			c := map[string][]float32{}
			for k, v := range g {
				c[k] = slices.Clone(v)
			}
			g32 = append(g32, c)
		})
		e32 := compareFull(t, "float32", g32, full["float64"], gradTol32)
		g32 = nil
		et := compareFull(t, "torch float32", full["float32"], full["float64"], 1)
		t.Logf("%s, live: |g - torch float64| / |torch float64| per tensor, largest: Go float64 %.2g, Go float32 %.2g (torch float32 %.2g)", tc.Name, e64, e32, et)
		tinyMu.Lock()
		fresh.Cases[tc.Name] = rc
		tinyMu.Unlock()
	} else {
		rc.Float64 = want.Float64
	}
	ref := rc.Float64
	worst64, worst32 := 0.0, 0.0
	lp64 := goGrads(t, m64, rc.Samples, func(i int, g map[string][]float64) {
		for _, name := range names {
			e := sketchErr(g[name], ref.Grads[i][name])
			worst64 = max(worst64, e)
			if !(e <= gradTol64) {
				t.Errorf("sample %d: %s: float64 gradient differs from torch float64 by %.3g (> %.0e)", i, name, e, gradTol64)
			}
		}
	})
	goGrads(t, m32, rc.Samples, func(i int, g map[string][]float32) {
		for _, name := range names {
			e := sketchErr(g[name], ref.Grads[i][name])
			worst32 = max(worst32, e)
			if !(e <= gradTol32) {
				t.Errorf("sample %d: %s: float32 gradient differs from torch float64 by %.3g (> %.0e)", i, name, e, gradTol32)
			}
		}
	})
	for i, lp := range lp64 {
		if e := relErr(lp, ref.LogProbs[i]); e > tol64 {
			t.Errorf("sample %d: log pi %.17g, torch %.17g", i, lp, ref.LogProbs[i])
		}
	}
	t.Logf("%s: %d samples, %d tensors: largest sketch difference from torch float64: float64 %.2g, float32 %.2g", tc.Name, len(rc.Samples), len(names), worst64, worst32)
}
