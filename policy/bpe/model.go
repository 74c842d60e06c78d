package bpe

import (
	"container/heap"
	"sync"
	"unicode/utf8"
)

// pair is two adjacent symbol ids.
type pair struct{ a, b int32 }

// merge is what a pair becomes: its rank in the merges list (lower merges
// first) and the id of the merged token.
type merge struct {
	rank int32
	id   int32
}

// model is a byte-level BPE model: vocabulary, merge ranks and a bounded
// cache of encoded words.
type model struct {
	vocab        map[string]int32
	merges       map[pair]merge
	ignoreMerges bool

	mu    sync.Mutex
	cache map[string][]int32
}

// maxCacheWords bounds the word cache; past it the cache is cleared.
// maxCachedWordLen: longer words are not cached.
const (
	maxCacheWords    = 1 << 16
	maxCachedWordLen = 256
)

// encodeWord appends the ids of one pre-tokenized word, already mapped to the
// byte-level alphabet, to dst. It follows Word::merge_all of Hugging Face
// tokenizers: repeatedly merge the adjacent pair of lowest rank, the
// leftmost one on ties, until no adjacent pair has a merge. With
// ignore_merges a word that is itself in the vocabulary is one token.
func (m *model) encodeWord(dst []int32, w string) []int32 {
	if m.ignoreMerges {
		if id, ok := m.vocab[w]; ok {
			return append(dst, id)
		}
	}
	if len(w) <= maxCachedWordLen {
		m.mu.Lock()
		ids, ok := m.cache[w]
		m.mu.Unlock()
		if ok {
			return append(dst, ids...)
		}
	}
	ids := m.mergeWord(w)
	if len(w) <= maxCachedWordLen {
		m.mu.Lock()
		if len(m.cache) >= maxCacheWords {
			clear(m.cache)
		}
		m.cache[w] = ids
		m.mu.Unlock()
	}
	return append(dst, ids...)
}

// symbol is one node of the doubly linked list of a word's symbols.
type symbol struct {
	id         int32
	prev, next int32 // -1 at the ends
	dead       bool
}

// candidate is a possible merge in the priority queue.
type candidate struct {
	pos  int32 // index of the left symbol
	rank int32
	id   int32
}

type queue []candidate

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if q[i].rank != q[j].rank {
		return q[i].rank < q[j].rank
	}
	return q[i].pos < q[j].pos
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(candidate)) }
func (q *queue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// mergeWord runs the merges on one word. Every rune of w is a byte-level
// symbol, all of which the loader checked are in the vocabulary.
func (m *model) mergeWord(w string) []int32 {
	syms := make([]symbol, 0, utf8.RuneCountInString(w))
	for i, r := range w {
		_ = i
		syms = append(syms, symbol{id: m.vocab[string(r)], prev: int32(len(syms)) - 1, next: int32(len(syms)) + 1})
	}
	if len(syms) == 0 {
		return nil
	}
	syms[len(syms)-1].next = -1
	q := make(queue, 0, len(syms))
	for i := 0; i+1 < len(syms); i++ {
		if mg, ok := m.merges[pair{syms[i].id, syms[i+1].id}]; ok {
			q = append(q, candidate{pos: int32(i), rank: mg.rank, id: mg.id})
		}
	}
	heap.Init(&q)
	for q.Len() > 0 {
		c := heap.Pop(&q).(candidate)
		left := &syms[c.pos]
		if left.dead || left.next < 0 {
			continue
		}
		right := &syms[left.next]
		// The pair may have changed since c was queued.
		if mg, ok := m.merges[pair{left.id, right.id}]; !ok || mg.id != c.id {
			continue
		}
		left.id = c.id
		right.dead = true
		left.next = right.next
		if right.next >= 0 {
			syms[right.next].prev = c.pos
		}
		if left.prev >= 0 {
			if mg, ok := m.merges[pair{syms[left.prev].id, left.id}]; ok {
				heap.Push(&q, candidate{pos: left.prev, rank: mg.rank, id: mg.id})
			}
		}
		if left.next >= 0 {
			if mg, ok := m.merges[pair{left.id, syms[left.next].id}]; ok {
				heap.Push(&q, candidate{pos: c.pos, rank: mg.rank, id: mg.id})
			}
		}
	}
	var ids []int32
	for i := int32(0); i >= 0; i = syms[i].next {
		ids = append(ids, syms[i].id)
	}
	return ids
}
