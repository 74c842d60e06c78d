#!/usr/bin/python3
"""Bergson's Rademacher projection matrices, computed with NumPy exactly as
EleutherAI Bergson v0.26 computes them (bergson/collector/collector.py,
create_projection_matrix, projection_type "rademacher", projection_scale
"jl"), as the reference for coupling.BergsonMatrix:

  seed = int.from_bytes(md5(f"{name}/{side}").digest(), "big") % (2**63 - 1)
  rng  = numpy.random.Generator(numpy.random.PCG64(seed))
  A    = unpackbits(rng.bytes((m*n + 7)//8))[:m*n].reshape(m, n)  -> float32
  A    = ((A - 0.5) * 2) / float32(sqrt(m))

(Bergson moves A to torch before the last two steps; in float32 on the CPU
they are the same IEEE operations.)

Usage: bergson_projection.py REQUEST.json, REQUEST a JSON list of
{"module", "side", "m", "n"}. Prints a JSON list with, for each, the seed,
the SHA-256 of the matrix's little-endian float32 bytes and its first 16
entries.
"""

import hashlib
import json
import math
import sys

import numpy as np


def matrix(module, side, m, n):
    seed = int.from_bytes(hashlib.md5(f"{module}/{side}".encode()).digest(), "big") % (2**63 - 1)
    rng = np.random.Generator(np.random.PCG64(seed))
    raw = np.frombuffer(rng.bytes((m * n + 7) // 8), dtype=np.uint8)
    a = np.unpackbits(raw)[: m * n].reshape((m, n)).astype(np.float32)
    a = (a - np.float32(0.5)) * np.float32(2)
    return seed, a / np.float32(math.sqrt(m))


def main():
    with open(sys.argv[1]) as f:
        req = json.load(f)
    out = []
    for r in req:
        seed, a = matrix(r["module"], r["side"], r["m"], r["n"])
        b = a.astype("<f4").tobytes()
        out.append({"module": r["module"], "side": r["side"], "m": r["m"], "n": r["n"], "seed": seed,
                    "sha256": hashlib.sha256(b).hexdigest(), "first": [float(x) for x in a.ravel()[:16]]})
    json.dump({"numpy": np.__version__, "matrices": out}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
