//go:build amd64 && !purego

#include "textflag.h"

// func cvtF32AVX2(dst *float32, src *float64, n int, add bool)
//
// For j < n (a positive multiple of 8): dst[j] = float32(src[j]), or with
// add dst[j] = float32(float64(dst[j]) + src[j]); each float32 result is
// rounded once, to nearest even (MXCSR's default), as Go's conversion does.
TEXT ·cvtF32AVX2(SB), NOSPLIT, $0-25
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    n+16(FP), CX
	SHRQ    $3, CX
	MOVBLZX add+24(FP), AX
	TESTB   AL, AL
	JZ      set

addloop:
	VCVTPS2PD  (DI), Y0
	VCVTPS2PD  16(DI), Y1
	VADDPD     (SI), Y0, Y0
	VADDPD     32(SI), Y1, Y1
	VCVTPD2PSY Y0, X0
	VCVTPD2PSY Y1, X1
	VMOVUPS    X0, (DI)
	VMOVUPS    X1, 16(DI)
	ADDQ       $32, DI
	ADDQ       $64, SI
	DECQ       CX
	JNZ        addloop
	VZEROUPPER
	RET

set:
	VCVTPD2PSY (SI), X0
	VCVTPD2PSY 32(SI), X1
	VMOVUPS    X0, (DI)
	VMOVUPS    X1, 16(DI)
	ADDQ       $32, DI
	ADDQ       $64, SI
	DECQ       CX
	JNZ        set
	VZEROUPPER
	RET
