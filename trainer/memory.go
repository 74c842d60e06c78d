package trainer

import (
	"fmt"
	"math"

	"github.com/gradcouple/gradcouple/policy"
)

// DefaultMaxBytes is the memory budget of a run when Options.MaxBytes is 0:
// 4 GiB, as for the coupling analyses.
const DefaultMaxBytes = 4 << 30

// defaultStepLimit bounds an episode when rollout.max_steps is 0 (the
// environments end episodes after 30 steps).
const defaultStepLimit = 30

// ModelBytes estimates the memory, in bytes, that a bundled GPT-2 actor of
// size c needs with copies float64 vectors of its parameters (the model, its
// gradient, Adam's moments, ...) and one forward/backward workspace over its
// whole context:
//
//	8 (copies P + T (L (22 D + H T) + 3 D + V)),  P = (V + T) D + L (12 D^2 + 13 D) + 2 D
//
// (MLP width 4 D; the workspace holds per layer about 22 D activations and
// H T attention probabilities per position). It is computed in float64, so
// that no size overflows; zero sizes take policy's defaults.
func ModelBytes(c policy.Config, copies int) float64 {
	def := func(v, d int) float64 {
		if v == 0 {
			return float64(d)
		}
		return float64(v)
	}
	V := float64(c.VocabSize)
	T, D := def(c.Context, policy.DefaultContext), def(c.Dim, policy.DefaultDim)
	L, H := def(c.Layers, policy.DefaultLayers), def(c.Heads, policy.DefaultHeads)
	P := (V+T)*D + L*(12*D*D+13*D) + 2*D
	return 8 * (float64(copies)*P + T*(L*(22*D+H*T)+3*D+V))
}

// trainingCopies is the number of parameter-sized float64 vectors a run
// holds: the model, the reference policy, the gradient and Adam's two
// moments, and the cold start's gradient and moments.
const trainingCopies = 8

// Bytes estimates the memory a run of c needs: the model (ModelBytes with
// the parameters, gradients and optimizer states of training), the
// permutation of the train-task pool and the step records of one iteration
// (tasks x group size x steps, each with a prompt of up to context tokens).
func (c Config) Bytes() float64 {
	m := ModelBytes(policy.Config{VocabSize: RunTokenizer(c).Size(), Context: c.Model.Context, Dim: c.Model.Dim,
		Layers: c.Model.Layers, Heads: c.Model.Heads}, trainingCopies)
	steps := float64(c.Rollout.MaxSteps)
	if steps == 0 {
		steps = defaultStepLimit
	}
	records := float64(c.Rollout.Tasks) * float64(c.Rollout.GroupSize) * steps * (256 + 8*float64(c.Model.Context))
	return m + 8*float64(c.TrainTasks) + records
}

// CheckMemory refuses, with an error matching ErrConfig that states the
// estimate and the limit, a configuration whose run would need more than
// maxBytes (Bytes); 0 means DefaultMaxBytes, negative means no limit. Run
// and Resume call it before they create or load anything, so sizes that do
// not fit fail at once rather than with an out-of-memory crash.
func (c Config) CheckMemory(maxBytes int64) error {
	if maxBytes == 0 {
		maxBytes = DefaultMaxBytes
	}
	if maxBytes < 0 {
		return nil
	}
	need := c.Bytes()
	if math.IsNaN(need) || need > float64(maxBytes) {
		return fmt.Errorf("%w: model dim %d, layers %d, heads %d, context %d with %d tasks x group size %d (train_tasks %d) need about %s, more than the memory budget of %s; "+
			"choose smaller sizes or raise --max-bytes", ErrConfig, c.Model.Dim, c.Model.Layers, c.Model.Heads, c.Model.Context,
			c.Rollout.Tasks, c.Rollout.GroupSize, c.TrainTasks, FormatBytes(need), FormatBytes(float64(maxBytes)))
	}
	return nil
}

// FormatBytes writes a byte count with a binary unit: "512.0 MiB", "3.2 PiB".
func FormatBytes(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", b)
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}
