"""Event-driven conv / linear kernels (``neurosim.kernels.event``) against PyTorch's dense ops, one thread.

The table of :mod:`neurosim.convert.event` (``dense time / event time``; the event path is chosen up to
``CONV_MAX_DENSITY`` / ``LINEAR_MAX_DENSITY``): random inputs with the given density of non-zeros
(values k/4, as 2x2-pooled spikes), float32, both on one thread (``torch.set_num_threads(1)``,
``run_blocks(..., threads=1)``), minimum of ``--repeats`` calls.

    python benchmarks/bench_event_layers.py
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from neurosim.kernels.blocks import run_blocks
from neurosim.kernels.event import LINEAR_ROWS, conv_weight, conv_work_size, event_conv2d, event_linear

LAYERS = [  # name, kind, shape args
    ("conv 3x3 s1, 32->64 ch, 14x14", "conv", dict(N=256, C=32, H=14, O=64, s=1)),
    ("conv 3x3 s1, 64->128 ch, 7x7", "conv", dict(N=256, C=64, H=7, O=128, s=1)),
    ("conv 3x3 s2, 32->64 ch, 16x16", "conv", dict(N=256, C=32, H=16, O=64, s=2)),
    ("linear 3136->256", "linear", dict(N=1024, K=3136, O=256)),
    ("linear 1024->128", "linear", dict(N=1024, K=1024, O=128)),
    ("linear 256->64", "linear", dict(N=4096, K=256, O=64)),
    ("linear 256->10", "linear", dict(N=4096, K=256, O=10)),
]


def tmin(f, repeats):
    f()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def ratio(kind, p, d, rng, repeats):
    if kind == "conv":
        N, C, H, O, s = p["N"], p["C"], p["H"], p["O"], p["s"]
        x = ((rng.random((N, C, H, H)) < d) * rng.choice([0.25, 0.5, 0.75, 1.0], (N, C, H, H))).astype(np.float32)
        w = rng.standard_normal((O, C, 3, 3)).astype(np.float32)
        b = rng.standard_normal(O).astype(np.float32)
        Ho = (H + 2 - 3) // s + 1
        out = np.empty((N, O, Ho, Ho), np.float32)
        wz, geom = conv_weight(w), np.array([3, 3, s, s, 1, 1], np.int64)
        ev = tmin(lambda: run_blocks(event_conv2d, N, conv_work_size(C, H, 3, 3, O, Ho), x, wz, b, out, geom,
                                     threads=1), repeats)
        tx, tw, tb = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
        de = tmin(lambda: F.conv2d(tx, tw, tb, stride=s, padding=1), repeats)
    else:
        N, K, O = p["N"], p["K"], p["O"]
        x = ((rng.random((N, K)) < d) * rng.choice([0.25, 0.5, 0.75, 1.0], (N, K))).astype(np.float32)
        w = rng.standard_normal((O, K)).astype(np.float32)
        b = rng.standard_normal(O).astype(np.float32)
        out = np.empty((N, O), np.float32)
        wt = np.ascontiguousarray(w.T)
        ev = tmin(lambda: run_blocks(event_linear, N, LINEAR_ROWS * K, x, wt, b, out, threads=1), repeats)
        tx, tw, tb = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
        de = tmin(lambda: F.linear(tx, tw, tb), repeats)
    return de / ev


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--densities", default="0.05,0.1,0.2,0.3,0.4,0.5")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ds = [float(d) for d in args.densities.split(",")]
    rng = np.random.default_rng(0)
    print("| layer | " + " | ".join(f"d={d:g}" for d in ds) + " |")
    print("|---|" + "---|" * len(ds))
    with torch.no_grad():
        for name, kind, p in LAYERS:
            r = [ratio(kind, p, d, rng, args.repeats) for d in ds]
            print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in r) + " |", flush=True)


if __name__ == "__main__":
    main()
