package adapter

import (
	"fmt"
	"regexp"
	"strings"
)

// StateRule says which part of a prompt is the environment state whose hash
// becomes a record's state_key (DESIGN.md §3.1: same state, same key across
// trajectories). The zero value is each format's default: the whole prompt,
// and for verl-agent dumps the anchor observation (or the prompt without its
// history). Build one with ParseStateRule.
//
// The analyses that need recurring states (consistency from logs, the
// expected-advantage check, loops in repetition) find none when the key
// hashes a prompt that carries the trajectory's history or a step counter:
// a state rule is how a user says what the state is.
type StateRule struct {
	name string         // a preset, or "regex"
	re   *regexp.Regexp // for "regex"
}

// The named state rules (ParseStateRule).
const (
	// StatePrompt is the whole prompt (the default of verl, TRL and rLLM).
	StatePrompt = "prompt"
	// StateVerlAgent is the prompt with verl-agent's history sentence and
	// step counter removed (StripHistory): task, current observation and
	// admissible actions.
	StateVerlAgent = "verl-agent"
	// StateObservation is the task ("Your task is to: ...") and the text
	// after "current observation is:" up to "Your admissible actions" (or a
	// blank line), as in ALFWorld-style agent prompts (verl-agent,
	// GiGPO). On verl-agent prompts it gives the same keys as a dump's
	// anchor_obs.
	StateObservation = "observation"
	// StateLastUser is the content of the last user turn of a chat-templated
	// prompt (ChatML, Llama 3, Gemma, or a decoded template without special
	// tokens: "user\n...\nassistant\n").
	StateLastUser = "last-user"
)

// StateRuleNames lists the named rules, for help texts.
var StateRuleNames = []string{StatePrompt, StateVerlAgent, StateObservation, StateLastUser}

// ParseStateRule parses a state rule: one of the names of StateRuleNames, or
// "regex:PATTERN" (Go RE2 syntax), whose state text is the concatenation of
// the pattern's capture groups, or the whole match when it has none. The
// empty string is the zero rule (the format's default). A prompt that a rule
// cannot find its state in (a regex that does not match, no observation, no
// user turn) is an error naming the file, the row and the field prompt: a
// silent fallback to the whole prompt would mix two kinds of keys.
func ParseStateRule(s string) (StateRule, error) {
	switch s {
	case "":
		return StateRule{}, nil
	case StatePrompt, StateVerlAgent, StateObservation, StateLastUser:
		return StateRule{name: s}, nil
	}
	if pat, ok := strings.CutPrefix(s, "regex:"); ok {
		if pat == "" {
			return StateRule{}, fmt.Errorf("state rule %q: empty pattern", s)
		}
		re, err := regexp.Compile(pat)
		if err != nil {
			return StateRule{}, fmt.Errorf("state rule %q: %v", s, err)
		}
		return StateRule{name: "regex", re: re}, nil
	}
	return StateRule{}, fmt.Errorf("unknown state rule %q (want %s or regex:PATTERN)", s, strings.Join(StateRuleNames, ", "))
}

// IsZero reports whether r is the zero rule (the format's default).
func (r StateRule) IsZero() bool { return r.name == "" }

// String returns the rule as ParseStateRule reads it ("" for the zero rule).
func (r StateRule) String() string {
	if r.re != nil {
		return "regex:" + r.re.String()
	}
	return r.name
}

// text returns the state text of prompt under r, which must not be the zero
// rule, or a message saying why the prompt has none.
func (r StateRule) text(prompt string) (string, string) {
	switch r.name {
	case StatePrompt:
		return prompt, ""
	case StateVerlAgent:
		// The same text as a verl-agent dump without anchor_obs.
		return "prompt: " + StripHistory(prompt), ""
	case StateObservation:
		obs, ok := observationOf(prompt)
		if !ok {
			return "", `no "current observation is:" in the prompt (state rule observation)`
		}
		// The same text as a verl-agent dump's anchor_obs.
		return "task: " + taskOf(prompt) + "\x00anchor: " + obs, ""
	case StateLastUser:
		u, ok := lastUserTurn(prompt)
		if !ok {
			return "", "no user turn of a chat template in the prompt (state rule last-user)"
		}
		return "user: " + u, ""
	case "regex":
		m := r.re.FindStringSubmatch(prompt)
		if m == nil {
			return "", fmt.Sprintf("the prompt does not match the state rule regex:%s", r.re)
		}
		if len(m) == 1 {
			return "regex: " + m[0], ""
		}
		var b strings.Builder
		b.WriteString("regex:")
		for _, g := range m[1:] {
			b.WriteByte(0)
			b.WriteString(g)
		}
		return b.String(), ""
	}
	panic("adapter: unknown state rule " + r.name)
}

var (
	observationMark = regexp.MustCompile(`(?i)current observation is:[ \t]?`)
	admissibleMark  = regexp.MustCompile(`\n\s*Your admissible actions`)
)

// observationOf returns the text after the last "current observation is:"
// of prompt, up to "Your admissible actions" or else a blank line, trimmed.
func observationOf(prompt string) (string, bool) {
	locs := observationMark.FindAllStringIndex(prompt, -1)
	if locs == nil {
		return "", false
	}
	rest := prompt[locs[len(locs)-1][1]:]
	if loc := admissibleMark.FindStringIndex(rest); loc != nil {
		rest = rest[:loc[0]]
	} else if i := strings.Index(rest, "\n\n"); i >= 0 {
		rest = rest[:i]
	}
	return strings.TrimSpace(rest), true
}

// chatTurns are the user-turn delimiters of common chat templates, tried in
// order: ChatML (Qwen), Llama 3, Gemma.
var chatTurns = []struct{ open, close string }{
	{"<|im_start|>user\n", "<|im_end|>"},
	{"<|start_header_id|>user<|end_header_id|>\n\n", "<|eot_id|>"},
	{"<start_of_turn>user\n", "<end_of_turn>"},
}

// lastUserTurn returns the content of the last user turn of a chat-templated
// prompt, trimmed.
func lastUserTurn(prompt string) (string, bool) {
	for _, t := range chatTurns {
		i := strings.LastIndex(prompt, t.open)
		if i < 0 {
			continue
		}
		rest := prompt[i+len(t.open):]
		if j := strings.Index(rest, t.close); j >= 0 {
			rest = rest[:j]
		}
		return strings.TrimSpace(rest), true
	}
	// A template decoded without its special tokens (verl's dumps with
	// skip_special_tokens): role names alone on a line.
	i := strings.LastIndex(prompt, "\nuser\n")
	start := i + len("\nuser\n")
	if i < 0 {
		if !strings.HasPrefix(prompt, "user\n") {
			return "", false
		}
		start = len("user\n")
	}
	rest := prompt[start:]
	if j := strings.LastIndex(rest, "\nassistant\n"); j >= 0 {
		rest = rest[:j]
	} else if strings.HasSuffix(rest, "\nassistant") {
		rest = strings.TrimSuffix(rest, "\nassistant")
	}
	return strings.TrimSpace(rest), true
}
