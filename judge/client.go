package judge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config configures a Client. Zero values mean the defaults noted.
type Config struct {
	// Endpoint is the server's base URL ("http://127.0.0.1:8000/v1"); requests
	// go to Endpoint + "/chat/completions" unless it already ends so.
	Endpoint string
	// Model is the model name sent with every request.
	Model string
	// APIKey, when not empty, is sent as "Authorization: Bearer KEY". It is
	// never part of a cache key or written anywhere.
	APIKey string
	// Temperature of every request; votes differ through it (and the seed).
	Temperature float64
	// MaxTokens bounds the answer; 0 means 128.
	MaxTokens int
	// Timeout of one attempt; 0 means 60s.
	Timeout time.Duration
	// Retries is the number of retries after a 429, a 5xx, a timeout or a
	// connection error; 0 means 5, a negative value none.
	Retries int
	// Backoff is the wait before the first retry, doubled on each further
	// one up to MaxBackoff; 0 means 1s. A Retry-After header overrides it.
	Backoff time.Duration
	// MaxBackoff caps a wait (Retry-After included); 0 means 60s.
	MaxBackoff time.Duration
	// Rate limits requests per second over all workers; 0 means no limit.
	Rate float64
	// HTTP is the client used; nil means a new http.Client.
	HTTP *http.Client
}

func (c Config) url() string {
	u := strings.TrimRight(c.Endpoint, "/")
	if strings.HasSuffix(u, "/chat/completions") {
		return u
	}
	return u + "/chat/completions"
}

// Request is one chat-completions request body.
type Request struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Temperature float64   `json:"temperature"`
	MaxTokens   int       `json:"max_tokens"`
	// Seed is the vote index: the J votes of a pair are J distinct requests,
	// reproducible where the server honours seeds.
	Seed int `json:"seed"`
}

// Message is a chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// NewRequest builds the request of vote `vote` for a rendered judging prompt.
func (c Config) NewRequest(prompt string, vote int) Request {
	mt := c.MaxTokens
	if mt == 0 {
		mt = 128
	}
	return Request{Model: c.Model, Messages: []Message{{Role: "user", Content: prompt}}, Temperature: c.Temperature, MaxTokens: mt, Seed: vote}
}

// CacheKey is the hex SHA-256 of the request body together with the
// template's hash. It depends on the model, the messages, the temperature,
// the token limit, the vote index (seed) and the template, and on nothing
// else: not the endpoint, not the API key.
func CacheKey(body []byte, templateSHA string) string {
	h := sha256.New()
	h.Write([]byte("gradcouple-judge-v1\x00"))
	h.Write([]byte(templateSHA))
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Answer is a server's answer to one request.
type Answer struct {
	Content      string `json:"content"`
	Refusal      string `json:"refusal,omitempty"`
	FinishReason string `json:"finish_reason,omitempty"`
	// PromptTokens and CompletionTokens are the server's usage counts (0 when
	// it reports none).
	PromptTokens     int `json:"prompt_tokens,omitempty"`
	CompletionTokens int `json:"completion_tokens,omitempty"`
}

// Verdict parses the answer; a refusal is Unknown.
func (a Answer) Verdict() (Verdict, string) {
	if a.Refusal != "" {
		return Unknown, "refused: " + a.Refusal
	}
	return ParseVerdict(a.Content)
}

// ErrRequest is wrapped by the errors of requests that failed for good: a
// 4xx other than 429, retries exhausted, or a reply that is not a chat
// completion.
var ErrRequest = errors.New("judge request failed")

// Client sends chat-completions requests. It is safe for concurrent use.
type Client struct {
	cfg  Config
	http *http.Client
	// sleep waits d or until ctx is done (replaced in tests).
	sleep func(ctx context.Context, d time.Duration) error

	mu   sync.Mutex
	next time.Time // earliest start of the next request (rate limit)
}

// NewClient returns a client for cfg.
func NewClient(cfg Config) *Client {
	h := cfg.HTTP
	if h == nil {
		h = &http.Client{}
	}
	return &Client{cfg: cfg, http: h, sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// wait blocks until the rate limit allows one more request.
func (c *Client) wait(ctx context.Context) error {
	if c.cfg.Rate <= 0 {
		return ctx.Err()
	}
	gap := time.Duration(float64(time.Second) / c.cfg.Rate)
	c.mu.Lock()
	now := time.Now()
	start := c.next
	if start.Before(now) {
		start = now
	}
	c.next = start.Add(gap)
	c.mu.Unlock()
	return c.sleep(ctx, time.Until(start))
}

// Do sends body (a JSON Request) and returns the answer, retrying 429s,
// 5xx replies, timeouts and connection errors with exponential backoff
// (Retry-After honoured). Attempts counts the HTTP requests made.
func (c *Client) Do(ctx context.Context, body []byte) (ans Answer, attempts int, err error) {
	retries := c.cfg.Retries
	if retries == 0 {
		retries = 5
	} else if retries < 0 {
		retries = 0
	}
	backoff := c.cfg.Backoff
	if backoff <= 0 {
		backoff = time.Second
	}
	maxBackoff := c.cfg.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 60 * time.Second
	}
	for attempt := 0; ; attempt++ {
		if err := c.wait(ctx); err != nil {
			return Answer{}, attempts, err
		}
		attempts++
		ans, retryAfter, retryable, err := c.once(ctx, body)
		if err == nil {
			return ans, attempts, nil
		}
		if ctx.Err() != nil {
			return Answer{}, attempts, ctx.Err()
		}
		if !retryable {
			return Answer{}, attempts, fmt.Errorf("%w: %v", ErrRequest, err)
		}
		if attempt >= retries {
			return Answer{}, attempts, fmt.Errorf("%w after %d attempts: %v", ErrRequest, attempts, err)
		}
		d := backoff << attempt
		if d <= 0 || d > maxBackoff {
			d = maxBackoff
		}
		if retryAfter >= 0 {
			d = min(retryAfter, maxBackoff)
		}
		if err := c.sleep(ctx, d); err != nil {
			return Answer{}, attempts, err
		}
	}
}

// once makes one attempt. retryAfter is -1 when the reply gave none.
func (c *Client) once(ctx context.Context, body []byte) (ans Answer, retryAfter time.Duration, retryable bool, err error) {
	timeout := c.cfg.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.cfg.url(), bytes.NewReader(body))
	if err != nil {
		return Answer{}, -1, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// Timeouts and connection errors are worth another try.
		return Answer{}, -1, true, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return Answer{}, -1, true, fmt.Errorf("reading the reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := fmt.Sprintf("%s: HTTP %d: %s", c.cfg.url(), resp.StatusCode, snippet(data))
		switch {
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			return Answer{}, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), true, errors.New(msg)
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			msg += " (is the API key in GRADCOUPLE_JUDGE_API_KEY right?)"
		}
		return Answer{}, -1, false, errors.New(msg)
	}
	var cr struct {
		Choices []struct {
			Message struct {
				Content *string `json:"content"`
				Refusal *string `json:"refusal"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(data, &cr); err != nil || len(cr.Choices) == 0 {
		// A 200 that is not a chat completion: a broken proxy or a server
		// restarting; worth another try.
		return Answer{}, -1, true, fmt.Errorf("%s: the reply is not a chat completion: %s", c.cfg.url(), snippet(data))
	}
	ch := cr.Choices[0]
	if ch.Message.Content != nil {
		ans.Content = *ch.Message.Content
	}
	if ch.Message.Refusal != nil {
		ans.Refusal = *ch.Message.Refusal
	}
	ans.FinishReason = ch.FinishReason
	ans.PromptTokens, ans.CompletionTokens = cr.Usage.PromptTokens, cr.Usage.CompletionTokens
	return ans, -1, false, nil
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date; -1
// when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
		return 0
	}
	return -1
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
