package judge

import "strings"

// Verdict is one judgment.
type Verdict int8

// Verdicts.
const (
	Unknown Verdict = -1
	Bad     Verdict = 0
	Good    Verdict = 1
)

func (v Verdict) String() string {
	switch v {
	case Good:
		return "good"
	case Bad:
		return "bad"
	}
	return "unknown"
}

// ParseVerdict reads an answer in the strict format the default template
// asks for: exactly two non-empty lines, the first the word good or bad
// (case-insensitive, surrounding spaces, markdown asterisks and one final
// period allowed), the second a one-line reason. Anything else, a refusal
// included, is Unknown with the whole answer (trimmed, at most 200 bytes) as
// the reason: never guessed.
func ParseVerdict(answer string) (Verdict, string) {
	text := strings.TrimSpace(strings.ReplaceAll(answer, "\r\n", "\n"))
	lines := strings.Split(text, "\n")
	if len(lines) == 2 {
		word := strings.ToLower(strings.TrimSpace(lines[0]))
		word = strings.TrimSuffix(strings.Trim(word, "*"), ".")
		reason := strings.TrimSpace(lines[1])
		if reason != "" {
			switch word {
			case "good":
				return Good, reason
			case "bad":
				return Bad, reason
			}
		}
	}
	if len(text) > 200 {
		text = text[:200]
		for len(text) > 0 && !utf8Valid(text) {
			text = text[:len(text)-1]
		}
	}
	return Unknown, text
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// Majority is the label of J judgments of which good said good, bad said
// bad and the rest were unknown: the verdict the J votes give whatever the
// unknown ones would have said. With every vote known it is env.Judge's
// rule (good when more than half say good; a tie of an even J is bad); with
// unknown votes it is Good when good > J/2, Bad when good + unknown <= J/2,
// otherwise Unknown.
func Majority(good, bad, j int) Verdict {
	unknown := j - good - bad
	switch {
	case 2*good > j:
		return Good
	case 2*(good+unknown) <= j:
		return Bad
	}
	return Unknown
}
