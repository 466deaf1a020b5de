"""Correctness check (no timing): AdEx single neurons and Tsodyks-Markram efficacies, Brian2 vs neurosim.

Run with the project's Python; it runs the Brian2 half in ``benchmarks/.venv-brian2`` (numpy
target, Euler, dt 0.1 ms, the models of Brian2's examples ``frompapers/Brette_Gerstner_2005.py``,
``frompapers/Naud_et_al_2008_adex_firing_patterns.py`` and the Stimberg et al. 2018 STP
synapse) and prints one table::

    python benchmarks/brian2_adex.py [--brian2-python benchmarks/.venv-brian2/bin/python] [--out FILE.json]

Brian2 stamps a spike at the start of its step, neurosim at the end: neurosim's times minus dt
are compared. ``--brian2-only`` (inside the Brian2 venv) prints Brian2's JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

DT = 0.1
NAUD = ("tonic", "adapting", "initial_burst", "regular_bursting", "delayed_accelerating",
        "delayed_regular_bursting", "transient", "irregular")
#: (C pF, gL nS, EL mV, a nS, tauw ms, b pA, Vr mV, I pA) of Brian2's Naud example (SIMULATION.md table)
NAUD_TABLE = {"tonic": (200, 10, -70, 2, 30, 0, -58, 500), "adapting": (200, 12, -70, 2, 300, 60, -58, 500),
              "initial_burst": (130, 18, -58, 4, 150, 120, -50, 400),
              "regular_bursting": (200, 10, -58, 2, 120, 100, -46, 210),
              "delayed_accelerating": (200, 12, -70, -10, 300, 0, -58, 300),
              "delayed_regular_bursting": (100, 10, -65, -10, 90, 30, -47, 110),
              "transient": (100, 10, -65, 10, 90, 100, -47, 180), "irregular": (100, 12, -60, -11, 130, 30, -48, 160)}
STP_SETS = [dict(U=0.67, tau_rec=450.0, tau_fac=0.0), dict(U=0.1, tau_rec=100.0, tau_fac=1000.0),
            dict(U=0.5, tau_rec=800.0, tau_fac=0.0)]


def brian2_results() -> dict:
    import brian2 as b2
    from brian2 import NeuronGroup, SpikeMonitor, ms, mV, nA, nS, pA, pF

    b2.prefs.codegen.target = "numpy"
    b2.defaultclock.dt = DT * ms
    eqs = """dvm/dt = (gL*(EL - vm) + gL*DeltaT*exp((vm - VT)/DeltaT) + I - w)/C : volt
             dw/dt = (a*(vm - EL) - w)/tauw : amp
             I : amp
             C : farad
             gL : siemens
             EL : volt
             VT : volt
             DeltaT : volt
             tauw : second
             a : siemens
             b : amp
             Vr : volt
             Vcut : volt"""
    out = {}
    # Brette & Gerstner 2005: 0 for 20 ms, 1 nA for 100 ms, 0 for 20 ms
    b2.start_scope()
    g = NeuronGroup(1, eqs, threshold="vm > Vcut", reset="vm = Vr; w += b", method="euler")
    g.C, g.gL, g.EL, g.VT, g.DeltaT = 281 * pF, 30 * nS, -70.6 * mV, -50.4 * mV, 2 * mV
    g.tauw, g.a, g.b, g.Vr, g.Vcut = 144 * ms, 4 * nS, 0.0805 * nA, -70.6 * mV, (-50.4 + 5 * 2) * mV
    g.vm = g.EL
    mon = SpikeMonitor(g)
    net = b2.Network(g, mon)
    net.run(20 * ms)
    g.I = 1 * nA
    net.run(100 * ms)
    g.I = 0 * nA
    net.run(20 * ms)
    out["brette_gerstner"] = [float(t) for t in mon.t / ms]
    # Naud et al. 2008: one neuron per pattern, step current from t = 0, 600 ms
    b2.start_scope()
    g = NeuronGroup(len(NAUD), eqs, threshold="vm > Vcut", reset="vm = Vr; w += b", method="euler")
    for k, name in enumerate(NAUD):
        C, gL, EL, a, tauw, b, Vr, I = NAUD_TABLE[name]
        g.C[k], g.gL[k], g.EL[k], g.a[k], g.tauw[k] = C * pF, gL * nS, EL * mV, a * nS, tauw * ms
        g.b[k], g.Vr[k], g.I[k], g.vm[k] = b * pA, Vr * mV, I * pA, EL * mV
    g.VT, g.DeltaT, g.Vcut = -50 * mV, 2 * mV, 0 * mV
    mon = SpikeMonitor(g)
    b2.Network(g, mon).run(600 * ms)
    trains = mon.spike_trains()
    out["naud"] = {name: [float(t) for t in trains[k] / ms] for k, name in enumerate(NAUD)}
    # Tsodyks-Markram (Stimberg et al. 2018 form) at 20 Hz, 60 spikes
    b2.start_scope()
    src = b2.SpikeGeneratorGroup(1, [0] * 60, (10.0 + 50.0 * b2.arange(60)) * ms)
    tgt = NeuronGroup(len(STP_SETS), "v : 1")
    syn = b2.Synapses(src, tgt, """du/dt = -Omega_f * u : 1 (event-driven)
                                   dx/dt = Omega_d * (1 - x) : 1 (event-driven)
                                   U : 1
                                   Omega_d : Hz
                                   Omega_f : Hz
                                   r : 1""",
                      on_pre="u += U * (1 - u)\nr = u * x\nx -= r\nv_post += r")
    syn.connect(i=0, j=list(range(len(STP_SETS))))
    for k, s in enumerate(STP_SETS):
        syn.U[k], syn.Omega_d[k] = s["U"], 1.0 / (s["tau_rec"] * ms)
        syn.Omega_f[k] = 1.0 / (s["tau_fac"] * ms) if s["tau_fac"] > 0 else 1e12 / ms  # u decays at once
    syn.x = 1
    rec = b2.StateMonitor(tgt, "v", record=True)
    b2.Network(src, tgt, syn, rec).run(3010 * ms)
    v = rec.v[:, :]
    out["stp"] = [[float(v[k, int(round((10.0 + 50.0 * n) / DT)) + 1] - (v[k, int(round((10.0 + 50.0 * n) / DT)) - 1]))
                   for n in range(60)] for k in range(len(STP_SETS))]
    return out


def neurosim_results() -> dict:
    import numpy as np

    from neurosim.neurons.adex import NAUD_CURRENTS, AdExParams, AdExState, adex_run
    from neurosim.sim import Network
    from neurosim.sim.stp import TsodyksMarkram, efficacies

    out = {}
    p = AdExParams()
    xs = np.zeros((1400, 1))
    xs[200:1200] = 1000.0
    s, _ = adex_run(xs, AdExState.initial(p, 1), p, DT)
    out["brette_gerstner"] = ((np.flatnonzero(s[:, 0]) + 1) * DT - DT).tolist()
    net = Network(dt=DT, rng=0)
    gs = {k: net.add_adex(1, k, i_ext=NAUD_CURRENTS[k], name=k) for k in NAUD}
    mon = net.add_spike_monitor()
    net.run(600.0, progress=False)
    out["naud"] = {k: (mon.times_ms[mon.ids == g.start] - DT).tolist() for k, g in gs.items()}
    times = 10.0 + 50.0 * np.arange(60)
    out["stp"] = [efficacies(times, TsodyksMarkram(**s)).tolist() for s in STP_SETS]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brian2-only", action="store_true")
    ap.add_argument("--brian2-python", default=os.path.join(os.path.dirname(__file__), ".venv-brian2", "bin",
                                                            "python"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.brian2_only:
        print(json.dumps(brian2_results()))
        return
    res = subprocess.run([args.brian2_python, __file__, "--brian2-only"], capture_output=True, text=True, check=True)
    b = json.loads(res.stdout.strip().splitlines()[-1])
    n = neurosim_results()
    rows = [("brette_gerstner", len(b["brette_gerstner"]), len(n["brette_gerstner"]),
             max(abs(x - y) for x, y in zip(b["brette_gerstner"], n["brette_gerstner"])))]
    for k in NAUD:
        bt, nt = b["naud"][k], n["naud"][k]
        rows.append((k, len(bt), len(nt), max(abs(x - y) for x, y in zip(bt, nt))))
    print(f"{'cell':26s} {'brian2 spikes':>13s} {'neurosim':>9s} {'max |t diff| (ms)':>24s}")
    for r in rows:
        print(f"{r[0]:26s} {r[1]:13d} {r[2]:9d} {r[3]:24.4f}")
    for s, bs, ns_ in zip(STP_SETS, b["stp"], n["stp"]):
        print(f"STP {s}: max |efficacy diff| over 60 spikes = {max(abs(x - y) for x, y in zip(bs, ns_)):.2e}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"brian2": b, "neurosim": n, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
