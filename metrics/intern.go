package metrics

import "strings"

// interner maps strings to dense int32 ids, keeping one private copy of each
// distinct string (so callers' buffers are not retained). Accumulators key
// their maps by ids: fixed-size keys hash faster than strings and hold no
// pointers for the garbage collector to scan.
type interner struct {
	ids  map[string]int32
	strs []string
}

func (in *interner) id(s string) int32 {
	if id, ok := in.ids[s]; ok {
		return id
	}
	if in.ids == nil {
		in.ids = make(map[string]int32)
	}
	c := strings.Clone(s)
	id := int32(len(in.strs))
	in.ids[c] = id
	in.strs = append(in.strs, c)
	return id
}

// pair packs two ids into one map key.
func pair(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// str returns the string of an id.
func (in *interner) str(id int32) string { return in.strs[id] }
