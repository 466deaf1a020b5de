"""Scale benchmark (issue 18): Brunel networks of growing size on neurosim, NEST and Brian2; memory first.

    python benchmarks/bench_scale.py                      # 12.5k ... 400k neurons, every simulator found
    python benchmarks/bench_scale.py --sizes 12500,25000 --sims neurosim_1thr,nest_native_2thr
    python benchmarks/bench_scale.py --quick              # two tiny sizes, all simulators (< 2 min)

Network: ``ns.sim.brunel`` (Brunel 2000, NEST ``brunel_delta_nest.py``: LIF with voltage jumps,
g = 5, eta = 2, delay 1.5 ms, dt 0.1 ms; the sparse asynchronous-irregular state) with a
**fixed in-degree** CE = 1000, CI = 250 at every size (``epsilon = (CE + 0.5) / N_E``, so J stays
0.1 mV), as NEST's hpc_benchmark: synapses = 1250 N. ``--quick``: CE = 100, CI = 25.

Simulators (``--sims``; each (simulator, size) runs in its own subprocess):

* ``neurosim_1thr`` / ``neurosim_2thr``: ``ns.sim.brunel`` built and run in the child; 2 threads
  is what a user can set today (``numba.set_num_threads(2)`` + the drive drawn in a helper
  thread, ``sim17_cases.neurosim_threads``); the network loop itself is serial.
* ``nest_2thr``: NEST 3.10, 2 threads, the **same synapse list**: a prep child builds the neurosim
  network and writes its arrays (int32 pre/post per projection, ``write_arrays``); the NEST child
  builds them with ``neurosim.sim.nest.build.build`` (the code of ``net.to_nest`` and of the script
  of ``write_nest_script``) from the spec ``network_spec`` exports for a small proxy Brunel
  network with the same J, g, eta (same parameters, weights, delays, Poisson rate), with the
  real sizes and the synapse list in chunks of ``CHUNK`` synapses (bounded int64/float64
  temporaries). The export's full float64 spec (32 B/synapse on top) is not held.
* ``nest_native_2thr``: NEST's own ``fixed_indegree`` rule (no Python arrays at all): NEST's
  engine memory alone, what its hpc_benchmark measures (a different realisation, same statistics).
* ``nest_script_2thr``: the cluster route as one rank runs it: ``net.write_nest_script(DIR)`` (in a
  prep child), then the script's own ``load_spec`` (memory-mapped ``.npy``: int32 ids, one weight and
  delay per uniform projection) + ``build`` (chunks of the list, targets on the rank only) and
  ``nest.Simulate``. ``resident_file_bytes``: the mapped pages, shared by a node's ranks.
* ``brian2``: Brian2 2.9 cpp_standalone, 1 thread, same synapse list (``brian2_brunel.py``, its
  venv ``benchmarks/.venv-brian2`` or ``BRIAN2_PYTHON``); memory = the generated binary's peak.

Per row: build wall time (network construction; neurosim: + flattening to CSR; NEST: Create +
Connect; Brian2: Python setup + code generation/compile + the binary's set-up), simulation time
per simulated second (``--sim-ms`` after ``--warmup-ms``; neurosim 1 thread and Brian2: CPU clock,
threads: wall clock), the rate, peak RSS above the child's baseline (``ru_maxrss`` after the
imports, before building) and bytes per synapse, resident RSS after the run, ``os.getloadavg()``
at start and end of the child (timings under load > 1.5 are flagged ``loaded``), the CPU model
and vector flags.

Memory guard: before each run the predicted peak (the previous size's peak bytes/synapse of the
same simulator x synapses, ``FIRST_GUESS_BPS`` for the first size, or the rows of ``--resume``; the prep
children: neurosim's; Brian2: its binary plus its Python parent, max(parent's peak, parent's RSS while the
binary runs + the binary's peak))
+ 2 GiB must be below ``MemAvailable``; otherwise the size is skipped with the reason, and a
simulator's series stops at its first skip or failure. Sizes not run are extrapolated: peak
memory = last measured bytes/synapse x synapses, time per simulated second proportional to
synapses (events per step = N x rate x 1250 at a fixed rate), and the largest N that would fit in
the machine's ``MemTotal`` - 2 GiB is reported.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_sim import BRIAN2_PY, cpu_info, cpu_label  # noqa: E402

SIMS = ("neurosim_1thr", "neurosim_2thr", "nest_2thr", "nest_native_2thr", "nest_script_2thr", "brian2")
SIZES = (12500, 25000, 50000, 100000, 200000, 400000)
QUICK_SIZES = (1250, 2500)
GIB = 1 << 30
MARGIN = 2 * GIB
#: bytes per synapse assumed for a simulator's first size (no measurement yet)
FIRST_GUESS_BPS = 200.0
#: synapses per nest.Connect call in the nest_2thr child
CHUNK = 1 << 22
#: load average above which timings are marked as taken on a loaded machine
LOADED = 1.5


def meminfo(key):
    """A ``/proc/meminfo`` entry in bytes (None where there is none)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def rss_bytes(field="VmRSS"):
    """Current resident set size (``VmRSS``; ``RssFile``: the file-backed part, e.g. memory-mapped arrays that
    the ranks of a node share through the page cache) in bytes."""
    lines = Path("/proc/self/status").read_text().splitlines()
    return next((int(ln.split()[1]) * 1024 for ln in lines if ln.startswith(field + ":")), 0)


def maxrss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def epsilon_for(n, ce):
    """``epsilon`` of ``ns.sim.brunel`` that gives in-degrees exactly ``ce`` and ``ce / 4`` at ``n`` neurons."""
    order = n // 5
    if ce > 4 * order:
        raise ValueError(f"CE={ce} exceeds the {4 * order} excitatory neurons of a {n}-neuron network")
    return (ce + 0.5) / (4 * order)


def brunel(n, ce, seed):
    import neurosim as ns

    return ns.sim.brunel(n_neurons=n, epsilon=epsilon_for(n, ce), rng=seed)


# ------------------------------------------------------------------------------------ children
def child_neurosim(args):
    import sim17_cases

    brunel(500, 100, 0)   # the imports (neurosim, its sim modules) belong to the baseline; no kernel compile
    base, t0 = maxrss_bytes(), time.perf_counter()
    net = brunel(args.n, args.ce, args.seed)
    construct = time.perf_counter() - t0
    with sim17_cases.neurosim_threads(args.threads):
        net.run(args.warmup_ms, progress=False)   # flattening + kernel compile/cache load
        warm = dict(net.timing)
        c0 = time.process_time()
        net.run(args.sim_ms, progress=False)
        cpu = time.process_time() - c0
    mon = net.monitors["spikes"]
    n_spk = int(np.count_nonzero(mon.times_ms >= args.warmup_ms - 1e-9))
    sim_s = cpu if args.threads == 1 else net.timing["sim_wall_s"]
    return dict(n_synapses=int(net.n_synapses), n_spikes=n_spk, build_s=construct + warm["build_wall_s"],
                compile_s=warm.get("compile_wall_s", 0.0), sim_s=sim_s, sim_wall_s=net.timing["sim_wall_s"],
                sim_clock="cpu" if args.threads == 1 else "wall", base_bytes=base, peak_bytes=maxrss_bytes(),
                resident_bytes=rss_bytes(), dtype=str(net.dtype))


def write_arrays(net, path):
    """The neurosim network's synapse list and Brunel parameters as an ``.npz`` for the NEST and Brian2 children
    (int32 population-local ``src_k`` / ``tgt_k``, scalar ``weight_k`` in mV, ``delay_k`` in ms)."""
    m, g0 = net.meta, net.groups["exc"]
    out = dict(n=net.n_neurons, CE=m["CE"], CI=m["CI"], J=m["J"], g=m["g"], eta=m["eta"],
               poisson_rate_hz=m["poisson_rate_hz"], dt=net.dt, tau_m=g0.params.tau_mem, theta=g0.params.v_th,
               t_ref=g0.params.t_ref, n_proj=len(net.synapses))
    for k, sg in enumerate(net.synapses):
        if np.ndim(sg.weight) or np.ndim(sg.delay_steps):
            raise ValueError(f"projection {sg.name!r}: per-synapse weights/delays are not expected in Brunel")
        out.update({f"name_{k}": sg.name, f"pre_{k}": sg.pre_group.name, f"post_{k}": sg.post_group.name,
                    f"src_{k}": sg.pre.astype(np.int32) + np.int32(sg.pre_group.start),
                    f"tgt_{k}": sg.post.astype(np.int32) + np.int32(sg.post_group.start),
                    f"weight_{k}": float(sg.weight), f"delay_{k}": float(sg.delay_steps) * net.dt})
    np.savez(path, **out)


def child_prep(args):
    brunel(500, 100, 0)
    base = maxrss_bytes()
    net = brunel(args.n, args.ce, args.seed)
    write_arrays(net, args.arrays)
    return dict(n_synapses=int(net.n_synapses), base_bytes=base, peak_bytes=maxrss_bytes())


def child_prep_script(args):
    brunel(500, 100, 0)
    base = maxrss_bytes()
    net = brunel(args.n, args.ce, args.seed)
    net.write_nest_script(Path(args.arrays).parent)
    return dict(n_synapses=int(net.n_synapses), base_bytes=base, peak_bytes=maxrss_bytes())


def proxy_spec(z, resolution=None):
    """``network_spec`` of a 1,000-neuron Brunel network with the J, g, eta of ``z``: NEST's parameters,
    weights, delays and Poisson rate for any size (the Poisson rate eta theta / (J tau) does not depend on CE)."""
    import warnings

    import neurosim as ns
    from neurosim.sim.nest import network_spec

    proxy = ns.sim.brunel(n_neurons=1000, J=float(z["J"]), g=float(z["g"]), eta=float(z["eta"]), rng=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return network_spec(proxy, resolution=resolution)


def _scalars(d):
    out = {}
    for k, v in d.items():
        a = np.asarray(v)
        if a.ndim and not np.all(a == a.flat[0]):
            raise ValueError(f"{k}: not uniform in the proxy network")
        out[k] = a.flat[0].item() if a.ndim else v
    return out


def scaled_spec(z):
    """The proxy spec resized to ``z``'s populations, with ``z``'s synapse list in chunks of ``CHUNK``."""
    spec = proxy_spec(z)
    n_exc = int(z["n"]) * 4 // 5
    sizes = {"exc": (0, n_exc), "inh": (n_exc, int(z["n"]) - n_exc)}
    for p in spec["populations"]:
        p["start"], p["n"] = sizes[p["name"]]
        p["params"], p["state"] = _scalars(p["params"]), _scalars(p["state"])
    for s in spec["stimuli"]:
        n = sizes[s["target"]][1]
        s["source"], s["target_idx"] = np.zeros(n, np.int64), np.arange(n)
        s["weight"] = np.full(n, float(np.asarray(s["weight"]).flat[0]))
    spec["n_neurons"] = int(z["n"])
    proxy = {p["name"]: p for p in spec["projections"]}
    spec["projections"] = []
    for k in range(int(z["n_proj"])):
        p = proxy[str(z[f"name_{k}"])]
        w, d = float(np.asarray(p["weight"]).flat[0]), float(np.asarray(p["delay"]).flat[0])
        src, tgt = z[f"src_{k}"], z[f"tgt_{k}"]
        off_pre, off_post = sizes[p["pre"]][0], sizes[p["post"]][0]
        for c in range(0, src.size, CHUNK):
            s, t = src[c:c + CHUNK] - off_pre, tgt[c:c + CHUNK] - off_post
            spec["projections"].append(dict(p, name=f"{p['name']}#{c // CHUNK}", source=s, target=t,
                                            weight=np.full(s.size, w), delay=d))
        del src, tgt
    return spec


def child_nest(args):
    import nest

    from neurosim.sim.nest import build as nest_build

    nest.verbosity = nest.VerbosityLevel.ERROR
    proxy_spec(dict(J=100.0 / args.ce, g=5.0, eta=2.0))   # neurosim's imports belong to the baseline
    nest.ResetKernel()
    base, t0 = maxrss_bytes(), time.perf_counter()
    with np.load(args.arrays) as z:
        n_syn = sum(int(z[f"src_{k}"].size) for k in range(int(z["n_proj"])))
        spec = scaled_spec(z)
    handles = nest_build.build(nest, spec, threads=args.threads, seed=args.seed + 1)
    for p in spec["projections"]:  # the synapse list is in NEST now
        p["source"] = p["target"] = p["weight"] = None
    gc.collect()
    build_s = time.perf_counter() - t0
    return _nest_simulate(nest, args, build_s, base, n_syn,
                          lambda: nest_build.take_spikes(spec, handles, "spikes")[0].size)


def child_nest_script(args):
    """What ``run_nest.py`` does on one rank: map the spec, build (chunked, local targets only), simulate."""
    import nest

    from neurosim.sim.nest import build as nest_build

    nest.verbosity = nest.VerbosityLevel.ERROR
    proxy_spec(dict(J=100.0 / args.ce, g=5.0, eta=2.0))   # as in child_nest (the script itself imports no neurosim)
    nest.ResetKernel()
    base, t0 = maxrss_bytes(), time.perf_counter()
    spec = nest_build.load_spec(args.arrays)
    handles = nest_build.build(nest, spec, threads=args.threads, seed=args.seed + 1)
    n_syn = sum(len(p["source"]) for p in spec["projections"])
    return _nest_simulate(nest, args, time.perf_counter() - t0, base, n_syn,
                          lambda: nest_build.take_spikes(spec, handles, "spikes")[0].size)


def child_nest_native(args):
    import nest

    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.ResetKernel()
    spec = proxy_spec(dict(J=100.0 / args.ce, g=5.0, eta=2.0))   # ns.sim.brunel: J = 0.1 mV x 1000 / CE
    base, t0 = maxrss_bytes(), time.perf_counter()
    nest.SetKernelStatus({"resolution": float(spec["resolution"]), "local_num_threads": args.threads,
                          "rng_seed": args.seed + 1, "print_time": False})
    n_exc = args.n * 4 // 5
    pops = {}
    for p in spec["populations"]:
        pops[p["name"]] = nest.Create(p["model"], n_exc if p["name"] == "exc" else args.n - n_exc,
                                      params=_scalars({**p["params"], **p["state"]}))
    indeg = {"exc": args.ce, "inh": args.ce // 4}
    for p in spec["projections"]:
        nest.Connect(pops[p["pre"]], pops[p["post"]], {"rule": "fixed_indegree", "indegree": indeg[p["pre"]]},
                     {"synapse_model": "static_synapse", "weight": float(np.asarray(p["weight"]).flat[0]),
                      "delay": float(np.asarray(p["delay"]).flat[0])})
    for s in spec["stimuli"]:
        gen = nest.Create(s["model"], params=_scalars(s["device_params"]))
        nest.Connect(gen, pops[s["target"]], syn_spec={"weight": float(np.asarray(s["weight"]).flat[0]),
                                                       "delay": float(s["delay"])})
    rec = nest.Create("spike_recorder")
    nest.Connect(pops["exc"] + pops["inh"], rec)
    n_syn = nest.GetKernelStatus("num_connections") - args.n - args.n   # minus the Poisson and recorder links
    build_s = time.perf_counter() - t0

    def count():
        k = rec.get("n_events")
        rec.set({"n_events": 0})
        return k
    return _nest_simulate(nest, args, build_s, base, n_syn, count)


def _nest_simulate(nest, args, build_s, base, n_syn, take):
    t0 = time.perf_counter()
    nest.Simulate(args.warmup_ms)      # the first Simulate also builds NEST's connection infrastructure
    warm = time.perf_counter() - t0
    take()
    t0 = time.perf_counter()
    nest.Simulate(args.sim_ms)
    sim_s = time.perf_counter() - t0
    return dict(n_synapses=int(n_syn), n_spikes=int(take()), build_s=build_s, first_simulate_s=warm, sim_s=sim_s,
                sim_wall_s=sim_s, sim_clock="wall", base_bytes=base, peak_bytes=maxrss_bytes(),
                resident_bytes=rss_bytes(), resident_file_bytes=rss_bytes("RssFile"), nest=nest.__version__)


CHILDREN = {"neurosim": child_neurosim, "prep": child_prep, "prep_script": child_prep_script, "nest": child_nest,
            "nest_native": child_nest_native, "nest_script": child_nest_script}


def child_main(args):
    load0 = os.getloadavg()
    out = CHILDREN[args.child](args)
    out.update(neurons=args.n, threads=args.threads, loadavg_start=load0, loadavg_end=os.getloadavg())
    print(json.dumps(out), flush=True)


# ------------------------------------------------------------------------------------ parent
def _run_child(cmd, timeout):
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:g} s"
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        why = "killed by signal %d (out of memory?)" % -proc.returncode if proc.returncode < 0 else tail
        return None, f"exit {proc.returncode}: {why}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["child_wall_s"] = time.perf_counter() - t0
    return out, None


def available(sims):
    """``{simulator: None or why it cannot run}``."""
    import importlib.util

    nest_why = None if importlib.util.find_spec("nest") else "nest is not importable (pip install nest-simulator)"
    brian_why = None if BRIAN2_PY.exists() else f"{BRIAN2_PY} missing (benchmarks/setup_brian2_venv.sh)"
    return {s: nest_why if s.startswith("nest") else brian_why if s == "brian2" else None for s in sims}


def finish_row(sim, row):
    """Derived columns: bytes per synapse, time per simulated second, the loaded flag."""
    if sim == "brian2":
        row["base_bytes"] = 0
        row["peak_bytes"] = row["binary_peak_kib"] * 1024
        row["python_peak_bytes"] = (row["python_peak_kib"] - row["python_base_kib"]) * 1024
        loops = row["sim_s"] * (1.0 + row["warmup_ms"] / row["sim_ms"])  # the warm-up's loop at the same speed
        row["build_s"] = row["setup_s"] + row["compile_s"] + max(0.0, row["binary_wall_s"] - loops)
        # the machine holds the Python parent (its peak before compiling; its RSS while the binary runs) too
        both = max(row["python_peak_bytes"], (row["python_rss_at_run_kib"] - row["python_base_kib"]) * 1024
                   + row["peak_bytes"])
        row["machine_bytes_per_synapse"] = both / max(row["n_synapses"], 1)
    row["peak_above_base_bytes"] = row["peak_bytes"] - row["base_bytes"]
    row["bytes_per_synapse"] = row["peak_above_base_bytes"] / max(row["n_synapses"], 1)
    if "resident_bytes" in row:
        row["resident_bytes_per_synapse"] = (row["resident_bytes"] - row["base_bytes"]) / max(row["n_synapses"], 1)
    if "resident_file_bytes" in row:
        row["resident_file_bytes_per_synapse"] = row["resident_file_bytes"] / max(row["n_synapses"], 1)
    row["s_per_sim_s"] = row["sim_s"] / (row["sim_ms"] / 1000.0)
    row["rate_hz"] = row["n_spikes"] / row["neurons"] / (row["sim_ms"] / 1000.0)
    row["loaded"] = max(row["loadavg_start"][0], row["loadavg_end"][0]) > LOADED
    return row


def run_all(args, sims, sizes, log=print, save=None, prev=None):
    """Run every (simulator, size) in its own child under the memory guard; ``save(res)`` after each row."""
    info = cpu_info()
    res = dict(machine=dict(**info, mem_total_bytes=meminfo("MemTotal"), python=sys.version.split()[0],
                            numpy=np.__version__), ce=args.ce, ci=args.ce // 4, sizes=list(sizes),
               warmup_ms=args.warmup_ms, sim_ms=args.sim_ms, rows=[], skipped={}, stopped={})
    why = available(sims)
    active = [s for s in sims if why[s] is None]
    for s in sims:
        if why[s] is not None:
            res["skipped"][s] = why[s]
            log(f"[{s}] skipped: {why[s]}")
    bps = {}
    prev = prev or {}
    for row in sorted(prev.get("rows", []), key=lambda r: r["neurons"]):  # --resume: earlier rows, bytes/synapse
        if row["neurons"] not in sizes or row["simulator"] not in sims:
            res["rows"].append(row)
            bps[row["simulator"]] = row.get("machine_bytes_per_synapse", row["bytes_per_synapse"])
    res["stopped"].update({s: d for s, d in prev.get("stopped", {}).items() if s not in sims})
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    common = ["--ce", str(args.ce), "--seed", str(args.seed), "--warmup-ms", str(args.warmup_ms),
              "--sim-ms", str(args.sim_ms)]
    me = [sys.executable, str(Path(__file__).resolve())]
    try:
        for n in sizes:
            n_syn = n * (args.ce + args.ce // 4)
            todo = [s for s in active if s not in res["stopped"]]
            arrays = tmp / f"brunel_{n}.npz"
            if any(s in ("nest_2thr", "brian2") for s in todo):
                stop = _prep(args, me, common, "prep", n, n_syn, arrays, bps, res, log)
                if stop:
                    for s in ("nest_2thr", "brian2"):
                        if s in todo:
                            res["stopped"][s] = dict(neurons=n, why=f"array export: {stop}")
                    todo = [s for s in todo if s not in ("nest_2thr", "brian2")]
            script = tmp / f"script_{n}"
            if "nest_script_2thr" in todo:
                stop = _prep(args, me, common, "prep_script", n, n_syn, script / "network", bps, res, log)
                if stop:
                    res["stopped"]["nest_script_2thr"] = dict(neurons=n, why=f"write_nest_script: {stop}")
                    todo.remove("nest_script_2thr")
            for s in todo:
                ok, stop = _guarded(res, s, n, n_syn, bps.get(s), log)
                if not ok:
                    res["stopped"][s] = dict(neurons=n, why=stop)
                    continue
                threads = 2 if s.endswith("2thr") else 1
                if s == "brian2":
                    cmd = [str(BRIAN2_PY), str(HERE / "brian2_brunel.py"), str(arrays), "--seed", str(args.seed),
                           "--warmup-ms", str(args.warmup_ms), "--sim-ms", str(args.sim_ms),
                           "--workdir", str(tmp / "brian2")]
                else:
                    kind = {"nest_2thr": "nest", "nest_native_2thr": "nest_native", "nest_script_2thr": "nest_script"}
                    kind = kind.get(s, "neurosim")
                    where = script / "network" if kind == "nest_script" else arrays
                    cmd = me + ["--child", kind, "--n", str(n), "--threads", str(threads), "--arrays", str(where)]
                    cmd += common
                log(f"[{s}] {n} neurons, {n_syn / 1e6:.1f}M synapses ...")
                out, err = _run_child(cmd, args.timeout)
                if out is None:
                    res["stopped"][s] = dict(neurons=n, why=err)
                    log(f"[{s}] {n}: failed: {err}")
                    continue
                row = finish_row(s, dict(out, simulator=s, warmup_ms=args.warmup_ms, sim_ms=args.sim_ms,
                                         cpu=cpu_label(info)))
                bps[s] = row.get("machine_bytes_per_synapse", row["bytes_per_synapse"])
                res["rows"].append(row)
                log("  " + table_line(row))
                if save is not None:
                    res["largest"], res["extrapolated"] = summarize(res, sims, sizes, args.ce)
                    save(res)
            if arrays.exists():
                arrays.unlink()
            shutil.rmtree(script, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    every = sorted({r["neurons"] for r in res["rows"]} | set(sizes))
    res["largest"], res["extrapolated"] = summarize(res, sims, every, args.ce)
    return res


def _prep(args, me, common, kind, n, n_syn, path, bps, res, log):
    """Run prep child ``kind`` (writes ``path``) under the guard; None when it succeeded, else why not."""
    ok, stop = _guarded(res, kind, n, n_syn, bps.get(kind, bps.get("neurosim_1thr")), log)
    if not ok:
        return stop
    out, err = _run_child(me + ["--child", kind, "--n", str(n), "--arrays", str(path)] + common, args.timeout)
    if out is not None:
        bps[kind] = (out["peak_bytes"] - out["base_bytes"]) / out["n_synapses"]
    return err


def _guarded(res, sim, n, n_syn, bps, log):
    """(True, None) when the predicted peak of ``sim`` at ``n`` fits in MemAvailable, else (False, why)."""
    guess = FIRST_GUESS_BPS if bps is None else bps
    need = guess * n_syn + MARGIN
    avail = meminfo("MemAvailable")
    if avail is not None and need > avail:
        why = (f"predicted peak {guess:.0f} B/synapse x {n_syn / 1e6:.0f}M + 2 GiB = {need / GIB:.1f} GiB > "
               f"MemAvailable {avail / GIB:.1f} GiB")
        log(f"[{sim}] {n}: skipped: {why}")
        return False, why
    return True, None


def summarize(res, sims, sizes, ce):
    """Largest size each simulator ran, and the extrapolation of the sizes it did not (module docstring)."""
    largest, extra = {}, []
    total = res["machine"]["mem_total_bytes"] or 0
    k = ce + ce // 4
    for s in sims:
        rows = [r for r in res["rows"] if r["simulator"] == s]
        if not rows:
            continue
        last = max(rows, key=lambda r: r["neurons"])
        bps = last.get("machine_bytes_per_synapse", last["bytes_per_synapse"])   # Brian2: binary + Python parent
        fit_n = int(max(0.0, total - MARGIN) / (bps * k)) if total and bps > 0 else None
        largest[s] = dict(neurons=last["neurons"], n_synapses=last["n_synapses"],
                          bytes_per_synapse=last["bytes_per_synapse"], machine_bytes_per_synapse=bps,
                          predicted_max_neurons=fit_n)
        for n in sizes:
            if n > last["neurons"]:
                f = n / last["neurons"]
                extra.append(dict(simulator=s, neurons=n, n_synapses=n * k,
                                  peak_gib=bps * n * k / GIB,
                                  s_per_sim_s=last["s_per_sim_s"] * f, build_s=last["build_s"] * f))
    return largest, extra


def table_line(r):
    load = "/".join(f"{x:.1f}" for x in (r["loadavg_start"][0], r["loadavg_end"][0]))
    res_bps = r.get("resident_bytes_per_synapse")
    return (f"| {r['simulator']} | {r['neurons']:,} | {r['n_synapses'] / 1e6:.3g}M | {r['build_s']:.1f} | "
            f"{r['s_per_sim_s']:.2f} ({r['sim_clock']}) | {r['rate_hz']:.1f} | "
            f"{r['peak_above_base_bytes'] / 2 ** 20:,.0f} | **{r['bytes_per_synapse']:.1f}** | "
            f"{'' if res_bps is None else f'{res_bps:.1f}'} | {load}{' loaded' if r['loaded'] else ''} |")


HEADER = ("| simulator | neurons | synapses | build s | s per simulated s (clock) | rate Hz | peak MiB | "
          "peak B/synapse | resident B/synapse | load avg start/end |\n|---|---|---|---|---|---|---|---|---|---|")


def markdown(res):
    m = res["machine"]
    lines = [f"Brunel, fixed in-degree CE = {res['ce']}, CI = {res['ci']}; {res['warmup_ms']:g} ms warm-up + "
             f"{res['sim_ms']:g} ms timed; {m['cpu_model']} ({' '.join(m['vector_extensions'])}), "
             f"MemTotal {(m['mem_total_bytes'] or 0) / GIB:.1f} GiB", "", HEADER]
    lines += [table_line(r) for r in sorted(res["rows"], key=lambda r: (SIMS.index(r["simulator"]), r["neurons"]))]
    lines += ["", "| simulator | largest run here | peak B/synapse there (Brian2: binary; + Python parent) | "
              "largest predicted to fit MemTotal - 2 GiB |", "|---|---|---|---|"]
    for s, d in res["largest"].items():
        both = d.get("machine_bytes_per_synapse", d["bytes_per_synapse"])
        extra = f" ({both:.1f})" if both != d["bytes_per_synapse"] else ""
        lines.append(f"| {s} | {d['neurons']:,} ({d['n_synapses'] / 1e6:.3g}M synapses) | "
                     f"{d['bytes_per_synapse']:.1f}{extra} | {d['predicted_max_neurons'] or 0:,} |")
    for s, d in res["stopped"].items():
        lines.append(f"\n{s} stopped at {d['neurons']:,} neurons: {d['why']}")
    for s, why in res["skipped"].items():
        lines.append(f"\n{s} not run: {why}")
    if res["extrapolated"]:
        lines += ["", "Extrapolated (not run): peak = last B/synapse x synapses, time proportional to synapses", "",
                  "| simulator | neurons | peak GiB | s per simulated s | build s |", "|---|---|---|---|---|"]
        lines += [f"| {e['simulator']} | {e['neurons']:,} | {e['peak_gib']:.1f} | {e['s_per_sim_s']:.1f} | "
                  f"{e['build_s']:.0f} |" for e in res["extrapolated"]]
    return "\n".join(lines) + "\n"


def _list(ap, option, text, cast, allowed=None):
    try:
        values = [cast(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or (allowed is not None and not set(values) <= set(allowed)):
        ap.error(f"{option} must be a comma-separated list{'' if allowed is None else ' of ' + ', '.join(allowed)}, "
                 f"got {text!r}")
    return values


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=None, help="comma-separated neuron counts (multiples of 5), ascending")
    ap.add_argument("--sims", default=",".join(SIMS), help="comma-separated: " + ", ".join(SIMS))
    ap.add_argument("--ce", type=int, default=None, help="excitatory in-degree (CI = CE / 4); default 1000, quick 100")
    ap.add_argument("--warmup-ms", type=float, default=None, help="default 50 (quick: 20)")
    ap.add_argument("--sim-ms", type=float, default=None, help="timed simulation, default 200 (quick: 100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per child")
    ap.add_argument("--quick", action="store_true", help="two tiny sizes, every simulator found")
    ap.add_argument("--out", default=str(HERE / "out" / "bench_scale"), help="writes OUT.json and OUT.md")
    ap.add_argument("--resume", default=None, help="an earlier OUT.json: keep its rows (other sizes / simulators) and "
                    "start the memory guard from their bytes per synapse (e.g. --sizes 400000 after a run to 200000)")
    ap.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--arrays", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.ce = args.ce if args.ce is not None else (100 if args.quick else 1000)
    args.warmup_ms = args.warmup_ms if args.warmup_ms is not None else (20.0 if args.quick else 50.0)
    args.sim_ms = args.sim_ms if args.sim_ms is not None else (100.0 if args.quick else 200.0)
    if args.child:
        return child_main(args)
    sizes = _list(ap, "--sizes", args.sizes, int) if args.sizes else list(QUICK_SIZES if args.quick else SIZES)
    if sizes != sorted(sizes) or any(n % 5 or n < 5 for n in sizes):
        ap.error(f"--sizes must be ascending multiples of 5, got {sizes}")
    if args.ce < 4 or min(sizes) * 4 // 5 < args.ce:
        ap.error(f"--ce must be >= 4 and at most the excitatory count 4/5 N of the smallest size, got {args.ce}")
    if args.sim_ms <= 0 or args.warmup_ms < 0:
        ap.error("--sim-ms must be > 0 and --warmup-ms >= 0")
    sims = _list(ap, "--sims", args.sims, str, SIMS)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(res):
        out.with_suffix(".json").write_text(json.dumps(res, indent=1))
        out.with_suffix(".md").write_text(markdown(res))
    prev = None
    if args.resume:
        try:
            prev = json.loads(Path(args.resume).read_text())
            prev["rows"]
        except (OSError, ValueError, KeyError) as exc:
            ap.error(f"--resume {args.resume}: not a bench_scale JSON ({exc})")
    res = run_all(args, sims, sizes, log=lambda s: print(s, flush=True), save=save, prev=prev)
    save(res)
    print("\n" + markdown(res))
    return res


if __name__ == "__main__":
    main()
