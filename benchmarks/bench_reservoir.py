"""Reservoir steps per second: neurosim vs reservoirpy in one run.

Rate reservoirs of the same size, density 0.1 and one scalar input, run for ``T`` steps:
``neurosim.reservoir.EIReservoir`` (sigmoid, E/I split, Numba CSR kernel) vs
``reservoirpy.nodes.Reservoir`` (tanh, scipy sparse). Also the LSM (spiking, batched
Numba kernel, no peer) in sample-steps/s. Medians of ``--repeats`` runs after one warm-up.

    python benchmarks/bench_reservoir.py --sizes 200 1000 --steps 5000 --repeats 3
"""
from __future__ import annotations

import argparse
import platform
import time

import numpy as np

import neurosim.reservoir as R


def _median_time(fn, repeats):
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 1000])
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    u = np.random.default_rng(0).uniform(-1, 1, (args.steps, 1))
    rows = []
    try:
        import reservoirpy
        from reservoirpy.nodes import Reservoir
        rpy_version = reservoirpy.__version__
    except ImportError:  # pragma: no cover
        Reservoir, rpy_version = None, None
    for n in args.sizes:
        ours = R.EIReservoir(n, density=0.1, rng=0).initialize(1)
        t_ours = _median_time(lambda: ours.run(u, reset=True), args.repeats)
        t_peer = float("nan")
        if Reservoir is not None:
            peer = Reservoir(n, sr=0.9, rc_connectivity=0.1, input_connectivity=1.0, seed=0)
            peer.run(u[:10])
            t_peer = _median_time(lambda: peer.run(u), args.repeats)
        rows.append((f"rate reservoir N={n}", args.steps / t_ours, args.steps / t_peer))
    lsm = R.LSM(500, density=0.1, input_density=0.1, input_scale=2.0, rec_scale=0.5, rng=0)
    x = (np.random.default_rng(1).random((256, 30, 784)) < 0.13).astype(np.uint8)
    t_lsm = _median_time(lambda: lsm.spikes(x), args.repeats)
    rows.append(("LSM N=500, 784 inputs (sample-steps/s, batch 256 x T 30)", 256 * 30 / t_lsm, float("nan")))
    print(f"python {platform.python_version()}, reservoirpy {rpy_version}, T={args.steps}, repeats={args.repeats}")
    print("| workload | neurosim steps/s | reservoirpy steps/s | ratio |")
    print("|---|---|---|---|")
    for name, a, b in rows:
        ratio = f"{a / b:.2f}x" if np.isfinite(b) else "-"
        peer = f"{b:,.0f}" if np.isfinite(b) else "-"
        print(f"| {name} | {a:,.0f} | {peer} | {ratio} |")


if __name__ == "__main__":
    main()
