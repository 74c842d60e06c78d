package pqguard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// fileWith returns a parquet file holding the column data chunk and a footer
// of the given bytes (Open checks only that the footer is one thrift struct).
func fileWith(chunk, footer []byte) []byte {
	b := append([]byte("PAR1"), chunk...)
	b = append(b, footer...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(footer)))
	return append(b, "PAR1"...)
}

// page returns the header h, encoded as parquet-go encodes it, followed by
// h.CompressedPageSize bytes of page data (or none when that is negative).
func page(t *testing.T, h format.PageHeader) []byte {
	t.Helper()
	b, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, make([]byte, max(h.CompressedPageSize, 0))...)
}

func dataPage(values, comp, uncomp int32) format.PageHeader {
	h := format.PageHeader{Type: format.DataPage, CompressedPageSize: comp, UncompressedPageSize: uncomp}
	h.DataPageHeader.Valid = true
	h.DataPageHeader.V.NumValues = values
	return h
}

func dataPageV2(values, nulls, rows, comp int32) format.PageHeader {
	h := format.PageHeader{Type: format.DataPageV2, CompressedPageSize: comp, UncompressedPageSize: comp}
	h.DataPageHeaderV2.Valid = true
	h.DataPageHeaderV2.V = format.DataPageHeaderV2{NumValues: values, NumNulls: nulls, NumRows: rows, DefinitionLevelsByteLength: 2}
	return h
}

func dictPage(values, comp int32) format.PageHeader {
	h := format.PageHeader{Type: format.DictionaryPage, CompressedPageSize: comp, UncompressedPageSize: comp}
	h.DictionaryPageHeader.Valid = true
	h.DictionaryPageHeader.V.NumValues = values
	return h
}

// failingReader fails every read at or after off.
type failingReader struct {
	r   io.ReaderAt
	off int64
}

var errDisk = errors.New("disk on fire")

func (f failingReader) ReadAt(b []byte, off int64) (int, error) {
	if off+int64(len(b)) > f.off {
		return 0, errDisk
	}
	return f.r.ReadAt(b, off)
}

func TestOpen(t *testing.T) {
	good := fileWith([]byte("data"), []byte{0x15, 0x02, 0})
	withTail := func(tail string) []byte {
		b := bytes.Clone(good)
		copy(b[len(b)-4:], tail)
		return b
	}
	withLen := func(n uint32) []byte {
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint32(b[len(b)-8:], n)
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string // substring of the error; "" for success
	}{
		{"valid", good, ""},
		{"empty", nil, "empty file"},
		{"too short", []byte("PAR1PAR1"), "8 bytes is too short"},
		{"not parquet", []byte("hello, world"), "no PAR1 magic at the start"},
		{"encrypted footer", withTail("PARE"), "encrypted"},
		{"no end magic", good[:len(good)-1], "truncated or corrupt parquet file: no PAR1 magic at the end"},
		{"footer longer than the file", withLen(0xfffffff0), "the footer claims 4294967280 bytes of a 19-byte file"},
		{"footer one byte too long", withLen(4 + 3 + 1), "the footer claims 8 bytes"},
		{"empty footer", fileWith(nil, nil), "corrupt parquet footer: thrift struct continues past the end"},
		{"footer cut short", withLen(2), "corrupt parquet footer: thrift struct continues past the end"},
		{"garbage footer", fileWith(nil, bytes.Repeat([]byte{0xff}, 40)), "corrupt parquet footer"},
		{"deep footer", fileWith(nil, bytes.Repeat([]byte{0x1c}, 1000)), "corrupt parquet footer: thrift structs nested more than 32 deep"},
		{"huge list in footer", fileWith(nil, []byte{0x19, 0xfc, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0}), "collection claims"},
		{"bytes after the footer struct", fileWith(nil, []byte{0, 0, 0}), "corrupt parquet footer: 2 bytes after the file metadata"},
	} {
		f, err := Open(bytes.NewReader(tc.b), int64(len(tc.b)), Limits{})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want == "" && f.DataEnd() != int64(len(tc.b))-8-3:
			t.Errorf("%s: DataEnd = %d, want %d", tc.name, f.DataEnd(), len(tc.b)-8-3)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want an error containing %q", tc.name, err, tc.want)
		}
		var re *ReadError
		if errors.As(err, &re) {
			t.Errorf("%s: bad content reported as a read error: %v", tc.name, err)
		}
	}

	// A size larger than the data is truncation, a failing reader a ReadError.
	if _, err := Open(bytes.NewReader(good[:len(good)-2]), int64(len(good)), Limits{}); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("short reader: err = %v, want truncation", err)
	}
	var re *ReadError
	if _, err := Open(failingReader{bytes.NewReader(good), 10}, int64(len(good)), Limits{}); !errors.As(err, &re) || !errors.Is(err, errDisk) {
		t.Errorf("failing reader: err = %v, want a *ReadError", err)
	}
}

func TestRowGroup(t *testing.T) {
	cols := make([]format.ColumnChunk, 3)
	for _, tc := range []struct {
		rg      format.RowGroup
		columns int
		want    string
	}{
		{format.RowGroup{NumRows: 5, Columns: cols}, 3, ""},
		{format.RowGroup{NumRows: 0, Columns: nil}, 0, ""},
		{format.RowGroup{NumRows: -1, Columns: cols}, 3, "negative row count -1"},
		{format.RowGroup{NumRows: 5, Columns: cols[:2]}, 3, "2 column chunks for 3 columns"},
	} {
		err := RowGroup(&tc.rg, tc.columns)
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("RowGroup(%d rows, %d chunks, %d) = %v, want %q", tc.rg.NumRows, len(tc.rg.Columns), tc.columns, err, tc.want)
		}
	}
}

func TestChunk(t *testing.T) {
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	p3 := page(t, dataPage(3, 10, 20))
	dict := page(t, dictPage(2, 6))
	noHeader := dataPage(3, 10, 20)
	noHeader.DataPageHeader.Valid = false
	bigStats := dataPage(3, 10, 20)
	bigStats.DataPageHeader.V.Statistics.MaxValue = make([]byte, 3<<20)
	hugeHeader := dataPage(3, 10, 20)
	hugeHeader.DataPageHeader.V.Statistics.MaxValue = make([]byte, 17<<20)
	index := format.PageHeader{Type: format.IndexPage, CompressedPageSize: 4, UncompressedPageSize: 4}
	// A page header whose statistics claim a 4 GiB string.
	// Fields: type DATA_PAGE, sizes 10 and 10, data_page_header {num_values
	// 3, statistics {max: 2^32-1 bytes}}.
	hugeString := cat([]byte{0x15, 0x00, 0x15, 0x14, 0x15, 0x14, 0x2c, 0x15, 0x06, 0x4c, 0x18, 0xff, 0xff, 0xff, 0xff, 0x0f}, make([]byte, 20))

	for _, tc := range []struct {
		name  string
		chunk []byte
		cm    func(cm *format.ColumnMetaData) // edits the metadata of a chunk at byte 4 holding chunk
		rows  int64
		flat  bool
		lim   Limits
		want  string // substring of the error; "" for success
		limit bool   // the error must match ErrPageLimit
	}{
		{name: "one page", chunk: p3, rows: 3, flat: true},
		{name: "two pages", chunk: cat(p3, page(t, dataPage(4, 0, 0))), rows: 7, flat: true},
		{name: "dictionary page first", chunk: cat(dict, p3), cm: func(cm *format.ColumnMetaData) {
			cm.DictionaryPageOffset, cm.DataPageOffset = 4, 4+int64(len(dict))
		}, rows: 3, flat: true},
		{name: "index page", chunk: cat(page(t, index), p3), rows: 3, flat: true},
		{name: "data page v2", chunk: page(t, dataPageV2(3, 1, 3, 10)), rows: 3, flat: true},
		{name: "repeated column", chunk: cat(p3, page(t, dataPageV2(5, 0, 2, 10))), cm: func(cm *format.ColumnMetaData) { cm.NumValues = 8 }, rows: 4},
		{name: "empty chunk", chunk: nil, rows: 0, flat: true},
		{name: "large header", chunk: page(t, bigStats), rows: 3, flat: true},

		{name: "value count differs from rows", chunk: p3, cm: func(cm *format.ColumnMetaData) { cm.NumValues = 4 }, rows: 3, flat: true, want: "chunk holds 4 values for 3 rows"},
		{name: "negative value count", chunk: p3, cm: func(cm *format.ColumnMetaData) { cm.NumValues = -1 }, rows: 3, want: "chunk holds -1 values"},
		{name: "chunk before the data", chunk: p3, cm: func(cm *format.ColumnMetaData) { cm.DataPageOffset = 2 }, rows: 3, flat: true, want: "lies outside the column data"},
		{name: "chunk into the footer", chunk: p3, cm: func(cm *format.ColumnMetaData) { cm.TotalCompressedSize++ }, rows: 3, flat: true, want: "lies outside the column data"},
		{name: "negative chunk size", chunk: p3, cm: func(cm *format.ColumnMetaData) { cm.TotalCompressedSize = -1 }, rows: 3, flat: true, want: "lies outside"},
		{name: "chunk end overflows", chunk: p3, cm: func(cm *format.ColumnMetaData) { cm.TotalCompressedSize = math.MaxInt64 }, rows: 3, flat: true, want: "lies outside"},
		{name: "negative dictionary offset", chunk: p3, cm: func(cm *format.ColumnMetaData) { cm.DictionaryPageOffset = -8 }, rows: 3, flat: true, want: "lies outside"},
		{name: "page longer than the chunk", chunk: p3, cm: func(cm *format.ColumnMetaData) { cm.TotalCompressedSize -= 1 }, rows: 3, flat: true, want: "claims 10 bytes, the chunk has 9 left"},
		{name: "negative page size", chunk: page(t, dataPage(3, -5, 20)), rows: 3, flat: true, want: "claims -5 bytes"},
		{name: "negative uncompressed size", chunk: page(t, dataPage(3, 10, -20)), rows: 3, flat: true, want: "claims -20 uncompressed bytes"},
		{name: "page above the default limit", chunk: page(t, dataPage(3, 1<<20, 65<<20)), rows: 3, flat: true, want: "more than the limit of 67108864", limit: true},
		{name: "page above a set limit", chunk: p3, rows: 3, flat: true, lim: Limits{MaxPageBytes: 19}, want: "claims 20 uncompressed bytes, more than the limit of 19", limit: true},
		{name: "page above the ratio", chunk: page(t, dataPage(3, 10, 1<<20+4096*10+1)), rows: 3, flat: true, want: "more than 4096 times as many"},
		{name: "a set ratio keeps 1 MiB of slack", chunk: p3, rows: 3, flat: true, lim: Limits{MaxPageRatio: 1}},
		{name: "negative values", chunk: page(t, dataPage(-1, 10, 20)), rows: 3, want: "claims -1 values"},
		{name: "too many values", chunk: page(t, dataPage(MaxPageValues+1, 10, 20)), rows: 1 << 30, want: "claims 16777217 values"},
		{name: "too many dictionary values", chunk: cat(page(t, dictPage(MaxPageValues+1, 6)), p3), rows: 3, flat: true, want: "claims 16777217 values"},
		{name: "more values than rows", chunk: cat(p3, p3), cm: func(cm *format.ColumnMetaData) { cm.NumValues = 4 }, rows: 4, flat: true, want: "more values than the 4 rows"},
		{name: "fewer values than rows", chunk: p3, cm: func(cm *format.ColumnMetaData) { cm.NumValues = 5 }, rows: 5, flat: true, want: "pages hold 3 values for 5 rows"},
		{name: "v2 more nulls than values", chunk: page(t, dataPageV2(3, 4, 3, 10)), rows: 3, flat: true, want: "inconsistent header"},
		{name: "v2 rows differ in a flat column", chunk: page(t, dataPageV2(3, 0, 2, 10)), rows: 3, flat: true, want: "inconsistent header"},
		{name: "v2 levels longer than the page", chunk: page(t, dataPageV2(3, 0, 3, 1)), rows: 3, flat: true, want: "inconsistent header"},
		{name: "data page without its header", chunk: page(t, noHeader), rows: 3, flat: true, want: "type DATA_PAGE without its header"},
		{name: "header cut by the chunk end", chunk: p3[:3], rows: 3, flat: true, want: "page header at byte 4: thrift struct continues past the end"},
		{name: "header claims a 4 GiB string", chunk: hugeString, rows: 3, flat: true, want: "binary claims 4294967295 bytes"},
		{name: "header nested deep", chunk: bytes.Repeat([]byte{0x1c}, 100), rows: 3, flat: true, want: "nested more than 32 deep"},
		{name: "header above 16 MiB", chunk: page(t, hugeHeader), rows: 3, flat: true, want: "continues past the end"},
		{name: "LZ4_RAW", chunk: p3, cm: func(cm *format.ColumnMetaData) { cm.Codec = format.Lz4Raw }, rows: 3, flat: true, want: "LZ4_RAW compression is not read"},
		{name: "zstd", chunk: p3, cm: func(cm *format.ColumnMetaData) { cm.Codec = format.Zstd }, rows: 3, flat: true},
	} {
		if testing.Short() && len(tc.chunk) > 1<<20 {
			continue
		}
		cm := format.ColumnMetaData{DataPageOffset: 4, TotalCompressedSize: int64(len(tc.chunk)), NumValues: tc.rows}
		if tc.cm != nil {
			tc.cm(&cm)
		}
		b := fileWith(tc.chunk, []byte{0})
		f, err := Open(bytes.NewReader(b), int64(len(b)), tc.lim)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		err = f.Chunk(&cm, tc.rows, tc.flat)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want an error containing %q", tc.name, err, tc.want)
		case errors.Is(err, ErrPageLimit) != tc.limit:
			t.Errorf("%s: errors.Is(%v, ErrPageLimit) = %v", tc.name, err, !tc.limit)
		}
	}
}

func TestChunkReadError(t *testing.T) {
	h := page(t, dataPage(3, 10, 20))
	b := fileWith(h, []byte{0})
	f, err := Open(bytes.NewReader(b), int64(len(b)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	f.r = failingReader{bytes.NewReader(b), 6}
	err = f.Chunk(&format.ColumnMetaData{DataPageOffset: 4, TotalCompressedSize: int64(len(h)), NumValues: 3}, 3, true)
	var re *ReadError
	if !errors.As(err, &re) || !errors.Is(err, errDisk) || re.Off != 4 {
		t.Errorf("err = %v, want a *ReadError at byte 4", err)
	}
}
