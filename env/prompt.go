package env

import (
	"strconv"
	"strings"
)

// DefaultHistory is the number of past (observation, action) pairs a prompt
// shows by default.
const DefaultHistory = 2

// PromptConfig sets how prompts are built. The zero value is the default.
type PromptConfig struct {
	// History is the number of most recent (observation, action) pairs
	// shown; 0 means DefaultHistory, a negative value shows none.
	History int
	// Memory adds a line after the goal with what the observations since
	// Reset revealed, as it is now (MemoryLine): "Your observations: a mug 1
	// in cabinet 2, nothing on countertop 1." false (the default) leaves the
	// prompt as it was without the option, byte for byte.
	Memory bool
}

func (c PromptConfig) history() int {
	switch {
	case c.History == 0:
		return DefaultHistory
	case c.History < 0:
		return 0
	}
	return c.History
}

// Turn is one past step of a trajectory: the observation the agent saw and
// the action it took in answer (as ParseAction returned it).
type Turn struct {
	Observation string
	Action      string
}

// promptHeaders introduce the agent in each environment (an Env that is not
// bundled gets none).
var promptHeaders = map[string]string{
	Household: "You are an agent in a household.",
	Lab:       "You are an agent in a science lab.",
}

// Prompt is the text the actor is conditioned on in the current state of e,
// in the style of verl-agent's ALFWorld prompt (used by the paper): the goal,
// the number of steps taken, the most recent cfg.History observations and
// actions of past, the current observation and the admissible actions. The
// first step has no history part. past holds the trajectory's turns so far
// (len(past) == e.Steps() for a trajectory started at Reset); only its tail is
// shown. Example, at step 3 of a household task:
//
//	You are an agent in a household. Your task is to: put a mug in shelf.
//	Your last 2 observations and actions: [Observation 1: You are in the middle of a room.
//	... Action 1: go to cabinet 1] [Observation 2: You arrive at cabinet 1. The cabinet 1
//	is closed. Action 2: open cabinet 1]
//	Now at step 3, your observation is: You open the cabinet 1. The cabinet 1 is open. In it,
//	you see a mug 1.
//	Your admissible actions are: [close cabinet 1, take mug 1 from cabinet 1, go to ..., look, inventory].
//	Your action:
//
// (line breaks inside the bracketed parts are added here for width; the
// prompt has five lines, four at the first step or without history; the
// step number says how many steps were taken). Consecutive prompts
// share their header, most of the admissible list and one history entry, so
// their token sets overlap heavily (see Jaccard).
func Prompt(e Env, past []Turn, cfg PromptConfig) string {
	var b strings.Builder
	b.Grow(1024)
	if h := promptHeaders[e.Name()]; h != "" {
		b.WriteString(h)
		b.WriteByte(' ')
	}
	b.WriteString("Your task is to: ")
	b.WriteString(e.Goal())
	b.WriteByte('\n')
	if cfg.Memory {
		if m := MemoryLine(e); m != "" {
			b.WriteString(m)
			b.WriteByte('\n')
		}
	}
	n := e.Steps()
	if n > 0 {
		h := min(cfg.history(), len(past))
		if h > 0 {
			b.WriteString("Your last ")
			b.WriteString(strconv.Itoa(h))
			b.WriteString(" observations and actions:")
			first := n - h // step number (0-based) of the first shown turn
			for i, t := range past[len(past)-h:] {
				k := strconv.Itoa(first + i + 1)
				b.WriteString(" [Observation ")
				b.WriteString(k)
				b.WriteString(": ")
				b.WriteString(t.Observation)
				b.WriteString(" Action ")
				b.WriteString(k)
				b.WriteString(": ")
				b.WriteString(t.Action)
				b.WriteByte(']')
			}
			b.WriteByte('\n')
		}
		b.WriteString("Now at step ")
		b.WriteString(strconv.Itoa(n + 1))
		b.WriteString(", your observation is: ")
	} else {
		b.WriteString("Your observation is: ")
	}
	b.WriteString(e.Observation())
	b.WriteString("\nYour admissible actions are: [")
	b.WriteString(strings.Join(e.Admissible(), ", "))
	b.WriteString("].\nYour action:")
	return b.String()
}

// rememberer is implemented by the bundled environments.
type rememberer interface{ memory() string }

// MemoryLine is the memory line of PromptConfig.Memory: "Your observations: "
// and what the observations since Reset revealed, as it is now (the agent's
// own moves included), ending in a full stop. Household lists the objects of
// every receptacle whose contents were described ("a mug 1 in cabinet 2,
// nothing on countertop 1", "nothing" before any), lab every room that was
// described with its fixtures that hold items or are on or wet, and the
// thermometer reading of the measured object once taken ("kitchen: counter
// holding solid chocolate, stove that is on; hallway: nothing; the
// thermometer reads 36 degrees celsius on the milk"). The line uses only
// words of Words(e.Name()). It is "" for an Env that is not bundled or not
// Reset.
func MemoryLine(e Env) string {
	r, ok := e.(rememberer)
	if !ok {
		return ""
	}
	m := r.memory()
	if m == "" {
		return ""
	}
	return "Your observations: " + m + "."
}

// Jaccard is the token-set Jaccard similarity |A ∩ B| / |A ∪ B| of the Tokens
// of a and b; 1 when both have no tokens.
func Jaccard(a, b string) float64 {
	sa := map[string]bool{}
	for _, t := range Tokens(a) {
		sa[t] = true
	}
	sb := map[string]bool{}
	for _, t := range Tokens(b) {
		sb[t] = true
	}
	if len(sa) == 0 && len(sb) == 0 {
		return 1
	}
	inter := 0
	for t := range sb {
		if sa[t] {
			inter++
		}
	}
	return float64(inter) / float64(len(sa)+len(sb)-inter)
}
