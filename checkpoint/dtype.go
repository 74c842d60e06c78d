package checkpoint

import (
	"math"
)

// DType is a safetensors element type, spelled as in the header ("F32").
type DType string

// The dtypes of the safetensors format (safetensors/src/tensor.rs, enum
// Dtype), in the order of the reference implementation, which is the order
// of increasing alignment. All are little-endian.
const (
	Bool   DType = "BOOL"
	F4     DType = "F4"      // 4-bit MX float, two per byte
	F6E2M3 DType = "F6_E2M3" // 6-bit MX float
	F6E3M2 DType = "F6_E3M2" // 6-bit MX float
	U8     DType = "U8"
	I8     DType = "I8"
	F8E5M2 DType = "F8_E5M2"
	F8E4M3 DType = "F8_E4M3"
	F8E8M0 DType = "F8_E8M0"
	I16    DType = "I16"
	U16    DType = "U16"
	F16    DType = "F16"  // IEEE 754 half precision
	BF16   DType = "BF16" // bfloat16: the high 16 bits of a float32
	I32    DType = "I32"
	U32    DType = "U32"
	F32    DType = "F32"
	C64    DType = "C64" // complex64: two float32
	F64    DType = "F64"
	I64    DType = "I64"
	U64    DType = "U64"
)

// dtypeOrder lists the dtypes in the reference implementation's order; the
// writer sorts tensors by descending position in it, then by name.
var dtypeOrder = []DType{Bool, F4, F6E2M3, F6E3M2, U8, I8, F8E5M2, F8E4M3, F8E8M0,
	I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64}

// Bits returns the size of one element in bits, or 0 for a dtype that is not
// one of the constants above.
func (d DType) Bits() int {
	switch d {
	case F4:
		return 4
	case F6E2M3, F6E3M2:
		return 6
	case Bool, U8, I8, F8E5M2, F8E4M3, F8E8M0:
		return 8
	case I16, U16, F16, BF16:
		return 16
	case I32, U32, F32:
		return 32
	case C64, F64, I64, U64:
		return 64
	}
	return 0
}

// Valid reports whether d is a dtype of the safetensors format.
func (d DType) Valid() bool { return d.Bits() != 0 }

// rank is d's position in dtypeOrder (-1 if unknown).
func (d DType) rank() int {
	for i, x := range dtypeOrder {
		if x == d {
			return i
		}
	}
	return -1
}

// floatKind reports whether Float32 and Float64 decode d.
func (d DType) floatKind() bool {
	return d == F32 || d == F64 || d == F16 || d == BF16
}

// halfToFloat32 converts IEEE 754 binary16 bits to float32, exactly (every
// half-precision value, subnormals, infinities and NaN payloads included, is a
// float32).
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // infinity or NaN; keep the payload
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp != 0: // normal: rebias 15 -> 127
		return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
	case frac == 0:
		return math.Float32frombits(sign) // signed zero
	}
	// Subnormal: frac * 2^-24, exact in float32.
	v := float32(frac) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}

// bfloat16ToFloat32 converts bfloat16 bits to float32 (exact: they are its
// high 16 bits).
func bfloat16ToFloat32(b uint16) float32 {
	return math.Float32frombits(uint32(b) << 16)
}
