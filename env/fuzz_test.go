package env

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParseAction: any text parses without panic into a canonical form (no
// surrounding or doubled spaces, no trailing period), and stepping both
// environments with it either takes an admissible action or answers
// "Nothing happens."; the step always counts.
func FuzzParseAction(f *testing.F) {
	for _, s := range []string{
		"go to cabinet 1", "  TAKE apple 1 FROM countertop 1. ", "<think>x</think><action>look</action>",
		"action: inventory", "> look around", "</action>", "<action>", "put mug 1 in/on shelf 1...",
		"focus on red box", "use thermometer on soup", "\x00\xff", "go  to\tkitchen", ". . .",
	} {
		f.Add(s)
	}
	hh, _, err := Start(allTasksF(f, Household))
	if err != nil {
		f.Fatal(err)
	}
	lb, _, err := Start(allTasksF(f, Lab))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a := ParseAction(s)
		if a != strings.TrimSpace(a) || strings.Contains(a, "  ") || strings.HasSuffix(a, ".") {
			t.Fatalf("ParseAction(%q) = %q is not canonical", s, a)
		}
		for _, e := range []Env{hh.Clone(), lb.Clone()} {
			adm := e.Admissible()
			obs, _, _ := e.Step(s)
			if slices.Contains(adm, a) == (obs == nothingHappens) {
				t.Fatalf("%s: %q (parsed %q) gave %q", e.Name(), s, a, obs)
			}
			if e.Steps() != 1 {
				t.Fatalf("%s: step not counted", e.Name())
			}
		}
	})
}

func allTasksF(f *testing.F, name string) Task {
	task, err := NewTask(name, SplitTrain, 0)
	if err != nil {
		f.Fatal(err)
	}
	return task
}

// FuzzParseTaskID: any ID either parses into a task whose ID round-trips or
// fails with an error; never a panic.
func FuzzParseTaskID(f *testing.F) {
	for _, s := range []string{"household/train/7", "lab/eval-out/0", "lab/eval-in/18446744073709551615", "x/y/z", "household/train/-1", "//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		task, err := ParseTaskID(id)
		if err != nil {
			return
		}
		again, err := ParseTaskID(task.ID)
		if err != nil || again.Fingerprint() != task.Fingerprint() {
			t.Fatalf("%q: round trip %v", id, err)
		}
	})
}
