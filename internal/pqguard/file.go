package pqguard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// ErrLZ4Raw refuses a column chunk compressed with LZ4_RAW (pyarrow's
// compression="lz4"). parquet-go v0.32 reads such pages wrongly: its
// decoder reserves 3 times the compressed size and, when the page buffer it
// is given is smaller (any page that expands less than 3 times, which
// includes most small dictionary pages), decodes into a new buffer the page
// never sees, so the values read as zeros without an error
// (parquet-go/parquet-go issue 608, open, not fixed in v0.32.1); and it
// takes any decoding failure for a short buffer and doubles the buffer
// without bound, so a corrupt page exhausts memory. Refusing the codec is
// the only way not to return wrong numbers.
var ErrLZ4Raw = errors.New("LZ4_RAW compression is not read: the parquet library gradcouple uses (parquet-go v0.32) reads LZ4_RAW pages " +
	"as zeros when they expand less than 3 times (parquet-go issue 608); write the file again with zstd or snappy " +
	"(pyarrow: compression=\"zstd\"; DuckDB: COPY (FROM 'in.parquet') TO 'out.parquet' (COMPRESSION zstd))")

// Limits bound what a page header may claim. The zero value means the
// defaults.
type Limits struct {
	// MaxPageBytes bounds the uncompressed size of one page.
	// 0 means DefaultMaxPageBytes.
	MaxPageBytes int64
	// MaxPageRatio bounds the uncompressed size of one page by MaxPageRatio
	// times its compressed size, plus 1 MiB. 0 means DefaultMaxPageRatio.
	MaxPageRatio int64
}

const (
	// DefaultMaxPageBytes is the default of Limits.MaxPageBytes. Writers use
	// pages of 1 MiB or less.
	DefaultMaxPageBytes = 64 << 20
	// DefaultMaxPageRatio is the default of Limits.MaxPageRatio: none of the
	// codecs parquet uses compresses real data by more than this.
	DefaultMaxPageRatio = 4096
	// MaxPageValues bounds the values of one page. parquet-go sizes some
	// decode buffers by the count in the page header before it looks at the
	// data, and a dictionary-encoded page can claim millions of values in a
	// few bytes. Writers put at most about a hundred thousand values in a page.
	MaxPageValues = 1 << 24
	// maxHeaderBytes bounds one page header. Statistics of long strings
	// make headers large.
	maxHeaderBytes = 16 << 20
)

// ErrPageLimit is matched (errors.Is) by the errors of Chunk about a page
// larger than Limits.MaxPageBytes, so that callers can name the option that
// raises the limit.
var ErrPageLimit = errors.New("page larger than the page size limit")

// pageLimitError is an error about a page larger than Limits.MaxPageBytes.
type pageLimitError struct{ msg string }

func (e *pageLimitError) Error() string        { return e.msg }
func (e *pageLimitError) Is(target error) bool { return target == ErrPageLimit }

// ReadError is an error returned by the io.ReaderAt, as opposed to an error
// about the content of the file.
type ReadError struct {
	Off int64 // where the read started
	Err error
}

func (e *ReadError) Error() string { return fmt.Sprintf("reading at byte %d: %v", e.Off, e.Err) }

// Unwrap returns the error of the io.ReaderAt.
func (e *ReadError) Unwrap() error { return e.Err }

// File is a parquet file whose footer has been checked. It reuses a buffer
// across calls of Chunk and is not safe for concurrent use.
type File struct {
	r       io.ReaderAt
	dataEnd int64
	limits  Limits
	buf     []byte
}

// Open checks the magic bytes and the footer of the parquet file r of size
// bytes: the footer must fit in the file and be exactly one thrift struct that
// passes Thrift. It reads only the first 4 bytes and the footer.
func Open(r io.ReaderAt, size int64, lim Limits) (*File, error) {
	if size == 0 {
		return nil, errors.New("empty file")
	}
	if size < 12 {
		return nil, fmt.Errorf("not a parquet file: %d bytes is too short for the parquet header and footer", size)
	}
	var head, tail [8]byte
	if err := readFull(r, head[:4], 0); err != nil {
		return nil, err
	}
	if err := readFull(r, tail[:], size-8); err != nil {
		return nil, err
	}
	if string(head[:4]) != "PAR1" {
		return nil, errors.New("not a parquet file: no PAR1 magic at the start")
	}
	switch string(tail[4:]) {
	case "PAR1":
	case "PARE":
		return nil, errors.New("encrypted parquet files are not supported")
	default:
		return nil, errors.New("truncated or corrupt parquet file: no PAR1 magic at the end (a writer interrupted before Close leaves such a file)")
	}
	footerLen := int64(binary.LittleEndian.Uint32(tail[:4]))
	if footerLen > size-12 {
		return nil, fmt.Errorf("truncated or corrupt parquet file: the footer claims %d bytes of a %d-byte file", footerLen, size)
	}
	dataEnd := size - 8 - footerLen
	footer := make([]byte, footerLen)
	if err := readFull(r, footer, dataEnd); err != nil {
		return nil, err
	}
	n, err := Thrift(footer)
	if err == nil && n != len(footer) {
		err = fmt.Errorf("%d bytes after the file metadata", len(footer)-n)
	}
	if err != nil {
		return nil, fmt.Errorf("corrupt parquet footer: %w", err)
	}
	return &File{r: r, dataEnd: dataEnd, limits: lim}, nil
}

// readFull reads len(b) bytes at off. A short read at the end of the data is
// reported as truncation; any other error of r as a *ReadError.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	k, err := r.ReadAt(b, off)
	if k == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("file truncated: %d bytes at byte %d, want %d", k, off, len(b))
	}
	return &ReadError{Off: off, Err: err}
}

// DataEnd returns the end of the column data, where the footer starts.
func (f *File) DataEnd() int64 { return f.dataEnd }

// RowGroup checks that the row group rg has a non-negative row count and one
// column chunk for each of the schema's columns leaf columns.
func RowGroup(rg *format.RowGroup, columns int) error {
	if rg.NumRows < 0 {
		return fmt.Errorf("negative row count %d", rg.NumRows)
	}
	if len(rg.Columns) != columns {
		return fmt.Errorf("%d column chunks for %d columns", len(rg.Columns), columns)
	}
	return nil
}

// Chunk checks the column chunk cm of a row group of rows rows and walks its
// page headers, which it reads from the file. flat says that the column is
// not repeated, so that it holds one value (or null) per row.
func (f *File) Chunk(cm *format.ColumnMetaData, rows int64, flat bool) error {
	if cm.Codec == format.Lz4Raw {
		return ErrLZ4Raw
	}
	if cm.NumValues < 0 || (flat && cm.NumValues != rows) {
		return fmt.Errorf("chunk holds %d values for %d rows", cm.NumValues, rows)
	}
	start := cm.DataPageOffset // where parquet-go starts reading
	if cm.DictionaryPageOffset != 0 {
		start = cm.DictionaryPageOffset
	}
	end := start + cm.TotalCompressedSize
	if start < 4 || cm.TotalCompressedSize < 0 || end < start || end > f.dataEnd {
		return fmt.Errorf("chunk at bytes [%d, %d+%d) lies outside the column data [4, %d)", start, start, cm.TotalCompressedSize, f.dataEnd)
	}
	maxPage, ratio := f.limits.MaxPageBytes, f.limits.MaxPageRatio
	if maxPage <= 0 {
		maxPage = DefaultMaxPageBytes
	}
	if ratio <= 0 {
		ratio = DefaultMaxPageRatio
	}
	var values int64
	for off := start; off < end; {
		hdr, n, err := f.readPageHeader(off, end)
		if err != nil {
			var re *ReadError
			if errors.As(err, &re) {
				return err
			}
			return fmt.Errorf("page header at byte %d: %w", off, err)
		}
		off += int64(n)
		comp, uncomp := int64(hdr.CompressedPageSize), int64(hdr.UncompressedPageSize)
		if comp < 0 || comp > end-off {
			return fmt.Errorf("page at byte %d claims %d bytes, the chunk has %d left", off, comp, end-off)
		}
		if uncomp < 0 {
			return fmt.Errorf("page at byte %d claims %d uncompressed bytes", off, uncomp)
		}
		if uncomp > maxPage {
			return &pageLimitError{fmt.Sprintf("page at byte %d claims %d uncompressed bytes, more than the limit of %d", off, uncomp, maxPage)}
		}
		if uncomp > ratio*comp+1<<20 {
			return fmt.Errorf("page at byte %d claims %d uncompressed bytes from %d, more than %d times as many", off, uncomp, comp, ratio)
		}
		var nv int32
		switch {
		case hdr.Type == format.DataPage && hdr.DataPageHeader.Valid:
			nv = hdr.DataPageHeader.V.NumValues
			values += int64(nv)
		case hdr.Type == format.DataPageV2 && hdr.DataPageHeaderV2.Valid:
			h := &hdr.DataPageHeaderV2.V
			nv = h.NumValues
			if h.NumNulls < 0 || h.NumNulls > nv || h.NumRows < 0 || (flat && h.NumRows != nv) ||
				h.DefinitionLevelsByteLength < 0 || h.RepetitionLevelsByteLength < 0 ||
				int64(h.DefinitionLevelsByteLength)+int64(h.RepetitionLevelsByteLength) > comp {
				return fmt.Errorf("page at byte %d has an inconsistent header: %d values, %d nulls, %d rows, %d+%d bytes of levels in %d",
					off, nv, h.NumNulls, h.NumRows, h.RepetitionLevelsByteLength, h.DefinitionLevelsByteLength, comp)
			}
			values += int64(nv)
		case hdr.Type == format.DictionaryPage && hdr.DictionaryPageHeader.Valid:
			nv = hdr.DictionaryPageHeader.V.NumValues
		case hdr.Type == format.IndexPage:
		default:
			return fmt.Errorf("page at byte %d has type %v without its header", off, hdr.Type)
		}
		if nv < 0 || nv > MaxPageValues {
			return fmt.Errorf("page at byte %d claims %d values", off, nv)
		}
		if flat && values > rows {
			return fmt.Errorf("pages hold more values than the %d rows of the row group", rows)
		}
		off += comp
	}
	if flat && values != rows {
		return fmt.Errorf("pages hold %d values for %d rows", values, rows)
	}
	return nil
}

// readPageHeader reads, checks and decodes the page header at off, reading no
// further than end, and returns it with its length in bytes. It reads 1 KiB
// first and more only while the header continues past what it read.
func (f *File) readPageHeader(off, end int64) (*format.PageHeader, int, error) {
	want := int64(1024)
	for {
		want = min(want, end-off)
		if int64(cap(f.buf)) < want {
			f.buf = make([]byte, want)
		}
		b := f.buf[:want]
		if err := readFull(f.r, b, off); err != nil {
			return nil, 0, err
		}
		n, err := Thrift(b)
		if err == errShort && want < end-off && want < maxHeaderBytes {
			want = min(want*8, maxHeaderBytes)
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		hdr := new(format.PageHeader)
		if err := thrift.Unmarshal(new(thrift.CompactProtocol), b[:n], hdr); err != nil {
			return nil, 0, err
		}
		if cap(f.buf) > 1<<20 {
			f.buf = nil // do not keep a large buffer for one large header
		}
		return hdr, n, nil
	}
}

// ChunkMessage is the message for an error of Chunk about a column chunk of
// row group group: a fault of the file ("corrupt ..."), or a codec the
// reader does not read (ErrLZ4Raw), which is no fault of the file.
func ChunkMessage(group int, err error) string {
	if errors.Is(err, ErrLZ4Raw) {
		return fmt.Sprintf("column chunk in row group %d: %v", group, err)
	}
	return fmt.Sprintf("corrupt parquet column chunk in row group %d: %v", group, err)
}
