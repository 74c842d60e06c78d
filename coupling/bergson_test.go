package coupling

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

type bergsonRef struct {
	NumPy    string `json:"numpy"`
	Matrices []struct {
		Module string    `json:"module"`
		Side   string    `json:"side"`
		M      int       `json:"m"`
		N      int       `json:"n"`
		Seed   uint64    `json:"seed"`
		SHA256 string    `json:"sha256"`
		First  []float32 `json:"first"`
	} `json:"matrices"`
}

func checkBergson(t *testing.T, data []byte) {
	t.Helper()
	var ref bergsonRef
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Matrices) == 0 {
		t.Fatal("no reference matrices")
	}
	for _, r := range ref.Matrices {
		if s := BergsonSeed(r.Module, r.Side); s != r.Seed {
			t.Errorf("%s/%s: seed %d, NumPy %d", r.Module, r.Side, s, r.Seed)
		}
		a := BergsonMatrix(r.Module, r.Side, r.M, r.N)
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, a)
		sum := sha256.Sum256(b.Bytes())
		if hex.EncodeToString(sum[:]) != r.SHA256 {
			t.Errorf("%s/%s %dx%d: SHA-256 %x, NumPy %s (first %v, NumPy %v)", r.Module, r.Side, r.M, r.N, sum, r.SHA256, a[:min(len(a), 16)], r.First)
		}
	}
}

// TestBergsonMatrix: BergsonMatrix equals, bit for bit, Bergson's
// Rademacher matrices as NumPy computes them
// (scripts/numpy/bergson_projection.py over
// testdata/bergson/projections_request.json, committed as
// projections.json): seeds, and the SHA-256 of every matrix, for shapes
// whose entry counts are and are not multiples of 8 and 64.
func TestBergsonMatrix(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "bergson", "projections.json"))
	if err != nil {
		t.Fatal(err)
	}
	checkBergson(t, data)
}

// TestBergsonMatrixLive (GRADCOUPLE_NUMPY=1) runs the NumPy script now.
func TestBergsonMatrixLive(t *testing.T) {
	if os.Getenv("GRADCOUPLE_NUMPY") != "1" {
		t.Skip("set GRADCOUPLE_NUMPY=1 (needs /usr/bin/python3 with numpy)")
	}
	out, err := exec.Command("/usr/bin/python3", filepath.Join("..", "scripts", "numpy", "bergson_projection.py"),
		filepath.Join("..", "testdata", "bergson", "projections_request.json")).Output()
	if err != nil {
		t.Fatal(err)
	}
	checkBergson(t, out)
}

// TestBergsonScale: entries are +-1/sqrt(m) with both signs present, and
// the rows are nearly orthogonal (E[A A^T] = n/m I).
func TestBergsonScale(t *testing.T) {
	m, n := 8, 4096
	a := BergsonMatrix("model.layers.0.mlp.up_proj", "right", m, n)
	for r := range m {
		for s := range m {
			var dot float64
			for c := range n {
				dot += float64(a[r*n+c]) * float64(a[s*n+c])
			}
			want := 0.0
			if r == s {
				want = float64(n) / float64(m)
			}
			// Off the diagonal, dot ~ N(0, n/m^2): 5 sigma = 5*8/8.
			if d := dot - want; d > 5*8/8.0*8 || d < -5*8/8.0*8 {
				t.Errorf("row %d . row %d = %v, want about %v", r, s, dot, want)
			}
		}
	}
}
