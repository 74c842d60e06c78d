package analysis

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/gradcouple/gradcouple/trajlog/adapter"
)

var adapterFixtures = filepath.Join("..", "testdata", "adapters")

// readDirect reads patterns through scanFiles, keeping every record.
func readDirect(t *testing.T, patterns []string, aopts adapter.Options) ([]trajlog.Record, Sources) {
	t.Helper()
	var recs []trajlog.Record
	src, err := scanFiles(context.Background(), patterns, trajlog.ReadOptions{}, aopts, func(_ string, r *trajlog.Record) error {
		recs = append(recs, *r)
		return nil
	})
	if err != nil {
		t.Fatalf("%v: %v", patterns, err)
	}
	return recs, src
}

// TestDirectReadingIsConvert: reading every foreign fixture directly (a
// directory, a glob) gives the records of convert-then-read (adapter.Read,
// written as canonical parquet and read back), says which adapter read it,
// and lists the same derived fields.
func TestDirectReadingIsConvert(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		format  adapter.Format
		opts    adapter.Options
	}{
		{"verl", adapter.FormatVerl, adapter.Options{}},
		{filepath.Join("verl", "*.jsonl"), adapter.FormatVerl, adapter.Options{}},
		{filepath.Join("verl-agent", "patched"), adapter.FormatVerlAgent, adapter.Options{}},
		{filepath.Join("verl-agent", "patched-advantages"), adapter.FormatVerlAgent, adapter.Options{}},
		{filepath.Join("verl-agent", "stock"), adapter.FormatVerl, adapter.Options{SingleTurn: true, State: mustRule(t, "verl-agent")}},
		{"trl", adapter.FormatTRL, adapter.Options{}},
		{filepath.Join("trl", "completions_*.parquet"), adapter.FormatTRL, adapter.Options{}},
		{"rllm", adapter.FormatRLLM, adapter.Options{}},
	} {
		p := filepath.Join(adapterFixtures, tc.pattern)
		readPath := p
		if strings.Contains(tc.pattern, "*") {
			readPath = filepath.Dir(p)
		}
		res, err := adapter.Read(readPath, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		conv := filepath.Join(t.TempDir(), "steps.parquet")
		if err := trajlog.WriteFile(conv, res.Records, trajlog.Meta{Derived: res.Derived}); err != nil {
			t.Fatal(err)
		}
		want, wsrc := readDirect(t, []string{conv}, adapter.Options{})
		got, src := readDirect(t, []string{p}, tc.opts)
		if len(got) == 0 || len(got) != len(want) {
			t.Fatalf("%s: %d records directly, %d converted", tc.pattern, len(got), len(want))
		}
		for i := range got {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("%s: record %d differs:\n direct    %+v\n converted %+v", tc.pattern, i, got[i], want[i])
			}
		}
		if len(src.Inputs) != 1 || src.Inputs[0].Format != string(tc.format) || !src.Inputs[0].Adapter() ||
			src.Inputs[0].Rows != int64(len(got)) || src.Rows != int64(len(got)) {
			t.Errorf("%s: inputs %+v, rows %d", tc.pattern, src.Inputs, src.Rows)
		}
		if !slices.Equal(src.Derived, wsrc.Derived) || wsrc.Inputs[0].Adapter() {
			t.Errorf("%s: derived %v directly, %v converted (inputs %+v)", tc.pattern, src.Derived, wsrc.Derived, wsrc.Inputs)
		}
		if want := tc.opts.State.String(); src.Inputs[0].State != want {
			t.Errorf("%s: state rule %q, want %q", tc.pattern, src.Inputs[0].State, want)
		}
	}
}

func mustRule(t *testing.T, s string) adapter.StateRule {
	t.Helper()
	r, err := adapter.ParseStateRule(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDirectReadingRefusals: a state rule or labels for canonical logs, and
// a glob mixing canonical and foreign logs, are errors; the duplicate check
// of the diagnostics covers records read through an adapter too.
func TestDirectReadingRefusals(t *testing.T) {
	ctx := context.Background()
	res, err := adapter.Read(filepath.Join(adapterFixtures, "verl"), adapter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conv := filepath.Join(dir, "iter-000001.parquet")
	if err := trajlog.WriteFile(conv, res.Records, trajlog.Meta{}); err != nil {
		t.Fatal(err)
	}
	_, _, err = Repetition(ctx, []string{conv}, LogFilter{Adapter: adapter.Options{State: mustRule(t, "prompt")}})
	var oe *OptionsError
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), conv) {
		t.Errorf("state rule on canonical logs: %v", err)
	}
	// The same verl dump given twice: duplicate steps.
	verl := filepath.Join(adapterFixtures, "verl")
	_, _, err = Repetition(ctx, []string{verl, verl}, LogFilter{})
	var de *DuplicateError
	if !errors.As(err, &de) {
		t.Errorf("a verl dump read twice: %v, want a DuplicateError", err)
	}
	rep, err := InspectWith(ctx, []string{verl, verl}, InspectOptions{})
	if err != nil || !slices.ContainsFunc(rep.Problems, func(p Problem) bool { return p.Kind == ProblemDuplicateStep }) {
		t.Errorf("inspect of a verl dump read twice: %v, problems %v", err, rep)
	}
}

// TestInspectRecurrenceAndSignal: on the verl-agent stock dump the whole
// prompt never recurs 10 times (a warning) and the verl-agent rule makes
// states recur (no warning); no dump has labels until a label column names
// them; zero_std_frac above MaxZeroStd is a zero-signal problem.
func TestInspectRecurrenceAndSignal(t *testing.T) {
	ctx := context.Background()
	stock := filepath.Join(adapterFixtures, "verl-agent", "stock")
	kinds := func(ws []Warning) []string {
		var out []string
		for _, w := range ws {
			out = append(out, w.Kind)
		}
		return out
	}
	rep, err := InspectWith(ctx, []string{stock}, InspectOptions{Adapter: adapter.Options{SingleTurn: true}})
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(rep.Warnings); !slices.Equal(got, []string{WarnNoRecurringState, WarnNoLabel}) {
		t.Errorf("whole prompt: warnings %v", got)
	}
	rep, err = InspectWith(ctx, []string{stock}, InspectOptions{Adapter: adapter.Options{SingleTurn: true, State: mustRule(t, "verl-agent")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(rep.Warnings); !slices.Equal(got, []string{WarnNoLabel}) {
		t.Errorf("verl-agent rule: warnings %v", got)
	}
	for _, r := range rep.Rows {
		if r.RecurringStates == 0 || r.MaxStateVisits < 10 {
			t.Errorf("verl-agent rule, iteration %d: %d recurring states, max visits %d", r.Iteration, r.RecurringStates, r.MaxStateVisits)
		}
	}

	patched := filepath.Join(adapterFixtures, "verl-agent", "patched")
	rep, err = InspectWith(ctx, []string{patched}, InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var zero []int32
	for _, p := range rep.Problems {
		if p.Kind == ProblemZeroSignal {
			zero = append(zero, p.Iteration)
		}
	}
	var want []int32
	for _, r := range rep.Rows {
		if r.ZeroStdFrac > DefaultMaxZeroStd {
			want = append(want, r.Iteration)
		}
	}
	if len(want) == 0 || !slices.Equal(zero, want) {
		t.Errorf("zero-signal problems at iterations %v, want %v (rows %+v)", zero, want, rep.Rows)
	}
	rep, err = InspectWith(ctx, []string{patched}, InspectOptions{MaxZeroStd: 1})
	if err != nil || slices.ContainsFunc(rep.Problems, func(p Problem) bool { return p.Kind == ProblemZeroSignal }) {
		t.Errorf("MaxZeroStd 1: %v, problems %v", err, rep.Problems)
	}
}
