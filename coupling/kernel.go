package coupling

import (
	"math"
	"strings"
	"syscall"
)

// The Gram micro-kernel and its operand packing.
//
// Every inner product K_ij = <g_i, g_j> of float32 rows is summed the same
// way, whichever kernel, tile size, shard or number of goroutines computes
// it: the coordinates are cut into consecutive blocks of gramKC (the last
// may be shorter); within a block the products g_i[l] g_j[l] are accumulated
// in float32 by fused multiply-adds in increasing order of l starting from 0;
// the block sums are converted to float64 and added in increasing block
// order, starting from 0. The assembly kernels and gramKernelGo implement that
// order bit for bit (TestKernelVariants).

// kernelID names a Gram micro-kernel; a larger ID is a faster kernel.
type kernelID uint8

const (
	kernelGo     kernelID = iota // gramKernelGo, every machine
	kernelAVX2                   // gramKernelAVX2, amd64 with AVX2 and FMA
	kernelAVX512                 // gramKernelAVX512, amd64 with AVX-512F
)

// kernels describes each micro-kernel: the value of GRADCOUPLE_KERNEL that
// forces it, the name KernelName reports and its tile.
var kernels = [...]struct {
	flag, name string
	mr, nr     int
}{
	kernelGo:     {"go", "go-4x16", goMR, goNR},
	kernelAVX2:   {"avx2", "avx2-6x16", 6, 16},
	kernelAVX512: {"avx512", "avx512-14x32", 14, 32},
}

// kernelChoice is the micro-kernel in use and, when GRADCOUPLE_KERNEL asked
// for another, why it was not followed.
type kernelChoice struct {
	id   kernelID
	note string
}

// gramChoice is the micro-kernel selected once at package initialisation
// (selectKernel); nothing changes it afterwards except tests, which swap it
// and restore it (withKernel). GRADCOUPLE_KERNEL is documented at
// KernelName. The environment is read with syscall.Getenv: coupling does no
// I/O and may not import os (internal/layers); this one lookup at start-up
// is the exception.
var gramChoice = selectKernel(getenv("GRADCOUPLE_KERNEL"), kernelSupported)

func getenv(key string) string {
	v, _ := syscall.Getenv(key)
	return v
}

// selectKernel returns the kernel that GRADCOUPLE_KERNEL=req selects when
// supported reports which kernels the machine runs.
func selectKernel(req string, supported func(kernelID) bool) kernelChoice {
	best := kernelGo
	for id := range kernels {
		if supported(kernelID(id)) {
			best = kernelID(id)
		}
	}
	req = strings.TrimSpace(strings.ToLower(req))
	if req == "" {
		return kernelChoice{id: best}
	}
	for id, k := range kernels {
		if k.flag != req {
			continue
		}
		if supported(kernelID(id)) {
			return kernelChoice{id: kernelID(id)}
		}
		return kernelChoice{id: best, note: "GRADCOUPLE_KERNEL=" + req + " is not supported on this CPU"}
	}
	return kernelChoice{id: best, note: "GRADCOUPLE_KERNEL=" + req + " is unknown (want avx512, avx2 or go)"}
}

// KernelName names the Gram micro-kernel in use and its tile
// ("avx512-14x32", "avx2-6x16" or "go-4x16"), for benchmark and version
// reports.
//
// The kernel is chosen once, when the package is initialised: the fastest
// one the CPU and operating system support (AVX-512F, then AVX2 with FMA,
// both on amd64 without the purego build tag; else the portable Go
// kernel), unless the environment variable GRADCOUPLE_KERNEL forces one the
// machine can run: "avx512", "avx2" or "go". Every kernel sums in the order
// described at Gram, so the choice changes speed only, never a bit of a
// result. An unknown value, or a kernel the machine cannot run, gives the
// fastest kernel, and the name is followed by the reason in parentheses,
// e.g. "go-4x16 (GRADCOUPLE_KERNEL=avx512 is not supported on this CPU)".
func KernelName() string {
	name := kernels[gramChoice.id].name
	if gramChoice.note != "" {
		name += " (" + gramChoice.note + ")"
	}
	return name
}

// kernelTile returns the tile mr x nr of the micro-kernel in use; packed
// panels are cut to it.
func kernelTile() (mr, nr int) {
	k := kernels[gramChoice.id]
	return k.mr, k.nr
}

// gramKC is the length of a float32 accumulation block.
const gramKC = 256

// goMR x goNR is the tile of the portable kernel.
const goMR, goNR = 4, 16

// gramKernelGo increments the mr x nr float64 tile c (leading dimension ldc)
// by the float32 block sums of the packed panels a (k x mr, element (l, i)
// at a[l*mr+i]) and b (k x nr): c[i*ldc+j] += float64(sum_l a[l,i] b[l,j]),
// the sum accumulated by fused multiply-adds in increasing order of l.
func gramKernelGo(mr, nr, k int, a, b []float32, c []float64, ldc int) {
	var acc [16 * 32]float32
	t := acc[:mr*nr]
	a = a[:k*mr]
	b = b[:k*nr]
	for l := 0; l < k; l++ {
		al := a[l*mr : l*mr+mr]
		bl := b[l*nr : l*nr+nr]
		for i, ai := range al {
			ti := t[i*nr : i*nr+len(bl)]
			a64 := float64(ai)
			for j, bj := range bl {
				// fma32 inlined: the slow path only for float32 midpoints
				// and tiny sums
				p := a64 * float64(bj)
				s := p + float64(ti[j])
				if math.Float64bits(s)&(1<<29-1) != 1<<28 && math.Abs(s) >= 0x1p-126 {
					ti[j] = float32(s)
				} else {
					ti[j] = fma32Slow(p, float64(ti[j]), s)
				}
			}
		}
	}
	for i := range mr {
		ci := c[i*ldc : i*ldc+nr]
		for j, v := range t[i*nr : i*nr+nr] {
			ci[j] += float64(v)
		}
	}
}

// fma32 returns a*b + c rounded once to float32 (round to nearest even), as
// the VFMADD231PS instruction does. The product of two float32 values is
// exact in float64, so s = a*b + c rounded to float64 differs from the exact
// value x by at most half an ulp of float64; rounding s to float32 then gives
// the correctly rounded x unless s lies exactly halfway between two float32
// values (double rounding), which the slow path resolves with the exact
// rounding error of the sum.
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	s := p + float64(c)
	bits := math.Float64bits(s)
	if bits&(1<<29-1) != 1<<28 && math.Abs(s) >= 0x1p-126 {
		return float32(s)
	}
	return fma32Slow(p, float64(c), s)
}

func fma32Slow(p, c, s float64) float32 {
	r := float32(s)
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return r
	}
	d := s - float64(r)
	if d == 0 {
		return r
	}
	up := float32(math.Inf(1))
	if d < 0 {
		up = float32(math.Inf(-1))
	}
	r2 := math.Nextafter32(r, up)
	if float64(r2)-s != d {
		return r // s is not a midpoint: float32(s) is correctly rounded
	}
	// s is a midpoint and float32(s) rounded it to even; the exact sum is
	// s + e (TwoSum), which lies on r2's side of s when e has the sign of d.
	bb := s - p
	e := (p - (s - bb)) + (c - bb)
	if e != 0 && (e > 0) == (d > 0) {
		return r2
	}
	return r
}

// packPanels copies rows r0..r1-1 of g (row length d), coordinates
// pc..pc+kb-1, into dst as panels of w rows: panel p holds element
// (row r0+p*w+i, coordinate pc+l) at dst[p*kb*w + l*w + i], zero-padded to a
// whole number of panels. It returns the packed length.
func packPanels(dst, g []float32, d, r0, r1, pc, kb, w int) int {
	rows := r1 - r0
	np := (rows + w - 1) / w
	size := np * kb * w
	dst = dst[:size]
	for p := range np {
		panel := dst[p*kb*w : (p+1)*kb*w]
		lo := r0 + p*w
		hi := min(lo+w, r1)
		if hi-lo == w && packFast(panel, g, d, lo, pc, kb, w) {
			continue
		}
		if hi-lo < w {
			clear(panel)
		}
		for i := lo; i < hi; i++ {
			row := g[i*d+pc : i*d+pc+kb]
			q := panel[i-lo:]
			for l, v := range row {
				q[l*w] = v
			}
		}
	}
	return size
}
