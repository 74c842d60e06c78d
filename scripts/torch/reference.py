#!/usr/bin/python3
"""Independent PyTorch reference for gradcouple's actor (DESIGN.md section 6).

Loads a gradcouple checkpoint directory (config.json in Hugging Face GPT2Config
form, model.safetensors with HF GPT-2 tensor names, vocab.json) into a GPT-2
written here from the specification in policy/doc.go -- no transformers, no
safetensors package: only torch, numpy and the standard library -- and, for
token-id pairs written by Go, computes

  * log pi(action | prompt) = sum_{t=0..A} log softmax(z_{P-1+t})[y_t], with
    y = action ++ [<eos>] (id 2), in float64 for the comparison;
  * per-sample gradients g_n = grad log pi(a_n | s_n), flattened in the
    documented parameter order, in float64 (a per-sample loop, and
    functorch's vmap(grad) when available), written as raw little-endian
    float64 to the file the request names;
  * timings in each dtype the request lists (float32, PyTorch's default, and
    float64) and at each thread count (torch.set_num_threads, and OpenBLAS's
    own thread count set to match through ctypes): forward tokens/s (the
    faster of a loop over sequences and one right-padded batch) and
    per-sample gradients/s (the faster of a per-sample autograd loop and
    vmap(grad) over right-padded chunks); the best per dtype is reported.

Usage (the Go test TorchAnchor in package policy writes the request):

  /usr/bin/python3 scripts/torch/reference.py CHECKPOINT_DIR REQUEST.json
  /usr/bin/python3 scripts/torch/reference.py --score CHECKPOINT_DIR LOG.jsonl [N]

The second form prints log pi(action | prompt) of the first N (10) step
records of a JSONL log, tokenizing the text itself: the numbers of
`gradcouple model score`.

REQUEST.json: {"seqs": [{"prompt": [ids], "action": [ids]}, ...],
               "compare": K, "grads_out": PATH, "repeats": R, "threads": [2, 1],
               "dtypes": ["float32", "float64"], "budget_seconds": B}
Each timing is the best of up to R runs, fewer (at least one) once its runs
have taken B seconds (no limit without budget_seconds).
The first K sequences are compared in float64; every sequence is timed.
Prints one JSON object on stdout: the values, "timings" {dtype: {threads:
{measure: rate}}}, "best" {dtype: {forward_tokens_per_s, forward_method,
grads_per_s, grads_method}}, "timing_seconds" (the time spent timing),
"min_runs" (the fewest runs of any timing), "once_seconds" (the time of
the first run of every timing),
"default_dtype" and "default_threads" (PyTorch's before the script set them)
and "blas" (the BLAS library that torch.matmul calls on CPU, e.g. "OpenBLAS
0.3.21 Cooperlake"; Debian's torch links libblas.so.3). The Go test runs
the script without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, as the NumPy
anchor does, so that OpenBLAS picks its own kernel.

Loading a checkpoint elsewhere: load_checkpoint(dir) returns (config,
{name: tensor}, vocab); logprob(params, cfg, prompt_ids, action_ids) gives
log pi. Text is tokenized by gradcouple's word rule (policy/doc.go,
Tokenization): lowercase, runs of a-z, runs of 0-9, any other non-space
character alone; a word not in vocab.json is <unk> (id 1).
"""

import ctypes
import json
import math
import os
import re
import struct
import sys
import time

import numpy as np
import torch

EOS = 2
LN_EPS = 1e-5

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16}


def read_safetensors(path):
    """Reads a safetensors file: {name: numpy array} (F32, F64, F16)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    buf = data[8 + n:]
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        arr = np.frombuffer(buf[begin:end], dtype=np.dtype(DTYPES[info["dtype"]]).newbyteorder("<"))
        out[name] = arr.reshape(info["shape"])
    return out


def param_names(cfg):
    """The flat parameter order (policy/doc.go, Parameters)."""
    names = ["transformer.wte.weight", "transformer.wpe.weight"]
    for l in range(cfg["n_layer"]):
        p = "transformer.h.%d." % l
        names += [p + s for s in ("ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
                                  "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
                                  "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias")]
    return names + ["transformer.ln_f.weight", "transformer.ln_f.bias"]


def load_checkpoint(d, dtype=torch.float64):
    """Returns (config, {name: tensor} in the flat order, vocab list)."""
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    assert cfg["model_type"] == "gpt2" and cfg["activation_function"] in ("gelu_new", "gelu_pytorch_tanh")
    assert cfg["tie_word_embeddings"] and cfg["scale_attn_weights"] and not cfg["scale_attn_by_inverse_layer_idx"]
    assert cfg["layer_norm_epsilon"] == LN_EPS
    tensors = read_safetensors(os.path.join(d, "model.safetensors"))
    tensors = {(k if k.startswith("transformer.") or k == "lm_head.weight" else "transformer." + k): v
               for k, v in tensors.items()}
    params = {name: torch.tensor(np.array(tensors[name], dtype=np.float64), dtype=dtype) for name in param_names(cfg)}
    with open(os.path.join(d, "vocab.json")) as f:
        vocab_map = json.load(f)
    vocab = [None] * len(vocab_map)
    for tok, i in vocab_map.items():
        vocab[i] = tok
    return cfg, params, vocab


def tokenize(text, vocab):
    """Token ids of text by gradcouple's word rule; unknown words are <unk> (1)."""
    ids = {t: i for i, t in enumerate(vocab)}
    return [ids.get(t, 1) for t in re.findall(r"[a-z]+|[0-9]+|\S", text.lower())]


def layer_norm(x, w, b):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)  # biased variance
    return (x - mean) / torch.sqrt(var + LN_EPS) * w + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


def hidden(P, cfg, toks):
    """Output of the last block (before ln_f) for token ids toks [B, T]."""
    B, T = toks.shape
    d, H = cfg["n_embd"], cfg["n_head"]
    hd = d // H
    h = P["transformer.wte.weight"][toks] + P["transformer.wpe.weight"][:T]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(cfg["n_layer"]):
        p = "transformer.h.%d." % l
        u = layer_norm(h, P[p + "ln_1.weight"], P[p + "ln_1.bias"])
        qkv = u @ P[p + "attn.c_attn.weight"] + P[p + "attn.c_attn.bias"]  # Conv1D: x @ W, W [in, out]
        q, k, v = qkv.split(d, dim=-1)
        q = q.reshape(B, T, H, hd).transpose(1, 2)
        k = k.reshape(B, T, H, hd).transpose(1, 2)
        v = v.reshape(B, T, H, hd).transpose(1, 2)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(~causal, float("-inf"))
        o = torch.softmax(s, dim=-1) @ v
        o = o.transpose(1, 2).reshape(B, T, d)
        h = h + o @ P[p + "attn.c_proj.weight"] + P[p + "attn.c_proj.bias"]
        u = layer_norm(h, P[p + "ln_2.weight"], P[p + "ln_2.bias"])
        m = gelu_tanh(u @ P[p + "mlp.c_fc.weight"] + P[p + "mlp.c_fc.bias"])
        h = h + m @ P[p + "mlp.c_proj.weight"] + P[p + "mlp.c_proj.bias"]
    return h


def seq_logprob(P, cfg, toks, pos, tgt, mask):
    """sum_i mask_i log softmax(z_{pos_i})[tgt_i] for each row of a batch:
    toks [B, T], pos/tgt/mask [B, K]. Logits only where they are needed."""
    h = hidden(P, cfg, toks)
    hp = torch.gather(h, 1, pos.unsqueeze(-1).expand(-1, -1, h.shape[-1]))  # [B, K, d]
    z = layer_norm(hp, P["transformer.ln_f.weight"], P["transformer.ln_f.bias"]) @ P["transformer.wte.weight"].T
    lp = torch.log_softmax(z, dim=-1).gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
    return (lp * mask).sum(-1)


def targets(prompt, action):
    """Input ids, logit positions and targets of one pair."""
    toks = list(prompt) + list(action)
    P, A = len(prompt), len(action)
    pos = [P - 1 + t for t in range(A + 1)]
    tgt = list(action) + [EOS]
    return toks, pos, tgt


def batch(seqs):
    """Right-padded batch: causal attention makes padding after a sequence
    irrelevant to its log-probs and gradients (the pad positions are never
    read by a real position, and masked targets contribute 0)."""
    items = [targets(s["prompt"], s["action"]) for s in seqs]
    T = max(len(t) for t, _, _ in items)
    K = max(len(p) for _, p, _ in items)
    B = len(items)
    toks = torch.zeros(B, T, dtype=torch.long)
    pos = torch.zeros(B, K, dtype=torch.long)
    tgt = torch.zeros(B, K, dtype=torch.long)
    mask = torch.zeros(B, K)
    for i, (t, p, y) in enumerate(items):
        toks[i, :len(t)] = torch.tensor(t)
        pos[i, :len(p)] = torch.tensor(p)
        tgt[i, :len(y)] = torch.tensor(y)
        mask[i, :len(p)] = 1
    return toks, pos, tgt, mask


def single(s):
    t, p, y = targets(s["prompt"], s["action"])
    return (torch.tensor([t]), torch.tensor([p]), torch.tensor([y]), torch.ones(1, len(p)))


def logprob(P, cfg, prompt, action):
    """log pi(action | prompt) of one pair of token-id lists."""
    toks, pos, tgt, mask = single({"prompt": prompt, "action": action})
    with torch.no_grad():
        return float(seq_logprob(P, cfg, toks, pos, tgt, mask.to(P["transformer.wte.weight"].dtype))[0])


def grads_loop(P, cfg, seqs, names):
    """Per-sample gradients by one forward and backward per sequence: [N, D]."""
    leaves = {n: P[n].detach().clone().requires_grad_(True) for n in names}
    params = [leaves[n] for n in names]
    dtype = params[0].dtype
    D = sum(p.numel() for p in params)
    out = torch.empty(len(seqs), D, dtype=dtype)
    for i, s in enumerate(seqs):
        toks, pos, tgt, mask = single(s)
        lp = seq_logprob(leaves, cfg, toks, pos, tgt, mask.to(dtype)).sum()
        gs = torch.autograd.grad(lp, params)
        off = 0
        for g in gs:
            out[i, off:off + g.numel()] = g.reshape(-1)
            off += g.numel()
    return out


def functorch_api():
    try:
        from torch.func import grad, vmap  # torch >= 2.0
        return grad, vmap, "torch.func"
    except ImportError:
        pass
    try:
        from functorch import grad, vmap  # torch 1.13
        return grad, vmap, "functorch"
    except ImportError:
        return None, None, None


def grads_vmap(P, cfg, seqs, names, chunk=16):
    """Per-sample gradients by vmap(grad) over right-padded chunks: [N, D]."""
    grad, vmap, _ = functorch_api()
    params = {n: P[n].detach() for n in names}
    dtype = params[names[0]].dtype

    def one(ps, toks, pos, tgt, mask):
        return seq_logprob(ps, cfg, toks.unsqueeze(0), pos.unsqueeze(0), tgt.unsqueeze(0), mask.unsqueeze(0)).sum()

    per_sample = vmap(grad(one), in_dims=(None, 0, 0, 0, 0))
    D = sum(p.numel() for p in params.values())
    out = torch.empty(len(seqs), D, dtype=dtype)
    for lo in range(0, len(seqs), chunk):
        toks, pos, tgt, mask = batch(seqs[lo:lo + chunk])
        gs = per_sample(params, toks, pos, tgt, mask.to(dtype))
        off = 0
        for n in names:
            g = gs[n]
            out[lo:lo + g.shape[0], off:off + g[0].numel()] = g.reshape(g.shape[0], -1)
            off += g[0].numel()
    return out


def forward_loop(P, cfg, seqs):
    dtype = P["transformer.wte.weight"].dtype
    out = []
    with torch.no_grad():
        for s in seqs:
            toks, pos, tgt, mask = single(s)
            out.append(seq_logprob(P, cfg, toks, pos, tgt, mask.to(dtype)))
    return torch.cat(out)


def forward_batched(P, cfg, seqs):
    with torch.no_grad():
        toks, pos, tgt, mask = batch(seqs)
        return seq_logprob(P, cfg, toks, pos, tgt, mask.to(P["transformer.wte.weight"].dtype))


def _openblas(lib):
    """(config, corename, set_num_threads) of an OpenBLAS library, or None."""
    for suffix in ("", "64_"):
        try:
            config = getattr(lib, "openblas_get_config" + suffix)
            core = getattr(lib, "openblas_get_corename" + suffix)
            setter = getattr(lib, "openblas_set_num_threads" + suffix)
        except AttributeError:
            continue
        config.restype = core.restype = ctypes.c_char_p
        return config().decode(), core().decode(), setter
    return None


def blas_library():
    """(name, set_threads) of the BLAS library mapped into this process: a
    libblas first (what Debian's torch links through update-alternatives),
    then any OpenBLAS. name is e.g. "OpenBLAS 0.3.21 Cooperlake" or
    "reference BLAS"; set_threads(n) sets OpenBLAS's thread count, or does
    nothing."""
    try:
        with open("/proc/self/maps") as f:
            mapped = {l.split()[-1] for l in f if ".so" in l}
    except OSError:
        return "unknown", lambda n: None
    def first(path):
        return (0 if path.rsplit("/", 1)[-1].startswith(("libblas.", "libcblas.")) else 1, path)
    for path in sorted((p for p in mapped if "blas" in p.rsplit("/", 1)[-1]), key=first):
        try:
            ob = _openblas(ctypes.CDLL(path))
        except OSError:
            continue
        if ob:
            config, core, setter = ob
            return "%s %s" % (" ".join(config.split()[:2]), core), lambda n: setter(n)
        if first(path)[0] == 0:
            parent = path.rsplit("/", 2)[-2]
            return ("reference BLAS" if parent == "blas" else parent), lambda n: None
    return "unknown", lambda n: None


RUNS, FIRST = [], []  # the number of runs of each best_time, and its first run's seconds


def best_time(fn, repeats, budget=None):
    """The shortest of repeats runs (the first one warms up), fewer (at
    least one) once the runs have taken budget seconds."""
    best, spent, runs = float("inf"), 0.0, 0
    while runs < repeats and (runs == 0 or budget is None or spent < budget):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        if runs == 0:
            FIRST.append(dt)
        best, spent, runs = min(best, dt), spent + dt, runs + 1
    RUNS.append(runs)
    return best


def max_rel(a, b):
    """Largest |a-b| / |b| over entries (for log-probs)."""
    return float(((a - b).abs() / b.abs().clamp_min(1e-300)).max())


def timings(P, cfg, seqs, names, repeats, grad_api, budget=None):
    """Throughputs of the model P (float32 or float64) at the current
    thread count, each the best of up to repeats runs within budget
    seconds (see best_time)."""
    tokens = sum(len(s["prompt"]) + len(s["action"]) for s in seqs)
    r = {}
    r["forward_loop_tokens_per_s"] = tokens / best_time(lambda: forward_loop(P, cfg, seqs), repeats, budget)
    r["forward_batched_tokens_per_s"] = tokens / best_time(lambda: forward_batched(P, cfg, seqs), repeats, budget)
    r["grads_loop_per_s"] = len(seqs) / best_time(lambda: grads_loop(P, cfg, seqs, names), repeats, budget)
    if grad_api:
        r["grads_vmap_per_s"] = len(seqs) / best_time(lambda: grads_vmap(P, cfg, seqs, names), repeats, budget)
    return r


def score_log(ckpt, path, limit):
    """Prints log pi(action | prompt) for the first step records of a JSONL
    log (what `gradcouple model score` prints), in float64."""
    cfg, P, vocab = load_checkpoint(ckpt, torch.float64)
    with open(path) as f:
        for i, line in enumerate(l for l in f if l.strip()):
            if i == limit:
                break
            r = json.loads(line)
            prompt, action = tokenize(r["prompt"], vocab), tokenize(r["action"], vocab)
            print("%-30s %10.4f" % (r["action"], logprob(P, cfg, prompt, action)))


def main():
    if sys.argv[1] == "--score":
        score_log(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 10)
        return
    ckpt, req_path = sys.argv[1], sys.argv[2]
    with open(req_path) as f:
        req = json.load(f)
    threads = req.get("threads", [2])
    dtypes = req.get("dtypes", ["float32"])
    default_threads, default_dtype = torch.get_num_threads(), str(torch.get_default_dtype()).replace("torch.", "")
    blas, set_blas_threads = blas_library()
    torch.set_num_threads(threads[0])
    set_blas_threads(threads[0])
    cfg, P64, _ = load_checkpoint(ckpt, torch.float64)
    names = param_names(cfg)
    seqs = req["seqs"]
    K = min(req.get("compare", 8), len(seqs))
    repeats = req.get("repeats", 3)
    grad_api = functorch_api()[2]

    # float64 values for the comparison.
    lp64 = forward_loop(P64, cfg, seqs[:K])
    lp64_batched = forward_batched(P64, cfg, seqs[:K])
    g64 = grads_loop(P64, cfg, seqs[:K], names)
    res = {
        "torch": torch.__version__,
        "functorch": grad_api,
        "blas": blas,
        "default_threads": default_threads,
        "default_dtype": default_dtype,
        "n": len(seqs),
        "tokens": sum(len(s["prompt"]) + len(s["action"]) for s in seqs),
        "params": int(g64.shape[1]),
        "compare": K,
        "logprobs": lp64.tolist(),
        "batched_vs_loop_logprob_rel": max_rel(lp64_batched, lp64),
    }
    if grad_api:
        gv = grads_vmap(P64, cfg, seqs[:K], names)
        res["vmap_vs_loop_grad_rel"] = float((gv - g64).abs().max() / g64.abs().max())
    with open(req["grads_out"], "wb") as f:
        f.write(g64.numpy().astype("<f8").tobytes())

    # Timings in each dtype at each thread count; the best per dtype.
    res["timings"], res["best"] = {}, {}
    t0 = time.perf_counter()
    for dt in dtypes:
        P = {n: t.to(getattr(torch, dt)) for n, t in P64.items()}
        res["timings"][dt] = {}
        best = res["best"][dt] = {"forward_tokens_per_s": 0.0, "grads_per_s": 0.0}
        for th in threads:
            torch.set_num_threads(th)
            set_blas_threads(th)
            r = timings(P, cfg, seqs, names, repeats, grad_api, req.get("budget_seconds"))
            res["timings"][dt][str(th)] = r
            for key, rate, how in (("forward_loop_tokens_per_s", "forward_tokens_per_s", "forward_method"),
                                   ("forward_batched_tokens_per_s", "forward_tokens_per_s", "forward_method"),
                                   ("grads_loop_per_s", "grads_per_s", "grads_method"),
                                   ("grads_vmap_per_s", "grads_per_s", "grads_method")):
                if key in r and r[key] > best[rate]:
                    best[rate] = r[key]
                    best[how] = "%s, %d thread%s" % (key.split("_")[1], th, "" if th == 1 else "s")
    res["timing_seconds"] = time.perf_counter() - t0
    res["min_runs"] = min(RUNS) if RUNS else 0
    res["once_seconds"] = sum(FIRST)
    json.dump(res, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
