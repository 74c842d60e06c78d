package pqguard

import (
	"errors"
	"testing"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// FuzzThrift checks that Thrift never panics, that the length it returns is
// that of a struct whose every proper prefix is too short, and that parquet-go
// decodes what Thrift accepts without panicking.
func FuzzThrift(f *testing.F) {
	for _, tc := range thriftCases {
		if len(tc.b) <= 4096 {
			f.Add(tc.b)
		}
	}
	var md format.FileMetaData
	md.Version = 1
	md.NumRows = 3
	md.Schema = []format.SchemaElement{{Name: "schema"}, {Name: "x"}}
	md.RowGroups = []format.RowGroup{{NumRows: 3, Columns: []format.ColumnChunk{{MetaData: format.ColumnMetaData{
		PathInSchema: []string{"x"}, NumValues: 3, DataPageOffset: 4, TotalCompressedSize: 30}}}}}
	md.KeyValueMetadata = []format.KeyValue{{Key: "k", Value: "v"}}
	h := dataPage(3, 10, 20)
	h.DataPageHeader.V.Statistics.MaxValue = []byte("max")
	for _, v := range []any{&md, &h} {
		b, err := thrift.Marshal(new(thrift.CompactProtocol), v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Thrift(b)
		if err != nil {
			if n != 0 {
				t.Fatalf("Thrift = %d, %v: want length 0 with an error", n, err)
			}
			if errors.Is(err, errShort) && len(b) > 0 {
				if _, err := Thrift(b[:len(b)-1]); !errors.Is(err, errShort) {
					t.Fatalf("input is too short, but its prefix gives %v", err)
				}
			}
			return
		}
		if n < 1 || n > len(b) {
			t.Fatalf("Thrift = %d for %d bytes", n, len(b))
		}
		if m, err := Thrift(b[:n]); m != n || err != nil {
			t.Fatalf("Thrift of the struct alone = %d, %v; want %d, nil", m, err, n)
		}
		for _, k := range []int{n - 1, n / 2} {
			if _, err := Thrift(b[:k]); !errors.Is(err, errShort) {
				t.Fatalf("Thrift of the first %d of %d bytes = %v, want errShort", k, n, err)
			}
		}
		// Decoding may fail on fields of the wrong type, but must not panic.
		_ = thrift.Unmarshal(new(thrift.CompactProtocol), b[:n], new(format.PageHeader))
		_ = thrift.Unmarshal(new(thrift.CompactProtocol), b[:n], new(format.FileMetaData))
	})
}
