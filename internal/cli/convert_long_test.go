package cli

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gradcouple/gradcouple/trajlog"
)

// TestConvertLongMemory converts a generated verl log of 2M records (25
// step files of 80k lines, groups of 8 identical prompts of about 600
// bytes) in a child process and reports its peak resident memory (rusage
// maxrss) and wall time. convert streams, so the peak must not grow with the
// log's text: it is checked against 512 MiB, a fifth of what holding the
// records would take. It writes about 1.5 GB to a temporary directory and
// takes minutes, so it runs only with GRADCOUPLE_LONG=1:
//
//	GRADCOUPLE_LONG=1 go test ./internal/cli/ -run ConvertLongMemory -v -timeout 30m
//
// GRADCOUPLE_LONG_RECORDS overrides the number of records.
func TestConvertLongMemory(t *testing.T) {
	if args := os.Getenv("GRADCOUPLE_CONVERT_CHILD"); args != "" {
		in, out, _ := strings.Cut(args, string(os.PathListSeparator))
		_, stderr, code := run(t, "convert", in, "--out", out)
		if code != 0 {
			t.Fatalf("convert: exit %d: %s", code, stderr)
		}
		return
	}
	if os.Getenv("GRADCOUPLE_LONG") != "1" || testing.Short() {
		t.Skip("set GRADCOUPLE_LONG=1 to convert 2M generated records and measure memory")
	}
	n := 2_000_000
	if s := os.Getenv("GRADCOUPLE_LONG_RECORDS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	const steps, group = 25, 8
	dir := t.TempDir()
	in := filepath.Join(dir, "rollouts")
	if err := os.Mkdir(in, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(12, 0))
	room := strings.Repeat("You are in the middle of a room. Looking quickly around you, you see a cabinet 1, a countertop 1, a drawer 1, a fridge 1. ", 4)
	start := time.Now()
	var inBytes int64
	per := (n + steps - 1) / steps
	for s, done := 1, 0; done < n; s++ {
		f, err := os.Create(filepath.Join(in, fmt.Sprintf("%d.jsonl", s)))
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		for i := 0; i < per && done < n; i, done = i+1, done+1 {
			task := done / group
			score := float64(rng.IntN(2))
			line := fmt.Sprintf(`{"input": "%s Your task is to: put a clean mug %d in the coffee machine. Step %d.", "output": "go to cabinet %d", "score": %g, "step": %d}`+"\n",
				room, task, s, rng.IntN(9), score, s)
			inBytes += int64(len(line))
			w.WriteString(line)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	t.Logf("generated %d verl records (%.2f GB) in %v", n, float64(inBytes)/1e9, time.Since(start).Round(time.Second))

	out := filepath.Join(dir, "out.parquet")
	cmd := exec.Command(os.Args[0], "-test.run=^TestConvertLongMemory$", "-test.v")
	cmd.Env = append(os.Environ(), "GRADCOUPLE_CONVERT_CHILD="+in+string(os.PathListSeparator)+out)
	start = time.Now()
	outb, err := cmd.CombinedOutput()
	wall := time.Since(start)
	if err != nil {
		t.Fatalf("child: %v\n%s", err, outb)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	maxRSS := ru.Maxrss * 1024 // kilobytes on Linux
	st, _ := os.Stat(out)
	t.Logf("convert: %d records in %v (user %v, sys %v), max RSS %.0f MiB, output %.0f MiB",
		n, wall.Round(time.Second), time.Duration(ru.Utime.Nano()).Round(time.Second),
		time.Duration(ru.Stime.Nano()).Round(time.Second), float64(maxRSS)/(1<<20), float64(st.Size())/(1<<20))
	if maxRSS > 512<<20 {
		t.Errorf("max RSS %d MiB, want at most 512 MiB", maxRSS>>20)
	}
	r, err := trajlog.Open(out, trajlog.ReadOptions{SkipPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]trajlog.Record, 4096)
	var total int
	for {
		k, err := r.Read(buf)
		total += k
		if err != nil {
			break
		}
	}
	if total != n {
		t.Errorf("output has %d records, want %d", total, n)
	}
}
