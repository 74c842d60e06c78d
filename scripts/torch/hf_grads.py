#!/usr/bin/python3
"""Per-sample gradients of the PyTorch reference (hf_reference.py) for policy/hf.

For each (prompt, action) sample, computes the summed action log-probability

  L = sum_t log softmax(z_{P-1+t})[a_t]      (z: logits of prompt ++ action[:-1])

with hf_reference.Model (the model code is imported, not copied) and its
gradient with respect to the named tensors by torch autograd, in each
requested dtype (the log-softmax in float64, as hf_reference does).

Names are Hugging Face names. With tie_word_embeddings, "lm_head.weight" is
the embedding through its output-projection use only and
"model.embed_tokens.weight" through its input use only: the head becomes a
separate leaf tensor sharing the embedding's storage, so autograd keeps the
two uses apart (their sum is the gradient of the tied matrix).

Usage:
  /usr/bin/python3 scripts/torch/hf_grads.py MODEL_DIR REQUEST.json

REQUEST.json:
  {"samples": [{"prompt": [ids], "action": [ids]}, ...],
   "tensors": [names],
   "dtypes": ["float64", "float32"],
   "sketch": {"top": 16, "random": 16, "projections": 4, "seed": 1},
   "out_dir": DIR}                                   (optional)

Prints {"torch": VERSION, "results": {dtype: {"logprobs": [...],
"grads": [{name: SKETCH}, ...]}}} on stdout, one grads entry per sample.
A SKETCH summarises a gradient g (flattened row-major, in float64):
  norm: |g|; sum: sum of g;
  proj: [<g, rho_k>] for k < projections, rho_k[i] = +1 or -1 by the top
        bit of splitmix64((k+1) * 2^32 + i) (policy/hf computes the same);
  index, value: g at the `top` coordinates of largest |g| (ties: lower
        index first) and at `random` coordinates drawn uniformly with
        numpy's default_rng(seed + sample * 1000 + tensor position).
With out_dir, every full gradient is also written as raw little-endian
float64 to out_dir/DTYPE/SAMPLE/NAME.f64.
"""

import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference  # noqa: E402



def splitmix64(x):
    """splitmix64 of a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def rademacher(k, n):
    """rho_k[0..n): +1 where the top bit of splitmix64((k+1) 2^32 + i) is 0, else -1."""
    x = np.uint64((k + 1) << 32) + np.arange(n, dtype=np.uint64)
    bit = (splitmix64(x) >> np.uint64(63)).astype(np.float64)
    return 1.0 - 2.0 * bit


def sketch(g, spec, seed):
    g = np.asarray(g, dtype=np.float64).ravel()
    n = g.size
    order = np.lexsort((np.arange(n), -np.abs(g)))  # |g| descending, then index
    top = order[: spec["top"]].tolist()
    rng = np.random.default_rng(seed)
    rand = rng.integers(0, n, spec["random"]).tolist()
    index = top + rand
    return {
        "norm": float(np.sqrt(np.dot(g, g))),
        "sum": math.fsum(g.tolist()),
        "proj": [float(np.dot(g, rademacher(k, n))) for k in range(spec["projections"])],
        "index": index,
        "value": [float(g[i]) for i in index],
    }


def grads(model_dir, dtype, samples, names):
    """Yields (logprob, {name: gradient as float64 numpy}) per sample."""
    m = hf_reference.Model(model_dir, dtype)
    if m.cfg["tied"]:
        m.cfg["tied"] = False
        m.w["lm_head.weight"] = m.w["model.embed_tokens.weight"].detach()
    for name in names:
        if name not in m.w:
            raise SystemExit(f"no tensor {name}")
    for s in samples:
        leaves = {}
        for name in names:
            leaf = m.w[name].detach().requires_grad_(True)
            m.w[name] = leaf
            leaves[name] = leaf
        prompt, action = s["prompt"], s["action"]
        P, A = len(prompt), len(action)
        ids = list(prompt) + list(action[:-1])
        z = m.logits(ids)[P - 1 :].to(torch.float64)
        lp = torch.log_softmax(z, dim=-1)[torch.arange(A), torch.tensor(action)].sum()
        lp.backward()
        out = {}
        for name, leaf in leaves.items():
            g = leaf.grad
            out[name] = np.zeros(tuple(leaf.shape)) if g is None else g.detach().to(torch.float64).numpy()
        yield float(lp), out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model_dir, req_path = sys.argv[1], sys.argv[2]
    with open(req_path) as f:
        req = json.load(f)
    torch.set_num_threads(int(os.environ.get("GRADCOUPLE_TORCH_THREADS", "1")))
    spec = {"top": 16, "random": 16, "projections": 4, "seed": 1}
    spec.update(req.get("sketch", {}))
    names = req["tensors"]
    results = {}
    for dname in req.get("dtypes", ["float64"]):
        dtype = {"float64": torch.float64, "float32": torch.float32}[dname]
        lps, sketches = [], []
        for si, (lp, gs) in enumerate(grads(model_dir, dtype, req["samples"], names)):
            lps.append(lp)
            sk = {}
            for ti, name in enumerate(names):
                sk[name] = sketch(gs[name], spec, spec["seed"] + si * 1000 + ti)
                if req.get("out_dir"):
                    d = os.path.join(req["out_dir"], dname, str(si))
                    os.makedirs(d, exist_ok=True)
                    gs[name].astype("<f8").tofile(os.path.join(d, name + ".f64"))
            sketches.append(sk)
        results[dname] = {"logprobs": lps, "grads": sketches}
    json.dump({"torch": torch.__version__, "results": results}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
