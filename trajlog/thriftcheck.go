package trajlog

import (
	"errors"
	"fmt"
)

// The parquet footer and page headers are thrift compact-protocol structs.
// parquet-go trusts the lengths written in them: a list or a string that claims
// two billion elements is allocated before the bytes behind the claim are read,
// and a deeply nested struct recurses without limit. checkThrift walks the
// encoding first, without decoding anything, and rejects such input, so that a
// hostile or corrupt file costs at most its own size in memory.

// maxThriftDepth bounds the nesting of structs, lists and maps. Parquet metadata
// nests about six levels deep (FileMetaData > RowGroup > ColumnChunk >
// ColumnMetaData > Statistics); 32 leaves room for future fields.
const maxThriftDepth = 32

// errThriftShort reports that the input ended inside the struct: the caller
// may retry with more bytes.
var errThriftShort = errors.New("thrift struct continues past the end of the data")

// Compact protocol type codes.
const (
	tcStop   = 0
	tcTrue   = 1
	tcFalse  = 2
	tcByte   = 3
	tcI16    = 4
	tcI32    = 5
	tcI64    = 6
	tcDouble = 7
	tcBinary = 8
	tcList   = 9
	tcSet    = 10
	tcMap    = 11
	tcStruct = 12
	tcUUID   = 13
)

type thriftWalker struct {
	b   []byte
	off int
}

// checkThrift validates that b starts with one compact-protocol struct whose
// every length fits in b and whose nesting is at most maxThriftDepth, and
// returns the struct's length in bytes. It returns errThriftShort when b ends
// before the struct does.
func checkThrift(b []byte) (int, error) {
	w := thriftWalker{b: b}
	if err := w.walkStruct(0); err != nil {
		return 0, err
	}
	return w.off, nil
}

func (w *thriftWalker) byte() (byte, error) {
	if w.off >= len(w.b) {
		return 0, errThriftShort
	}
	c := w.b[w.off]
	w.off++
	return c, nil
}

func (w *thriftWalker) uvarint() (uint64, error) {
	var x uint64
	for shift := uint(0); shift < 70; shift += 7 {
		c, err := w.byte()
		if err != nil {
			return 0, err
		}
		if shift == 63 && c > 1 {
			return 0, errors.New("thrift varint overflows 64 bits")
		}
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x, nil
		}
	}
	return 0, errors.New("thrift varint longer than 10 bytes")
}

func (w *thriftWalker) skip(n uint64) error {
	if n > uint64(len(w.b)-w.off) {
		return errThriftShort
	}
	w.off += int(n)
	return nil
}

// count reads a collection size and checks that the remaining bytes can hold
// that many elements: every element takes at least one byte.
func (w *thriftWalker) count(n uint64) (int, error) {
	if n > uint64(len(w.b)-w.off) {
		if n > 1<<31 {
			return 0, fmt.Errorf("thrift collection claims %d elements", n)
		}
		return 0, errThriftShort
	}
	return int(n), nil
}

func (w *thriftWalker) walkStruct(depth int) error {
	if depth > maxThriftDepth {
		return fmt.Errorf("thrift structs nested more than %d deep", maxThriftDepth)
	}
	for {
		h, err := w.byte()
		if err != nil {
			return err
		}
		if h == tcStop {
			return nil
		}
		if h>>4 == 0 { // long form: the field id follows as a zigzag varint
			if _, err := w.uvarint(); err != nil {
				return err
			}
		}
		if err := w.walkValue(h&0x0f, depth); err != nil {
			return err
		}
	}
}

func (w *thriftWalker) walkValue(t byte, depth int) error {
	switch t {
	case tcTrue, tcFalse:
		return nil // the value is in the field header
	case tcByte:
		return w.skip(1)
	case tcI16, tcI32, tcI64:
		_, err := w.uvarint()
		return err
	case tcDouble:
		return w.skip(8)
	case tcUUID:
		return w.skip(16)
	case tcBinary:
		n, err := w.uvarint()
		if err != nil {
			return err
		}
		if n > 1<<31 {
			return fmt.Errorf("thrift binary claims %d bytes", n)
		}
		return w.skip(n)
	case tcStruct:
		return w.walkStruct(depth + 1)
	case tcList, tcSet:
		h, err := w.byte()
		if err != nil {
			return err
		}
		size := uint64(h >> 4)
		if size == 15 {
			if size, err = w.uvarint(); err != nil {
				return err
			}
		}
		n, err := w.count(size)
		if err != nil {
			return err
		}
		elem := h & 0x0f
		for i := 0; i < n; i++ {
			if elem == tcTrue || elem == tcFalse {
				err = w.skip(1) // booleans in collections take a byte each
			} else {
				err = w.walkValue(elem, depth+1)
			}
			if err != nil {
				return err
			}
		}
		return nil
	case tcMap:
		size, err := w.uvarint()
		if err != nil {
			return err
		}
		n, err := w.count(size)
		if err != nil || n == 0 {
			return err
		}
		kv, err := w.byte()
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			for _, t := range [2]byte{kv >> 4, kv & 0x0f} {
				if t == tcTrue || t == tcFalse {
					err = w.skip(1)
				} else {
					err = w.walkValue(t, depth+1)
				}
				if err != nil {
					return err
				}
			}
		}
		return nil
	}
	return fmt.Errorf("unknown thrift type code %d", t)
}
