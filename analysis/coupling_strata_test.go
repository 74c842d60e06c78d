package analysis

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/internal/table"
)

// plantedSample is a row of the planted sample table.
type plantedSample struct {
	Row       int32   `parquet:"row"`
	StateKey  string  `parquet:"state_key"`
	Prompt    string  `parquet:"prompt"`
	Action    string  `parquet:"action"`
	Label     int8    `parquet:"label"`
	Advantage float32 `parquet:"advantage"`
}

// plantedStore builds a store in which only twins are coupled: 48 twin
// pairs (a good and a bad sample with the same action, in two states whose
// ~80-token prompts differ in one cue token) where the bad sample's
// gradient is the good one's plus an independent Gaussian of the same size
// (cosine about 0.71), and 64 other samples (random labels, actions and
// prompts); every other gradient is an independent Gaussian. Advantages:
// +1 for good samples, -1 for bad ones.
func plantedStore(seed uint64) (rows []float32, n, d int, samples []plantedSample) {
	rng := rand.New(rand.NewPCG(seed, 1))
	const twins, others = 48, 64
	n, d = 2*twins+others, 96
	rows = make([]float32, n*d)
	for i := range rows {
		rows[i] = float32(rng.NormFloat64())
	}
	words := func(world int) []string {
		var w []string
		for l := range 80 {
			w = append(w, "w"+letters(world)+"x"+letters(l))
		}
		return w
	}
	actions := []string{"go to cabinet 1", "open drawer 2", "take apple 1", "heat apple 1", "look", "examine desk 1"}
	for t := range twins {
		w := words(t)
		act := actions[t%len(actions)]
		good := strings.Join(w, " ") + " cue red"
		bad := strings.Join(w, " ") + " cue blue"
		i, j := 2*t, 2*t+1
		samples = append(samples,
			plantedSample{Row: int32(i), StateKey: fmt.Sprintf("twin%d-a", t), Prompt: good, Action: act, Label: 1, Advantage: 1},
			plantedSample{Row: int32(j), StateKey: fmt.Sprintf("twin%d-b", t), Prompt: bad, Action: act, Label: 0, Advantage: -1})
		for l := range d {
			rows[j*d+l] += rows[i*d+l]
		}
	}
	for o := range others {
		i := 2*twins + o
		lab := int8(rng.IntN(2))
		samples = append(samples, plantedSample{Row: int32(i), StateKey: fmt.Sprintf("other%d", o),
			Prompt: strings.Join(words(1000+o), " "), Action: actions[rng.IntN(len(actions))], Label: lab, Advantage: float32(2*lab) - 1})
	}
	return rows, n, d, samples
}

// TestStrataPlantedStore is the planted test of issue 13: gradients in
// which twins are coupled and nothing else is, read as Bergson, .npy and
// safetensors. The twin stratum's harmful rate is far from 0.5 with
// p < 0.01, the random pairs and the permutation null sit at 0.5 within
// their intervals, and the three formats give the same table.
func TestStrataPlantedStore(t *testing.T) {
	rows, n, d, samples := plantedStore(1)
	dir := t.TempDir()
	var tables [][]StrataRow
	var bands [][]BandRow
	for _, format := range []string{checkpoint.FormatBergson, checkpoint.FormatNPY, checkpoint.FormatSafetensors} {
		path := StorePath(filepath.Join(dir, "planted-"+format), format)
		_, err := writeGradStore(path, format, checkpoint.F32, n, d, nil, nil,
			func(w io.Writer) error { return table.WriteParquet(w, samples, nil) },
			func(emit func([]float32) error) error { return emit(rows) })
		if err != nil {
			t.Fatal(err)
		}
		rep, info, err := CouplingStore(context.Background(), path, storeSamplesPath(path, format),
			StoreOptions{CouplingOptions: CouplingOptions{Seed: 3, Strata: StrataOptions{Null: 999, Boot: 1000}}, Name: "planted"})
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if info.Format != format || !info.Actions || !info.Prompts {
			t.Errorf("%s: info %+v", format, info)
		}
		if rep.Twins.Twins != 48 || rep.Twins.Truncated {
			t.Errorf("%s: twin search %+v, want the 48 planted twins", format, rep.Twins)
		}
		t.Logf("%s: twin search %+v", format, rep.Twins)
		tables = append(tables, rep.Strata)
		bands = append(bands, rep.Bands)
	}
	for f := 1; f < len(tables); f++ {
		if !reflect.DeepEqual(fmt.Sprint(tables[f]), fmt.Sprint(tables[0])) || !reflect.DeepEqual(fmt.Sprint(bands[f]), fmt.Sprint(bands[0])) {
			t.Errorf("format %d gives another table:\n%+v\nwant\n%+v", f, tables[f], tables[0])
		}
	}
	by := map[string]StrataRow{}
	for _, r := range tables[0] {
		by[r.Stratum] = r
		t.Logf("%-18s pairs %5d eligible %5d harmful %.3f [%.3f, %.3f] null %.3f p %.4f; cos_good_bad %.3f null %.3f p %.4f",
			r.Stratum, r.Pairs, r.Eligible, r.HarmfulRate, r.HarmfulLo, r.HarmfulHi, r.HarmfulNull, r.HarmfulP, r.CosGoodBad, r.CosGoodBadN, r.CosGoodBadP)
	}
	tw, rnd := by["twins"], by["random"]
	if tw.Pairs != 48 || tw.Eligible != 48 {
		t.Errorf("twins: %+v", tw)
	}
	// Twins: rate far from 0.5, p < 0.01, null at 0.5 (tolerance: 4
	// binomial SDs of 48 pairs, 0.29, is loose; the null pairs are mostly
	// uncoupled, so their mean is 0.5 + O(1/12)).
	if !(tw.HarmfulRate > 0.9) || !(tw.HarmfulP < 0.01) || math.Abs(tw.HarmfulNull-0.5) > 0.1 || tw.HarmfulLo > tw.HarmfulRate || tw.HarmfulHi < tw.HarmfulRate {
		t.Errorf("twins: harmful rate %v [%v, %v], null %v, p %v", tw.HarmfulRate, tw.HarmfulLo, tw.HarmfulHi, tw.HarmfulNull, tw.HarmfulP)
	}
	if !(tw.CosGoodBad > 0.5) || !(tw.CosGoodBadP < 0.01) {
		t.Errorf("twins: cos_good_bad %v p %v", tw.CosGoodBad, tw.CosGoodBadP)
	}
	// Random pairs and their null: 0.5 within the interval.
	for _, v := range []float64{0.5, rnd.HarmfulNull} {
		if !(rnd.HarmfulLo <= v && v <= rnd.HarmfulHi) {
			t.Errorf("random: %v outside [%v, %v]", v, rnd.HarmfulLo, rnd.HarmfulHi)
		}
	}
	if rnd.HarmfulP < 0.01 {
		t.Errorf("random: p %v", rnd.HarmfulP)
	}
	// The edit band of the near prompts holds exactly the twins.
	for _, b := range bands[0] {
		if b.Measure == "edit" && b.Lo == 0.95 && (b.Pairs != 48 || b.HarmfulRate < 0.9) {
			t.Errorf("edit band [0.95, 1]: %+v", b)
		}
	}
}

// letters writes i in base 26 with the letters a-z (env.Tokens splits
// digits from letters; a word of letters is one token).
func letters(i int) string {
	s := string(rune('a' + i%26))
	for i /= 26; i > 0; i /= 26 {
		s = string(rune('a'+i%26)) + s
	}
	return s
}

// TestStrataMeasuredTwins: on a run directory, the twins row carries the
// measured effect of each good twin's real step on its bad twin (the
// heatmap's measurement, over the harmful-rate pairs). In the linear regime
// (SGD kernel, small eta) the share of pairs whose bad twin's log pi rose
// is the predicted harmful rate (within one pair where a prediction is
// near zero), and the intervals hold the estimates; other strata and
// stores have none (NaN).
func TestStrataMeasuredTwins(t *testing.T) {
	r, err := OpenRun(tinyRunOf(t, "tiny", "household-twin", 16, 3))
	if err != nil {
		t.Fatal(err)
	}
	ps, _, err := SelectProbes(context.Background(), []Run{r}, ProbeOptions{Samples: 48, Heatmap: 4, Seed: 1, Twins: 24})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Coupling(context.Background(), []Run{r}, ps, CouplingOptions{Checkpoints: []int{1}, Eta: 1e-4, Kernel: "sgd",
		Strata: StrataOptions{Null: 99, Boot: 200}})
	if err != nil {
		t.Fatal(err)
	}
	var twins *StrataRow
	for k := range rep.Strata {
		s := &rep.Strata[k]
		if s.Stratum == "twins" {
			twins = s
			continue
		}
		if !math.IsNaN(s.Measured) || !math.IsNaN(s.MeasuredRaised) {
			t.Errorf("%s: measured %v, raised %v; want NaN outside the twins", s.Stratum, s.Measured, s.MeasuredRaised)
		}
	}
	if twins == nil || twins.Eligible < 3 {
		t.Fatalf("twins row %+v: too few eligible pairs for the test", twins)
	}
	t.Logf("%d twin pairs, %d eligible: harmful rate %.3f, measured raised %.3f [%.3f, %.3f], mean measured %.3g [%.3g, %.3g]",
		twins.Pairs, twins.Eligible, twins.HarmfulRate, twins.MeasuredRaised, twins.RaisedLo, twins.RaisedHi, twins.Measured, twins.MeasuredLo, twins.MeasuredHi)
	if math.Abs(twins.MeasuredRaised-twins.HarmfulRate) > 1/float64(twins.Eligible)+1e-12 {
		t.Errorf("measured raised %v, predicted harmful rate %v over %d pairs", twins.MeasuredRaised, twins.HarmfulRate, twins.Eligible)
	}
	if !(twins.RaisedLo <= twins.MeasuredRaised && twins.MeasuredRaised <= twins.RaisedHi) ||
		!(twins.MeasuredLo <= twins.Measured && twins.Measured <= twins.MeasuredHi) {
		t.Errorf("intervals do not hold their estimates: %+v", *twins)
	}
}
