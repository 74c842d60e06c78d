#!/usr/bin/python3
"""Per-sample gradient throughput and peak memory of the PyTorch reference
(hf_reference.py's model, torch autograd) for policy/hf's gradient anchor.

Usage:
  /usr/bin/python3 scripts/torch/bench_hf_grads.py MODEL_DIR PROMPT_LEN ACTION_LEN GROUP GLOB...

Builds the reference model in float32 and draws (seeded) one prompt of
PROMPT_LEN tokens and GROUP actions of ACTION_LEN tokens. Each sample is the
gradient of its summed action log-probability with respect to the tensors
named by the globs (fnmatch on Hugging Face names, also matching module
prefixes, as policy/hf.SelectTensors does; with tie_word_embeddings
"lm_head.weight" is the embedding's output use, a separate leaf sharing its
storage, as in hf_grads.py). Only the selected tensors require gradients, so
autograd keeps activations from the lowest selected layer up, as a PyTorch
user would set it up; the reference has no key-value cache, so each sample
runs its whole sequence forward and backward (nothing is shared across a
group). The LM head is applied at the scored positions only (transformers'
logits_to_keep), by slicing the final norm's input.

After one warm-up sample it times the GROUP samples and prints one JSON
object: seconds per sample (mean), the log-probabilities, the norm of each
selected gradient of the first sample, load time, peak RSS in bytes
(ru_maxrss), torch version and threads, and the drawn ids. Threads:
GRADCOUPLE_TORCH_THREADS (default: torch's own default).
"""

import fnmatch
import json
import os
import resource
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference  # noqa: E402


def matches(glob, name):
    parts = name.split(".")
    return any(fnmatch.fnmatchcase(".".join(parts[:i]), glob) for i in range(len(parts), 0, -1))


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    d, P, A, G = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    globs = sys.argv[5:]
    if "GRADCOUPLE_TORCH_THREADS" in os.environ:
        torch.set_num_threads(int(os.environ["GRADCOUPLE_TORCH_THREADS"]))
    t0 = time.perf_counter()
    m = hf_reference.Model(d, torch.float32)
    load = time.perf_counter() - t0
    if m.cfg["tied"]:
        m.cfg["tied"] = False
        m.w["lm_head.weight"] = m.w["model.embed_tokens.weight"].detach()
    names = [n for n in m.w if any(matches(g, n) for g in globs)]
    if not names:
        sys.exit(f"no tensor matches {globs}")
    keep = [None]
    rms_norm = hf_reference.rms_norm

    def sliced_norm(x, w, eps):
        if w is m.w["model.norm.weight"] and keep[0] is not None:
            x = x[keep[0]:]
        return rms_norm(x, w, eps)

    hf_reference.rms_norm = sliced_norm
    rng = np.random.default_rng(1)
    V = m.cfg["vocab"]
    prompt = rng.integers(0, V, P).tolist()
    actions = [rng.integers(0, V, A).tolist() for _ in range(G + 1)]

    def sample(action):
        for n in names:
            m.w[n] = m.w[n].detach().requires_grad_(True)
        keep[0] = P - 1
        z = m.logits(prompt + action[:-1]).to(torch.float64)
        lp = torch.log_softmax(z, dim=-1)[torch.arange(A), torch.tensor(action)].sum()
        lp.backward()
        return float(lp), {n: m.w[n].grad for n in names}

    sample(actions[G])  # warm-up
    lps, norms = [], {}
    t = time.perf_counter()
    for i in range(G):
        lp, g = sample(actions[i])
        lps.append(lp)
        if i == 0:
            norms = {n: float(v.double().norm()) for n, v in g.items()}
        del g
    sec = (time.perf_counter() - t) / G
    json.dump({
        "seconds_per_sample": sec,
        "logprobs": lps,
        "norms": norms,
        "load_seconds": load,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "prompt": prompt,
        "actions": actions[:G],
    }, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
