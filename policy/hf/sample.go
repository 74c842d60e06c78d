package hf

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"github.com/gradcouple/gradcouple/internal/kernel"
)

// SampleOptions sets how continuations are drawn. The zero value samples
// from the full distribution at temperature 1 until a stop token or the
// end of the context.
type SampleOptions struct {
	// Temperature divides the logits before the softmax; 0 means 1.
	Temperature float64
	// TopP keeps the smallest set of most likely tokens whose probability
	// (after temperature) reaches TopP, as transformers' TopPLogitsWarper
	// (a token is dropped when the tokens more likely than it already hold
	// TopP; the most likely is always kept; ties broken by lower id). 0 or
	// 1 means no truncation.
	TopP float64
	// Greedy takes the most likely token (the lowest id on ties); it uses
	// no randomness and ignores Temperature and TopP.
	Greedy bool
	// MaxTokens caps the continuation's length, the stop token included;
	// 0 means until the context is full.
	MaxTokens int
	// Stop lists the token ids that end a continuation; nil means the
	// config's eos_token_id.
	Stop []int
}

// Sampled is one drawn continuation.
type Sampled struct {
	// Tokens are the drawn ids, ending with the stop token when Ended.
	// LogProbs(Seq{prompt, Tokens}) scores exactly these tokens.
	Tokens []int
	// TokenLogProbs[t] is log pi(Tokens[t] | prompt, Tokens[:t]) under the
	// model itself (temperature 1, full vocabulary); LogProb is their sum.
	TokenLogProbs []float64
	LogProb       float64
	// SampleLogProb is the log-probability of the draw under the
	// distribution actually sampled (temperature and top-p applied; 0 for
	// greedy draws).
	SampleLogProb float64
	// Ended reports that a stop token ended the continuation (rather than
	// MaxTokens or the context).
	Ended bool
}

// ErrNoStop: sampling without a stop token (no Stop and no eos_token_id in
// the config) and without MaxTokens.
var ErrNoStop = errors.New("no stop token and no MaxTokens")

// Sample draws k continuations of prompt. The prompt is fed once into a
// Cache and each draw continues from a copy of it, so a group of samples
// costs one prompt pass plus one position per drawn token. The draws run
// in parallel (up to GOMAXPROCS); draw i takes its random numbers from a
// PCG seeded with the (2i+1)-th and (2i+2)-th Uint64 of rng, so a seeded
// rng gives the same continuations on every run and for any GOMAXPROCS,
// and the first draws of a larger group are those of a smaller one. rng
// may be nil only with Greedy.
func (m *Model[F]) Sample(prompt []int, k int, opt SampleOptions, rng *rand.Rand) ([]Sampled, error) {
	if len(prompt) == 0 {
		return nil, ErrEmptyPrompt
	}
	if k < 0 {
		return nil, fmt.Errorf("hf: %d samples", k)
	}
	if rng == nil && !opt.Greedy {
		return nil, errors.New("hf: Sample needs a *rand.Rand unless Greedy")
	}
	if opt.Temperature < 0 || math.IsNaN(opt.Temperature) || math.IsInf(opt.Temperature, 0) {
		return nil, fmt.Errorf("hf: temperature %v", opt.Temperature)
	}
	if opt.TopP < 0 || opt.TopP > 1 || math.IsNaN(opt.TopP) {
		return nil, fmt.Errorf("hf: top-p %v outside [0, 1]", opt.TopP)
	}
	stop := opt.Stop
	if stop == nil {
		stop = m.cfg.EOS
	}
	if len(stop) == 0 && opt.MaxTokens <= 0 {
		return nil, ErrNoStop
	}
	if len(prompt) >= m.cfg.MaxPositions {
		return nil, fmt.Errorf("prompt of %d tokens leaves no room in max_position_embeddings %d: %w", len(prompt), m.cfg.MaxPositions, ErrTooLong)
	}
	c := m.NewCache()
	logits, err := c.Feed(prompt...)
	if err != nil {
		return nil, err
	}
	first := slices.Clone(logits)
	rngs := sampleRNGs(rng, k, opt.Greedy)
	out := make([]Sampled, k)
	workers := min(runtime.GOMAXPROCS(0), k)
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newSampler[F](m.cfg.VocabSize, opt)
			for i := range next {
				out[i] = m.continueFrom(c.Clone(), first, s, stop, opt.MaxTokens, rngs[i])
			}
		}()
	}
	for i := range k {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, nil
}

// sampleRNGs returns the generator of each of k draws: a PCG seeded by two
// Uint64 of rng per draw, taken in order (nil for greedy draws).
func sampleRNGs(rng *rand.Rand, k int, greedy bool) []*rand.Rand {
	out := make([]*rand.Rand, k)
	if greedy {
		return out
	}
	for i := range out {
		s1 := rng.Uint64()
		s2 := rng.Uint64()
		out[i] = rand.New(rand.NewPCG(s1, s2))
	}
	return out
}

// continueFrom draws one continuation after the tokens fed into c, whose
// next-token logits are z (checked tokens; room for at least one more).
func (m *Model[F]) continueFrom(c *Cache[F], z []F, s *sampler[F], stop []int, maxTokens int, rng *rand.Rand) Sampled {
	var d Sampled
	for {
		tok, lp, slp := s.draw(z, rng)
		d.Tokens = append(d.Tokens, tok)
		d.TokenLogProbs = append(d.TokenLogProbs, lp)
		d.LogProb += lp
		d.SampleLogProb += slp
		if slices.Contains(stop, tok) {
			d.Ended = true
			return d
		}
		if (maxTokens > 0 && len(d.Tokens) >= maxTokens) || c.Len()+1 >= m.cfg.MaxPositions {
			return d
		}
		z = c.feedChecked(tok)
	}
}

// sampler draws tokens from logits.
type sampler[F float] struct {
	opt   SampleOptions
	temp  float64
	p     []float64 // unnormalised probabilities at the temperature
	q     []float64 // scratch of the temperature-1 normaliser
	cand  []int     // scratch of the nucleus search
	order []int     // the kept tokens, ascending ids (nil: all)
}

func newSampler[F float](V int, opt SampleOptions) *sampler[F] {
	t := opt.Temperature
	if t == 0 {
		t = 1
	}
	return &sampler[F]{opt: opt, temp: t, p: make([]float64, V)}
}

// draw picks a token from the logits z and returns it with its
// log-probability under the model (temperature 1, full vocabulary) and
// under the sampling distribution. The kept tokens are walked in
// increasing id, u = rng.Float64() times their mass falling on the first
// whose cumulative weight exceeds it.
func (s *sampler[F]) draw(z []F, rng *rand.Rand) (tok int, lp, slp float64) {
	if s.opt.Greedy {
		best := 0
		for i, v := range z {
			if v > z[best] {
				best = i
			}
		}
		return best, float64(z[best]) - logSumExp(z), 0
	}
	// p_i = exp(z_i/T - max_j z_j/T), unnormalised, in float64
	mx := math.Inf(-1)
	for i, v := range z {
		x := float64(v) / s.temp
		s.p[i] = x
		mx = max(mx, x)
	}
	total := kernel.ExpShiftSum(s.p, mx, 1)
	var lse float64
	if s.temp == 1 {
		lse = mx + math.Log(total)
	} else {
		if len(s.q) < len(z) {
			s.q = make([]float64, len(z))
		}
		mz := math.Inf(-1)
		for i, v := range z {
			s.q[i] = float64(v)
			mz = max(mz, float64(v))
		}
		lse = mz + math.Log(kernel.ExpShiftSum(s.q[:len(z)], mz, 1))
	}
	kept := total
	s.order = s.order[:0]
	nucleus := s.opt.TopP > 0 && s.opt.TopP < 1
	if nucleus {
		kept = s.nucleus(s.opt.TopP * total)
	}
	u := rng.Float64() * kept
	tok = -1
	if nucleus {
		for _, i := range s.order {
			u -= s.p[i]
			tok = i
			if u < 0 {
				break
			}
		}
	} else {
		for i, e := range s.p {
			if e == 0 {
				continue
			}
			u -= e
			tok = i
			if u < 0 {
				break
			}
		}
	}
	if tok < 0 { // every weight zero or NaN: the logits are not finite
		tok = 0
	}
	return tok, float64(z[tok]) - lse, math.Log(s.p[tok] / kept)
}

// nucleus sets s.order to the top-p set of s.p for the mass target: in the
// order (p descending, id ascending), token j is kept when the tokens
// before it hold less than target. It finds the threshold t, the p-value
// at which that order's cumulative mass first reaches target, by a
// weighted quickselect (expected O(V), no sort), then keeps every token
// above t and the tokens at t, in increasing id, while the mass before
// them is below target. It returns the kept mass.
func (s *sampler[F]) nucleus(target float64) float64 {
	p := s.p
	s.cand = s.cand[:0]
	for i := range p {
		s.cand = append(s.cand, i)
	}
	cand := s.cand
	need := target
	t := math.Inf(1)
	for len(cand) > 0 {
		pv := p[cand[len(cand)/2]] // the middle element: deterministic
		// partition: greater first, then equal, then less
		g, e := 0, 0
		for k, i := range cand {
			switch v := p[i]; {
			case v > pv:
				cand[k] = cand[g+e]
				cand[g+e] = cand[g]
				cand[g] = i
				g++
			case v == pv:
				cand[k] = cand[g+e]
				cand[g+e] = i
				e++
			}
		}
		var mG, mE float64
		for _, i := range cand[:g] {
			mG += p[i]
		}
		for _, i := range cand[g : g+e] {
			mE += p[i]
		}
		switch {
		case mG >= need && g > 0:
			cand = cand[:g]
		case mG+mE >= need || g+e == len(cand):
			t = pv
			cand = nil
		default:
			need -= mG + mE
			cand = cand[g+e:]
		}
	}
	var above float64
	for _, v := range p {
		if v > t {
			above += v
		}
	}
	kept, ties := 0.0, above
	for i, v := range p {
		switch {
		case v > t:
			s.order = append(s.order, i)
			kept += v
		case v == t && ties < target:
			s.order = append(s.order, i)
			kept += v
			ties += v
		}
	}
	return kept
}
