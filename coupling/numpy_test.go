package coupling

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
	"strings"
	"testing"
	"time"
)

// TestNumPyAnchor times Gram against NumPy's G @ G.T (OpenBLAS, 2 threads)
// on the same data in the same run (DESIGN.md §6) and prints the ratio; it
// also checks that the two products agree. It runs only with
// GRADCOUPLE_NUMPY=1 and needs /usr/bin/python3 with numpy (python3-numpy).
// GRADCOUPLE_NUMPY_SIZES (default 4096x16384) lists NxD sizes. OpenBLAS runs
// with OPENBLAS_NUM_THREADS=2 and without OPENBLAS_CORETYPE and
// OPENBLAS_L2_SIZE, so that it picks its own kernel (printed); Go runs with
// Workers = 2. Both report the best of 3 runs.
func TestNumPyAnchor(t *testing.T) {
	if os.Getenv("GRADCOUPLE_NUMPY") != "1" {
		t.Skip("set GRADCOUPLE_NUMPY=1 to compare with NumPy")
	}
	script, err := filepath.Abs("../scripts/numpy/gram.py")
	if err != nil {
		t.Fatal(err)
	}
	sizes := os.Getenv("GRADCOUPLE_NUMPY_SIZES")
	if sizes == "" {
		sizes = "4096x16384"
	}
	t.Logf("Go kernel %s, GOMAXPROCS %d, Workers 2", KernelName(), runtime.GOMAXPROCS(0))
	for _, s := range strings.Split(sizes, ",") {
		var n, d int
		if _, err := fmt.Sscanf(s, "%dx%d", &n, &d); err != nil {
			t.Fatalf("size %q: %v", s, err)
		}
		g := randRows(rand.New(rand.NewPCG(uint64(n), uint64(d))), n, d)
		dir := t.TempDir()
		in, out := filepath.Join(dir, "g.npy"), filepath.Join(dir, "k.npy")
		if err := writeNpy(in, g, n, d); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("/usr/bin/python3", script, "--npy", in, "--out", out, "--repeat", "3")
		var env []string
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "OPENBLAS_CORETYPE=") && !strings.HasPrefix(e, "OPENBLAS_L2_SIZE=") &&
				!strings.HasPrefix(e, "OPENBLAS_NUM_THREADS=") {
				env = append(env, e)
			}
		}
		cmd.Env = append(env, "OPENBLAS_NUM_THREADS=2")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		res, err := cmd.Output()
		if err != nil {
			t.Fatalf("numpy: %v\n%s", err, stderr.String())
		}
		var np struct {
			Seconds      float64 `json:"seconds"`
			GFlops       float64 `json:"gflops"`
			Core         string  `json:"openblas_core"`
			Threads      int     `json:"threads"`
			NumPyVersion string  `json:"numpy"`
		}
		if err := json.Unmarshal(res, &np); err != nil {
			t.Fatalf("numpy output %q: %v", res, err)
		}
		dst := make([]float32, n*n)
		best := math.Inf(1)
		for range 4 { // the first run warms up
			start := time.Now()
			if _, err := Gram(dst, g, n, d, GramConfig{Workers: 2}); err != nil {
				t.Fatal(err)
			}
			best = math.Min(best, time.Since(start).Seconds())
		}
		ref, err := readNpy(out, n*n)
		if err != nil {
			t.Fatal(err)
		}
		var worst float64
		for i := range n {
			for j := range n {
				e := math.Abs(float64(dst[i*n+j])-float64(ref[i*n+j])) / math.Sqrt(float64(dst[i*n+i])*float64(dst[j*n+j]))
				worst = math.Max(worst, e)
			}
		}
		flops := 2 * float64(n) * float64(n) * float64(d)
		t.Logf("N=%d D=%d: Go %.3f s (%.1f GFLOP/s), NumPy %s/OpenBLAS %s x%d %.3f s (%.1f GFLOP/s): Go/NumPy time ratio %.2f; max |K_go - K_np| / (|g_i||g_j|) = %.1e",
			n, d, best, flops/best/1e9, np.NumPyVersion, np.Core, np.Threads, np.Seconds, np.GFlops, best/np.Seconds, worst)
		if worst > 1e-5 {
			t.Errorf("Go and NumPy disagree: %g", worst)
		}
	}
}

// writeNpy writes an n x d float32 array in NumPy's .npy format 1.0.
func writeNpy(path string, g []float32, n, d int) error {
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", n, d)
	pad := 64 - (10+len(header)+1)%64
	header += strings.Repeat(" ", pad%64) + "\n"
	var buf bytes.Buffer
	buf.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&buf, binary.LittleEndian, uint16(len(header)))
	buf.WriteString(header)
	body := make([]byte, 4*len(g))
	for i, v := range g {
		binary.LittleEndian.PutUint32(body[4*i:], math.Float32bits(v))
	}
	buf.Write(body)
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// readNpy reads m float32 values from a little-endian .npy file.
func readNpy(path string, m int) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return nil, fmt.Errorf("%s: not a .npy file", path)
	}
	off := 10 + int(binary.LittleEndian.Uint16(b[8:10]))
	if b[6] >= 2 {
		off = 12 + int(binary.LittleEndian.Uint32(b[8:12]))
	}
	if !strings.Contains(string(b[:off]), "<f4") || len(b)-off != 4*m {
		return nil, fmt.Errorf("%s: want %d little-endian float32, header %q", path, m, strconv.Quote(string(b[:off])))
	}
	out := make([]float32, m)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[off+4*i:]))
	}
	return out, nil
}
