package figure

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/metrics"
)

// The heatmap colour range is max |value| over both panels (and over every
// heatmap given), NaN cells ignored; a figure drawn on that scale is the
// default figure, and one drawn on another scale differs.
func TestHeatmapScale(t *testing.T) {
	nan := math.NaN()
	pred := Heatmap{Rows: []string{"a", "b"}, Cols: []string{"x", "y"}, Values: [][]float64{{0.3, -0.1}, {nan, 0.2}}}
	meas := Heatmap{Rows: []string{"a", "b"}, Cols: []string{"x", "y"}, Values: [][]float64{{0.01, -0.04}, {0.02, nan}}}
	other := Heatmap{Rows: []string{"a"}, Cols: []string{"x"}, Values: [][]float64{{-0.5}}}
	if m := HeatmapScale(pred, meas); m != 0.3 {
		t.Errorf("scale of the two panels %g, want 0.3", m)
	}
	if m := HeatmapScale(meas); m != 0.04 {
		t.Errorf("scale of the measured panel %g, want 0.04", m)
	}
	if m := HeatmapScale(pred, meas, other); m != 0.5 {
		t.Errorf("scale over runs %g, want 0.5", m)
	}
	if m := HeatmapScale(Heatmap{}); m != 1 {
		t.Errorf("no values: %g, want 1", m)
	}
	svg := func(f *Figure) string {
		var b bytes.Buffer
		if _, err := f.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	def := svg(Coupling(pred, meas))
	if got := svg(CouplingScaled(pred, meas, CouplingOptions{Scale: 0.3})); got != def {
		t.Error("Scale = HeatmapScale of the panels is not the default figure")
	}
	if got := svg(CouplingScaled(pred, meas, CouplingOptions{Scale: 0.5})); got == def {
		t.Error("a shared scale over runs did not change the colours")
	}
}

// Panels meant to be compared share their y-limits: equal across the
// panels with data, the union of their ranges, and independent on request.
func TestSharedYRange(t *testing.T) {
	x := []float64{0, 10, 20}
	groups := []Group{
		{Name: "grpo", Series: []Series{{Label: LabelSuccess, X: x, Y: []float64{0.05, 0.3, 0.6}}}},
		{Name: "gcd", Series: []Series{{Label: LabelSuccess, X: x, Y: []float64{0.02, 0.04, 0.08}}}},
		{Name: "empty"},
	}
	for _, independent := range []bool{false, true} {
		l, _, _ := linesLayout(groupPanels(groups, "rate"), 0, lineOpts{zero: true, share: !independent})
		p := l.panels[0]
		same := p[0].Y.Min == p[1].Y.Min && p[0].Y.Max == p[1].Y.Max
		if independent {
			if same || p[1].Y.Max != 0.08 {
				t.Errorf("independent: [%g, %g] and [%g, %g]", p[0].Y.Min, p[0].Y.Max, p[1].Y.Min, p[1].Y.Max)
			}
			continue
		}
		if !same || p[0].Y.Min != 0 || p[0].Y.Max != 0.6 {
			t.Errorf("shared: [%g, %g] and [%g, %g], want [0, 0.6] for both", p[0].Y.Min, p[0].Y.Max, p[1].Y.Min, p[1].Y.Max)
		}
		if p[2].Y.Min != 0 || p[2].Y.Max != 1 {
			t.Errorf("the panel without data got [%g, %g]", p[2].Y.Min, p[2].Y.Max)
		}
	}
	// The public constructors share by default and render.
	for _, f := range []*Figure{Repetition(groups...), Consistency(groups...), RepetitionScaled(Scales{Independent: true}, groups...)} {
		var b bytes.Buffer
		if _, err := f.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
	}
}

// Rows with a note are marked and the note is drawn under the panel, so that
// a P(X > Y) of 1 from one run per group does not stand bare.
func TestFinalPerformanceNotes(t *testing.T) {
	nan := math.NaN()
	note := "1 run per group: P(X>Y) is 0 or 1 by construction; run >= 3 seeds"
	f := FinalPerformance(
		[]ScorePanel{{Title: "out-of-domain", Unit: true, Scores: []Score{
			{Label: "grpo", Interval: metrics.Interval{Point: 0.2, Lo: nan, Hi: nan}, Note: "1 run: no interval"},
			{Label: "gcd", Interval: metrics.Interval{Point: 0.5, Lo: nan, Hi: nan}, Note: "1 run: no interval"}}}},
		[]Improvement{{X: "gcd", Y: "grpo", Interval: metrics.Interval{Point: 1, Lo: nan, Hi: nan}, Note: note}})
	plain := FinalPerformance(
		[]ScorePanel{{Title: "out-of-domain", Unit: true, Scores: []Score{
			{Label: "grpo", Interval: metrics.Interval{Point: 0.2, Lo: nan, Hi: nan}},
			{Label: "gcd", Interval: metrics.Interval{Point: 0.5, Lo: nan, Hi: nan}}}}},
		[]Improvement{{X: "gcd", Y: "grpo", Interval: metrics.Interval{Point: 1, Lo: nan, Hi: nan}}})
	var b bytes.Buffer
	if _, err := f.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	doc := parseSVG(t, b.Bytes())
	text := strings.Join(doc.texts, " ")
	for _, want := range []string{"gcd > grpo †", "grpo †", "† 1 run: no interval", "† 1 run per group: P(X>Y) is 0 or 1 by", "construction; run >= 3 seeds"} {
		if !strings.Contains(text, want) {
			t.Errorf("%q not drawn; texts: %q", want, doc.texts)
		}
	}
	if f.Height <= plain.Height {
		t.Errorf("height %v with notes, %v without: no room for the notes", f.Height, plain.Height)
	}
	if got := wrapWords(note, 44); len(got) != 2 || got[0] != "1 run per group: P(X>Y) is 0 or 1 by" {
		t.Errorf("wrap: %q", got)
	}
}
