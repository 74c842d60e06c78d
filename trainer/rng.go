package trainer

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
)

// Purposes of the random streams. Each draw of the trainer comes from a PCG
// stream named by (seed, iteration, purpose, index); see stream.
const (
	purposeInit      = "init"       // model initialisation (iteration -1)
	purposeColdStart = "cold-start" // cold-start demonstrations and batches
	purposeTasks     = "tasks"      // the B tasks of an iteration
	purposeTwins     = "twins"      // whether a drawn task's twin joins the batch (rollout.twin_share)
	purposeRollout   = "rollout"    // sampling of train rollout j
	purposeJudge     = "judge"      // judge noise of train rollout j
	purposeMinibatch = "minibatch"  // shuffling of epoch e
	purposeEval      = "eval"       // sampling of an evaluation rollout
	purposeEvalJudge = "eval-judge"
)

// stream returns the PCG generator of (seed, iteration, purpose, index): its
// two 64-bit seeds are the first 16 bytes of SHA-256 over the four values.
// Every random draw of a run comes from such a stream, so any part of a run
// (one rollout, one epoch's shuffle) can be replayed on its own, nothing
// depends on the order in which parallel work finishes, and resuming needs no
// saved generator state: iteration i's streams are a function of the seed and
// i alone.
func stream(seed uint64, iteration int, purpose string, index int) *rand.Rand {
	var buf [24]byte
	binary.LittleEndian.PutUint64(buf[0:], seed)
	binary.LittleEndian.PutUint64(buf[8:], uint64(int64(iteration)))
	binary.LittleEndian.PutUint64(buf[16:], uint64(int64(index)))
	h := sha256.New()
	h.Write(buf[:])
	h.Write([]byte(purpose))
	sum := h.Sum(nil)
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[0:]), binary.LittleEndian.Uint64(sum[8:])))
}
