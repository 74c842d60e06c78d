package trainer

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/trajlog"
)

// TestIdentifiableLabels: with judge.labels identifiable the steps the
// judge cannot label from what was observed (env.Blind) are logged with
// label -1 and every other step keeps a good or bad label; with
// model.memory every prompt carries the observations line; an unknown
// labels value is a config error naming the key.
func TestIdentifiableLabels(t *testing.T) {
	cfg := tinyConfig()
	cfg.Iterations = 2
	cfg.Judge.Labels = "identifiable"
	cfg.Model.Memory = true
	cfg.Model.Context = 400
	dir := runDir(t, cfg, "ident")
	recs, err := trajlog.ReadAll(filepath.Join(dir, "logs"), trajlog.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var unknown, labelled int
	for _, r := range recs {
		switch r.Label {
		case trajlog.LabelUnknown:
			unknown++
		case trajlog.LabelGood, trajlog.LabelBad:
			labelled++
		}
		if !strings.Contains(r.Prompt, "Your observations:") {
			t.Fatalf("prompt without the memory line:\n%s", r.Prompt)
		}
	}
	if unknown == 0 || labelled == 0 {
		t.Errorf("%d unlabelled and %d labelled steps; want both", unknown, labelled)
	}

	bad := tinyConfig()
	bad.Judge.Labels = "hidden"
	if err := bad.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "judge.labels") {
		t.Errorf("judge.labels hidden: %v", err)
	}
}
