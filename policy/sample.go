package policy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Cache is a key-value cache for incremental decoding of one sequence: it
// holds every block's keys and values of the tokens fed so far, so feeding
// one more token costs one position's work. A Cache is not safe for
// concurrent use; a Model may serve many Caches at once. Its methods are
// those of kvCache (Len, Truncate, Logits, Prefill, Append), in float64.
type Cache struct{ kvCache[float64] }

// Cache32 is Cache computing in float32 (Model32.NewCache); its logits are
// float32.
type Cache32 struct{ kvCache[float32] }

// kvCache is the key-value cache of a net of element type F.
type kvCache[F float] struct {
	n    net[F]
	k, v [][]F // per block: Context x Dim
	len  int   // tokens fed

	logits           []F       // after the last token fed (V)
	x, h, xhat, a, y []F       // d
	qkv              []F       // 3d
	f, th            []F       // 4d
	sc               []float64 // Context
	exp              []float64 // scratch of expShiftSum
}

// NewCache returns an empty cache for m.
func (m *Model) NewCache() *Cache { return &Cache{*m.net().newCache()} }

func (n net[F]) newCache() *kvCache[F] {
	c := n.m.cfg
	d := c.Dim
	kc := &kvCache[F]{n: n, logits: make([]F, c.VocabSize),
		x: make([]F, d), h: make([]F, d), xhat: make([]F, d), a: make([]F, d), y: make([]F, d),
		qkv: make([]F, 3*d), f: make([]F, c.Inner()), th: make([]F, c.Inner()), sc: make([]float64, c.Context)}
	for range c.Layers {
		kc.k = append(kc.k, make([]F, c.Context*d))
		kc.v = append(kc.v, make([]F, c.Context*d))
	}
	return kc
}

// Len is the number of tokens fed.
func (kc *kvCache[F]) Len() int { return kc.len }

// Truncate forgets every token after the first n (n <= Len()); the logits
// are then stale until the next Append. Sampling several continuations of
// one prompt prefills the prompt once and truncates back to it.
func (kc *kvCache[F]) Truncate(n int) {
	if n < 0 || n > kc.len {
		panic("policy: Cache.Truncate beyond its length")
	}
	kc.len = n
}

// Logits returns the next-token logits after the last token fed (a view,
// valid until the next Append or Prefill).
func (kc *kvCache[F]) Logits() []F { return kc.logits }

// Prefill feeds toks into an empty cache in one batched pass and returns
// the next-token logits. It panics if the cache is not empty or toks does
// not fit the context.
func (kc *kvCache[F]) Prefill(toks []int) []F {
	n := kc.n
	c := n.m.cfg
	d := c.Dim
	if kc.len != 0 {
		panic("policy: Prefill of a non-empty cache")
	}
	if len(toks) == 0 || len(toks) > c.Context {
		panic("policy: Prefill length out of range")
	}
	ws := n.getWS()
	defer n.putWS(ws)
	T := len(toks)
	ws.reserve(T, 1)
	ws.forward(toks, c.Layers, T-1)
	for l := range c.Layers {
		qkv := ws.ly[l].qkv
		for t := range T {
			copy(kc.k[l][t*d:t*d+d], qkv[t*3*d+d:t*3*d+2*d])
			copy(kc.v[l][t*d:t*d+d], qkv[t*3*d+2*d:t*3*d+3*d])
		}
	}
	kc.len = T
	kc.headRow(ws.x[c.Layers][(T-1)*d : T*d])
	return kc.logits
}

// Append feeds one token and returns the next-token logits. It panics if
// the context is full.
func (kc *kvCache[F]) Append(tok int) []F {
	m := kc.n.m
	c := m.cfg
	d, f, H, hd := c.Dim, c.Inner(), c.Heads, c.HeadDim()
	if kc.len >= c.Context {
		panic("policy: Cache full")
	}
	if tok < 0 || tok >= c.VocabSize {
		panic(fmt.Sprintf("policy: token id %d out of range", tok))
	}
	P := kc.n.P
	t := kc.len
	x := kc.x
	e, p := P[m.lay.wte+tok*d:m.lay.wte+tok*d+d], P[m.lay.wpe+t*d:m.lay.wpe+t*d+d]
	for i := range x {
		x[i] = e[i] + p[i]
	}
	scale := 1 / math.Sqrt(float64(hd))
	for l := range c.Layers {
		o := m.lay.layers[l]
		var rs float64
		layerNormRow(kc.xhat, kc.h, &rs, x, P[o.ln1W:o.ln1W+d], P[o.ln1B:o.ln1B+d])
		vecMat(kc.qkv, kc.h, P[o.attnW:o.attnW+d*3*d], P[o.attnB:o.attnB+3*d])
		K, V := kc.k[l], kc.v[l]
		copy(K[t*d:t*d+d], kc.qkv[d:2*d])
		copy(V[t*d:t*d+d], kc.qkv[2*d:3*d])
		for h := range H {
			q := kc.qkv[h*hd : h*hd+hd]
			sc := kc.sc[:t+1]
			mx := math.Inf(-1)
			for j := range sc {
				kj := K[j*d+h*hd : j*d+h*hd+hd]
				var s float64
				for i, v := range q {
					s += float64(v) * float64(kj[i])
				}
				sc[j] = s * scale
				mx = max(mx, sc[j])
			}
			var sum float64
			for j, v := range sc {
				sc[j] = math.Exp(v - mx)
				sum += sc[j]
			}
			out := kc.a[h*hd : h*hd+hd]
			clear(out)
			for j, pj := range sc {
				pj /= sum
				vj := V[j*d+h*hd : j*d+h*hd+hd]
				pF := F(pj)
				for i, v := range vj {
					out[i] += pF * v
				}
			}
		}
		vecMat(kc.y, kc.a, P[o.projW:o.projW+d*d], P[o.projB:o.projB+d])
		for i := range x {
			x[i] += kc.y[i]
		}
		layerNormRow(kc.xhat, kc.h, &rs, x, P[o.ln2W:o.ln2W+d], P[o.ln2B:o.ln2B+d])
		vecMat(kc.f, kc.h, P[o.fcW:o.fcW+d*f], P[o.fcB:o.fcB+f])
		geluForward(kc.f, kc.th, kc.f, &kc.exp)
		vecMat(kc.y, kc.f, P[o.fc2W:o.fc2W+f*d], P[o.fc2B:o.fc2B+d])
		for i := range x {
			x[i] += kc.y[i]
		}
	}
	kc.len++
	kc.headRow(x)
	return kc.logits
}

// headRow computes the logits from the last block's output x (each a dot
// product summed in float64).
func (kc *kvCache[F]) headRow(x []F) {
	m := kc.n.m
	d := m.cfg.Dim
	P := kc.n.P
	var rs float64
	layerNormRow(kc.xhat, kc.h, &rs, x, P[m.lay.lnfW:m.lay.lnfW+d], P[m.lay.lnfB:m.lay.lnfB+d])
	wte := P[m.lay.wte:]
	for v := range kc.logits {
		e := wte[v*d : v*d+d]
		var s float64
		for i, h := range kc.h {
			s += float64(h) * float64(e[i])
		}
		kc.logits[v] = F(s)
	}
}

// vecMat sets y = x W + b for a row vector x and W of shape len(x) x len(y).
func vecMat[F float](y, x, W, b []F) {
	n := len(y)
	copy(y, b)
	for i, xi := range x {
		row := W[i*n : i*n+n]
		for j, w := range row {
			y[j] += xi * w
		}
	}
}

// Trie is a prefix tree over the token sequences of a set of actions, each
// terminated by <eos>. Constrained sampling walks it, allowing at each step
// only the tokens that continue some action. It is immutable after NewTrie.
type Trie struct {
	nodes   []trieNode
	actions []string
	depth   int // tokens of the longest action, without <eos>
}

type trieNode struct {
	toks  []int // allowed next tokens, increasing
	child []int // node index of each (for EOSID: -1-action index)
}

// NewTrie builds the trie of actions tokenized by tok. Actions with the
// same token sequence share a path; the first of them is the one reported.
// Actions with no tokens are skipped.
func NewTrie(tok *Tokenizer, actions []string) *Trie {
	tr := &Trie{nodes: []trieNode{{}}}
	for _, a := range actions {
		ids := tok.Encode(a)
		if len(ids) == 0 {
			continue
		}
		tr.add(ids, a)
	}
	return tr
}

func (tr *Trie) add(ids []int, action string) {
	n := 0
	for _, id := range ids {
		i, found := slices.BinarySearch(tr.nodes[n].toks, id)
		if found {
			n = tr.nodes[n].child[i]
			continue
		}
		tr.nodes = append(tr.nodes, trieNode{})
		c := len(tr.nodes) - 1
		nd := &tr.nodes[n]
		nd.toks = slices.Insert(nd.toks, i, id)
		nd.child = slices.Insert(nd.child, i, c)
		n = c
	}
	nd := &tr.nodes[n]
	i, found := slices.BinarySearch(nd.toks, EOSID)
	if found {
		return
	}
	tr.actions = append(tr.actions, action)
	nd.toks = slices.Insert(nd.toks, i, EOSID)
	nd.child = slices.Insert(nd.child, i, -len(tr.actions))
	tr.depth = max(tr.depth, len(ids))
}

// Len is the number of distinct actions in the trie.
func (tr *Trie) Len() int { return len(tr.actions) }

// Depth is the number of tokens of the longest action, without <eos>.
func (tr *Trie) Depth() int { return tr.depth }

// The walk of a constrained draw: start at node 0 (the empty prefix); at a
// node, Allowed lists the tokens that continue some action (EOSID among them
// when an action ends there); Next follows one of them; Action names the
// action that ends at a node allowing EOSID.

// Allowed returns the tokens allowed after the prefix of node, increasing.
// The slice is the trie's own: do not modify it.
func (tr *Trie) Allowed(node int) []int { return tr.nodes[node].toks }

// Next returns the node after token tok, which must be allowed at node and
// not be EOSID.
func (tr *Trie) Next(node, tok int) int {
	nd := &tr.nodes[node]
	return nd.child[slices.Index(nd.toks, tok)]
}

// Action returns the action whose tokens are the prefix of node; EOSID must
// be allowed at node.
func (tr *Trie) Action(node int) string {
	nd := &tr.nodes[node]
	return tr.actions[-1-nd.child[slices.Index(nd.toks, EOSID)]]
}

// SampleOptions sets how actions are drawn. The zero value samples at
// temperature 1 until <eos> or the end of the context.
type SampleOptions struct {
	// Temperature divides the logits before the softmax; 0 means 1.
	Temperature float64
	// Greedy takes the most likely allowed token (the lowest id on ties)
	// instead of sampling; it uses no randomness.
	Greedy bool
	// MaxTokens caps the action's length without <eos> when unconstrained;
	// 0 means until the context is full.
	MaxTokens int
}

// Sampled is one drawn action.
type Sampled struct {
	Action []int  // the action's tokens, without <eos>
	Text   string // the trie's action string when constrained; "" otherwise (see Tokenizer.Decode)
	// LogProb is log pi(action | prompt) under the model itself
	// (temperature 1, full vocabulary, <eos> included): the value
	// LogProbs gives for the same pair. It is -Inf if the action never ended.
	LogProb float64
	// SampleLogProb is the log-probability that this draw had under the
	// sampling distribution (temperature and constraint applied).
	SampleLogProb float64
	// Ended is false when the action was cut by MaxTokens or the context.
	Ended bool
}

// Sample draws k actions for prompt, each token by token from the model's
// next-token distribution at the given temperature, restricted to the
// trie's continuations when trie is not nil (an action then always is one
// of the trie's actions). The prompt is run once and its cache reused for
// every draw. The draws use rng in order, so a seeded rng gives the same
// actions on every run and for any GOMAXPROCS (rng may be nil only with
// Greedy). An empty prompt, or one
// that leaves no room for the trie's longest action and <eos> <verdict>, is
// an error (wrapping ErrTooLong for the latter).
func (m *Model) Sample(prompt []int, k int, trie *Trie, opt SampleOptions, rng *rand.Rand) ([]Sampled, error) {
	return m.net().sample(prompt, k, trie, opt, rng)
}

func (n net[F]) sample(prompt []int, k int, trie *Trie, opt SampleOptions, rng *rand.Rand) ([]Sampled, error) {
	c := n.m.cfg
	if len(prompt) == 0 {
		return nil, fmt.Errorf("policy: sampling from an empty prompt")
	}
	if trie != nil && trie.Len() == 0 {
		return nil, fmt.Errorf("policy: sampling from an empty set of actions")
	}
	need := len(prompt) + 1
	if trie != nil {
		need = len(prompt) + trie.depth + 2
	}
	if need > c.Context {
		return nil, fmt.Errorf("policy: prompt of %d tokens: %w (needs %d > context %d)", len(prompt), ErrTooLong, need, c.Context)
	}
	for _, id := range prompt {
		if id < 0 || id >= c.VocabSize {
			panic(fmt.Sprintf("policy: token id %d out of range", id))
		}
	}
	temp := opt.Temperature
	if temp == 0 {
		temp = 1
	}
	maxTok := c.Context - len(prompt)
	if opt.MaxTokens > 0 && trie == nil {
		maxTok = min(maxTok, opt.MaxTokens)
	}
	kc := n.newCache()
	first := slices.Clone(kc.Prefill(prompt))
	P := len(prompt)
	out := make([]Sampled, 0, k)
	cand := make([]int, 0, c.VocabSize)
	w := make([]float64, c.VocabSize)
	for range k {
		kc.Truncate(P)
		logits := first
		node := 0
		var s Sampled
		for {
			// allowed tokens
			cand = cand[:0]
			if trie != nil {
				cand = append(cand, trie.nodes[node].toks...)
			} else {
				for v := range c.VocabSize {
					cand = append(cand, v)
				}
			}
			lse := logSumExp(logits)
			tk, lp := pick(logits, cand, temp, opt.Greedy, w, rng)
			s.SampleLogProb += lp
			s.LogProb += float64(logits[tk]) - lse
			if tk == c.EOS {
				s.Ended = true
				break
			}
			s.Action = append(s.Action, tk)
			if trie != nil {
				node = trie.nodes[node].child[slices.Index(trie.nodes[node].toks, tk)]
			}
			if len(s.Action) >= maxTok {
				break
			}
			logits = kc.Append(tk)
		}
		if trie != nil && s.Ended {
			nd := trie.nodes[node]
			s.Text = trie.actions[-1-nd.child[slices.Index(nd.toks, EOSID)]]
		}
		if !s.Ended {
			s.LogProb = math.Inf(-1)
		}
		out = append(out, s)
	}
	return out, nil
}

// pick draws a token from cand with probabilities proportional to
// exp(logits/temp) (or the argmax with greedy) and returns it with its
// log-probability under that distribution. w is scratch of length >= V.
// The arithmetic is float64 whatever F is.
func pick[F float](logits []F, cand []int, temp float64, greedy bool, w []float64, rng *rand.Rand) (int, float64) {
	mx := math.Inf(-1)
	best := cand[0]
	for _, v := range cand {
		if z := float64(logits[v]) / temp; z > mx {
			mx, best = z, v
		}
	}
	var sum float64
	for i, v := range cand {
		w[i] = math.Exp(float64(logits[v])/temp - mx)
		sum += w[i]
	}
	if greedy {
		return best, -math.Log(sum)
	}
	u := rng.Float64() * sum
	chosen := len(cand) - 1
	var acc float64
	for i := range cand {
		acc += w[i]
		if u < acc {
			chosen = i
			break
		}
	}
	return cand[chosen], math.Log(w[chosen] / sum)
}
