package coupling

import (
	"bufio"
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

	"github.com/gradcouple/gradcouple/internal/cpuinfo"
)

// TestNumPyAnchor times Gram against NumPy's G @ G.T (OpenBLAS, 2 threads)
// on the same data in the same run (DESIGN.md §6), prints the ratio for each
// size and a table of all sizes, and checks that the two products agree. It
// runs only with GRADCOUPLE_NUMPY=1 and needs /usr/bin/python3 with numpy
// (python3-numpy). It never fails for speed, only when the products differ.
//
// GRADCOUPLE_NUMPY_SIZES lists NxD sizes (default 4096x16384); "scaling"
// stands for N in {512, 1024, 2048, 4096} x D in {4096, 16384, 65536}.
// GRADCOUPLE_NUMPY_REPEAT (default 3) is the number of timed runs after a
// warm-up, on both sides; each side reports its best. NumPy runs with
// OPENBLAS_NUM_THREADS=2 and without OPENBLAS_CORETYPE and
// OPENBLAS_L2_SIZE, so that OpenBLAS picks its own kernel (printed; a
// forced Haswell kernel ran 4096x16384 at 400 GFLOP/s where OpenBLAS's own
// choice on an AVX-512 EPYC, Cooperlake, ran 650). Go runs with Workers = 2.
// GRADCOUPLE_ANCHOR_CORETYPE=Haswell gives NumPy OpenBLAS's AVX2 kernel, for
// comparing GRADCOUPLE_KERNEL=avx2 with what an AVX2-only machine runs.
// Built with -tags openblas, Gram itself calls OpenBLAS, and the Go tiles
// (what Gram runs in the default build) are timed too, in the same run.
// OpenBLAS read its settings when the test started; the test requires the
// same kernel and thread count as NumPy's, so run it as
//
//	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 \
//	    GRADCOUPLE_NUMPY=1 go test -tags openblas -run NumPyAnchor -v ./coupling
//
// The test finishes before go test's -timeout (10m by default) on any CPU:
// it first times both sides on 512x4096, estimates from those rates how
// long each size takes, and runs fewer repeats than asked, or leaves a size
// out, when the estimate does not fit in the time left; it says so and
// names the -timeout that would fit everything. If no size fits it skips.
// Every ratio is printed beside the CPU model, GOMAXPROCS, the Go kernel
// (KernelName), NumPy's BLAS and its kernel, and each side's GFLOP/s.
func TestNumPyAnchor(t *testing.T) {
	if os.Getenv("GRADCOUPLE_NUMPY") != "1" {
		t.Skip("set GRADCOUPLE_NUMPY=1 to compare with NumPy")
	}
	start := time.Now()
	script, err := filepath.Abs("../scripts/numpy/gram.py")
	if err != nil {
		t.Fatal(err)
	}
	spec := os.Getenv("GRADCOUPLE_NUMPY_SIZES")
	switch spec {
	case "":
		spec = "4096x16384"
	case "scaling":
		var grid []string
		for _, n := range []int{512, 1024, 2048, 4096} {
			for _, d := range []int{4096, 16384, 65536} {
				grid = append(grid, fmt.Sprintf("%dx%d", n, d))
			}
		}
		spec = strings.Join(grid, ",")
	}
	var sizes [][2]int
	for _, s := range strings.Split(spec, ",") {
		var n, d int
		if _, err := fmt.Sscanf(s, "%dx%d", &n, &d); err != nil || n < 1 || d < 1 {
			t.Fatalf("GRADCOUPLE_NUMPY_SIZES: size %q: want NxD with positive N and D", s)
		}
		sizes = append(sizes, [2]int{n, d})
	}
	repeat := 3
	if r := os.Getenv("GRADCOUPLE_NUMPY_REPEAT"); r != "" {
		if repeat, err = strconv.Atoi(r); err != nil || repeat < 1 {
			t.Fatalf("GRADCOUPLE_NUMPY_REPEAT=%q: want a positive integer", r)
		}
	}
	// The process stops at the -timeout deadline; keep a fifth of the time
	// left, and 15 s, for what follows (the checks, other tests).
	deadline, bounded := t.Deadline()
	if bounded {
		deadline = deadline.Add(-time.Until(deadline)/5 - 15*time.Second)
	}
	ctx := t.Context()
	if bounded {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}

	config, core, threads := blasLibrary()
	ours := "Go " + KernelName()
	if config != "" {
		ours = fmt.Sprintf("Go+OpenBLAS %s x%d", core, threads)
		t.Logf("Gram calls %s (OpenBLAS kernel %s, %d threads)", config, core, threads)
	}
	machine := fmt.Sprintf("CPU %s, GOMAXPROCS %d, Go kernel %s, Workers 2", cpuinfo.Model(), runtime.GOMAXPROCS(0), KernelName())
	t.Logf("%s; load average before: %s", machine, loadAverage())

	// Calibration: both sides on a small size, the rates of which (lower
	// than at the large sizes) give conservative estimates.
	const calN, calD = 512, 4096
	calG := randRows(rand.New(rand.NewPCG(1, 1)), calN, calD)
	calK := make([]float32, calN*calN)
	goRate := gramFlops(calN, calD) / bestOf(1, func() {
		if _, err := Gram(calK, calG, calN, calD, GramConfig{Workers: 2}); err != nil {
			t.Fatal(err)
		}
	})
	var tilesRate float64
	if config != "" {
		tilesRate = gramFlops(calN, calD) / bestOf(1, func() { denseGo(calK, calG, calN, calD, MeasureInner, GramConfig{Workers: 2}) })
	}
	cal, err := runNumPy(ctx, script, "--sizes", fmt.Sprintf("%dx%d", calN, calD), "--repeat", "2")
	if err != nil {
		t.Fatalf("numpy calibration at %dx%d: %v", calN, calD, err)
	}
	npRate := cal.GFlops * 1e9
	blas := cal.blas()
	t.Logf("calibration at N=%d D=%d: %s %.1f GFLOP/s, NumPy %s %.1f GFLOP/s", calN, calD, ours, goRate/1e9, blas, cal.GFlops)

	// estimate is the time of one size with r timed runs and a warm-up on
	// each side, padded by a third for noise, plus writing and reading the
	// rows and the products (about 30 ns per entry of G, 20 per entry of K)
	// and starting Python.
	estimate := func(n, d, r int) time.Duration {
		f := gramFlops(n, d)
		run := f/goRate + f/npRate
		if tilesRate > 0 {
			run += f / tilesRate
		}
		sec := 4.0/3*float64(r+1)*run + 30e-9*float64(n)*float64(d) + 20e-9*float64(n)*float64(n) + 1
		return time.Duration(sec * float64(time.Second))
	}
	var all time.Duration
	for _, s := range sizes {
		all += estimate(s[0], s[1], repeat)
	}
	// want is the -timeout that would let every size run as asked.
	want := (time.Since(start) + all) * 5 / 4
	want = (want + 15*time.Second + time.Minute - 1).Truncate(time.Minute)
	if bounded && time.Now().Add(all).After(deadline) {
		t.Logf("all sizes with %d repeats need about %s, more than the %s left before the -timeout deadline; "+
			"repeats are reduced or sizes left out below; run with -timeout %s to time everything as asked",
			repeat, all.Round(time.Second), time.Until(deadline).Round(time.Second), want)
	}

	var table []string
	var left []string
	for _, sz := range sizes {
		n, d := sz[0], sz[1]
		r := repeat
		if bounded {
			for r > 0 && time.Now().Add(estimate(n, d, r)).After(deadline) {
				r--
			}
		}
		if r == 0 {
			left = append(left, fmt.Sprintf("%dx%d", n, d))
			t.Logf("N=%d D=%d left out: a warm-up and one timed run need about %s (%s at %.1f GFLOP/s, NumPy %s at %.1f GFLOP/s), %s are left; run with -timeout %s",
				n, d, estimate(n, d, 1).Round(time.Second), ours, goRate/1e9, blas, npRate/1e9, time.Until(deadline).Round(time.Second), want)
			continue
		}
		if r < repeat {
			t.Logf("N=%d D=%d: best of %d runs instead of %d, to finish before the -timeout deadline (estimate %s; run with -timeout %s for all)",
				n, d, r, repeat, estimate(n, d, r).Round(time.Second), want)
		}
		g := randRows(rand.New(rand.NewPCG(uint64(n), uint64(d))), n, d)
		dir := t.TempDir()
		in, out := filepath.Join(dir, "g.npy"), filepath.Join(dir, "k.npy")
		if err := writeNpy(in, g, n, d); err != nil {
			t.Fatal(err)
		}
		np, err := runNumPy(ctx, script, "--npy", in, "--out", out, "--repeat", strconv.Itoa(r))
		if err != nil {
			if ctx.Err() != nil {
				t.Skipf("N=%d D=%d: NumPy did not finish before the -timeout deadline (estimate was %s); run with -timeout %s: %v",
					n, d, estimate(n, d, r).Round(time.Second), want, err)
			}
			t.Fatalf("numpy: %v", err)
		}
		if config != "" && (!strings.EqualFold(core, np.Core) || threads != np.Threads) {
			t.Fatalf("Gram's OpenBLAS runs kernel %s with %d threads, NumPy's %s with %d: not the same code; "+
				"run the test under env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2", core, threads, np.Core, np.Threads)
		}
		k := make([]float32, n*n)
		best := bestOf(r, func() {
			if _, err := Gram(k, g, n, d, GramConfig{Workers: 2}); err != nil {
				t.Fatal(err)
			}
		})
		var tiles float64 // the Go tiles, timed too when Gram calls OpenBLAS
		if config != "" {
			scratch := make([]float32, n*n)
			tiles = bestOf(r, func() { denseGo(scratch, g, n, d, MeasureInner, GramConfig{Workers: 2}) })
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
		t.Logf("N=%d D=%d: %s %.3f s (%.1f GFLOP/s), NumPy %s %s %.3f s (%.1f GFLOP/s): Go/NumPy time ratio %.2f [%s; best of %d]; max |K_go - K_np| / (|g_i||g_j|) = %.1e; load average %s",
			n, d, ours, best, flops/best/1e9, np.NumPyVersion, np.blas(), np.Seconds, np.GFlops, ratio, machine, r, worst, loadAverage())
		row := fmt.Sprintf("| %d | %d | %d | %.3g | %.3g | %.2f | %.0f | %.0f |", n, d, r, best, np.Seconds, ratio, flops/best/1e9, np.GFlops)
		if config != "" {
			t.Logf("N=%d D=%d: Go tiles (%s) in the same run %.3f s (%.1f GFLOP/s): Go tiles/NumPy time ratio %.2f [%s]",
				n, d, KernelName(), tiles, flops/tiles/1e9, tiles/np.Seconds, machine)
			row += fmt.Sprintf(" %.3g | %.2f |", tiles, tiles/np.Seconds)
		}
		table = append(table, row)
		if worst > 1e-5 {
			t.Errorf("Go and NumPy disagree: %g", worst)
		}
	}
	header := "| N | D | runs | Go s | NumPy s | Go/NumPy | Go GFLOP/s | NumPy GFLOP/s |\n|---|---|---|---|---|---|---|---|"
	if config != "" {
		header = "| N | D | runs | Go+OpenBLAS s | NumPy s | Go+OpenBLAS/NumPy | Go+OpenBLAS GFLOP/s | NumPy GFLOP/s | Go tiles s | Go tiles/NumPy |\n" +
			"|---|---|---|---|---|---|---|---|---|---|"
	}
	if len(table) > 0 {
		t.Logf("Gram (%s) vs NumPy G @ G.T (%s); %s; best of the runs after a warm-up, GFLOP/s counted as 2 N^2 D:\n%s\n%s",
			ours, blas, machine, header, strings.Join(table, "\n"))
	}
	t.Logf("load average after: %s; %s in all", loadAverage(), time.Since(start).Round(time.Second))
	if len(left) > 0 {
		msg := fmt.Sprintf("sizes %s left out to finish before the -timeout deadline; run with -timeout %s", strings.Join(left, ","), want)
		if len(table) == 0 {
			t.Skip(msg)
		}
		t.Log(msg)
	}
}

// numpyResult is one line of scripts/numpy/gram.py's output.
type numpyResult struct {
	Seconds      float64 `json:"seconds"`
	GFlops       float64 `json:"gflops"`
	BLAS         string  `json:"blas"`
	Core         string  `json:"openblas_core"`
	Threads      int     `json:"threads"`
	NumPyVersion string  `json:"numpy"`
}

// blas names the BLAS library and, for OpenBLAS, its kernel and threads:
// "OpenBLAS 0.3.21 Cooperlake x2".
func (r numpyResult) blas() string {
	s := r.BLAS
	if r.Core != "" {
		s += " " + r.Core
	}
	if r.Threads > 0 {
		s += fmt.Sprintf(" x%d", r.Threads)
	}
	return s
}

// runNumPy runs scripts/numpy/gram.py with args under
// OPENBLAS_NUM_THREADS=2 and without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE,
// killing it when ctx ends, and returns its first result.
func runNumPy(ctx context.Context, script string, args ...string) (numpyResult, error) {
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", append([]string{script}, args...)...)
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "OPENBLAS_CORETYPE=") && !strings.HasPrefix(e, "OPENBLAS_L2_SIZE=") &&
			!strings.HasPrefix(e, "OPENBLAS_NUM_THREADS=") {
			env = append(env, e)
		}
	}
	cmd.Env = append(env, "OPENBLAS_NUM_THREADS=2")
	if ct := os.Getenv("GRADCOUPLE_ANCHOR_CORETYPE"); ct != "" {
		cmd.Env = append(cmd.Env, "OPENBLAS_CORETYPE="+ct)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return numpyResult{}, fmt.Errorf("%v\n%s", err, stderr.String())
	}
	var res numpyResult
	line, _, _ := bytes.Cut(out, []byte("\n"))
	if err := json.Unmarshal(line, &res); err != nil {
		return numpyResult{}, fmt.Errorf("reading output %q: %w", out, err)
	}
	return res, nil
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
