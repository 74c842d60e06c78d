package trainer

import (
	"math"
	"math/rand/v2"

	"github.com/gradcouple/gradcouple/policy"
)

// drawOptions sets how one action is drawn.
type drawOptions struct {
	temp      float64
	greedy    bool
	maxTokens int          // unconstrained: the longest action
	trie      *policy.Trie // nil: unconstrained
}

// draw is one drawn action with what the trainer needs of it.
type draw struct {
	text    string    // the action text (the trie's action, or the decoded tokens)
	tokens  []int     // action tokens without <eos>
	tokLogp []float64 // log pi(token | ...) for each token and the final <eos>, temperature 1, full vocabulary
	// The same under the constrained policy (softmax over the allowed
	// tokens at temperature 1, see policy.Seq.Allowed), the allowed tokens
	// of each position (nil when unconstrained) and whether only one was.
	conLogp []float64
	allowed [][]int
	forced  []bool
	logp    float64 // their sum: log pi(action | prompt)
	// Sums over the drawn positions: the entropy of the distribution the
	// token was drawn from (temperature and constraint applied), the
	// full-vocabulary entropy of pi, and pi's mass on the allowed tokens.
	entropy, entVocab, mass float64
	ended                   bool // false: cut at maxTokens (its <eos> term is not a drawn token)
	verdict                 policy.Verdict
}

// sampler draws actions with one key-value cache; one per goroutine.
type sampler struct {
	m     *policy.Model
	tok   *policy.Tokenizer
	cache *policy.Cache
	w     []float64 // scratch, vocabulary length
	cand  []int
	all   []int
}

func newSampler(m *policy.Model, tok *policy.Tokenizer) *sampler {
	V := m.Config().VocabSize
	s := &sampler{m: m, tok: tok, cache: m.NewCache(), w: make([]float64, V)}
	for v := range V {
		s.all = append(s.all, v)
	}
	return s
}

// fits reports whether a prompt of n tokens leaves room for the longest
// action, <eos> and <verdict>.
func (s *sampler) fits(n int, o drawOptions) bool {
	longest := o.maxTokens
	if o.trie != nil {
		longest = o.trie.Depth()
	}
	return n >= 1 && n+longest+2 <= s.m.Config().Context
}

// draw samples an action for prompt (which must fit, see fits) token by
// token from softmax(z / temp) restricted to the trie's continuations (or
// any token when unconstrained), then feeds <eos> <verdict> to read the
// verdict. It consumes one uniform per drawn token (none when greedy).
func (s *sampler) draw(prompt []int, o drawOptions, rng *rand.Rand) draw {
	kc := s.cache
	kc.Truncate(0)
	logits := kc.Prefill(prompt)
	var d draw
	node := 0
	for {
		lse, ent := logSumExpEntropy(logits)
		cand := s.all
		if o.trie != nil {
			cand = o.trie.Allowed(node)
		}
		tk, sent := pick(logits, cand, o.temp, o.greedy, s.w, rng)
		d.tokLogp = append(d.tokLogp, logits[tk]-lse)
		d.forced = append(d.forced, policy.Forced(cand))
		d.entropy += sent
		d.entVocab += ent
		if o.trie != nil {
			lseC := logSumExpOf(logits, cand)
			d.conLogp = append(d.conLogp, logits[tk]-lseC)
			d.allowed = append(d.allowed, cand)
			d.mass += math.Exp(lseC - lse)
		} else {
			d.conLogp = append(d.conLogp, logits[tk]-lse)
			d.mass++
		}
		if tk == policy.EOSID {
			d.ended = true
			break
		}
		d.tokens = append(d.tokens, tk)
		if o.trie != nil {
			node = o.trie.Next(node, tk)
		}
		logits = kc.Append(tk)
		if o.trie == nil && len(d.tokens) >= o.maxTokens {
			lse, _ := logSumExpEntropy(logits)
			d.tokLogp = append(d.tokLogp, logits[policy.EOSID]-lse)
			d.conLogp = append(d.conLogp, logits[policy.EOSID]-lse)
			d.forced = append(d.forced, false)
			break
		}
	}
	for _, lp := range d.tokLogp {
		d.logp += lp
	}
	if o.trie != nil {
		d.text = o.trie.Action(node)
	} else {
		d.text = s.tok.Decode(d.tokens)
	}
	kc.Append(policy.EOSID)
	logits = kc.Append(policy.VerdictID)
	lse, _ := logSumExpEntropy(logits)
	d.verdict = policy.Verdict{LogGood: logits[policy.GoodID] - lse, LogBad: logits[policy.BadID] - lse}
	return d
}

// logSumExpEntropy returns log sum exp(z) and the entropy of softmax(z).
func logSumExpEntropy(z []float64) (lse, entropy float64) {
	mx := math.Inf(-1)
	for _, v := range z {
		mx = max(mx, v)
	}
	var sum, sz float64
	for _, v := range z {
		e := math.Exp(v - mx)
		sum += e
		sz += e * (v - mx)
	}
	lse = mx + math.Log(sum)
	return lse, math.Log(sum) - sz/sum
}

// logSumExpOf is log sum_{v in ids} exp(z[v]).
func logSumExpOf(z []float64, ids []int) float64 {
	mx := math.Inf(-1)
	for _, v := range ids {
		mx = max(mx, z[v])
	}
	var sum float64
	for _, v := range ids {
		sum += math.Exp(z[v] - mx)
	}
	return mx + math.Log(sum)
}

// pick draws a token of cand with probability proportional to
// exp(logits/temp), or the most likely one (the first on ties) when greedy,
// and returns it with the entropy of that distribution. It consumes one
// uniform unless greedy. w is scratch of length >= len(cand).
func pick(logits []float64, cand []int, temp float64, greedy bool, w []float64, rng *rand.Rand) (int, float64) {
	mx := math.Inf(-1)
	best := cand[0]
	for _, v := range cand {
		if z := logits[v] / temp; z > mx {
			mx, best = z, v
		}
	}
	var sum, sz float64
	for i, v := range cand {
		z := logits[v]/temp - mx
		w[i] = math.Exp(z)
		sum += w[i]
		sz += w[i] * z
	}
	ent := math.Log(sum) - sz/sum
	if greedy {
		return best, ent
	}
	u := rng.Float64() * sum
	var acc float64
	for i := range cand {
		acc += w[i]
		if u < acc {
			return cand[i], ent
		}
	}
	return cand[len(cand)-1], ent
}
