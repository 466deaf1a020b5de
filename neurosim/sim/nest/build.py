"""Build a NEST network from a spec of ``neurosim.sim.nest.export.network_spec``; read its recorders.

This module imports only numpy and (inside functions) the ``nest`` module it is given, never
neurosim: ``Network.write_nest_script`` copies its source, followed by a ``__main__`` call of
:func:`script_main`, into ``run_nest.py`` next to the network's arrays (``network.npz``), and that
script runs unchanged on a cluster with an MPI build of NEST::

    mpirun -np K python run_nest.py --duration-ms 1000 --threads T

Every rank memory-maps the same arrays and connects, chunk by chunk, only the synapses whose target
lives on that rank (``nest.GetLocalNodeCollection``): a rank's memory grows with its own share of
the synapses, and the arrays' pages are shared by the ranks of a node through the page cache. Each rank writes the spikes of its
own neurons to ``<monitor>_rank<R>.npz`` per spike monitor (e.g. ``spikes_rank00000.npz``:
``times_ms``, ``ids``: neurosim global ids); rank 0 also writes the spikes of spike-generator
groups (known in advance). ``neurosim.sim.nest.read_nest_spikes`` merges the files into a
``SpikeMonitor``. State monitors are not written by the script (use ``Network.to_nest``).

Spec arrays travel in a directory (``network/``): :func:`save_spec` replaces every array by
``{"__array__": key}`` in ``spec.json`` and writes ``<key>.npy``; :func:`load_spec` reverses it with
the arrays memory-mapped (an ``.npz`` of the same layout, ``"spec_json"`` holding the JSON, is read too).
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

SPEC_KEY = "spec_json"


# ------------------------------------------------------------------------------- spec <-> npz
def _flatten(obj, arrays, path):
    if isinstance(obj, dict):
        return {k: _flatten(v, arrays, f"{path}/{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_flatten(v, arrays, f"{path}/{i}") for i, v in enumerate(obj)]
    if isinstance(obj, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _unflatten(obj, arrays):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        return {k: _unflatten(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unflatten(v, arrays) for v in obj]
    return obj


def save_spec(path, spec) -> None:
    """Write ``spec`` to ``path``: a directory (created) of ``spec.json`` and one ``.npy`` per array, or,
    when ``path`` ends in ``.npz``, one ``.npz`` (the arrays and the JSON under ``"spec_json"``)."""
    arrays = {}
    skeleton = _flatten(spec, arrays, "")
    if str(path).endswith(".npz"):
        np.savez(path, **arrays, **{SPEC_KEY: np.array(json.dumps(skeleton))})
        return
    os.makedirs(path, exist_ok=True)
    for key, a in arrays.items():
        np.save(os.path.join(path, key + ".npy"), a, allow_pickle=False)
    with open(os.path.join(path, "spec.json"), "w") as fh:   # last: its presence marks a complete directory
        json.dump(skeleton, fh)


class _MappedArrays(dict):
    """``key -> DIR/key.npy``, memory-mapped read-only when first asked for."""

    def __init__(self, directory):
        super().__init__()
        self.directory = directory

    def __missing__(self, key):
        a = self[key] = np.load(os.path.join(self.directory, key + ".npy"), mmap_mode="r", allow_pickle=False)
        return a


def load_spec(path) -> dict:
    """The spec saved by :func:`save_spec`; a directory's arrays are memory-mapped (read-only)."""
    if os.path.isdir(path):
        with open(os.path.join(path, "spec.json")) as fh:
            return _unflatten(json.load(fh), _MappedArrays(path))
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return _unflatten(json.loads(str(arrays.pop(SPEC_KEY))), arrays)


# ------------------------------------------------------------------------------------ build
def _set(nodes, values) -> None:
    """Set scalars, booleans and per-node arrays (a uniform array as one value)."""
    out = {}
    for k, v in values.items():
        a = np.asarray(v)
        if a.ndim == 0:
            out[k] = a.item()
        elif a.size and np.all(a == a.flat[0]):
            out[k] = a.flat[0].item()
        else:
            out[k] = a.tolist()
    if out:
        nodes.set(out)


def _ids(nodes) -> np.ndarray:
    """Global ids of a NodeCollection created by one ``nest.Create`` (contiguous)."""
    first = nodes[0].global_id
    return np.arange(first, first + len(nodes), dtype=np.int64)


#: synapses per ``nest.Connect`` call when connecting a synapse list (bounds the temporaries)
CHUNK = 1 << 22


def _local_flags(nest, node, n):
    """bool [n]: which nodes of a population created by one ``nest.Create`` live on this MPI rank (None:
    all, one process)."""
    if nest.NumProcesses() == 1:
        return None
    flags = np.zeros(n, dtype=bool)
    local = nest.GetLocalNodeCollection(node)
    if len(local):
        flags[np.asarray(local.tolist(), dtype=np.int64) - node[0].global_id] = True
    return flags


def _part(x, sl):
    """``x[sl]`` for a per-synapse array, ``x`` for a scalar."""
    return x if np.ndim(x) == 0 else np.asarray(x[sl])


def _connect_list(nest, pre_ids, post_ids, source, target, weight, delay, receptor, model="static_synapse",
                  local=None, chunk=CHUNK):
    """Connect synapse ``k`` from ``pre_ids[source[k]]`` to ``post_ids[target[k]]`` in chunks of ``chunk``,
    keeping only targets with ``local[target[k]]`` (all when ``local`` is None); the order of the list is
    kept. The arrays may be memory-mapped: only a chunk at a time is read into memory."""
    m = len(source)
    for lo in range(0, m, chunk):
        sl = slice(lo, min(m, lo + chunk))
        src, tgt = np.asarray(source[sl], dtype=np.int64), np.asarray(target[sl], dtype=np.int64)
        w, d = _part(weight, sl), _part(delay, sl)
        if local is not None:
            keep = local[tgt]
            src, tgt = src[keep], tgt[keep]
            w, d = (x if np.ndim(x) == 0 else x[keep] for x in (w, d))
        _connect(nest, pre_ids[src], post_ids[tgt], np.broadcast_to(w, src.shape), d, receptor, model)


def _connect(nest, src, tgt, weight, delay, receptor, model="static_synapse", params=None):
    if len(src) == 0:
        return
    syn = {"synapse_model": model, "weight": np.ascontiguousarray(weight, dtype=np.float64),
           "delay": np.broadcast_to(np.asarray(delay, dtype=np.float64), (len(src),)).copy()}
    if receptor:
        syn["receptor_type"] = int(receptor)
    syn.update(params or {})
    nest.Connect(np.asarray(src, dtype=np.int64), np.asarray(tgt, dtype=np.int64), "one_to_one", syn_spec=syn)


def _per_device_spikes(devices, times, ids, weights=None):
    """Give device ``k`` the spikes ``times[ids == k]`` (and their weights), sorted by time."""
    order = np.lexsort((times, ids))
    times, ids = np.asarray(times)[order], np.asarray(ids)[order]
    bounds = np.searchsorted(ids, np.arange(len(devices) + 1))
    status = []
    for k in range(len(devices)):
        sl = slice(bounds[k], bounds[k + 1])
        st = {"spike_times": times[sl].tolist()}
        if weights is not None:
            st["spike_weights"] = np.asarray(weights)[order][sl].tolist()
        status.append(st)
    devices.set(status)


def build(nest, spec, *, threads=1, seed=1) -> dict:
    """Reset NEST's kernel and create the network of ``spec``; returns the handles ``{"gids": {population:
    global ids [n]}, "spike_recorders": {name: node}, "multimeters": {name: node}, "build_s": seconds}``."""
    t0 = time.perf_counter()
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": float(spec["resolution"]), "local_num_threads": int(threads),
                          "rng_seed": int(seed), "print_time": False})
    res = float(spec["resolution"])
    gids, nodes, local = {}, {}, {}
    for pop in spec["populations"]:
        n, model, params = int(pop["n"]), pop["model"], pop["params"]
        if model == "spike_generator" and params.get("parrot", False):  # relayed: a parrot spikes one step later
            gen = nest.Create("spike_generator", n)
            _per_device_spikes(gen, np.asarray(params["spike_times"]) - res, params["spike_ids"])
            node = nest.Create("parrot_neuron", n)
            _connect(nest, _ids(gen), _ids(node), np.ones(n), res, 0)
        elif model == "spike_generator":
            node = nest.Create("spike_generator", n)
            _per_device_spikes(node, params["spike_times"], params["spike_ids"])
        elif model == "parrot_poisson":
            node = nest.Create("parrot_neuron", n)
            rate = np.asarray(params["rate"], dtype=np.float64)
            one = bool(np.all(rate == rate[0]))
            gen = nest.Create("poisson_generator", 1 if one else n)
            _set(gen, {"rate": rate[:1] if one else rate})
            _connect(nest, _ids(gen)[np.zeros(n, np.int64) if one else np.arange(n)], _ids(node), np.ones(n), res, 0)
        else:
            node = nest.Create(model, n)
            _set(node, params)
            _set(node, pop["state"])
        gids[pop["name"]], nodes[pop["name"]] = _ids(node), node
        local[pop["name"]] = _local_flags(nest, node, n)
    models = {}
    for k, p in enumerate(spec["projections"]):
        model = p["synapse_model"]
        if p["synapse_params"]:  # a copy per projection: its parameters, and its connections found by model name
            model = f"neurosim_{k}_{p['synapse_model']}"
            nest.CopyModel(p["synapse_model"], model, {k: float(v) for k, v in p["synapse_params"].items()})
        models[p["name"]] = model
        _connect_list(nest, gids[p["pre"]], gids[p["post"]], p["source"], p["target"], p["weight"], p["delay"],
                      p["receptor_type"], model, local[p["post"]])
    for s in spec["stimuli"]:
        dev = nest.Create(s["model"], int(s["n_devices"]))
        if s["model"] == "spike_generator":
            _per_device_spikes(dev, s["spike_times"], s["spike_ids"], s["spike_weights"])
        else:
            _set(dev, s["device_params"])
        _connect_list(nest, _ids(dev), gids[s["target"]], s["source"], s["target_idx"], s["weight"], s["delay"],
                      s["receptor_type"], local=local[s["target"]])
    recorders = {}
    plastic = sorted({n for p in spec["projections"] if "stdp" in p["synapse_model"] for n in (p["pre"], p["post"])})
    if plastic:  # pre and post spikes of STDP synapses: the potentiation NEST has not applied yet (run.py)
        rec = nest.Create("spike_recorder")
        for name in plastic:
            nest.Connect(nodes[name], rec)
        handles_stdp = rec
    else:
        handles_stdp = None
    for r in spec["spike_recorders"]:
        rec = nest.Create("spike_recorder")
        for name in r["populations"]:
            nest.Connect(nodes[name], rec)
        recorders[r["name"]] = rec
    meters = {}
    for m in spec["multimeters"]:
        mm = nest.Create("multimeter", params={"interval": float(m["interval"]), "record_from": list(m["record_from"])})
        targets = np.unique(gids[m["population"]][m["neurons"]])
        nest.Connect(mm, nest.NodeCollection(targets.tolist()))
        meters[m["name"]] = mm
    return dict(gids=gids, spike_recorders=recorders, multimeters=meters, synapse_models=models,
                stdp_recorder=handles_stdp, build_s=time.perf_counter() - t0)


def connection_weights(nest, spec, handles, name):
    """Current weights of projection ``name`` on this rank, in the order of its spec's synapse list (NEST
    weight units), found by its own synapse model; synapses with the same (pre, post) pair come in NEST's order."""
    p = next(x for x in spec["projections"] if x["name"] == name)
    conns = nest.GetConnections(synapse_model=handles["synapse_models"][name])
    if len(conns) == 0:
        return np.zeros(0)
    st = conns.get(["source", "target", "weight"])
    src, tgt, w = (np.atleast_1d(np.asarray(st[k])) for k in ("source", "target", "weight"))
    pre_ids = handles["gids"][p["pre"]][p["source"]]
    post_ids = handles["gids"][p["post"]][p["target"]]
    order_nest = np.lexsort((tgt, src))
    order_spec = np.lexsort((post_ids, pre_ids))
    out = np.full(len(pre_ids), np.nan)
    if len(order_nest) == len(order_spec):
        out[order_spec] = w[order_nest]
    return out


# ------------------------------------------------------------------------------------ read back
def neurosim_ids(spec, handles, senders) -> np.ndarray:
    """neurosim global ids of NEST senders (global ids of the spec's populations)."""
    names = [p["name"] for p in spec["populations"]]
    first = np.array([handles["gids"][k][0] for k in names], dtype=np.int64)
    start = np.array([p["start"] for p in spec["populations"]], dtype=np.int64)
    order = np.argsort(first)
    senders = np.asarray(senders, dtype=np.int64)
    k = order[np.searchsorted(first[order], senders, side="right") - 1]
    return senders - first[k] + start[k]


def take_spikes(spec, handles, name):
    """The spikes recorder ``name`` holds (this rank's neurons), as ``(times_ms, neurosim ids)``; clears it."""
    rec = handles["spike_recorders"][name]
    ev = rec.get("events")
    rec.set({"n_events": 0})
    res = float(spec["resolution"])  # the stamp as (step) * resolution, as neurosim computes its spike times
    return np.rint(np.asarray(ev["times"], dtype=np.float64) / res) * res, neurosim_ids(spec, handles, ev["senders"])


def generated_spikes(spec, rec, t0, t1):
    """Spikes of the spike-generator populations of recorder entry ``rec`` in ``(t0, t1]``: (times, ids)."""
    times, ids = [np.zeros(0)], [np.zeros(0, np.int64)]
    pops = {p["name"]: p for p in spec["populations"]}
    for name in rec["generated"]:
        p = pops[name]
        t = np.asarray(p["params"]["spike_times"], dtype=np.float64)
        keep = (t > t0 + 1e-9) & (t <= t1 + 1e-9)
        times.append(t[keep])
        ids.append(np.asarray(p["params"]["spike_ids"], dtype=np.int64)[keep] + int(p["start"]))
    return np.concatenate(times), np.concatenate(ids)


def take_samples(spec, handles, name):
    """The samples multimeter ``name`` holds: ``(times [S], values [S, n_vars, len(neurons)])`` in neurosim
    units (sorted by time); clears it."""
    m = next(x for x in spec["multimeters"] if x["name"] == name)
    mm = handles["multimeters"][name]
    ev = mm.get("events")
    mm.set({"n_events": 0})
    gids = handles["gids"][m["population"]]
    cols = np.asarray(gids[m["neurons"]], dtype=np.int64)
    res = float(spec["resolution"])
    t = np.rint(np.asarray(ev["times"], dtype=np.float64) / res) * res
    times = np.unique(t)
    out = np.zeros((times.size, len(m["variables"]), cols.size))
    if t.size:
        row = np.searchsorted(times, t)
        senders = np.asarray(ev["senders"], dtype=np.int64)
        for j, nest_name in enumerate(m["record_from"]):
            vals = np.zeros((times.size, int(gids.max()) - int(gids.min()) + 1))
            vals[row, senders - gids.min()] = ev[nest_name]
            out[:, j, :] = vals[:, cols - gids.min()] * np.asarray(m["scale"])[j]
    return times, out


# ------------------------------------------------------------------------------------ script
def script_main(argv=None) -> None:
    """``python run_nest.py [--duration-ms T] [--threads K] [--seed S] [--out DIR]``: map ``network/``
    next to this file, build, simulate, write ``spikes_rank<R>.npz`` per MPI rank and ``timing_rank<R>.json``."""
    import argparse

    import nest

    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="Run a network exported by neurosim on NEST (MPI: mpirun -np K).")
    ap.add_argument("--network", default=os.path.join(here, "network"),
                    help="the arrays written by write_nest_script (a directory, or an .npz)")
    ap.add_argument("--duration-ms", type=float, default=None, help="default: the duration given at export")
    ap.add_argument("--threads", type=int, default=1, help="NEST threads per rank")
    ap.add_argument("--seed", type=int, default=1, help="NEST rng_seed (Poisson and noise generators)")
    ap.add_argument("--out", default=here, help="directory for spikes_rank<R>.npz")
    args = ap.parse_args(argv)
    spec = load_spec(args.network)
    duration = float(args.duration_ms if args.duration_ms is not None else spec.get("duration_ms", 0.0))
    if duration <= 0:
        raise SystemExit("error: give --duration-ms (> 0): the network was exported without a duration")
    handles = build(nest, spec, threads=args.threads, seed=args.seed)
    t0 = time.perf_counter()
    nest.Simulate(duration)
    sim_s = time.perf_counter() - t0
    rank = nest.Rank()
    os.makedirs(args.out, exist_ok=True)
    for rec in spec["spike_recorders"]:
        t, i = take_spikes(spec, handles, rec["name"])
        if rank == 0:
            tg, ig = generated_spikes(spec, rec, 0.0, duration)
            t, i = np.concatenate([t, tg]), np.concatenate([i, ig])
        ids = np.concatenate([np.arange(p["start"], p["start"] + p["n"]) for p in spec["populations"]
                              if p["name"] in rec["populations"] or p["name"] in rec["generated"]] or
                             [np.zeros(0, np.int64)])
        np.savez(os.path.join(args.out, f"{rec['name']}_rank{rank:05d}.npz"), times_ms=t, ids=i,
                 neuron_ids=np.unique(ids), n_neurons=int(spec["n_neurons"]), duration_ms=duration,
                 n_ranks=nest.NumProcesses())
    with open(os.path.join(args.out, f"timing_rank{rank:05d}.json"), "w") as fh:
        json.dump({"build_s": handles["build_s"], "simulate_s": sim_s, "rank": rank,
                   "n_ranks": nest.NumProcesses(), "threads": args.threads}, fh)
