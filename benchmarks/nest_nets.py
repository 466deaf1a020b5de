"""NEST 3.10 versions of the issue-17 benchmark networks (run inside benchmarks/.venv-nest).

``bench_sim.py`` runs this file with the venv made by ``setup_nest_venv.sh`` (``pip install
nest-simulator``) and reads one JSON line from stdout::

    benchmarks/.venv-nest/bin/python benchmarks/nest_nets.py NETWORK.npz --threads 2 --repeats 3

NETWORK.npz is a realisation written by ``sim17_cases.export`` (the same connectivity and
initial state neurosim and Brian2 simulate). Each repeat resets the kernel and rebuilds the
network (``build_wall_s``), then times ``nest.Run`` only (after ``nest.Prepare``): by the wall
clock (``loop_clock = "wall"``) with several threads, by the process CPU clock with one.

Mappings (NEST's own neuron models integrate with GSL's adaptive RKF45, not Brian2's fixed-step
Euler / exponential Euler, so spike trains differ; rates are compared):

* COBA -> ``iaf_cond_exp``: g_L = 10 nS, C_m = tau_m g_L, the exported V, g_e, g_i (units of
  g_L, times 10 nS; set directly, negative values included), weights w_e, -w_i (x 10 nS),
  delay dt (NEST's minimum: a spike acts from the next step, as in neurosim and Brian2).
* COBAHH -> ``hh_cond_exp_traub`` with Brian2's ``COBAHH.py`` values (g_Na 20 uS, g_K 6 uS,
  g_L 10 nS, C_m 200 pF, V_T -63 mV, t_ref 3 ms); m = h = n = 0 and the exported V. NEST cannot
  set g_ex / g_in of this model, so the initial conductances arrive as one ``spike_generator``
  kick at 0.1 ms (delay 0.1 ms, weights g0 exp(-0.2 ms / tau), so the conductances equal the
  exported ones decayed from t = 0 on from 0.2 ms; negative initial values, a few, are
  clipped to 0). NEST detects a spike at the peak of V (V >= V_T + 30 mV), Brian2 at -20 mV.
* STDP -> ``poisson_generator`` -> ``parrot_neuron`` x n_inputs (independent trains) ->
  ``stdp_synapse`` (additive: mu_plus = mu_minus = 0, lambda = A_plus, alpha = A_minus /
  A_plus, Wmax = w_max, all-to-all pairing, NEST's default) -> one ``iaf_cond_exp`` (t_ref 0,
  tau_minus on the neuron); weights in units of g_L = 10 nS. The run is split into chunks of
  ``weights_every_ms`` after which every weight is read (what neurosim's weight monitor and
  Brian2's ``StateMonitor(S, "w", dt=...)`` record).

Synaptic events: spikes x out-degree of the spiking neuron in the exported connectivity (the
STDP inputs' parrots count 1 each; the generator -> parrot and kick connections are not counted).
"""
from __future__ import annotations

import argparse
import json
import time

G_L = 10.0  # nS: conductances in units of g_L are multiplied by this


def build(nest, d, n):
    """Create the network of ``d``; returns (recorded node collection, weight connections or None)."""
    import numpy as np

    dt = float(d["dt"])
    model = str(d["model"])
    pre, post = d["pre"].astype(np.int64), d["post"].astype(np.int64)
    exc = d["channel"] == 0
    if model == "coba":
        pop = nest.Create("iaf_cond_exp", n, params=dict(
            g_L=G_L, C_m=float(d["taum"]) * G_L, E_L=float(d["El"]), V_th=float(d["Vt"]), V_reset=float(d["Vr"]),
            t_ref=float(d["t_ref"]), E_ex=float(d["Ee"]), E_in=float(d["Ei"]), tau_syn_ex=float(d["taue"]),
            tau_syn_in=float(d["taui"]), I_e=0.0))
        pop.set({"V_m": d["v0"].astype(float), "g_ex": d["ge0"] * G_L, "g_in": d["gi0"] * G_L})
        w = np.where(exc, float(d["we"]) * G_L, -float(d["wi"]) * G_L)
    elif model == "cobahh":
        pop = nest.Create("hh_cond_exp_traub", n, params=dict(
            g_Na=20000.0, g_K=6000.0, g_L=10.0, C_m=200.0, E_Na=50.0, E_K=-90.0, E_L=-60.0, V_T=-63.0, E_ex=0.0,
            E_in=-80.0, tau_syn_ex=5.0, tau_syn_in=10.0, t_ref=3.0, I_e=0.0))
        pop.set({"V_m": d["v0"].astype(float), "Act_m": 0.0, "Act_n": 0.0, "Inact_h": 0.0})
        kick = nest.Create("spike_generator", params={"spike_times": [dt]})
        ids = np.array(pop.global_id)
        for g0, tau, sign in ((d["ge0"], 5.0, 1.0), (d["gi0"], 10.0, -1.0)):
            wk = np.clip(g0, 0.0, None) * np.exp(-2 * dt / tau) * sign
            nest.Connect(np.full(n, kick.global_id), ids, "one_to_one", syn_spec={"weight": wk, "delay": np.full(n, dt)})
        w = np.where(exc, float(d["we"]), -float(d["wi"]))
    else:
        n_in = int(d["n_inputs"])
        parrots = nest.Create("parrot_neuron", n_in)
        neuron = nest.Create("iaf_cond_exp", 1, params=dict(
            g_L=G_L, C_m=10.0 * G_L, E_L=-74.0, V_th=-54.0, V_reset=-60.0, t_ref=0.0, E_ex=0.0, tau_syn_ex=5.0,
            tau_minus=float(d["tau_minus"]), V_m=float(d["v0"])))
        pop = parrots + neuron
        gen = nest.Create("poisson_generator", params={"rate": float(d["rate_hz"])})
        nest.Connect(gen, parrots, "all_to_all", syn_spec={"delay": dt})
        w_max = float(d["w_max"]) * G_L
        nest.CopyModel("stdp_synapse", "song_abbott", {
            "Wmax": w_max, "lambda": float(d["A_plus"]), "alpha": float(d["A_minus"]) / float(d["A_plus"]),
            "mu_plus": 0.0, "mu_minus": 0.0, "tau_plus": float(d["tau_plus"])})
        ids = np.array(pop.global_id)
        nest.Connect(ids[pre], ids[post], "one_to_one", syn_spec={
            "synapse_model": "song_abbott", "weight": d["w0"] * G_L, "delay": np.full(pre.size, dt)})
        return pop, nest.GetConnections(parrots, neuron)
    ids = np.array(pop.global_id)
    nest.Connect(ids[pre], ids[post], "one_to_one", syn_spec={"weight": w, "delay": np.full(pre.size, dt)})
    return pop, None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("network", help="npz written by bench_sim.py (sim17_cases.export)")
    ap.add_argument("--duration-ms", type=float, default=None, help="default: the npz's duration_ms")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    import numpy as np

    import nest

    nest.verbosity = nest.VerbosityLevel.ERROR
    d = dict(np.load(args.network))
    n = int(d["n"])
    duration = float(d["duration_ms"]) if args.duration_ms is None else args.duration_ms
    chunk = float(d["weights_every_ms"]) if str(d["model"]) == "stdp" else duration
    outdeg = np.bincount(d["pre"].astype(np.int64), minlength=n)
    loops, builds = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        nest.ResetKernel()
        nest.SetKernelStatus({"resolution": float(d["dt"]), "local_num_threads": args.threads,
                              "rng_seed": args.seed + 1, "print_time": False})
        pop, conns = build(nest, d, n)
        rec = nest.Create("spike_recorder")
        nest.Connect(pop, rec)
        builds.append(time.perf_counter() - t0)
        nest.Prepare()
        clock = time.perf_counter if args.threads > 1 else time.process_time
        t0, done, weights = clock(), 0.0, []
        while done < duration - 1e-9:
            step = min(chunk, duration - done)
            nest.Run(step)
            done += step
            if conns is not None:
                weights.append(conns.get("weight"))
        loops.append(clock() - t0)
        nest.Cleanup()
    ids = np.asarray(rec.get("events")["senders"], dtype=np.int64) - pop[0].global_id
    out = dict(model=str(d["model"]), neurons=n, duration_ms=duration, threads=args.threads, seed=args.seed,
               n_synapses=int(d["pre"].size), n_spikes=int(ids.size), n_events=int(outdeg[ids].sum()),
               loop_clock="wall" if args.threads > 1 else "cpu", rate_hz=ids.size / n / (duration / 1000.0),
               build_wall_s=builds, compile_wall_s=0.0, loop_s=loops, nest=nest.__version__, numpy=np.__version__)
    if conns is not None:
        out["final_w_over_w_max"] = float(np.mean(weights[-1]) / (float(d["w_max"]) * G_L))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
