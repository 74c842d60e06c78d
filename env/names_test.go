package env

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestHeldOutNames: every role has at least 50 distinct names, the same on
// every call; no name is in two roles (of either world) or among the
// world's other words (worldWords without names); each is one word token.
func TestHeldOutNames(t *testing.T) {
	if got := syllableNames("ba be", "dax fep gim"); !slices.Equal(got, []string{"badax", "bafep", "bagim", "bedax", "befep", "begim"}) {
		t.Errorf("syllableNames = %q", got)
	}
	role := map[string]string{}
	for _, w := range Names() {
		base := map[string]bool{}
		for _, x := range worldWords(w, false) {
			base[x] = true
		}
		roles := heldOutNames(w)
		if len(roles) < 2 {
			t.Errorf("%s: roles %v", w, roles)
		}
		for r, names := range roles {
			if len(names) < 50 || len(slices.Compact(slices.Sorted(slices.Values(names)))) != len(names) {
				t.Errorf("%s %s: %d names, or duplicates", w, r, len(names))
			}
			if !slices.Equal(names, heldOutNames(w)[r]) {
				t.Errorf("%s %s: names differ between calls", w, r)
			}
			for _, n := range names {
				if o, ok := role[n]; ok {
					t.Errorf("%q is a name of %s and %s/%s", n, o, w, r)
				}
				role[n] = w + "/" + r
				if base[n] || !slices.Equal(Tokens(n), []string{n}) {
					t.Errorf("%s %s: name %q is another word or not one token", w, r, n)
				}
			}
		}
	}
}

// TestNamesOnlyInEval: over 300 seeds per split, played by the oracle and
// the random policy, held-out names occur in the names shift of eval-out
// only, there in the goal (the role it renames: the object and receptacle
// types, the substance, measured object, plant or load); the names shift
// uses many of them.
func TestNamesOnlyInEval(t *testing.T) {
	for _, w := range Names() {
		held := map[string]string{}
		for r, names := range heldOutNames(w) {
			for _, n := range names {
				held[n] = r
			}
		}
		used := map[string]bool{}
		for _, split := range Splits() {
			for _, task := range allTasks(t, w, split, 300) {
				seen := map[string]bool{}
				for k, pol := range []Policy{OraclePolicy{}, RandomPolicy{}} {
					tr, err := Play(task, pol, rand.New(rand.NewPCG(task.Seed, uint64(k))), PlayConfig{})
					if err != nil {
						t.Fatal(err)
					}
					for _, s := range tr.Steps {
						for _, tok := range Tokens(s.Prompt + " " + s.Action) {
							if _, ok := held[tok]; ok {
								seen[tok] = true
							}
						}
					}
				}
				if (len(seen) > 0) != (task.Shift == ShiftNames) {
					t.Fatalf("%s (shift %q): held-out names %v", task.ID, task.Shift, seen)
				}
				var roles []string
				for n := range seen {
					used[n] = true
					roles = append(roles, held[n])
					if !strings.Contains(task.Goal, n) && held[n] != "receptacle" {
						t.Fatalf("%s: name %q (%s) not in the goal %q", task.ID, n, held[n], task.Goal)
					}
				}
				if w == Household && task.Shift == ShiftNames && (!slices.Contains(roles, "object") || !slices.Contains(roles, "receptacle")) {
					t.Fatalf("%s: renamed roles %v", task.ID, roles)
				}
			}
		}
		if len(used) < 40 {
			t.Errorf("%s: only %d held-out names in 100 names-shift tasks", w, len(used))
		}
	}
}

// TestShiftPartition: eval-out seed s has shift Shifts()[s mod 3], so the
// shift types partition eval-out into three parts of equal size; train and
// eval-in have none. The mix_paint tasks of eval-out whose colour no train
// task mixes are knowledge tasks that state the recipe, and the names
// shift has no mix_paint; tasks in the ring (answer boxes outside) or the
// foundry (furnace) are knowledge tasks of the family that needs them,
// stating the fact.
func TestShiftPartition(t *testing.T) {
	const n = 600
	for _, w := range Names() {
		count := map[string]int{}
		fams := map[string]map[string]int{}
		for _, split := range Splits() {
			for _, task := range allTasks(t, w, split, n) {
				count[split+"/"+task.Shift]++
				if split != SplitEvalOut {
					continue
				}
				if task.Shift != Shifts()[task.Seed%3] {
					t.Fatalf("%s: shift %q", task.ID, task.Shift)
				}
				if fams[task.Shift] == nil {
					fams[task.Shift] = map[string]int{}
				}
				fams[task.Shift][task.Type]++
				if l := task.lab; l != nil {
					if l.family == labMix && slices.Contains(labMixTargetsOut, l.target) != (task.Shift == ShiftKnowledge) {
						t.Fatalf("%s: mix_paint of %s in shift %q", task.ID, labColors[l.target], task.Shift)
					}
					if l.family == labMix && task.Shift == ShiftKnowledge && !strings.HasSuffix(task.Goal, labRecipe(l.target)) {
						t.Fatalf("%s: goal %q states no recipe", task.ID, task.Goal)
					}
					if (l.layout == "ring" || l.layout == "foundry") && (task.Shift != ShiftKnowledge || !strings.Contains(task.Goal, " like a stove.") && !strings.Contains(task.Goal, " are outside.")) {
						t.Fatalf("%s: %s in shift %q: %q", task.ID, l.layout, task.Shift, task.Goal)
					}
				}
			}
		}
		want := map[string]int{SplitTrain + "/": n, SplitEvalIn + "/": n,
			SplitEvalOut + "/" + ShiftNames: n / 3, SplitEvalOut + "/" + ShiftLayout: n / 3, SplitEvalOut + "/" + ShiftKnowledge: n / 3}
		if fmt.Sprint(count) != fmt.Sprint(want) {
			t.Errorf("%s: tasks per split/shift %v, want %v", w, count, want)
		}
		t.Logf("%s eval-out families per shift: %v", w, fams)
		if w == Lab && fams[ShiftNames]["mix_paint"] > 0 {
			t.Errorf("lab names shift has mix_paint tasks")
		}
	}
}

// TestDefaultTasksGolden: the train and eval-in tasks of household and lab
// (seeds 0..299: ID, fingerprint, family, layout, goal, first observation,
// demonstration) are those generated before twins and shift types existed
// (hashes recorded at commit 21bec36).
func TestDefaultTasksGolden(t *testing.T) {
	want := map[string]string{
		"household/train":   "df0aa4ffa378071daddc3fb16c5f1b7816dd7751db0fb884472c9ba009cbcd8b",
		"household/eval-in": "b14917c33d03b06b9ee980caef71fe01df85983b74697d74617a2fd5785f234e",
		"lab/train":         "c2b67cbef08059deff08257ee09ca0c1c0a7a65c095d71363a7e8c95f7c41a24",
		"lab/eval-in":       "e42aa2f4aee6fd587a46cd9a8612b8f229a6b9e34924fb23cc81ec9eefd957f1",
	}
	for _, w := range Names() {
		for _, split := range []string{SplitTrain, SplitEvalIn} {
			h := sha256.New()
			for _, task := range allTasks(t, w, split, 300) {
				demo, err := Demonstration(task)
				if err != nil {
					t.Fatal(err)
				}
				_, obs, _ := Start(task)
				fmt.Fprintf(h, "%s %s %s %s %q %q %q\n", task.ID, task.Fingerprint(), task.Type, task.Layout, task.Goal, obs, demo)
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != want[w+"/"+split] {
				t.Errorf("%s/%s: tasks changed: hash %s", w, split, got)
			}
		}
	}
}
