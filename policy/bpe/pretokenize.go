package bpe

import (
	"fmt"
	"time"

	"github.com/dlclark/regexp2/v2"
)

// gpt2Pattern is the pattern ByteLevel splits with when use_regex is true
// (the GPT-2 pattern of Hugging Face tokenizers' byte_level.rs).
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// splitter is one regex-splitting step of the pre-tokenizer.
type splitter struct {
	re      *regexp2.Regexp
	removed bool // behavior "Removed": drop the matches; else "Isolated"
	field   string
}

// compileSplit compiles pattern with regexp2 (.NET syntax: lookahead,
// \p{L}, inline (?i:...)). A pattern regexp2 cannot compile is an error;
// there is no fallback to another engine or pattern.
func compileSplit(pattern, field string, timeout time.Duration) (*regexp2.Regexp, error) {
	re, err := regexp2.Compile(pattern, regexp2.None,
		regexp2.OptionMaxBacktrackingStackSize(-1))
	if err != nil {
		return nil, fmt.Errorf("%s: compiling %q: %v: %w", field, pattern, err, ErrMalformed)
	}
	re.MatchTimeout = timeout
	return re, nil
}

// split appends the pieces of s to dst: the text between matches and (for
// Isolated) each match, in order, empty pieces dropped, as
// NormalizedString::split with SplitDelimiterBehavior::Isolated or Removed.
func (sp *splitter) split(dst []string, s string) ([]string, error) {
	runes := []rune(s)
	// byteAt[i] is the byte offset of rune i.
	byteAt := make([]int, len(runes)+1)
	off := 0
	for i, r := range runes {
		byteAt[i] = off
		off += len(string(r))
	}
	byteAt[len(runes)] = off
	last := 0
	err := sp.re.FindRunesMatches(runes, 0, func(m regexp2.MatchView) bool {
		idx, length, _ := m.GroupRange(0)
		start, end := idx, idx+length
		if start > last {
			dst = append(dst, s[byteAt[last]:byteAt[start]])
		}
		if !sp.removed && end > start {
			dst = append(dst, s[byteAt[start]:byteAt[end]])
		}
		last = end
		return true
	})
	if err != nil {
		return dst, fmt.Errorf("%s: %v: %w", sp.field, err, ErrRegexTimeout)
	}
	if last < len(runes) {
		dst = append(dst, s[byteAt[last]:])
	}
	return dst, nil
}

// preTokenizer is the parsed pre_tokenizer: regex splits, then ByteLevel.
type preTokenizer struct {
	splits         []*splitter
	addPrefixSpace bool      // ByteLevel.add_prefix_space
	byteRegex      *splitter // ByteLevel.use_regex: the GPT-2 pattern, else nil
}

// run splits one normalized piece of text into words (not yet mapped to the
// byte-level alphabet). Each step applies to every piece left by the step
// before, as PreTokenizedString::split does; ByteLevel prepends a space to
// every piece that does not start with one when add_prefix_space is set.
func (p *preTokenizer) run(s string) ([]string, error) {
	pieces := []string{s}
	var next []string
	apply := func(sp *splitter) error {
		next = next[:0]
		for _, piece := range pieces {
			var err error
			if next, err = sp.split(next, piece); err != nil {
				return err
			}
		}
		pieces, next = next, pieces
		return nil
	}
	for _, sp := range p.splits {
		if err := apply(sp); err != nil {
			return nil, err
		}
	}
	if p.addPrefixSpace {
		for i, piece := range pieces {
			if len(piece) == 0 || piece[0] != ' ' {
				pieces[i] = " " + piece
			}
		}
	}
	if p.byteRegex != nil {
		if err := apply(p.byteRegex); err != nil {
			return nil, err
		}
	}
	return pieces, nil
}
