package pqnum

import (
	"errors"
	"math"
	"strconv"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// TestFloat64 decodes DECIMAL values of every physical type; the expected
// values are the decimal numbers u * 10^-s written out by hand.
func TestFloat64(t *testing.T) {
	fixed := func(n int) parquet.Type { return parquet.FixedLenByteArrayType(n) }
	cases := []struct {
		name string
		typ  parquet.Type
		v    parquet.Value
		want float64
	}{
		{"int32 decimal(2,1) 10", parquet.Decimal(1, 2, parquet.Int32Type).Type(), parquet.Int32Value(10), 1.0},
		{"int32 decimal(2,1) -5", parquet.Decimal(1, 2, parquet.Int32Type).Type(), parquet.Int32Value(-5), -0.5},
		{"int64 decimal(10,6)", parquet.Decimal(6, 10, parquet.Int64Type).Type(), parquet.Int64Value(1499400), 1.4994},
		{"int64 decimal(18,0)", parquet.Decimal(0, 18, parquet.Int64Type).Type(), parquet.Int64Value(-123456789012345678), -123456789012345678},
		{"int64 decimal(18,17) beyond 2^53", parquet.Decimal(17, 18, parquet.Int64Type).Type(), parquet.Int64Value(123456789012345678), 1.23456789012345678},
		// 1.4994 as DECIMAL(20,6) in 9 bytes: 1499400 = 0x16E108.
		{"fixed(9) decimal(20,6)", parquet.Decimal(6, 20, fixed(9)).Type(),
			parquet.FixedLenByteArrayValue([]byte{0, 0, 0, 0, 0, 0, 0x16, 0xE1, 0x08}), 1.4994},
		// -1 in two's complement, 9 bytes.
		{"fixed(9) decimal(20,2) negative", parquet.Decimal(2, 20, fixed(9)).Type(),
			parquet.FixedLenByteArrayValue([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), -0.01},
		// -1499400 in 4 bytes: 0xFFE91EF8.
		{"byte array decimal(10,6) negative", parquet.Decimal(6, 10, parquet.ByteArrayType).Type(),
			parquet.ByteArrayValue([]byte{0xFF, 0xE9, 0x1E, 0xF8}), -1.4994},
		{"byte array decimal(3,1) one byte", parquet.Decimal(1, 3, parquet.ByteArrayType).Type(),
			parquet.ByteArrayValue([]byte{0x80}), -12.8},
		{"uint32", parquet.Uint(32).Type(), parquet.Int32Value(-1), math.MaxUint32},
		{"uint64", parquet.Uint(64).Type(), parquet.Int64Value(-1), math.MaxUint64},
		{"int32", parquet.Int32Type, parquet.Int32Value(-7), -7},
		{"float", parquet.FloatType, parquet.FloatValue(0.25), 0.25},
		{"double", parquet.DoubleType, parquet.DoubleValue(-0.1), -0.1},
	}
	for _, c := range cases {
		col, err := Of(c.typ)
		if err != nil {
			t.Fatalf("%s: Of: %v", c.name, err)
		}
		got, err := col.Float64(c.v.Level(0, 0, 0))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s (%s): got %v, want %v", c.name, col, got, c.want)
		}
	}
}

// TestFloat32 checks that a DECIMAL is rounded once, to the float32 nearest
// its exact value, as strconv.ParseFloat(text, 32) gives.
func TestFloat32(t *testing.T) {
	col, err := Of(parquet.Decimal(6, 20, parquet.FixedLenByteArrayType(9)).Type())
	if err != nil {
		t.Fatal(err)
	}
	// 16777217e-6 = 16.777217: beyond the exact float32 fast path.
	b := []byte{0, 0, 0, 0, 0, 0x01, 0x00, 0x00, 0x01}
	got, err := col.Float32(parquet.FixedLenByteArrayValue(b))
	if err != nil {
		t.Fatal(err)
	}
	if want := float32(16.777217); got != want {
		t.Errorf("got %v, want %v", got, want)
	}
	d, _ := Of(parquet.Decimal(1, 2, parquet.Int32Type).Type())
	if got, _ := d.Float32(parquet.Int32Value(3)); got != float32(0.3) {
		t.Errorf("DECIMAL(2,1) 3: got %v, want 0.3", got)
	}
	// 10^39 as DECIMAL(40,0) overflows float32 (max about 3.4e38).
	big, _ := Of(parquet.Decimal(0, 40, parquet.FixedLenByteArrayType(17)).Type())
	huge := []byte{0x02, 0xf0, 0x50, 0xfe, 0x93, 0x89, 0x43, 0xac, 0xc4, 0x5f, 0x65, 0x56, 0x80, 0x00, 0x00, 0x00, 0x00}
	if _, err := big.Float32(parquet.FixedLenByteArrayValue(huge)); err == nil {
		t.Error("10^39 as float32: no error")
	}
	if x, err := big.Float64(parquet.FixedLenByteArrayValue(huge)); err != nil || x != 1e39 {
		t.Errorf("10^39 as float64: %v, %v", x, err)
	}
}

// TestOfRefuses: columns that are not numbers are refused with ErrNotNumber.
func TestOfRefuses(t *testing.T) {
	for _, typ := range []parquet.Type{
		parquet.String().Type(), parquet.BooleanType, parquet.Date().Type(),
		parquet.Timestamp(parquet.Millisecond).Type(), parquet.FixedLenByteArrayType(16),
	} {
		if c, err := Of(typ); !errors.Is(err, ErrNotNumber) {
			t.Errorf("Of(%s) = %v, %v; want ErrNotNumber", Describe(typ), c, err)
		}
	}
}

// TestBadValues: malformed decimal values give errors, not garbage.
func TestBadValues(t *testing.T) {
	col, _ := Of(parquet.Decimal(2, 10, parquet.ByteArrayType).Type())
	for _, v := range []parquet.Value{
		parquet.ByteArrayValue(nil),
		parquet.ByteArrayValue(make([]byte, 65)),
		parquet.Int32Value(1),
		parquet.NullValue(),
	} {
		if x, err := col.Float64(v); err == nil {
			t.Errorf("%v: got %v, want an error", v, x)
		}
	}
}

func TestIntegerFractional(t *testing.T) {
	for _, c := range []struct {
		typ                 parquet.Type
		integer, fractional bool
	}{
		{parquet.Int64Type, true, false},
		{parquet.DoubleType, false, true},
		{parquet.Decimal(0, 9, parquet.Int32Type).Type(), true, false},
		{parquet.Decimal(3, 9, parquet.Int32Type).Type(), false, true},
	} {
		col, err := Of(c.typ)
		if err != nil {
			t.Fatal(err)
		}
		if col.Integer() != c.integer || col.Fractional() != c.fractional {
			t.Errorf("%s: Integer %v Fractional %v", col, col.Integer(), col.Fractional())
		}
	}
}

func TestInt64(t *testing.T) {
	u64, _ := Of(parquet.Uint(64).Type())
	if _, ok := u64.Int64(parquet.Int64Value(-1)); ok {
		t.Error("UINT64 max fits int64")
	}
	u32, _ := Of(parquet.Uint(32).Type())
	if x, ok := u32.Int64(parquet.Int32Value(-1)); !ok || x != math.MaxUint32 {
		t.Errorf("UINT32 max: %v %v", x, ok)
	}
	i64, _ := Of(parquet.Int64Type)
	if x, ok := i64.Int64(parquet.Int64Value(math.MinInt64)); !ok || x != math.MinInt64 {
		t.Errorf("INT64 min: %v %v", x, ok)
	}
	dec, _ := Of(parquet.Decimal(0, 9, parquet.Int32Type).Type())
	if _, ok := dec.Int64(parquet.Int32Value(1)); ok {
		t.Error("DECIMAL read by Int64")
	}
}

// FuzzDecimal: an unscaled integer decodes the same from INT64 and from its
// 9-byte two's complement (FIXED_LEN_BYTE_ARRAY), and equals the correctly
// rounded parse of its decimal text, in float64 and float32.
func FuzzDecimal(f *testing.F) {
	f.Add(int64(1499400), uint8(6))
	f.Add(int64(-5), uint8(1))
	f.Add(int64(math.MaxInt64), uint8(18))
	f.Add(int64(16777217), uint8(6))
	f.Fuzz(func(t *testing.T, u int64, s uint8) {
		scale := int(s % 19)
		i64, err := Of(parquet.Decimal(scale, 18, parquet.Int64Type).Type())
		if err != nil {
			t.Fatal(err)
		}
		flba, _ := Of(parquet.Decimal(scale, 21, parquet.FixedLenByteArrayType(9)).Type())
		b := make([]byte, 9)
		for k := 8; k >= 0; k-- {
			b[k] = byte(u >> (8 * (8 - k)))
		}
		if u < 0 {
			b[0] = 0xff
		}
		text := strconv.FormatInt(u, 10) + "e-" + strconv.Itoa(scale)
		want64, _ := strconv.ParseFloat(text, 64)
		want32, _ := strconv.ParseFloat(text, 32)
		for _, c := range []struct {
			col Column
			v   parquet.Value
		}{{i64, parquet.Int64Value(u)}, {flba, parquet.FixedLenByteArrayValue(b)}} {
			got, err := c.col.Float64(c.v)
			if err != nil || got != want64 {
				t.Fatalf("%s %d scale %d: Float64 %v, %v; want %v", c.col, u, scale, got, err, want64)
			}
			g32, err := c.col.Float32(c.v)
			if err != nil || g32 != float32(want32) {
				t.Fatalf("%s %d scale %d: Float32 %v, %v; want %v", c.col, u, scale, g32, err, float32(want32))
			}
		}
	})
}
