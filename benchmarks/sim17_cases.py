"""The issue-17 workloads of ``bench_sim.py``: COBA, COBAHH and the Song-Abbott STDP experiment.

Each workload is one of neurosim's canonical networks (``ns.sim.coba``, ``ns.sim.cobahh``,
``ns.sim.song_abbott_stdp``) built with the bench's seed; its realisation is exported to an
``.npz`` (``export``) that ``brian2_nets.py`` (Brian2 cpp_standalone) and ``nest_nets.py``
(NEST) rebuild with the same connectivity and initial state:

* ``n, ne, pre, post, channel`` (global ids, channel 0 excitatory / 1 inhibitory), ``dt``;
* COBA: ``v0`` (mV), ``ge0, gi0`` (in units of g_L), ``we, wi`` (in units of g_L), the
  ``CondLIFParams`` values and ``integration`` (``euler`` or ``exponential``);
* COBAHH: ``v0`` (mV), ``ge0, gi0`` (nS; m = h = n = 0), ``we, wi`` (nS), ``method``;
* STDP: ``n_inputs``, ``rate_hz``, ``w0`` (the initial weights, in units of g_L), ``w_max``,
  ``A_plus``, ``A_minus`` (fractions of w_max), ``tau_ms``, ``v0``, ``weights_every_ms``. The
  Poisson inputs are drawn by each simulator (as the published example does with its
  ``PoissonGroup``), so only rates and input-spike counts are comparable, not spike trains.

neurosim protocol (``run_neurosim``): the network is built once and stored (``net.store``,
which flattens it); a short run loads/compiles the kernel (reported as ``compile_wall_s``);
then each of ``repeats`` runs restores the stored initial state (outside the timing) and runs
the whole duration, so every repeat simulates the same thing, as Brian2's repeated runs of
its binary do. 1 thread: timed by the CPU clock (``time.process_time``) and the wall clock
(``net.timing``); ``threads > 1``: by the wall clock. The network loop of ``neurosim.sim`` is
serial today (``kernels/network.py``): ``threads`` sets Numba's thread count
(``numba.set_num_threads``) and turns on ``neurosim.sim._flat.PREFETCH_DRIVE`` (random drive
drawn in a helper thread), which is all a user can set; these three networks have no random
drive, so their 2-thread rows measure the serial loop again.
"""
from __future__ import annotations

import contextlib
import time

import numpy as np

#: workload name -> (model, neurons); the STDP "neurons" are 1000 inputs + 1 neuron
WORKLOADS = {"coba4000": ("coba", 4000), "cobahh4000": ("cobahh", 4000), "stdp": ("stdp", 1001)}
MODELS = ("coba", "cobahh", "stdp")


def unavailable(model: str) -> str | None:
    """Why ``model`` cannot run with the installed neurosim (None when it can)."""
    import neurosim as ns

    builder = {"coba": "coba", "cobahh": "cobahh", "stdp": "song_abbott_stdp"}[model]
    if not hasattr(ns.sim, builder):
        return (f"neurosim.sim has no {builder}() in this checkout ({ns.__file__}); the {model} workload is "
                f"skipped (it lands with issue 17's {'HH' if model == 'cobahh' else model} branch)")
    return None


def build(model: str, n: int, seed: int):
    """The canonical network of ``model`` with ``n`` neurons (STDP: ``n - 1`` inputs), seeded ``seed``."""
    import neurosim as ns

    if model == "coba":
        return ns.sim.coba(n_neurons=n, rng=seed)
    if model == "cobahh":
        return ns.sim.cobahh(n_neurons=n, rng=seed)
    return ns.sim.song_abbott_stdp(n_inputs=n - 1, rng=seed)


def _global_synapses(net):
    """(pre, post, channel) of every synapse of ``net`` in neurosim's global ids."""
    pre = np.concatenate([sg.pre.astype(np.int64) + sg.pre_group.start for sg in net.synapses])
    post = np.concatenate([sg.post.astype(np.int64) + sg.post_group.start for sg in net.synapses])
    channel = np.concatenate([np.full(sg.pre.size, sg.channel, dtype=np.int8) for sg in net.synapses])
    return pre, post, channel


def export(net, model: str, duration_ms: float) -> dict:
    """The realisation of a (not yet run) canonical network as a dict of arrays (see the module docstring).

    Ids are neurosim's global ids for COBA / COBAHH (excitatory group first); for STDP the
    inputs are 0 .. n_inputs - 1 and the neuron n_inputs (neurosim may order the groups otherwise).
    """
    pre, post, channel = _global_synapses(net)
    if model == "stdp":
        syn = net.synapses[0]
        pre, post = syn.pre.astype(np.int64), syn.post.astype(np.int64) + syn.pre_group.n
    order = np.lexsort((post, pre))
    d = dict(model=model, n=net.n_neurons, pre=pre[order].astype(np.int32), post=post[order].astype(np.int32),
             channel=channel[order], dt=net.dt, duration_ms=duration_ms, n_synapses=int(pre.size),
             dtype=str(net.dtype))
    m = net.meta
    if model == "coba":
        exc, inh = net.groups["exc"], net.groups["inh"]
        p = exc.params
        d.update(ne=exc.n, v0=np.r_[exc.v0, inh.v0], ge0=np.r_[exc.g0[0], inh.g0[0]], gi0=np.r_[exc.g0[1], inh.g0[1]],
                 we=m["we_gL"], wi=m["wi_gL"], taum=p.tau_mem, taue=p.tau_e, taui=p.tau_i, El=p.e_leak, Ee=p.e_exc,
                 Ei=p.e_inh, Vt=p.v_th, Vr=p.v_reset, t_ref=p.t_ref, integration=m["integration"])
    elif model == "cobahh":
        groups = [net.groups["exc"], net.groups["inh"]]
        init = {k: np.concatenate([np.broadcast_to(g.init[k], (g.n,)) for g in groups]) for k in ("v", "ge", "gi")}
        d.update(ne=groups[0].n, v0=init["v"], ge0=init["ge"], gi0=init["gi"], we=m["we_nS"], wi=m["wi_nS"],
                 method=m["method"])
    else:
        rule = syn.plasticity
        d.update(ne=m["n_inputs"], n_inputs=m["n_inputs"], rate_hz=m["rate_hz"],
                 w0=np.asarray(syn.weights, np.float64)[order],
                 w_max=m["w_max"], v0=float(np.asarray(net.groups["post"].v0).ravel()[0]), A_plus=rule.A_plus,
                 A_minus=rule.A_minus, tau_plus=rule.tau_plus, tau_minus=rule.tau_minus, pairing=rule.pairing,
                 bounds=rule.bounds, weights_every_ms=net.monitors["weights"].every * net.dt)
    return d


def out_degree(d: dict) -> np.ndarray:
    """Outgoing synapses per neuron (a spike of neuron i is ``out_degree[i]`` synaptic events)."""
    return np.bincount(np.asarray(d["pre"], dtype=np.int64), minlength=int(d["n"]))


@contextlib.contextmanager
def neurosim_threads(threads: int):
    """Run neurosim with ``threads`` threads, as a user sets them today (see the module docstring)."""
    import numba

    from neurosim.sim import _flat

    if threads > numba.config.NUMBA_NUM_THREADS:
        raise RuntimeError(f"neurosim with {threads} threads needs NUMBA_NUM_THREADS >= {threads} "
                           f"(it is {numba.config.NUMBA_NUM_THREADS} here)")
    old = numba.get_num_threads(), _flat.PREFETCH_DRIVE
    numba.set_num_threads(threads)
    _flat.PREFETCH_DRIVE = threads > 1
    try:
        yield
    finally:
        numba.set_num_threads(old[0])
        _flat.PREFETCH_DRIVE = old[1]


def run_neurosim(model: str, n: int, seed: int, duration_ms: float, repeats: int, threads: int) -> dict:
    """Time ``repeats`` runs of ``duration_ms`` from the same stored initial state (module docstring)."""
    t0 = time.perf_counter()
    net = build(model, n, seed)
    outdeg = np.bincount(_global_synapses(net)[0], minlength=net.n_neurons)
    # without store/restore (a branch older than issue 17's simio): a fresh network per repeat,
    # flattened by a one-step run before the timed run (which then lasts duration - dt)
    fresh = not hasattr(net, "store")
    with neurosim_threads(threads):
        if not fresh:
            net.store("init")
        build_s = time.perf_counter() - t0
        net.run(min(duration_ms, 20 * net.dt), progress=False)   # kernel load / JIT compile, not timed
        compile_s = net.timing["compile_wall_s"]
        cpus, walls = [], []
        for _ in range(repeats):
            timed = duration_ms
            if fresh:
                net = build(model, n, seed)
                net.run(net.dt, progress=False)
                timed = duration_ms - net.dt
            else:
                net.restore("init")
            c0 = time.process_time()
            net.run(timed, progress=False)
            cpus.append(time.process_time() - c0)
            walls.append(net.timing["sim_wall_s"])
    ids = net.monitors["spikes"].ids
    return dict(sim_cpu_s=cpus if threads == 1 else [], sim_wall_s=walls, compile_wall_s=compile_s,
                build_wall_s=build_s, n_spikes=int(ids.size), n_events=int(outdeg[ids].sum()),
                n_synapses=int(net.n_synapses), dtype=str(net.dtype), threads=threads)
