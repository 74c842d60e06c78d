package adapter

import (
	"math"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/trajlog"
)

// tokenIDs reads the token ids of one step from object v: the prompt's under
// promptKey and the response's under actionKey, each an array of integers in
// [0, MaxInt32] (trajlog.Record.PromptIDs and ActionIDs). Absent, null and
// empty arrays are no ids; a step has both or neither. path prefixes the
// field names in errors (rLLM's "trajectories[0].steps[2]."); line is the
// row's line, used when a value has none of its own.
func tokenIDs(v *jvalue, promptKey, actionKey, path, file string, line int64) (prompt, action []int32, err error) {
	if prompt, err = idsOf(v.get(promptKey), path+promptKey, file, line); err != nil {
		return nil, nil, err
	}
	if action, err = idsOf(v.get(actionKey), path+actionKey, file, line); err != nil {
		return nil, nil, err
	}
	switch {
	case len(prompt) > 0 && len(action) == 0:
		return nil, nil, invalid(file, line, path+actionKey, "missing or empty while %s has %d token ids (token ids come in pairs: dump both or neither)", promptKey, len(prompt))
	case len(prompt) == 0 && len(action) > 0:
		return nil, nil, invalid(file, line, path+promptKey, "missing or empty while %s has %d token ids (token ids come in pairs: dump both or neither)", actionKey, len(action))
	}
	return prompt, action, nil
}

// idsOf reads one array of token ids; nil for an absent, null or empty one.
func idsOf(f *jvalue, field, file string, line int64) ([]int32, error) {
	if !f.present() {
		return nil, nil
	}
	if f.line > 0 {
		line = f.line
	}
	if f.kind != jArray {
		return nil, invalid(file, line, field, "is %s, want an array of integer token ids", f.kind)
	}
	if len(f.elems) > trajlog.MaxTokenIDs {
		return nil, invalid(file, line, field, "%d token ids, more than the limit of %d", len(f.elems), trajlog.MaxTokenIDs)
	}
	if len(f.elems) == 0 {
		return nil, nil
	}
	ids := make([]int32, len(f.elems))
	for i, e := range f.elems {
		switch {
		case e.kind == jObject:
			return nil, invalid(file, line, field, "element %d is an object, want an integer token id (a multimodal prompt block cannot be stored as token ids)", i)
		case e.kind != jNumber:
			return nil, invalid(file, line, field, "element %d is %s, want an integer token id", i, e.kind)
		case strings.ContainsAny(e.raw, ".eE") || !e.isInteger():
			return nil, invalid(file, line, field, "element %d is %s, not an integer token id (dump the ids as integers, e.g. tensor.tolist() of an integer tensor)", i, e.raw)
		case e.num < 0:
			return nil, invalid(file, line, field, "negative token id %s at index %d", e.raw, i)
		case e.num > math.MaxInt32:
			return nil, invalid(file, line, field, "token id %s at index %d does not fit in int32", e.raw, i)
		}
		ids[i] = int32(e.num)
	}
	return ids, nil
}

// appendIDs appends ids to b as decimal text, for content hashes.
func appendIDs(b []byte, ids []int32) []byte {
	for _, x := range ids {
		b = append(strconv.AppendInt(b, int64(x), 10), ',')
	}
	return b
}
