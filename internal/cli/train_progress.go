package cli

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/gradcouple/gradcouple/internal/table"
	"github.com/gradcouple/gradcouple/trainer"
)

// trainProgress shows a training run's progress: a bar redrawn in place on
// stderr when it is a terminal, plain lines on stdout otherwise (one per
// iteration, for logs of batch jobs).
type trainProgress struct {
	e        *Env
	start    time.Time
	drawn    bool
	lastEval string
	first    int // first iteration seen by this process (for the rate)
	seen     int
}

func newTrainProgress(e *Env) *trainProgress {
	return &trainProgress{e: e, start: e.Now(), first: -1}
}

func (p *trainProgress) report(ev trainer.Progress) {
	switch ev.Stage {
	case trainer.StageColdStart:
		if p.e.Terminal {
			p.draw(fmt.Sprintf("cold start %s %d/%d  loss %.3f", bar(ev.Step, ev.Steps), ev.Step, ev.Steps, ev.Loss))
		} else if ev.Step == 1 || ev.Step == ev.Steps || ev.Step%50 == 0 {
			fmt.Fprintf(p.e.Stdout, "cold start %d/%d  loss %.4f\n", ev.Step, ev.Steps, ev.Loss)
		}
	case trainer.StageIteration:
		m := ev.Metrics
		if p.first < 0 {
			p.first, p.start = ev.Iteration, p.e.Now()
		}
		p.seen++
		line := iterationLine(m, ev.Iterations)
		if m.EvalInGreedy != nil || m.EvalInSampled != nil {
			p.lastEval = evalText(m)
		}
		if !p.e.Terminal {
			fmt.Fprintf(p.e.Stdout, "%s  %.1f s\n", line, ev.Timing.Total)
			return
		}
		if m.EvalInGreedy != nil || m.EvalInSampled != nil {
			p.clear()
			fmt.Fprintf(p.e.Stderr, "%s\n", line)
		}
		el := p.e.Now().Sub(p.start)
		rate := el / time.Duration(p.seen)
		eta := rate * time.Duration(ev.Iterations-ev.Iteration)
		p.draw(fmt.Sprintf("train %s %d/%d  %s  %.1f s/it  ETA %s", bar(ev.Iteration, ev.Iterations), ev.Iteration, ev.Iterations,
			p.lastEval, rate.Seconds(), eta.Round(time.Second)))
	}
}

// iterationLine is the plain summary of one iteration.
func iterationLine(m *trainer.Metrics, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "iter %d/%d", m.Iteration, n)
	if m.TrainSuccess != nil {
		fmt.Fprintf(&b, "  train %.3f", *m.TrainSuccess)
	}
	if s := evalText(m); s != "" {
		fmt.Fprintf(&b, "  %s", s)
	}
	if m.VerdictAcc != nil {
		fmt.Fprintf(&b, "  verdict %.3f", *m.VerdictAcc)
	}
	if m.CorrectionRate != nil && *m.CorrectionRate > 0 {
		fmt.Fprintf(&b, "  corrected %.3f", *m.CorrectionRate)
	}
	if m.KL != nil {
		fmt.Fprintf(&b, "  kl %.4f", *m.KL)
	}
	return b.String()
}

func evalText(m *trainer.Metrics) string {
	var parts []string
	for _, f := range []struct {
		name string
		v    *float64
	}{{"eval-in", m.EvalInGreedy}, {"eval-in~", m.EvalInSampled}, {"eval-out", m.EvalOutGreedy}, {"eval-out~", m.EvalOutSampled}} {
		if f.v != nil {
			parts = append(parts, fmt.Sprintf("%s %.3f", f.name, *f.v))
		}
	}
	return strings.Join(parts, "  ")
}

func bar(done, total int) string {
	const width = 24
	n := 0
	if total > 0 {
		n = min(width, done*width/total)
	}
	return "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "]"
}

func (p *trainProgress) draw(s string) {
	fmt.Fprintf(p.e.Stderr, "\r\033[K%s", s)
	p.drawn = true
}

func (p *trainProgress) clear() {
	if p.drawn {
		fmt.Fprint(p.e.Stderr, "\r\033[K")
		p.drawn = false
	}
}

func (p *trainProgress) done() {
	if p.drawn {
		fmt.Fprintln(p.e.Stderr)
		p.drawn = false
	}
}

// trainSummaryRow is one evaluated iteration in the final table
// (greedy / sampled success; "~" marks sampled play). Train and Verdict
// are means over the training iterations since the previous row (the
// first row: its own iteration), so that they rest on hundreds of
// rollouts rather than one iteration's B x G.
type trainSummaryRow struct {
	Iteration     int     `parquet:"iteration"`
	Window        string  `parquet:"train_iterations"`
	Train         float64 `parquet:"train"`
	EvalIn        float64 `parquet:"eval_in"`
	EvalInSampled float64 `parquet:"eval_in~"`
	EvalOut       float64 `parquet:"eval_out"`
	EvalOutSamp   float64 `parquet:"eval_out~"`
	Verdict       float64 `parquet:"verdict_acc"`
	EvalVerdict   float64 `parquet:"eval_verdict_acc"`
}

// writeTrainSummary prints the success rates of every evaluated iteration,
// with the train success and verdict accuracy of the rollouts since the
// previous evaluated iteration.
func writeTrainSummary(w io.Writer, lines []trainer.Metrics) error {
	v := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	var rows []trainSummaryRow
	from := 0 // first index of the current window
	for n, m := range lines {
		if m.EvalInGreedy == nil && m.EvalInSampled == nil && m.EvalOutGreedy == nil && m.EvalOutSampled == nil {
			continue
		}
		lo, hi := from, n // window [lo, hi) of training iterations, or n alone
		if hi == lo {
			hi = n + 1
		}
		var ts, va meanOf
		for _, x := range lines[lo:hi] {
			ts.add(x.TrainSuccess)
			va.add(x.VerdictAcc)
		}
		window := "-"
		if ts.n > 0 {
			window = fmt.Sprintf("%d-%d", lines[lo].Iteration, lines[hi-1].Iteration)
		}
		rows = append(rows, trainSummaryRow{Iteration: m.Iteration, Window: window, Train: ts.mean(),
			EvalIn: v(m.EvalInGreedy), EvalInSampled: v(m.EvalInSampled), EvalOut: v(m.EvalOutGreedy), EvalOutSamp: v(m.EvalOutSampled),
			Verdict: va.mean(), EvalVerdict: v(m.EvalVerdictAcc)})
		from = hi
	}
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	return table.WriteText(w, rows)
}

// meanOf is the mean of the non-nil values added.
type meanOf struct {
	sum float64
	n   int
}

func (a *meanOf) add(p *float64) {
	if p != nil {
		a.sum += *p
		a.n++
	}
}

func (a *meanOf) mean() float64 {
	if a.n == 0 {
		return math.NaN()
	}
	return a.sum / float64(a.n)
}
