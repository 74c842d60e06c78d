// Package cpuinfo names the processor a program runs on, for reports that
// put a speed beside the machine that produced it (the NumPy and PyTorch
// anchors, benchmarks).
package cpuinfo

import (
	"bufio"
	"io"
	"os"
	"runtime"
	"strings"
)

// Unknown is what Model returns when the processor cannot be named.
const Unknown = "unknown"

// Model returns the processor's model name as Linux reports it in
// /proc/cpuinfo (the first "model name" line on x86, e.g. "AMD EPYC 9R14";
// on arm64, which has none, the "Hardware" or "Processor" line, else the
// implementer and part codes, e.g. "CPU implementer 0x41 part 0xd0c"). It
// returns Unknown on other systems or when the file cannot be read.
func Model() string {
	if runtime.GOOS != "linux" {
		return Unknown
	}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return Unknown
	}
	defer f.Close()
	return parse(f)
}

// parse returns the model name in the text of /proc/cpuinfo, or Unknown.
func parse(r io.Reader) string {
	fields := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key, value = strings.TrimSpace(key), strings.Join(strings.Fields(value), " ")
		if _, seen := fields[key]; !seen && value != "" {
			fields[key] = value
		}
	}
	for _, key := range []string{"model name", "Hardware", "Processor", "cpu model", "cpu"} {
		if v, ok := fields[key]; ok {
			return v
		}
	}
	if impl, ok := fields["CPU implementer"]; ok {
		return "CPU implementer " + impl + " part " + fields["CPU part"]
	}
	return Unknown
}
