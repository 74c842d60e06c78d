package checkpoint_test

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gradcouple/gradcouple/checkpoint"
)

func ExampleWriteSafetensors() {
	var b bytes.Buffer
	err := checkpoint.WriteSafetensors(&b, []checkpoint.Tensor{
		checkpoint.F32Tensor("w", []int{2, 2}, []float32{1, 2, 3, 4}),
		checkpoint.F32Tensor("b", []int{2}, []float32{0.5, -0.5}),
	}, map[string]string{"format": "pt"})
	if err != nil {
		log.Fatal(err)
	}
	data := b.Bytes()
	fmt.Printf("header: %q\n", data[8:8+int(data[0])])

	f, err := checkpoint.ReadSafetensors(bytes.NewReader(data), int64(len(data)), "example.safetensors", checkpoint.ReadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	w, shape, err := f.Float32("w")
	fmt.Println(f.Names(), w, shape, err)
	// Output:
	// header: "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}   "
	// [b w] [1 2 3 4] [2 2] <nil>
}

func ExampleReadSafetensors_hostile() {
	// A header length of 1 TiB in a 10-byte file is refused before anything
	// is allocated for it.
	data := []byte{0, 0, 0, 0, 0, 1, 0, 0, '{', '}'}
	_, err := checkpoint.ReadSafetensors(bytes.NewReader(data), int64(len(data)), "evil.safetensors", checkpoint.ReadOptions{})
	fmt.Println(err)
	fmt.Println(errors.Is(err, checkpoint.ErrTruncated))
	// Output:
	// evil.safetensors: field header length: header length 1099511627776 exceeds the 2 bytes that follow it in the file (truncated or corrupt file)
	// true
}

func ExampleGPT2Shapes() {
	cfg := checkpoint.NewConfig(16, 8, 8, 1, 2) // V, P, d, layers, heads
	for _, s := range checkpoint.GPT2Shapes(cfg) {
		fmt.Println(s.Name, s.Shape)
	}
	fmt.Println(checkpoint.NumParams(cfg), "parameters")
	// Output:
	// transformer.wte.weight [16 8]
	// transformer.wpe.weight [8 8]
	// transformer.h.0.ln_1.weight [8]
	// transformer.h.0.ln_1.bias [8]
	// transformer.h.0.attn.c_attn.weight [8 24]
	// transformer.h.0.attn.c_attn.bias [24]
	// transformer.h.0.attn.c_proj.weight [8 8]
	// transformer.h.0.attn.c_proj.bias [8]
	// transformer.h.0.ln_2.weight [8]
	// transformer.h.0.ln_2.bias [8]
	// transformer.h.0.mlp.c_fc.weight [8 32]
	// transformer.h.0.mlp.c_fc.bias [32]
	// transformer.h.0.mlp.c_proj.weight [32 8]
	// transformer.h.0.mlp.c_proj.bias [8]
	// transformer.ln_f.weight [8]
	// transformer.ln_f.bias [8]
	// 1080 parameters
}

func ExampleSave() {
	root, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	cfg := checkpoint.NewConfig(4, 4, 4, 1, 1)
	cfg.EOSTokenID = 3
	c := &checkpoint.Checkpoint{
		Config:  cfg,
		Tensors: map[string][]float32{},
		Vocab:   []string{"go", "to", "cabinet", "<eos>"},
		Extra:   map[string]string{"iteration": "10"},
	}
	for _, s := range checkpoint.GPT2Shapes(cfg) {
		c.Tensors[s.Name] = make([]float32, s.Len()) // zeros, for the example
	}
	dir := filepath.Join(root, "checkpoints", "iter-000010")
	if err := checkpoint.Save(dir, c); err != nil {
		log.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		fmt.Println(e.Name())
	}

	back, err := checkpoint.Load(dir)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(back.Vocab, back.Extra["iteration"], len(back.Tensors), back.Optimizer == nil)
	// Output:
	// SHA256SUMS
	// config.json
	// model.safetensors
	// vocab.json
	// [go to cabinet <eos>] 10 16 true
}

func ExampleLoad_badInput() {
	root, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	dir := filepath.Join(root, "ck")

	// A valid checkpoint whose model file is then replaced by one in which
	// the token embedding has one row too many for config.json.
	cfg := checkpoint.NewConfig(4, 4, 4, 1, 1)
	c := &checkpoint.Checkpoint{Config: cfg, Tensors: map[string][]float32{}, Vocab: []string{"a", "b", "c", "d"}}
	var ts []checkpoint.Tensor
	for _, s := range checkpoint.GPT2Shapes(cfg) {
		c.Tensors[s.Name] = make([]float32, s.Len())
		if s.Name == "transformer.wte.weight" {
			s.Shape = []int{5, 4}
		}
		ts = append(ts, checkpoint.F32Tensor(s.Name, s.Shape, make([]float32, s.Len())))
	}
	if err := checkpoint.Save(dir, c); err != nil {
		log.Fatal(err)
	}
	if err := checkpoint.WriteSafetensorsFile(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		log.Fatal(err)
	}

	// The file no longer has the SHA-256 that Save recorded in SHA256SUMS.
	_, err = checkpoint.Load(dir)
	var ve *checkpoint.ValidationError
	if errors.As(err, &ve) {
		fmt.Println(filepath.Base(ve.File), ve.BadInput(), errors.Is(err, checkpoint.ErrChecksum))
	}
	// Without the manifest (a directory made elsewhere), the content is
	// checked against config.json.
	if err := os.Remove(filepath.Join(dir, checkpoint.ChecksumFileName)); err != nil {
		log.Fatal(err)
	}
	_, err = checkpoint.Load(dir)
	if errors.As(err, &ve) {
		fmt.Println(filepath.Base(ve.File), ve.Tensor, ve.Field, ve.BadInput(), errors.Is(err, checkpoint.ErrShape))
		fmt.Println(ve.Msg)
	}
	// Output:
	// model.safetensors true true
	// model.safetensors transformer.wte.weight shape true true
	// [5 4], want [4 4] for the config (vocab_size 4, n_positions 4, n_embd 4, n_inner 16)
}

// A .npy header as numpy.save writes it, padded to a multiple of 64 bytes,
// and parsed back.
func ExampleNPYHeaderBytes() {
	b, _ := checkpoint.NPYHeaderBytes(checkpoint.F16, []int{1777, 131456})
	h, _ := checkpoint.ParseNPYHeader(b, "grads.npy")
	fmt.Printf("%d bytes: %q\n", len(b), b[10:])
	fmt.Println(h.DType, h.Shape, h.DataOffset)
	// Output:
	// 128 bytes: "{'descr': '<f2', 'fortran_order': False, 'shape': (1777, 131456), }                                                  \n"
	// F16 [1777 131456] 128
}
