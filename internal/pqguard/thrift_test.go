package pqguard

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// thriftCases are compact-protocol inputs, written by hand from the spec
// (https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md).
// A field header byte is (field id delta << 4 | type); 0x15 is field +1, i32.
var thriftCases = []struct {
	name string
	b    []byte
	n    int    // length of the struct when valid
	want string // substring of the error; "" for a valid struct
}{
	{"empty struct", []byte{0}, 1, ""},
	{"scalars", []byte{0x15, 0x02, 0x16, 0x04, 0x11, 0x12, 0x13, 0x7f, 0x17, 1, 2, 3, 4, 5, 6, 7, 8, 0x18, 2, 'h', 'i', 0}, 22, ""},
	{"long-form field id", []byte{0x05, 0x80, 0x01, 0x02, 0}, 5, ""},
	{"uuid", append(append([]byte{0x1d}, make([]byte, 16)...), 0), 18, ""},
	{"bytes after the struct", []byte{0x15, 0x02, 0, 0xff, 0xff}, 3, ""},
	{"list of structs", []byte{0x19, 0x2c, 0x00, 0x15, 0x02, 0x00, 0x00}, 7, ""},
	{"list of booleans", []byte{0x19, 0x31, 1, 2, 1, 0}, 6, ""},
	{"list with long size", append(append([]byte{0x19, 0xf3, 0x10}, make([]byte, 16)...), 0), 20, ""},
	{"empty map", []byte{0x1b, 0x00, 0}, 3, ""},
	{"map of i32 to binary", []byte{0x1b, 0x02, 0x58, 0x02, 0x01, 'a', 0x04, 0x00, 0}, 9, ""},
	{"set of bytes", []byte{0x1a, 0x23, 7, 8, 0}, 5, ""},

	{"nil", nil, 0, "continues past the end"},
	{"no stop", []byte{0x15, 0x02}, 0, "continues past the end"},
	{"double cut short", []byte{0x17, 1, 2, 3}, 0, "continues past the end"},
	{"uuid cut short", []byte{0x1d, 1, 2}, 0, "continues past the end"},
	{"map cut before its types", []byte{0x1b, 0x02}, 0, "continues past the end"},
	{"binary past the end", []byte{0x18, 0x10, 'a', 0}, 0, "continues past the end"},
	{"binary claims 4 GiB", []byte{0x18, 0xff, 0xff, 0xff, 0xff, 0x0f, 0}, 0, "binary claims 4294967295 bytes"},
	{"list claims 2^31-1 structs", []byte{0x19, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07, 0}, 0, "continues past the end"},
	{"list claims 2^40", []byte{0x19, 0xfc, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0}, 0, "collection claims 1099511627776 elements"},
	{"map claims 2^40", []byte{0x1b, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x55, 0}, 0, "collection claims"},
	{"structs nested 100 deep", bytes.Repeat([]byte{0x1c}, 100), 0, "structs nested more than 32 deep"},
	{"structs nested 33 deep", append(bytes.Repeat([]byte{0x1c}, 33), bytes.Repeat([]byte{0}, 34)...), 0, "nested more than"},
	// One byte per level, 1 MiB deep: without a bound the walker itself
	// would recurse a million times.
	{"lists nested 1 MiB deep", append([]byte{0x19}, bytes.Repeat([]byte{0x19}, 1<<20)...), 0, "collections nested more than 32 deep"},
	{"maps nested deep", append([]byte{0x1b}, bytes.Repeat([]byte{0x01, 0x3b, 0x00}, 1000)...), 0, "collections nested more than"},
	{"unknown type", []byte{0x1e, 0}, 0, "unknown thrift type code 14"},
	{"unknown element type", []byte{0x19, 0x1e, 0}, 0, "unknown thrift type code 14"},
	{"stop as element type", []byte{0x19, 0x10, 0}, 0, "unknown thrift type code 0"},
	{"varint too long", []byte{0x15, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0}, 0, "varint"},
	{"varint overflows 64 bits", []byte{0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0}, 0, "overflows 64 bits"},
}

func TestThrift(t *testing.T) {
	for _, tc := range thriftCases {
		n, err := Thrift(tc.b)
		switch {
		case tc.want == "" && (err != nil || n != tc.n):
			t.Errorf("%s: Thrift = %d, %v; want %d, nil", tc.name, n, err, tc.n)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: Thrift = %d, %v; want an error containing %q", tc.name, n, err, tc.want)
		case tc.want != "" && errors.Is(err, errShort) != strings.Contains(tc.want, "continues past the end"):
			t.Errorf("%s: errors.Is(err, errShort) = %v for %v", tc.name, !errors.Is(err, errShort), err)
		}
	}
}

// TestThriftPrefixes checks that every proper prefix of a valid struct is
// reported as too short, which readPageHeader relies on to read more.
func TestThriftPrefixes(t *testing.T) {
	for _, tc := range thriftCases {
		if tc.want != "" {
			continue
		}
		for k := 0; k < tc.n; k++ {
			if _, err := Thrift(tc.b[:k]); !errors.Is(err, errShort) {
				t.Errorf("%s: Thrift of the first %d bytes = %v, want errShort", tc.name, k, err)
			}
		}
	}
}
