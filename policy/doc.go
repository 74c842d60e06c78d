// Package policy is the actor: a word-level (or character-level)
// tokenizer and a GPT-2 causal language model in pure Go (float64), with
// batched log-probabilities, a key-value cache for sampling actions token
// by token (optionally constrained to the admissible actions), the verdict
// distribution of GCD, exact hand-written gradients of weighted sums of
// log-probabilities, per-sample gradient vectors and hidden states
// (DESIGN.md §3.3, §4).
//
// Everything below is specified precisely enough that an independent
// implementation (transformers.GPT2LMHeadModel loading a checkpoint written
// by Save) reproduces the log-probabilities and gradients.
//
// # Tokenization
//
// Split turns text into tokens: the text is lowercased (Go's
// strings.ToLower); a token is then a maximal run of ASCII letters a-z, a
// maximal run of ASCII digits 0-9, or any other single rune that is not
// white space (each punctuation character is its own token); white space
// (unicode.IsSpace) only separates tokens. "Take apple 1 from countertop 1."
// is [take apple 1 from countertop 1 .]; "in/on" is [in / on]; "-18" is
// [- 18]. This is the rule of env.Tokens, so env.Words(envName) is exactly
// the set of words the environment's prompts and actions use.
//
// The vocabulary (NewTokenizer) is the six special tokens with fixed ids,
//
//	0 <pad>      padding (never produced from text)
//	1 <unk>      a token not in the vocabulary
//	2 <eos>      end of an action
//	3 <verdict>  the GCD verdict marker
//	4 good       verdict target (also the word "good" in text)
//	5 bad        verdict target (also the word "bad" in text)
//
// followed by every other distinct token of the given texts in increasing
// byte order, ids 6, 7, .... Special tokens are never recognised inside text
// ("<eos>" in text is [< eos >]). vocab.json is Hugging Face's {token: id}.
// Decode joins tokens with single spaces, except none before . , : ; ! ? )
// ] and none after ( [, and none on either side of / and -; it inverts
// Encode on every admissible action of the bundled environments.
//
// # Character tokenizer
//
// NewCharTokenizer is the alternative that lets new names compose: the
// text is lowercased (strings.ToLower), every white-space rune other than
// the newline becomes a space (CharNormalize), and every rune is a token.
// The vocabulary is the same six special tokens at the same ids (good and
// bad are verdict targets only; the text "good" is g o o d), then the
// space, the newline and every other distinct rune of the given texts in
// increasing byte order. Decode concatenates, so Decode(Encode(s)) ==
// CharNormalize(s) for text within the vocabulary. Household and lab need
// about 50 tokens each (the word tokenizer about 290 and 470), and the
// characters of out-of-domain prompts occur in training prompts but for
// one per environment that only held-out names use (household z, lab j;
// TestCharTokenizerEnv), so a held-out name is a new sequence of mostly
// trained rows instead of a row of its own that training never reached.
// The price is length: prompts are ~4.4 characters per word token (up to
// ~860 characters with one step of history), so the context must be
// ~1024 instead of 320, and attention, whose cost grows with the square of
// the length, dominates the forward and backward passes. Checkpoints
// record the kind in config.json (gradcouple.tokenizer "word" or "char";
// absent means word), and FromCheckpoint builds the tokenizer it names.
//
// # Sequences and log-probabilities
//
// A sample is a prompt s (P >= 1 tokens) and an action a (A >= 0 tokens).
// The model reads the token ids prompt ++ action at positions 0..P+A-1 (no
// BOS token is added) and
//
//	log pi(a | s) = sum_{t=0..A} log softmax(z_{P-1+t})[y_t],
//	y_t = a_t for t < A, y_A = <eos>,
//
// where z_i is the logit vector after input position i: the action's
// tokens and the <eos> that ends it, each given everything before it, with
// a full softmax over the vocabulary at temperature 1. LogProbs returns it,
// TokenLogProbs its A+1 terms.
//
// The verdict (GCD) reads prompt ++ action ++ <eos> ++ <verdict> (P+A+2
// tokens) and takes the logits after the <verdict> marker, position P+A+1:
// Verdict.LogGood and LogBad are log softmax(z)[good] and [bad] over the
// full vocabulary (the GCD loss is the cross-entropy -log softmax(z)[label]);
// Verdict.PGood renormalises over {good, bad}. Because attention is causal,
// the log-probs of the action tokens are the same in this longer sequence,
// so one pass serves a term with both parts.
//
// Seq.Allowed restricts the softmax at action position t to a set of
// tokens (the continuations a Trie allows there): log pi(y_t) is then
// z[y_t] - log sum_{v in Allowed[t]} exp z[v], the log-probability under
// the distribution that constrained decoding at temperature 1 samples from,
// and gradients are those of that restricted log-softmax. A token that is
// the only one allowed has log-probability 0 and no gradient.
//
// A pair must fit the context: P+A+2 <= Context. EncodePair reports an
// error wrapping ErrTooLong otherwise; nothing is truncated silently. The
// environments' prompts are at most ~235 tokens and actions at most 8
// (characters: ~1,000 and 39).
//
// # Architecture (HF GPT2LMHeadModel, no dropout)
//
// With width d, H heads of width d/H, MLP width I (4d), V tokens and
// Context positions, for input ids x_0..x_{T-1}:
//
//	h = wte[x_i] + wpe[i]                                  (T x d)
//	for each block l:
//	    u = LN(h; ln_1)
//	    [q k v] = u @ c_attn.weight + c_attn.bias           (columns q | k | v, each d wide;
//	                                                         head j uses columns j*d/H..(j+1)*d/H-1 of each)
//	    per head: S = q k^T / sqrt(d/H), S_ij = -inf for j > i (causal),
//	              o = softmax_rows(S) v
//	    h = h + concat_heads(o) @ attn.c_proj.weight + attn.c_proj.bias
//	    u = LN(h; ln_2)
//	    h = h + gelu(u @ mlp.c_fc.weight + mlp.c_fc.bias) @ mlp.c_proj.weight + mlp.c_proj.bias
//	z = LN(h; ln_f) @ wte^T                                (LM head tied to wte, no bias)
//
// LN(x; w, b) = (x - mean(x)) / sqrt(var(x) + 1e-5) * w + b per row, with the
// biased variance (divide by d). gelu is the tanh form (HF "gelu_new"):
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). Weights of HF's Conv1D
// layers are stored [in, out] and applied as x @ W. The attention scale is
// 1/sqrt(head width) only (scale_attn_by_inverse_layer_idx false).
//
// # Parameters
//
// Model.Params holds every parameter as float64 in one flat vector, tensor
// after tensor in this order (HF names and shapes, row-major), which is
// also the order of per-sample gradient vectors:
//
//	transformer.wte.weight               [V, d]
//	transformer.wpe.weight               [Context, d]
//	for l = 0 .. Layers-1, prefix transformer.h.{l}.:
//	    ln_1.weight [d], ln_1.bias [d],
//	    attn.c_attn.weight [d, 3d], attn.c_attn.bias [3d],
//	    attn.c_proj.weight [d, d], attn.c_proj.bias [d],
//	    ln_2.weight [d], ln_2.bias [d],
//	    mlp.c_fc.weight [d, I], mlp.c_fc.bias [I],
//	    mlp.c_proj.weight [I, d], mlp.c_proj.bias [d]
//	transformer.ln_f.weight [d], transformer.ln_f.bias [d]
//
// lm_head.weight is wte itself and appears once (as wte). Model.Tensors
// lists names, shapes and offsets. This is checkpoint.GPT2Shapes' order.
//
// Checkpoints (Save, Load; checkpoint package) store F32: each parameter is
// rounded to the nearest float32 on saving. NewModel draws its initial
// values (HF's init: N(0, 0.02^2) weights and embeddings, N(0,
// (0.02/sqrt(2 Layers))^2) for the c_proj weights, zero biases, unit
// LayerNorm weights) already rounded to float32, and a trainer that calls
// Model.RoundToFloat32 after each optimizer step keeps the model exactly
// representable, so what it saves is what it trained and a loaded
// checkpoint reproduces the in-memory model bit for bit.
//
// # Gradients
//
// Gradient computes the exact gradient of a batch objective
//
//	J = sum_n [ sum_{t=0..A_n} w_{n,t} log pi(y_{n,t} | s_n, a_{n,<t}) + v_n log p(verdict_n | s_n, a_n) ]
//
// (Term: w_{n,t} = Weight + TokenWeights[t], v_n = VerdictWeight), by a
// backward pass written by hand, in float64. A policy-gradient term has
// Weight = A_n, PPO-clip and k3-KL terms are per-token weights, and the GCD
// loss lambda*CE is VerdictWeight = -lambda. PerSampleGrads writes the
// gradient of each term separately as a row of an N x D matrix (D = all
// parameters, or the tensors a Selection names, in the flat order); with
// ActionTerms the rows are g_n = grad log pi(a_n | s_n). A row depends only
// on its own term. Parallel work is split across sequences; the batch
// gradient sums at most 16 fixed contiguous chunks of terms, each in order,
// and then the chunks in order, so every result is identical for any
// GOMAXPROCS. (Bits can differ between CPUs that use different matrix
// kernels, below: they round differently, by ~1e-16 relative.) The tests
// check every parameter tensor against central finite differences.
//
// Computation is organised around what the loss needs: the last block runs
// its queries, MLP and output only from the last prompt position on (its
// keys and values for every position), and a Selection of later tensors
// stops the backward pass early; none of this changes the values. Matrix
// products use a packed, blocked kernel: AVX-512 (8 x 16 tiles) or AVX2/FMA
// (4 x 8) assembly on amd64 CPUs that have them, Go elsewhere or with the
// purego build tag. With AVX-512, exp (softmax, and tanh in GELU as
// 1 - 2/(exp(2u)+1)) is a vectorised degree-13 polynomial within 2 ulp of
// math.Exp. A Selection applies only to the model it was made from.
//
// # Hidden states
//
// Hidden returns HF's output_hidden_states[layer] at one position per
// sequence: layer 0 is wte+wpe, layer l (0 < l < Layers) the output of
// block l-1, layer Layers the output of the last block after ln_f. The
// position is LastPrompt (the last prompt token, reading the prompt alone)
// or AtVerdict (the <verdict> marker of prompt ++ action ++ <eos> ++
// <verdict>).
//
// # Sampling
//
// Sample draws actions token by token from softmax(z / temperature) with a
// key-value Cache (prompt run once, then one position per token),
// restricted, when a Trie of admissible actions is given, to the tokens
// that continue some admissible action (the trie's leaves are <eos>), so a
// constrained draw is always admissible. Randomness comes only from the
// caller's *rand.Rand, consumed in a fixed order. Each draw reports log pi
// (the LogProbs value) and the log-probability under the sampling
// distribution actually used.
//
// # Precision
//
// The Model computes in float64: training, tests and the reference anchors
// use it. Model.Float32 returns a Model32, a float32 snapshot of the
// parameters that evaluates the same network with float32 weights,
// activations, gradients and matrix products (float64 reductions and
// log-probabilities): LogProbs, TokenLogProbs, Verdicts, Hidden,
// ActionHidden, Sample, NewCache and PerSampleGrads. After changing Params,
// call Model32.Refresh before the next float32 evaluation. Its
// log-probabilities agree with the Model's to < 5e-5 and its per-sample
// gradients to < 5e-5 relative (TestFloat32Agreement); KernelName32 names
// its matrix-product kernel.
//
// # Reproducing log-probabilities in PyTorch
//
//	model = transformers.GPT2LMHeadModel.from_pretrained(ckpt_dir).double().eval()
//	ids = torch.tensor([prompt_ids + action_ids])          # token ids from EvalPairs / Seq
//	logits = model(ids).logits[0]                          # [P+A, V]
//	targets = action_ids + [2]                             # <eos> = 2
//	logp = torch.log_softmax(logits, -1)[P-1:P+A].gather(1, torch.tensor(targets)[:, None]).sum()
//
// EvalPairs gives, for text pairs, the token ids, log-probs and per-sample
// gradients in the flat order, to compare against such a reference.
// scripts/torch/reference.py is one, written from this specification
// without transformers; TestTorchAnchor (GRADCOUPLE_TORCH=1) checks that it
// agrees to ~1e-15 relative in float64 and compares throughputs.
package policy
