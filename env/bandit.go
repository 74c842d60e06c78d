package env

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Bandit is the one-step text bandit (DESIGN.md §5, twin tasks): the
// smallest testbed in which gradient coupling shows up, and in which it can
// be switched on and off. A prompt holds Filler filler words drawn per task
// from a fixed list, one cue word CueDistance filler words before the end of
// the observation, and the Actions admissible actions "press red", "press
// blue", ...; the correct action is a function of the cue alone (cue word i
// means action i mod Actions). One step ends the episode: reward 1 for the
// correct action, 0 for any other (a wrong press fails the task, text that
// is no action gets "Nothing happens."). The task
//
//	Your task is to: press the button that the cue word names.
//	Your observation is: You read: anchor quarry ... lantern theta pebble ... walnut.
//	Your admissible actions are: [press red, press blue, press green, press yellow].
//	Your action:
//
// is the prompt env.Prompt builds (no header, no history: there is only one
// step).
//
// Twins: the tasks of seeds 2s and 2s+1 of a split are twins. They share the
// filler words and the cue's position and differ in the cue word only, and
// the two cue words name different actions: two distinct states one token
// apart whose good actions are each other's bad ones, the pairs gradient
// coupling needs (the twins stratum of the coupling analysis). With Alias
// the cue word is replaced by one shared word ("omega") in every task, so
// twins have identical prompts while their correct actions still differ: a
// negative control in which no policy can tell twins apart (it can solve at
// most one twin of a pair for sure, success 1/2 on pairs).
//
// Options are part of the environment's name, so that a task ID names
// everything needed to regenerate it: "bandit" is the default (k = 4
// actions, L = 16 filler words, cue at distance 0, no alias) and
// "bandit-k8-f32-d4-alias" sets each option (BanditOptions.Name gives the
// canonical spelling, which lists only the options that differ from the
// defaults, in that order). Task IDs are "NAME/SPLIT/SEED", e.g.
// "bandit/train/7" or "bandit-d4-alias/eval-out/12".
const Bandit = "bandit"

// Bandit option defaults and bounds.
const (
	DefaultBanditActions = 4  // k of a zero BanditOptions
	DefaultBanditFiller  = 16 // L of a zero BanditOptions
	MaxBanditActions     = 8  // k is 2..MaxBanditActions
	MaxBanditFiller      = 64 // L is 1..MaxBanditFiller
)

// BanditOptions are the knobs of the bandit. The zero value is the default
// bandit ("bandit").
type BanditOptions struct {
	// Actions is k, the number of admissible actions: 0 means
	// DefaultBanditActions, else 2..MaxBanditActions. There are 2k cue
	// words, two per action.
	Actions int
	// Filler is L, the number of filler words: 0 means
	// DefaultBanditFiller, else 1..MaxBanditFiller.
	Filler int
	// CueDistance is the number of filler words between the cue and the end
	// of the observation, 0..L (0: the cue is the observation's last word).
	// In prompt tokens the cue is CueFromEnd tokens before the end of the
	// prompt, since the admissible list and "Your action:" follow.
	CueDistance int
	// Alias replaces the cue word by one shared word in every task (the
	// negative control: twins indistinguishable).
	Alias bool
}

// resolved fills in the defaults.
func (o BanditOptions) resolved() BanditOptions {
	if o.Actions == 0 {
		o.Actions = DefaultBanditActions
	}
	if o.Filler == 0 {
		o.Filler = DefaultBanditFiller
	}
	return o
}

// Validate reports options out of range.
func (o BanditOptions) Validate() error {
	r := o.resolved()
	switch {
	case r.Actions < 2 || r.Actions > MaxBanditActions:
		return fmt.Errorf("%w: bandit actions %d: want 2 to %d", ErrUnknownEnv, o.Actions, MaxBanditActions)
	case r.Filler < 1 || r.Filler > MaxBanditFiller:
		return fmt.Errorf("%w: bandit filler %d: want 1 to %d", ErrUnknownEnv, o.Filler, MaxBanditFiller)
	case r.CueDistance < 0 || r.CueDistance > r.Filler:
		return fmt.Errorf("%w: bandit cue distance %d: want 0 to the filler length %d", ErrUnknownEnv, o.CueDistance, r.Filler)
	}
	return nil
}

// Name is the canonical environment name of the options: "bandit", then
// "-kK", "-fL", "-dD" for each value that differs from the default, then
// "-alias" if set.
func (o BanditOptions) Name() string {
	r := o.resolved()
	var b strings.Builder
	b.WriteString(Bandit)
	if r.Actions != DefaultBanditActions {
		b.WriteString("-k" + strconv.Itoa(r.Actions))
	}
	if r.Filler != DefaultBanditFiller {
		b.WriteString("-f" + strconv.Itoa(r.Filler))
	}
	if r.CueDistance != 0 {
		b.WriteString("-d" + strconv.Itoa(r.CueDistance))
	}
	if r.Alias {
		b.WriteString("-alias")
	}
	return b.String()
}

// CueFromEnd is the number of word tokens (Tokens) that follow the cue in
// the bandit's prompt (env.Prompt): CueDistance filler words, the
// observation's final ".", and the fixed tail "Your admissible actions are:
// [press red, ...]. Your action:" of 3k+10 tokens. It is 23 for the default
// bandit (k = 4, distance 0).
func (o BanditOptions) CueFromEnd() int {
	r := o.resolved()
	return r.CueDistance + 1 + 3*r.Actions + 10
}

// IsBandit reports whether name is a bandit name ("bandit" or
// "bandit-..."), valid or not.
func IsBandit(name string) bool {
	return name == Bandit || strings.HasPrefix(name, Bandit+"-")
}

// ParseBandit reads a bandit name (see Bandit): "bandit" followed by any of
// "-kK", "-fL", "-dD", "-alias", each at most once, in any order. The error
// wraps ErrUnknownEnv.
func ParseBandit(name string) (BanditOptions, error) {
	if !IsBandit(name) {
		return BanditOptions{}, fmt.Errorf("%w %q: not a bandit name (bandit[-kK][-fL][-dD][-alias])", ErrUnknownEnv, name)
	}
	var o BanditOptions
	seen := map[byte]bool{}
	rest := strings.TrimPrefix(name, Bandit)
	for rest != "" {
		part := ""
		if i := strings.IndexByte(rest[1:], '-'); i >= 0 {
			part, rest = rest[1:i+1], rest[i+1:]
		} else {
			part, rest = rest[1:], ""
		}
		bad := func() (BanditOptions, error) {
			return BanditOptions{}, fmt.Errorf("%w %q: bad option %q (bandit[-kK][-fL][-dD][-alias], each once)", ErrUnknownEnv, name, part)
		}
		if part == "" {
			return bad()
		}
		key := part[0]
		if part == "alias" {
			key = 'a'
		} else if key != 'k' && key != 'f' && key != 'd' {
			return bad()
		}
		if seen[key] {
			return bad()
		}
		seen[key] = true
		if key == 'a' {
			o.Alias = true
			continue
		}
		digits := part[1:]
		if digits == "" || len(digits) > 3 || strings.TrimLeft(digits, "0123456789") != "" || (len(digits) > 1 && digits[0] == '0') {
			return bad()
		}
		v, _ := strconv.Atoi(digits)
		switch key {
		case 'k':
			o.Actions = v
		case 'f':
			o.Filler = v
		case 'd':
			o.CueDistance = v
		}
		if v == 0 && key != 'd' {
			return bad() // 0 would silently mean the default
		}
	}
	if err := o.Validate(); err != nil {
		return BanditOptions{}, fmt.Errorf("%q: %w", name, err)
	}
	return o.resolved(), nil
}

// CanonicalName returns the canonical spelling of an environment name:
// household and lab and their variants (WorldOptions) as they are, a
// bandit name as BanditOptions.Name spells it. Unknown names are an error
// wrapping ErrUnknownEnv.
func CanonicalName(name string) (string, error) {
	if IsBandit(name) {
		o, err := ParseBandit(name)
		if err != nil {
			return "", err
		}
		return o.Name(), nil
	}
	if _, err := ParseWorld(name); err != nil {
		return "", err
	}
	return name, nil
}

// HasTwins reports whether the train tasks of the named environment come in
// twin pairs (TwinSeed): true for the bandit and for household and lab
// with the twin option (WorldOptions.Twin).
func HasTwins(envName string) bool {
	if IsBandit(envName) {
		return true
	}
	o, err := ParseWorld(envName)
	return err == nil && o.Twin
}

// TwinSeed is the seed of the twin of the task of seed s, in environments
// with twins (HasTwins): seeds 2s and 2s+1 are twins.
func TwinSeed(s uint64) uint64 { return s ^ 1 }

// Word lists of the bandit. Filler and cue words are disjoint from each
// other and from the prompt's fixed words; banditFillerOut (eval-out) is
// disjoint from banditFiller.
var (
	banditFiller = strings.Fields(`anchor apple barrel basket bridge candle castle cloud
		desert engine feather forest garden glove hammer harbor island jacket kettle
		ladder lantern lemon magnet meadow mirror needle orchard pebble pencil pillow
		quarry ribbon river rocket saddle shovel stone table timber tunnel umbrella
		valley violin wagon walnut window yacht zipper`)
	banditFillerOut = strings.Fields(`acorn beacon cactus dagger ember falcon glacier
		hazel igloo jigsaw kiosk lagoon mantle nectar oyster parrot quiver raven
		sapling thimble urchin velvet willow yarrow`)
	// banditCues: cue i names action i mod k; the first 2k are used.
	banditCues = strings.Fields(`alpha beta gamma delta epsilon zeta eta theta
		iota kappa lambda mu nu xi omicron rho`)
	banditColors = strings.Fields(`red blue green yellow white black orange purple`)
)

// banditAlias is the word that replaces the cue with Alias.
const banditAlias = "omega"

// Fixed texts of the bandit.
const (
	banditGoal     = "press the button that the cue word names."
	banditType     = "cue" // the one task family
	banditObsHead  = "You read: "
	banditSolved   = "You press the %s button. The task is solved."
	banditWrong    = "You press the %s button. That is the wrong button, and the task has failed."
	banditStepLim  = 1
	banditPressFmt = "press %s"
)

// banditWorld is a generated bandit task.
type banditWorld struct {
	obs     string   // the observation: filler words with the cue (or its alias)
	actions []string // "press red", ... (k)
	colors  []string // the button of each action
	correct int      // index of the correct action
	cue     string   // the cue word (hidden by Alias, but still the truth)
}

// newBanditTask generates the bandit task of name, split and seed. The
// pair of seeds 2p and 2p+1 draws from one PCG stream seeded from p and
// the split's domain: L filler words (banditFiller in train and eval-in,
// banditFillerOut in eval-out), then the pair's two cue words, the second
// naming another action than the first; seed 2p takes the first, 2p+1 the
// second. In-domain pairs are partitioned by the fingerprint of their filler
// words: 0 mod 5 is eval-in, else train (candidates of the other part are
// rejected), so twins are always in the same split and eval-in holds unseen
// filler sequences of seen words. The filler and the cues depend on k and L
// only: the same seed gives the same words at every cue distance and with
// or without Alias.
func newBanditTask(name, split string, seed uint64) (Task, error) {
	o, err := ParseBandit(name)
	if err != nil {
		return Task{}, err
	}
	if split != SplitTrain && split != SplitEvalIn && split != SplitEvalOut {
		return Task{}, fmt.Errorf("%w %q (want %s, %s or %s)", ErrUnknownSplit, split, SplitTrain, SplitEvalIn, SplitEvalOut)
	}
	out := split == SplitEvalOut
	words, domain := banditFiller, "in"
	if out {
		words, domain = banditFillerOut, "out"
	}
	base := streamBase(Bandit + "/" + domain)
	pair, twin := seed/2, seed%2
	k, L := o.Actions, o.Filler
	filler := make([]string, L)
	for c := uint64(0); c < maxCandidates; c++ {
		rng := rand.New(rand.NewPCG(pair, base+c*0x9e3779b97f4a7c15))
		for i := range filler {
			filler[i] = pick(rng, words)
		}
		if !out && (fingerprint(filler...)%evalInModulus == 0) != (split == SplitEvalIn) {
			continue
		}
		c0 := rng.IntN(2 * k)
		a1 := (c0%k + 1 + rng.IntN(k-1)) % k
		c1 := a1 + k*rng.IntN(2)
		cue := banditCues[[2]int{c0, c1}[twin]]
		w := &banditWorld{cue: cue, correct: [2]int{c0, c1}[twin] % k}
		shown := cue
		if o.Alias {
			shown = banditAlias
		}
		at := L - o.CueDistance
		obsWords := make([]string, 0, L+1)
		obsWords = append(append(append(obsWords, filler[:at]...), shown), filler[at:]...)
		w.obs = banditObsHead + strings.Join(obsWords, " ") + "."
		for _, col := range banditColors[:k] {
			w.colors = append(w.colors, col)
			w.actions = append(w.actions, fmt.Sprintf(banditPressFmt, col))
		}
		id := o.Name() + "/" + split + "/" + strconv.FormatUint(seed, 10)
		shift := "" // eval-out shifts the filler words only: held-out names
		if out {
			shift = ShiftNames
		}
		return Task{Env: o.Name(), Split: split, Seed: seed, ID: id, Type: banditType, Shift: shift,
			Layout: banditLayout(o), Goal: banditGoal,
			fp: fingerprint(o.Name(), w.obs, strconv.Itoa(w.correct)), bandit: w}, nil
	}
	return Task{}, fmt.Errorf("env: no %s %s task for seed %d after %d candidates", name, split, seed, maxCandidates)
}

// banditLayout is the Task.Layout of a bandit: every option, e.g.
// "k4-f16-d0" or "k4-f16-d0-alias".
func banditLayout(o BanditOptions) string {
	s := fmt.Sprintf("k%d-f%d-d%d", o.Actions, o.Filler, o.CueDistance)
	if o.Alias {
		s += "-alias"
	}
	return s
}

// banditWords is Words for a bandit name: the prompt's fixed words and
// every word any bandit of any options can show (all filler, cue and colour
// words and the alias), so that one vocabulary serves every bandit variant.
// It is nil for an invalid name.
func banditWords(name string) []string {
	if _, err := ParseBandit(name); err != nil {
		return nil
	}
	texts := append([]string{banditGoal, banditObsHead, banditSolved, banditWrong, banditPressFmt, banditAlias},
		promptLiterals...)
	for _, list := range [][]string{banditFiller, banditFillerOut, banditCues, banditColors} {
		texts = append(texts, list...)
	}
	var words []string
	for _, t := range texts {
		words = AppendTokens(words, strings.ReplaceAll(t, "%s", " "))
	}
	slices.Sort(words)
	return slices.Compact(words)
}

// bandit is the Env of the bandit.
type bandit struct {
	name           string // canonical name
	task           Task
	w              *banditWorld
	obs            string
	steps          int
	solved, failed bool
}

func (e *bandit) Name() string { return e.name }

func (e *bandit) Reset(task Task) string {
	if task.Env != e.name || task.bandit == nil {
		panic(fmt.Sprintf("env: %s.Reset with task %q of environment %q", e.name, task.ID, task.Env))
	}
	e.task, e.w = task, task.bandit
	e.steps, e.solved, e.failed = 0, false, false
	e.obs = e.w.obs
	return e.obs
}

func (e *bandit) Step(action string) (string, float64, bool) {
	if e.Done() {
		return nothingHappens, 0, true
	}
	e.steps++
	a := ParseAction(action)
	i := -1
	for k, act := range e.w.actions {
		if act == a {
			i = k
		}
	}
	switch {
	case i < 0:
		e.obs = nothingHappens
		return e.obs, 0, true
	case i == e.w.correct:
		e.solved = true
		e.obs = fmt.Sprintf(banditSolved, e.w.colors[i])
		return e.obs, 1, true
	}
	e.failed = true
	e.obs = fmt.Sprintf(banditWrong, e.w.colors[i])
	return e.obs, 0, true
}

func (e *bandit) Admissible() []string {
	if e.Done() {
		return []string{}
	}
	return append([]string(nil), e.w.actions...)
}

func (e *bandit) Goal() string        { return banditGoal }
func (e *bandit) Observation() string { return e.obs }
func (e *bandit) StepLimit() int      { return banditStepLim }
func (e *bandit) Steps() int          { return e.steps }
func (e *bandit) Solved() bool        { return e.solved }
func (e *bandit) Failed() bool        { return e.failed }
func (e *bandit) Done() bool          { return e.steps >= banditStepLim }
func (e *bandit) Task() Task          { return e.task }

// StateKey hashes the task ID and (steps, solved, failed): the start state
// of every task has its own key (twins too, even with Alias).
func (e *bandit) StateKey() string {
	b := func(v bool) byte {
		if v {
			return 1
		}
		return 0
	}
	return stateHash(e.task.ID, []byte{byte(e.steps), b(e.solved), b(e.failed)})
}

func (e *bandit) Clone() Env {
	c := *e
	return &c
}

// planLength: 1 before the step, 0 once solved, -1 after a wrong or invalid
// step (the episode is over).
func (e *bandit) planLength() int {
	switch {
	case e.solved:
		return 0
	case e.Done():
		return -1
	}
	return 1
}

// optimal: the correct action before the step, nothing after it.
func (e *bandit) optimal(dst []int) []int {
	if e.Done() {
		return dst
	}
	return append(dst, e.w.correct)
}
