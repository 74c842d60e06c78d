package checkpoint

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gradcouple/gradcouple/internal/atomicfile"
)

// File names inside a checkpoint directory.
const (
	ConfigFileName    = "config.json"
	VocabFileName     = "vocab.json"
	ModelFileName     = "model.safetensors"
	OptimizerFileName = "optimizer.safetensors"
)

// Metadata keys of the safetensors files of a checkpoint.
const (
	// FormatKey is set to "pt" in model.safetensors: transformers refuses a
	// safetensors checkpoint whose "format" metadata is missing or not one
	// of "pt", "tf", "flax", "mlx".
	FormatKey = "format"
	// StepKey holds OptimizerState.Step (decimal) in optimizer.safetensors.
	StepKey = "step"
)

// Tensor name prefixes of the Adam moments in optimizer.safetensors:
// "exp_avg.transformer.wte.weight" is the first moment of
// transformer.wte.weight (PyTorch's Adam calls them exp_avg and exp_avg_sq).
const (
	FirstMomentPrefix  = "exp_avg."
	SecondMomentPrefix = "exp_avg_sq."
)

// Checkpoint is the content of a checkpoint directory (DESIGN.md §3.2):
//
//	config.json            Config, HF GPT2Config form
//	vocab.json             Vocab, HF form {"token": id}
//	model.safetensors      Tensors, F32, HF GPT-2 names; metadata "format": "pt" plus Extra
//	optimizer.safetensors  Optimizer, if not nil
//	SHA256SUMS             the SHA-256 of each file above (ChecksumFileName)
//
// A Python user loads the weights with
// transformers.GPT2LMHeadModel.from_pretrained(dir).
type Checkpoint struct {
	Config Config
	// Tensors maps every name of GPT2Shapes(Config) to its values, row-major
	// in the tensor's shape; no other names (the tied lm_head.weight is not
	// stored). Values must be finite.
	Tensors map[string][]float32
	// Vocab lists the tokens by id; its length is Config.VocabSize.
	Vocab []string
	// Optimizer is the optimizer state for resuming training, or nil.
	Optimizer *OptimizerState
	// Extra holds free-form facts (iteration, run name, ...), stored in the
	// metadata of model.safetensors; the key "format" is reserved.
	Extra map[string]string
}

// OptimizerState is Adam's state: the step count and, per parameter tensor,
// the first and second moments. It may cover a subset of the parameters
// (frozen tensors have none), but M and V cover the same ones.
type OptimizerState struct {
	// Step is the number of updates taken (Adam's t, for bias correction).
	Step int64
	// M and V map parameter names (of GPT2Shapes) to the first and second
	// moments, with the parameter's length. Values must be finite.
	M, V map[string][]float64
	// DType is the dtype the moments are stored in: F64 (the zero value
	// means F64), exact for resuming, or F32, half the size. Load reports
	// the dtype found.
	DType DType
	// Extra holds hyperparameters and the like, stored in the file's
	// metadata; the key "step" is reserved.
	Extra map[string]string
}

// LoadOptions tunes LoadWith. The zero value loads everything.
type LoadOptions struct {
	// SkipOptimizer leaves Checkpoint.Optimizer nil without reading
	// optimizer.safetensors (analyses need only the weights).
	SkipOptimizer bool
	// SkipVocab leaves Checkpoint.Vocab nil without reading vocab.json: a
	// GPT-2 directory written by Hugging Face (save_pretrained, the hub's
	// openai-community/gpt2) holds a byte-level BPE vocabulary, a map that
	// its tokenizer.json also carries, not gradcouple's word list.
	SkipVocab bool
}

// validate checks a checkpoint before it is written.
func (c *Checkpoint) validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	specs := GPT2Shapes(c.Config)
	idx := specIndex(specs)
	for _, name := range sortedKeys(c.Tensors) {
		if _, ok := idx[name]; !ok {
			if name == LMHeadName {
				return fmt.Errorf("tensor %s: tied to transformer.wte.weight and not stored; leave it out", name)
			}
			return fmt.Errorf("tensor %q: not a parameter of GPT2LMHeadModel with n_layer %d", name, c.Config.NLayer)
		}
	}
	for _, s := range specs {
		v, ok := c.Tensors[s.Name]
		if !ok {
			return fmt.Errorf("tensor %s: missing", s.Name)
		}
		if len(v) != s.Len() {
			return fmt.Errorf("tensor %s: %d values, shape %v needs %d", s.Name, len(v), s.Shape, s.Len())
		}
		if i := firstNonFinite32(v); i >= 0 {
			return fmt.Errorf("tensor %s: element %s is %v; a checkpoint holds finite weights only", s.Name, elementIndex(i, s.Shape), v[i])
		}
	}
	if len(c.Vocab) != c.Config.VocabSize {
		return fmt.Errorf("vocabulary: %d tokens, config vocab_size is %d", len(c.Vocab), c.Config.VocabSize)
	}
	if err := checkMeta(c.Extra, FormatKey); err != nil {
		return fmt.Errorf("extra: %w", err)
	}
	if o := c.Optimizer; o != nil {
		if err := o.validate(specs, idx); err != nil {
			return fmt.Errorf("optimizer: %w", err)
		}
	}
	return nil
}

// checkMeta checks free-form metadata: valid UTF-8 and not the reserved key.
func checkMeta(m map[string]string, reserved string) error {
	for k, v := range m {
		if k == reserved {
			return fmt.Errorf("key %q is reserved", k)
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("key %q: not valid UTF-8", k)
		}
	}
	return nil
}

func (o *OptimizerState) validate(specs []TensorSpec, idx map[string]int) error {
	if o.Step < 0 {
		return fmt.Errorf("step %d is negative", o.Step)
	}
	switch o.DType {
	case "", F64, F32:
	default:
		return fmt.Errorf("dtype %s: moments are stored as F64 or F32", o.DType)
	}
	if err := checkMeta(o.Extra, StepKey); err != nil {
		return fmt.Errorf("extra: %w", err)
	}
	for _, pair := range []struct {
		what        string
		a, b        map[string][]float64
		first, last string
	}{{"M", o.M, o.V, "first", "second"}, {"V", o.V, o.M, "second", "first"}} {
		for _, name := range sortedKeys(pair.a) {
			i, ok := idx[name]
			if !ok {
				return fmt.Errorf("%s: %q is not a parameter", pair.what, name)
			}
			if _, ok := pair.b[name]; !ok {
				return fmt.Errorf("tensor %s has a %s moment but no %s moment", name, pair.first, pair.last)
			}
			v := pair.a[name]
			if len(v) != specs[i].Len() {
				return fmt.Errorf("%s: tensor %s: %d values, shape %v needs %d", pair.what, name, len(v), specs[i].Shape, specs[i].Len())
			}
			if j := firstNonFinite64(v); j >= 0 {
				return fmt.Errorf("%s: tensor %s: element %s is %v", pair.what, name, elementIndex(j, specs[i].Shape), v[j])
			}
		}
	}
	return nil
}

// Save writes c as the checkpoint directory dir, atomically: the directory
// appears complete or not at all. The files are written (each through
// internal/atomicfile, synced) into a new hidden sibling directory
// ".BASE.tmp-XXXX", which is then renamed to dir; the parent directory is
// created if needed. If dir already exists it is replaced: it must be a
// directory that is empty or holds a config.json or model.safetensors
// (Save refuses to replace anything else), it is renamed to a hidden
// ".BASE.old-XXXX", the new directory is renamed into place, and the old one
// is removed. Between the two renames, which follow each other at once, dir
// does not exist; a crash exactly there leaves the previous checkpoint
// complete under the ".old" name. Readers that list checkpoints should skip
// names starting with a dot.
//
// The files are followed by the manifest SHA256SUMS (ChecksumFileName), the
// SHA-256 of the bytes written, which Load checks.
//
// Save validates c first and writes nothing if it is not a checkpoint Load
// would accept: the config valid, exactly the tensors of GPT2Shapes with
// their lengths, finite values, len(Vocab) == VocabSize, the optimizer state
// consistent.
func Save(dir string, c *Checkpoint) error {
	fail := func(err error) error { return fmt.Errorf("saving checkpoint %s: %w", dir, err) }
	if c == nil {
		return fail(errors.New("nil checkpoint"))
	}
	if err := c.validate(); err != nil {
		return fail(err)
	}
	dir = filepath.Clean(dir)
	cfgJSON, err := MarshalConfig(c.Config)
	if err != nil {
		return fail(err)
	}
	vocabJSON, err := MarshalVocab(c.Vocab)
	if err != nil {
		return fail(err)
	}
	model, modelMeta := c.modelTensors()
	var opt []Tensor
	var optMeta map[string]string
	if c.Optimizer != nil {
		opt, optMeta = c.Optimizer.tensors(GPT2Shapes(c.Config))
	}

	files := []struct {
		name  string
		write func(w io.Writer) error
	}{
		{ConfigFileName, func(w io.Writer) error { _, err := w.Write(cfgJSON); return err }},
		{VocabFileName, func(w io.Writer) error { _, err := w.Write(vocabJSON); return err }},
		{ModelFileName, func(w io.Writer) error { return WriteSafetensors(w, model, modelMeta) }},
	}
	if opt != nil {
		files = append(files, struct {
			name  string
			write func(w io.Writer) error
		}{OptimizerFileName, func(w io.Writer) error { return WriteSafetensors(w, opt, optMeta) }})
	}
	kind := dirKind{name: "checkpoint directory", markers: []string{ConfigFileName, ModelFileName}}
	err = kind.writeDir(dir, func(tmp string) error {
		sums := checksums{}
		for _, f := range files {
			h := sha256.New()
			err := atomicfile.Write(filepath.Join(tmp, f.name), func(w io.Writer) error {
				bw := bufio.NewWriterSize(hashingWriter{w, h}, 1<<20)
				if err := f.write(bw); err != nil {
					return err
				}
				return bw.Flush()
			})
			if err != nil {
				return err
			}
			sums[f.name] = [sha256.Size]byte(h.Sum(nil))
		}
		// Last: the manifest of the bytes written.
		return atomicfile.WriteBytes(filepath.Join(tmp, ChecksumFileName), sums.marshal())
	})
	if err != nil {
		return fail(err)
	}
	return nil
}

// modelTensors returns the tensors and metadata of model.safetensors.
func (c *Checkpoint) modelTensors() ([]Tensor, map[string]string) {
	specs := GPT2Shapes(c.Config)
	ts := make([]Tensor, len(specs))
	for i, s := range specs {
		ts[i] = F32Tensor(s.Name, s.Shape, c.Tensors[s.Name])
	}
	meta := map[string]string{FormatKey: "pt"}
	for k, v := range c.Extra {
		meta[k] = v
	}
	return ts, meta
}

// tensors returns the tensors and metadata of optimizer.safetensors.
func (o *OptimizerState) tensors(specs []TensorSpec) ([]Tensor, map[string]string) {
	var ts []Tensor
	shapes := make(map[string][]int, len(specs))
	for _, s := range specs {
		shapes[s.Name] = s.Shape
	}
	for _, pair := range []struct {
		prefix string
		m      map[string][]float64
	}{{FirstMomentPrefix, o.M}, {SecondMomentPrefix, o.V}} {
		for _, name := range sortedKeys(pair.m) {
			v := pair.m[name]
			shape := shapes[name] // validated: name is a parameter
			if o.DType == F32 {
				f := make([]float32, len(v))
				for i, x := range v {
					f[i] = float32(x)
				}
				ts = append(ts, F32Tensor(pair.prefix+name, shape, f))
			} else {
				ts = append(ts, F64Tensor(pair.prefix+name, shape, v))
			}
		}
	}
	meta := map[string]string{StepKey: strconv.FormatInt(o.Step, 10)}
	for k, v := range o.Extra {
		meta[k] = v
	}
	return ts, meta
}

// Load reads and validates the checkpoint directory dir, optimizer state
// included; see LoadWith.
func Load(dir string) (*Checkpoint, error) { return LoadWith(dir, LoadOptions{}) }

// LoadWith reads the checkpoint directory dir and validates everything
// against its config: config.json (ParseConfig), vocab.json (ParseVocab,
// with exactly vocab_size tokens), model.safetensors (ReadGPT2: every
// tensor present with its shape, F32, finite) and, unless
// opts.SkipOptimizer, optimizer.safetensors if present (moments of known
// parameters with their shapes, F32 or F64, finite, M and V covering the
// same tensors, a "step" in the metadata). Before reading them it checks
// the files it reads against the directory's SHA256SUMS, when there is one:
// a file whose SHA-256 differs, one the manifest does not list, or an
// optimizer.safetensors it lists that is missing is a *ValidationError
// naming the file and wrapping ErrChecksum. A directory without a manifest
// (written before Save wrote one, or made elsewhere) is read unchecked. Bad
// content gives a *ValidationError naming the file (its path) and the
// tensor or field; a missing directory or required file gives an error
// matching fs.ErrNotExist.
func LoadWith(dir string, opts LoadOptions) (*Checkpoint, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("loading checkpoint: %w", err)
	}
	if !st.IsDir() {
		return nil, &ValidationError{File: dir, Msg: "not a checkpoint directory"}
	}
	path := func(name string) string { return filepath.Join(dir, name) }
	var optional []string
	if !opts.SkipOptimizer {
		optional = []string{OptimizerFileName}
	}
	required := []string{ConfigFileName, VocabFileName, ModelFileName}
	if opts.SkipVocab {
		required = []string{ConfigFileName, ModelFileName}
	}
	if _, err := verifyChecksums(dir, required, optional); err != nil {
		return nil, err
	}

	var cfg Config
	if err := readWith(path(ConfigFileName), func(r io.Reader, name string) (err error) {
		cfg, err = ReadConfig(r, name)
		return err
	}); err != nil {
		return nil, err
	}
	var vocab []string
	if !opts.SkipVocab {
		if err := readWith(path(VocabFileName), func(r io.Reader, name string) (err error) {
			vocab, err = ReadVocab(r, name)
			return err
		}); err != nil {
			return nil, err
		}
	}
	if !opts.SkipVocab && len(vocab) != cfg.VocabSize {
		return nil, &ValidationError{File: path(VocabFileName),
			Msg: fmt.Sprintf("%d tokens, but %s has vocab_size %d", len(vocab), ConfigFileName, cfg.VocabSize), Err: ErrVocab}
	}

	mf, err := OpenFile(path(ModelFileName), ReadOptions{})
	if err != nil {
		return nil, err
	}
	defer mf.Close()
	tensors, err := ReadGPT2(mf, cfg)
	if err != nil {
		return nil, err
	}
	var extra map[string]string
	for k, v := range mf.Metadata() {
		if k == FormatKey {
			continue
		}
		if extra == nil {
			extra = map[string]string{}
		}
		extra[k] = v
	}
	c := &Checkpoint{Config: cfg, Tensors: tensors, Vocab: vocab, Extra: extra}

	if !opts.SkipOptimizer {
		of, err := OpenFile(path(OptimizerFileName), ReadOptions{})
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, err
		default:
			defer of.Close()
			c.Optimizer, err = readOptimizer(of, cfg)
			if err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// readWith opens path and calls read with the file.
func readWith(path string, read func(r io.Reader, name string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("loading checkpoint: %w", err)
	}
	defer f.Close()
	return read(f, path)
}

// readOptimizer reads and validates optimizer.safetensors.
func readOptimizer(f *File, cfg Config) (*OptimizerState, error) {
	bad := func(kind error, tensor, field, format string, args ...any) error {
		return &ValidationError{File: f.name, Tensor: tensor, Field: field, Msg: fmt.Sprintf(format, args...), Err: kind}
	}
	meta := f.Metadata()
	s, ok := meta[StepKey]
	if !ok {
		return nil, bad(ErrHeader, "", metadataKey, "no %q entry", StepKey)
	}
	step, err := strconv.ParseInt(s, 10, 64)
	if err != nil || step < 0 {
		return nil, bad(ErrHeader, "", metadataKey, "%q is %q, not a non-negative integer", StepKey, truncate(s))
	}
	o := &OptimizerState{Step: step, M: map[string][]float64{}, V: map[string][]float64{}}
	delete(meta, StepKey)
	if len(meta) > 0 {
		o.Extra = meta
	}
	specs := GPT2Shapes(cfg)
	idx := specIndex(specs)
	for _, name := range f.names {
		ti := f.infos[name]
		var param string
		var dst map[string][]float64
		if p, ok := strings.CutPrefix(name, SecondMomentPrefix); ok {
			param, dst = p, o.V
		} else if p, ok := strings.CutPrefix(name, FirstMomentPrefix); ok {
			param, dst = p, o.M
		} else {
			return nil, bad(ErrUnexpectedTensor, name, "", "not an Adam moment (names start with %q or %q)", FirstMomentPrefix, SecondMomentPrefix)
		}
		i, ok := idx[param]
		if !ok {
			return nil, bad(ErrUnexpectedTensor, name, "", "moment of %q, which is not a parameter of the model", param)
		}
		if ti.DType != F32 && ti.DType != F64 {
			return nil, bad(ErrDType, name, "dtype", "%s, want F64 or F32", ti.DType)
		}
		if o.DType == "" {
			o.DType = ti.DType
		} else if o.DType != ti.DType {
			return nil, bad(ErrDType, name, "dtype", "%s, but other moments are %s", ti.DType, o.DType)
		}
		if !sameShape(ti.Shape, specs[i].Shape) {
			return nil, bad(ErrShape, name, "shape", "%v, want %v (the shape of %s)", ti.Shape, specs[i].Shape, param)
		}
		v, _, err := f.Float64(name)
		if err != nil {
			return nil, err
		}
		if j := firstNonFinite64(v); j >= 0 {
			return nil, bad(ErrValue, name, "", "element %s is %v", elementIndex(j, ti.Shape), v[j])
		}
		dst[param] = v
	}
	for _, pair := range []struct {
		a, b        map[string][]float64
		have, lacks string
	}{{o.M, o.V, FirstMomentPrefix, SecondMomentPrefix}, {o.V, o.M, SecondMomentPrefix, FirstMomentPrefix}} {
		for _, name := range sortedKeys(pair.a) {
			if _, ok := pair.b[name]; !ok {
				return nil, bad(ErrMissingTensor, pair.lacks+name, "", "missing, but %s is present", pair.have+name)
			}
		}
	}
	if o.DType == "" {
		o.DType = F64
	}
	return o, nil
}
