package analysis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/env"
	"github.com/gradcouple/gradcouple/policy"
	"github.com/gradcouple/gradcouple/trajlog"
	"github.com/parquet-go/parquet-go"
)

// modelLog writes step records of household tasks played by the mixed
// policy (two files, so that file boundaries are crossed) and returns the
// directory and the records.
func modelLog(t *testing.T) (string, []trajlog.Record) {
	t.Helper()
	dir := t.TempDir()
	var all []trajlog.Record
	for i, seed := range []uint64{3, 9} {
		recs, _, err := env.Sample(env.SampleConfig{Env: env.Household, Split: env.SplitTrain, Tasks: 2, Seed: seed,
			GroupSize: 2, Policy: "mix", Eps: 0.3, Judge: env.Judge{J: 3, Eps: 0.1}, Run: "r", GRPOAdvantage: true})
		if err != nil {
			t.Fatal(err)
		}
		for j := range recs {
			recs[j].Iteration = int32(i)
			recs[j].Logprob = -float32(j)
		}
		if err := trajlog.WriteFile(filepath.Join(dir, fmt.Sprintf("iter-%d.parquet", i)), recs, trajlog.Meta{Run: "r"}); err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
	}
	return dir, all
}

// smallModel is a seeded actor over the household vocabulary, small enough
// for tests.
func smallModel(t *testing.T, context int) (*policy.Model, *policy.Tokenizer) {
	t.Helper()
	tok, err := policy.EnvTokenizer(env.Household)
	if err != nil {
		t.Fatal(err)
	}
	m, err := policy.NewModel(policy.Config{VocabSize: tok.Size(), Dim: 16, Layers: 2, Heads: 2, Context: context},
		rand.New(rand.NewPCG(5, 6)))
	if err != nil {
		t.Fatal(err)
	}
	return m, tok
}

func seqsOf(t *testing.T, tok *policy.Tokenizer, context int, recs []trajlog.Record) []policy.Seq {
	t.Helper()
	var seqs []policy.Seq
	for _, r := range recs {
		s, err := tok.EncodePair(r.Prompt, r.Action, context)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, s)
	}
	return seqs
}

// TestScore: log-probs equal policy's LogProbs of the same pairs, in log
// order, with the log's fields; --limit stops early; unknown words are
// counted as <unk>.
func TestScore(t *testing.T) {
	dir, recs := modelLog(t)
	m, tok := smallModel(t, 256)
	rep, err := Score(context.Background(), NewBundledActor(m, tok), []string{dir}, ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := m.LogProbs(nil, seqsOf(t, tok, 256, recs))
	if len(rep.Rows) != len(recs) || len(rep.Sources.Files) != 2 || rep.Sources.Rows != int64(len(recs)) {
		t.Fatalf("%d rows from %v, want %d from 2 files", len(rep.Rows), rep.Sources.Files, len(recs))
	}
	var sum float64
	for i, r := range rep.Rows {
		if r.LogProb != want[i] || r.TrajID != recs[i].TrajID || r.Turn != recs[i].Turn || r.Action != recs[i].Action ||
			r.LoggedLogProb != recs[i].Logprob || r.Iteration != recs[i].Iteration || r.UnkTokens != 0 {
			t.Fatalf("row %d: %+v, want logprob %v of %+v", i, r, want[i], recs[i])
		}
		sum += r.LogProb
	}
	if rep.Tokens.Unknown != 0 || rep.MeanLogProb != sum/float64(len(recs)) {
		t.Errorf("tokens %+v, mean %v", rep.Tokens, rep.MeanLogProb)
	}

	lim, err := Score(context.Background(), NewBundledActor(m, tok), []string{dir}, ModelOptions{Limit: 5})
	if err != nil || len(lim.Rows) != 5 || lim.Rows[4] != rep.Rows[4] {
		t.Fatalf("limit 5: %d rows, %v", len(lim.Rows), err)
	}

	// Out-of-vocabulary words.
	oov := slices.Clone(recs[:3])
	oov[1].Prompt += " The zebra sings."
	oov[2].Action = "feed zebra 1"
	f := filepath.Join(t.TempDir(), "oov.jsonl")
	if err := trajlog.WriteFile(f, oov, trajlog.Meta{}); err != nil {
		t.Fatal(err)
	}
	rep, err = Score(context.Background(), NewBundledActor(m, tok), []string{f}, ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := []int32{rep.Rows[0].UnkTokens, rep.Rows[1].UnkTokens, rep.Rows[2].UnkTokens}; !slices.Equal(got, []int32{0, 2, 2}) {
		t.Errorf("unk per row %v, want [0 2 2] (zebra, sings; feed, zebra)", got)
	}
	if rep.Tokens.Unknown != 4 || rep.Tokens.UnknownIn != 2 {
		t.Errorf("token stats %+v", rep.Tokens)
	}
}

// TestTooLongNamesFileAndRow: a pair that does not fit the context is a
// *trajlog.ValidationError naming the file and the row, and WriteGrads
// then writes nothing.
func TestTooLongNamesFileAndRow(t *testing.T) {
	dir, recs := modelLog(t)
	m, tok := smallModel(t, 256)
	long := slices.Clone(recs[:4])
	long[2].Prompt = strings.Repeat("go to cabinet 1. ", 60)
	f := filepath.Join(t.TempDir(), "long.jsonl")
	if err := trajlog.WriteFile(f, long, trajlog.Meta{}); err != nil {
		t.Fatal(err)
	}
	_, err := Score(context.Background(), NewBundledActor(m, tok), []string{dir, f}, ModelOptions{})
	var ve *trajlog.ValidationError
	if !errors.As(err, &ve) || ve.File != f || ve.Row != 3 || !errors.Is(err, policy.ErrTooLong) || !ve.BadInput() {
		t.Fatalf("error %v, want a validation error for %s row 3 wrapping ErrTooLong", err, f)
	}
	if !strings.Contains(err.Error(), "context 256") {
		t.Errorf("error %q does not give the context", err)
	}
	outDir := t.TempDir()
	out := filepath.Join(outDir, "g.safetensors")
	if _, err := WriteGrads(context.Background(), m, tok, []string{f}, out, GradsOptions{}); !errors.As(err, &ve) {
		t.Fatalf("WriteGrads: %v", err)
	}
	if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
		t.Errorf("left behind %v", ents)
	}
}

// TestWriteGrads: the gradient store holds PerSampleGrads32's rows bit for
// bit whatever the chunk size, the parameter order in its metadata, and a
// sample table with the log's fields and the model's log-probs.
func TestWriteGrads(t *testing.T) {
	dir, recs := modelLog(t)
	m, tok := smallModel(t, 256)
	seqs := seqsOf(t, tok, 256, recs)
	for _, tensors := range [][]string{nil, {"transformer.ln_f.bias", "transformer.h.1.attn."}} {
		sel, err := m.Select(tensors...)
		if err != nil {
			t.Fatal(err)
		}
		want := m.PerSampleGrads32(nil, policy.ActionTerms(seqs), sel)
		D := m.SelectionDim(sel)
		var first []byte
		for _, chunkBytes := range []int{0, 1, 4 * D * 7} { // one chunk, one row at a time, 7 rows
			out := filepath.Join(t.TempDir(), "grads.safetensors")
			var calls int
			rep, err := WriteGrads(context.Background(), m, tok, []string{dir}, out, GradsOptions{
				Tensors: tensors, ChunkBytes: chunkBytes, Checkpoint: "ck",
				ModelOptions: ModelOptions{Progress: func(done, total int) {
					calls++
					if total != len(recs) || done > total {
						t.Errorf("progress %d/%d", done, total)
					}
				}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if rep.N != len(recs) || rep.D != D || calls == 0 {
				t.Fatalf("report %d x %d (%d progress calls), want %d x %d", rep.N, rep.D, calls, len(recs), D)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Bytes != int64(len(data)) {
				t.Errorf("report says %d bytes, file has %d", rep.Bytes, len(data))
			}
			if first == nil {
				first = data
			} else if !bytes.Equal(data, first) {
				t.Fatalf("chunk bytes %d: file differs from the one-chunk file", chunkBytes)
			}
			f, err := checkpoint.ReadSafetensors(bytes.NewReader(data), int64(len(data)), out, checkpoint.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, shape, err := f.Float32(GradsTensor)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(shape, []int{len(recs), D}) || !slices.Equal(got, want) {
				t.Fatalf("grads %v differ from PerSampleGrads32 rows", shape)
			}
			var params []GradParam
			if err := json.Unmarshal([]byte(f.Metadata()[GradsParamsKey]), &params); err != nil {
				t.Fatal(err)
			}
			// Each tensor's columns hold that tensor's full gradient.
			full := m.PerSampleGrads(nil, policy.ActionTerms(seqs[:1]), policy.Selection{})
			off := 0
			for _, p := range params {
				ti := slices.IndexFunc(m.Tensors(), func(x policy.Tensor) bool { return x.Name == p.Name })
				ts := m.Tensors()[ti]
				if p.Offset != off || !slices.Equal(p.Shape, ts.Shape) {
					t.Fatalf("param %+v, want offset %d shape %v", p, off, ts.Shape)
				}
				for k := range ts.Size {
					if got[p.Offset+k] != float32(full[ts.Offset+k]) {
						t.Fatalf("%s[%d]: column %d is not its gradient", p.Name, k, p.Offset+k)
					}
				}
				off += ts.Size
			}
			if off != D || f.Metadata()[GradsSamplesKey] != "grads.samples.parquet" || f.Metadata()[GradsCheckpointKey] != "ck" {
				t.Errorf("metadata %v", f.Metadata())
			}
			samples, err := parquet.ReadFile[GradSample](SamplesPath(out))
			if err != nil {
				t.Fatal(err)
			}
			lp := m.LogProbs(nil, seqs)
			for i, s := range samples {
				r := recs[i]
				if s.Row != int64(i) || s.TrajID != r.TrajID || s.Turn != r.Turn || s.StateKey != r.StateKey || s.Action != r.Action ||
					s.Label != r.Label || s.Advantage != r.Advantage || s.LogProb != lp[i] || s.Run != r.Run || s.Iteration != r.Iteration {
					t.Fatalf("sample %d: %+v, record %+v", i, s, r)
				}
			}
			if len(samples) != len(recs) {
				t.Fatalf("%d samples", len(samples))
			}
		}
	}
	// --limit.
	out := filepath.Join(t.TempDir(), "g.safetensors")
	rep, err := WriteGrads(context.Background(), m, tok, []string{dir}, out, GradsOptions{ModelOptions: ModelOptions{Limit: 3}})
	if err != nil || rep.N != 3 {
		t.Fatalf("limit 3: %d rows, %v", rep.N, err)
	}
}

// TestWriteGradsLeavesNothing: a cancelled run and an unknown tensor leave
// no file behind, and an old store at the path is kept on failure.
func TestWriteGradsLeavesNothing(t *testing.T) {
	dir, _ := modelLog(t)
	m, tok := smallModel(t, 256)
	outDir := t.TempDir()
	out := filepath.Join(outDir, "g.safetensors")
	ctx, cancel := context.WithCancel(context.Background())
	_, err := WriteGrads(ctx, m, tok, []string{dir}, out, GradsOptions{ChunkBytes: 1,
		ModelOptions: ModelOptions{Progress: func(done, total int) { cancel() }}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if _, err := WriteGrads(context.Background(), m, tok, []string{dir}, out, GradsOptions{Tensors: []string{"transformer.h.9."}}); err == nil {
		t.Fatal("unknown tensor accepted")
	}
	if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
		t.Errorf("left behind %v", ents)
	}
	if _, err := WriteGrads(context.Background(), m, tok, []string{filepath.Join(dir, "none-*.parquet")}, out, GradsOptions{}); err == nil {
		t.Error("no records: no error")
	}
}

// TestInitModel: the checkpoint loads back, records env and seed, is
// reproducible from the seed, and covers the chosen vocabulary.
func TestInitModel(t *testing.T) {
	base := t.TempDir()
	a, b, c := filepath.Join(base, "a"), filepath.Join(base, "b"), filepath.Join(base, "c")
	size := policy.Config{Dim: 16, Layers: 1, Heads: 2, Context: 64}
	sum, err := InitModel(a, ModelInitConfig{Env: env.Lab, Size: size, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := InitModel(b, ModelInitConfig{Env: env.Lab, Size: size, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := InitModel(c, ModelInitConfig{Size: size, Seed: 8}); err != nil {
		t.Fatal(err)
	}
	ck, err := checkpoint.Load(a)
	if err != nil {
		t.Fatal(err)
	}
	if g := ck.Config.Gradcouple; g.Env != env.Lab || g.Seed != 7 || g.Tokenizer != policy.TokenizerName {
		t.Errorf("gradcouple section %+v", g)
	}
	labTok, _ := policy.EnvTokenizer(env.Lab)
	if !slices.Equal(ck.Vocab, labTok.Tokens()) || sum.Config.VocabSize != labTok.Size() || sum.Params != sum.Config.NumParams() {
		t.Errorf("vocabulary of %d tokens, want lab's %d", len(ck.Vocab), labTok.Size())
	}
	ma, _ := os.ReadFile(filepath.Join(a, checkpoint.ModelFileName))
	mb, _ := os.ReadFile(filepath.Join(b, checkpoint.ModelFileName))
	mc, _ := os.ReadFile(filepath.Join(c, checkpoint.ModelFileName))
	if !bytes.Equal(ma, mb) || bytes.Equal(ma, mc) {
		t.Error("weights are not a function of the seed")
	}
	mdl, _, err := policy.Load(c)
	if err != nil {
		t.Fatal(err)
	}
	allTok, _ := policy.EnvTokenizer()
	if mdl.Config().VocabSize != allTok.Size() || mdl.NumParams() != sum.Config.NumParams()+(allTok.Size()-labTok.Size())*16 {
		t.Errorf("all: vocabulary %d, want %d", mdl.Config().VocabSize, allTok.Size())
	}
	if _, err := InitModel(filepath.Join(base, "d"), ModelInitConfig{Env: "kitchen"}); err == nil {
		t.Error("unknown environment accepted")
	}
	if _, err := InitModel(filepath.Join(base, "e"), ModelInitConfig{Size: policy.Config{Dim: 10, Heads: 3}}); err == nil {
		t.Error("heads not dividing dim accepted")
	}
}
