package checkpoint

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
)

// benchSizes are model sizes for the benchmarks: the tiny fixture, the
// actor's default size (DESIGN.md issue 4: d=64, 2 layers, 4 heads, context
// 256, a vocabulary of about a thousand words) and one of about 4x its
// parameters.
var benchSizes = []struct {
	name                     string
	vocab, pos, d, layers, h int
}{
	{"tiny", 16, 8, 8, 1, 2},
	{"default", 1024, 256, 64, 2, 4},
	{"4x", 1024, 256, 128, 4, 4},
}

func benchCheckpoint(v, p, d, l, h int) *Checkpoint {
	cfg := NewConfig(v, p, d, l, h)
	vocab := make([]string, v)
	for i := range vocab {
		vocab[i] = fmt.Sprintf("w%d", i)
	}
	return &Checkpoint{Config: cfg, Tensors: randomTensors(cfg, 1), Vocab: vocab}
}

func BenchmarkWriteSafetensors(b *testing.B) {
	for _, s := range benchSizes {
		c := benchCheckpoint(s.vocab, s.pos, s.d, s.layers, s.h)
		ts, meta := c.modelTensors()
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(4 * NumParams(c.Config))
			var buf bytes.Buffer
			for i := 0; i < b.N; i++ {
				buf.Reset()
				if err := WriteSafetensors(&buf, ts, meta); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadGPT2(b *testing.B) {
	for _, s := range benchSizes {
		c := benchCheckpoint(s.vocab, s.pos, s.d, s.layers, s.h)
		ts, meta := c.modelTensors()
		var buf bytes.Buffer
		if err := WriteSafetensors(&buf, ts, meta); err != nil {
			b.Fatal(err)
		}
		data := buf.Bytes()
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				f, err := ReadSafetensors(bytes.NewReader(data), int64(len(data)), "bench", ReadOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := ReadGPT2(f, c.Config); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSaveLoad(b *testing.B) {
	for _, s := range benchSizes {
		c := benchCheckpoint(s.vocab, s.pos, s.d, s.layers, s.h)
		b.Run(s.name, func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "ck")
			b.SetBytes(4 * NumParams(c.Config))
			for i := 0; i < b.N; i++ {
				if err := Save(dir, c); err != nil {
					b.Fatal(err)
				}
				if _, err := Load(dir); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
