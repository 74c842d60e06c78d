// Package hf runs users' own Hugging Face causal language models of the
// Llama family (DESIGN.md §6a): model_type qwen2 (Qwen2, Qwen2.5), qwen3
// and llama (Llama-3.x, SmolLM2), read from the checkpoint directory that
// save_pretrained (or verl's model merger) writes, in float32 or, for tests
// and references, float64. It scores actions (LogProbs) and samples
// continuations with a key-value cache shared by a group's samples
// (Sample); the tokenizer is policy/bpe's (LoadTokenizer) and the chat
// template policy/chat's.
//
// # Model directory
//
// config.json as transformers 4.x writes it (rope_theta, rope_scaling with
// "type" or "rope_type", torch_dtype) or 5.x (rope_parameters holding
// rope_theta and the RoPE type, dtype); the weights as model.safetensors or
// as shards listed by model.safetensors.index.json (checkpoint.OpenShards:
// every weight_map entry is checked, and every tensor of every shard must
// be listed). Every tensor the config implies (Config.Tensors) must be
// there with its shape, and no other (transformers' rotary_emb.inv_freq
// buffers excepted); F32, BF16 and F16 are converted exactly to float32 or
// float64. With tie_word_embeddings the LM head is the embedding and
// lm_head.weight may be absent. The softmax runs over config.vocab_size
// (the embedding's rows), not over the tokenizer's length: Qwen's
// embedding has 151,936 rows for 151,669 tokens, and the extra rows take
// part in the softmax as they do in transformers.
//
// # Refused
//
// Whatever is not computed exactly is refused with an *Error naming the
// field (ErrUnsupported): another model_type or architectures entry;
// sliding-window attention that is on for some layer (use_sliding_window
// with max_window_layers, or layer_types) with a sliding_window smaller
// than max_position_embeddings (a window at least that long changes
// nothing and is accepted); a RoPE type other than default and llama3
// (linear, dynamic, yarn, longrope, ...: rope_scaling.rope_type,
// rope_scaling.type or rope_parameters.rope_type); partial_rotary_factor
// other than 1; mixture of experts (num_experts, num_local_experts,
// num_experts_per_tok, moe_intermediate_size, ...); attention_bias on a
// llama or qwen3; mlp_bias; hidden_act other than silu;
// quantization_config; a head_dim on a qwen2 that differs from
// hidden_size/num_attention_heads (transformers versions disagree on it);
// tensors of a dtype other than F32, BF16 and F16 (named by tensor); a
// LoRA/PEFT adapter directory (adapter_config.json: merge it first);
// pickled pytorch_model.bin weights.
//
// # Forward pass
//
// For input ids x_0..x_{T-1} at positions 0..T-1, with hidden size d,
// H query and KV key-value heads of width hd (head_dim) and SwiGLU width I:
//
//	h = embed_tokens[x]
//	for each layer:
//	    u = RMSNorm(h; input_layernorm)
//	    q = u Wq^T (+ bq), k = u Wk^T (+ bk), v = u Wv^T (+ bv)   biases: qwen2
//	    q, k = RMSNorm(q; q_norm), RMSNorm(k; k_norm) per head     qwen3
//	    q, k = RoPE(q), RoPE(k)
//	    query head j attends with key/value head j / (H/KV):
//	        softmax(q k^T / sqrt(hd), causal) v
//	    h = h + concat_heads Wo^T
//	    u = RMSNorm(h; post_attention_layernorm)
//	    h = h + (silu(u Wg^T) * (u Wu^T)) Wd^T
//	z = RMSNorm(h; norm) W_lm^T        W_lm = embed_tokens when tied
//
// RMSNorm(x; w) = w * (x / sqrt(mean(x^2) + rms_norm_eps)) per row (per
// head for q_norm and k_norm). silu(x) = x / (1 + exp(-x)). RoPE rotates
// each head with rotate_half: x'_i = x_i cos(p f_i) - x_{i+hd/2} sin(p f_i),
// x'_{i+hd/2} = x_{i+hd/2} cos(p f_i) + x_i sin(p f_i) for i < hd/2 at
// position p, with the inverse frequencies of Rope.InvFreq (default, or
// llama3's wavelength-dependent rescaling). nn.Linear weights are stored
// [out, in] and applied as x W^T.
//
// # Precision
//
// Model[float64] computes everything in float64: it is the reference
// path, equal to scripts/torch/hf_reference.py in float64 (a plain-torch
// implementation of the same equations) to 1e-14 relative (largest
// difference 1.6e-15 over the tiny models' 60 action tokens after prompts
// of up to 458 tokens, AVX-512 kernels). It is not transformers' own float64 run bit for
// bit: transformers computes RoPE's inverse frequencies and angles in
// float32 and its RMSNorm in float32 whatever the model's dtype.
//
// Model[float32] is the working precision: weights, activations and matrix
// products in float32 (internal/kernel's Gemm, shared with package policy:
// float32 products summed with fused multiply-adds in blocks of at most
// 256, the blocks summed in float64 and rounded once), with float64
// reductions where transformers also keeps more than the weights'
// precision or where it costs nothing: the RMSNorm mean
// of squares (transformers: float32 for a bf16 model), the attention
// softmax (transformers: float32), and the log-softmax of LogProbs and
// Sample. RoPE angles are computed in float64 and their cos and sin
// rounded to float32; transformers rounds the angle itself to float32,
// which at position p is off by up to p 2^-24 radians. A bf16 checkpoint is
// therefore evaluated in float32 from its exact bf16 weights, not in bf16
// as transformers' torch_dtype=bfloat16 inference would: on the tiny
// models its log-probs agree with torch's float64 to 3e-7 relative (torch's
// own float32 run: 9e-7), far closer than a bf16 run.
//
// # Per-sample gradients
//
// GroupGrads (a Grader for many groups) computes exact gradients of
// log pi(action | prompt), summed over the action tokens as LogProbs sums
// it, with respect to a chosen set of tensors (SelectTensors: Hugging Face
// names and module names with path.Match globs; with tied embeddings
// lm_head.weight is the embedding's output use and
// model.embed_tokens.weight its input use). A group's prompt runs once,
// layers below the lowest selected one forward only; each action runs
// forward from the shared cache and backward to the lowest selected layer,
// through the prompt positions where its keys and values carry the
// gradient. Gradients come dense, or as per-position factors (Factors:
// G = sum_t Delta_t Act_t^T, with Dot giving <G_i, G_j> without forming
// G), or both. Float32 follows the forward pass's conventions (float64
// reductions, softmaxes and dL/dz). Measured on the tiny checkpoints
// against torch autograd on scripts/torch/hf_reference.py
// (scripts/torch/hf_grads.py): float64 within 6e-14 relative per tensor,
// float32 within 2e-6 (torch's own float32: 3e-6); float64 against
// five-point finite differences within 2e-8 (their rounding).
//
// # Tiny checkpoints
//
// WriteTiny writes a random-weight model of each type in the exact layout
// (config.json in 4.x or 5.x form, BF16 safetensors, optionally sharded with
// the index, tokenizer files), so tests and examples run without
// downloads; testdata/hf/models holds the PyTorch reference log-probs of
// the three tiny models.
package hf
