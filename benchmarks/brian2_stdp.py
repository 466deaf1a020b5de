"""Song-Abbott STDP (SIMULATION.md §4): neurosim vs Brian2 on IDENTICAL input spike trains.

Correctness comparison, not a timing benchmark. Run from the repository root with the neurosim
venv; it runs ``ns.sim.song_abbott_stdp`` (Poisson inputs drawn by neurosim), exports the input
spike trains, the initial weights and the initial V as .npz, runs Brian2's
``examples/synapses/STDP.py`` on them in the Brian2 venv (cpp_standalone, 1 thread; the
``PoissonGroup`` replaced by a ``SpikeGeneratorGroup`` with the same spikes) and compares the
final weight distributions (two-sample Kolmogorov-Smirnov distance of w / w_max; the issue's
acceptance point is KS < 0.05) and the output rates::

    .venv/bin/python benchmarks/brian2_stdp.py --seconds 100 --seed 1 \
        [--brian2-python benchmarks/.venv-brian2/bin/python] [--pairing nearest] [--out result.json]

Timing conventions: a neurosim spike of step ``m`` is reported at ``(m + 1) dt``; Brian2's
``PoissonGroup`` fires at ``t = m dt`` of the step it thresholds in, so the exported Brian2 times
are ``times_ms - dt``. Brian2 then adds the weight to ``ge`` in the same step (``on_pre``) and the
next step integrates it, as neurosim does. The Brian2 part is this file run with ``--brian NPZ``
(it needs only numpy and brian2; it writes its results next to the .npz).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def ks_distance(a, b) -> float:
    """Two-sample Kolmogorov-Smirnov statistic ``sup |F_a - F_b|``."""
    import numpy as np

    a, b = np.sort(np.asarray(a, dtype=float)), np.sort(np.asarray(b, dtype=float))
    x = np.concatenate([a, b])
    fa = np.searchsorted(a, x, side="right") / a.size
    fb = np.searchsorted(b, x, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


def summary(w_norm, post_times_ms, duration_ms) -> dict:
    import numpy as np

    w = np.asarray(w_norm, dtype=float)
    t = np.asarray(post_times_ms, dtype=float)
    win = min(10_000.0, duration_ms)
    return {"below_0.1": float(np.mean(w < 0.1)), "above_0.9": float(np.mean(w > 0.9)), "mean": float(w.mean()),
            "hist10": np.histogram(w, bins=10, range=(0.0, 1.0))[0].tolist(),
            "rate_first_hz": float(np.sum(t < win) / (win / 1000.0)),
            "rate_last_hz": float(np.sum(t >= duration_ms - win) / (win / 1000.0))}


# ------------------------------------------------------------------------------ Brian2 side
def run_brian(npz_path: str) -> None:
    """Brian2's STDP example on the exported inputs (runs in the Brian2 venv)."""
    import numpy as np
    from brian2 import (NeuronGroup, SpikeGeneratorGroup, SpikeMonitor, Synapses, defaultclock, device, ms, mV,
                        run, set_device)

    d = dict(np.load(npz_path))
    workdir = tempfile.mkdtemp(prefix="brian2-stdp-")
    set_device("cpp_standalone", directory=workdir)
    defaultclock.dt = float(d["dt_ms"]) * ms
    N = int(d["n_inputs"])
    taum, taupre, taupost = 10 * ms, 20 * ms, 20 * ms  # noqa: F841 (Brian2 reads the local namespace)
    Ee, vt, vr, El, taue = 0 * mV, -54 * mV, -60 * mV, -74 * mV, 5 * ms  # noqa: F841
    gmax = float(d["w_max"])
    dApre = 0.01
    dApost = -dApre * taupre / taupost * 1.05
    dApost *= gmax
    dApre *= gmax
    eqs_neurons = """
    dv/dt = (ge * (Ee-v) + El - v) / taum : volt
    dge/dt = -ge / taue : 1
    """
    inputs = SpikeGeneratorGroup(N, d["in_ids"], d["in_times_ms"] * ms)
    neurons = NeuronGroup(1, eqs_neurons, threshold="v>vt", reset="v = vr", method="euler")
    neurons.v = float(d["v0_mV"]) * mV
    nearest = str(d["pairing"]) == "nearest"
    op = "=" if nearest else "+="
    S = Synapses(inputs, neurons,
                 """w : 1
                    dApre/dt = -Apre / taupre : 1 (event-driven)
                    dApost/dt = -Apost / taupost : 1 (event-driven)""",
                 on_pre=f"""ge += w
                    Apre {op} dApre
                    w = clip(w + Apost, 0, gmax)""",
                 on_post=f"""Apost {op} dApost
                    w = clip(w + Apre, 0, gmax)""")
    S.connect(i=np.arange(N), j=0)
    S.w = d["w0"]
    mon = SpikeMonitor(neurons)
    t0 = time.perf_counter()
    run(float(d["duration_ms"]) * ms)
    out = {"w": np.asarray(S.w[:]) / gmax, "post_times_ms": np.asarray(mon.t / ms),
           "wall_s": time.perf_counter() - t0}
    np.savez(npz_path.replace(".npz", "_brian2.npz"), **out)
    device.delete(force=True)


# ------------------------------------------------------------------------------ neurosim side
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brian", metavar="NPZ", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=100.0, help="simulated seconds (published: 100)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pairing", default="all_to_all", choices=("all_to_all", "nearest"))
    ap.add_argument("--brian2-python", default=str(HERE / ".venv-brian2" / "bin" / "python"))
    ap.add_argument("--out", help="write the JSON result here too")
    args = ap.parse_args(argv)
    if args.brian:
        run_brian(args.brian)
        return

    import numpy as np

    import neurosim as ns

    duration = args.seconds * 1000.0
    net = ns.sim.song_abbott_stdp(rng=args.seed, pairing=args.pairing)
    syn = net.synapses[0]
    w0 = np.asarray(syn.weights, dtype=np.float64)
    t0 = time.perf_counter()
    net.run(duration, progress=False)
    ns_wall = time.perf_counter() - t0
    mon = net.monitors["spikes"]
    inputs, post = net.groups["inputs"], net.groups["post"]
    t_in, i_in = mon.local(inputs)
    t_post, _ = mon.local(post)
    w_ns = syn.weights / net.meta["w_max"]
    with tempfile.TemporaryDirectory(prefix="stdp-cmp-") as tmp:
        npz = os.path.join(tmp, "inputs.npz")
        np.savez(npz, in_ids=i_in.astype(np.int64), in_times_ms=t_in - net.dt, w0=w0, w_max=net.meta["w_max"],
                 n_inputs=inputs.n, dt_ms=net.dt, duration_ms=duration, v0_mV=0.0, pairing=args.pairing)
        res = subprocess.run([args.brian2_python, __file__, "--brian", npz], capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit(f"error: the Brian2 run failed:\n{res.stderr[-3000:]}")
        b = dict(np.load(npz.replace(".npz", "_brian2.npz")))
    out = {"seconds": args.seconds, "seed": args.seed, "pairing": args.pairing, "n_input_spikes": int(t_in.size),
           "ks_w": ks_distance(w_ns, b["w"]), "corr_w": float(np.corrcoef(w_ns, b["w"])[0, 1]),
           "neurosim": summary(w_ns, t_post, duration), "brian2": summary(b["w"], b["post_times_ms"], duration),
           "neurosim_wall_s": ns_wall, "brian2_wall_s": float(b["wall_s"])}
    n_same = min(t_post.size, b["post_times_ms"].size)
    diff = np.flatnonzero(np.abs(t_post[:n_same] - (b["post_times_ms"][:n_same] + net.dt)) > 1e-6)
    out["post_spikes_identical_until_ms"] = float(t_post[diff[0]]) if diff.size else float(duration)
    print(json.dumps(out))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
