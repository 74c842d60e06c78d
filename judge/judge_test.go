package judge

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// server is a scripted OpenAI-compatible chat-completions server on the
// loopback address. answer returns the status, headers and body of the
// n-th request (1-based) with the given request.
type server struct {
	t      *testing.T
	mu     sync.Mutex
	n      int
	seen   map[string]int // request body -> times answered with 200
	auth   []string
	answer func(n int, req Request) (status int, hdr map[string]string, body string)
	srv    *httptest.Server
}

func newServer(t *testing.T, answer func(n int, req Request) (int, map[string]string, string)) *server {
	s := &server{t: t, seen: map[string]int{}, answer: answer}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
			http.Error(w, "not found", 404)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var req Request
		if err := json.Unmarshal(b, &req); err != nil {
			http.Error(w, "bad json", 400)
			return
		}
		s.mu.Lock()
		s.n++
		n := s.n
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.mu.Unlock()
		status, hdr, body := s.answer(n, req)
		if status == 0 { // hang until the client gives up
			<-r.Context().Done()
			return
		}
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
		if status == 200 {
			s.mu.Lock()
			s.seen[string(b)]++
			s.mu.Unlock()
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *server) url() string { return s.srv.URL + "/v1" }

func (s *server) repeated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := 0
	for _, c := range s.seen {
		r += c - 1
	}
	return r
}

func chat(content string) string {
	b, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"message": map[string]any{"role": "assistant", "content": content}, "finish_reason": "stop"}},
		"usage": map[string]any{"prompt_tokens": 10, "completion_tokens": 3}})
	return string(b)
}

// actionOf finds the action in a rendered default prompt.
func actionOf(req Request) string {
	c := req.Messages[0].Content
	i := strings.Index(c, "The agent's action: ")
	return strings.SplitN(c[i+len("The agent's action: "):], "\n", 2)[0]
}

const hhPrompt = "You are an agent in a household. Your task is to: put a mug in shelf.\n" +
	"Your last 1 observations and actions: [Observation 1: You are in the middle of a room. Action 1: go to cabinet 1]\n" +
	"Now at step 2, your observation is: You arrive at cabinet 1. The cabinet 1 is closed.\n" +
	"Your admissible actions are: [open cabinet 1, go to shelf 1, look, inventory].\nYour action:"

func testOptions(s *server, dir string) Options {
	return Options{
		Config: Config{Endpoint: s.url(), Model: "m", APIKey: "sk-secret-123", Temperature: 1, Timeout: 500 * time.Millisecond,
			Backoff: time.Millisecond, MaxBackoff: 50 * time.Millisecond},
		Votes: 3, Concurrency: 2, Cache: Cache{Dir: dir},
	}
}

func TestFieldsOf(t *testing.T) {
	f := FieldsOf(hhPrompt, "open cabinet 1")
	if !f.Structured || f.Task != "put a mug in shelf." || f.Observation != "You arrive at cabinet 1. The cabinet 1 is closed." ||
		f.Admissible != "open cabinet 1, go to shelf 1, look, inventory" || !strings.HasPrefix(f.History, "[Observation 1:") {
		t.Fatalf("fields %+v", f)
	}
	g := FieldsOf("<|user|>solve 2+2<|assistant|>", "4")
	if g.Structured || g.Prompt == "" || g.Task != "" {
		t.Fatalf("foreign prompt %+v", g)
	}
	text, err := DefaultTemplate().Render(g)
	if err != nil || !strings.Contains(text, "solve 2+2") || !strings.Contains(text, "The agent's action: 4") {
		t.Fatalf("render %q %v", text, err)
	}
}

func TestParseVerdict(t *testing.T) {
	cases := []struct {
		in   string
		want Verdict
	}{
		{"good\nit opens the cabinet", Good},
		{" Bad.\n detour\n", Bad},
		{"**good**\nreason", Good},
		{"good", Unknown},                     // no reason
		{"good\nr\nextra", Unknown},           // three lines
		{"I think it is good\nr", Unknown},    // not the word
		{"I cannot help with that.", Unknown}, // refusal text
		{"", Unknown},
	}
	for _, c := range cases {
		if got, _ := ParseVerdict(c.in); got != c.want {
			t.Errorf("ParseVerdict(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestMajority(t *testing.T) {
	cases := []struct {
		good, bad, j int
		want         Verdict
	}{
		{3, 2, 5, Good}, {2, 3, 5, Bad}, {2, 2, 4, Bad}, {3, 0, 5, Good}, {2, 1, 5, Unknown}, {0, 3, 5, Bad}, {0, 0, 5, Unknown}, {1, 2, 5, Unknown}, {1, 3, 5, Bad},
	}
	for _, c := range cases {
		if got := Majority(c.good, c.bad, c.j); got != c.want {
			t.Errorf("Majority(%d, %d, %d) = %v, want %v", c.good, c.bad, c.j, got, c.want)
		}
	}
}

func TestRunMajorityUnknownAndKey(t *testing.T) {
	// Pair 0: votes good, good, bad -> good. Pair 1: bad, malformed, refusal
	// -> the two unknown votes could make it good: unknown.
	s := newServer(t, func(n int, req Request) (int, map[string]string, string) {
		switch actionOf(req) {
		case "open cabinet 1":
			if req.Seed == 2 {
				return 200, nil, chat("bad\nnot needed")
			}
			return 200, nil, chat("good\nopens the cabinet")
		default:
			switch req.Seed {
			case 0:
				return 200, nil, chat("bad\ndetour")
			case 1:
				return 200, nil, chat("The action is probably fine.")
			}
			return 200, nil, `{"choices":[{"message":{"role":"assistant","content":null,"refusal":"I can't judge that."}}]}`
		}
	})
	dir := t.TempDir()
	pairs := []Pair{{StateKey: "a", Action: "open cabinet 1", Prompt: hhPrompt}, {StateKey: "a", Action: "look", Prompt: hhPrompt}}
	res, st, err := Run(context.Background(), pairs, testOptions(s, dir))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Label != Good || res[0].Good != 2 || res[0].Bad != 1 || res[0].Reasons[0] != "opens the cabinet" {
		t.Errorf("pair 0: %+v", res[0])
	}
	if res[1].Label != Unknown || res[1].Unknown != 2 || st.UnknownVotes != 2 || st.Refusals != 1 {
		t.Errorf("pair 1: %+v, stats %+v", res[1], st)
	}
	if st.Requests != 6 || st.Cached != 0 {
		t.Errorf("stats %+v", st)
	}
	for _, a := range s.auth {
		if a != "Bearer sk-secret-123" {
			t.Fatalf("Authorization header %q", a)
		}
	}
	// The key is in no cache file.
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			if strings.Contains(string(b), "sk-secret") {
				t.Errorf("%s holds the API key", p)
			}
		}
		return nil
	})
	// Again: everything from the cache, nothing sent.
	before := s.n
	_, st, err = Run(context.Background(), pairs, testOptions(s, dir))
	if err != nil || st.Cached != 6 || st.Requests != 0 || s.n != before {
		t.Fatalf("second run: %+v %v, server saw %d more", st, err, s.n-before)
	}
	// A changed API key reuses the cache (the key is not in the cache key).
	o := testOptions(s, dir)
	o.Config.APIKey = "other"
	if _, st, _ = Run(context.Background(), pairs, o); st.Cached != 6 {
		t.Fatalf("cache depends on the API key: %+v", st)
	}
}

func TestRetries(t *testing.T) {
	// 429 with Retry-After, a 500, a slow reply beyond the timeout and a 200
	// that is not a chat completion, then answers.
	var mu sync.Mutex
	tries := map[int]int{}
	s := newServer(t, func(n int, req Request) (int, map[string]string, string) {
		mu.Lock()
		tries[req.Seed]++
		k := tries[req.Seed]
		mu.Unlock()
		if k == 1 {
			switch req.Seed {
			case 0:
				return 429, map[string]string{"Retry-After": "0.01"}, `{"error":"slow down"}`
			case 1:
				return 500, nil, "oops"
			case 2:
				time.Sleep(300 * time.Millisecond) // beyond the 100ms timeout
				return 200, nil, chat("good\nlate")
			case 3:
				return 200, nil, "<html>proxy</html>"
			}
		}
		return 200, nil, chat("good\nfine")
	})
	o := testOptions(s, t.TempDir())
	o.Votes, o.Config.Timeout = 4, 100*time.Millisecond
	res, st, err := Run(context.Background(), []Pair{{StateKey: "a", Action: "x", Prompt: "p"}}, o)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Good != 4 || st.Attempts != 8 || st.Requests != 4 {
		t.Fatalf("result %+v stats %+v", res[0], st)
	}
	// A 400 is not retried and fails the run, naming the pair.
	s2 := newServer(t, func(int, Request) (int, map[string]string, string) { return 401, nil, `{"error":"bad key"}` })
	_, st, err = Run(context.Background(), []Pair{{StateKey: "a", Action: "x", Prompt: "p"}}, testOptions(s2, t.TempDir()))
	if !errors.Is(err, ErrRequest) || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "GRADCOUPLE_JUDGE_API_KEY") {
		t.Fatalf("err %v", err)
	}
	// Retries exhausted on a server that keeps failing.
	s3 := newServer(t, func(int, Request) (int, map[string]string, string) { return 503, nil, "down" })
	o3 := testOptions(s3, t.TempDir())
	o3.Config.Retries, o3.Votes = 2, 1
	if _, _, err = Run(context.Background(), []Pair{{StateKey: "a", Action: "x", Prompt: "p"}}, o3); !errors.Is(err, ErrRequest) || s3.n != 3 {
		t.Fatalf("err %v after %d requests, want 3", err, s3.n)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if d := parseRetryAfter("2", now); d != 2*time.Second {
		t.Errorf("seconds: %v", d)
	}
	if d := parseRetryAfter(now.Add(3*time.Second).Format(http.TimeFormat), now); d != 3*time.Second {
		t.Errorf("date: %v", d)
	}
	if d := parseRetryAfter("soon", now); d != -1 {
		t.Errorf("garbage: %v", d)
	}
}

// TestKillAndResume interrupts a run after k answers and resumes it: the
// server answers no request twice and the results equal an uninterrupted
// run's.
func TestKillAndResume(t *testing.T) {
	const k = 7
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stop sync.Once
	s := newServer(t, func(n int, req Request) (int, map[string]string, string) {
		if n == k+1 && ctx.Err() == nil {
			stop.Do(cancel) // the kill: this request is never answered
			return 0, nil, ""
		}
		if req.Seed%2 == 0 {
			return 200, nil, chat("good\nok")
		}
		return 200, nil, chat("bad\nno")
	})
	dir := t.TempDir()
	var pairs []Pair
	for i := 0; i < 5; i++ {
		pairs = append(pairs, Pair{StateKey: "s", Action: string(rune('a' + i)), Prompt: hhPrompt})
	}
	o := testOptions(s, dir)
	o.Concurrency = 1
	if _, _, err := Run(ctx, pairs, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	plan, err := DryRun(pairs, o)
	if err != nil || plan.Cached != k || plan.Requests != 15-k {
		t.Fatalf("plan after the kill: %+v %v", plan, err)
	}
	o.Concurrency = 3
	res, st, err := Run(context.Background(), pairs, o)
	if err != nil {
		t.Fatal(err)
	}
	if st.Cached != k || st.Requests != 15-k || s.repeated() != 0 {
		t.Fatalf("resume: %+v, repeated requests %d", st, s.repeated())
	}
	for i, r := range res {
		if r.Label != Good || r.Good != 2 || r.Bad != 1 {
			t.Errorf("pair %d: %+v", i, r)
		}
	}
}

func TestDryRunCounts(t *testing.T) {
	o := Options{Config: Config{Model: "m"}, Votes: 5}
	pairs := []Pair{{StateKey: "a", Action: "x", Prompt: hhPrompt}, {StateKey: "b", Action: "y", Prompt: "free text"}}
	p, err := DryRun(pairs, o)
	if err != nil {
		t.Fatal(err)
	}
	var chars int64
	for _, pr := range pairs {
		text, _ := DefaultTemplate().Render(FieldsOf(pr.Prompt, pr.Action))
		chars += 5 * int64(len(text))
	}
	if p.Pairs != 2 || p.Votes != 10 || p.Requests != 10 || p.Structured != 1 || p.PromptChars != chars || p.PromptTokens() != (chars+3)/4 {
		t.Fatalf("plan %+v, want %d chars", p, chars)
	}
}

func TestRateLimit(t *testing.T) {
	s := newServer(t, func(int, Request) (int, map[string]string, string) { return 200, nil, chat("good\nok") })
	o := testOptions(s, "")
	o.Config.Rate, o.Votes, o.Concurrency = 50, 6, 4
	start := time.Now()
	if _, _, err := Run(context.Background(), []Pair{{StateKey: "a", Action: "x", Prompt: "p"}}, o); err != nil {
		t.Fatal(err)
	}
	// 6 requests at 50/s: the last starts 5 gaps of 20ms after the first.
	if el := time.Since(start); el < 95*time.Millisecond {
		t.Fatalf("6 requests at 50/s took %v", el)
	}
}

func TestTemplateErrors(t *testing.T) {
	if _, err := ParseTemplate("t.txt", "Judge {{.Prompt}}"); err == nil {
		t.Error("a template without the action was accepted")
	}
	if _, err := ParseTemplate("t.txt", "{{.Action}} {{.Nope}}"); err == nil || !strings.Contains(err.Error(), "t.txt") {
		t.Errorf("unknown field: %v", err)
	}
	a, b := DefaultTemplate(), DefaultTemplate()
	if a.SHA256() != b.SHA256() || len(a.SHA256()) != 64 {
		t.Error("template hash")
	}
}
