package adapter_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/gradcouple/gradcouple/trajlog/adapter"
)

func mustRule(t *testing.T, s string) adapter.StateRule {
	t.Helper()
	r, err := adapter.ParseStateRule(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// maxVisits returns the largest number of records of one iteration sharing
// a state key.
func maxVisits(recs []trajlog.Record) int {
	n := map[string]int{}
	best := 0
	for _, r := range recs {
		k := string(rune(r.Iteration)) + r.StateKey
		n[k]++
		best = max(best, n[k])
	}
	return best
}

// TestStateRulesRecurOnVerlAgent: on the verl-agent fixtures (made by
// scripts/verl-agent/make_fixture.py from one simulation) no state recurs 10
// times when the key hashes the whole prompt, while the verl-agent,
// observation and regex rules make states recur, in the stock dump (read as
// single-turn) and in the patched one alike; the observation rule gives the
// keys of the dump's anchor_obs.
func TestStateRulesRecurOnVerlAgent(t *testing.T) {
	stock := filepath.Join(fixtures, "verl-agent", "stock")
	patched := filepath.Join(fixtures, "verl-agent", "patched")
	if got := maxVisits(mustRead(t, stock, adapter.Options{SingleTurn: true}).Records); got >= 10 {
		t.Fatalf("stock dump, whole prompt: a state occurs %d times; the test needs a fixture where prompts do not recur", got)
	}
	for _, rule := range []string{"verl-agent", "observation", `regex:current observation is: ([^\n]*)`} {
		for _, dir := range []string{stock, patched} {
			recs := mustRead(t, dir, adapter.Options{SingleTurn: true, State: mustRule(t, rule)}).Records
			if got := maxVisits(recs); got < 10 {
				t.Errorf("%s, --state %s: a state occurs at most %d times in an iteration, want >= 10", dir, rule, got)
			}
		}
	}
	def := mustRead(t, patched, adapter.Options{}).Records
	obs := mustRead(t, patched, adapter.Options{State: mustRule(t, "observation")}).Records
	for i := range def {
		if def[i].StateKey != obs[i].StateKey {
			t.Fatalf("record %d: observation rule key %s, anchor_obs key %s", i, obs[i].StateKey, def[i].StateKey)
		}
	}
	// The same rule gives the same keys in both dumps: every state key of
	// the patched dump is one of the stock dump's.
	stockKeys := map[string]bool{}
	for _, r := range mustRead(t, stock, adapter.Options{SingleTurn: true, State: mustRule(t, "verl-agent")}).Records {
		stockKeys[r.StateKey] = true
	}
	for _, r := range mustRead(t, patched, adapter.Options{State: mustRule(t, "verl-agent")}).Records {
		if !stockKeys[r.StateKey] {
			t.Fatalf("patched state %s (turn %d of %s) is not among the stock dump's", r.StateKey, r.Turn, r.TrajID)
		}
	}
}

func TestStateRuleTexts(t *testing.T) {
	verl := func(prompts ...string) string {
		var b strings.Builder
		for _, p := range prompts {
			q, _ := json.Marshal(p)
			b.WriteString(`{"input": ` + string(q) + `, "output": "a", "score": 1, "step": 1}` + "\n")
		}
		return b.String()
	}
	keys := func(rule string, prompts ...string) []string {
		res, err := adapter.ReadVerl(strings.NewReader(verl(prompts...)), "1.jsonl", adapter.Options{State: mustRule(t, rule), SingleTurn: true})
		if err != nil {
			t.Fatalf("%s: %v", rule, err)
		}
		var ks []string
		for _, r := range res.Records {
			ks = append(ks, r.StateKey)
		}
		return ks
	}
	for _, tc := range []struct {
		rule string
		a, b string // prompts with the same state
		c    string // a prompt with another state
	}{
		{"last-user", "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n<|im_start|>user\nsame<|im_end|>\n<|im_start|>assistant\n",
			"<|im_start|>user\nother history<|im_end|>\n<|im_start|>user\nsame<|im_end|>\n<|im_start|>assistant\n",
			"<|im_start|>user\nsame<|im_end|>\n<|im_start|>user\ndifferent<|im_end|>\n"},
		{"last-user", "<|start_header_id|>user<|end_header_id|>\n\nsame<|eot_id|>", "<|start_header_id|>system<|end_header_id|>\n\nX<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nsame<|eot_id|>", "<|start_header_id|>user<|end_header_id|>\n\nno<|eot_id|>"},
		{"last-user", "system\nS\nuser\nsame\nassistant\n", "user\nsame\nassistant\n", "user\nno\nassistant\n"},
		{"regex:obs=(\\w+) .* room=(\\w+)", "step 1 obs=a x room=b", "step 7 obs=a y room=b", "step 1 obs=a x room=c"},
		{"regex:obs=\\w+", "1 obs=a", "2 obs=a", "1 obs=b"},
		{"observation", "Your task is to: t\nYou are now at step 3 and your current observation is: o\nYour admissible actions are: [x]", "Your task is to: t\nYour current observation is: o\nYour admissible actions are: [y]", "Your task is to: u\nYour current observation is: o\n\nmore"},
	} {
		k := keys(tc.rule, tc.a, tc.b, tc.c)
		if k[0] != k[1] || k[0] == k[2] {
			t.Errorf("%s: keys %v, want the first two equal and the third different", tc.rule, k)
		}
	}
	// A prompt the rule finds no state in is an error naming file, line and field.
	for _, tc := range []struct {
		rule string
		line int64
	}{{"regex:obs=(\\w+)", 2}, {"observation", 1}, {"last-user", 1}} {
		_, err := adapter.ReadVerl(strings.NewReader(verl("obs=a", "nothing here")), "1.jsonl", adapter.Options{State: mustRule(t, tc.rule), SingleTurn: true})
		wantInvalid(t, err, "1.jsonl", tc.line, "prompt", "state rule")
	}
	for _, bad := range []string{"whole", "regex:", "regex:("} {
		if _, err := adapter.ParseStateRule(bad); err == nil {
			t.Errorf("ParseStateRule(%q) succeeded", bad)
		}
	}
	if r := mustRule(t, "regex:a(b)"); r.String() != "regex:a(b)" || r.IsZero() {
		t.Errorf("rule %q", r)
	}
}

// labels returns the labels of records.
func labels(recs []trajlog.Record) []int8 {
	var out []int8
	for _, r := range recs {
		out = append(out, r.Label)
	}
	return out
}

func TestLabelColumn(t *testing.T) {
	in := `{"input": "p", "output": "a", "score": 1, "step": 1, "judge": "good"}
{"input": "p", "output": "b", "score": 0, "step": 1, "judge": 0}
{"input": "p", "output": "c", "score": 0, "step": 1, "judge": false}
{"input": "p", "output": "d", "score": 1, "step": 1, "judge": null}
{"input": "p", "output": "e", "score": 1, "step": 1, "judge": -1}
{"input": "p", "output": "f", "score": 1, "step": 1, "judge": true}
`
	res, err := adapter.ReadVerl(strings.NewReader(in), "1.jsonl", adapter.Options{LabelColumn: "judge"})
	if err != nil {
		t.Fatal(err)
	}
	want := []int8{1, 0, 0, -1, -1, 1}
	if got := labels(res.Records); !slicesEqual(got, want) {
		t.Errorf("labels %v, want %v", got, want)
	}
	for _, d := range res.Derived {
		if d == "label" {
			t.Errorf("label listed as derived: %v", res.Derived)
		}
	}
	for _, tc := range []struct {
		line, msg string
		row       int64
	}{
		{`{"input": "p", "output": "a", "score": 1, "step": 1, "judge": "maybe"}`, `label "maybe"`, 1},
		{`{"input": "p", "output": "a", "score": 1, "step": 1, "judge": 2}`, "label 2", 1},
		{`{"input": "p", "output": "a", "score": 1, "step": 1}`, "missing", 1},
	} {
		_, err := adapter.ReadVerl(strings.NewReader(tc.line+"\n"), "1.jsonl", adapter.Options{LabelColumn: "judge"})
		wantInvalid(t, err, "1.jsonl", tc.row, "judge", tc.msg)
	}

	// verl-agent: a key of the line.
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(fixtures, "verl-agent", "patched", "1.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i, l := range strings.Split(strings.TrimSpace(string(src)), "\n") {
		lines = append(lines, strings.TrimSuffix(l, "}")+`, "ok": `+[]string{"1", "0"}[i%2]+"}")
	}
	os.WriteFile(filepath.Join(dir, "1.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	res = mustRead(t, dir, adapter.Options{LabelColumn: "ok"})
	good := 0
	for _, r := range res.Records {
		if r.Label == trajlog.LabelUnknown {
			t.Fatalf("record %+v unlabelled", r)
		}
		good += int(r.Label)
	}
	if good == 0 || good == len(res.Records) {
		t.Errorf("%d of %d good, want both labels", good, len(res.Records))
	}

	// rLLM: a field of each step.
	ep := `{"training_step": 1, "episode_id": "t:0", "is_correct": true, "trajectories": [{"reward": 1, "steps": [
	  {"observation": "o1", "action": "a", "verdict": "good"}, {"observation": "o2", "action": "b", "verdict": "bad"}]}]}`
	res, err = adapter.ReadRLLM(strings.NewReader(ep), "episode_0.json", adapter.Options{LabelColumn: "verdict"})
	if err != nil {
		t.Fatal(err)
	}
	if got := labels(res.Records); !slicesEqual(got, []int8{1, 0}) {
		t.Errorf("rLLM labels %v", got)
	}
	_, err = adapter.ReadRLLM(strings.NewReader(strings.Replace(ep, `"bad"`, `"meh"`, 1)), "episode_0.json", adapter.Options{LabelColumn: "verdict"})
	wantInvalid(t, err, "episode_0.json", 2, "trajectories[0].steps[1].verdict", `"meh"`)

	// TRL: a numeric column is a label, not a reward summed into the outcome.
	tbl := trlTable{step: 1, prompts: []string{"p", "p"}, completions: []string{"a", "b"},
		rewards: []trlColumn{{"accuracy_reward", []float64{1, 0}}, {"label", []float64{1, 0}}}}
	res, err = adapter.ReadTRL(bytes.NewReader(tbl.bytes(t)), "completions_00001.parquet", adapter.Options{LabelColumn: "label"})
	if err != nil {
		t.Fatal(err)
	}
	if got := labels(res.Records); !slicesEqual(got, []int8{1, 0}) || res.Records[0].Outcome != 1 {
		t.Errorf("TRL labels %v, outcome %v", got, res.Records[0].Outcome)
	}
	tbl.rewards[1].values[1] = 0.5
	_, err = adapter.ReadTRL(bytes.NewReader(tbl.bytes(t)), "completions_00001.parquet", adapter.Options{LabelColumn: "label"})
	wantInvalid(t, err, "completions_00001.parquet", 2, "label", "label 0.5")
	_, err = adapter.ReadTRL(bytes.NewReader(tbl.bytes(t)), "completions_00001.parquet", adapter.Options{LabelColumn: "judge"})
	wantInvalid(t, err, "completions_00001.parquet", 0, "judge", "missing column")
}

func slicesEqual(a, b []int8) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestLabelTables: a label table in each format, keyed by (traj_id, turn) or
// by (state_key, action), labels exactly the steps it names.
func TestLabelTables(t *testing.T) {
	dir := filepath.Join(fixtures, "verl-agent", "patched")
	base := mustRead(t, dir, adapter.Options{}).Records
	// Label every third step: good when its turn is even.
	type entry struct {
		traj, state, action string
		turn                int32
		label, votes        int8
	}
	var entries []entry
	for i, r := range base {
		if i%3 == 0 {
			l := int8(0)
			if r.Turn%2 == 0 {
				l = 1
			}
			entries = append(entries, entry{r.TrajID, r.StateKey, r.Action, r.Turn, l, int8(3 * l)})
		}
	}
	tmp := t.TempDir()
	var csvb, jsonl strings.Builder
	csvb.WriteString("traj_id,turn,label,label_votes,comment\n")
	byPair := map[string]entry{}
	for _, e := range entries {
		csvb.WriteString(e.traj + "," + itoa(int64(e.turn)) + "," + []string{"bad", "good"}[e.label] + "," + itoa(int64(e.votes)) + ",x\n")
		if _, ok := byPair[e.state+"\x00"+e.action]; ok {
			continue // one label per (state, action)
		}
		byPair[e.state+"\x00"+e.action] = e
		jsonl.WriteString(`{"state_key": "` + e.state + `", "action": ` + strconvQuote(e.action) + `, "label": ` + []string{"false", "true"}[e.label] + "}\n")
	}
	os.WriteFile(filepath.Join(tmp, "labels.csv"), []byte(csvb.String()), 0o644)
	os.WriteFile(filepath.Join(tmp, "labels.jsonl"), []byte(jsonl.String()), 0o644)
	schema := parquet.NewSchema("labels", parquet.Group{
		"traj_id": parquet.String(), "turn": parquet.Int(32), "label": parquet.Int(8)})
	var rows []parquet.Row
	for _, e := range entries {
		rows = append(rows, parquet.Row{parquet.ValueOf(int32(e.label)).Level(0, 0, 0), parquet.ValueOf(e.traj).Level(0, 0, 1), parquet.ValueOf(e.turn).Level(0, 0, 2)})
	}
	var pq bytes.Buffer
	w := parquet.NewWriter(&pq, schema)
	if _, err := w.WriteRows(rows); err != nil {
		t.Fatal(err)
	}
	w.Close()
	os.WriteFile(filepath.Join(tmp, "labels.parquet"), pq.Bytes(), 0o644)

	for _, name := range []string{"labels.csv", "labels.jsonl", "labels.parquet"} {
		l, err := adapter.ReadLabels(filepath.Join(tmp, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		recs := mustRead(t, dir, adapter.Options{Labels: l}).Records
		byStep := map[string]entry{}
		for _, e := range entries {
			byStep[e.traj+"\x00"+itoa(int64(e.turn))] = e
		}
		for _, r := range recs {
			e, ok := byStep[r.TrajID+"\x00"+itoa(int64(r.Turn))]
			if name == "labels.jsonl" {
				e, ok = byPair[r.StateKey+"\x00"+r.Action]
			}
			want, votes := trajlog.LabelUnknown, int8(0)
			if ok {
				want = e.label
				if name == "labels.csv" {
					votes = e.votes
				}
			}
			if r.Label != want || r.LabelVotes != votes {
				t.Fatalf("%s: %s turn %d: label %d votes %d, want %d %d", name, r.TrajID, r.Turn, r.Label, r.LabelVotes, want, votes)
			}
		}
	}
	for _, tc := range []struct {
		name, body string
		row        int64
		field, msg string
	}{
		{"bad.csv", "traj_id,turn,label\nt,0,good\nt,1,maybe\n", 2, "label", `"maybe"`},
		{"turn.csv", "traj_id,turn,label\nt,x,1\n", 1, "turn", "integer"},
		{"nokey.csv", "label\n1\n", 0, "traj_id", "missing column"},
		{"conflict.jsonl", `{"traj_id": "t", "turn": 0, "label": 1}` + "\n" + `{"traj_id": "t", "turn": 0, "label": 0}` + "\n", 2, "label", "row 1"},
		{"votes.csv", "state_key,action,label,label_votes\nk,a,1,200\n", 1, "label_votes", "0..127"},
	} {
		p := filepath.Join(tmp, tc.name)
		os.WriteFile(p, []byte(tc.body), 0o644)
		_, err := adapter.ReadLabels(p)
		wantInvalid(t, err, p, tc.row, tc.field, tc.msg)
	}
}
