package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// File names of a Hugging Face model directory's weights (transformers'
// SAFE_WEIGHTS_NAME and SAFE_WEIGHTS_INDEX_NAME).
const (
	SafetensorsName      = "model.safetensors"
	SafetensorsIndexName = "model.safetensors.index.json"
)

// MaxShardIndexBytes is the largest model.safetensors.index.json OpenShards
// reads (real ones are tens of kilobytes: one line per tensor).
const MaxShardIndexBytes = 64 << 20

// Shards is the weights of a Hugging Face model directory read as one
// set of tensors: model.safetensors, or the shards that
// model.safetensors.index.json lists. Tensors are read on demand; Close
// closes every file.
type Shards struct {
	dir    string
	files  []*File
	fileOf map[string]int // tensor name -> index into files
	names  []string       // sorted
}

// OpenShards opens the weights of the model directory dir as transformers'
// from_pretrained finds them: model.safetensors if it exists, else
// model.safetensors.index.json and the shards it names. A directory with
// neither is an error wrapping fs.ErrNotExist.
//
// The index must be a JSON object whose "weight_map" maps every tensor
// name to the shard that holds it ("metadata", with total_size, and any
// other key are ignored, as transformers ignores them). Every entry is
// checked: the shard is a plain file name in dir (no directory part) ending
// in .safetensors, its header is valid (ReadSafetensors) and holds the
// tensor; and every tensor of every shard named is in weight_map, mapped
// to that shard, so no tensor is missing and none is unaccounted for.
// Duplicate keys, an empty weight_map and a tensor held by two shards are
// errors. Every problem is a *ValidationError naming the file (and the
// tensor when there is one), wrapping ErrHeader, ErrMissingTensor or
// ErrUnexpectedTensor.
func OpenShards(dir string, opts ReadOptions) (*Shards, error) {
	single := filepath.Join(dir, SafetensorsName)
	if st, err := os.Stat(single); err == nil && !st.IsDir() {
		f, err := OpenFile(single, opts)
		if err != nil {
			return nil, err
		}
		s := &Shards{dir: dir, files: []*File{f}, fileOf: map[string]int{}}
		for _, n := range f.names {
			s.fileOf[n] = 0
		}
		s.names = slices.Clone(f.names)
		return s, nil
	}
	indexPath := filepath.Join(dir, SafetensorsIndexName)
	b, err := readLimited(indexPath, MaxShardIndexBytes)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: neither %s nor %s: %w", dir, SafetensorsName, SafetensorsIndexName, fs.ErrNotExist)
		}
		return nil, err
	}
	wm, err := ParseShardIndex(b, indexPath)
	if err != nil {
		return nil, err
	}
	return openIndexed(dir, indexPath, wm, opts)
}

// readLimited reads the file at path, refusing one larger than limit.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, &ValidationError{File: path, Msg: fmt.Sprintf("larger than %d bytes", limit), Err: ErrHeaderTooLarge}
	}
	return b, nil
}

// ParseShardIndex decodes a model.safetensors.index.json (file names it in
// errors) and returns its weight_map, tensor name -> shard file name. It
// checks the JSON (an object, no duplicate keys in weight_map, string
// values), that weight_map is not empty and that every shard name is a
// plain .safetensors file name; it does not open the shards.
func ParseShardIndex(data []byte, file string) (map[string]string, error) {
	bad := func(tensor, field, format string, args ...any) error {
		return &ValidationError{File: file, Tensor: tensor, Field: field, Msg: fmt.Sprintf(format, args...), Err: ErrHeader}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var wm map[string]string
	err := walkObject(dec, func(key string) error {
		if key != "weight_map" {
			var skip json.RawMessage
			return dec.Decode(&skip)
		}
		wm = map[string]string{}
		err := walkObject(dec, func(name string) error {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			shard, ok := tok.(string)
			if !ok {
				return bad(name, "weight_map", "value is not a file name string")
			}
			if err := checkShardName(shard); err != nil {
				return bad(name, "weight_map", "shard %q: %v", shard, err)
			}
			wm[name] = shard
			return nil
		}, func(name string) error {
			return bad(name, "weight_map", "duplicate tensor name")
		})
		if err == errNotObject {
			return bad("", "weight_map", "not an object")
		}
		return err
	}, func(key string) error {
		return bad("", key, "duplicate key")
	})
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return nil, err
		}
		if err == errNotObject {
			return nil, bad("", "", "not a JSON object")
		}
		return nil, bad("", "", "invalid JSON: %s", jsonMsg(err))
	}
	if rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, bad("", "", "data after the JSON object")
	}
	if wm == nil {
		return nil, bad("", "weight_map", "missing")
	}
	if len(wm) == 0 {
		return nil, bad("", "weight_map", "empty")
	}
	if _, ok := wm[""]; ok {
		return nil, bad("", "weight_map", "a tensor has an empty name")
	}
	return wm, nil
}

// checkShardName accepts a plain file name ending in .safetensors.
func checkShardName(s string) error {
	switch {
	case s == "" || s == "." || s == "..":
		return errors.New("not a file name")
	case strings.ContainsAny(s, `/\`) || strings.ContainsRune(s, 0) || filepath.Base(s) != s || filepath.IsAbs(s) || filepath.VolumeName(s) != "":
		return errors.New("has a directory part (shards must sit next to the index)")
	case !strings.HasSuffix(s, ".safetensors"):
		return errors.New("does not end in .safetensors")
	}
	return nil
}

// openIndexed opens the shards of weight map wm and cross-checks them.
func openIndexed(dir, indexPath string, wm map[string]string, opts ReadOptions) (_ *Shards, err error) {
	s := &Shards{dir: dir, fileOf: make(map[string]int, len(wm))}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	shardNames := make([]string, 0)
	seen := map[string]bool{}
	for _, shard := range wm {
		if !seen[shard] {
			seen[shard] = true
			shardNames = append(shardNames, shard)
		}
	}
	slices.Sort(shardNames)
	idx := map[string]int{}
	for i, shard := range shardNames {
		f, err := OpenFile(filepath.Join(dir, shard), opts)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, &ValidationError{File: indexPath, Field: "weight_map",
					Msg: fmt.Sprintf("shard %s does not exist", shard), Err: errors.Join(ErrMissingTensor, err)}
			}
			return nil, err
		}
		s.files = append(s.files, f)
		idx[shard] = i
	}
	for _, name := range sortedKeys(wm) {
		i := idx[wm[name]]
		if _, ok := s.files[i].infos[name]; !ok {
			return nil, &ValidationError{File: s.files[i].name, Tensor: name,
				Msg: fmt.Sprintf("%s maps the tensor to this shard, which does not hold it", SafetensorsIndexName), Err: ErrMissingTensor}
		}
		s.fileOf[name] = i
	}
	for i, f := range s.files {
		for _, name := range f.names {
			want, ok := wm[name]
			if !ok {
				return nil, &ValidationError{File: f.name, Tensor: name,
					Msg: fmt.Sprintf("the shard holds a tensor that %s does not list", SafetensorsIndexName), Err: ErrUnexpectedTensor}
			}
			if idx[want] != i {
				return nil, &ValidationError{File: f.name, Tensor: name,
					Msg: fmt.Sprintf("the tensor is also in this shard, but %s maps it to %s", SafetensorsIndexName, want), Err: ErrUnexpectedTensor}
			}
		}
	}
	s.names = sortedKeys(wm)
	return s, nil
}

// Close closes every file.
func (s *Shards) Close() error {
	var errs []error
	for _, f := range s.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// Names returns every tensor name, sorted byte-wise.
func (s *Shards) Names() []string { return slices.Clone(s.names) }

// Files returns the paths of the safetensors files, in the order opened
// (sorted by name).
func (s *Shards) Files() []string {
	out := make([]string, len(s.files))
	for i, f := range s.files {
		out[i] = f.name
	}
	return out
}

// lookup returns the file holding the named tensor.
func (s *Shards) lookup(name string) (*File, error) {
	i, ok := s.fileOf[name]
	if !ok {
		return nil, &ValidationError{File: s.dir, Tensor: name, Msg: "no such tensor in the model's weights", Err: ErrMissingTensor}
	}
	return s.files[i], nil
}

// Info returns the header entry of the named tensor and the file that holds
// it.
func (s *Shards) Info(name string) (TensorInfo, string, bool) {
	f, err := s.lookup(name)
	if err != nil {
		return TensorInfo{}, "", false
	}
	ti, _ := f.Info(name)
	return ti, f.name, true
}

// Float32 reads the named tensor as File.Float32 does.
func (s *Shards) Float32(name string) ([]float32, []int, error) {
	f, err := s.lookup(name)
	if err != nil {
		return nil, nil, err
	}
	return f.Float32(name)
}

// Float64 reads the named tensor as File.Float64 does.
func (s *Shards) Float64(name string) ([]float64, []int, error) {
	f, err := s.lookup(name)
	if err != nil {
		return nil, nil, err
	}
	return f.Float64(name)
}

// Float32Into reads the named tensor into dst as File.Float32Into does.
func (s *Shards) Float32Into(name string, dst []float32) error {
	f, err := s.lookup(name)
	if err != nil {
		return err
	}
	return f.Float32Into(name, dst)
}

// Float64Into reads the named tensor into dst as File.Float64Into does.
func (s *Shards) Float64Into(name string, dst []float64) error {
	f, err := s.lookup(name)
	if err != nil {
		return err
	}
	return f.Float64Into(name, dst)
}

// Tensor reads the named tensor's raw bytes.
func (s *Shards) Tensor(name string) (Tensor, error) {
	f, err := s.lookup(name)
	if err != nil {
		return Tensor{}, err
	}
	return f.Tensor(name)
}
