// Package kernel is the one home of the floating-point micro-kernels: the
// small fixed-size matrix products that the gradient Gram (package coupling)
// and the actor's forward and backward passes (package policy) spend their
// time in, the CPU feature tests that pick one, and the portable Go kernels
// every fast kernel is tested against.
//
// Two kinds of product are provided, each on packed panels in the BLIS
// layout: a panel of A holds k x mr elements with element (l, i) at
// a[l*mr+i], a panel of B holds element (l, j) at b[l*nr+j], and the
// kernel updates the mr x nr tile of C at c (row i at c[i*ldc:]).
//
//   - F32: float32 panels, float64 tile. Each element accumulates its k
//     products in float32 by fused multiply-adds in increasing order of l,
//     starting from 0; the float32 sum is then converted to float64 and added
//     to C. Every kernel follows that order bit for bit, so which kernel runs
//     never changes a result.
//   - F64: float64 panels and tile, C = A^T B or C += A^T B, each element
//     summed in increasing order of l (with fused multiply-adds in the
//     assembly kernels; the portable kernel rounds each product).
//
// One kernel set is selected when the program starts: the fastest the CPU
// and operating system support (AVX-512F, then AVX2 with FMA on amd64;
// NEON on arm64; else the portable Go kernels), unless the environment
// variable GRADCOUPLE_KERNEL names another that the machine can run
// ("avx512", "avx2", "neon" or "go"). The purego build tag leaves only the
// Go kernels.
package kernel

import (
	"os"
	"strconv"
	"strings"
)

// ID names a kernel set.
type ID uint8

const (
	Go     ID = iota // portable Go, every machine
	AVX2             // amd64 with AVX2 and FMA3
	AVX512           // amd64 with AVX-512F
	NEON             // arm64 (Advanced SIMD is part of ARMv8-A)
)

// sets describes each kernel set: the value of GRADCOUPLE_KERNEL that forces
// it and the tiles of its F32 and F64 kernels.
var sets = [...]struct {
	flag         string
	f32MR, f32NR int
	f64MR, f64NR int
}{
	Go:     {"go", 4, 16, 4, 8},
	AVX2:   {"avx2", 6, 16, 6, 8},
	AVX512: {"avx512", 14, 32, 8, 16},
	NEON:   {"neon", neonF32MR, neonF32NR, neonF64MR, neonF64NR},
}

// String returns the name GRADCOUPLE_KERNEL uses for id.
func (id ID) String() string {
	if int(id) < len(sets) {
		return sets[id].flag
	}
	return "kernel(" + string(rune('0'+id)) + ")"
}

// F32Tile returns the tile mr x nr of id's F32 kernel.
func (id ID) F32Tile() (mr, nr int) { return sets[id].f32MR, sets[id].f32NR }

// F64Tile returns the tile mr x nr of id's F64 kernel.
func (id ID) F64Tile() (mr, nr int) { return sets[id].f64MR, sets[id].f64NR }

// All lists every kernel set, supported here or not, the portable one
// first.
func All() []ID { return []ID{Go, AVX2, AVX512, NEON} }

// Runnable lists the kernel sets this machine and build run, the portable
// one first.
func Runnable() []ID {
	var ids []ID
	for _, id := range All() {
		if Supported(id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// choice is the kernel set in use and, when GRADCOUPLE_KERNEL asked for
// another, why it was not followed. It is set once at start-up; only tests
// change it (Use).
var choice = selectID(os.Getenv("GRADCOUPLE_KERNEL"), Supported)

type selection struct {
	id   ID
	note string
}

// selectID returns the kernel set that GRADCOUPLE_KERNEL=req selects when
// supported reports which sets the machine runs: req if it can run, else
// the fastest, with a note saying why req was not followed.
func selectID(req string, supported func(ID) bool) selection {
	best := Go
	for _, id := range All() {
		if supported(id) && id > best {
			best = id
		}
	}
	req = strings.TrimSpace(strings.ToLower(req))
	if req == "" {
		return selection{id: best}
	}
	for _, id := range All() {
		if sets[id].flag != req {
			continue
		}
		if supported(id) {
			return selection{id: id}
		}
		return selection{id: best, note: "GRADCOUPLE_KERNEL=" + req + " is not supported on this machine"}
	}
	return selection{id: best, note: "GRADCOUPLE_KERNEL=" + req + " is unknown (want avx512, avx2, neon or go)"}
}

// Selected returns the kernel set in use.
func Selected() ID { return choice.id }

// Note is empty, or says why GRADCOUPLE_KERNEL was not followed.
func Note() string { return choice.note }

// Name names the kernel set in use, followed by Note in parentheses when
// there is one, e.g. "go (GRADCOUPLE_KERNEL=avx512 is not supported on
// this machine)".
func Name() string {
	if choice.note != "" {
		return choice.id.String() + " (" + choice.note + ")"
	}
	return choice.id.String()
}

// Use selects kernel set id until the returned function restores the
// previous choice; it is for tests and benchmarks that compare kernels in
// one process, and panics when the machine cannot run id. It must not be
// called while other goroutines run kernels.
func Use(id ID) (restore func()) {
	if !Supported(id) {
		panic("kernel: " + id.String() + " is not supported on this machine")
	}
	saved := choice
	choice = selection{id: id}
	return func() { choice = saved }
}

// F32Tile returns the tile of the F32 kernel in use; callers cut their
// packed panels to it.
func F32Tile() (mr, nr int) { return choice.id.F32Tile() }

// F64Tile returns the tile of the F64 kernel in use.
func F64Tile() (mr, nr int) { return choice.id.F64Tile() }

// The NEON kernels' tiles (kernel_arm64.s): 32 128-bit registers hold 24
// accumulators of four float32 or two float64 lanes.
const neonF32MR, neonF32NR, neonF64MR, neonF64NR = 8, 12, 8, 6

// F32Name names the F32 kernel in use with its tile, e.g. "avx2-6x16",
// followed by Note in parentheses when there is one.
func F32Name() string { return withNote(choice.id.F32Name()) }

// F64Name names the F64 kernel in use with its tile, e.g. "avx512-8x16",
// followed by Note in parentheses when there is one.
func F64Name() string { return withNote(choice.id.F64Name()) }

// F32Name names id's F32 kernel with its tile, e.g. "neon-8x12".
func (id ID) F32Name() string {
	mr, nr := id.F32Tile()
	return tileName(id, mr, nr)
}

// F64Name names id's F64 kernel with its tile, e.g. "go-4x8".
func (id ID) F64Name() string {
	mr, nr := id.F64Tile()
	return tileName(id, mr, nr)
}

func tileName(id ID, mr, nr int) string {
	return id.String() + "-" + strconv.Itoa(mr) + "x" + strconv.Itoa(nr)
}

func withNote(name string) string {
	if choice.note != "" {
		name += " (" + choice.note + ")"
	}
	return name
}
