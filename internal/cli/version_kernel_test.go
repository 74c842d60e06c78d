package cli

import (
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/internal/kernel"
)

// TestVersionNamesKernels: `gradcouple version` names the micro-kernels in
// use and the CPU features behind them, so a reported figure can say which
// kernel produced it.
func TestVersionNamesKernels(t *testing.T) {
	out, _, code := run(t, "version")
	id := kernel.Selected()
	for _, want := range []string{
		"kernels: gram " + id.F32Name() + ", actor " + id.F64Name(),
		"cpu: ",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("exit %d, output %q lacks %q", code, out, want)
		}
	}
}
