//go:build amd64 && !purego

#include "textflag.h"

// func expAVX2(x *float64, n int, shift, scale float64) (sum float64)
//
// x[i] = exp((x[i] - shift) * scale) for i < n (n a positive multiple of
// 4), returning the sum of the results (four lane sums, added pairwise at
// the end): expAVX512's method on four lanes. y = (x - shift) * scale is
// clamped to [-750, 710] (NaN passes through), k = round(y log2 e),
// r = y - k ln2 (ln2 in two parts), p(r) the degree-13 Taylor polynomial,
// and 2^k applied as two exact powers 2^(k>>1) and 2^(k - k>>1), so the
// second product rounds once into the subnormals, to 0, or to +Inf, as
// math.Exp does.
TEXT ·expAVX2(SB), NOSPLIT, $0-40
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSD shift+16(FP), Y14
	VBROADCASTSD scale+24(FP), Y15
	MOVQ         $·expConst(SB), AX
	MOVQ         $·expAVX2Const(SB), BX
	VXORPD       Y0, Y0, Y0

loop:
	VMOVUPD      (SI), Y1
	VSUBPD       Y14, Y1, Y1
	VMULPD       Y15, Y1, Y1
	VBROADCASTSD 0(BX), Y2
	VMAXPD       Y1, Y2, Y1 // max(-750, y), y when NaN
	VBROADCASTSD 8(BX), Y2
	VMINPD       Y1, Y2, Y1 // min(710, y), y when NaN
	VBROADCASTSD 0(AX), Y2
	VMULPD       Y2, Y1, Y2
	VROUNDPD     $0, Y2, Y2 // k
	VBROADCASTSD 8(AX), Y3
	VFNMADD231PD Y3, Y2, Y1
	VBROADCASTSD 16(AX), Y3
	VFNMADD231PD Y3, Y2, Y1 // r

	VBROADCASTSD 128(AX), Y3
	VBROADCASTSD 120(AX), Y4
	VFMADD213PD  Y4, Y1, Y3
	VBROADCASTSD 112(AX), Y4
	VFMADD213PD  Y4, Y1, Y3
	VBROADCASTSD 104(AX), Y4
	VFMADD213PD  Y4, Y1, Y3
	VBROADCASTSD 96(AX), Y4
	VFMADD213PD  Y4, Y1, Y3
	VBROADCASTSD 88(AX), Y4
	VFMADD213PD  Y4, Y1, Y3
	VBROADCASTSD 80(AX), Y4
	VFMADD213PD  Y4, Y1, Y3
	VBROADCASTSD 72(AX), Y4
	VFMADD213PD  Y4, Y1, Y3
	VBROADCASTSD 64(AX), Y4
	VFMADD213PD  Y4, Y1, Y3
	VBROADCASTSD 56(AX), Y4
	VFMADD213PD  Y4, Y1, Y3
	VBROADCASTSD 48(AX), Y4
	VFMADD213PD  Y4, Y1, Y3
	VBROADCASTSD 40(AX), Y4
	VFMADD213PD  Y4, Y1, Y3
	VBROADCASTSD 32(AX), Y4
	VFMADD213PD  Y4, Y1, Y3
	VBROADCASTSD 24(AX), Y4
	VFMADD213PD  Y4, Y1, Y3 // p(r)

	// 2^k1 and 2^k2, k1 = k >> 1, k2 = k - k1, built in the exponent bits
	VCVTPD2DQY   Y2, X5 // k as int32
	VPSRAD       $1, X5, X6 // k1
	VPSUBD       X6, X5, X5 // k2
	VPMOVSXDQ    X6, Y6
	VPMOVSXDQ    X5, Y5
	VPBROADCASTQ 16(BX), Y7 // 1023
	VPADDQ       Y7, Y6, Y6
	VPADDQ       Y7, Y5, Y5
	VPSLLQ       $52, Y6, Y6
	VPSLLQ       $52, Y5, Y5
	VMULPD       Y6, Y3, Y3
	VMULPD       Y5, Y3, Y3

	VMOVUPD Y3, (SI)
	VADDPD  Y3, Y0, Y0
	ADDQ    $32, SI
	SUBQ    $4, CX
	JNZ     loop

	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0
	VPERMILPD    $1, X0, X1
	VADDSD       X1, X0, X0
	MOVSD        X0, ret+32(FP)
	VZEROUPPER
	RET
