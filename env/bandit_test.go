package env

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// banditVariants are bandit names covering every option.
var banditVariants = []string{"bandit", "bandit-alias", "bandit-d5", "bandit-k2-f3-d3", "bandit-k8-f40-d7", "bandit-k3-f5-d2-alias"}

func TestBanditNames(t *testing.T) {
	for _, tc := range []struct {
		in, canon string
		opts      BanditOptions
	}{
		{"bandit", "bandit", BanditOptions{Actions: 4, Filler: 16}},
		{"bandit-k4-f16-d0", "bandit", BanditOptions{Actions: 4, Filler: 16}},
		{"bandit-alias-d3-k6", "bandit-k6-d3-alias", BanditOptions{Actions: 6, Filler: 16, CueDistance: 3, Alias: true}},
		{"bandit-f1-d1", "bandit-f1-d1", BanditOptions{Actions: 4, Filler: 1, CueDistance: 1}},
	} {
		o, err := ParseBandit(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if o != tc.opts || o.Name() != tc.canon {
			t.Errorf("%s: options %+v name %q, want %+v %q", tc.in, o, o.Name(), tc.opts, tc.canon)
		}
		if c, err := CanonicalName(tc.in); err != nil || c != tc.canon {
			t.Errorf("CanonicalName(%s) = %q, %v", tc.in, c, err)
		}
	}
	if (BanditOptions{}).Name() != Bandit {
		t.Errorf("zero options name %q", BanditOptions{}.Name())
	}
	for _, bad := range []string{"bandits", "bandit-", "bandit--k4", "bandit-k1", "bandit-k9", "bandit-k0", "bandit-f0",
		"bandit-f65", "bandit-d17", "bandit-f3-d4", "bandit-k4-k4", "bandit-alias-alias", "bandit-x3", "bandit-k04",
		"bandit-k", "bandit-kk", "bandit-d-1", "bandit-k1000", "bandit-aliased"} {
		if _, err := New(bad); !errors.Is(err, ErrUnknownEnv) {
			t.Errorf("New(%q): %v, want ErrUnknownEnv", bad, err)
		}
		if _, err := NewTask(bad, SplitTrain, 0); !errors.Is(err, ErrUnknownEnv) {
			t.Errorf("NewTask(%q): %v", bad, err)
		}
		if Words(bad) != nil {
			t.Errorf("Words(%q) not nil", bad)
		}
	}
	if _, err := CanonicalName("kitchen"); !errors.Is(err, ErrUnknownEnv) {
		t.Errorf("CanonicalName(kitchen): %v", err)
	}
	if !HasTwins("bandit-alias") || HasTwins(Household) || TwinSeed(6) != 7 || TwinSeed(7) != 6 {
		t.Error("HasTwins/TwinSeed")
	}
}

// TestBanditTasks: generation is deterministic, IDs round-trip through
// ParseTaskID, splits are disjoint in fingerprints, eval-out uses only
// held-out filler words, and the environment behaves as documented.
func TestBanditTasks(t *testing.T) {
	const seeds = 300
	for _, name := range banditVariants {
		o, _ := ParseBandit(name)
		owner := map[string]string{}
		for _, split := range Splits() {
			for seed := uint64(0); seed < seeds; seed++ {
				a, err := NewTask(name, split, seed)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := NewTask(name, split, seed)
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("%s: two generations differ", a.ID)
				}
				wantID := name + "/" + split + "/" + strconv.FormatUint(seed, 10)
				if a.ID != wantID || a.Env != name || a.Split != split || a.Seed != seed || a.Type != banditType {
					t.Fatalf("task fields %+v", a)
				}
				c, err := ParseTaskID(a.ID)
				if err != nil || !reflect.DeepEqual(a, c) {
					t.Fatalf("%s: ParseTaskID: %v", a.ID, err)
				}
				if s, ok := owner[a.Fingerprint()]; ok && s != split {
					t.Fatalf("%s: instance in %s and %s", a.ID, s, split)
				}
				owner[a.Fingerprint()] = split
				// Observation: L filler words and one cue (or the alias) at
				// the cue distance; filler from the split's list.
				words := strings.Fields(strings.TrimSuffix(strings.TrimPrefix(a.bandit.obs, banditObsHead), "."))
				if len(words) != o.Filler+1 {
					t.Fatalf("%s: %d words %q", a.ID, len(words), a.bandit.obs)
				}
				at := o.Filler - o.CueDistance
				shown := a.bandit.cue
				if o.Alias {
					shown = banditAlias
				}
				fillerList := banditFiller
				if split == SplitEvalOut {
					fillerList = banditFillerOut
				}
				for i, w := range words {
					if (i == at) != (w == shown) || (i != at && !slices.Contains(fillerList, w)) {
						t.Fatalf("%s: word %d %q in %q", a.ID, i, w, a.bandit.obs)
					}
				}
				if c := slices.Index(banditCues, a.bandit.cue); c < 0 || c >= 2*o.Actions || c%o.Actions != a.bandit.correct {
					t.Fatalf("%s: cue %q, correct %d", a.ID, a.bandit.cue, a.bandit.correct)
				}
			}
		}
	}
	// The same seed gives the same words at every distance, with or
	// without the alias (only k and L choose them).
	a, _ := NewTask("bandit", SplitTrain, 11)
	b, _ := NewTask("bandit-d5-alias", SplitTrain, 11)
	if a.bandit.cue != b.bandit.cue || a.bandit.correct != b.bandit.correct ||
		strings.ReplaceAll(a.bandit.obs, " "+a.bandit.cue, "") != strings.ReplaceAll(b.bandit.obs, " "+banditAlias, "") {
		t.Errorf("variants differ in words: %q vs %q", a.bandit.obs, b.bandit.obs)
	}
}

// TestBanditTwins: seeds 2s and 2s+1 differ in exactly one prompt token,
// the cue, and in their optimal action; with the alias their prompts are
// equal while their optimal actions still differ.
func TestBanditTwins(t *testing.T) {
	for _, name := range banditVariants {
		o, _ := ParseBandit(name)
		for _, split := range Splits() {
			for s := uint64(0); s < 100; s++ {
				var prompts [2][]string
				var opt [2][]string
				var keys [2]string
				for k := range 2 {
					task, err := NewTask(name, split, 2*s+uint64(k))
					if err != nil {
						t.Fatal(err)
					}
					e, _, err := Start(task)
					if err != nil {
						t.Fatal(err)
					}
					prompts[k] = Tokens(Prompt(e, nil, PromptConfig{}))
					opt[k], keys[k] = OptimalActions(e), e.StateKey()
					if len(opt[k]) != 1 || PlanLength(e) != 1 {
						t.Fatalf("%s: optimal %q, plan %d", task.ID, opt[k], PlanLength(e))
					}
					// the cue is CueFromEnd tokens before the end of the prompt
					p := prompts[k]
					cue := p[len(p)-1-o.CueFromEnd()]
					if want := task.bandit.cue; o.Alias {
						want = banditAlias
						if cue != want {
							t.Fatalf("%s: token %q at the cue position", task.ID, cue)
						}
					} else if cue != want {
						t.Fatalf("%s: token %q at the cue position, want %q", task.ID, cue, want)
					}
				}
				if opt[0][0] == opt[1][0] || keys[0] == keys[1] {
					t.Fatalf("%s twins %d: optimal %q %q, keys %s %s", name, s, opt[0], opt[1], keys[0], keys[1])
				}
				if len(prompts[0]) != len(prompts[1]) {
					t.Fatalf("%s twins %d: prompt lengths %d, %d", name, s, len(prompts[0]), len(prompts[1]))
				}
				var diff []int
				for i := range prompts[0] {
					if prompts[0][i] != prompts[1][i] {
						diff = append(diff, i)
					}
				}
				want := 1
				if o.Alias {
					want = 0
				}
				if len(diff) != want || (want == 1 && diff[0] != len(prompts[0])-1-o.CueFromEnd()) {
					t.Fatalf("%s twins %d: prompts differ at %v", name, s, diff)
				}
			}
		}
	}
}

// TestBanditEpisode plays the correct, a wrong and an invalid action.
func TestBanditEpisode(t *testing.T) {
	task, _ := NewTask("bandit-k3", SplitEvalIn, 5)
	e, obs, err := Start(task)
	if err != nil {
		t.Fatal(err)
	}
	if e.Name() != "bandit-k3" || obs != e.Observation() || e.Goal() != task.Goal || e.StepLimit() != 1 || e.Done() {
		t.Fatalf("fresh env %q %q", e.Name(), obs)
	}
	adm := e.Admissible()
	if !slices.Equal(adm, []string{"press red", "press blue", "press green"}) {
		t.Fatalf("admissible %q", adm)
	}
	good := OptimalActions(e)[0]
	bad := adm[(slices.Index(adm, good)+1)%3]
	judge := Judge{J: 5}
	if g, _ := judge.Verdict(e, good, nil); !g {
		t.Error("judge calls the correct action bad")
	}
	if g, _ := judge.Verdict(e, "<action>"+strings.ToUpper(bad)+"</action>", nil); g {
		t.Error("judge calls a wrong action good")
	}
	start := e.StateKey()
	for _, tc := range []struct {
		action         string
		reward         float64
		solved, failed bool
		obs            string
	}{
		{good, 1, true, false, "The task is solved."},
		{"Action: " + strings.ToUpper(bad) + ".", 0, false, true, "wrong button"},
		{"press pink", 0, false, false, nothingHappens},
	} {
		c := e.Clone()
		obs, r, done := c.Step(tc.action)
		if r != tc.reward || !done || c.Solved() != tc.solved || c.Failed() != tc.failed || !strings.Contains(obs, tc.obs) ||
			c.Steps() != 1 || len(c.Admissible()) != 0 || len(OptimalActions(c)) != 0 || c.StateKey() == start {
			t.Errorf("%q: obs %q reward %v done %v solved %v failed %v", tc.action, obs, r, done, c.Solved(), c.Failed())
		}
		if want := map[bool]int{true: 0, false: -1}[tc.solved]; PlanLength(c) != want {
			t.Errorf("%q: plan length %d", tc.action, PlanLength(c))
		}
		if obs, r, done := c.Step(good); obs != nothingHappens || r != 0 || !done || c.Steps() != 1 {
			t.Errorf("step after done: %q %v %v", obs, r, done)
		}
	}
	if e.Steps() != 0 || e.StateKey() != start {
		t.Error("Clone shares state")
	}
	demo, err := Demonstration(task)
	if err != nil || !slices.Equal(demo, []string{good}) {
		t.Errorf("demonstration %q, %v", demo, err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Reset with another variant's task did not panic")
			}
		}()
		other, _ := NewTask("bandit", SplitTrain, 0)
		e.Reset(other)
	}()
	if _, _, err := Start(Task{Env: Bandit}); !errors.Is(err, ErrNoTask) {
		t.Errorf("Start of a zero bandit task: %v", err)
	}
}

// TestBanditWords: Words covers every prompt, action and observation of
// every variant and split, and every bandit-specific word occurs; random
// play solves about 1/k.
func TestBanditWords(t *testing.T) {
	words := Words(Bandit)
	if !slices.IsSorted(words) || !slices.Equal(words, Words("bandit-k8-alias")) {
		t.Fatal("Words not sorted or differs between variants")
	}
	vocab := map[string]bool{}
	for _, w := range words {
		vocab[w] = true
	}
	used := map[string]bool{}
	use := func(text string) {
		for _, tok := range Tokens(text) {
			if !vocab[tok] {
				t.Fatalf("token %q of %q not in Words", tok, text)
			}
			used[tok] = true
		}
	}
	solved, n := 0, 0
	for _, name := range banditVariants {
		for _, split := range Splits() {
			for seed := uint64(0); seed < 200; seed++ {
				task, _ := NewTask(name, split, seed)
				rng := rand.New(rand.NewPCG(seed, 3))
				pol := []Policy{RandomPolicy{}, OraclePolicy{}}[seed%2]
				tr, err := Play(task, pol, rng, PlayConfig{})
				if err != nil {
					t.Fatal(err)
				}
				for _, st := range tr.Steps {
					use(st.Prompt)
					use(st.Action)
				}
				e, _, _ := Start(task)
				for _, a := range e.Admissible() {
					c := e.Clone()
					use(a)
					obs, _, _ := c.Step(a)
					use(obs)
				}
				if seed%2 == 0 {
					n++
					if tr.Solved {
						solved++
					}
				} else if !tr.Solved {
					t.Fatalf("%s: oracle did not solve", task.ID)
				}
			}
		}
	}
	for _, list := range [][]string{banditFiller, banditFillerOut, banditCues, banditColors, {banditAlias}} {
		for _, w := range list {
			if !used[w] {
				t.Errorf("word %q never used", w)
			}
		}
	}
	// k is 4, 4, 4, 2, 8 and 3 over the variants: mean 1/k = 0.285
	rate := float64(solved) / float64(n)
	if rate < 0.2 || rate > 0.4 {
		t.Errorf("random success %.3f", rate)
	}
}

// TestBanditSampleStats: Sample and Stats take bandit names; eval-out
// prompts use exactly the 24 held-out filler words that train never shows.
func TestBanditSampleStats(t *testing.T) {
	recs, _, err := Sample(SampleConfig{Env: "bandit-d3", Split: SplitTrain, Tasks: 10, GroupSize: 4, Policy: "random", Judge: Judge{J: 5}})
	if err != nil || len(recs) != 40 || recs[0].Env != "bandit-d3" || recs[0].TaskID != "bandit-d3/train/0" {
		t.Fatalf("Sample: %d records, %v", len(recs), err)
	}
	for _, r := range recs {
		task, _ := ParseTaskID(r.TaskID)
		e, _, _ := Start(task)
		if (r.Label == 1) != IsOptimal(e, r.Action) || r.Turn != 0 {
			t.Fatalf("record %+v", r)
		}
	}
	_, splits, err := Stats(StatsConfig{Envs: []string{Bandit}, Tasks: 300})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range splits {
		wantNew := 0
		if s.Split == SplitEvalOut {
			wantNew = len(banditFillerOut)
		}
		if s.Distinct != 300 || s.Overlap != 0 || s.NewWords != wantNew || s.Vocab != len(Words(Bandit)) {
			t.Errorf("split %+v", s)
		}
	}
}

// FuzzParseBandit: no input panics; an accepted name's canonical spelling
// parses back to the same options and is its own canonical spelling.
func FuzzParseBandit(f *testing.F) {
	for _, s := range append(slices.Clone(banditVariants), "bandit-", "bandit-k", "bandit-d99", "bandit-alias-k2-f1-d1") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		o, err := ParseBandit(name)
		if err != nil {
			return
		}
		p, err := ParseBandit(o.Name())
		if err != nil || p != o {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", name, o, o.Name(), p, err)
		}
		if c, err := CanonicalName(o.Name()); err != nil || c != o.Name() {
			t.Fatalf("%q not canonical: %q %v", o.Name(), c, err)
		}
	})
}
