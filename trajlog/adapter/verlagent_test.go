package adapter_test

import (
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/metrics"
	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/gradcouple/gradcouple/trajlog/adapter"
)

// verlAgentDir holds dumps written the way verl-agent writes them, by
// scripts/verl-agent/make_fixture.py: 2 training steps of 5 groups x 4
// trajectories of up to 8 turns, with adjust_batch's copies appended and the
// batch reordered, <think> text, responses without an <action> tag (invalid,
// score - 0.1), a group where every trajectory succeeds (episode reward 10)
// and one where none does. truth.json holds the trajectories and the
// advantages of both conventions, computed by the script independently of
// this package (verl-agent's cross-step GRPO over every line, copies
// included; trajectory-level GRPO over distinct trajectories).
var verlAgentDir = filepath.Join("..", "..", "testdata", "adapters", "verl-agent")

type verlAgentTruth struct {
	Steps []struct {
		Step         int32
		Lines        int
		Copies       int
		Trajectories []struct {
			UID            string `json:"uid"`
			TrajUID        string `json:"traj_uid"`
			Task           string `json:"task"`
			Won            bool
			EpisodeReward  float64 `json:"episode_reward"`
			Advantage      float64
			AdvantageNoStd float64 `json:"advantage_no_std"`
			Steps          []verlAgentTruthStep
		}
	}
}

type verlAgentTruthStep struct {
	Turn           int32
	Action         string
	Valid          bool
	Score, Reward  float64
	AnchorObs      string  `json:"anchor_obs"`
	CrossStep      float64 `json:"cross_step_advantage"`
	CrossStepNoStd float64 `json:"cross_step_advantage_no_std"`
	// The token ids of the step (a toy tokenizer's, special tokens
	// included), by length and CRC-32 of their decimal text.
	PromptIDsLen   int    `json:"prompt_ids_len"`
	PromptIDsCRC32 uint32 `json:"prompt_ids_crc32"`
	ActionIDsLen   int    `json:"action_ids_len"`
	ActionIDsCRC32 uint32 `json:"action_ids_crc32"`
}

// idsCRC is the CRC-32 of ids written as decimal, comma separated, as
// make_fixture.py's ids_crc computes it.
func idsCRC(ids []int32) uint32 {
	s := make([]string, len(ids))
	for i, x := range ids {
		s[i] = strconv.Itoa(int(x))
	}
	return crc32.ChecksumIEEE([]byte(strings.Join(s, ",")))
}

func readVerlAgentTruth(t *testing.T) verlAgentTruth {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(verlAgentDir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tr verlAgentTruth
	if err := json.Unmarshal(data, &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestVerlAgentDump reads the patched dumps and compares every record with
// the truth: trajectories, groups, turns, actions, validity, outcomes,
// success and the advantages of both conventions, with and without std
// normalisation, and the dumped advantages as they are.
func TestVerlAgentDump(t *testing.T) {
	truth := readVerlAgentTruth(t)
	type mode struct {
		name  string
		dir   string
		opts  adapter.Options
		want  func(traj int, st verlAgentTruthStep) float64
		exact bool // the dumped float32 values
	}
	var trajAdv, trajAdvNoStd []float64 // by trajectory, in truth order
	for _, s := range truth.Steps {
		for _, tr := range s.Trajectories {
			trajAdv = append(trajAdv, tr.Advantage)
			trajAdvNoStd = append(trajAdvNoStd, tr.AdvantageNoStd)
		}
	}
	modes := []mode{
		{"trajectory", "patched", adapter.Options{}, func(i int, _ verlAgentTruthStep) float64 { return trajAdv[i] }, false},
		{"trajectory no-std", "patched", adapter.Options{Advantage: metrics.AdvantageConfig{NoStd: true}},
			func(i int, _ verlAgentTruthStep) float64 { return trajAdvNoStd[i] }, false},
		{"cross-step", "patched", adapter.Options{GroupAdvantage: adapter.AdvantageCrossStep},
			func(_ int, st verlAgentTruthStep) float64 { return st.CrossStep }, false},
		{"cross-step no-std", "patched", adapter.Options{GroupAdvantage: adapter.AdvantageCrossStep, Advantage: metrics.AdvantageConfig{NoStd: true}},
			func(_ int, st verlAgentTruthStep) float64 { return st.CrossStepNoStd }, false},
		{"dumped", "patched-advantages", adapter.Options{},
			func(_ int, st verlAgentTruthStep) float64 { return float64(float32(st.CrossStep)) }, true},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			res := mustRead(t, filepath.Join(verlAgentDir, m.dir), m.opts)
			if res.Format != adapter.FormatVerlAgent {
				t.Fatalf("format %s, want verl-agent (detected by traj_uid)", res.Format)
			}
			type key struct {
				traj string
				turn int32
			}
			byKey := map[key]trajlog.Record{}
			for _, r := range res.Records {
				k := key{r.TrajID, r.Turn}
				if _, dup := byKey[k]; dup {
					t.Fatalf("trajectory %s turn %d appears twice: copies not dropped", r.TrajID, r.Turn)
				}
				byKey[k] = r
			}
			n, ti := 0, 0
			for _, s := range truth.Steps {
				for _, tr := range s.Trajectories {
					for _, st := range tr.Steps {
						n++
						r, ok := byKey[key{tr.TrajUID, st.Turn}]
						if !ok {
							t.Fatalf("trajectory %s turn %d missing", tr.TrajUID, st.Turn)
						}
						if r.Iteration != s.Step || r.GroupID != "step-"+strconv.Itoa(int(s.Step))+"/"+tr.UID {
							t.Errorf("%s/%d: iteration %d group %q", tr.TrajUID, st.Turn, r.Iteration, r.GroupID)
						}
						if r.Action != st.Action || r.Valid != st.Valid || r.TaskID != tr.Task {
							t.Errorf("%s/%d: action %q valid %v task %q, want %q %v %q", tr.TrajUID, st.Turn, r.Action, r.Valid, r.TaskID, st.Action, st.Valid, tr.Task)
						}
						if float64(r.Outcome) != tr.EpisodeReward || r.Success != tr.Won || float64(r.StepReward) != st.Reward {
							t.Errorf("%s/%d: outcome %v success %v step reward %v, want %v %v %v", tr.TrajUID, st.Turn, r.Outcome, r.Success, r.StepReward, tr.EpisodeReward, tr.Won, st.Reward)
						}
						if r.StateKey != adapter.StateKey("task: "+tr.Task+"\x00anchor: "+st.AnchorObs) {
							t.Errorf("%s/%d: state key %s is not that of task and anchor_obs", tr.TrajUID, st.Turn, r.StateKey)
						}
						want := m.want(ti, st)
						if m.exact && float64(r.Advantage) != want || !m.exact && !near(r.Advantage, want) {
							t.Errorf("%s/%d: advantage %v, want %v", tr.TrajUID, st.Turn, r.Advantage, want)
						}
						// patched/ carries the token ids, unpadded, the chat
						// markers that the decoded input lost included;
						// patched-advantages/ was dumped without them.
						switch {
						case m.dir == "patched-advantages":
							if r.PromptIDs != nil || r.ActionIDs != nil {
								t.Errorf("%s/%d: token ids from a dump without them", tr.TrajUID, st.Turn)
							}
						case len(r.PromptIDs) != st.PromptIDsLen || idsCRC(r.PromptIDs) != st.PromptIDsCRC32 ||
							len(r.ActionIDs) != st.ActionIDsLen || idsCRC(r.ActionIDs) != st.ActionIDsCRC32:
							t.Errorf("%s/%d: %d prompt ids (crc %08x), %d action ids (crc %08x); want %d (%08x), %d (%08x)",
								tr.TrajUID, st.Turn, len(r.PromptIDs), idsCRC(r.PromptIDs), len(r.ActionIDs), idsCRC(r.ActionIDs),
								st.PromptIDsLen, st.PromptIDsCRC32, st.ActionIDsLen, st.ActionIDsCRC32)
						case r.PromptIDs[0] != 151644 || r.ActionIDs[len(r.ActionIDs)-1] != 151645 || slices.Contains(r.PromptIDs, 151643):
							t.Errorf("%s/%d: prompt ids start %d, action ids end %d, or padding (151643) left", tr.TrajUID, st.Turn, r.PromptIDs[0], r.ActionIDs[len(r.ActionIDs)-1])
						}
					}
					ti++
				}
			}
			if len(res.Records) != n {
				t.Errorf("%d records, want %d (one per distinct step)", len(res.Records), n)
			}
		})
	}
}

// TestVerlAgentScanCounts: the streaming path drops the copies and counts
// them and the responses without an <action> tag, as the truth has them.
func TestVerlAgentScanCounts(t *testing.T) {
	truth := readVerlAgentTruth(t)
	copies, noTag, steps, trajs := 0, 0, 0, 0
	for _, s := range truth.Steps {
		copies += s.Copies
		for _, tr := range s.Trajectories {
			trajs++
			for _, st := range tr.Steps {
				steps++
				if !st.Valid {
					noTag++
				}
			}
		}
	}
	log, err := adapter.Scan(filepath.Join(verlAgentDir, "patched"), adapter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var emitted int
	if err := log.Emit(7, func(recs []trajlog.Record) error { emitted += len(recs); return nil }); err != nil {
		t.Fatal(err)
	}
	if log.Copies() != int64(copies) || log.Records() != int64(steps) || emitted != steps || log.Trajectories() != int64(trajs) {
		t.Errorf("copies %d records %d emitted %d trajectories %d, want %d %d %d %d",
			log.Copies(), log.Records(), emitted, log.Trajectories(), copies, steps, steps, trajs)
	}
	// In the fixture every invalid step is one without an <action> tag.
	if log.NoActionTag() != int64(noTag) {
		t.Errorf("%d responses without an action tag, want %d", log.NoActionTag(), noTag)
	}
}

// TestVerlAgentStockRefused: the stock dump (input, output, score, step only)
// is refused naming the fields to dump, unless read as single-turn on
// purpose; then no derived group of one gets a non-zero advantage.
func TestVerlAgentStockRefused(t *testing.T) {
	stock := filepath.Join(verlAgentDir, "stock")
	_, err := adapter.Read(stock, adapter.Options{})
	var mt *adapter.MultiTurnError
	if !errors.As(err, &mt) || !strings.Contains(err.Error(), "traj_uid") || !strings.Contains(err.Error(), "--format verl-agent") {
		t.Fatalf("got %v, want a MultiTurnError naming traj_uid and --format verl-agent", err)
	}
	if mt.Counters == 0 || mt.Duplicates == 0 || mt.Singletons*2 <= mt.Groups {
		t.Errorf("signs %+v: want step counters, copies and mostly single-line groups", mt)
	}
	if _, err := adapter.Scan(stock, adapter.Options{}); !errors.As(err, &mt) {
		t.Errorf("Scan: got %v, want a MultiTurnError", err)
	}
	res := mustRead(t, stock, adapter.Options{SingleTurn: true})
	if len(res.Records) != 320 {
		t.Errorf("%d records, want 320 lines", len(res.Records))
	}
	groups := map[string]int{}
	for _, r := range res.Records {
		groups[r.GroupID]++
	}
	for _, r := range res.Records {
		if groups[r.GroupID] == 1 && r.Advantage != 0 {
			t.Fatalf("record of derived single-line group %s has advantage %v, want 0", r.GroupID, r.Advantage)
		}
	}
	// The hand-written single-turn verl fixture is not refused.
	mustRead(t, filepath.Join("..", "..", "testdata", "adapters", "verl"), adapter.Options{})
}

// TestVerlAgentBadLines: a dump missing turn (or uid, traj_uid,
// episode_rewards) names the field and the fix; two different lines for one
// step are an error; GiGPO advantages are not recomputed; a verl-agent dump
// read as plain verl names traj_uid.
func TestVerlAgentBadLines(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(verlAgentDir, "patched", "1.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	edit := func(i int, f func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	write := func(ls ...string) string {
		p := filepath.Join(t.TempDir(), "1.jsonl")
		if err := os.WriteFile(p, []byte(strings.Join(ls, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, field := range []string{"turn", "uid", "traj_uid", "episode_rewards"} {
		p := write(lines[0], edit(1, func(m map[string]any) { delete(m, field) }))
		_, err := adapter.Read(p, adapter.Options{Format: adapter.FormatVerlAgent})
		var ve *trajlog.ValidationError
		if !errors.As(err, &ve) || ve.Row != 2 || ve.Field != field || !strings.Contains(ve.Msg, "gradcouple_dump.py") {
			t.Errorf("without %s: got %v, want row 2 field %s with the fix", field, err, field)
		}
	}
	// Same trajectory and turn, different output.
	p := write(lines[0], edit(0, func(m map[string]any) { m["output"] = "<think>x</think><action>look</action>" }))
	_, err = adapter.Read(p, adapter.Options{})
	var ve *trajlog.ValidationError
	if !errors.As(err, &ve) || ve.Row != 2 || ve.Field != "turn" {
		t.Errorf("conflicting copy: got %v, want row 2 field turn", err)
	}
	// An exact copy is dropped.
	res := mustRead(t, write(lines[0], lines[0]), adapter.Options{})
	if len(res.Records) != 1 {
		t.Errorf("exact copy: %d records, want 1", len(res.Records))
	}
	// A copy whose token ids differ is not one.
	p = write(lines[0], edit(0, func(m map[string]any) { m["action_ids"] = []int{1, 2} }))
	if _, err = adapter.Read(p, adapter.Options{}); !errors.As(err, &ve) || ve.Row != 2 || ve.Field != "turn" {
		t.Errorf("copy with other ids: got %v, want row 2 field turn", err)
	}
	// Bad token ids name the line and field.
	for _, tc := range []struct {
		field string
		value any
		msg   string
	}{
		{"prompt_ids", []any{1, 2.5}, "element 1 is 2.5, not an integer token id"},
		{"prompt_ids", []any{1, -2}, "negative token id -2 at index 1"},
		{"action_ids", []any{2147483648}, "token id 2147483648 at index 0 does not fit in int32"},
		{"action_ids", []any{"12"}, "element 0 is a string, want an integer token id"},
		{"action_ids", []any{1, nil}, "element 1 is null"},
		{"prompt_ids", "1 2 3", "is a string, want an array of integer token ids"},
		{"action_ids", []any{}, "missing or empty while prompt_ids has"},
		{"action_ids", nil, "missing or empty while prompt_ids has"},
	} {
		p := write(lines[0], edit(1, func(m map[string]any) { m[tc.field] = tc.value }))
		_, err := adapter.Read(p, adapter.Options{})
		if !errors.As(err, &ve) || ve.Row != 2 || ve.Field != tc.field || !strings.Contains(ve.Msg, tc.msg) {
			t.Errorf("%s = %v: got %v, want row 2 field %s %q", tc.field, tc.value, err, tc.field, tc.msg)
		}
	}
	if _, err := adapter.Read(filepath.Join(verlAgentDir, "patched"), adapter.Options{GroupAdvantage: adapter.AdvantageGiGPO}); !errors.Is(err, adapter.ErrGiGPO) {
		t.Errorf("gigpo: got %v, want ErrGiGPO", err)
	}
	if _, err := adapter.Read(filepath.Join(verlAgentDir, "patched-advantages"), adapter.Options{GroupAdvantage: adapter.AdvantageGiGPO}); err != nil {
		t.Errorf("gigpo with dumped advantages: %v", err)
	}
	_, err = adapter.Read(filepath.Join(verlAgentDir, "patched"), adapter.Options{Format: adapter.FormatVerl})
	if !errors.As(err, &ve) || ve.Field != "traj_uid" || !strings.Contains(ve.Msg, "--format verl-agent") {
		t.Errorf("--format verl: got %v, want field traj_uid naming --format verl-agent", err)
	}
}

// TestStripHistory: without anchor_obs the state is the prompt with the
// history and the step counter removed, so the same state reached at
// different steps gets the same key, and the first step's template matches
// the later one's.
func TestStripHistory(t *testing.T) {
	later := "system\nS\nuser\n\nYou are an expert agent operating in the ALFRED Embodied Environment. Your task is to: put some egg in fridge.\n" +
		"Prior to this step, you have already taken 6 step(s). Below are the most recent 2 observations and the corresponding actions you took: [Observation 5: 'Nothing happens.', Action 5: 'look']\n" +
		"[Observation 6: 'You are not carrying anything.', Action 6: 'inventory']\n" +
		"You are now at step 7 and your current observation is: You arrive at fridge 1.\nYour admissible actions of the current situation are: ['look'].\n"
	other := strings.Replace(strings.Replace(later, "step 7", "step 3", 1), "6 step(s)", "2 step(s)", 1)
	other = strings.Replace(other, "[Observation 5: 'Nothing happens.', Action 5: 'look']", "[Observation 1: 'x', Action 1: 'go to fridge 1']", 1)
	a, b := adapter.StripHistory(later), adapter.StripHistory(other)
	if a != b {
		t.Errorf("different keys for one state:\n%q\n%q", a, b)
	}
	if strings.Contains(a, "Observation 6") || strings.Contains(a, "step 7") || !strings.Contains(a, "Your current observation is: You arrive at fridge 1.") {
		t.Errorf("history or counter left: %q", a)
	}
	if p := "What is 2+2?"; adapter.StripHistory(p) != p {
		t.Errorf("a plain prompt changed")
	}
	if _, ok := adapter.ParseGroupAdvantageMode("steps"); ok == nil {
		t.Errorf("unknown advantage mode accepted")
	}
}
