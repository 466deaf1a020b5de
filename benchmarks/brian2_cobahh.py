"""COBAHH (Brette et al. 2007 benchmark 3) in neurosim and in Brian2 on the same network realisation.

Run from the repository root with the project's Python (it calls the Brian2 venv itself)::

    python benchmarks/brian2_cobahh.py --seeds 1 2 3 [--neurons 4000] [--duration-ms 1000]

For each seed it builds ``ns.sim.cobahh(n_neurons, rng=seed)`` in float64, exports the
realisation (synapses as global pre/post ids and channel, initial V, g_e, g_i; m = h = n = 0)
to an ``.npz``, simulates it with neurosim, then runs Brian2's ``examples/COBAHH.py`` model
(the rates written with ``exprel``, ``method="exponential_euler"``, ``threshold="v > -20*mV"``,
``refractory=3*ms``, dt 0.1 ms) under ``cpp_standalone`` with exactly those synapses and that
initial state, and prints one JSON line per seed with both mean rates (Hz) and their relative
difference. Acceptance (issue 17): within 5 %. This is a correctness run, not a timing benchmark.

The Brian2 side runs in the Brian2 venv (``benchmarks/.venv-brian2``, made by
``setup_brian2_venv.sh``; ``--brian2-python`` names another interpreter): the same file with
``--brian2 NETWORK.npz``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def export(seed: int, n: int, path: str, duration_ms: float) -> dict:
    """Build the neurosim network, save its realisation to ``path``, simulate it; returns its numbers."""
    import numpy as np

    import neurosim as ns

    net = ns.sim.cobahh(n_neurons=n, rng=seed, dtype=np.float64)
    groups = list(net.groups.values())
    pre = np.concatenate([sg.pre.astype(np.int64) + sg.pre_group.start for sg in net.synapses])
    post = np.concatenate([sg.post.astype(np.int64) + sg.post_group.start for sg in net.synapses])
    channel = np.concatenate([np.full(sg.pre.size, sg.channel) for sg in net.synapses])
    init = {k: np.concatenate([g.init[k] for g in groups]) for k in ("v", "m", "h", "n", "ge", "gi")}
    assert all(np.all(init[k] == 0) for k in ("m", "h", "n"))
    np.savez(path, n=n, pre=pre, post=post, channel=channel, v0=init["v"], ge0=init["ge"], gi0=init["gi"],
             duration_ms=duration_ms)
    t0 = time.perf_counter()
    net.run(duration_ms, progress=False)
    wall = time.perf_counter() - t0
    ids = net.monitors["spikes"].ids
    return {"rate_hz": ids.size / n / (duration_ms / 1000.0), "n_synapses": int(pre.size), "wall_s": wall,
            "timing": net.timing}


def run_brian2(path: str, threads: int = 1) -> dict:
    """Brian2 cpp_standalone on the exported realisation (run inside the Brian2 venv)."""
    import numpy as np
    from brian2 import (NeuronGroup, Network, SpikeMonitor, Synapses, cm, defaultclock, device, ms, msiemens, mV, nS,
                        prefs, set_device, siemens, ufarad, umetre)

    d = dict(np.load(path))
    n = int(d["n"])
    workdir = tempfile.mkdtemp(prefix="brian2-cobahh-")
    set_device("cpp_standalone", build_on_run=False, directory=workdir)
    if threads > 1:
        prefs.devices.cpp_standalone.openmp_threads = threads
    defaultclock.dt = 0.1 * ms
    area = 20000 * umetre ** 2
    ns_ = dict(Cm=(1 * ufarad * cm ** -2) * area, gl=(5e-5 * siemens * cm ** -2) * area, El=-60 * mV, EK=-90 * mV,
               ENa=50 * mV, g_na=(100 * msiemens * cm ** -2) * area, g_kd=(30 * msiemens * cm ** -2) * area,
               VT=-63 * mV, taue=5 * ms, taui=10 * ms, Ee=0 * mV, Ei=-80 * mV, we=6 * nS, wi=67 * nS)
    eqs = """
    dv/dt = (gl*(El-v)+ge*(Ee-v)+gi*(Ei-v)-g_na*(m*m*m)*h*(v-ENa)-g_kd*(n*n*n*n)*(v-EK))/Cm : volt
    dm/dt = alpha_m*(1-m)-beta_m*m : 1
    dn/dt = alpha_n*(1-n)-beta_n*n : 1
    dh/dt = alpha_h*(1-h)-beta_h*h : 1
    dge/dt = -ge*(1./taue) : siemens
    dgi/dt = -gi*(1./taui) : siemens
    alpha_m = 0.32*(mV**-1)*4*mV/exprel((13*mV-v+VT)/(4*mV))/ms : Hz
    beta_m = 0.28*(mV**-1)*5*mV/exprel((v-VT-40*mV)/(5*mV))/ms : Hz
    alpha_h = 0.128*exp((17*mV-v+VT)/(18*mV))/ms : Hz
    beta_h = 4./(1+exp((40*mV-v+VT)/(5*mV)))/ms : Hz
    alpha_n = 0.032*(mV**-1)*5*mV/exprel((15*mV-v+VT)/(5*mV))/ms : Hz
    beta_n = .5*exp((10*mV-v+VT)/(40*mV))/ms : Hz
    """
    P = NeuronGroup(n, eqs, threshold="v>-20*mV", refractory=3 * ms, method="exponential_euler", namespace=ns_)
    P.v = d["v0"] * mV
    P.ge = d["ge0"] * nS
    P.gi = d["gi0"] * nS
    Ce = Synapses(P, P, on_pre="ge+=we", namespace=ns_)
    Ci = Synapses(P, P, on_pre="gi+=wi", namespace=ns_)
    exc = d["channel"] == 0
    Ce.connect(i=d["pre"][exc], j=d["post"][exc])
    Ci.connect(i=d["pre"][~exc], j=d["post"][~exc])
    mon = SpikeMonitor(P)
    net = Network(P, Ce, Ci, mon)
    net.run(float(d["duration_ms"]) * ms)
    device.build(directory=workdir, compile=True, run=True, with_output=False)
    ids = np.asarray(mon.i[:])
    out = {"rate_hz": ids.size / n / (float(d["duration_ms"]) / 1000.0), "n_synapses": int(len(Ce) + len(Ci)),
           "loop_s": float(device._last_run_time)}
    shutil.rmtree(workdir, ignore_errors=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--neurons", type=int, default=4000)
    ap.add_argument("--duration-ms", type=float, default=1000.0)
    ap.add_argument("--brian2-python", default=str(HERE / ".venv-brian2" / "bin" / "python"))
    ap.add_argument("--brian2", metavar="NETWORK.npz", help=argparse.SUPPRESS)  # the Brian2 side (its own venv)
    args = ap.parse_args(argv)
    if args.brian2:
        print(json.dumps(run_brian2(args.brian2)))
        return
    if not os.path.exists(args.brian2_python):
        sys.exit(f"error: no Brian2 interpreter at {args.brian2_python}; run benchmarks/setup_brian2_venv.sh "
                 "or pass --brian2-python")
    tmp = tempfile.mkdtemp(prefix="cobahh-")
    try:
        for seed in args.seeds:
            path = os.path.join(tmp, f"cobahh_{seed}.npz")
            ours = export(seed, args.neurons, path, args.duration_ms)
            res = subprocess.run([args.brian2_python, __file__, "--brian2", path], capture_output=True, text=True)
            if res.returncode:
                sys.exit(f"error: the Brian2 run failed:\n{res.stderr[-3000:]}")
            theirs = json.loads(res.stdout.strip().splitlines()[-1])
            assert theirs["n_synapses"] == ours["n_synapses"]
            print(json.dumps({"seed": seed, "neurons": args.neurons, "n_synapses": ours["n_synapses"],
                              "neurosim_rate_hz": round(ours["rate_hz"], 3),
                              "brian2_rate_hz": round(theirs["rate_hz"], 3),
                              "rel_diff": round(ours["rate_hz"] / theirs["rate_hz"] - 1.0, 4)}), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
