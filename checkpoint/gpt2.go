package checkpoint

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// LMHeadName is the name of GPT2LMHeadModel's output projection. It is tied
// to transformer.wte.weight and not stored (see GPT2Shapes).
const LMHeadName = "lm_head.weight"

// gpt2Layout maps the tensors of a model file onto GPT2Shapes.
type gpt2Layout struct {
	specs  []TensorSpec
	file   map[string]string // canonical name -> name in the file
	lmHead string            // name of lm_head.weight in the file, "" if absent
}

// canonicalName maps a tensor name of a GPT-2 state dict to the name
// GPT2LMHeadModel uses: names of GPT2Model's state dict (as in the
// openai-community/gpt2 hub checkpoint: "wte.weight", "h.0.ln_1.weight")
// gain the "transformer." prefix.
func canonicalName(name string) string {
	if name == LMHeadName || strings.HasPrefix(name, "transformer.") {
		return name
	}
	return "transformer." + name
}

// attnBuffer reports whether canonical name c is a non-parameter attention
// buffer that older transformers versions saved for block i < layers:
// "transformer.h.{i}.attn.bias" (the causal mask) or
// "transformer.h.{i}.attn.masked_bias" (the mask fill value), and which.
func attnBuffer(c string, layers int) (kind string, ok bool) {
	rest, ok := strings.CutPrefix(c, "transformer.h.")
	if !ok {
		return "", false
	}
	num, kind, ok := strings.Cut(rest, ".")
	if !ok {
		return "", false
	}
	i, err := strconv.Atoi(num)
	if err != nil || strconv.Itoa(i) != num || i < 0 || i >= layers {
		return "", false
	}
	if kind != "attn.bias" && kind != "attn.masked_bias" {
		return "", false
	}
	return kind, true
}

// ValidateGPT2 checks the header of a model file against cfg: every tensor
// of GPT2Shapes(cfg) is present, with dtype F32 and exactly its shape, and
// nothing else is, with these exceptions, all of which readers ignore:
//
//   - Names without the "transformer." prefix, as GPT2Model's state dict (and
//     the openai-community/gpt2 hub checkpoint) has them, stand for the
//     prefixed names; a file may not hold both spellings of one tensor.
//   - lm_head.weight [V, d] F32, which transformers does not write with
//     safetensors (tied weights are saved once, under the embedding's name)
//     but other tools may: ReadGPT2 checks that it equals
//     transformer.wte.weight bit for bit.
//   - transformer.h.{i}.attn.bias [1, 1, P, P] (any dtype), the causal mask
//     that older transformers versions saved as a persistent buffer, and
//     transformer.h.{i}.attn.masked_bias [] (any dtype), the mask fill value
//     they saved too (the openai-community/gpt2 hub checkpoint has both);
//     GPT2LMHeadModel itself lists them as unexpected keys to ignore.
//
// The error is a *ValidationError naming the file and the tensor.
func ValidateGPT2(f *File, cfg Config) error {
	_, err := layoutGPT2(f, cfg)
	return err
}

func layoutGPT2(f *File, cfg Config) (*gpt2Layout, error) {
	if err := cfg.validate("config"); err != nil {
		return nil, err
	}
	bad := func(kind error, tensor, field, format string, args ...any) error {
		return &ValidationError{File: f.name, Tensor: tensor, Field: field, Msg: fmt.Sprintf(format, args...), Err: kind}
	}
	specs := GPT2Shapes(cfg)
	idx := specIndex(specs)
	l := &gpt2Layout{specs: specs, file: map[string]string{}}
	seen := map[string]string{} // canonical -> file name, buffers included
	for _, name := range f.names {
		ti := f.infos[name]
		c := canonicalName(name)
		if prev, ok := seen[c]; ok {
			return nil, bad(ErrUnexpectedTensor, name, "", "names the same tensor as %q", prev)
		}
		seen[c] = name
		if i, ok := idx[c]; ok {
			if ti.DType != F32 {
				return nil, bad(ErrDType, name, "dtype", "%s, want F32", ti.DType)
			}
			if !sameShape(ti.Shape, specs[i].Shape) {
				return nil, bad(ErrShape, name, "shape", "%v, want %v for the config (vocab_size %d, n_positions %d, n_embd %d, n_inner %d)",
					ti.Shape, specs[i].Shape, cfg.VocabSize, cfg.NPositions, cfg.NEmbd, cfg.Inner())
			}
			l.file[c] = name
			continue
		}
		if c == LMHeadName {
			if ti.DType != F32 {
				return nil, bad(ErrDType, name, "dtype", "%s, want F32", ti.DType)
			}
			if want := []int{cfg.VocabSize, cfg.NEmbd}; !sameShape(ti.Shape, want) {
				return nil, bad(ErrShape, name, "shape", "%v, want %v (tied to transformer.wte.weight)", ti.Shape, want)
			}
			l.lmHead = name
			continue
		}
		if kind, ok := attnBuffer(c, cfg.NLayer); ok {
			want := []int{}
			if kind == "attn.bias" {
				want = []int{1, 1, cfg.NPositions, cfg.NPositions}
			}
			if !sameShape(ti.Shape, want) {
				return nil, bad(ErrShape, name, "shape", "%v, want %v for the attention buffer", ti.Shape, want)
			}
			continue
		}
		return nil, bad(ErrUnexpectedTensor, name, "", "not a tensor of GPT2LMHeadModel with n_layer %d", cfg.NLayer)
	}
	for _, s := range specs {
		if _, ok := l.file[s.Name]; !ok {
			return nil, bad(ErrMissingTensor, s.Name, "", "missing (GPT2LMHeadModel with n_layer %d has %d parameter tensors)", cfg.NLayer, len(specs))
		}
	}
	return l, nil
}

// ReadGPT2 validates a model file against cfg (ValidateGPT2) and reads its
// parameters, keyed by the names of GPT2Shapes. It also checks the values:
// every weight is finite, and a stored lm_head.weight equals
// transformer.wte.weight bit for bit. Errors are *ValidationError values
// naming the file, the tensor and, for a bad value, the element.
func ReadGPT2(f *File, cfg Config) (map[string][]float32, error) {
	l, err := layoutGPT2(f, cfg)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]float32, len(l.specs))
	for _, s := range l.specs {
		name := l.file[s.Name]
		v, _, err := f.Float32(name)
		if err != nil {
			return nil, err
		}
		if i := firstNonFinite32(v); i >= 0 {
			return nil, &ValidationError{File: f.name, Tensor: name,
				Msg: fmt.Sprintf("element %s is %v; a checkpoint holds finite weights only", elementIndex(i, s.Shape), v[i]), Err: ErrValue}
		}
		out[s.Name] = v
	}
	if l.lmHead != "" {
		head, _, err := f.Float32(l.lmHead)
		if err != nil {
			return nil, err
		}
		wte := out["transformer.wte.weight"]
		for i := range head {
			if math.Float32bits(head[i]) != math.Float32bits(wte[i]) {
				return nil, &ValidationError{File: f.name, Tensor: l.lmHead,
					Msg: fmt.Sprintf("differs from transformer.wte.weight at element %s (%v vs %v); the LM head must be tied to the token embedding",
						elementIndex(i, []int{cfg.VocabSize, cfg.NEmbd}), head[i], wte[i]), Err: ErrValue}
			}
		}
	}
	return out, nil
}

// firstNonFinite32 returns the index of the first NaN or infinity, or -1.
func firstNonFinite32(v []float32) int {
	for i, x := range v {
		if x-x != 0 { // NaN or ±Inf
			return i
		}
	}
	return -1
}

// firstNonFinite64 is firstNonFinite32 for float64.
func firstNonFinite64(v []float64) int {
	for i, x := range v {
		if x-x != 0 {
			return i
		}
	}
	return -1
}

// elementIndex formats flat index i of a row-major tensor of the given shape
// as "[r, c]" (or "[i]" for a vector).
func elementIndex(i int, shape []int) string {
	if len(shape) == 0 {
		return "[]"
	}
	idx := make([]string, len(shape))
	for k := len(shape) - 1; k >= 0; k-- {
		if shape[k] == 0 {
			return "[" + strconv.Itoa(i) + "]"
		}
		idx[k] = strconv.Itoa(i % shape[k])
		i /= shape[k]
	}
	return "[" + strings.Join(idx, ", ") + "]"
}
