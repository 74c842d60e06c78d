package cli

import (
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/coupling"
	"github.com/gradcouple/gradcouple/policy"
)

// TestVersionNamesKernels: `gradcouple version` names the micro-kernels in
// use, so a reported figure can say which kernel produced it.
func TestVersionNamesKernels(t *testing.T) {
	out, _, code := run(t, "version")
	want := "kernels: gram " + coupling.KernelName() + ", actor " + policy.KernelName()
	if code != 0 || !strings.Contains(out, want) {
		t.Errorf("exit %d, output %q lacks %q", code, out, want)
	}
}
