package cpuinfo

import (
	"runtime"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct{ name, text, want string }{
		{"x86", "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC  9R14 96-Core Processor\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: other\n",
			"AMD EPYC 9R14 96-Core Processor"},
		{"arm64", "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n", "CPU implementer 0x41 part 0xd0c"},
		{"arm64 hardware", "processor\t: 0\nCPU implementer\t: 0x41\nHardware\t: BCM2835\n", "BCM2835"},
		{"ppc64le", "processor\t: 0\ncpu\t\t: POWER9 (architected), altivec supported\n", "POWER9 (architected), altivec supported"},
		{"empty", "", Unknown},
		{"blank model", "model name\t: \n", Unknown},
	} {
		if got := parse(strings.NewReader(c.text)); got != c.want {
			t.Errorf("%s: parse = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestModel(t *testing.T) {
	m := Model()
	if m == "" || (runtime.GOOS != "linux" && m != Unknown) {
		t.Errorf("Model() = %q", m)
	}
	t.Logf("CPU: %s", m)
}
