package policy

// Log pi as trained (DESIGN.md §4): the trainer draws actions from pi
// renormalised at each position over the tokens that continue an admissible
// action (a Trie walk), and optimises those constrained log-probabilities
// with the forced positions (one allowed token) left out. The functions
// here are that definition's one home: the trainer's sampler marks forced
// positions with Forced, and analyses rebuild the allowed sets of a logged
// action with Trie.Constrain and take gradients of DecisionTerms.

// Forced reports whether a position whose allowed tokens are allowed is
// forced: only one token may follow, so under the constrained policy its
// probability is 1 whatever the parameters. A nil set (the full
// vocabulary) is never forced.
func Forced(allowed []int) bool { return len(allowed) == 1 }

// Constrain returns the allowed tokens at each position of action (its
// tokens, then <eos>; for Seq.Allowed, sharing the trie's slices: do not
// modify them) and which positions are Forced, as the trainer's
// constrained sampler records them when it draws this action. ok is false
// when action followed by <eos> is not a path of the trie (the action is
// not admissible).
func (tr *Trie) Constrain(action []int) (allowed [][]int, forced []bool, ok bool) {
	node := 0
	allowed = make([][]int, 0, len(action)+1)
	forced = make([]bool, 0, len(action)+1)
	for t := 0; ; t++ {
		set := tr.Allowed(node)
		tgt := EOSID
		if t < len(action) {
			tgt = action[t]
		}
		if tgt == EOSID && t < len(action) || !containsSorted(set, tgt) {
			return nil, nil, false
		}
		allowed = append(allowed, set)
		forced = append(forced, Forced(set))
		if t == len(action) {
			return allowed, forced, true
		}
		node = tr.Next(node, tgt)
	}
}

// containsSorted reports whether the increasing ids hold id.
func containsSorted(ids []int, id int) bool {
	lo, hi := 0, len(ids)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if ids[h] < id {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return lo < len(ids) && ids[lo] == id
}

// DecisionTerms returns, for each sequence, the term whose value is its
// log-probability as trained, the sum over the decision positions
//
//	sum_{t: not forced[n][t]} log pi_C(a_t | prompt, a_<t),
//
// where pi_C is the softmax restricted to Seq.Allowed (the full softmax
// where Allowed is nil) and forced[n] (nil: none) marks the positions left
// out, as the trainer's loss leaves them out (trainer miniBatchTerms). A
// forced position has constrained probability exactly 1, so leaving it out
// changes neither the value nor the gradient; it keeps the definition the
// trainer's token for token. With Allowed and forced nil this is
// ActionTerms: the full-vocabulary log pi. A panic reports a forced slice
// of the wrong length.
func DecisionTerms(seqs []Seq, forced [][]bool) []Term {
	if forced != nil && len(forced) != len(seqs) {
		panic("policy: length mismatch")
	}
	ts := make([]Term, len(seqs))
	for n, s := range seqs {
		ts[n].Seq = s
		if forced == nil || forced[n] == nil {
			ts[n].Weight = 1
			continue
		}
		f := forced[n]
		if len(f) != len(s.Action)+1 {
			panic("policy: length mismatch")
		}
		w := make([]float64, len(f))
		for t, ft := range f {
			if !ft {
				w[t] = 1
			}
		}
		ts[n].TokenWeights = w
	}
	return ts
}
