package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gradcouple/gradcouple/analysis"
	ucli "github.com/urfave/cli/v2"
)

// MergeOptions are the inputs of `gradcouple merge`.
type MergeOptions struct {
	Shards   []string
	Out      string
	GramDir  string
	MaxBytes int64
	Partial  bool
}

func newMergeCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:      "merge",
		Usage:     "merge Gram shards of `coupling --shard i/n` and report their coupling statistics",
		ArgsUsage: "SHARDS... (files, or directories of them)",
		Description: "Each shard file holds the tiles of one shard of the Gram K_ij = <g_i, g_j> of one checkpoint\n" +
			"(or store), with the labels, advantages and states of its rows. Shards are grouped by the\n" +
			"matrix they belong to; every group must have each of its shards exactly once. The dense Gram\n" +
			"is assembled bit for bit as the unsharded computation gives it, and the table reports the\n" +
			"group cosines (computed from the rows by the shards) and harmful coupling from the Gram.\n" +
			"Example (a Slurm array of 4): gradcouple coupling runs/grpo --probes p.parquet --shard $I/4;\n" +
			"then gradcouple merge shards/*.safetensors --out coupling.csv. A missing shard (an array task\n" +
			"that did not finish) is an error naming every missing one; --partial merges the complete\n" +
			"matrices and lists the missing shards, so that re-submitting those tasks completes the set.",
		Flags: []ucli.Flag{
			outFlag,
			&ucli.StringFlag{Name: "gram-dir", Usage: "also write each merged Gram (\"gram\" F32 [N, N]) to `DIR`"},
			&ucli.StringFlag{Name: "max-bytes", Value: "4G", Usage: "memory budget `BYTES` of a dense Gram (e.g. 16G; -1: none)"},
			&ucli.BoolFlag{Name: "partial", Usage: "merge the matrices whose shards are all there and list the missing shards"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 {
				return &UsageError{Msg: "merge: want SHARDS... (files written by coupling --shard i/n); see 'gradcouple merge --help'"}
			}
			mb, err := parseBytes("max-bytes", c.String("max-bytes"))
			if err != nil {
				return err
			}
			return runMerge(c.Context, MergeOptions{Shards: c.Args().Slice(), Out: c.String("out"), GramDir: c.String("gram-dir"), MaxBytes: mb, Partial: c.Bool("partial")}, e)
		},
	}
}

// shardFiles expands the arguments of merge: a directory stands for the
// .safetensors files in it (what an array of coupling --shard tasks wrote).
func shardFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, badInput(err)
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		m, err := filepath.Glob(filepath.Join(a, "*.safetensors"))
		if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			return nil, badInput(fmt.Errorf("merge: %s holds no shard files (*.safetensors)", a))
		}
		out = append(out, m...)
	}
	return out, nil
}

func runMerge(ctx context.Context, o MergeOptions, e *Env) error {
	shards, err := shardFiles(o.Shards)
	if err != nil {
		return err
	}
	o.Shards = shards
	if err := firstErr(checkOut(o.Out), guardOutputs(o.Shards, output{flag: "out", path: o.Out}, output{flag: "gram-dir", path: o.GramDir})); err != nil {
		return err
	}
	rep, err := analysis.MergeShards(o.Shards, analysis.MergeOptions{MaxBytes: o.MaxBytes, GramDir: o.GramDir, Partial: o.Partial})
	if err != nil {
		return couplingError(err)
	}
	for i, r := range rep.Rows {
		fmt.Fprintf(e.Stdout, "%s iteration %d: %d shard files, %d x %d Gram\n", r.Run, r.Iteration, rep.Files[i], r.N, r.N)
	}
	fmt.Fprintln(e.Stdout)
	if err := emit(e.Stdout, o.Out, rep.Rows, nil); err != nil {
		return err
	}
	for _, g := range rep.Grams {
		fmt.Fprintf(e.Stdout, "wrote %s\n", g)
	}
	if len(rep.Missing) > 0 {
		fmt.Fprintf(e.Stdout, "\n%d shards missing (re-submit these array tasks, then merge again):\n", len(rep.Missing))
		return emit(e.Stdout, "", rep.Missing, nil)
	}
	return nil
}
