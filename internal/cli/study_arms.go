package cli

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/trainer"
)

// An arm of a study is a named training configuration: an algorithm's
// preset defaults with overrides, trained on every environment and seed of
// the study into OUT/ENV/ARM-SEED. Every arm of an (environment, seed)
// starts from one shared cold start (Cold), so that arms differ only in
// what they do during RL.
//
// --arms takes a comma-separated list of arms. An arm is a named arm
// (namedArms) or NAME:KEY=VALUE[,KEY=VALUE...], a named arm with overrides
// (armKeys); a KEY=VALUE item without a colon continues the overrides of
// the arm before it, so "grpo,gcd:lambda=0.5,threshold=0.8" is two arms.
// An arm with overrides is named after them: gcd-lambda0.5-threshold0.8.
type studyArm struct {
	Name string // directory and group name
	Algo string // trainer.AlgoGRPO or trainer.AlgoGCD
	// Spec is the arm as --arms gave it (NAME or NAME:KEY=VALUE,...).
	Spec string
	// sets are the overrides in the order applied: the named arm's own,
	// then the given ones (a later value of a key wins).
	sets []armSet
}

// armSet is one KEY=VALUE override of an arm.
type armSet struct {
	key   *armKey
	value string // canonical: numbers as strconv formats them, bools true/false
}

// Cold-start recipes of an arm (the cold key).
const (
	// coldVerdict is GCD's cold start: imitation of the demonstrations,
	// the verdict on each demonstrated step and on a non-optimal action of
	// its state (verdict weight 0.2), and imitation after a correction
	// line naming that action. It is the shared cold start of every arm.
	coldVerdict = "verdict"
	// coldPlain is imitation alone (GRPO's own cold start).
	coldPlain = "plain"
	// coldOwn gives the arm its own cold start, the one its algorithm's
	// preset defines, and no shared one (the study before shared cold
	// starts).
	coldOwn = "own"
)

// namedArm is an arm known by name.
type namedArm struct {
	name, algo string
	sets       []string // KEY=VALUE
	doc        string
}

// namedArms are the arms --arms knows by name, in the order of the help.
var namedArms = []namedArm{
	{"grpo", trainer.AlgoGRPO, nil, "GRPO"},
	{"gcd", trainer.AlgoGCD, nil, "GCD: verdict loss (lambda 1) and prompt correction (threshold 0.9)"},
	{"gcd-lambda0", trainer.AlgoGCD, []string{"lambda=0"}, "GCD without the verdict loss in RL (correction on)"},
	{"gcd-nocorr", trainer.AlgoGCD, []string{"correction=false"}, "GCD without prompt correction"},
	{"gcd-noverdict-cold", trainer.AlgoGCD, []string{"cold=plain"}, "GCD from a cold start without verdict training (imitation only)"},
	{"gcd-pg-corrected", trainer.AlgoGCD, []string{"pg_corrected=true"}, "GCD whose corrected steps keep their policy-gradient update"},
}

// armKey is an override key of --arms.
type armKey struct {
	name string
	kind string // "float", "int", "bool" or "cold"
	doc  string
	// gcd: the key is a GCD setting (refused on a GRPO arm); cold: it
	// changes the cold start, so arms that differ in it have their own.
	gcd, cold bool
	// check returns what a valid value is, or "" when v is one.
	check func(v float64) string
	set   func(c *trainer.Config, v float64)
	// values and setString: a key of kind "string", one of values.
	values    []string
	setString func(c *trainer.Config, v string)
}

func positive(v float64) string {
	if v < 1 {
		return "an integer >= 1"
	}
	return ""
}

func nonNegative(v float64) string {
	if v < 0 {
		return "a value >= 0"
	}
	return ""
}

func unit(v float64) string {
	if v < 0 || v > 1 {
		return "a value in [0, 1]"
	}
	return ""
}

func boolOf(v float64) bool { return v != 0 }

// armKeys are the override keys of --arms, in the order of the help.
var armKeys = []*armKey{
	{name: "lambda", kind: "float", gcd: true, doc: "weight of the verdict loss (gcd.lambda)", check: nonNegative,
		set: func(c *trainer.Config, v float64) { c.GCD.Lambda = v }},
	{name: "threshold", kind: "float", gcd: true, doc: "p(bad) above which correction fires (gcd.threshold)", check: unit,
		set: func(c *trainer.Config, v float64) { c.GCD.Threshold = v }},
	{name: "correction", kind: "bool", gcd: true, doc: "prompt correction in training rollouts (gcd.correction)",
		set: func(c *trainer.Config, v float64) { c.GCD.Correction = boolOf(v) }},
	{name: "pg_corrected", kind: "bool", gcd: true, doc: "corrected steps keep their policy-gradient update (gcd.train_corrected)",
		set: func(c *trainer.Config, v float64) { c.GCD.TrainCorrected = boolOf(v) }},
	{name: "correct_eval", kind: "bool", gcd: true, doc: "correction in evaluation too (gcd.correct_eval)",
		set: func(c *trainer.Config, v float64) { c.GCD.CorrectEval = boolOf(v) }},
	{name: "repeats", kind: "int", gcd: true, doc: "correct an action taken this many times (gcd.repeats; 0: off)", check: nonNegative,
		set: func(c *trainer.Config, v float64) { c.GCD.Repeats = int(v) }},
	{name: "dim", kind: "int", cold: true, doc: "model width (model.dim; a multiple of heads)", check: positive,
		set: func(c *trainer.Config, v float64) { c.Model.Dim = int(v) }},
	{name: "layers", kind: "int", cold: true, doc: "transformer blocks (model.layers)", check: positive,
		set: func(c *trainer.Config, v float64) { c.Model.Layers = int(v) }},
	{name: "heads", kind: "int", cold: true, doc: "attention heads (model.heads)", check: positive,
		set: func(c *trainer.Config, v float64) { c.Model.Heads = int(v) }},
	{name: "tokenizer", kind: "string", cold: true, doc: "the actor's tokenizer, word or char (model.tokenizer; char needs a longer context)", values: []string{"word", "char"},
		setString: func(c *trainer.Config, v string) { c.Model.Tokenizer = v }},
	{name: "context", kind: "int", cold: true, doc: "model context in tokens (model.context)", check: positive,
		set: func(c *trainer.Config, v float64) { c.Model.Context = int(v) }},
	{name: "freeze_unseen", kind: "bool", cold: true, doc: "the cold start leaves rows of tokens it never sees as initialised (cold_start.freeze_unseen)",
		set: func(c *trainer.Config, v float64) { c.ColdStart.FreezeUnseen = boolOf(v) }},
	{name: "history", kind: "int", cold: true, doc: "past turns in a prompt (model.history)", check: nonNegative,
		set: func(c *trainer.Config, v float64) { c.Model.History = int(v) }},
	{name: "lr", kind: "float", doc: "RL learning rate (update.lr)", check: nonNegative,
		set: func(c *trainer.Config, v float64) { c.Update.LR = v }},
	{name: "kl_beta", kind: "float", doc: "KL coefficient (update.kl_beta)", check: nonNegative,
		set: func(c *trainer.Config, v float64) { c.Update.KLBeta = v }},
	{name: "no_std", kind: "bool", doc: "Dr. GRPO advantages (update.no_std)",
		set: func(c *trainer.Config, v float64) { c.Update.NoStd = boolOf(v) }},
	{name: "tasks", kind: "int", doc: "tasks per iteration (rollout.tasks)", check: positive,
		set: func(c *trainer.Config, v float64) { c.Rollout.Tasks = int(v) }},
	{name: "group_size", kind: "int", doc: "rollouts per task (rollout.group_size)", check: positive,
		set: func(c *trainer.Config, v float64) { c.Rollout.GroupSize = int(v) }},
	{name: "twin_share", kind: "float", doc: "probability that a train task's twin joins its batch (rollout.twin_share; twin environments)", check: unit,
		set: func(c *trainer.Config, v float64) { c.Rollout.TwinShare = v }},
	{name: "iterations", kind: "int", doc: "RL iterations (iterations)", check: nonNegative,
		set: func(c *trainer.Config, v float64) { c.Iterations = int(v) }},
	{name: "cold", kind: "cold", doc: "cold start: verdict (shared, GCD's recipe), plain (shared, imitation only) or own (the arm's own, as its preset defines); default --cold-start"},
	{name: "verdict_weight", kind: "float", cold: true, doc: "verdict weight of the cold start (cold_start.verdict_weight)", check: nonNegative,
		set: func(c *trainer.Config, v float64) { c.ColdStart.VerdictWeight = v }},
	{name: "cold_demos", kind: "int", cold: true, doc: "demonstrated tasks of the cold start (cold_start.demos)", check: nonNegative,
		set: func(c *trainer.Config, v float64) { c.ColdStart.Demos = int(v) }},
	{name: "cold_steps", kind: "int", cold: true, doc: "Adam steps of the cold start (cold_start.steps)", check: nonNegative,
		set: func(c *trainer.Config, v float64) { c.ColdStart.Steps = int(v) }},
	{name: "judge_eps", kind: "float", cold: true, doc: "judge noise (judge.eps; labels of the cold start and of RL)", check: unit,
		set: func(c *trainer.Config, v float64) { c.Judge.Eps = v }},
}

func armKeyNamed(name string) *armKey {
	for _, k := range armKeys {
		if k.name == name {
			return k
		}
	}
	return nil
}

func armKeyNames() string {
	var s []string
	for _, k := range armKeys {
		s = append(s, k.name)
	}
	return strings.Join(s, ", ")
}

func namedArmNames() string {
	var s []string
	for _, a := range namedArms {
		s = append(s, a.name)
	}
	return strings.Join(s, ", ")
}

// armsHelp describes the arm syntax, the named arms and the keys, for the
// study command's description.
func armsHelp() string {
	var b strings.Builder
	b.WriteString("ARMS (--arms): a comma-separated list of named arms, or NAME:KEY=VALUE[,KEY=VALUE...] for a named\n" +
		"arm with overrides, named after them (gcd:lambda=0.5,threshold=0.8 is the arm gcd-lambda0.5-threshold0.8).\n" +
		"Every arm of an environment and seed starts from one shared cold start (OUT/cold-start/ENV/RECIPE/seed-N):\n" +
		"the --cold-start recipe (default verdict: GCD's, imitation, verdict and warned imitation) unless the arm\n" +
		"sets cold=verdict, cold=plain (imitation only) or cold=own (its own cold start, as before shared ones).\nNamed arms:\n")
	for _, a := range namedArms {
		fmt.Fprintf(&b, "  %-20s %s\n", a.name, a.doc)
	}
	b.WriteString("Keys:\n")
	for _, k := range armKeys {
		fmt.Fprintf(&b, "  %-16s %s\n", k.name, k.doc)
	}
	return strings.TrimRight(b.String(), "\n")
}

// parseArms parses the value of --arms (see studyArm). Every error is a
// usage error naming the arm and, for an override, its key.
func parseArms(flag, s string) ([]studyArm, error) {
	usage := func(format string, args ...any) error {
		return &UsageError{Msg: fmt.Sprintf("--%s: ", flag) + fmt.Sprintf(format, args...)}
	}
	type spec struct {
		text, base string
		sets       []string
	}
	var specs []spec
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			continue
		case strings.Contains(item, ":"):
			base, first, _ := strings.Cut(item, ":")
			specs = append(specs, spec{text: item, base: strings.TrimSpace(base), sets: []string{strings.TrimSpace(first)}})
		case strings.Contains(item, "="):
			if len(specs) == 0 || len(specs[len(specs)-1].sets) == 0 {
				prev := "the start of the list"
				if len(specs) > 0 {
					prev = specs[len(specs)-1].base
				}
				return nil, usage("%q follows %s, which has no overrides: write ARM:%s (e.g. gcd:%s)", item, prev, item, item)
			}
			last := &specs[len(specs)-1]
			last.text += "," + item
			last.sets = append(last.sets, item)
		default:
			specs = append(specs, spec{text: item, base: item})
		}
	}
	if len(specs) == 0 {
		return nil, usage("empty list")
	}
	var arms []studyArm
	for _, sp := range specs {
		i := slices.IndexFunc(namedArms, func(a namedArm) bool { return a.name == sp.base })
		if i < 0 {
			return nil, usage("%q: unknown arm %q (want one of %s, or ARM:KEY=VALUE,...)", sp.text, sp.base, namedArmNames())
		}
		na := namedArms[i]
		a := studyArm{Name: na.name, Algo: na.algo, Spec: sp.text}
		for _, kv := range na.sets {
			set, err := parseArmSet(kv, a.Algo)
			if err != nil {
				panic(err) // the named arms are constants
			}
			a.sets = append(a.sets, set)
		}
		var given []string
		for _, kv := range sp.sets {
			if kv == "" {
				return nil, usage("%q: empty override after %q (want KEY=VALUE with KEY one of %s)", sp.text, sp.base+":", armKeyNames())
			}
			set, err := parseArmSet(kv, a.Algo)
			if err != nil {
				return nil, usage("%s: %v", sp.text, err)
			}
			if slices.Contains(given, set.key.name) {
				return nil, usage("%s: key %s given twice", sp.text, set.key.name)
			}
			given = append(given, set.key.name)
			a.sets = append(a.sets, set)
			a.Name += "-" + set.token()
		}
		if j := slices.IndexFunc(arms, func(b studyArm) bool { return b.Name == a.Name }); j >= 0 {
			return nil, usage("%q: the arm %s is given twice", sp.text, a.Name)
		}
		arms = append(arms, a)
	}
	return arms, nil
}

// parseArmSet parses one KEY=VALUE override of an arm of algorithm algo.
func parseArmSet(kv, algo string) (armSet, error) {
	name, val, ok := strings.Cut(kv, "=")
	name, val = strings.TrimSpace(name), strings.TrimSpace(val)
	k := armKeyNamed(name)
	switch {
	case !ok:
		return armSet{}, fmt.Errorf("%q: want KEY=VALUE with KEY one of %s", kv, armKeyNames())
	case k == nil:
		return armSet{}, fmt.Errorf("unknown key %q (want one of %s)", name, armKeyNames())
	case k.gcd && algo != trainer.AlgoGCD:
		return armSet{}, fmt.Errorf("key %s is a GCD setting: use it on a gcd arm (e.g. gcd:%s)", name, kv)
	case val == "":
		return armSet{}, fmt.Errorf("key %s has no value", name)
	}
	set := armSet{key: k}
	switch k.kind {
	case "cold":
		if val != coldVerdict && val != coldPlain && val != coldOwn {
			return armSet{}, fmt.Errorf("key cold: %q is not one of %s, %s, %s", val, coldVerdict, coldPlain, coldOwn)
		}
		set.value = val
		return set, nil
	case "string":
		if !slices.Contains(k.values, val) {
			return armSet{}, fmt.Errorf("key %s: %q is not one of %s", name, val, strings.Join(k.values, ", "))
		}
		set.value = val
		return set, nil
	case "bool":
		b, err := strconv.ParseBool(val)
		if err != nil {
			return armSet{}, fmt.Errorf("key %s: %q is not true or false", name, val)
		}
		set.value = strconv.FormatBool(b)
		return set, nil
	case "int":
		v, err := strconv.Atoi(val)
		if err != nil {
			return armSet{}, fmt.Errorf("key %s: %q is not an integer", name, val)
		}
		if msg := k.check(float64(v)); msg != "" {
			return armSet{}, fmt.Errorf("key %s: %d: want %s", name, v, msg)
		}
		set.value = strconv.Itoa(v)
		return set, nil
	default:
		v, err := strconv.ParseFloat(val, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return armSet{}, fmt.Errorf("key %s: %q is not a finite number", name, val)
		}
		if msg := k.check(v); msg != "" {
			return armSet{}, fmt.Errorf("key %s: %v: want %s", name, v, msg)
		}
		set.value = strconv.FormatFloat(v, 'g', -1, 64)
		return set, nil
	}
}

// token is the override's part of an arm name: KEY VALUE without the
// equals sign, a true bool as its key and a false one as no KEY.
func (s armSet) token() string {
	switch {
	case s.key.kind == "bool" && s.value == "true":
		return s.key.name
	case s.key.kind == "bool":
		return "no" + s.key.name
	}
	return s.key.name + s.value
}

// apply sets the override's field in c (cold needs no field).
func (s armSet) apply(c *trainer.Config) {
	if s.key.setString != nil {
		s.key.setString(c, s.value)
		return
	}
	if s.key.set == nil {
		return
	}
	var v float64
	switch s.key.kind {
	case "bool":
		if s.value == "true" {
			v = 1
		}
	default:
		v, _ = strconv.ParseFloat(s.value, 64)
	}
	s.key.set(c, v)
}

// cold is the arm's cold-start recipe: its cold key, else def.
func (a studyArm) cold(def string) string {
	r := def
	for _, s := range a.sets {
		if s.key.kind == "cold" {
			r = s.value
		}
	}
	return r
}

// config is the arm's configuration of one run: the preset's defaults of
// its algorithm, tweak, then the overrides. It is not validated.
func (a studyArm) config(preset, envName string, seed uint64, tweak func(*trainer.Config)) (trainer.Config, error) {
	cfg, err := trainer.Defaults(preset, a.Algo)
	if err != nil {
		return cfg, err
	}
	cfg.Env, cfg.Seed = envName, seed
	if tweak != nil {
		tweak(&cfg)
	}
	for _, s := range a.sets {
		s.apply(&cfg)
	}
	return cfg, nil
}

// coldConfig is the configuration of the shared cold start of the arm's
// run on envName with seed (recipe def unless the arm sets cold), and the name of its recipe with the overrides
// that change it (verdict, plain, verdict-dim128-layers4): a run of no RL
// iteration (its checkpoint 0 is the cold-start policy) without
// evaluation (every arm evaluates it at its own iteration 0). The verdict
// recipe is GCD's cold start, the plain one GRPO's, each at the preset with
// the arm's overrides that change a cold start (and tweak's changes to the
// fields a cold start reads: the model, cold_start, the judge and Adam's
// constants). ok is false for an arm with its own cold start.
func (a studyArm) coldConfig(preset, envName string, seed uint64, def string, tweak func(*trainer.Config)) (cfg trainer.Config, tag string, ok bool, err error) {
	recipe := a.cold(def)
	if recipe == coldOwn {
		return cfg, "", false, nil
	}
	algo := trainer.AlgoGCD
	if recipe == coldPlain {
		algo = trainer.AlgoGRPO
	}
	if cfg, err = trainer.Defaults(preset, algo); err != nil {
		return cfg, "", false, err
	}
	cfg.Env, cfg.Seed = envName, seed
	if tweak != nil {
		// Only the fields a cold start reads, so that a change to RL
		// alone keeps the cold start.
		tw := cfg
		tweak(&tw)
		cfg.Model, cfg.ColdStart, cfg.Judge = tw.Model, tw.ColdStart, tw.Judge
		cfg.Update.Beta1, cfg.Update.Beta2, cfg.Update.AdamEps, cfg.Update.GradClip = tw.Update.Beta1, tw.Update.Beta2, tw.Update.AdamEps, tw.Update.GradClip
	}
	tag = recipe
	// The cold-start overrides in key order, so that arms giving them in
	// another order share the cold start.
	var sets []armSet
	for _, s := range a.sets {
		if s.key.cold {
			sets = slices.DeleteFunc(sets, func(o armSet) bool { return o.key == s.key })
			sets = append(sets, s)
		}
	}
	slices.SortFunc(sets, func(x, y armSet) int { return strings.Compare(x.key.name, y.key.name) })
	for _, s := range sets {
		s.apply(&cfg)
		tag += "-" + s.token()
	}
	cfg.Iterations, cfg.CheckpointEvery, cfg.Init = 0, 0, ""
	cfg.Eval = trainer.EvalConfig{}
	cfg.Run = fmt.Sprintf("%s-cold-%s-%d", envName, tag, seed)
	return cfg, tag, true, nil
}
