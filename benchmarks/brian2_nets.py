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

COBA, COBAHH and STDP (issue 17) are rebuilt from ``sim17_cases.export``'s arrays
(``build_coba``, ``build_cobahh``, ``build_stdp``); the STDP inputs are Brian2's own
``PoissonGroup``.

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


def build_coba(d):
    """Brette 2007 benchmark 1 (Brian's ``COBA.py``) on the exported realisation (``sim17_cases.export``)."""
    from brian2 import NeuronGroup, SpikeMonitor, ms, mV

    eqs = """
    dv/dt  = (ge*(Ee-v) + gi*(Ei-v) + (El-v))/taum : volt (unless refractory)
    dge/dt = -ge/taue : 1
    dgi/dt = -gi/taui : 1
    """
    namespace = dict(taum=float(d["taum"]) * ms, taue=float(d["taue"]) * ms, taui=float(d["taui"]) * ms,
                     El=float(d["El"]) * mV, Ee=float(d["Ee"]) * mV, Ei=float(d["Ei"]) * mV, Vt=float(d["Vt"]) * mV,
                     Vr=float(d["Vr"]) * mV)
    method = "euler" if str(d["integration"]) == "euler" else "exponential_euler"
    P = NeuronGroup(int(d["n"]), eqs, threshold="v>Vt", reset="v = Vr", refractory=float(d["t_ref"]) * ms,
                    method=method, namespace=namespace)
    P.v = d["v0"] * mV
    P.ge = d["ge0"]
    P.gi = d["gi0"]
    syns = _conductance_synapses(P, d, float(d["we"]), float(d["wi"]))
    return P, syns, [SpikeMonitor(P)], float(d["dt"]) * ms


def build_cobahh(d):
    """Brette 2007 benchmark 3 (Brian2's ``examples/COBAHH.py``, rates with ``exprel``) on the export."""
    from brian2 import NeuronGroup, SpikeMonitor, cm, ms, msiemens, mV, nS, siemens, ufarad, umetre

    area = 20000 * umetre ** 2
    namespace = dict(Cm=(1 * ufarad * cm ** -2) * area, gl=(5e-5 * siemens * cm ** -2) * area, El=-60 * mV,
                     EK=-90 * mV, ENa=50 * mV, g_na=(100 * msiemens * cm ** -2) * area,
                     g_kd=(30 * msiemens * cm ** -2) * area, VT=-63 * mV, taue=5 * ms, taui=10 * ms, Ee=0 * mV,
                     Ei=-80 * mV)
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
    method = "exponential_euler" if str(d["method"]) == "exponential_euler" else "rk4"
    P = NeuronGroup(int(d["n"]), eqs, threshold="v>-20*mV", refractory=3 * ms, method=method, namespace=namespace)
    P.v = d["v0"] * mV
    P.ge = d["ge0"] * nS
    P.gi = d["gi0"] * nS
    syns = _conductance_synapses(P, d, float(d["we"]) * nS, float(d["wi"]) * nS)
    return P, syns, [SpikeMonitor(P)], float(d["dt"]) * ms


def _conductance_synapses(P, d, we, wi):
    from brian2 import Synapses

    Ce = Synapses(P, P, on_pre="ge += we", namespace=dict(we=we))
    Ci = Synapses(P, P, on_pre="gi += wi", namespace=dict(wi=wi))
    exc = d["channel"] == 0
    Ce.connect(i=d["pre"][exc], j=d["post"][exc])
    Ci.connect(i=d["pre"][~exc], j=d["post"][~exc])
    return [Ce, Ci]


def build_stdp(d):
    """Brian2's ``examples/synapses/STDP.py`` (PoissonGroup inputs, its own random stream) with the
    exported initial weights, V and STDP constants; spikes of inputs and neuron monitored, every
    weight sampled every ``weights_every_ms`` (as neurosim's canonical network records them)."""
    from brian2 import NeuronGroup, PoissonGroup, SpikeMonitor, StateMonitor, Synapses, Hz, ms, mV

    if str(d["pairing"]) != "all_to_all" or str(d["bounds"]) != "additive":
        raise ValueError("the Brian2 STDP benchmark is the published all-to-all additive rule")
    n_in = int(d["n_inputs"])
    w_max = float(d["w_max"])
    namespace = dict(taum=10 * ms, Ee=0 * mV, vt=-54 * mV, vr=-60 * mV, El=-74 * mV, taue=5 * ms,
                     taupre=float(d["tau_plus"]) * ms, taupost=float(d["tau_minus"]) * ms, gmax=w_max,
                     dApre=float(d["A_plus"]) * w_max, dApost=-float(d["A_minus"]) * w_max)
    inputs = PoissonGroup(n_in, rates=float(d["rate_hz"]) * Hz)
    neuron = NeuronGroup(1, """dv/dt = (ge * (Ee-v) + El - v) / taum : volt
                               dge/dt = -ge / taue : 1""", threshold="v>vt", reset="v = vr", method="euler",
                         namespace=namespace)
    neuron.v = float(d["v0"]) * mV
    S = Synapses(inputs, neuron, """w : 1
                 dApre/dt = -Apre / taupre : 1 (event-driven)
                 dApost/dt = -Apost / taupost : 1 (event-driven)""",
                 on_pre="""ge += w
                 Apre += dApre
                 w = clip(w + Apost, 0, gmax)""",
                 on_post="""Apost += dApost
                 w = clip(w + Apre, 0, gmax)""", namespace=namespace)
    S.connect(i=d["pre"].astype(int), j=d["post"].astype(int) - n_in)
    S.w = d["w0"]
    mons = [SpikeMonitor(inputs), SpikeMonitor(neuron),
            StateMonitor(S, "w", record=True, dt=float(d["weights_every_ms"]) * ms)]
    return neuron, [inputs, S], mons, float(d["dt"]) * ms


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
    w_scale = None
    if model == "cuba":
        w_scale = float(net["w_scale"])
        group, syns, mon, dt = build_cuba(net, w_scale)
        mons = [mon]
    elif model in ("coba", "cobahh", "stdp"):
        group, syns, mons, dt = {"coba": build_coba, "cobahh": build_cobahh, "stdp": build_stdp}[model](net)
    else:
        group, syns, mon, dt = build_izhikevich2003(net)
        mons = [mon]
    defaultclock.dt = dt
    b2net = Network(group, *syns, *mons)
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
    # spikes of the last run: global ids (STDP: inputs first, then the neuron), synaptic events
    # = spikes x out-degree of the spiking neuron (the same count as bench_sim.py makes for neurosim)
    spike_mons = [m for m in mons if isinstance(m, b2.SpikeMonitor)]
    offsets = np.cumsum([0] + [len(m.source) for m in spike_mons])
    ids = np.concatenate([np.asarray(m.i[:], dtype=np.int64) + o for m, o in zip(spike_mons, offsets)])
    outdeg = np.bincount(np.asarray(net["pre"], dtype=np.int64), minlength=n)
    n_syn = int(sum(len(s) for s in syns if hasattr(s, "source") and hasattr(s, "target")))
    out = dict(model=model, neurons=n, duration_ms=args.duration_ms, threads=args.threads,
               seed=args.seed, w_scale=w_scale, n_synapses=n_syn, n_spikes=int(ids.size),
               n_events=int(outdeg[ids].sum()),
               loop_clock="wall" if args.threads > 1 else "cpu",
               rate_hz=ids.size / n / (args.duration_ms / 1000.0),
               setup_wall_s=setup_s, compile_wall_s=compile_s, loop_s=loops, run_binary_wall_s=binary,
               brian2=b2.__version__, numpy=np.__version__)
    shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
