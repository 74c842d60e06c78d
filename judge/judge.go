package judge

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// DefaultVotes is the number of judgments per pair, as in the paper (5).
const DefaultVotes = 5

// Pair is one distinct (state, action) pair to judge, with the prompt of
// the first step record that had it.
type Pair struct {
	StateKey string
	Action   string
	Prompt   string
}

// Result is the judgment of one pair.
type Result struct {
	Label              Verdict // Majority of the votes
	Good, Bad, Unknown int
	Verdicts           []Verdict // one per vote
	Reasons            []string  // one per vote: the reason line, or the unparsed answer
}

// Options configure Run. Zero values mean the defaults noted.
type Options struct {
	Config Config
	// Votes is J, the judgments per pair; 0 means DefaultVotes.
	Votes int
	// Concurrency is the number of requests in flight; 0 means 4.
	Concurrency int
	// Template is the judging prompt; nil means DefaultTemplate().
	Template *Template
	Cache    Cache
	// Progress, when set, is called after each vote with the votes done
	// and the total (from one goroutine at a time).
	Progress func(done, total int)
}

func (o Options) votes() int {
	if o.Votes <= 0 {
		return DefaultVotes
	}
	return o.Votes
}

func (o Options) template() *Template {
	if o.Template == nil {
		return DefaultTemplate()
	}
	return o.Template
}

// Stats count what Run did.
type Stats struct {
	Votes            int // judgments made (pairs x J)
	Cached           int // answered from the cache
	Requests         int // judgments sent to the server (cache misses)
	Attempts         int // HTTP requests, retries included
	UnknownVotes     int // malformed or refused answers
	Refusals         int
	PromptTokens     int // server-reported usage of the requests sent
	CompletionTokens int
}

// Plan is what a run would send: the judgments not yet in the cache and an
// estimate of their prompt tokens.
type Plan struct {
	Pairs       int
	Votes       int   // pairs x J
	Cached      int   // of Votes, already in the cache
	Requests    int   // Votes - Cached: what would be sent
	PromptChars int64 // characters of the prompts of Requests
	Structured  int   // pairs whose prompt had the bundled layout
}

// PromptTokens estimates the prompt tokens of the requests as characters/4
// (a rule of thumb for English text with BPE tokenizers, not a count).
func (p Plan) PromptTokens() int64 { return (p.PromptChars + 3) / 4 }

// job is one vote of one pair, its request body and cache key.
type job struct {
	pair, vote int
	body       []byte
	key        string
}

// jobs renders every vote's request.
func (o Options) jobs(pairs []Pair, each func(job, int) error) error {
	t := o.template()
	for i, p := range pairs {
		f := FieldsOf(p.Prompt, p.Action)
		text, err := t.Render(f)
		if err != nil {
			return err
		}
		for v := 0; v < o.votes(); v++ {
			body, err := json.Marshal(o.Config.NewRequest(text, v))
			if err != nil {
				return err
			}
			if err := each(job{pair: i, vote: v, body: body, key: CacheKey(body, t.SHA256())}, len(text)); err != nil {
				return err
			}
		}
	}
	return nil
}

// DryRun counts what Run would send for pairs, without sending anything.
func DryRun(pairs []Pair, opts Options) (Plan, error) {
	p := Plan{Pairs: len(pairs)}
	for _, pr := range pairs {
		if FieldsOf(pr.Prompt, pr.Action).Structured {
			p.Structured++
		}
	}
	err := opts.jobs(pairs, func(j job, chars int) error {
		p.Votes++
		if _, ok, err := opts.Cache.Get(j.key); err != nil {
			return err
		} else if ok {
			p.Cached++
			return nil
		}
		p.Requests++
		p.PromptChars += int64(chars)
		return nil
	})
	return p, err
}

// Run judges every pair J times (cached answers are reused, new ones cached
// as they arrive) and returns one Result per pair, in order. It stops at
// the first request that fails for good or when ctx is cancelled; the
// answers cached so far are kept, so running again resumes.
func Run(ctx context.Context, pairs []Pair, opts Options) ([]Result, Stats, error) {
	j := opts.votes()
	var all []job
	if err := opts.jobs(pairs, func(jb job, _ int) error { all = append(all, jb); return nil }); err != nil {
		return nil, Stats{}, err
	}
	results := make([]Result, len(pairs))
	for i := range results {
		results[i].Verdicts = make([]Verdict, j)
		results[i].Reasons = make([]string, j)
	}
	var st Stats
	st.Votes = len(all)
	client := NewClient(opts.Config)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var mu sync.Mutex
	var firstErr error
	done := 0
	record := func(jb job, a Answer, cached bool, attempts int) {
		v, reason := a.Verdict()
		mu.Lock()
		defer mu.Unlock()
		r := &results[jb.pair]
		r.Verdicts[jb.vote], r.Reasons[jb.vote] = v, reason
		if cached {
			st.Cached++
		} else {
			st.Requests++
			st.Attempts += attempts
			st.PromptTokens += a.PromptTokens
			st.CompletionTokens += a.CompletionTokens
		}
		if v == Unknown {
			st.UnknownVotes++
		}
		if a.Refusal != "" {
			st.Refusals++
		}
		done++
		if opts.Progress != nil {
			opts.Progress(done, len(all))
		}
	}
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}

	// Cached answers first, so that a resumed run sends only the rest.
	var todo []job
	for _, jb := range all {
		a, ok, err := opts.Cache.Get(jb.key)
		if err != nil {
			return nil, st, err
		}
		if ok {
			record(jb, a, true, 0)
			continue
		}
		todo = append(todo, jb)
	}
	workers := opts.Concurrency
	if workers <= 0 {
		workers = 4
	}
	ch := make(chan job)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for jb := range ch {
				a, attempts, err := client.Do(ctx, jb.body)
				if err != nil {
					mu.Lock()
					st.Attempts += attempts
					mu.Unlock()
					fail(fmt.Errorf("judging pair %d (state %s, action %q), vote %d: %w", jb.pair+1, pairs[jb.pair].StateKey, pairs[jb.pair].Action, jb.vote, err))
					continue
				}
				// Cache before anything else: the answer is paid for.
				if err := opts.Cache.Put(jb.key, opts.Config.Model, jb.vote, a); err != nil {
					fail(err)
					continue
				}
				record(jb, a, false, attempts)
			}
		}()
	}
feed:
	for _, jb := range todo {
		select {
		case ch <- jb:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	if firstErr != nil {
		return nil, st, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, st, err
	}
	for i := range results {
		r := &results[i]
		for _, v := range r.Verdicts {
			switch v {
			case Good:
				r.Good++
			case Bad:
				r.Bad++
			default:
				r.Unknown++
			}
		}
		r.Label = Majority(r.Good, r.Bad, j)
	}
	return results, st, nil
}
