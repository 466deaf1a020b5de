"""COBA (Brette et al. 2007 benchmark 1, set-up A) in neurosim and in Brian2 on the same realisation.

Correctness, not timing: for each seed, ``neurosim.sim.coba(rng=seed)`` is built, its
connectivity and initial state are written to an .npz, Brian2 (``cpp_standalone``, 1 thread)
simulates that same network with Brian's ``COBA.py`` equations, and both mean rates are printed
(SIMULATION.md §1: Brian2's own realisations give 18.2 / 19.8 / 19.0 Hz for seeds 1-3; the
acceptance point is neurosim within 5 % of Brian2)::

    python benchmarks/brian2_coba.py --seeds 1 2 3                      # neurosim's Python
    python benchmarks/brian2_coba.py --seeds 1 --integration exponential --dtype float32

The Brian2 half runs in the Brian2 venv (``setup_brian2_venv.sh``; Brian2 2.9 needs numpy <
2.4): this file calls itself there with ``--brian2 NETWORK.npz`` and reads one JSON line.
Brian2 model (``method="euler"`` or ``"exponential_euler"``, as ``--integration``)::

    dv/dt  = (ge (Ee - v) + gi (Ei - v) + (El - v)) / taum : volt (unless refractory)
    dge/dt = -ge / taue : 1 ;  dgi/dt = -gi / taui : 1
    threshold v > Vt, reset v = Vr, refractory 5 ms; on_pre ge += we (E cells), gi += wi (I cells)

Both report spikes with their own time labels (Brian2 ``t = s dt`` for a spike found after the
update of step ``s``, neurosim ``(s + 1) dt``); the spike trains are compared on step indices:
with float64 and Euler both start identical and part when rounding differences are amplified by
the network's chaos (``first_difference_ms``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BRIAN2_PY = HERE / ".venv-brian2" / "bin" / "python"


# ------------------------------------------------------------------------------ neurosim side
def export_coba(seed: int, dtype: str, integration: str, path: Path):
    """Build ``coba(rng=seed)``, save its realisation to ``path``; returns the (not yet run) network."""
    import numpy as np

    import neurosim as ns

    net = ns.sim.coba(n_neurons=4000, rng=seed, dtype=np.dtype(dtype), integration=integration)
    exc, inh = net.groups["exc"], net.groups["inh"]
    syn = {"ge": ([], []), "gi": ([], [])}
    for sg in net.synapses:
        syn[sg.target][0].append(sg.pre + sg.pre_group.start)
        syn[sg.target][1].append(sg.post + sg.post_group.start)
    cat = {k: (np.concatenate(p).astype(np.int32), np.concatenate(q).astype(np.int32)) for k, (p, q) in syn.items()}
    p = exc.params
    np.savez(path, n=net.n_neurons, ne=exc.n, v0=np.r_[exc.v0, inh.v0], ge0=np.r_[exc.g0[0], inh.g0[0]],
             gi0=np.r_[exc.g0[1], inh.g0[1]], pre_e=cat["ge"][0], post_e=cat["ge"][1], pre_i=cat["gi"][0],
             post_i=cat["gi"][1], we=net.meta["we_gL"], wi=net.meta["wi_gL"], taum=p.tau_mem, taue=p.tau_e,
             taui=p.tau_i, El=p.e_leak, Ee=p.e_exc, Ei=p.e_inh, Vt=p.v_th, Vr=p.v_reset, t_ref=p.t_ref,
             dt=net.dt, integration=integration)
    return net


# ------------------------------------------------------------------------------ Brian2 side
def run_brian2(npz: str, duration_ms: float) -> dict:
    """Simulate the saved realisation in Brian2 cpp_standalone (1 thread); returns rates and spikes."""
    import shutil

    import numpy as np
    from brian2 import NeuronGroup, SpikeMonitor, Synapses, defaultclock, device, ms, mV, run, set_device

    d = dict(np.load(npz))
    workdir = tempfile.mkdtemp(prefix="brian2-coba-")
    set_device("cpp_standalone", directory=workdir)
    defaultclock.dt = float(d["dt"]) * ms
    ns_ = dict(taum=float(d["taum"]) * ms, taue=float(d["taue"]) * ms, taui=float(d["taui"]) * ms,
               El=float(d["El"]) * mV, Ee=float(d["Ee"]) * mV, Ei=float(d["Ei"]) * mV, Vt=float(d["Vt"]) * mV,
               Vr=float(d["Vr"]) * mV)
    eqs = """
    dv/dt  = (ge*(Ee-v) + gi*(Ei-v) + (El-v))/taum : volt (unless refractory)
    dge/dt = -ge/taue : 1
    dgi/dt = -gi/taui : 1
    """
    method = "euler" if str(d["integration"]) == "euler" else "exponential_euler"
    P = NeuronGroup(int(d["n"]), eqs, threshold="v>Vt", reset="v = Vr", refractory=float(d["t_ref"]) * ms,
                    method=method, namespace=ns_)
    P.v = d["v0"] * mV
    P.ge = d["ge0"]
    P.gi = d["gi0"]
    Ce = Synapses(P, P, on_pre="ge += we", namespace=dict(we=float(d["we"])))
    Ci = Synapses(P, P, on_pre="gi += wi", namespace=dict(wi=float(d["wi"])))
    Ce.connect(i=d["pre_e"], j=d["post_e"])
    Ci.connect(i=d["pre_i"], j=d["post_i"])
    mon = SpikeMonitor(P)
    run(duration_ms * ms)
    ids = np.asarray(mon.i[:], dtype=np.int64)
    steps = np.rint(np.asarray(mon.t[:] / ms) / float(d["dt"])).astype(np.int64)
    out = dict(method=method, n_synapses=int(len(Ce) + len(Ci)), n_spikes=int(ids.size),
               rate_hz=ids.size / int(d["n"]) / (duration_ms / 1000.0), steps=steps.tolist(), ids=ids.tolist())
    shutil.rmtree(workdir, ignore_errors=True)
    return out


def _first_difference(a_steps, a_ids, b_steps, b_ids, dt):
    """Time (ms, Brian2's step label) of the first step whose set of spiking neurons differs."""
    from collections import defaultdict

    sa, sb = defaultdict(set), defaultdict(set)
    for s, i in zip(a_steps, a_ids):
        sa[s].add(i)
    for s, i in zip(b_steps, b_ids):
        sb[s].add(i)
    for s in sorted(set(sa) | set(sb)):
        if sa[s] != sb[s]:
            return s * dt
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--duration-ms", type=float, default=1000.0)
    ap.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    ap.add_argument("--integration", default="euler", choices=["euler", "exponential"])
    ap.add_argument("--brian2-python", default=os.environ.get("BRIAN2_PYTHON", str(BRIAN2_PY)),
                    help="python of the Brian2 venv (default benchmarks/.venv-brian2/bin/python or $BRIAN2_PYTHON)")
    ap.add_argument("--brian2", metavar="NPZ", help=argparse.SUPPRESS)   # internal: the Brian2 half
    args = ap.parse_args(argv)

    if args.brian2:
        print(json.dumps(run_brian2(args.brian2, args.duration_ms)))
        return

    import numpy as np

    rows = []
    with tempfile.TemporaryDirectory(prefix="coba-") as tmp:
        for seed in args.seeds:
            npz = Path(tmp) / f"coba_seed{seed}.npz"
            net = export_coba(seed, args.dtype, args.integration, npz)
            net.run(args.duration_ms, progress=False)
            m = net.monitors["spikes"]
            rate = m.ids.size / net.n_neurons / (args.duration_ms / 1000.0)
            res = subprocess.run([args.brian2_python, __file__, "--brian2", str(npz), "--duration-ms",
                                  str(args.duration_ms)], capture_output=True, text=True)
            if res.returncode != 0:
                sys.exit(f"error: the Brian2 run failed:\n{res.stderr[-3000:]}")
            b = json.loads(res.stdout.strip().splitlines()[-1])
            steps = np.rint(m.times_ms / net.dt).astype(np.int64) - 1   # neurosim step index of each spike
            first = _first_difference(steps.tolist(), m.ids.tolist(), b["steps"], b["ids"], net.dt)
            row = dict(seed=seed, dtype=args.dtype, integration=args.integration, brian2_method=b["method"],
                       n_synapses=net.n_synapses, brian2_n_synapses=b["n_synapses"], neurosim_hz=round(rate, 3),
                       brian2_hz=round(b["rate_hz"], 3), ratio=round(rate / b["rate_hz"], 4),
                       first_difference_ms=first)
            rows.append(row)
            print(json.dumps(row), flush=True)
    r = np.array([x["ratio"] for x in rows])
    print(f"neurosim / Brian2 rate: mean {r.mean():.4f}, worst {r[np.argmax(abs(r - 1))]:.4f} "
          f"({'within' if np.all(abs(r - 1) <= 0.05) else 'NOT within'} 5 %)")


if __name__ == "__main__":
    main()
