#!/usr/bin/python3
"""Time NumPy's G @ G.T (float32, OpenBLAS) as the anchor for coupling.Gram.

Usage:
  gram.py --sizes 4096x16384,1024x4096 [--repeat 3]       random data
  gram.py --npy G.npy [--out K.npy] [--repeat 3]           the rows Go wrote

Prints one JSON object per size: n, d, seconds (best of --repeat), GFLOP/s
counted as 2 N^2 D (the GEMM convention; OpenBLAS's syrk, which NumPy calls
for G @ G.T, does about half of that, as coupling.Gram does), the BLAS
library that ran it (name and version, OpenBLAS's kernel and thread count).
Run with OPENBLAS_NUM_THREADS=2; for a benchmark unset OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE in that command only, e.g.
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 \
      /usr/bin/python3 scripts/numpy/gram.py --sizes 4096x16384
OPENBLAS_CORETYPE=Haswell forces the AVX2 kernels: on a 2-core AVX-512 AMD
EPYC, where OpenBLAS 0.3.21 picks Cooperlake (AVX-512) by itself, it cut
4096x16384 from about 650 to 400 GFLOP/s; OPENBLAS_L2_SIZE=512 made no
measurable difference.
"""
import argparse
import ctypes
import glob
import json
import sys
import time

import numpy as np


def _symbol(lib, name):
    """lib.name, or lib.name64_ (the ILP64 OpenBLAS of NumPy's wheels)."""
    for n in (name, name + "64_"):
        try:
            return getattr(lib, n)
        except AttributeError:
            continue
    return None


def blas_info():
    """Describe the BLAS library NumPy calls: a dict with "blas" (name and
    version, e.g. "OpenBLAS 0.3.21", or "reference BLAS"), "core" (the kernel
    OpenBLAS chose for this CPU, e.g. "Cooperlake"; "" if not OpenBLAS),
    "threads", "path" (the library file) and, for OpenBLAS, "config" (its
    build string).

    Debian's NumPy links libblas.so.3, which update-alternatives points at
    OpenBLAS, BLIS or the reference BLAS, so numpy.show_config() cannot say
    which one runs. The libraries mapped into this process can: a libblas or
    libcblas first (what NumPy links; OpenBLAS may be mapped as well, for
    LAPACK, without doing the products), then any OpenBLAS (NumPy's wheels
    link it directly). OpenBLAS is asked through ctypes (openblas_get_config,
    openblas_get_corename, openblas_get_num_threads). Without /proc/self/maps
    (not Linux), threadpoolctl answers if installed."""
    try:
        with open("/proc/self/maps") as f:
            mapped = {l.split()[-1] for l in f if ".so" in l}
    except OSError:
        mapped = set()
    def rank(path):
        base = path.rsplit("/", 1)[-1]
        return (0 if base.startswith(("libblas.", "libcblas.")) else 1, path)
    libs = sorted((p for p in mapped if any(k in p.rsplit("/", 1)[-1] for k in ("blas", "mkl_rt"))), key=rank)
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        config, core, threads = (_symbol(lib, n) for n in (
            "openblas_get_config", "openblas_get_corename", "openblas_get_num_threads"))
        if config and core and threads:
            config.restype = core.restype = ctypes.c_char_p
            c = config().decode()
            return {"blas": " ".join(c.split()[:2]), "core": core().decode(), "threads": threads(),
                    "config": c, "path": path}
        if rank(path)[0] == 0 or "mkl" in path:
            parent = path.rsplit("/", 2)[-2]
            name = "reference BLAS" if parent == "blas" else parent
            return {"blas": name, "core": "", "threads": 1 if parent == "blas" else 0, "path": path}
    try:
        from threadpoolctl import threadpool_info
        for p in threadpool_info():
            if p.get("user_api") == "blas":
                return {"blas": "%s %s" % ({"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS"}.get(
                            p.get("internal_api"), p.get("internal_api")), p.get("version")),
                        "core": p.get("architecture") or "", "threads": p.get("num_threads") or 0,
                        "path": p.get("filepath", "")}
    except ImportError:
        pass
    return {"blas": "unknown", "core": "", "threads": 0}


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
    blas = blas_info()
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
                          "numpy": np.__version__, "blas": blas["blas"],
                          "openblas_core": blas["core"], "threads": blas["threads"],
                          "blas_path": blas.get("path", ""),
                          "openblas": blas.get("config", "")}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
