package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/internal/atomicfile"
	"github.com/gradcouple/gradcouple/judge"
	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/gradcouple/gradcouple/trajlog/adapter"
)

// Metadata keys of a labelled log (parquet key-value metadata).
const (
	MetaJudgeTemplate    = "judge.template"
	MetaJudgeTemplateSHA = "judge.template_sha256"
	MetaJudgeModel       = "judge.model"
	MetaJudgeVotes       = "judge.votes"
	MetaJudgeTemperature = "judge.temperature"
)

// LabelOptions configure Label.
type LabelOptions struct {
	// Adapter reads other trainers' logs (state rule and conventions).
	Adapter adapter.Options
	Judge   judge.Options
	// DryRun plans without sending a request or writing a file.
	DryRun bool
	// Out is the labelled step-record file (.parquet or .jsonl); Judgments
	// the side table of the judgments (.jsonl), keyed by state_key and
	// action.
	Out, Judgments string
	// Bundled is the bundled noisy judge whose agreement with the oracle is
	// reported next to the LLM judge's (J 0 means 5), drawn with Seed.
	Bundled env.Judge
	Seed    uint64
}

// LabelReport is what Label did.
type LabelReport struct {
	Sources Sources
	Plan    judge.Plan
	Stats   judge.Stats
	// Labels counts the step records by their new label.
	Good, Bad, Unknown int64
	// UnknownPairs are the pairs whose label is unknown.
	UnknownPairs int
	// Agreement has one row per task family and one "all" row, for the
	// steps of bundled environments that could be replayed (empty when the
	// log has none); NotReplayed counts bundled trajectories that could not
	// be, with the first reason.
	Agreement   []AgreementRow
	NotReplayed int
	NotReason   string
}

// AgreementRow is the agreement of the LLM judge and of the bundled noisy
// judge with the oracle on one task family.
type AgreementRow struct {
	Env           string  `parquet:"env" json:"env"`
	Family        string  `parquet:"family" json:"family"`
	Steps         int     `parquet:"steps" json:"steps"`
	OracleGood    float64 `parquet:"oracle_good" json:"oracle_good"`
	Unknown       int     `parquet:"unknown" json:"unknown"`
	Accuracy      float64 `parquet:"accuracy" json:"accuracy"`
	Kappa         float64 `parquet:"kappa" json:"kappa"`
	VoteErrorRate float64 `parquet:"vote_error_rate" json:"vote_error_rate"`
	BundledJ      int     `parquet:"bundled_j" json:"bundled_j"`
	BundledEps    float64 `parquet:"bundled_eps" json:"bundled_eps"`
	BundledAcc    float64 `parquet:"bundled_accuracy" json:"bundled_accuracy"`
	BundledKappa  float64 `parquet:"bundled_kappa" json:"bundled_kappa"`
}

// pairKey identifies a (state, action) pair.
type pairKey struct{ state, action string }

// labelTrajKey identifies a trajectory.
type labelTrajKey struct {
	run       string
	iteration int32
	traj      string
}

// oracleTraj is a bundled trajectory kept for the replay.
type oracleTraj struct {
	env, family, task string
	steps             []judge.Step
	pairs             []int // pair index of each step, by position in steps
}

// JudgmentsPath is the default side table of a labelled log:
// OUT without its extension + ".judgments.jsonl".
func JudgmentsPath(out string) string {
	ext := ""
	if i := strings.LastIndexByte(out, '.'); i > strings.LastIndexAny(out, `/\`) {
		ext = out[i:]
	}
	return strings.TrimSuffix(out, ext) + ".judgments.jsonl"
}

// Label judges every distinct (state_key, action) pair of the logs with an
// LLM judge (package judge), then writes the logs again as canonical step
// records with label and label_votes set, and the judgments (every vote's
// verdict and reason) to the side table. The logs are read twice, so
// memory holds the distinct pairs (with one prompt each), not the records.
// Where the logs come from the bundled environments, each trajectory is
// replayed from its task ID to get the oracle's truth and the agreement is
// reported. With DryRun only the plan is made.
func Label(ctx context.Context, patterns []string, opts LabelOptions) (*LabelReport, error) {
	rep := &LabelReport{}
	index := map[pairKey]int{}
	var pairs []judge.Pair
	trajs := map[labelTrajKey]*oracleTraj{}
	var order []labelTrajKey
	var run string
	src, err := scanFiles(ctx, patterns, trajlog.ReadOptions{}, opts.Adapter, func(_ string, r *trajlog.Record) error {
		if run == "" {
			run = r.Run
		}
		k := pairKey{r.StateKey, r.Action}
		i, ok := index[k]
		if !ok {
			i = len(pairs)
			index[k] = i
			pairs = append(pairs, judge.Pair{StateKey: r.StateKey, Action: r.Action, Prompt: r.Prompt})
		}
		if _, err := env.CanonicalName(r.Env); err == nil { // a bundled world, its variants or a bandit
			tk := labelTrajKey{r.Run, r.Iteration, r.TrajID}
			t := trajs[tk]
			if t == nil {
				t = &oracleTraj{env: r.Env, family: r.TaskType, task: r.TaskID}
				trajs[tk] = t
				order = append(order, tk)
			}
			t.steps = append(t.steps, judge.Step{Turn: r.Turn, StateKey: r.StateKey, Action: r.Action})
			t.pairs = append(t.pairs, i)
		}
		return nil
	})
	rep.Sources = src
	if err != nil {
		return rep, err
	}
	rep.Plan, err = judge.DryRun(pairs, opts.Judge)
	if err != nil || opts.DryRun {
		return rep, err
	}
	results, st, err := judge.Run(ctx, pairs, opts.Judge)
	rep.Stats = st
	if err != nil {
		return rep, err
	}
	for _, r := range results {
		if r.Label == judge.Unknown {
			rep.UnknownPairs++
		}
	}
	tmpl := opts.Judge.Template
	if tmpl == nil {
		tmpl = judge.DefaultTemplate()
	}
	votes := opts.Judge.Votes
	if votes <= 0 {
		votes = judge.DefaultVotes
	}
	if err := writeJudgments(opts.Judgments, pairs, results, opts.Judge.Config.Model, tmpl.SHA256()); err != nil {
		return rep, err
	}
	derived := slices.DeleteFunc(slices.Clone(src.Derived), func(d string) bool { return d == "label" || d == "label_votes" })
	meta := trajlog.Meta{Run: run, Derived: derived, Extra: map[string]string{
		MetaJudgeTemplate: tmpl.Name(), MetaJudgeTemplateSHA: tmpl.SHA256(), MetaJudgeModel: opts.Judge.Config.Model,
		MetaJudgeVotes: strconv.Itoa(votes), MetaJudgeTemperature: strconv.FormatFloat(opts.Judge.Config.Temperature, 'g', -1, 64),
	}}
	err = trajlog.WriteFileFunc(opts.Out, meta, func(write func([]trajlog.Record) error) error {
		buf := make([]trajlog.Record, 0, 1024)
		_, err := scanFiles(ctx, patterns, trajlog.ReadOptions{}, opts.Adapter, func(_ string, r *trajlog.Record) error {
			res := results[index[pairKey{r.StateKey, r.Action}]]
			rec := *r
			rec.Label, rec.LabelVotes = int8(res.Label), int8(res.Good)
			switch res.Label {
			case judge.Good:
				rep.Good++
			case judge.Bad:
				rep.Bad++
			default:
				rep.Unknown++
			}
			buf = append(buf, rec)
			if len(buf) == cap(buf) {
				if err := write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
			return nil
		})
		if err != nil {
			return err
		}
		return write(buf)
	})
	if err != nil {
		return rep, err
	}
	rep.Agreement, rep.NotReplayed, rep.NotReason = agreement(order, trajs, results, opts)
	return rep, nil
}

// judgmentRow is a row of the judgments side table.
type judgmentRow struct {
	StateKey   string   `json:"state_key"`
	Action     string   `json:"action"`
	Label      int8     `json:"label"`
	LabelVotes int8     `json:"label_votes"`
	Good       int      `json:"good"`
	Bad        int      `json:"bad"`
	Unknown    int      `json:"unknown"`
	Verdicts   []string `json:"verdicts"`
	Reasons    []string `json:"reasons"`
	Model      string   `json:"model"`
	Template   string   `json:"template_sha256"`
}

func writeJudgments(path string, pairs []judge.Pair, results []judge.Result, model, sha string) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for i, p := range pairs {
			r := results[i]
			vs := make([]string, len(r.Verdicts))
			for k, v := range r.Verdicts {
				vs[k] = v.String()
			}
			if err := enc.Encode(judgmentRow{StateKey: p.StateKey, Action: p.Action, Label: int8(r.Label), LabelVotes: int8(r.Good),
				Good: r.Good, Bad: r.Bad, Unknown: r.Unknown, Verdicts: vs, Reasons: r.Reasons, Model: model, Template: sha}); err != nil {
				return fmt.Errorf("writing judgments to %s: %w", path, err)
			}
		}
		return nil
	})
}

// agreement replays the bundled trajectories and tabulates the agreement
// by (env, family) and overall.
func agreement(order []labelTrajKey, trajs map[labelTrajKey]*oracleTraj, results []judge.Result, opts LabelOptions) ([]AgreementRow, int, string) {
	type acc struct {
		llm, bundled judge.Agreement
		good         int
	}
	groups := map[[2]string]*acc{}
	var keys [][2]string
	all := &acc{}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x6a75646765)) // "judge"
	notReplayed, reason := 0, ""
	for _, tk := range order {
		t := trajs[tk]
		truth, err := judge.Oracle(t.task, t.steps)
		if err != nil {
			if notReplayed == 0 {
				reason = fmt.Sprintf("trajectory %s of %s: %v", tk.traj, t.task, err)
			}
			notReplayed++
			continue
		}
		// Oracle returns truths in turn order; map them back.
		byTurn := make([]int, len(t.steps))
		for pos, s := range t.steps {
			byTurn[s.Turn] = pos
		}
		k := [2]string{t.env, t.family}
		g := groups[k]
		if g == nil {
			g = &acc{}
			groups[k] = g
			keys = append(keys, k)
		}
		for turn, tr := range truth {
			r := results[t.pairs[byTurn[turn]]]
			for _, a := range []*acc{g, all} {
				a.llm.Add(tr, r.Label, r.Good, r.Good+r.Bad)
				if tr {
					a.good++
				}
			}
		}
		var b judge.Agreement
		b.Simulate(truth, opts.Bundled, rng)
		for _, a := range []*acc{g, all} {
			a.bundled.Merge(b)
		}
	}
	if all.llm.Steps == 0 {
		return nil, notReplayed, reason
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) })
	j := opts.Bundled.J
	if j <= 0 {
		j = env.DefaultJudgments
	}
	row := func(e, fam string, a *acc) AgreementRow {
		return AgreementRow{Env: e, Family: fam, Steps: a.llm.Steps, OracleGood: float64(a.good) / float64(a.llm.Steps),
			Unknown: a.llm.Unknown, Accuracy: a.llm.Accuracy(), Kappa: a.llm.Kappa(), VoteErrorRate: a.llm.VoteErrorRate(),
			BundledJ: j, BundledEps: opts.Bundled.Eps, BundledAcc: a.bundled.Accuracy(), BundledKappa: a.bundled.Kappa()}
	}
	var rows []AgreementRow
	for _, k := range keys {
		rows = append(rows, row(k[0], k[1], groups[k]))
	}
	rows = append(rows, row("all", "all", all))
	return rows, notReplayed, reason
}
