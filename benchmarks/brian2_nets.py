"""Brian2 cpp_standalone versions of the benchmark networks (run inside benchmarks/.venv-brian2).

Brian2 2.9 needs numpy < 2.4, so ``bench_sim.py`` runs this file with the venv made by
``setup_brian2_venv.sh`` and reads one JSON line from stdout::

    benchmarks/.venv-brian2/bin/python benchmarks/brian2_nets.py NETWORK.npz --threads 1

where NETWORK.npz holds one network realisation (``numpy_ref.cuba_network`` or
``numpy_ref.izhikevich2003_network`` saved with ``np.savez``), so that Brian2, NumPy and
neurosim simulate the same connectivity, parameters and initial state.

Timing (all from Brian2 itself):

* ``compile_wall_s``: code generation + ``make`` (``device.build(run=False)`` wall time).
* ``loop_s``: the simulation loop only, ``device._last_run_time``, which the generated
  ``Network::run`` measures around its time-step loop: with one thread (no OpenMP) by
  ``std::clock`` = process CPU time (``loop_clock = "cpu"``), with OpenMP by ``omp_get_wtime``
  = wall time (``loop_clock = "wall"``). It excludes synapse creation, array initialisation
  and writing results. The binary is run ``--repeats`` times (same seed, so the same network)
  and every loop time is reported; ``run_binary_wall_s`` is the whole binary's wall time.

Models (ALGORITHMS.md §7): CUBA is Brian2's ``examples/CUBA.py`` (``w_scale`` multiplies
we/wi; 40k uses 0.1) with the given synapses; Izhikevich 2003 follows Izhikevich's update
order (noise at ``start``, threshold v >= 30, synaptic jumps into I, reset, then two 0.5 ms
half-steps for v and one step for u at ``end``); Brian2 draws its own thalamic noise.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time


def build_cuba(net, w_scale):
    from brian2 import NeuronGroup, Synapses, SpikeMonitor, ms, mV

    n, ne = int(net["n"]), int(net["ne"])
    taum, taue, taui = 20 * ms, 5 * ms, 10 * ms
    Vt, Vr, El = -50 * mV, -60 * mV, -49 * mV
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    P = NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exact",
                    namespace=dict(taum=taum, taue=taue, taui=taui, El=El, Vt=Vt, Vr=Vr))
    P.v = net["v0"] * mV
    P.ge = 0 * mV
    P.gi = 0 * mV
    we = (60 * 0.27 / 10) * mV * w_scale
    wi = (-20 * 4.5 / 10) * mV * w_scale
    Ce = Synapses(P, P, on_pre="ge += we", namespace=dict(we=we))
    Ci = Synapses(P, P, on_pre="gi += wi", namespace=dict(wi=wi))
    pre, post = net["pre"], net["post"]
    exc = pre < ne
    Ce.connect(i=pre[exc], j=post[exc])
    Ci.connect(i=pre[~exc], j=post[~exc])
    return P, [Ce, Ci], SpikeMonitor(P), 0.1 * ms


def build_izhikevich2003(net):
    from brian2 import NeuronGroup, Synapses, SpikeMonitor, ms

    n = int(net["n"])
    eqs = """
    v : 1
    u : 1
    I : 1
    a : 1 (constant)
    b : 1 (constant)
    c : 1 (constant)
    d : 1 (constant)
    sigma : 1 (constant)
    """
    G = NeuronGroup(n, eqs, threshold="v >= 30", reset="v = c; u = u + d", method="euler")
    for name in ("a", "b", "c", "d", "sigma"):
        setattr(G, name, net[name])
    G.v = -65
    G.u = "b*v"
    G.run_regularly("I = sigma*randn()", when="start")
    G.run_regularly("""v = v + 0.5*(0.04*v**2 + 5*v + 140 - u + I)
                       v = v + 0.5*(0.04*v**2 + 5*v + 140 - u + I)
                       u = u + a*(b*v - u)""", when="end")
    S = Synapses(G, G, "w : 1", on_pre="I_post += w")
    S.connect(i=net["pre"], j=net["post"])
    S.w = net["w"]
    return G, [S], SpikeMonitor(G), 1 * ms


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("network", help="npz written by bench_sim.py (numpy_ref network dict)")
    ap.add_argument("--duration-ms", type=float, default=1000.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="OpenMP threads (1: no OpenMP)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    import numpy as np

    import brian2 as b2
    from brian2 import Network, defaultclock, device, ms, prefs, seed, set_device

    workdir = tempfile.mkdtemp(prefix="brian2-bench-")
    set_device("cpp_standalone", build_on_run=False, directory=workdir)
    if args.threads > 1:
        prefs.devices.cpp_standalone.openmp_threads = args.threads
    t0 = time.perf_counter()
    seed(args.seed)
    net = dict(np.load(args.network))
    model = str(net["model"])
    n = int(net["n"])
    if model == "cuba":
        w_scale = float(net["w_scale"])
        group, syns, mon, dt = build_cuba(net, w_scale)
    else:
        w_scale = None
        group, syns, mon, dt = build_izhikevich2003(net)
    defaultclock.dt = dt
    b2net = Network(group, *syns, mon)
    b2net.run(args.duration_ms * ms)
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    device.build(directory=workdir, compile=True, run=False, with_output=False)
    compile_s = time.perf_counter() - t0
    loops, binary = [], []
    for _ in range(args.repeats):
        device.run(directory=workdir, with_output=False)
        loops.append(float(device._last_run_time))
        binary.append(float(device.timers["run_binary"]))
    ids = np.asarray(mon.i[:])
    n_syn = int(sum(len(s) for s in syns))
    out = dict(model=model, neurons=n, duration_ms=args.duration_ms, threads=args.threads,
               seed=args.seed, w_scale=w_scale, n_synapses=n_syn, n_spikes=int(ids.size),
               loop_clock="wall" if args.threads > 1 else "cpu",
               rate_hz=ids.size / n / (args.duration_ms / 1000.0),
               setup_wall_s=setup_s, compile_wall_s=compile_s, loop_s=loops, run_binary_wall_s=binary,
               brian2=b2.__version__, numpy=np.__version__)
    shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
