package checkpoint

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/internal/atomicfile"
)

// EleutherAI Bergson gradient stores (github.com/EleutherAI/bergson,
// bergson/data.py: create_index and load_gradients). A store is a directory
// with
//
//	gradients.bin  num_grads rows, no header: a C-order (num_grads, sum of
//	               sizes) matrix of base_dtype, each row the concatenation of
//	               the modules' gradients of one item, in grad_sizes order
//	info.json      {"attribute_tokens": false,
//	                "num_items": N,
//	                "num_grads": N,
//	                "grad_sizes": {module: size, ...},
//	                "base_dtype": "float16"}
//
// That is the form create_index has written since July 2026 (bergson
// v0.11, "removed structured-dtype layout"). Earlier releases wrote no
// attribute_tokens or num_items but a NumPy structured dtype
//
//	"dtype": {"names": [module, ...], "formats": ["(size,)<f2", ...],
//	          "itemsize": bytes per record}
//
// describing the same bytes as num_grads records of one field per module
// (itemsize may exceed the fields when a record is padded), and some only
// that, without base_dtype. Both forms are read: the module order and sizes
// come from dtype when present, from grad_sizes (in the file's key order)
// otherwise, and the element type from base_dtype or the formats, which must
// agree when both are given. base_dtype is numpy's dtype name in recent
// releases ("float16", "float32", "bfloat16" through ml_dtypes) and its str
// in older ones ("<f2"); the formats always carry the str, which for
// ml_dtypes' bfloat16 is "<V2". Sharded runs (bergson/distributed:
// run_path/shards/00000-of-00064/...) are read as the concatenation of their
// published shards. Per-token stores (create_token_index: "attribute_tokens":
// true with offsets.npy; "token_attributions": true and token_gradients.bin
// in older releases) hold one gradient per token, not per sample, and are
// refused.

// Bergson file names.
const (
	BergsonInfoFile      = "info.json"
	BergsonGradientsFile = "gradients.bin"
	bergsonShardsDir     = "shards"
)

// MaxBergsonInfoBytes bounds the size of an info.json that ParseBergsonInfo
// reads: a model with ten thousand modules needs well under 1 MB.
const MaxBergsonInfoBytes = 16 << 20

// GradModule is a named range of columns of a gradient row: columns
// [Offset, Offset+Size).
type GradModule struct {
	Name   string
	Offset int
	Size   int
}

// BergsonInfo is a parsed info.json.
type BergsonInfo struct {
	NumGrads int
	// Modules are the fields of a record in order, with their columns.
	Modules []GradModule
	// DType is the element type (F16, F32, F64 or BF16).
	DType DType
	// ItemSize is the bytes of one record; Cols*DType size, or more when
	// the record has trailing padding.
	ItemSize int
	// BaseDType is info.json's base_dtype as written.
	BaseDType string
}

// Cols is the length of a row: the sum of the module sizes.
func (b BergsonInfo) Cols() int {
	if len(b.Modules) == 0 {
		return 0
	}
	m := b.Modules[len(b.Modules)-1]
	return m.Offset + m.Size
}

// bergsonDType maps a numpy dtype str or name to a DType.
func bergsonDType(s string) (DType, error) {
	switch s {
	case "<f2", "=f2", "float16":
		return F16, nil
	case "<f4", "=f4", "float32":
		return F32, nil
	case "<f8", "=f8", "float64":
		return F64, nil
	case "<V2", "|V2", "bfloat16":
		return BF16, nil // ml_dtypes' bfloat16, as bergson's tensor_to_numpy reads a V2 void
	}
	return "", fmt.Errorf("dtype %q is not a little-endian float16, float32, float64 or bfloat16", clipText(s, 40))
}

var bergsonFormat = regexp.MustCompile(`^\((\d{1,15}),?\)([<=|][fV]\d)$`)

// ParseBergsonInfo parses and checks a Bergson info.json of either form
// (name is the file name used in errors): num_grads a non-negative integer
// (num_items, when present, equal to it); not a per-token store; the modules
// from dtype (names and formats of equal length, at least one module, each
// format "(size,)" followed by one shared base dtype that agrees with
// base_dtype, and an itemsize at least the record's bytes) or, without
// dtype, from grad_sizes (at least one module, in the file's order) with
// base_dtype required; grad_sizes, when present with dtype, giving each
// module its format's size. Every problem is a *ValidationError naming the
// file and the field; no input makes it panic.
func ParseBergsonInfo(data []byte, name string) (BergsonInfo, error) {
	var info BergsonInfo
	bad := func(field string, kind error, format string, args ...any) (BergsonInfo, error) {
		return BergsonInfo{}, &ValidationError{File: name, Field: field, Msg: fmt.Sprintf(format, args...), Err: kind}
	}
	if len(data) > MaxBergsonInfoBytes {
		return bad("", ErrHeaderTooLarge, "%d bytes exceeds the limit of %d", len(data), MaxBergsonInfoBytes)
	}
	var raw struct {
		NumGrads *json.Number `json:"num_grads"`
		NumItems *json.Number `json:"num_items"`
		DType    *struct {
			Names    []string     `json:"names"`
			Formats  []string     `json:"formats"`
			ItemSize *json.Number `json:"itemsize"`
		} `json:"dtype"`
		GradSizes   json.RawMessage `json:"grad_sizes"`
		BaseDType   string          `json:"base_dtype"`
		TokenAttrib bool            `json:"token_attributions"`
		AttribToks  any             `json:"attribute_tokens"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return bad("", ErrHeader, "not a Bergson info.json: %v", err)
	}
	if dec.More() {
		return bad("", ErrHeader, "unexpected data after the JSON object")
	}
	switch raw.AttribToks {
	case nil, false:
	case true:
		return bad("attribute_tokens", ErrHeader, "true: a per-token store (create_token_index, rows located by offsets.npy) holds one gradient per token, not per sample; build the index without --attribute_tokens")
	default:
		return bad("attribute_tokens", ErrHeader, "%v is not true or false", raw.AttribToks)
	}
	if raw.TokenAttrib {
		return bad("token_attributions", ErrHeader, "true: a per-token store (token_gradients.bin) holds one gradient per token, not per sample; build the index without --attribute_tokens")
	}
	count := func(field string, n *json.Number) (int, error) {
		if n == nil {
			_, err := bad(field, ErrHeader, "missing")
			return 0, err
		}
		v, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil || v < 0 {
			_, err := bad(field, ErrShape, "%q is not a non-negative integer in range", clipText(n.String(), 40))
			return 0, err
		}
		return int(v), nil
	}
	var err error
	if info.NumGrads, err = count("num_grads", raw.NumGrads); err != nil {
		return BergsonInfo{}, err
	}
	if raw.NumItems != nil {
		items, err := count("num_items", raw.NumItems)
		if err != nil {
			return BergsonInfo{}, err
		}
		if items != info.NumGrads {
			return bad("num_items", ErrShape, "%d items but %d gradients: not one gradient per item (a per-token store?)", items, info.NumGrads)
		}
	}
	sizes, err := orderedSizes(raw.GradSizes)
	if err != nil {
		return bad("grad_sizes", ErrShape, "%v", err)
	}
	if raw.DType == nil {
		return parseBergsonFlat(info, sizes, raw.BaseDType, bad)
	}
	d := raw.DType
	if len(d.Names) == 0 || len(d.Names) != len(d.Formats) {
		return bad("dtype", ErrHeader, "%d names and %d formats; want the same number, at least one", len(d.Names), len(d.Formats))
	}
	seen := make(map[string]bool, len(d.Names))
	off := 0
	for i, f := range d.Formats {
		n := d.Names[i]
		if n == "" || seen[n] {
			return bad("dtype.names", ErrHeader, "module name %q is empty or repeated", clipText(n, 80))
		}
		seen[n] = true
		m := bergsonFormat.FindStringSubmatch(f)
		if m == nil {
			return bad("dtype.formats", ErrDType, "format %q of module %q: want \"(size,)<f2\" and the like", clipText(f, 80), clipText(n, 80))
		}
		size, _ := strconv.Atoi(m[1])
		dt, err := bergsonDType(m[2])
		if err != nil {
			return bad("dtype.formats", ErrDType, "module %q: %v", clipText(n, 80), err)
		}
		if i == 0 {
			info.DType = dt
		} else if dt != info.DType {
			return bad("dtype.formats", ErrDType, "module %q has %s, module %q %s; a gradient row needs one dtype", clipText(n, 80), m[2], d.Names[0], d.Formats[0])
		}
		if size > math.MaxInt32 || off > math.MaxInt64/2-size {
			return bad("dtype.formats", ErrShape, "module sizes overflow")
		}
		info.Modules = append(info.Modules, GradModule{Name: n, Offset: off, Size: size})
		off += size
	}
	if raw.BaseDType != "" {
		bt, err := bergsonDType(raw.BaseDType)
		if err != nil {
			return bad("base_dtype", ErrDType, "%v", err)
		}
		if bt != info.DType {
			return bad("base_dtype", ErrDType, "%q disagrees with the formats' %s", clipText(raw.BaseDType, 40), info.DType)
		}
	}
	info.BaseDType = raw.BaseDType
	if info.ItemSize, err = count("dtype.itemsize", d.ItemSize); err != nil {
		return BergsonInfo{}, err
	}
	elem := info.DType.Bits() / 8
	if int64(off) > math.MaxInt64/int64(elem) || int64(info.ItemSize) < int64(off)*int64(elem) {
		return bad("dtype.itemsize", ErrShape, "itemsize %d is smaller than the %d bytes of the modules' %d %s values", info.ItemSize, int64(off)*int64(elem), off, info.DType)
	}
	if info.NumGrads > 0 && int64(info.ItemSize) > math.MaxInt64/int64(info.NumGrads) {
		return bad("num_grads", ErrShape, "num_grads x itemsize overflows")
	}
	for _, kv := range sizes {
		if !seen[kv.name] {
			return bad("grad_sizes", ErrShape, "module %q is not in dtype.names", clipText(kv.name, 80))
		}
		i := slices.IndexFunc(info.Modules, func(m GradModule) bool { return m.Name == kv.name })
		if kv.size != int64(info.Modules[i].Size) {
			return bad("grad_sizes", ErrShape, "module %q: size %d, its format says %d", clipText(kv.name, 80), kv.size, info.Modules[i].Size)
		}
	}
	if sizes != nil && len(sizes) != len(info.Modules) {
		return bad("grad_sizes", ErrShape, "%d modules, dtype.names has %d", len(sizes), len(info.Modules))
	}
	return info, nil
}

// parseBergsonFlat completes info from the current form of info.json: the
// modules from grad_sizes in order, the dtype from base_dtype, records
// without padding.
func parseBergsonFlat(info BergsonInfo, sizes []moduleSize, base string, bad func(string, error, string, ...any) (BergsonInfo, error)) (BergsonInfo, error) {
	if len(sizes) == 0 {
		return bad("grad_sizes", ErrHeader, "missing or empty, and no dtype: info.json needs grad_sizes {module: size} (bergson's create_index writes it, with base_dtype; releases before July 2026 wrote a structured dtype instead)")
	}
	if base == "" {
		return bad("base_dtype", ErrHeader, "missing, and no structured dtype: the element type of gradients.bin is unknown (bergson's create_index writes base_dtype, e.g. \"float16\")")
	}
	dt, err := bergsonDType(base)
	if err != nil {
		return bad("base_dtype", ErrDType, "%v", err)
	}
	info.DType, info.BaseDType = dt, base
	off := 0
	for _, kv := range sizes {
		if kv.name == "" {
			return bad("grad_sizes", ErrHeader, "empty module name")
		}
		if kv.size > math.MaxInt32 || off > math.MaxInt64/2-int(kv.size) {
			return bad("grad_sizes", ErrShape, "module sizes overflow")
		}
		info.Modules = append(info.Modules, GradModule{Name: kv.name, Offset: off, Size: int(kv.size)})
		off += int(kv.size)
	}
	elem := dt.Bits() / 8
	if int64(off) > math.MaxInt64/int64(elem) {
		return bad("grad_sizes", ErrShape, "module sizes overflow")
	}
	info.ItemSize = off * elem
	if info.NumGrads > 0 && int64(info.ItemSize) > math.MaxInt64/int64(info.NumGrads) {
		return bad("num_grads", ErrShape, "num_grads x row bytes overflows")
	}
	return info, nil
}

// moduleSize is one entry of grad_sizes.
type moduleSize struct {
	name string
	size int64
}

// orderedSizes parses grad_sizes, a JSON object of non-negative integers,
// keeping the keys in the file's order (Python dicts keep insertion order,
// and bergson lays the columns out in it); nil when raw is empty or null.
func orderedSizes(raw json.RawMessage) ([]moduleSize, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	out := []moduleSize{}
	err := walkObject(dec, func(key string) error {
		var n json.Number
		if err := dec.Decode(&n); err != nil {
			return fmt.Errorf("module %q: %v", clipText(key, 80), err)
		}
		v, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil || v < 0 {
			return fmt.Errorf("module %q: size %q is not a non-negative integer in range", clipText(key, 80), clipText(n.String(), 40))
		}
		out = append(out, moduleSize{key, v})
		return nil
	}, func(key string) error {
		return fmt.Errorf("module %q appears twice", clipText(key, 80))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MarshalBergsonInfo writes info as Bergson's create_index does
// (json.dump(..., indent=2)): attribute_tokens false, num_items, num_grads,
// grad_sizes and base_dtype as numpy's name ("float32"), and also the
// structured dtype of earlier releases, so that Bergson before and after
// July 2026 both read the store.
func MarshalBergsonInfo(info BergsonInfo) ([]byte, error) {
	var str, nm string
	switch info.DType {
	case F16:
		str, nm = "<f2", "float16"
	case F32:
		str, nm = "<f4", "float32"
	case F64:
		str, nm = "<f8", "float64"
	case BF16:
		str, nm = "<V2", "bfloat16"
	default:
		return nil, fmt.Errorf("bergson: cannot write dtype %s", info.DType)
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var b strings.Builder
	fmt.Fprintf(&b, "{\n  \"attribute_tokens\": false,\n  \"num_items\": %d,\n  \"num_grads\": %d,\n  \"dtype\": {\n    \"names\": [\n", info.NumGrads, info.NumGrads)
	for i, m := range info.Modules {
		b.WriteString("      " + q(m.Name) + sep(i, len(info.Modules)))
	}
	b.WriteString("    ],\n    \"formats\": [\n")
	for i, m := range info.Modules {
		b.WriteString("      " + q(fmt.Sprintf("(%d,)%s", m.Size, str)) + sep(i, len(info.Modules)))
	}
	itemsize := info.ItemSize
	if itemsize == 0 {
		itemsize = info.Cols() * info.DType.Bits() / 8
	}
	fmt.Fprintf(&b, "    ],\n    \"itemsize\": %d\n  },\n  \"grad_sizes\": {\n", itemsize)
	for i, m := range info.Modules {
		fmt.Fprintf(&b, "    %s: %d%s", q(m.Name), m.Size, sep(i, len(info.Modules)))
	}
	fmt.Fprintf(&b, "  },\n  \"base_dtype\": %s\n}", q(nm))
	return []byte(b.String()), nil
}

func sep(i, n int) string {
	if i < n-1 {
		return ",\n"
	}
	return "\n"
}

// WriteBergsonDir writes a Bergson store to dir atomically, as Save writes a
// checkpoint directory: info.json from info, gradients.bin from fill (which
// must write exactly NumGrads records of the info's itemsize), and each
// extra file, all into a hidden temporary directory that is then synced and
// renamed to dir. An existing dir is replaced only if it is empty or holds a
// Bergson store (info.json); on an error dir is left as it was, unless the
// new store is already in place (syncing the parent directory or removing
// the replaced store failed).
func WriteBergsonDir(dir string, info BergsonInfo, fill func(w io.Writer) error, extra map[string]func(w io.Writer) error) error {
	fail := func(err error) error { return fmt.Errorf("writing Bergson store %s: %w", dir, err) }
	infoJSON, err := MarshalBergsonInfo(info)
	if err != nil {
		return fail(err)
	}
	want := int64(info.NumGrads) * int64(info.Cols()*info.DType.Bits()/8)
	if info.ItemSize != 0 && info.ItemSize != info.Cols()*info.DType.Bits()/8 {
		return fail(errors.New("padded records are not written"))
	}
	dir = filepath.Clean(dir)
	kind := dirKind{name: "Bergson store", markers: []string{BergsonInfoFile}}
	err = kind.writeDir(dir, func(tmp string) error {
		err := atomicfile.Write(filepath.Join(tmp, BergsonGradientsFile), func(w io.Writer) error {
			bw := bufio.NewWriterSize(w, 1<<20)
			cw := &countingWriter{w: bw}
			if err := fill(cw); err != nil {
				return err
			}
			if cw.n != want {
				return fmt.Errorf("%d bytes of gradients written, %d records of %d columns need %d", cw.n, info.NumGrads, info.Cols(), want)
			}
			return bw.Flush()
		})
		if err != nil {
			return err
		}
		if err := atomicfile.WriteBytes(filepath.Join(tmp, BergsonInfoFile), infoJSON); err != nil {
			return err
		}
		names := make([]string, 0, len(extra))
		for n := range extra {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			if err := atomicfile.Write(filepath.Join(tmp, n), extra[n]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// bergsonPart is one gradients.bin of a store: rows [Row, Row+Info.NumGrads).
type bergsonPart struct {
	dir  string
	info BergsonInfo
	f    *os.File
	row  int
}

// bergsonStore is a Bergson store, one directory or the published shards of
// a sharded run.
type bergsonStore struct {
	name  string
	parts []*bergsonPart
	n, d  int
	dtype DType
	mods  []GradModule
	buf   []byte
}

// shardDir matches bergson's published shard directories.
var shardDir = regexp.MustCompile(`^(\d+)-of-(\d+)$`)

// openBergson opens the store in dir: dir/info.json and dir/gradients.bin, or
// the published shards dir/shards/IIIII-of-NNNNN in order (every shard of
// the run must be published).
func openBergson(dir string) (GradStore, error) {
	s := &bergsonStore{name: dir}
	var dirs []string
	if _, err := os.Stat(filepath.Join(dir, BergsonInfoFile)); err == nil {
		dirs = []string{dir}
	} else {
		ents, err := os.ReadDir(filepath.Join(dir, bergsonShardsDir))
		if err != nil {
			return nil, &ValidationError{File: dir, Msg: fmt.Sprintf("not a Bergson store: no %s and no %s/ directory", BergsonInfoFile, bergsonShardsDir), Err: fs.ErrNotExist}
		}
		total := -1
		idx := map[int]string{}
		for _, e := range ents {
			m := shardDir.FindStringSubmatch(e.Name())
			if m == nil || !e.IsDir() {
				continue // in progress (.part) or unrelated
			}
			i, err1 := strconv.Atoi(m[1])
			n, err2 := strconv.Atoi(m[2])
			if err1 != nil || err2 != nil || n < 1 || i >= n || (total >= 0 && n != total) {
				return nil, &ValidationError{File: dir, Msg: fmt.Sprintf("shard directory %s disagrees with the others", e.Name()), Err: ErrShape}
			}
			total = n
			idx[i] = filepath.Join(dir, bergsonShardsDir, e.Name())
		}
		if total < 0 {
			return nil, &ValidationError{File: dir, Msg: "no published shard in " + bergsonShardsDir + "/", Err: fs.ErrNotExist}
		}
		for i := range total {
			p, ok := idx[i]
			if !ok {
				return nil, &ValidationError{File: dir, Msg: fmt.Sprintf("shard %d of %d is not published (still running, or crashed: rerun it)", i, total), Err: ErrTruncated}
			}
			dirs = append(dirs, p)
		}
	}
	for _, d := range dirs {
		p, err := openBergsonPart(d)
		if err != nil {
			s.Close()
			return nil, err
		}
		p.row = s.n
		if len(s.parts) == 0 {
			s.dtype, s.mods, s.d = p.info.DType, p.info.Modules, p.info.Cols()
		} else if p.info.DType != s.dtype || !slices.Equal(p.info.Modules, s.mods) {
			s.Close()
			p.f.Close()
			return nil, &ValidationError{File: filepath.Join(d, BergsonInfoFile), Field: "dtype", Msg: "modules or dtype differ from the first shard's", Err: ErrShape}
		}
		s.parts = append(s.parts, p)
		s.n += p.info.NumGrads
	}
	return s, nil
}

func openBergsonPart(dir string) (*bergsonPart, error) {
	ipath := filepath.Join(dir, BergsonInfoFile)
	f, err := os.Open(ipath)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxBergsonInfoBytes+1))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ipath, err)
	}
	info, err := ParseBergsonInfo(data, ipath)
	if err != nil {
		return nil, err
	}
	gpath := filepath.Join(dir, BergsonGradientsFile)
	g, err := os.Open(gpath)
	if err != nil {
		return nil, err
	}
	st, err := g.Stat()
	if err != nil {
		g.Close()
		return nil, err
	}
	want := int64(info.NumGrads) * int64(info.ItemSize)
	if st.Size() != want {
		g.Close()
		kind := ErrShape
		if st.Size() < want {
			kind = ErrTruncated
		}
		return nil, &ValidationError{File: gpath, Msg: fmt.Sprintf("%d bytes; info.json's num_grads %d x itemsize %d needs %d", st.Size(), info.NumGrads, info.ItemSize, want), Err: kind}
	}
	return &bergsonPart{dir: dir, info: info, f: g}, nil
}

func (s *bergsonStore) Format() string        { return FormatBergson }
func (s *bergsonStore) Name() string          { return s.name }
func (s *bergsonStore) Rows() int             { return s.n }
func (s *bergsonStore) Cols() int             { return s.d }
func (s *bergsonStore) DType() DType          { return s.dtype }
func (s *bergsonStore) Modules() []GradModule { return slices.Clone(s.mods) }

func (s *bergsonStore) ReadRows(dst []float32, lo, hi int) error {
	checkRows(dst, lo, hi, s.n, s.d)
	elem := s.dtype.Bits() / 8
	for _, p := range s.parts {
		a, b := max(lo, p.row), min(hi, p.row+p.info.NumGrads)
		if a >= b {
			continue
		}
		item := p.info.ItemSize
		for r := a; r < b; {
			chunk := min(b-r, max(1, readChunk/max(item, 1)))
			need := chunk * item
			if cap(s.buf) < need {
				s.buf = make([]byte, need)
			}
			buf := s.buf[:need]
			if err := readAtFull(p.f, buf, int64(r-p.row)*int64(item), filepath.Join(p.dir, BergsonGradientsFile)); err != nil {
				return err
			}
			for k := range chunk {
				out := dst[(r-lo+k)*s.d : (r-lo+k+1)*s.d]
				if err := decodeFinite(out, buf[k*item:k*item+s.d*elem], s.dtype, false, s.d, r-p.row+k, filepath.Join(p.dir, BergsonGradientsFile), ""); err != nil {
					return err
				}
			}
			r += chunk
		}
	}
	return nil
}

func (s *bergsonStore) Close() error {
	var first error
	for _, p := range s.parts {
		if p.f != nil {
			if err := p.f.Close(); err != nil && first == nil {
				first = err
			}
			p.f = nil
		}
	}
	return first
}
