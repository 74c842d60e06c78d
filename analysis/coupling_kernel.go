package analysis

import (
	"fmt"
	"strings"

	"github.com/gradcouple/gradcouple/checkpoint"
	"github.com/gradcouple/gradcouple/coupling"
	"github.com/gradcouple/gradcouple/policy"
	"github.com/gradcouple/gradcouple/trainer"
)

// The log pi whose gradients the probe rows hold (CouplingOptions.LogProb).
const (
	// LogProbTrained is log pi as trained (DESIGN.md §4): for a run that
	// decodes constrained to the admissible actions, the softmax at each
	// action position renormalised over the tokens that continue an
	// admissible action, summed over the positions with a choice (forced
	// tokens dropped), as the trainer's loss takes it (policy.Trie.Constrain,
	// policy.DecisionTerms); for an unconstrained run the full softmax.
	LogProbTrained = "trained"
	// LogProbFull is the full-vocabulary log pi(a|s) summed over the action
	// tokens and <eos>: the step records' logprob.
	LogProbFull = "full"
)

// probeKernel is the kernel of one checkpoint over the selected gradient
// coordinates: K_ij = <g_i, P g_j> with P = diag(p) (nil p: identity), and
// the gain c of the first-order step (coupling.AdamStep.Gain; 1 for SGD),
// so that Delta_ij = eta A_i c K_ij.
type probeKernel struct {
	name  coupling.Kernel
	p     []float64 // diagonal of P over the selection (nil: identity)
	sqrt  []float32 // sqrt(p), the row scale
	gain  float64
	adam  *trainer.Adam // the optimizer as the checkpoint left it (adam only)
	steps int64
}

// kernelName resolves the requested kernel; "" (the run's optimizer) is
// returned as "" and resolved per checkpoint by loadKernel.
func kernelName(k string) (coupling.Kernel, error) {
	switch k {
	case "":
		return "", nil
	case string(coupling.KernelAdam):
		return coupling.KernelAdam, nil
	case string(coupling.KernelSGD):
		return coupling.KernelSGD, nil
	}
	return "", fmt.Errorf("kernel %q: want sgd or adam", k)
}

// loadKernel reads the kernel of the checkpoint in dir for the gradients
// over tensors of m: for adam, the checkpoint's optimizer state (moments,
// step, hyperparameters as trained) through trainer.RestoreAdam. The
// run's optimizer (name "") is adam when the checkpoint carries Adam
// moments (every checkpoint of the bundled trainer does) and sgd when it
// has no optimizer state (a checkpoint saved without one); the row's kernel
// column says which was used.
func loadKernel(dir string, m *policy.Model, tensors []string, name coupling.Kernel) (*probeKernel, error) {
	if name == coupling.KernelSGD {
		return &probeKernel{name: name, gain: 1}, nil
	}
	c, err := checkpoint.Load(dir)
	if err != nil {
		return nil, err
	}
	if c.Optimizer == nil {
		if name == "" {
			return &probeKernel{name: coupling.KernelSGD, gain: 1}, nil
		}
		return nil, fmt.Errorf("the adam kernel needs the Adam moments of optimizer.safetensors, which this checkpoint does not have (use --kernel sgd)")
	}
	name = coupling.KernelAdam
	opt, err := trainer.RestoreAdam(m, c.Optimizer)
	if err != nil {
		return nil, err
	}
	as := coupling.AdamStep{LR: opt.LR, Beta1: opt.Beta1, Beta2: opt.Beta2, Eps: opt.Eps, Step: opt.Steps()}
	v := opt.SecondMoment()
	var sv []float64
	for _, r := range selectedRanges(m, tensors) {
		sv = append(sv, v[r[0]:r[0]+r[1]]...)
	}
	p := as.Diagonal(nil, sv)
	return &probeKernel{name: name, p: p, sqrt: coupling.SqrtDiagonal(nil, p), gain: as.Gain(), adam: opt, steps: opt.Steps()}, nil
}

// scale multiplies n gradient rows (length len(p)) by sqrt(P) in place.
func (k *probeKernel) scale(rows []float32, n int) {
	if k.sqrt != nil {
		coupling.ScaleRows(rows, rows, n, len(k.sqrt), k.sqrt)
	}
}

// inner returns <x, P y>, <x, P x> and <y, P y> in float64.
func (k *probeKernel) inner(x, y []float64) (xy, xx, yy float64) {
	for t := range x {
		w := 1.0
		if k.p != nil {
			w = k.p[t]
		}
		xy += x[t] * w * y[t]
		xx += x[t] * w * x[t]
		yy += y[t] * w * y[t]
	}
	return xy, xx, yy
}

// stepper applies, to a copy of the model, the parameter change that
// sample i's objective eta A_i log pi(a_i|s_i) causes in one optimizer
// step (only the selected tensors move):
//
//   - sgd: theta + eta A_i g_i;
//   - adam: theta + Delta(G) - Delta(0) with G = -eta A_i g_i the loss
//     gradient and Delta the trainer's own Adam update (trainer.Adam.Step)
//     from the checkpoint's state (m, v, t): the change of the update that
//     the sample causes, without the momentum step Delta(0) that would be
//     taken anyway (coupling.AdamStep derives its first-order form
//     eta A_i c P g_i).
type stepper struct {
	k      *probeKernel
	m      *policy.Model
	ranges [][2]int
	base   []float64 // Delta(0) (adam)
	grad   []float64 // scratch: the full loss gradient
	after  []float64 // scratch: parameters after a step
}

func newStepper(k *probeKernel, m *policy.Model, tensors []string) *stepper {
	s := &stepper{k: k, m: m, ranges: selectedRanges(m, tensors)}
	if k.adam != nil {
		s.grad = make([]float64, len(m.Params))
		s.after = append([]float64(nil), m.Params...)
		k.adam.Clone().Step(s.after, s.grad)
		s.base = make([]float64, len(m.Params))
		for t, x := range s.after {
			s.base[t] = x - m.Params[t]
		}
	}
	return s
}

// apply sets clone's parameters to theta plus the change of sample i's
// step of size w = eta A_i along its selected gradient gi.
func (s *stepper) apply(clone *policy.Model, gi []float64, w float64) {
	copy(clone.Params, s.m.Params)
	if s.k.adam == nil {
		col := 0
		for _, r := range s.ranges {
			p := clone.Params[r[0] : r[0]+r[1]]
			for t := range p {
				p[t] += w * gi[col+t]
			}
			col += r[1]
		}
		return
	}
	clear(s.grad)
	col := 0
	for _, r := range s.ranges {
		for t := range r[1] {
			s.grad[r[0]+t] = -w * gi[col+t]
		}
		col += r[1]
	}
	copy(s.after, s.m.Params)
	s.k.adam.Clone().Step(s.after, s.grad)
	for t, x := range s.after {
		clone.Params[t] += (x - s.m.Params[t]) - s.base[t]
	}
}

// constrainProbes sets, for log pi as trained, the allowed tokens of every
// probe's action positions (policy.Trie.Constrain over the admissible
// actions the probe's prompt lists, the set the trainer's decoder was
// restricted to) and returns the forced positions of each. A probe whose
// prompt lists no admissible actions, or whose action is not among them
// (a constrained decoder cannot have produced it: an edited or foreign
// log), keeps the full-vocabulary log pi; their indices are returned in
// full so the caller reports them.
func constrainProbes(ps *ProbeSet, seqs []policy.Seq, tok *policy.Tokenizer) (forced [][]bool, full []int) {
	forced = make([][]bool, len(seqs))
	for i, p := range ps.Probes {
		adm, ok := admissibleOf(p.Prompt)
		if !ok {
			full = append(full, i)
			continue
		}
		al, f, ok := policy.NewTrie(tok, adm).Constrain(seqs[i].Action)
		if !ok {
			full = append(full, i)
			continue
		}
		seqs[i].Allowed, forced[i] = al, f
	}
	return forced, full
}

// admissibleOf reads the admissible actions from a prompt of the bundled
// environments (env.Prompt: "Your admissible actions are: [a, b, ...]."),
// the last such list when there are several.
func admissibleOf(prompt string) ([]string, bool) {
	const head = "Your admissible actions are: ["
	i := strings.LastIndex(prompt, head)
	if i < 0 {
		return nil, false
	}
	rest := prompt[i+len(head):]
	j := strings.Index(rest, "].")
	if j < 0 {
		return nil, false
	}
	if rest[:j] == "" {
		return nil, false
	}
	return strings.Split(rest[:j], ", "), true
}

// probeTerms returns the terms whose per-sample gradients are the probe
// rows under opts.LogProb (setting the allowed sets of seqs for log pi as
// trained of a constrained run) and the name of the log pi used; probes
// that cannot be constrained (constrainProbes) are counted in
// rep.FullLogProb.
func probeTerms(rep *CouplingReport, run Run, ps *ProbeSet, seqs []policy.Seq, tok *policy.Tokenizer, opts CouplingOptions) ([]policy.Term, string, error) {
	switch opts.LogProb {
	case LogProbFull:
		return policy.ActionTerms(seqs), LogProbFull, nil
	case "", LogProbTrained:
	default:
		return nil, "", fmt.Errorf("logprob %q: want trained or full", opts.LogProb)
	}
	if run.Unconstrained {
		return policy.ActionTerms(seqs), LogProbTrained, nil
	}
	forced, full := constrainProbes(ps, seqs, tok)
	rep.FullLogProb = max(rep.FullLogProb, len(full))
	return policy.DecisionTerms(seqs, forced), LogProbTrained, nil
}
