#!/usr/bin/python3
"""Independent PyTorch reference for policy/hf (Hugging Face qwen2, qwen3, llama).

Reads a Hugging Face model directory (config.json as transformers 4.x or 5.x
writes it; model.safetensors, or model.safetensors.index.json and its shards)
with numpy and the standard library only -- no transformers, no safetensors
package -- and runs the decoder written here in plain torch from the
published modeling equations (transformers' modeling_qwen2.py,
modeling_qwen3.py, modeling_llama.py and modeling_rope_utils.py):

  h = embed_tokens[x]
  per layer:
    u = RMSNorm(h; input_layernorm)        RMSNorm(x; w) = w * (x / sqrt(mean(x^2) + eps))
    q = u Wq^T (+ bq), k = u Wk^T (+ bk), v = u Wv^T (+ bv)     (biases: qwen2)
    q, k = RMSNorm per head (q_norm, k_norm)                    (qwen3)
    q, k = q cos + rotate_half(q) sin,  rotate_half(x) = cat(-x2, x1)
    per query head j, key/value head j // (H/KV):
      softmax(q k^T / sqrt(head_dim) + causal mask) v
    h = h + concat_heads(...) Wo^T
    u = RMSNorm(h; post_attention_layernorm)
    h = h + (silu(u Wg^T) * (u Wu^T)) Wd^T
  z = RMSNorm(h; norm) W_lm^T       (W_lm = embed_tokens when tie_word_embeddings)

RoPE: inv_freq_i = 1 / theta^(2i/head_dim), with rope_type llama3 the
frequencies are rescaled by wavelength (low_freq_factor, high_freq_factor,
factor, original_max_position_embeddings). Everything is computed in the
requested dtype (the angles, cos and sin in float64, then cast); the
log-softmax over all vocab_size logits in float64.

Usage:
  /usr/bin/python3 scripts/torch/hf_reference.py MODEL_DIR REQUEST.json

REQUEST.json: {"seqs": [{"prompt": [ids], "action": [ids]}, ...],
               "dtypes": ["float64", "float32"]}
Prints {"torch": VERSION, "results": {dtype: {"sums": [...],
"per_token": [[...], ...]}}} on stdout.
"""

import json
import math
import os
import struct
import sys

import numpy as np
import torch


def read_safetensors(path):
    """Returns {name: float32 numpy array} of a safetensors file (F32, BF16, F16)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[b:e]
        shape = info["shape"]
        dt = info["dtype"]
        if dt == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif dt == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dt == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            a = u.view(np.float32)
        else:
            raise ValueError(f"{path}: tensor {name}: dtype {dt}")
        out[name] = a.reshape(shape).copy()
    return out


def read_weights(d):
    single = os.path.join(d, "model.safetensors")
    if os.path.exists(single):
        return read_safetensors(single)
    with open(os.path.join(d, "model.safetensors.index.json")) as f:
        index = json.load(f)
    out = {}
    for shard in sorted(set(index["weight_map"].values())):
        part = read_safetensors(os.path.join(d, shard))
        for name, a in part.items():
            if index["weight_map"].get(name) != shard:
                raise ValueError(f"{shard}: tensor {name} not mapped to it")
            out[name] = a
    if set(out) != set(index["weight_map"]):
        raise ValueError("weight_map and shards disagree")
    return out


def read_config(d):
    with open(os.path.join(d, "config.json")) as f:
        c = json.load(f)
    mt = c["model_type"]
    assert mt in ("qwen2", "qwen3", "llama"), mt
    heads = c["num_attention_heads"]
    cfg = {
        "type": mt,
        "vocab": c["vocab_size"],
        "hidden": c["hidden_size"],
        "layers": c["num_hidden_layers"],
        "heads": heads,
        "kv_heads": c.get("num_key_value_heads") or heads,
        "eps": c.get("rms_norm_eps", 1e-6),
        "tied": c.get("tie_word_embeddings", False),
    }
    hd = c.get("head_dim")
    if hd is None:
        hd = 128 if mt == "qwen3" else c["hidden_size"] // heads
    cfg["head_dim"] = hd
    # RoPE: 4.x rope_theta + rope_scaling, 5.x rope_parameters
    rope = c.get("rope_parameters") or c.get("rope_scaling") or {}
    theta = rope.get("rope_theta", c.get("rope_theta", 10000.0))
    rtype = rope.get("rope_type", rope.get("type", "default"))
    assert rtype in ("default", "llama3"), rtype
    cfg["theta"] = theta
    cfg["rope"] = rtype
    if rtype == "llama3":
        cfg["factor"] = rope["factor"]
        cfg["low"] = rope["low_freq_factor"]
        cfg["high"] = rope["high_freq_factor"]
        cfg["orig"] = rope["original_max_position_embeddings"]
    return cfg


def inv_freq(cfg):
    dim = cfg["head_dim"]
    f = 1.0 / (cfg["theta"] ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    if cfg["rope"] != "llama3":
        return f
    factor, low, high, orig = cfg["factor"], cfg["low"], cfg["high"], cfg["orig"]
    low_wave, high_wave = orig / low, orig / high
    wave = 2 * math.pi / f
    scaled = torch.where(wave > low_wave, f / factor, f)
    smooth = (orig / wave - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wave < high_wave) & ~(wave > low_wave)
    return torch.where(medium, smoothed, scaled)


def rms_norm(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Model:
    def __init__(self, d, dtype):
        self.cfg = read_config(d)
        w = read_weights(d)
        self.w = {k: torch.from_numpy(v).to(dtype) for k, v in w.items()}
        self.dtype = dtype
        self.inv_freq = inv_freq(self.cfg)

    def logits(self, ids):
        c, w = self.cfg, self.w
        T = len(ids)
        H, KV, hd = c["heads"], c["kv_heads"], c["head_dim"]
        x = w["model.embed_tokens.weight"][torch.tensor(ids)]
        pos = torch.arange(T, dtype=torch.float64)
        freqs = pos[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(self.dtype), emb.sin().to(self.dtype)
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        for l in range(c["layers"]):
            p = f"model.layers.{l}."
            u = rms_norm(x, w[p + "input_layernorm.weight"], c["eps"])
            q = u @ w[p + "self_attn.q_proj.weight"].T
            k = u @ w[p + "self_attn.k_proj.weight"].T
            v = u @ w[p + "self_attn.v_proj.weight"].T
            if c["type"] == "qwen2":
                q = q + w[p + "self_attn.q_proj.bias"]
                k = k + w[p + "self_attn.k_proj.bias"]
                v = v + w[p + "self_attn.v_proj.bias"]
            q = q.view(T, H, hd).transpose(0, 1)  # H x T x hd
            k = k.view(T, KV, hd).transpose(0, 1)
            v = v.view(T, KV, hd).transpose(0, 1)
            if c["type"] == "qwen3":
                q = rms_norm(q, w[p + "self_attn.q_norm.weight"], c["eps"])
                k = rms_norm(k, w[p + "self_attn.k_norm.weight"], c["eps"])
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            rep = H // KV
            k = k.repeat_interleave(rep, dim=0)
            v = v.repeat_interleave(rep, dim=0)
            s = (q @ k.transpose(1, 2)) * (hd ** -0.5)
            s = s.masked_fill(mask, float("-inf"))
            a = torch.softmax(s, dim=-1) @ v  # H x T x hd
            a = a.transpose(0, 1).reshape(T, H * hd)
            x = x + a @ w[p + "self_attn.o_proj.weight"].T
            u = rms_norm(x, w[p + "post_attention_layernorm.weight"], c["eps"])
            g = torch.nn.functional.silu(u @ w[p + "mlp.gate_proj.weight"].T)
            x = x + (g * (u @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
        x = rms_norm(x, w["model.norm.weight"], c["eps"])
        head = w["model.embed_tokens.weight"] if c["tied"] else w["lm_head.weight"]
        return x @ head.T

    def token_logprobs(self, prompt, action):
        if not action:
            return []
        ids = list(prompt) + list(action[:-1])
        z = self.logits(ids)[len(prompt) - 1 :].to(torch.float64)
        lp = torch.log_softmax(z, dim=-1)
        return [float(lp[t, a]) for t, a in enumerate(action)]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model_dir, req_path = sys.argv[1], sys.argv[2]
    with open(req_path) as f:
        req = json.load(f)
    torch.set_num_threads(int(os.environ.get("GRADCOUPLE_TORCH_THREADS", "1")))
    results = {}
    for name in req.get("dtypes", ["float64"]):
        dtype = {"float64": torch.float64, "float32": torch.float32}[name]
        m = Model(model_dir, dtype)
        per = []
        with torch.no_grad():
            for s in req["seqs"]:
                per.append(m.token_logprobs(s["prompt"], s["action"]))
        results[name] = {"sums": [math.fsum(p) for p in per], "per_token": per}
    json.dump({"torch": torch.__version__, "results": results}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
