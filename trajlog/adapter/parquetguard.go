package adapter

import (
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// parquet-go trusts the sizes written in a file: it allocates the buffer a
// footer or page header claims before reading the bytes behind the claim, so a
// few corrupt bytes in a small file cost gigabytes. These checks walk the
// thrift structures and page headers first and refuse claims that do not fit
// the file or the limits below, so that a hostile TRL table costs about its own
// size in memory. (trajlog's canonical reader guards its files the same way.)

const (
	// maxThriftDepth bounds struct nesting in parquet metadata, which nests
	// about six levels deep.
	maxThriftDepth = 32
	// maxPageBytes bounds the uncompressed size of one page.
	maxPageBytes = 256 << 20
	// maxPageRatio bounds uncompressed/compressed page size (plus 1 MiB):
	// no codec parquet uses compresses text by more than this.
	maxPageRatio = 4096
	// maxPageValues bounds the values of one page (decode buffers are sized by it).
	maxPageValues = 1 << 24
)

var errThriftShort = errors.New("thrift struct continues past the end of the data")

// thriftWalk checks that b starts with one thrift compact-protocol struct whose
// lengths and counts fit in b and whose nesting is bounded, without decoding
// it, and returns its length.
func thriftWalk(b []byte) (int, error) {
	w := thriftWalker{b: b}
	err := w.structure(0)
	return w.off, err
}

type thriftWalker struct {
	b   []byte
	off int
}

func (w *thriftWalker) next() (byte, error) {
	if w.off >= len(w.b) {
		return 0, errThriftShort
	}
	w.off++
	return w.b[w.off-1], nil
}

func (w *thriftWalker) varint() (uint64, error) {
	var x uint64
	for shift := uint(0); shift < 64; shift += 7 {
		c, err := w.next()
		if err != nil {
			return 0, err
		}
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x, nil
		}
	}
	return 0, errors.New("thrift varint longer than 64 bits")
}

func (w *thriftWalker) skip(n uint64) error {
	if n > uint64(len(w.b)-w.off) {
		return errThriftShort
	}
	w.off += int(n)
	return nil
}

func (w *thriftWalker) structure(depth int) error {
	if depth > maxThriftDepth {
		return fmt.Errorf("thrift structs nested deeper than %d", maxThriftDepth)
	}
	for {
		h, err := w.next()
		if err != nil {
			return err
		}
		if h == 0 { // stop
			return nil
		}
		if h>>4 == 0 { // long form: the field id follows
			if _, err := w.varint(); err != nil {
				return err
			}
		}
		if err := w.value(h&0x0f, depth); err != nil {
			return err
		}
	}
}

// value skips one value of compact type t (inside a struct or collection).
func (w *thriftWalker) value(t byte, depth int) error {
	switch t {
	case 1, 2: // bool: in the field header
		return nil
	case 3: // byte
		return w.skip(1)
	case 4, 5, 6: // i16, i32, i64
		_, err := w.varint()
		return err
	case 7: // double
		return w.skip(8)
	case 8: // binary
		n, err := w.varint()
		if err != nil {
			return err
		}
		return w.skip(n)
	case 12: // struct
		return w.structure(depth + 1)
	case 13: // uuid
		return w.skip(16)
	case 9, 10: // list, set
		h, err := w.next()
		if err != nil {
			return err
		}
		n := uint64(h >> 4)
		if n == 15 {
			if n, err = w.varint(); err != nil {
				return err
			}
		}
		return w.elements(n, []byte{h & 0x0f}, depth)
	case 11: // map
		n, err := w.varint()
		if err != nil || n == 0 {
			return err
		}
		kv, err := w.next()
		if err != nil {
			return err
		}
		return w.elements(n, []byte{kv >> 4, kv & 0x0f}, depth)
	}
	return fmt.Errorf("unknown thrift type %d", t)
}

// elements skips n collection entries of the given types; every entry takes at
// least one byte, so a count beyond the remaining bytes is refused up front.
func (w *thriftWalker) elements(n uint64, types []byte, depth int) error {
	if n > uint64(len(w.b)-w.off) {
		return errThriftShort
	}
	for i := uint64(0); i < n; i++ {
		for _, t := range types {
			var err error
			if t == 1 || t == 2 {
				err = w.skip(1) // a bool in a collection takes a byte
			} else {
				err = w.value(t, depth+1)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// checkParquetFile checks the magic bytes and the footer of a parquet file of
// size bytes and returns the end of the column data (where the footer starts).
func checkParquetFile(r io.ReaderAt, size int64, name string) (int64, error) {
	if size < 12 {
		return 0, invalid(name, 0, "", "not a parquet file: %d bytes", size)
	}
	var head, tail [8]byte
	if _, err := r.ReadAt(head[:4], 0); err != nil {
		return 0, fmt.Errorf("reading parquet header of %s: %w", name, err)
	}
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return 0, fmt.Errorf("reading parquet footer of %s: %w", name, err)
	}
	if string(head[:4]) != "PAR1" || string(tail[4:]) != "PAR1" {
		return 0, invalid(name, 0, "", "not a parquet file (no PAR1 magic at both ends; truncated?)")
	}
	footerLen := int64(tail[0]) | int64(tail[1])<<8 | int64(tail[2])<<16 | int64(tail[3])<<24
	if footerLen > size-12 {
		return 0, invalid(name, 0, "", "parquet footer claims %d bytes in a %d-byte file (truncated?)", footerLen, size)
	}
	footer := make([]byte, footerLen)
	if _, err := r.ReadAt(footer, size-8-footerLen); err != nil {
		return 0, fmt.Errorf("reading parquet footer of %s: %w", name, err)
	}
	if _, err := thriftWalk(footer); err != nil {
		return 0, invalid(name, 0, "", "corrupt parquet footer: %v", err)
	}
	return size - 8 - footerLen, nil
}

// checkParquetPages walks the page headers of every column chunk of f, whose
// column data ends at dataEnd, and refuses sizes and counts that do not fit.
func checkParquetPages(f *parquet.File, r io.ReaderAt, dataEnd int64, name string) error {
	schema := f.Schema()
	leaves := schema.Columns()
	flat := make([]bool, len(leaves))
	for i, path := range leaves {
		leaf, ok := schema.Lookup(path...)
		flat[i] = ok && leaf.MaxRepetitionLevel == 0
	}
	var buf []byte
	for gi, rg := range f.Metadata().RowGroups {
		if len(rg.Columns) != len(leaves) {
			return invalid(name, 0, "", "corrupt parquet footer: row group %d has %d column chunks for %d columns", gi, len(rg.Columns), len(leaves))
		}
		rows := rg.NumRows
		if rows < 0 {
			return invalid(name, 0, "", "corrupt parquet footer: row group %d has %d rows", gi, rows)
		}
		for ci := range rg.Columns {
			cm := &rg.Columns[ci].MetaData
			col := leaves[ci][0]
			bad := func(format string, args ...any) error {
				return invalid(name, 0, col, "corrupt parquet column chunk in row group %d: %s", gi, fmt.Sprintf(format, args...))
			}
			start := cm.DataPageOffset
			if cm.DictionaryPageOffset > 0 {
				start = cm.DictionaryPageOffset
			}
			end := start + cm.TotalCompressedSize
			if start < 4 || cm.TotalCompressedSize < 0 || end < start || end > dataEnd {
				return bad("bytes [%d, +%d) lie outside the column data [4, %d)", start, cm.TotalCompressedSize, dataEnd)
			}
			var values int64
			for off := start; off < end; {
				hdr, n, err := readPageHeader(r, off, end, &buf)
				if err != nil {
					return bad("page header at byte %d: %v", off, err)
				}
				off += int64(n)
				comp, uncomp := int64(hdr.CompressedPageSize), int64(hdr.UncompressedPageSize)
				if comp < 0 || comp > end-off {
					return bad("page at byte %d claims %d bytes, the chunk has %d left", off, comp, end-off)
				}
				if uncomp < 0 || uncomp > maxPageBytes || uncomp > maxPageRatio*comp+1<<20 {
					return bad("page at byte %d claims %d uncompressed bytes from %d", off, uncomp, comp)
				}
				var nv int64
				switch {
				case hdr.Type == format.DataPage && hdr.DataPageHeader.Valid:
					nv = int64(hdr.DataPageHeader.V.NumValues)
					values += nv
				case hdr.Type == format.DataPageV2 && hdr.DataPageHeaderV2.Valid:
					h := &hdr.DataPageHeaderV2.V
					nv = int64(h.NumValues)
					if h.NumNulls < 0 || h.NumNulls > h.NumValues || h.NumRows < 0 ||
						h.DefinitionLevelsByteLength < 0 || h.RepetitionLevelsByteLength < 0 ||
						int64(h.DefinitionLevelsByteLength)+int64(h.RepetitionLevelsByteLength) > comp {
						return bad("page at byte %d has an inconsistent header", off)
					}
					values += nv
				case hdr.Type == format.DictionaryPage && hdr.DictionaryPageHeader.Valid:
					nv = int64(hdr.DictionaryPageHeader.V.NumValues)
				case hdr.Type == format.IndexPage:
				default:
					return bad("page at byte %d has type %v without its header", off, hdr.Type)
				}
				if nv < 0 || nv > maxPageValues {
					return bad("page at byte %d claims %d values", off, nv)
				}
				if flat[ci] && values > rows {
					return bad("pages hold more values than the %d rows of the row group", rows)
				}
				off += comp
			}
			if flat[ci] && values != rows {
				return bad("pages hold %d values for %d rows", values, rows)
			}
		}
	}
	return nil
}

// readPageHeader reads, checks and decodes the page header at off (before
// end), returning it and its length. buf is reused across calls.
func readPageHeader(r io.ReaderAt, off, end int64, buf *[]byte) (*format.PageHeader, int, error) {
	want := int64(1024)
	for {
		want = min(want, end-off)
		if int64(cap(*buf)) < want {
			*buf = make([]byte, want)
		}
		b := (*buf)[:want]
		if k, err := r.ReadAt(b, off); k < len(b) {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, 0, err
		}
		n, err := thriftWalk(b)
		if errors.Is(err, errThriftShort) && want < end-off && want < 16<<20 {
			want *= 8
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		hdr := new(format.PageHeader)
		if err := thrift.Unmarshal(new(thrift.CompactProtocol), b[:n], hdr); err != nil {
			return nil, 0, err
		}
		return hdr, n, nil
	}
}
