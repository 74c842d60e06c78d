package coupling

import (
	"crypto/md5"
	"math"
	"math/big"
	"math/bits"
)

// Bergson's per-module projections. EleutherAI's Bergson (v0.26,
// bergson/collector/collector.py, create_projection_matrix) projects the
// gradient G = sum_t delta_t a_t^T ([out, in]) of each linear module on
// both sides, P = L G R^T with L [p, out] and R [p, in], and flattens P
// row-major (p*p values per module). Its default matrices are Rademacher:
//
//	seed = int(md5(name + "/" + side).digest(), big endian) mod (2^63 - 1)
//	bits = numpy.unpackbits(Generator(PCG64(seed)).bytes(ceil(m n / 8)))[:m n]
//	A    = (2 bits - 1) / sqrt(m)          (float32, m = p rows, "jl" scale)
//
// with side "left" for L and "right" for R. BergsonMatrix reproduces these
// matrices bit for bit (checked against NumPy in bergson_test.go), so that
// a store written here can be compared row for row with Bergson's.

// BergsonSeed returns the seed Bergson derives for a projection matrix of
// a module and side ("left", "right" or "single"): the MD5 of
// "module/side" read as a big-endian integer, modulo 2^63 - 1.
func BergsonSeed(module, side string) uint64 {
	sum := md5.Sum([]byte(module + "/" + side))
	var x big.Int
	x.SetBytes(sum[:])
	x.Mod(&x, new(big.Int).SetUint64(1<<63-1))
	return x.Uint64()
}

// BergsonMatrix returns Bergson's Rademacher projection matrix of module
// and side with m rows and n columns, row-major: entries +-1/sqrt(m) in
// float32.
func BergsonMatrix(module, side string, m, n int) []float32 {
	g := newPCG64(BergsonSeed(module, side))
	out := make([]float32, m*n)
	v := float32(1) / float32(math.Sqrt(float64(m)))
	var word uint64
	for i := range out {
		if i%64 == 0 {
			word = g.next()
		}
		// Byte k of the stream is byte k%8 of a little-endian 64-bit
		// output; numpy.unpackbits reads each byte from its high bit.
		b := i % 64
		bit := word >> (8*(b/8) + 7 - b%8) & 1
		if bit == 1 {
			out[i] = v
		} else {
			out[i] = -v
		}
	}
	return out
}

// pcg64 is NumPy's PCG64 bit generator (PCG XSL RR 128/64), seeded as
// numpy.random.PCG64(seed) seeds it: through SeedSequence.
type pcg64 struct {
	hi, lo       uint64 // state
	incHi, incLo uint64 // increment (odd)
}

// pcgMult is the 128-bit LCG multiplier of PCG64.
const pcgMultHi, pcgMultLo = 0x2360ED051FC65DA4, 0x4385DF649FCCF645

func newPCG64(seed uint64) *pcg64 {
	w := seedSequence(seed, 8)
	u := func(k int) uint64 { return uint64(w[2*k]) | uint64(w[2*k+1])<<32 }
	initHi, initLo := u(0), u(1)
	seqHi, seqLo := u(2), u(3)
	g := &pcg64{incHi: seqHi<<1 | seqLo>>63, incLo: seqLo<<1 | 1}
	g.step()
	var c uint64
	g.lo, c = bits.Add64(g.lo, initLo, 0)
	g.hi, _ = bits.Add64(g.hi, initHi, c)
	g.step()
	return g
}

// step advances the state: s = s * mult + inc (mod 2^128).
func (g *pcg64) step() {
	hi, lo := bits.Mul64(g.lo, pcgMultLo)
	hi += g.hi*pcgMultLo + g.lo*pcgMultHi
	var c uint64
	g.lo, c = bits.Add64(lo, g.incLo, 0)
	g.hi, _ = bits.Add64(hi, g.incHi, c)
}

// next returns the next 64-bit output: the xor of the state's halves
// rotated right by its top 6 bits.
func (g *pcg64) next() uint64 {
	g.step()
	return bits.RotateLeft64(g.hi^g.lo, -int(g.hi>>58))
}

// seedSequence returns the first n words of
// numpy.random.SeedSequence(seed).generate_state(n, uint32) (NumPy's
// port of O'Neill's seed_seq with a pool of 4 words).
func seedSequence(seed uint64, n int) []uint32 {
	var entropy []uint32
	for x := seed; x > 0; x >>= 32 {
		entropy = append(entropy, uint32(x))
	}
	if len(entropy) == 0 {
		entropy = []uint32{0}
	}
	const (
		initA, multA = 0x43b0d7e5, 0x931e8875
		initB, multB = 0x8b51f9dd, 0x58f38ded
		mixL, mixR   = 0xca01f9dd, 0x4973f715
	)
	hc := uint32(initA)
	hashmix := func(v uint32) uint32 {
		v ^= hc
		hc *= multA
		v *= hc
		return v ^ v>>16
	}
	mix := func(x, y uint32) uint32 {
		r := mixL*x - mixR*y
		return r ^ r>>16
	}
	var pool [4]uint32
	for i := range pool {
		var e uint32
		if i < len(entropy) {
			e = entropy[i]
		}
		pool[i] = hashmix(e)
	}
	for s := range pool {
		for d := range pool {
			if s != d {
				pool[d] = mix(pool[d], hashmix(pool[s]))
			}
		}
	}
	for s := len(pool); s < len(entropy); s++ {
		for d := range pool {
			pool[d] = mix(pool[d], hashmix(entropy[s]))
		}
	}
	out := make([]uint32, n)
	hb := uint32(initB)
	for i := range out {
		v := pool[i%len(pool)]
		v ^= hb
		hb *= multB
		v *= hb
		out[i] = v ^ v>>16
	}
	return out
}
