#!/usr/bin/python3
"""Forward throughput and peak memory of the PyTorch reference (hf_reference.py)
on a Hugging Face model directory, for policy/hf's anchor test.

Usage:
  /usr/bin/python3 scripts/torch/bench_hf.py MODEL_DIR PROMPT_LEN ACTION_LEN REPEATS

Builds the reference model in float32, scores one sequence of PROMPT_LEN random
prompt tokens and ACTION_LEN action tokens (seeded), timing the best of REPEATS
forward passes (after one warm-up), and prints one JSON object: seconds,
tokens_per_s, the summed action log-probability, the load time, peak RSS in
bytes (ru_maxrss), torch version and threads. Threads: GRADCOUPLE_TORCH_THREADS
(default: torch's own default).
"""

import json
import os
import resource
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference  # noqa: E402


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    d, P, A, R = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    if "GRADCOUPLE_TORCH_THREADS" in os.environ:
        torch.set_num_threads(int(os.environ["GRADCOUPLE_TORCH_THREADS"]))
    t0 = time.perf_counter()
    m = hf_reference.Model(d, torch.float32)
    load = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    V = m.cfg["vocab"]
    prompt = rng.integers(0, V, P).tolist()
    action = rng.integers(0, V, A).tolist()
    best = float("inf")
    lp = None
    with torch.no_grad():
        for i in range(R + 1):
            t = time.perf_counter()
            lp = sum(m.token_logprobs(prompt, action))
            if i > 0:
                best = min(best, time.perf_counter() - t)
    json.dump({
        "seconds": best,
        "tokens_per_s": (P + A) / best,
        "logprob": lp,
        "load_seconds": load,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "prompt": prompt,
        "action": action,
    }, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
