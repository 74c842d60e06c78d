//go:build arm64 && !purego

#include "textflag.h"

// NEON micro-kernels for arm64 (ARMv8-A Advanced SIMD, always present).
//
// Both kernels read packed panels in the BLIS layout: a holds k x MR elements
// with element (l, i) at a[l*MR+i], b holds k x NR with (l, j) at b[l*NR+j];
// the tile of C is row-major with leading dimension ldc (elements). Each
// accumulator lane is one C(i, j); every k-step does, for each row i and each
// 128-bit quarter q of the row of b,
//
//	acc(i, q) += b_q * a[i]        (FMLA by element: a[i] is a lane of a register)
//
// so every element is summed from +0 by fused multiply-adds in increasing
// order of l, exactly as the Go references (F32Go; for F64 the math.FMA reference of kernel_test.go) do. Results are bit for bit
// those of the references provided FPCR.FZ = 0 and FPCR.DN = 0 (Linux and Go
// leave them so), NaN payloads aside.
//
// The Go assembler (Go 1.26) has no FMLA (by element), FCVTL/FCVTL2 or vector
// FADD, so those are emitted with WORD by the macros below; each encoding was
// checked against llvm-mc -triple=aarch64 -show-encoding and the whole
// object is checked by disassembling it (see README.md). Register numbers
// are plain integers 0..31 (Vn).

// FMLA Vd.4S, Vn.4S, Vm.S[idx]   (vector by element, single precision;
// 0 1 0 01111 1 0 L M:Rm 0001 H 0 Rn Rd, idx = H:L, any Vm)
#define FMLA_S4(d, n, m, idx) WORD $(0x4F801000 | (((idx)&1)<<21) | ((m)<<16) | (((idx)>>1)<<11) | ((n)<<5) | (d))

// FMLA Vd.2D, Vn.2D, Vm.D[idx]   (vector by element, double precision;
// 0 1 0 01111 1 1 0 M:Rm 0001 H 0 Rn Rd, idx = H, any Vm)
#define FMLA_D2(d, n, m, idx) WORD $(0x4FC01000 | ((m)<<16) | ((idx)<<11) | ((n)<<5) | (d))

// FCVTL Vd.2D, Vn.2S   (lanes 0, 1 of Vn.4S widened to float64; exact)
#define FCVTL(d, n) WORD $(0x0E617800 | ((n)<<5) | (d))

// FCVTL2 Vd.2D, Vn.4S  (lanes 2, 3 of Vn.4S widened to float64; exact)
#define FCVTL2(d, n) WORD $(0x4E617800 | ((n)<<5) | (d))

// FADD Vd.2D, Vn.2D, Vm.2D
#define FADD_D2(d, n, m) WORD $(0x4E60D400 | ((m)<<16) | ((n)<<5) | (d))

// func f32NEON(k int, a, b *float32, c *float64, ldc int)
//
// Tile 8 x 12 (MR = 8, NR = 12): c[i*ldc+j] += float64(acc(i, j)), acc the
// float32 FMLA sum over l < k from +0. k >= 0; k == 0 adds +0 to the tile
// and reads neither panel. Nothing outside the 8 x 12 tile of c is touched.
//
// Registers:
//	R0 k (loop counter)   R1 a   R2 b   R3 c row   R4 ldc*8 (row stride, bytes)
//	R5 c row + 64 bytes (columns 8..11)
//	V0..V23   accumulators: V(3i+q) = acc(i, 4q..4q+3), i < 8, q < 3
//	V24, V25  a[l*8 : l*8+8]     (a[i] is lane i%4 of V(24+i/4))
//	V26..V28  b[l*12 : l*12+12]  (V(26+q) = b[l*12+4q : l*12+4q+4])
//	V24..V31  reused by the write-back: V24..V29 one row of c (12 float64),
//	          V30, V31 the widened accumulators
//
// Per k-step: 2 loads (LD1, 32 + 48 bytes), 24 FMLA, SUBS, BNE = 28
// instructions for 96 multiply-adds.
TEXT ·f32NEON(SB), NOSPLIT, $0-40
	MOVD k+0(FP), R0
	MOVD a+8(FP), R1
	MOVD b+16(FP), R2
	MOVD c+24(FP), R3
	MOVD ldc+32(FP), R4
	LSL  $3, R4, R4

	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	VEOR V4.B16, V4.B16, V4.B16
	VEOR V5.B16, V5.B16, V5.B16
	VEOR V6.B16, V6.B16, V6.B16
	VEOR V7.B16, V7.B16, V7.B16
	VEOR V8.B16, V8.B16, V8.B16
	VEOR V9.B16, V9.B16, V9.B16
	VEOR V10.B16, V10.B16, V10.B16
	VEOR V11.B16, V11.B16, V11.B16
	VEOR V12.B16, V12.B16, V12.B16
	VEOR V13.B16, V13.B16, V13.B16
	VEOR V14.B16, V14.B16, V14.B16
	VEOR V15.B16, V15.B16, V15.B16
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	VEOR V18.B16, V18.B16, V18.B16
	VEOR V19.B16, V19.B16, V19.B16
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	VEOR V22.B16, V22.B16, V22.B16
	VEOR V23.B16, V23.B16, V23.B16

	CBZ R0, f32store

f32loop:
	VLD1.P 32(R1), [V24.S4, V25.S4]
	VLD1.P 48(R2), [V26.S4, V27.S4, V28.S4]
	FMLA_S4(0, 26, 24, 0)      // FMLA V0.4S, V26.4S, V24.S[0]
	FMLA_S4(1, 27, 24, 0)      // FMLA V1.4S, V27.4S, V24.S[0]
	FMLA_S4(2, 28, 24, 0)      // FMLA V2.4S, V28.4S, V24.S[0]
	FMLA_S4(3, 26, 24, 1)      // FMLA V3.4S, V26.4S, V24.S[1]
	FMLA_S4(4, 27, 24, 1)      // FMLA V4.4S, V27.4S, V24.S[1]
	FMLA_S4(5, 28, 24, 1)      // FMLA V5.4S, V28.4S, V24.S[1]
	FMLA_S4(6, 26, 24, 2)      // FMLA V6.4S, V26.4S, V24.S[2]
	FMLA_S4(7, 27, 24, 2)      // FMLA V7.4S, V27.4S, V24.S[2]
	FMLA_S4(8, 28, 24, 2)      // FMLA V8.4S, V28.4S, V24.S[2]
	FMLA_S4(9, 26, 24, 3)      // FMLA V9.4S, V26.4S, V24.S[3]
	FMLA_S4(10, 27, 24, 3)     // FMLA V10.4S, V27.4S, V24.S[3]
	FMLA_S4(11, 28, 24, 3)     // FMLA V11.4S, V28.4S, V24.S[3]
	FMLA_S4(12, 26, 25, 0)     // FMLA V12.4S, V26.4S, V25.S[0]
	FMLA_S4(13, 27, 25, 0)     // FMLA V13.4S, V27.4S, V25.S[0]
	FMLA_S4(14, 28, 25, 0)     // FMLA V14.4S, V28.4S, V25.S[0]
	FMLA_S4(15, 26, 25, 1)     // FMLA V15.4S, V26.4S, V25.S[1]
	FMLA_S4(16, 27, 25, 1)     // FMLA V16.4S, V27.4S, V25.S[1]
	FMLA_S4(17, 28, 25, 1)     // FMLA V17.4S, V28.4S, V25.S[1]
	FMLA_S4(18, 26, 25, 2)     // FMLA V18.4S, V26.4S, V25.S[2]
	FMLA_S4(19, 27, 25, 2)     // FMLA V19.4S, V27.4S, V25.S[2]
	FMLA_S4(20, 28, 25, 2)     // FMLA V20.4S, V28.4S, V25.S[2]
	FMLA_S4(21, 26, 25, 3)     // FMLA V21.4S, V26.4S, V25.S[3]
	FMLA_S4(22, 27, 25, 3)     // FMLA V22.4S, V27.4S, V25.S[3]
	FMLA_S4(23, 28, 25, 3)     // FMLA V23.4S, V28.4S, V25.S[3]
	SUBS $1, R0, R0
	BNE  f32loop

f32store:
	// Row i: c[i][0..11] += float64(V(3i), V(3i+1), V(3i+2)).
	// row 0
	ADD  $64, R3, R5
	VLD1 (R3), [V24.D2, V25.D2, V26.D2, V27.D2]
	VLD1 (R5), [V28.D2, V29.D2]
	FCVTL(30, 0)               // FCVTL  V30.2D, V0.2S
	FCVTL2(31, 0)              // FCVTL2 V31.2D, V0.4S
	FADD_D2(24, 24, 30)        // FADD   V24.2D, V24.2D, V30.2D
	FADD_D2(25, 25, 31)        // FADD   V25.2D, V25.2D, V31.2D
	FCVTL(30, 1)               // FCVTL  V30.2D, V1.2S
	FCVTL2(31, 1)              // FCVTL2 V31.2D, V1.4S
	FADD_D2(26, 26, 30)        // FADD   V26.2D, V26.2D, V30.2D
	FADD_D2(27, 27, 31)        // FADD   V27.2D, V27.2D, V31.2D
	FCVTL(30, 2)               // FCVTL  V30.2D, V2.2S
	FCVTL2(31, 2)              // FCVTL2 V31.2D, V2.4S
	FADD_D2(28, 28, 30)        // FADD   V28.2D, V28.2D, V30.2D
	FADD_D2(29, 29, 31)        // FADD   V29.2D, V29.2D, V31.2D
	VST1 [V24.D2, V25.D2, V26.D2, V27.D2], (R3)
	VST1 [V28.D2, V29.D2], (R5)
	ADD  R4, R3, R3
	// row 1
	ADD  $64, R3, R5
	VLD1 (R3), [V24.D2, V25.D2, V26.D2, V27.D2]
	VLD1 (R5), [V28.D2, V29.D2]
	FCVTL(30, 3)               // FCVTL  V30.2D, V3.2S
	FCVTL2(31, 3)              // FCVTL2 V31.2D, V3.4S
	FADD_D2(24, 24, 30)        // FADD   V24.2D, V24.2D, V30.2D
	FADD_D2(25, 25, 31)        // FADD   V25.2D, V25.2D, V31.2D
	FCVTL(30, 4)               // FCVTL  V30.2D, V4.2S
	FCVTL2(31, 4)              // FCVTL2 V31.2D, V4.4S
	FADD_D2(26, 26, 30)        // FADD   V26.2D, V26.2D, V30.2D
	FADD_D2(27, 27, 31)        // FADD   V27.2D, V27.2D, V31.2D
	FCVTL(30, 5)               // FCVTL  V30.2D, V5.2S
	FCVTL2(31, 5)              // FCVTL2 V31.2D, V5.4S
	FADD_D2(28, 28, 30)        // FADD   V28.2D, V28.2D, V30.2D
	FADD_D2(29, 29, 31)        // FADD   V29.2D, V29.2D, V31.2D
	VST1 [V24.D2, V25.D2, V26.D2, V27.D2], (R3)
	VST1 [V28.D2, V29.D2], (R5)
	ADD  R4, R3, R3
	// row 2
	ADD  $64, R3, R5
	VLD1 (R3), [V24.D2, V25.D2, V26.D2, V27.D2]
	VLD1 (R5), [V28.D2, V29.D2]
	FCVTL(30, 6)               // FCVTL  V30.2D, V6.2S
	FCVTL2(31, 6)              // FCVTL2 V31.2D, V6.4S
	FADD_D2(24, 24, 30)        // FADD   V24.2D, V24.2D, V30.2D
	FADD_D2(25, 25, 31)        // FADD   V25.2D, V25.2D, V31.2D
	FCVTL(30, 7)               // FCVTL  V30.2D, V7.2S
	FCVTL2(31, 7)              // FCVTL2 V31.2D, V7.4S
	FADD_D2(26, 26, 30)        // FADD   V26.2D, V26.2D, V30.2D
	FADD_D2(27, 27, 31)        // FADD   V27.2D, V27.2D, V31.2D
	FCVTL(30, 8)               // FCVTL  V30.2D, V8.2S
	FCVTL2(31, 8)              // FCVTL2 V31.2D, V8.4S
	FADD_D2(28, 28, 30)        // FADD   V28.2D, V28.2D, V30.2D
	FADD_D2(29, 29, 31)        // FADD   V29.2D, V29.2D, V31.2D
	VST1 [V24.D2, V25.D2, V26.D2, V27.D2], (R3)
	VST1 [V28.D2, V29.D2], (R5)
	ADD  R4, R3, R3
	// row 3
	ADD  $64, R3, R5
	VLD1 (R3), [V24.D2, V25.D2, V26.D2, V27.D2]
	VLD1 (R5), [V28.D2, V29.D2]
	FCVTL(30, 9)               // FCVTL  V30.2D, V9.2S
	FCVTL2(31, 9)              // FCVTL2 V31.2D, V9.4S
	FADD_D2(24, 24, 30)        // FADD   V24.2D, V24.2D, V30.2D
	FADD_D2(25, 25, 31)        // FADD   V25.2D, V25.2D, V31.2D
	FCVTL(30, 10)              // FCVTL  V30.2D, V10.2S
	FCVTL2(31, 10)             // FCVTL2 V31.2D, V10.4S
	FADD_D2(26, 26, 30)        // FADD   V26.2D, V26.2D, V30.2D
	FADD_D2(27, 27, 31)        // FADD   V27.2D, V27.2D, V31.2D
	FCVTL(30, 11)              // FCVTL  V30.2D, V11.2S
	FCVTL2(31, 11)             // FCVTL2 V31.2D, V11.4S
	FADD_D2(28, 28, 30)        // FADD   V28.2D, V28.2D, V30.2D
	FADD_D2(29, 29, 31)        // FADD   V29.2D, V29.2D, V31.2D
	VST1 [V24.D2, V25.D2, V26.D2, V27.D2], (R3)
	VST1 [V28.D2, V29.D2], (R5)
	ADD  R4, R3, R3
	// row 4
	ADD  $64, R3, R5
	VLD1 (R3), [V24.D2, V25.D2, V26.D2, V27.D2]
	VLD1 (R5), [V28.D2, V29.D2]
	FCVTL(30, 12)              // FCVTL  V30.2D, V12.2S
	FCVTL2(31, 12)             // FCVTL2 V31.2D, V12.4S
	FADD_D2(24, 24, 30)        // FADD   V24.2D, V24.2D, V30.2D
	FADD_D2(25, 25, 31)        // FADD   V25.2D, V25.2D, V31.2D
	FCVTL(30, 13)              // FCVTL  V30.2D, V13.2S
	FCVTL2(31, 13)             // FCVTL2 V31.2D, V13.4S
	FADD_D2(26, 26, 30)        // FADD   V26.2D, V26.2D, V30.2D
	FADD_D2(27, 27, 31)        // FADD   V27.2D, V27.2D, V31.2D
	FCVTL(30, 14)              // FCVTL  V30.2D, V14.2S
	FCVTL2(31, 14)             // FCVTL2 V31.2D, V14.4S
	FADD_D2(28, 28, 30)        // FADD   V28.2D, V28.2D, V30.2D
	FADD_D2(29, 29, 31)        // FADD   V29.2D, V29.2D, V31.2D
	VST1 [V24.D2, V25.D2, V26.D2, V27.D2], (R3)
	VST1 [V28.D2, V29.D2], (R5)
	ADD  R4, R3, R3
	// row 5
	ADD  $64, R3, R5
	VLD1 (R3), [V24.D2, V25.D2, V26.D2, V27.D2]
	VLD1 (R5), [V28.D2, V29.D2]
	FCVTL(30, 15)              // FCVTL  V30.2D, V15.2S
	FCVTL2(31, 15)             // FCVTL2 V31.2D, V15.4S
	FADD_D2(24, 24, 30)        // FADD   V24.2D, V24.2D, V30.2D
	FADD_D2(25, 25, 31)        // FADD   V25.2D, V25.2D, V31.2D
	FCVTL(30, 16)              // FCVTL  V30.2D, V16.2S
	FCVTL2(31, 16)             // FCVTL2 V31.2D, V16.4S
	FADD_D2(26, 26, 30)        // FADD   V26.2D, V26.2D, V30.2D
	FADD_D2(27, 27, 31)        // FADD   V27.2D, V27.2D, V31.2D
	FCVTL(30, 17)              // FCVTL  V30.2D, V17.2S
	FCVTL2(31, 17)             // FCVTL2 V31.2D, V17.4S
	FADD_D2(28, 28, 30)        // FADD   V28.2D, V28.2D, V30.2D
	FADD_D2(29, 29, 31)        // FADD   V29.2D, V29.2D, V31.2D
	VST1 [V24.D2, V25.D2, V26.D2, V27.D2], (R3)
	VST1 [V28.D2, V29.D2], (R5)
	ADD  R4, R3, R3
	// row 6
	ADD  $64, R3, R5
	VLD1 (R3), [V24.D2, V25.D2, V26.D2, V27.D2]
	VLD1 (R5), [V28.D2, V29.D2]
	FCVTL(30, 18)              // FCVTL  V30.2D, V18.2S
	FCVTL2(31, 18)             // FCVTL2 V31.2D, V18.4S
	FADD_D2(24, 24, 30)        // FADD   V24.2D, V24.2D, V30.2D
	FADD_D2(25, 25, 31)        // FADD   V25.2D, V25.2D, V31.2D
	FCVTL(30, 19)              // FCVTL  V30.2D, V19.2S
	FCVTL2(31, 19)             // FCVTL2 V31.2D, V19.4S
	FADD_D2(26, 26, 30)        // FADD   V26.2D, V26.2D, V30.2D
	FADD_D2(27, 27, 31)        // FADD   V27.2D, V27.2D, V31.2D
	FCVTL(30, 20)              // FCVTL  V30.2D, V20.2S
	FCVTL2(31, 20)             // FCVTL2 V31.2D, V20.4S
	FADD_D2(28, 28, 30)        // FADD   V28.2D, V28.2D, V30.2D
	FADD_D2(29, 29, 31)        // FADD   V29.2D, V29.2D, V31.2D
	VST1 [V24.D2, V25.D2, V26.D2, V27.D2], (R3)
	VST1 [V28.D2, V29.D2], (R5)
	ADD  R4, R3, R3
	// row 7
	ADD  $64, R3, R5
	VLD1 (R3), [V24.D2, V25.D2, V26.D2, V27.D2]
	VLD1 (R5), [V28.D2, V29.D2]
	FCVTL(30, 21)              // FCVTL  V30.2D, V21.2S
	FCVTL2(31, 21)             // FCVTL2 V31.2D, V21.4S
	FADD_D2(24, 24, 30)        // FADD   V24.2D, V24.2D, V30.2D
	FADD_D2(25, 25, 31)        // FADD   V25.2D, V25.2D, V31.2D
	FCVTL(30, 22)              // FCVTL  V30.2D, V22.2S
	FCVTL2(31, 22)             // FCVTL2 V31.2D, V22.4S
	FADD_D2(26, 26, 30)        // FADD   V26.2D, V26.2D, V30.2D
	FADD_D2(27, 27, 31)        // FADD   V27.2D, V27.2D, V31.2D
	FCVTL(30, 23)              // FCVTL  V30.2D, V23.2S
	FCVTL2(31, 23)             // FCVTL2 V31.2D, V23.4S
	FADD_D2(28, 28, 30)        // FADD   V28.2D, V28.2D, V30.2D
	FADD_D2(29, 29, 31)        // FADD   V29.2D, V29.2D, V31.2D
	VST1 [V24.D2, V25.D2, V26.D2, V27.D2], (R3)
	VST1 [V28.D2, V29.D2], (R5)
	RET

// func f64NEON(k int, a, b, c *float64, ldc int, add bool)
//
// Tile 8 x 6 (MR = 8, NR = 6): s(i, j) = FMLA sum over l < k from +0;
// c[i*ldc+j] = s(i, j), or += s(i, j) when add. k >= 0; k == 0 stores +0
// (or adds +0) and reads neither panel. Nothing outside the tile is touched.
//
// Registers:
//	R0 k (loop counter)   R1 a   R2 b   R3 c row   R4 ldc*8 (bytes)   R5 add
//	V0..V23   accumulators: V(3i+q) = s(i, 2q..2q+1), i < 8, q < 3; the three
//	          of row i are consecutive, so a row is one LD1/ST1 of 3 registers
//	V24..V27  a[l*8 : l*8+8]     (a[i] is lane i%2 of V(24+i/2))
//	V28..V30  b[l*6 : l*6+6]     (V(28+q) = b[l*6+2q : l*6+2q+2])
//	V24..V26  reused by the write-back (one row of c when add)
//
// Per k-step: 2 loads (LD1, 64 + 48 bytes), 24 FMLA, SUBS, BNE = 28
// instructions for 48 multiply-adds.
TEXT ·f64NEON(SB), NOSPLIT, $0-41
	MOVD  k+0(FP), R0
	MOVD  a+8(FP), R1
	MOVD  b+16(FP), R2
	MOVD  c+24(FP), R3
	MOVD  ldc+32(FP), R4
	MOVBU add+40(FP), R5
	LSL   $3, R4, R4

	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	VEOR V4.B16, V4.B16, V4.B16
	VEOR V5.B16, V5.B16, V5.B16
	VEOR V6.B16, V6.B16, V6.B16
	VEOR V7.B16, V7.B16, V7.B16
	VEOR V8.B16, V8.B16, V8.B16
	VEOR V9.B16, V9.B16, V9.B16
	VEOR V10.B16, V10.B16, V10.B16
	VEOR V11.B16, V11.B16, V11.B16
	VEOR V12.B16, V12.B16, V12.B16
	VEOR V13.B16, V13.B16, V13.B16
	VEOR V14.B16, V14.B16, V14.B16
	VEOR V15.B16, V15.B16, V15.B16
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	VEOR V18.B16, V18.B16, V18.B16
	VEOR V19.B16, V19.B16, V19.B16
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	VEOR V22.B16, V22.B16, V22.B16
	VEOR V23.B16, V23.B16, V23.B16

	CBZ R0, f64store

f64loop:
	VLD1.P 64(R1), [V24.D2, V25.D2, V26.D2, V27.D2]
	VLD1.P 48(R2), [V28.D2, V29.D2, V30.D2]
	FMLA_D2(0, 28, 24, 0)      // FMLA V0.2D, V28.2D, V24.D[0]
	FMLA_D2(1, 29, 24, 0)      // FMLA V1.2D, V29.2D, V24.D[0]
	FMLA_D2(2, 30, 24, 0)      // FMLA V2.2D, V30.2D, V24.D[0]
	FMLA_D2(3, 28, 24, 1)      // FMLA V3.2D, V28.2D, V24.D[1]
	FMLA_D2(4, 29, 24, 1)      // FMLA V4.2D, V29.2D, V24.D[1]
	FMLA_D2(5, 30, 24, 1)      // FMLA V5.2D, V30.2D, V24.D[1]
	FMLA_D2(6, 28, 25, 0)      // FMLA V6.2D, V28.2D, V25.D[0]
	FMLA_D2(7, 29, 25, 0)      // FMLA V7.2D, V29.2D, V25.D[0]
	FMLA_D2(8, 30, 25, 0)      // FMLA V8.2D, V30.2D, V25.D[0]
	FMLA_D2(9, 28, 25, 1)      // FMLA V9.2D, V28.2D, V25.D[1]
	FMLA_D2(10, 29, 25, 1)     // FMLA V10.2D, V29.2D, V25.D[1]
	FMLA_D2(11, 30, 25, 1)     // FMLA V11.2D, V30.2D, V25.D[1]
	FMLA_D2(12, 28, 26, 0)     // FMLA V12.2D, V28.2D, V26.D[0]
	FMLA_D2(13, 29, 26, 0)     // FMLA V13.2D, V29.2D, V26.D[0]
	FMLA_D2(14, 30, 26, 0)     // FMLA V14.2D, V30.2D, V26.D[0]
	FMLA_D2(15, 28, 26, 1)     // FMLA V15.2D, V28.2D, V26.D[1]
	FMLA_D2(16, 29, 26, 1)     // FMLA V16.2D, V29.2D, V26.D[1]
	FMLA_D2(17, 30, 26, 1)     // FMLA V17.2D, V30.2D, V26.D[1]
	FMLA_D2(18, 28, 27, 0)     // FMLA V18.2D, V28.2D, V27.D[0]
	FMLA_D2(19, 29, 27, 0)     // FMLA V19.2D, V29.2D, V27.D[0]
	FMLA_D2(20, 30, 27, 0)     // FMLA V20.2D, V30.2D, V27.D[0]
	FMLA_D2(21, 28, 27, 1)     // FMLA V21.2D, V28.2D, V27.D[1]
	FMLA_D2(22, 29, 27, 1)     // FMLA V22.2D, V29.2D, V27.D[1]
	FMLA_D2(23, 30, 27, 1)     // FMLA V23.2D, V30.2D, V27.D[1]
	SUBS $1, R0, R0
	BNE  f64loop

f64store:
	CBNZ R5, f64add

	VST1 [V0.D2, V1.D2, V2.D2], (R3)
	ADD  R4, R3, R3
	VST1 [V3.D2, V4.D2, V5.D2], (R3)
	ADD  R4, R3, R3
	VST1 [V6.D2, V7.D2, V8.D2], (R3)
	ADD  R4, R3, R3
	VST1 [V9.D2, V10.D2, V11.D2], (R3)
	ADD  R4, R3, R3
	VST1 [V12.D2, V13.D2, V14.D2], (R3)
	ADD  R4, R3, R3
	VST1 [V15.D2, V16.D2, V17.D2], (R3)
	ADD  R4, R3, R3
	VST1 [V18.D2, V19.D2, V20.D2], (R3)
	ADD  R4, R3, R3
	VST1 [V21.D2, V22.D2, V23.D2], (R3)
	RET

f64add:
	// Row i: c[i][0..5] += V(3i), V(3i+1), V(3i+2).
	VLD1 (R3), [V24.D2, V25.D2, V26.D2]
	FADD_D2(0, 24, 0)          // FADD   V0.2D, V24.2D, V0.2D
	FADD_D2(1, 25, 1)          // FADD   V1.2D, V25.2D, V1.2D
	FADD_D2(2, 26, 2)          // FADD   V2.2D, V26.2D, V2.2D
	VST1 [V0.D2, V1.D2, V2.D2], (R3)
	ADD  R4, R3, R3
	VLD1 (R3), [V24.D2, V25.D2, V26.D2]
	FADD_D2(3, 24, 3)          // FADD   V3.2D, V24.2D, V3.2D
	FADD_D2(4, 25, 4)          // FADD   V4.2D, V25.2D, V4.2D
	FADD_D2(5, 26, 5)          // FADD   V5.2D, V26.2D, V5.2D
	VST1 [V3.D2, V4.D2, V5.D2], (R3)
	ADD  R4, R3, R3
	VLD1 (R3), [V24.D2, V25.D2, V26.D2]
	FADD_D2(6, 24, 6)          // FADD   V6.2D, V24.2D, V6.2D
	FADD_D2(7, 25, 7)          // FADD   V7.2D, V25.2D, V7.2D
	FADD_D2(8, 26, 8)          // FADD   V8.2D, V26.2D, V8.2D
	VST1 [V6.D2, V7.D2, V8.D2], (R3)
	ADD  R4, R3, R3
	VLD1 (R3), [V24.D2, V25.D2, V26.D2]
	FADD_D2(9, 24, 9)          // FADD   V9.2D, V24.2D, V9.2D
	FADD_D2(10, 25, 10)        // FADD   V10.2D, V25.2D, V10.2D
	FADD_D2(11, 26, 11)        // FADD   V11.2D, V26.2D, V11.2D
	VST1 [V9.D2, V10.D2, V11.D2], (R3)
	ADD  R4, R3, R3
	VLD1 (R3), [V24.D2, V25.D2, V26.D2]
	FADD_D2(12, 24, 12)        // FADD   V12.2D, V24.2D, V12.2D
	FADD_D2(13, 25, 13)        // FADD   V13.2D, V25.2D, V13.2D
	FADD_D2(14, 26, 14)        // FADD   V14.2D, V26.2D, V14.2D
	VST1 [V12.D2, V13.D2, V14.D2], (R3)
	ADD  R4, R3, R3
	VLD1 (R3), [V24.D2, V25.D2, V26.D2]
	FADD_D2(15, 24, 15)        // FADD   V15.2D, V24.2D, V15.2D
	FADD_D2(16, 25, 16)        // FADD   V16.2D, V25.2D, V16.2D
	FADD_D2(17, 26, 17)        // FADD   V17.2D, V26.2D, V17.2D
	VST1 [V15.D2, V16.D2, V17.D2], (R3)
	ADD  R4, R3, R3
	VLD1 (R3), [V24.D2, V25.D2, V26.D2]
	FADD_D2(18, 24, 18)        // FADD   V18.2D, V24.2D, V18.2D
	FADD_D2(19, 25, 19)        // FADD   V19.2D, V25.2D, V19.2D
	FADD_D2(20, 26, 20)        // FADD   V20.2D, V26.2D, V20.2D
	VST1 [V18.D2, V19.D2, V20.D2], (R3)
	ADD  R4, R3, R3
	VLD1 (R3), [V24.D2, V25.D2, V26.D2]
	FADD_D2(21, 24, 21)        // FADD   V21.2D, V24.2D, V21.2D
	FADD_D2(22, 25, 22)        // FADD   V22.2D, V25.2D, V22.2D
	FADD_D2(23, 26, 23)        // FADD   V23.2D, V26.2D, V23.2D
	VST1 [V21.D2, V22.D2, V23.D2], (R3)
	RET
