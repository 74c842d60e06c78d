package figure

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// TestTensors renders the tensor-group figure of two runs and checks that
// the groups, the runs and both measures are drawn, that a NaN cell is
// accepted, and that mismatched matrices panic.
func TestTensors(t *testing.T) {
	groups := []string{"embeddings (input use)", "lm head (tied wte)", "layer 0 attention"}
	its := []string{"0", "10"}
	p := TensorPanel{Run: "grpo-1", Groups: groups, Iterations: its,
		Share:    [][]float64{{0.5, 0.4}, {0.3, 0.4}, {0.2, 0.2}},
		NetShare: [][]float64{{0.7, -0.2}, {0.4, 1.1}, {-0.1, math.NaN()}}}
	q := p
	q.Run = "gcd-1"
	var b bytes.Buffer
	f := Tensors([]TensorPanel{p, q})
	if !strings.HasPrefix(f.Title, "Where coupling lives") {
		t.Errorf("title %q", f.Title)
	}
	if err := f.Render(&b, SVG); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	for _, want := range []string{"lm head (tied wte)", "gcd-1: share of |K| mass", "grpo-1: share of net Δ on bad"} {
		if !strings.Contains(svg, want) {
			t.Errorf("figure lacks %q", want)
		}
	}
	b.Reset()
	if err := Tensors(nil).Render(&b, SVG); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("mismatched matrix did not panic")
		}
	}()
	p.Share = p.Share[:2]
	Tensors([]TensorPanel{p})
}
