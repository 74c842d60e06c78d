#!/usr/bin/python3
"""Time NumPy's G @ G.T (float32, OpenBLAS) as the anchor for coupling.Gram.

Usage:
  gram.py --sizes 4096x16384,1024x4096 [--repeat 3]       random data
  gram.py --npy G.npy [--out K.npy] [--repeat 3]           the rows Go wrote

Prints one JSON object per size: n, d, seconds (best of --repeat), GFLOP/s
counted as 2 N^2 D (the GEMM convention; OpenBLAS's syrk, which NumPy calls
for G @ G.T, does about half of that, as coupling.Gram does), the OpenBLAS
kernel and thread count. Run with OPENBLAS_NUM_THREADS=2; for a benchmark
unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in that command only, e.g.
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 \
      /usr/bin/python3 scripts/numpy/gram.py --sizes 4096x16384
"""
import argparse
import ctypes
import glob
import json
import sys
import time

import numpy as np


def openblas_info():
    """Return (corename, threads, config) of the OpenBLAS NumPy loaded."""
    try:
        from threadpoolctl import threadpool_info
        for p in threadpool_info():
            if p.get("internal_api") == "openblas":
                return p.get("architecture"), p.get("num_threads"), p.get("version")
    except ImportError:
        pass
    with open("/proc/self/maps") as f:
        libs = sorted({l.split()[-1] for l in f if "openblas" in l and ".so" in l})
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            return (lib.openblas_get_corename().decode(), lib.openblas_get_num_threads(),
                    lib.openblas_get_config().decode())
        except (OSError, AttributeError):
            continue
    return None, None, None


def best(g, repeat):
    g @ g.T  # warm up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        k = g @ g.T
        times.append(time.perf_counter() - t)
    return min(times), k


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="")
    ap.add_argument("--npy")
    ap.add_argument("--out")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    core, threads, config = openblas_info()
    jobs = []
    if a.npy:
        jobs.append(np.load(a.npy))
    rng = np.random.default_rng(a.seed)
    for s in filter(None, a.sizes.split(",")):
        n, d = (int(x) for x in s.split("x"))
        jobs.append(rng.standard_normal((n, d), dtype=np.float32))
    for g in jobs:
        g = np.ascontiguousarray(g, dtype=np.float32)
        n, d = g.shape
        secs, k = best(g, a.repeat)
        if a.out and a.npy:
            np.save(a.out, k)
        print(json.dumps({"n": n, "d": d, "seconds": secs,
                          "gflops": 2.0 * n * n * d / secs / 1e9,
                          "numpy": np.__version__, "openblas_core": core,
                          "threads": threads, "openblas": config}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
