//go:build amd64 && !purego

#include "textflag.h"

// func transpose8(dst *float32, dstStride int, src *float32, srcStride int, blocks int, rows int)
//
// The AVX2 packing transpose: for b < blocks, the 8 x 8 block of float32 at
// src + 8b (row r at src[r*srcStride + 8b + c], r, c < 8) is stored
// transposed, dst[(8b+c)*dstStride + r] = src[r*srcStride + 8b + c], for
// r < rows (6 or 8; with 6 rows, rows 6 and 7 are read but not stored).
// Registers: Y0-Y7 the rows, Y8-Y15 the unpacked pairs, then Y0-Y7 the
// shuffled quads and Y8-Y15 the columns.
TEXT ·transpose8(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ dstStride+8(FP), R8
	SHLQ $2, R8
	MOVQ src+16(FP), SI
	MOVQ srcStride+24(FP), R9
	SHLQ $2, R9
	MOVQ blocks+32(FP), CX
	MOVQ rows+40(FP), R11
	LEAQ (R9)(R9*2), R10 // 3 rows

block:
	MOVQ    SI, AX
	VMOVUPS (AX), Y0
	VMOVUPS (AX)(R9*1), Y1
	VMOVUPS (AX)(R9*2), Y2
	VMOVUPS (AX)(R10*1), Y3
	LEAQ    (AX)(R9*4), AX
	VMOVUPS (AX), Y4
	VMOVUPS (AX)(R9*1), Y5
	VMOVUPS (AX)(R9*2), Y6
	VMOVUPS (AX)(R10*1), Y7

	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15

	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xee, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xee, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xee, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xee, Y15, Y13, Y7

	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15

	MOVQ DI, AX
	CMPQ R11, $8
	JNE  six

	VMOVUPS Y8, (AX)
	ADDQ    R8, AX
	VMOVUPS Y9, (AX)
	ADDQ    R8, AX
	VMOVUPS Y10, (AX)
	ADDQ    R8, AX
	VMOVUPS Y11, (AX)
	ADDQ    R8, AX
	VMOVUPS Y12, (AX)
	ADDQ    R8, AX
	VMOVUPS Y13, (AX)
	ADDQ    R8, AX
	VMOVUPS Y14, (AX)
	ADDQ    R8, AX
	VMOVUPS Y15, (AX)
	JMP next

six:
	VMOVUPS      X8, (AX)
	VEXTRACTF128 $1, Y8, X0
	VMOVLPS      X0, 16(AX)
	ADDQ         R8, AX
	VMOVUPS      X9, (AX)
	VEXTRACTF128 $1, Y9, X1
	VMOVLPS      X1, 16(AX)
	ADDQ         R8, AX
	VMOVUPS      X10, (AX)
	VEXTRACTF128 $1, Y10, X2
	VMOVLPS      X2, 16(AX)
	ADDQ         R8, AX
	VMOVUPS      X11, (AX)
	VEXTRACTF128 $1, Y11, X3
	VMOVLPS      X3, 16(AX)
	ADDQ         R8, AX
	VMOVUPS      X12, (AX)
	VEXTRACTF128 $1, Y12, X4
	VMOVLPS      X4, 16(AX)
	ADDQ         R8, AX
	VMOVUPS      X13, (AX)
	VEXTRACTF128 $1, Y13, X5
	VMOVLPS      X5, 16(AX)
	ADDQ         R8, AX
	VMOVUPS      X14, (AX)
	VEXTRACTF128 $1, Y14, X6
	VMOVLPS      X6, 16(AX)
	ADDQ         R8, AX
	VMOVUPS      X15, (AX)
	VEXTRACTF128 $1, Y15, X7
	VMOVLPS      X7, 16(AX)

next:
	ADDQ $32, SI
	MOVQ R8, AX
	SHLQ $3, AX
	ADDQ AX, DI
	DECQ CX
	JNZ  block
	VZEROUPPER
	RET
