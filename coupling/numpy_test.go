package coupling

import (
	"bufio"
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
// on the same data in the same run (DESIGN.md §6), prints the ratio for each
// size and a table of all sizes, and checks that the two products agree. It
// runs only with GRADCOUPLE_NUMPY=1 and needs /usr/bin/python3 with numpy
// (python3-numpy).
//
// GRADCOUPLE_NUMPY_SIZES lists NxD sizes (default 4096x16384); "scaling"
// stands for N in {512, 1024, 2048, 4096} x D in {4096, 16384, 65536}.
// GRADCOUPLE_NUMPY_REPEAT (default 3) is the number of timed runs after a
// warm-up, on both sides; each side reports its best. NumPy runs with
// OPENBLAS_NUM_THREADS=2 and without OPENBLAS_CORETYPE and
// OPENBLAS_L2_SIZE, so that OpenBLAS picks its own kernel (printed). Go
// runs with Workers = 2. Built with -tags openblas, Gram itself calls
// OpenBLAS, and the Go tiles (what Gram runs in the default build) are
// timed too, in the same run. OpenBLAS read its settings when the test
// started; the test requires the same kernel and thread count as NumPy's,
// so run it as
//
//	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 \
//	    GRADCOUPLE_NUMPY=1 go test -tags openblas -run NumPyAnchor -v ./coupling
func TestNumPyAnchor(t *testing.T) {
	if os.Getenv("GRADCOUPLE_NUMPY") != "1" {
		t.Skip("set GRADCOUPLE_NUMPY=1 to compare with NumPy")
	}
	script, err := filepath.Abs("../scripts/numpy/gram.py")
	if err != nil {
		t.Fatal(err)
	}
	sizes := os.Getenv("GRADCOUPLE_NUMPY_SIZES")
	switch sizes {
	case "":
		sizes = "4096x16384"
	case "scaling":
		var grid []string
		for _, n := range []int{512, 1024, 2048, 4096} {
			for _, d := range []int{4096, 16384, 65536} {
				grid = append(grid, fmt.Sprintf("%dx%d", n, d))
			}
		}
		sizes = strings.Join(grid, ",")
	}
	repeat := 3
	if r := os.Getenv("GRADCOUPLE_NUMPY_REPEAT"); r != "" {
		if repeat, err = strconv.Atoi(r); err != nil || repeat < 1 {
			t.Fatalf("GRADCOUPLE_NUMPY_REPEAT=%q: want a positive integer", r)
		}
	}
	config, core, threads := blasLibrary()
	ours := "Go " + KernelName()
	if config != "" {
		ours = fmt.Sprintf("Go+OpenBLAS %s x%d", core, threads)
		t.Logf("Gram calls %s (OpenBLAS kernel %s, %d threads)", config, core, threads)
	} else {
		t.Logf("Gram runs on the Go tiles: kernel %s, GOMAXPROCS %d, Workers 2", KernelName(), runtime.GOMAXPROCS(0))
	}
	t.Logf("load average before: %s", loadAverage())
	var table []string
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
		cmd := exec.Command("/usr/bin/python3", script, "--npy", in, "--out", out, "--repeat", strconv.Itoa(repeat))
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
		if config != "" && (!strings.EqualFold(core, np.Core) || threads != np.Threads) {
			t.Fatalf("Gram's OpenBLAS runs kernel %s with %d threads, NumPy's %s with %d: not the same code; "+
				"run the test under env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2", core, threads, np.Core, np.Threads)
		}
		k := make([]float32, n*n)
		best := bestOf(repeat, func() {
			if _, err := Gram(k, g, n, d, GramConfig{Workers: 2}); err != nil {
				t.Fatal(err)
			}
		})
		var tiles float64 // the Go tiles, timed too when Gram calls OpenBLAS
		if config != "" {
			scratch := make([]float32, n*n)
			tiles = bestOf(repeat, func() { denseGo(scratch, g, n, d, MeasureInner, GramConfig{Workers: 2}) })
		}
		ref, err := readNpy(out, n*n)
		if err != nil {
			t.Fatal(err)
		}
		var worst float64
		for i := range n {
			for j := range n {
				e := math.Abs(float64(k[i*n+j])-float64(ref[i*n+j])) / math.Sqrt(float64(k[i*n+i])*float64(k[j*n+j]))
				worst = math.Max(worst, e)
			}
		}
		flops := gramFlops(n, d)
		ratio := best / np.Seconds
		t.Logf("N=%d D=%d: %s %.3f s (%.1f GFLOP/s), NumPy %s/OpenBLAS %s x%d %.3f s (%.1f GFLOP/s): Go/NumPy time ratio %.2f; max |K_go - K_np| / (|g_i||g_j|) = %.1e; load average %s",
			n, d, ours, best, flops/best/1e9, np.NumPyVersion, np.Core, np.Threads, np.Seconds, np.GFlops, ratio, worst, loadAverage())
		row := fmt.Sprintf("| %d | %d | %.3g | %.3g | %.2f | %.0f | %.0f |", n, d, best, np.Seconds, ratio, flops/best/1e9, np.GFlops)
		if config != "" {
			t.Logf("N=%d D=%d: Go tiles (%s) in the same run %.3f s: Go tiles/NumPy time ratio %.2f", n, d, KernelName(), tiles, tiles/np.Seconds)
			row += fmt.Sprintf(" %.3g | %.2f |", tiles, tiles/np.Seconds)
		}
		table = append(table, row)
		if worst > 1e-5 {
			t.Errorf("Go and NumPy disagree: %g", worst)
		}
	}
	header := "| N | D | Go s | NumPy s | Go/NumPy | Go GFLOP/s | NumPy GFLOP/s |\n|---|---|---|---|---|---|---|"
	if config != "" {
		header = "| N | D | Go+OpenBLAS s | NumPy s | Go+OpenBLAS/NumPy | Go+OpenBLAS GFLOP/s | NumPy GFLOP/s | Go tiles s | Go tiles/NumPy |\n" +
			"|---|---|---|---|---|---|---|---|---|"
	}
	t.Logf("Gram (%s) vs NumPy G @ G.T, best of %d, GFLOP/s counted as 2 N^2 D:\n%s\n%s",
		ours, repeat, header, strings.Join(table, "\n"))
	t.Logf("load average after: %s", loadAverage())
}

// bestOf runs f once to warm up, then repeat times, and returns the
// shortest of the timed runs in seconds.
func bestOf(repeat int, f func()) float64 {
	f()
	best := math.Inf(1)
	for range repeat {
		start := time.Now()
		f()
		best = math.Min(best, time.Since(start).Seconds())
	}
	return best
}

// loadAverage returns the 1, 5 and 15 minute load averages of
// /proc/loadavg, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// writeNpy writes an n x d float32 array in NumPy's .npy format 1.0,
// streaming the rows so that a 1 GiB array is not copied in memory.
func writeNpy(path string, g []float32, n, d int) error {
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", n, d)
	pad := 64 - (10+len(header)+1)%64
	header += strings.Repeat(" ", pad%64) + "\n"
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("\x93NUMPY\x01\x00")
	binary.Write(w, binary.LittleEndian, uint16(len(header)))
	w.WriteString(header)
	var b [4]byte
	for _, v := range g {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
		w.Write(b[:])
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
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
