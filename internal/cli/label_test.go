package cli

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gradcouple/gradcouple/judge"
	"github.com/gradcouple/gradcouple/trajlog"
)

// oracleServer is an OpenAI-compatible server on the loopback address whose
// answers are the oracle's truth for the rendered prompt, flipped when a
// hash of the request body falls below flip (a simulated noisy LLM judge).
// Prompts it has no truth for are answered by fallback.
type oracleServer struct {
	mu       sync.Mutex
	truth    map[string]bool // rendered prompt -> truth
	flip     float64
	fallback func(prompt string) string
	requests int
	seen     map[string]int
	auth     map[string]bool
	srv      *httptest.Server
}

func newOracleServer(t *testing.T, truth map[string]bool, flip float64, fallback func(string) string) *oracleServer {
	s := &oracleServer{truth: truth, flip: flip, fallback: fallback, seen: map[string]int{}, auth: map[string]bool{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req judge.Request
		if err := json.Unmarshal(b, &req); err != nil || len(req.Messages) != 1 {
			http.Error(w, "bad request", 400)
			return
		}
		p := req.Messages[0].Content
		s.mu.Lock()
		s.requests++
		s.seen[string(b)]++
		s.auth[r.Header.Get("Authorization")] = true
		tr, ok := s.truth[p]
		s.mu.Unlock()
		var content string
		if ok {
			h := fnv.New64a()
			h.Write(b)
			if float64(h.Sum64()%1_000_000)/1e6 < s.flip {
				tr = !tr
			}
			content = "bad\nnot on a shortest plan"
			if tr {
				content = "good\non a shortest plan"
			}
		} else {
			content = s.fallback(p)
		}
		out, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"message": map[string]any{"role": "assistant", "content": content}}}})
		w.Write(out)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// oracleTruth renders the default prompt of every record of an env sample
// log and replays its trajectory for the truth.
func oracleTruth(t *testing.T, path string) map[string]bool {
	recs, err := trajlog.ReadAll(path, trajlog.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byTraj := map[string][]int{}
	for i, r := range recs {
		byTraj[r.TrajID] = append(byTraj[r.TrajID], i)
	}
	truth := map[string]bool{}
	tmpl := judge.DefaultTemplate()
	for _, idx := range byTraj {
		var steps []judge.Step
		for _, i := range idx {
			steps = append(steps, judge.Step{Turn: recs[i].Turn, StateKey: recs[i].StateKey, Action: recs[i].Action})
		}
		tr, err := judge.Oracle(recs[idx[0]].TaskID, steps)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range idx {
			text, err := tmpl.Render(judge.FieldsOf(recs[i].Prompt, recs[i].Action))
			if err != nil {
				t.Fatal(err)
			}
			truth[text] = tr[recs[i].Turn]
		}
	}
	return truth
}

func TestLabelBundledAgreementAndConsistency(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "hh.jsonl")
	if _, stderr, code := run(t, "env", "sample", "--env", "household", "--split", "train", "--tasks", "4", "--group-size", "16",
		"--policy", "mix", "--eps", "0.6", "--seed", "1", "--out", log); code != 0 {
		t.Fatal(stderr)
	}
	s := newOracleServer(t, oracleTruth(t, log), 0.1, func(string) string { return "?" })
	t.Setenv(APIKeyEnv, "sk-test-key-42")
	out := filepath.Join(dir, "labelled.parquet")
	args := []string{"label", log, "--endpoint", s.srv.URL + "/v1", "--model", "oracle-sim", "--out", out, "--timeout", "5s"}

	stdout, stderr, code := run(t, append(args, "--dry-run")...)
	if code != 0 || s.requests != 0 || !strings.Contains(stdout, "dry run: nothing sent") {
		t.Fatalf("dry run: exit %d, %d requests\n%s%s", code, s.requests, stdout, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the dry run wrote the output")
	}
	var pairs, toSend int
	fmt.Sscanf(stdout[strings.Index(stdout, "; ")+2:], "%d distinct", &pairs)
	line := stdout[strings.Index(stdout, "cached, ")+len("cached, "):]
	fmt.Sscanf(line, "%d to send", &toSend)
	if pairs == 0 || toSend != 5*pairs {
		t.Fatalf("dry run: %d pairs, %d to send\n%s", pairs, toSend, stdout)
	}

	stdout, stderr, code = run(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	t.Log("label output (docs/label.md quotes it):\n" + stdout)
	if s.requests != toSend {
		t.Errorf("server saw %d requests, the dry run said %d", s.requests, toSend)
	}
	for _, want := range []string{"agreement with the oracle", "bundled_accuracy", "household", "vote_error_rate", "wrote " + out} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if !s.auth["Bearer sk-test-key-42"] || len(s.auth) != 1 {
		t.Errorf("Authorization headers %v", s.auth)
	}
	// The key is in no file the command wrote.
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), "sk-test-key-42") {
				t.Errorf("%s holds the API key", p)
			}
		}
		return nil
	})
	recs, err := trajlog.ReadAll(out, trajlog.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var good, bad int
	for _, r := range recs {
		switch r.Label {
		case 1:
			good++
		case 0:
			bad++
		default:
			t.Fatalf("unknown label at %s turn %d", r.TrajID, r.Turn)
		}
	}
	if good == 0 || bad == 0 {
		t.Fatalf("%d good, %d bad", good, bad)
	}
	// Again: all from the cache, nothing sent.
	before := s.requests
	if stdout, stderr, code = run(t, append(args, "--out", filepath.Join(dir, "again.parquet"))...); code != 0 || s.requests != before ||
		!strings.Contains(stdout, "sent 0 requests") {
		t.Fatalf("second run sent %d requests (exit %d)\n%s%s", s.requests-before, code, stdout, stderr)
	}
	for b, n := range s.seen {
		if n > 1 {
			t.Fatalf("request sent %d times: %.100s", n, b)
		}
	}
	// The labelled log feeds consistency by label.
	stdout, stderr, code = run(t, "consistency", out, "--json")
	if code != 0 {
		t.Fatalf("consistency: exit %d: %s", code, stderr)
	}
	var rows [][]map[string]any
	if err := json.Unmarshal([]byte("["+strings.ReplaceAll(strings.TrimSpace(stdout), "\n]\n[", "],[")+"]"), &rows); err != nil {
		var one []map[string]any
		if err2 := json.Unmarshal([]byte(stdout), &one); err2 != nil {
			t.Fatalf("consistency output: %v\n%s", err, stdout)
		}
		rows = [][]map[string]any{one}
	}
	r := rows[0][0]
	hg, okg := r["high_good"].(float64)
	hb, okb := r["high_bad"].(float64)
	hu, _ := r["high_unknown"].(float64)
	if !okg || !okb || hu != 0 || r["eligible_states"].(float64) == 0 {
		t.Fatalf("consistency by label: high_good %v high_bad %v high_unknown %v\n%s", r["high_good"], r["high_bad"], r["high_unknown"], stdout)
	}
	_ = hg + hb
	// ... and coupling --grads strata: a gradient store of a tiny model over
	// the labelled log carries the labels.
	ck, grads := filepath.Join(dir, "ck"), filepath.Join(dir, "g.safetensors")
	if _, stderr, code := run(t, "model", "init", "--out", ck, "--env", "household", "--dim", "16", "--layers", "1", "--heads", "2", "--context", "512"); code != 0 {
		t.Fatal(stderr)
	}
	if _, stderr, code := run(t, "model", "grads", "--checkpoint", ck, "--samples", out, "--out", grads, "--tensors", "transformer.h.0.mlp.", "--limit", "80"); code != 0 {
		t.Fatal(stderr)
	}
	stdout, stderr, code = run(t, "coupling", "--grads", grads, "--samples", filepath.Join(dir, "g.samples.parquet"))
	if code != 0 {
		t.Fatalf("coupling --grads: exit %d: %s", code, stderr)
	}
	var ng, nb, nu int
	if i := strings.Index(stdout, "80 samples from "); i < 0 {
		t.Fatalf("coupling output:\n%s", stdout)
	} else if _, err := fmt.Sscanf(stdout[strings.Index(stdout[i:], "(")+i:], "(%d good, %d bad, %d unknown)", &ng, &nb, &nu); err != nil || ng == 0 || nb == 0 || nu != 0 {
		t.Fatalf("coupling labels: %d good %d bad %d unknown (%v)\n%s", ng, nb, nu, err, stdout)
	}
	if !strings.Contains(stdout, "same_state") || !strings.Contains(stdout, "cos_good_bad") {
		t.Errorf("coupling strata missing:\n%s", stdout)
	}
}

func TestLabelConvertedVerlLog(t *testing.T) {
	dir := t.TempDir()
	conv := filepath.Join(dir, "verl.parquet")
	if _, stderr, code := run(t, "convert", "../../testdata/adapters/verl", "--out", conv); code != 0 {
		t.Fatal(stderr)
	}
	// A scripted judge: an answer containing a digit 4 is good; everything
	// else bad, except one action answered with prose (unknown).
	var mu sync.Mutex
	n := 0
	s := newOracleServer(t, nil, 0, func(p string) string {
		mu.Lock()
		n++
		mu.Unlock()
		i := strings.Index(p, "The agent's action: ")
		action := p[i:]
		if strings.Contains(action, "4") {
			return "good\nthe answer is right"
		}
		return "bad\nwrong answer"
	})
	out := filepath.Join(dir, "labelled.jsonl")
	stdout, stderr, code := run(t, "label", conv, "--endpoint", s.srv.URL+"/v1", "--model", "m", "--votes", "3", "--out", out, "--concurrency", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(stdout, "agreement with the oracle") {
		t.Errorf("a verl log has no oracle:\n%s", stdout)
	}
	recs, err := trajlog.ReadAll(out, trajlog.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		want := int8(0)
		if strings.Contains(r.Action, "4") {
			want = 1
		}
		if r.Label != want || r.LabelVotes != 3*want {
			t.Errorf("%s: action %q label %d votes %d, want %d", r.TrajID, r.Action, r.Label, r.LabelVotes, want)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "labelled.judgments.jsonl"))
	if err != nil || !strings.Contains(string(b), `"reasons":[`) || !strings.Contains(string(b), judge.DefaultTemplate().SHA256()) {
		t.Fatalf("judgments table: %v\n%s", err, b)
	}
	// The raw verl dump is labelled directly too (read through the adapter).
	if _, stderr, code := run(t, "label", "../../testdata/adapters/verl", "--endpoint", s.srv.URL+"/v1", "--model", "m", "--votes", "3",
		"--out", filepath.Join(dir, "direct.parquet")); code != 0 {
		t.Fatalf("direct: exit %d: %s", code, stderr)
	}
}

func TestLabelUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("no action field {{.Prompt}}"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"label", "../../testdata/adapters/verl", "--endpoint", "http://127.0.0.1:1/v1", "--out", filepath.Join(dir, "o.parquet")}, "--model"},
		{[]string{"label", "../../testdata/adapters/verl", "--model", "m", "--out", filepath.Join(dir, "o.parquet")}, "--endpoint"},
		{[]string{"label", "../../testdata/adapters/verl", "--model", "m", "--endpoint", "http://127.0.0.1:1/v1", "--out", filepath.Join(dir, "o.txt")}, "o.txt"},
		{[]string{"label", "../../testdata/adapters/verl", "--model", "m", "--endpoint", "http://127.0.0.1:1/v1", "--votes", "0", "--out", filepath.Join(dir, "o.parquet")}, "--votes"},
		{[]string{"label", "../../testdata/adapters/verl", "--model", "m", "--dry-run", "--prompt", bad}, "bad.txt"},
	} {
		_, stderr, code := run(t, c.args...)
		if code != ExitBadInput || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, stderr, c.want)
		}
	}
}
