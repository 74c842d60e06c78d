package pqguard

import (
	"errors"
	"fmt"
)

// MaxThriftDepth bounds the nesting of thrift structs, lists, sets and maps.
// Parquet metadata nests about six levels deep (FileMetaData > RowGroup >
// ColumnChunk > ColumnMetaData > Statistics); 32 leaves room for new fields.
const MaxThriftDepth = 32

// maxThriftLen bounds the length of one thrift string and the size of one
// collection. A larger claim is refused at once rather than reported as
// input that ends too early, which would make readPageHeader read more.
const maxThriftLen = 1 << 31

// errShort reports that the input ends inside the struct: with more bytes it
// might be valid.
var errShort = errors.New("thrift struct continues past the end of the data")

// Compact protocol type codes
// (https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md).
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

// Thrift checks that b starts with one thrift compact-protocol struct whose
// every length and count fits in b and whose nesting is at most
// MaxThriftDepth, without decoding it, and returns the struct's length in
// bytes. Bytes after the struct are not looked at. An empty or nil b is an
// error, as is a b that ends before the struct does.
func Thrift(b []byte) (int, error) {
	w := thriftWalker{b: b}
	if err := w.walkStruct(0); err != nil {
		return 0, err
	}
	return w.off, nil
}

type thriftWalker struct {
	b   []byte
	off int
}

func (w *thriftWalker) byte() (byte, error) {
	if w.off >= len(w.b) {
		return 0, errShort
	}
	c := w.b[w.off]
	w.off++
	return c, nil
}

// uvarint reads an unsigned LEB128 varint of at most 64 bits.
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
		return errShort
	}
	w.off += int(n)
	return nil
}

func (w *thriftWalker) walkStruct(depth int) error {
	if depth > MaxThriftDepth {
		return fmt.Errorf("thrift structs nested more than %d deep", MaxThriftDepth)
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

// walkValue skips one value of type t, held in a struct or collection at the
// given depth.
func (w *thriftWalker) walkValue(t byte, depth int) error {
	switch t {
	case tcTrue, tcFalse:
		return nil // in a struct the value is in the field header
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
		if n > maxThriftLen {
			return fmt.Errorf("thrift binary claims %d bytes", n)
		}
		return w.skip(n)
	case tcStruct:
		return w.walkStruct(depth + 1)
	case tcList, tcSet:
		// Collections count towards the depth like structs: a list of lists
		// of lists, one byte per level, would otherwise recurse without bound.
		if depth >= MaxThriftDepth {
			return fmt.Errorf("thrift collections nested more than %d deep", MaxThriftDepth)
		}
		h, err := w.byte()
		if err != nil {
			return err
		}
		n := uint64(h >> 4)
		if n == 15 { // long form: the size follows as a varint
			if n, err = w.uvarint(); err != nil {
				return err
			}
		}
		return w.elements(n, []byte{h & 0x0f}, depth+1)
	case tcMap:
		if depth >= MaxThriftDepth {
			return fmt.Errorf("thrift collections nested more than %d deep", MaxThriftDepth)
		}
		n, err := w.uvarint()
		if err != nil || n == 0 {
			return err // an empty map has no key and value type byte
		}
		kv, err := w.byte()
		if err != nil {
			return err
		}
		return w.elements(n, []byte{kv >> 4, kv & 0x0f}, depth+1)
	}
	return fmt.Errorf("unknown thrift type code %d", t)
}

// elements skips n collection entries, each made of one value of each of the
// given types. Every entry takes at least one byte, so a count beyond the
// remaining bytes is refused before the first entry is read.
func (w *thriftWalker) elements(n uint64, types []byte, depth int) error {
	if n > uint64(len(w.b)-w.off) {
		if n > maxThriftLen {
			return fmt.Errorf("thrift collection claims %d elements", n)
		}
		return errShort
	}
	for i := uint64(0); i < n; i++ {
		for _, t := range types {
			var err error
			if t == tcTrue || t == tcFalse {
				err = w.skip(1) // a boolean in a collection takes a byte
			} else {
				err = w.walkValue(t, depth)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}
