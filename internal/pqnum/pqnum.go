package pqnum

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// ErrNotNumber is matched (errors.Is) by the errors of Of for a column that
// does not hold numbers.
var ErrNotNumber = errors.New("not a numeric column")

// maxDecimalBytes bounds the unscaled integer of a byte-array DECIMAL. Parquet
// writers use at most 16 bytes (precision 38); 64 leaves room for DECIMAL(154,s)
// while keeping a corrupt value from costing more than a few words.
const maxDecimalBytes = 64

// Column says how the values of one numeric parquet column decode. The zero
// value is not a numeric column; use Of.
type Column struct {
	kind     parquet.Kind
	decimal  bool  // DECIMAL(precision, scale)
	scale    int32 // decimal only
	unsigned bool  // INT(8..64, false) / UINT_* on INT32 or INT64
	desc     string
}

// Of classifies a column of type t. It accepts FLOAT and DOUBLE without a
// logical type, INT32 and INT64 without one or with an integer annotation
// (signed or unsigned), and DECIMAL(p,s) on INT32, INT64, FIXED_LEN_BYTE_ARRAY
// or BYTE_ARRAY with 0 <= s <= p. Anything else gives an error matching
// ErrNotNumber that names the type.
func Of(t parquet.Type) (Column, error) {
	c := Column{kind: t.Kind(), desc: Describe(t)}
	var lt format.LogicalTypeValue
	if l := t.LogicalType(); l != nil {
		lt = l.Value
	}
	if d, ok := lt.(*format.DecimalType); ok {
		switch c.kind {
		case parquet.Int32, parquet.Int64, parquet.FixedLenByteArray, parquet.ByteArray:
		default:
			return Column{}, fmt.Errorf("%w: %s: DECIMAL must be stored as INT32, INT64 or a byte array", ErrNotNumber, c.desc)
		}
		if d.Precision < 1 || d.Scale < 0 || d.Scale > d.Precision {
			return Column{}, fmt.Errorf("%w: %s: invalid precision and scale", ErrNotNumber, c.desc)
		}
		c.decimal, c.scale = true, d.Scale
		return c, nil
	}
	if ct := t.ConvertedType(); ct != nil && *ct == deprecated.Decimal {
		// A legacy DECIMAL annotation without its scale: the scale is unknown,
		// so the values cannot be read.
		return Column{}, fmt.Errorf("%w: %s: DECIMAL without a scale", ErrNotNumber, c.desc)
	}
	switch c.kind {
	case parquet.Float, parquet.Double:
		if lt == nil {
			return c, nil
		}
	case parquet.Int32, parquet.Int64:
		switch it := lt.(type) {
		case nil:
			return c, nil
		case *format.IntType:
			c.unsigned = !it.IsSigned
			return c, nil
		}
	}
	return Column{}, fmt.Errorf("%w: %s", ErrNotNumber, c.desc)
}

// Describe names a parquet type for messages: the physical type, and the
// logical type in parentheses when there is one, e.g. "INT32 (DECIMAL(2,1))".
func Describe(t parquet.Type) string {
	s := t.Kind().String()
	if l := t.LogicalType(); l != nil && l.Value != nil {
		s += " (" + l.Value.String() + ")"
	}
	return s
}

// String describes the column's type, as Describe.
func (c Column) String() string { return c.desc }

// Decimal reports whether the column is a DECIMAL, and its scale.
func (c Column) Decimal() (scale int32, ok bool) { return c.scale, c.decimal }

// Integer reports whether every value of the column is an integer: an integer
// column, or a DECIMAL with scale 0.
func (c Column) Integer() bool {
	if c.decimal {
		return c.scale == 0
	}
	return c.kind == parquet.Int32 || c.kind == parquet.Int64
}

// Fractional reports whether the column holds non-integer numbers: FLOAT,
// DOUBLE, or a DECIMAL with a positive scale.
func (c Column) Fractional() bool {
	if c.decimal {
		return c.scale > 0
	}
	return c.kind == parquet.Float || c.kind == parquet.Double
}

// Float64 returns the value v of the column as float64: a DECIMAL as the
// float64 nearest to u * 10^-scale, an unsigned integer as unsigned. NaN and
// ±Inf of FLOAT and DOUBLE columns are returned as they are. A null v, a value
// of another physical type, a byte-array DECIMAL longer than 64 bytes and a
// DECIMAL outside the float64 range give an error.
func (c Column) Float64(v parquet.Value) (float64, error) {
	if v.IsNull() {
		return 0, errors.New("null value")
	}
	if v.Kind() != c.kind {
		return 0, fmt.Errorf("corrupt value of kind %v in a %s column", v.Kind(), c.desc)
	}
	switch c.kind {
	case parquet.Float:
		return float64(v.Float()), nil
	case parquet.Double:
		return v.Double(), nil
	}
	if !c.decimal {
		return c.integer(v), nil
	}
	return c.decimalValue(v, 64)
}

// Float32 is Float64 rounded once to float32: a DECIMAL is converted to the
// float32 nearest to its exact value (not through float64), so the result is
// what a float32 parse of its decimal text gives. A value outside the float32
// range gives an error.
func (c Column) Float32(v parquet.Value) (float32, error) {
	if v.IsNull() {
		return 0, errors.New("null value")
	}
	if v.Kind() != c.kind {
		return 0, fmt.Errorf("corrupt value of kind %v in a %s column", v.Kind(), c.desc)
	}
	if c.kind == parquet.Float {
		return v.Float(), nil
	}
	var x float64
	var err error
	if c.decimal {
		x, err = c.decimalValue(v, 32)
	} else if c.kind == parquet.Double {
		x = v.Double()
	} else {
		x = c.integer(v)
	}
	if err != nil {
		return 0, err
	}
	f := float32(x) // exact for a DECIMAL: decimalValue rounded to float32 already
	if math.IsInf(float64(f), 0) && !math.IsInf(x, 0) {
		return 0, fmt.Errorf("%v is outside the float32 range", x)
	}
	return f, nil
}

// integer converts an INT32 or INT64 value, honouring the unsigned flag.
func (c Column) integer(v parquet.Value) float64 {
	if c.kind == parquet.Int32 {
		if c.unsigned {
			return float64(uint32(v.Int32()))
		}
		return float64(v.Int32())
	}
	if c.unsigned {
		return float64(uint64(v.Int64()))
	}
	return float64(v.Int64())
}

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// decimalValue returns u * 10^-scale rounded to the nearest float of bits 32
// or 64 (returned as float64).
func (c Column) decimalValue(v parquet.Value, bits int) (float64, error) {
	var u int64
	switch c.kind {
	case parquet.Int32:
		u = int64(v.Int32())
	case parquet.Int64:
		u = v.Int64()
	default:
		b := v.ByteArray()
		switch {
		case len(b) == 0:
			return 0, errors.New("empty DECIMAL value")
		case len(b) > maxDecimalBytes:
			return 0, fmt.Errorf("DECIMAL value of %d bytes, more than %d", len(b), maxDecimalBytes)
		case len(b) <= 8:
			// Sign-extend the big-endian two's complement integer.
			u = int64(int8(b[0]))
			for _, x := range b[1:] {
				u = u<<8 | int64(x)
			}
		default:
			n := new(big.Int).SetBytes(b)
			if b[0]&0x80 != 0 {
				n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
			}
			return parseScaled(n.String(), c.scale, bits)
		}
	}
	// Exact operands give a correctly rounded quotient.
	const exact64, exact32 = 1 << 53, 1 << 24
	switch {
	case bits == 64 && u > -exact64 && u < exact64 && int(c.scale) < len(pow10):
		return float64(u) / pow10[c.scale], nil
	case bits == 32 && u > -exact32 && u < exact32 && c.scale <= 10:
		return float64(float32(u) / float32(pow10[c.scale])), nil
	}
	return parseScaled(strconv.FormatInt(u, 10), c.scale, bits)
}

// parseScaled parses the decimal integer digits times 10^-scale.
func parseScaled(digits string, scale int32, bits int) (float64, error) {
	s := digits + "e-" + strconv.Itoa(int(scale))
	x, err := strconv.ParseFloat(s, bits)
	if err != nil {
		return 0, fmt.Errorf("DECIMAL value %se-%d is outside the float%d range", digits, scale, bits)
	}
	return x, nil
}

// Int64 returns the value v of an INT32 or INT64 column (not a DECIMAL)
// exactly, honouring the unsigned flag. It reports false for other columns,
// null values, values of another physical type and a UINT64 above
// math.MaxInt64.
func (c Column) Int64(v parquet.Value) (int64, bool) {
	if c.decimal || v.IsNull() || v.Kind() != c.kind {
		return 0, false
	}
	switch c.kind {
	case parquet.Int32:
		if c.unsigned {
			return int64(uint32(v.Int32())), true
		}
		return int64(v.Int32()), true
	case parquet.Int64:
		if c.unsigned && v.Int64() < 0 {
			return 0, false
		}
		return v.Int64(), true
	}
	return 0, false
}
