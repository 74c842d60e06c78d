package cli

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"

	"github.com/gradcouple/gradcouple/analysis"
	"github.com/gradcouple/gradcouple/metrics"
	ucli "github.com/urfave/cli/v2"
)

// AdvantageOptions are the inputs of `gradcouple advantage LOGS`.
type AdvantageOptions struct {
	Logs      []string
	Pool      bool
	MinVisits int
	Resamples int
	Seed      uint64
	Out       string
	Read      ReadOptions
}

var seedFlag = &ucli.Uint64Flag{Name: "seed", Value: 1, Usage: "random seed `N` (recorded in every output row)"}

func newAdvantageCommand(env *Env) *ucli.Command {
	return &ucli.Command{
		Name:      "advantage",
		Usage:     "expected-advantage check (Lemma 3.1) at recurring states of training logs; 'advantage simulate' for Monte Carlo",
		ArgsUsage: "LOGS...",
		Description: "For every state (state_key) visited at least --min-visits times and every action taken\n" +
			"there: q = share of visits taking the action, r = success rate of trajectories that visited\n" +
			"the state without the action minus with it, the logged advantage mass (mean over visits of\n" +
			"1{action} x advantage) and the prediction q r (q-1), with percentile bootstrap intervals over\n" +
			"rollout groups. Lemma 3.1 says a flawed action (r > 0) has negative expected mass." + logsDescription,
		Flags: append([]ucli.Flag{
			&ucli.BoolFlag{Name: "pool-iterations", Usage: "pool all iterations of a run (more visits, mixed policies)"},
			&ucli.IntFlag{Name: "min-visits", Value: 20, Usage: "estimate states with at least `N` visits"},
			&ucli.IntFlag{Name: "resamples", Value: 2000, Usage: "bootstrap resamples `B`"},
			seedFlag,
			outFlag,
		}, readFlags(false)...),
		Subcommands: []*ucli.Command{newAdvantageSimulateCommand(env)},
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 {
				return &UsageError{Msg: "advantage: want LOGS... or 'simulate'; see 'gradcouple advantage --help'"}
			}
			return runAdvantage(c.Context, AdvantageOptions{
				Logs: c.Args().Slice(), Pool: c.Bool("pool-iterations"), MinVisits: c.Int("min-visits"),
				Resamples: c.Int("resamples"), Seed: c.Uint64("seed"), Out: c.String("out"), Read: readOptionsOf(c),
			}, env)
		},
	}
}

func runAdvantage(ctx context.Context, opts AdvantageOptions, env *Env) error {
	if err := firstErr(checkOut(opts.Out), guardOutputs(opts.Logs, output{flag: "out", path: opts.Out})); err != nil {
		return err
	}
	if opts.MinVisits < 2 || opts.Resamples < 1 {
		return &UsageError{Msg: "advantage: want --min-visits >= 2 and --resamples >= 1"}
	}
	aopts, err := opts.Read.adapterOptions()
	if err != nil {
		return err
	}
	rows, sum, src, err := analysis.Advantage(ctx, opts.Logs, analysis.AdvantageOptions{
		Filter:         analysis.LogFilter{Adapter: aopts},
		PoolIterations: opts.Pool,
		Mass:           metrics.MassConfig{MinVisits: opts.MinVisits, Bootstrap: metrics.BootstrapConfig{Resamples: opts.Resamples}},
		Seed:           opts.Seed,
	})
	if err != nil {
		return formatError(err)
	}
	logSources(env, src)
	if sum.Pairs == 0 && src.Rows > 0 {
		fmt.Fprintf(env.Stderr, "warning: no state has %d visits; %s\n", opts.MinVisits, stateFix(src))
	}
	w := env.Stdout
	fmt.Fprintf(w, "%d step records from %d file(s); %d (state, action) pairs at states with >= %d visits (seed %d)\n\n",
		src.Rows, len(src.Files), sum.Pairs, opts.MinVisits, opts.Seed)
	if err := emit(w, opts.Out, rows, map[string]string{"seed": strconv.FormatUint(opts.Seed, 10)}); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nflawed pairs (95%% interval of r above 0): %d; with negative mass: %d; mass interval below 0: %d\n",
		sum.Flawed, sum.FlawedNegative, sum.FlawedMassCI)
	return nil
}

// SimulateOptions are the inputs of `gradcouple advantage simulate`.
type SimulateOptions struct {
	Q, R       []float64
	P          float64
	GroupSizes []int
	Groups     int
	NoStd      bool
	Seed       uint64
	Out        string
}

// SimulateRow is one Monte Carlo check of Lemma 3.1.
type SimulateRow struct {
	Q          float64 `parquet:"q"`
	R          float64 `parquet:"r"`
	P          float64 `parquet:"p"`
	G          int     `parquet:"group_size"`
	Norm       string  `parquet:"normalisation"`
	Groups     int     `parquet:"groups"`
	Mass       float64 `parquet:"mass"`
	MassLo     float64 `parquet:"mass_lo"`
	MassHi     float64 `parquet:"mass_hi"`
	Exact      float64 `parquet:"exact_finite_g"`
	Lemma      float64 `parquet:"lemma_qr_q1"`
	Asymptotic float64 `parquet:"asymptotic"`
	CondAdv    float64 `parquet:"cond_adv"`
	Agrees     string  `parquet:"agrees"` // no-std: the exact value inside the interval; std: the interval allows the sign of q r (q-1)
	Seed       uint64  `parquet:"seed"`
}

func newAdvantageSimulateCommand(env *Env) *ucli.Command {
	return &ucli.Command{
		Name:  "simulate",
		Usage: "Monte Carlo check of Lemma 3.1 over GRPO groups: advantage mass of a flawed action vs q r (q-1)",
		Description: "Each group has G trajectories; each takes the flawed action with probability q and then\n" +
			"succeeds with probability p - r, else with probability p. The advantage mass E[1{a} A] is\n" +
			"estimated with a 95% interval and compared with the lemma's q r (q-1), with the exact\n" +
			"finite-G value (G-1)/G q r (q-1) for Dr. GRPO (--no-std), and, with std normalisation\n" +
			"(no closed form), with the G -> infinity limit. Lists of q, r and G run a grid.\n" +
			"agrees: with --no-std, the exact value lies in the interval; with std normalisation it is a\n" +
			"sign check: the interval allows the sign of q r (q-1), <= 0 for r > 0 and >= 0 for r < 0.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "q", Value: "0.3", Usage: "probability `Q[,Q...]` of the flawed action"},
			&ucli.StringFlag{Name: "r", Value: "0.2", Usage: "drop `R[,R...]` in success probability caused by the action"},
			&ucli.Float64Flag{Name: "p", Value: 0.6, Usage: "success probability `P` without the action"},
			&ucli.StringFlag{Name: "group-size", Aliases: []string{"G"}, Value: "8", Usage: "group size `G[,G...]`"},
			&ucli.IntFlag{Name: "groups", Value: 20000, Usage: "replicate groups `N` per point"},
			&ucli.BoolFlag{Name: "no-std", Usage: "Dr. GRPO advantages R - mean R (default: std-normalised)"},
			seedFlag,
			outFlag,
		},
		Action: func(c *ucli.Context) error {
			q, err1 := parseFloats("q", c.String("q"))
			r, err2 := parseFloats("r", c.String("r"))
			g, err3 := parseInts("group-size", c.String("group-size"))
			if err := firstErr(err1, err2, err3); err != nil {
				return err
			}
			return runSimulate(SimulateOptions{Q: q, R: r, P: c.Float64("p"), GroupSizes: g, Groups: c.Int("groups"),
				NoStd: c.Bool("no-std"), Seed: c.Uint64("seed"), Out: c.String("out")}, env)
		},
	}
}

func runSimulate(opts SimulateOptions, env *Env) error {
	if err := firstErr(checkOut(opts.Out), guardOutputs(nil, output{flag: "out", path: opts.Out})); err != nil {
		return err
	}
	// Sizes are checked here, not replaced by defaults: a zero is a mistake.
	for _, g := range opts.GroupSizes {
		if g < 2 || g > maxSimGroupSize {
			return &UsageError{Msg: fmt.Sprintf("advantage simulate: --group-size %d: want 2 to %d", g, maxSimGroupSize)}
		}
	}
	if opts.Groups < 1 || opts.Groups > maxSimGroups {
		return &UsageError{Msg: fmt.Sprintf("advantage simulate: --groups %d: want 1 to %d", opts.Groups, maxSimGroups)}
	}
	var rows []SimulateRow
	norm := "std"
	if opts.NoStd {
		norm = "no-std"
	}
	for _, g := range opts.GroupSizes {
		for _, q := range opts.Q {
			for _, r := range opts.R {
				// One stream per grid point, so a point does not depend on the grid.
				rng := rand.New(rand.NewPCG(opts.Seed, pointStream(q, r, opts.P, g)))
				s, err := metrics.SimulateLemma(q, r, opts.P, metrics.LemmaSimConfig{
					G: g, Groups: opts.Groups, Adv: metrics.AdvantageConfig{NoStd: opts.NoStd},
				}, rng)
				if err != nil {
					return &UsageError{Msg: fmt.Sprintf("advantage simulate: q=%g r=%g p=%g G=%d: %v", q, r, opts.P, g, err)}
				}
				agrees := s.Mass.Contains(s.Exact)
				if !opts.NoStd {
					agrees = signAgrees(s.Mass, metrics.AdvantageMass(q, r))
				}
				rows = append(rows, SimulateRow{
					Q: q, R: r, P: opts.P, G: g, Norm: norm, Groups: s.Groups,
					Mass: s.Mass.Point, MassLo: s.Mass.Lo, MassHi: s.Mass.Hi,
					Exact: s.Exact, Lemma: metrics.AdvantageMass(q, r), Asymptotic: s.Asymptotic,
					CondAdv: s.CondAdv.Point, Agrees: strconv.FormatBool(agrees), Seed: opts.Seed,
				})
			}
		}
	}
	return emit(env.Stdout, opts.Out, rows, map[string]string{"seed": strconv.FormatUint(opts.Seed, 10)})
}

// Limits of advantage simulate: G float64 buffers per group, and a run time
// of minutes at most per grid point.
const (
	maxSimGroupSize = 1 << 20
	maxSimGroups    = 100_000_000
)

// signAgrees is the check of a std-normalised simulation, which has no
// closed form: the mass interval allows the sign of the lemma's q r (q-1),
// which is <= 0 for r > 0 (a flawed action), >= 0 for r < 0 (a helpful
// one) and 0 for r = 0, q = 0 or q = 1.
func signAgrees(mass metrics.Interval, lemma float64) bool {
	switch {
	case lemma < 0:
		return mass.Lo <= 0
	case lemma > 0:
		return mass.Hi >= 0
	}
	// Zero up to rounding: with q = 1 every group's advantages sum to 0
	// only up to a few ulps.
	const tol = 1e-12
	return mass.Lo <= tol && mass.Hi >= -tol
}

// pointStream derives the random stream of one grid point from its parameters
// (FNV-1a of their decimal text), so that a point's result does not depend on
// the rest of the grid.
func pointStream(q, r, p float64, g int) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%g/%g/%g/%d", q, r, p, g)
	return h.Sum64()
}
