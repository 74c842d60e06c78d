package checkpoint

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
)

// TensorDecl declares a tensor of a safetensors file before its data exist:
// its name, dtype and shape (row-major, outermost first; empty for a
// scalar).
type TensorDecl struct {
	Name  string
	DType DType
	Shape []int
}

// StreamWriter writes a safetensors file whose tensors are declared up
// front and whose data are then written piece by piece, so that a tensor
// larger than memory (a per-sample gradient matrix of N x D floats) can be
// written as it is computed. The bytes are exactly those WriteSafetensors
// writes for the same tensors and metadata.
//
// NewStreamWriter writes the 8-byte length and the header at once; the data
// follow in Order (the writer's order: descending dtype order, then name),
// each tensor's little-endian, row-major bytes one after the other, through
// Write or WriteFloat32. Close checks that every declared byte was written.
// A StreamWriter is not safe for concurrent use.
type StreamWriter struct {
	w       io.Writer
	decls   []TensorDecl // in data order
	sizes   []int64      // byte lengths, in data order
	cur     int          // index in decls of the tensor being written
	done    int64        // bytes of decls[cur] written
	written int64
	total   int64
	buf     []byte
	err     error
}

// NewStreamWriter checks the declared tensors and the metadata as
// WriteSafetensors does (and returns its errors, writing nothing), then
// writes the header to w.
func NewStreamWriter(w io.Writer, tensors []TensorDecl, meta map[string]string) (*StreamWriter, error) {
	hdr, order, sizes, err := buildDeclHeader(tensors, nil, meta)
	if err != nil {
		return nil, err
	}
	sw := &StreamWriter{w: w}
	for _, i := range order {
		t := tensors[i]
		t.Shape = slices.Clone(t.Shape)
		sw.decls = append(sw.decls, t)
		sw.sizes = append(sw.sizes, sizes[i])
		sw.total += sizes[i]
	}
	sw.skipEmpty()
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdr)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return nil, err
	}
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	return sw, nil
}

// Order returns the names of the tensors in the order in which their data
// must be written.
func (sw *StreamWriter) Order() []string {
	names := make([]string, len(sw.decls))
	for i, d := range sw.decls {
		names[i] = d.Name
	}
	return names
}

// Remaining returns the number of data bytes still to be written.
func (sw *StreamWriter) Remaining() int64 { return sw.total - sw.written }

// skipEmpty advances past tensors whose data are complete.
func (sw *StreamWriter) skipEmpty() {
	for sw.cur < len(sw.decls) && sw.done == sw.sizes[sw.cur] {
		sw.cur++
		sw.done = 0
	}
}

// advance records n bytes written.
func (sw *StreamWriter) advance(n int64) {
	sw.written += n
	for n > 0 {
		step := min(n, sw.sizes[sw.cur]-sw.done)
		sw.done += step
		n -= step
		sw.skipEmpty()
	}
}

// Write writes raw data bytes: the next len(p) bytes of the data buffer,
// which may span tensors. Bytes beyond the declared tensors are an error
// and none of p is written then. An error of the underlying writer is
// final.
func (sw *StreamWriter) Write(p []byte) (int, error) {
	if sw.err != nil {
		return 0, sw.err
	}
	if int64(len(p)) > sw.Remaining() {
		return 0, fmt.Errorf("checkpoint: writing safetensors: %d bytes of data past the %d declared", int64(len(p))-sw.Remaining(), sw.total)
	}
	n, err := sw.w.Write(p)
	sw.advance(int64(n))
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		sw.err = err
	}
	return n, err
}

// WriteFloat32 writes v as the next elements of F32 tensors (little-endian,
// bit for bit). The values must land on whole elements of tensors of dtype
// F32, within the declared data; otherwise nothing is written and the error
// says why.
func (sw *StreamWriter) WriteFloat32(v []float32) error {
	if sw.err != nil {
		return sw.err
	}
	need := 4 * int64(len(v))
	if need > sw.Remaining() {
		return fmt.Errorf("checkpoint: writing safetensors: %d bytes of data past the %d declared", need-sw.Remaining(), sw.total)
	}
	// Check every tensor the values reach.
	cur, done := sw.cur, sw.done
	for left := need; left > 0; {
		d := sw.decls[cur]
		if d.DType != F32 || done%4 != 0 {
			return fmt.Errorf("checkpoint: writing safetensors: tensor %q: float32 values written to dtype %s at byte %d", d.Name, d.DType, done)
		}
		step := min(left, sw.sizes[cur]-done)
		left -= step
		done += step
		if done == sw.sizes[cur] {
			cur++
			done = 0
		}
	}
	const chunk = 1 << 16 // values encoded per write
	if cap(sw.buf) < 4*min(len(v), chunk) {
		sw.buf = make([]byte, 4*min(len(v), chunk))
	}
	for len(v) > 0 {
		n := min(len(v), chunk)
		b := sw.buf[:4*n]
		for i, x := range v[:n] {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		if _, err := sw.Write(b); err != nil {
			return err
		}
		v = v[n:]
	}
	return nil
}

// Close checks that the data of every declared tensor were written in full.
// It does not close the underlying writer.
func (sw *StreamWriter) Close() error {
	if sw.err != nil {
		return sw.err
	}
	if sw.written != sw.total {
		name := sw.decls[sw.cur].Name
		return fmt.Errorf("checkpoint: writing safetensors: %d of %d data bytes written (tensor %q incomplete)", sw.written, sw.total, name)
	}
	return nil
}
