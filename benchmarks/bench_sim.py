"""Network simulation benchmark: neurosim vs Brian2 cpp_standalone vs plain NumPy, in one run.

    bash benchmarks/setup_brian2_venv.sh          # once: Brian2 2.9 + numpy<2.4 in benchmarks/.venv-brian2
    python benchmarks/bench_sim.py                # all workloads, writes benchmarks/out/bench_sim.json
    python benchmarks/bench_sim.py --only cuba4000 --repeats 5
    python benchmarks/bench_sim.py --only coba4000,cobahh4000,stdp --threads 1,2 --nest-threads 2
    bash benchmarks/setup_nest_venv.sh            # once: NEST 3.10 in benchmarks/.venv-nest (pip)

Workloads (ALGORITHMS.md §7, PEERS.md §B), 1 s of biological time each:

* ``izh1000``  Izhikevich (2003) ``spnet``: 800 exc + 200 inh, all-to-all, dt 1 ms, thalamic noise.
* ``izh4000``, ``izh40000``  the same cells scaled up with the 80/20 ratio; every neuron keeps
  the published input: 800 excitatory + 200 inhibitory presynaptic partners drawn without
  replacement (fixed in-degree 1000, weights unchanged). At N = 1000 this *is* the all-to-all
  network; all-to-all at 40,000 would need 1.6e9 synapses (12.8 GB of float64 weights in
  neurosim, ~25 GB in Brian2), so the in-degree is kept instead (rate stays ~7.5 Hz).
* ``cuba4000``, ``cuba40000``  Vogels-Abbott CUBA (Brian2 ``examples/CUBA.py``), p = 0.02,
  dt 0.1 ms; 40,000 neurons: 32M synapses, weights x 0.1 (PEERS.md).
* ``coba4000``, ``cobahh4000``, ``stdp`` (issue 17): ``ns.sim.coba``, ``ns.sim.cobahh`` and
  ``ns.sim.song_abbott_stdp`` (1000 Poisson inputs -> 1 neuron, 100 s simulated,
  ``--stdp-seconds``), each exported and rebuilt in Brian2 (``brian2_nets.py``) and NEST
  (``nest_nets.py``, 2 threads: ``iaf_cond_exp``, ``hh_cond_exp_traub``, ``stdp_synapse`` +
  ``iaf_cond_exp``); protocol and mappings in ``sim17_cases.py`` / ``nest_nets.py``. A workload
  whose builder this neurosim lacks is skipped with a message (``cobahh`` before the HH branch).

Threads (``--threads 1,2``): neurosim's network loop is serial; "neurosim 2 threads" is what a
user can set today: ``numba.set_num_threads(2)`` and ``neurosim.sim._flat.PREFETCH_DRIVE`` on
(random drive drawn in a helper thread), timed by the wall clock (row ``neurosim_2thr``). Brian2
runs with 1 thread and with ``--brian2-threads`` OpenMP threads (default: ``--threads``); NEST
with ``--nest-threads`` (default 2). Every row also reports synaptic events/s (spikes x
out-degree of the spiking neuron, over the loop time) and its speed-up over the Brian2 row with
the same thread count (``x vs Brian2``: Brian2 time / row time, same clock). The CPU model and
its vector extensions (``/proc/cpuinfo`` flags) are recorded in the JSON (``machine``) and in
every table row.

Fairness: one network realisation per workload (``numpy_ref.*_network``, seed 0: synapses
sorted by (pre, post), parameters, initial v) is simulated by all three. neurosim builds it
with its public API (``Network.add_izhikevich/add_lif``, ``connect(pairs=...)``, ``add_noise``)
in the dtype of its canonical builder (float32 for both; ``--izh-dtype float64`` runs Izhikevich
in float64); Brian2 loads the same arrays (float64, its default). Deterministic CUBA therefore
gives the same spikes up to rounding; Izhikevich differs in the thalamic noise stream of each
simulator (and the rounding), so only rates are compared.

Timing is of the simulation loop only, and by the *CPU clock* for the serial loops: Brian2's
generated ``Network::run`` times its step loop with ``std::clock`` (process CPU time) when it
runs on one thread (``device._last_run_time``; ``make`` time reported apart), so neurosim
(``time.process_time`` around ``Network.run``, which runs the fused kernel loop and draws the
noise, both on the calling thread; its first run, which flattens the network and
loads/compiles the kernel, is excluded and ``net.timing`` wall times are kept too) and NumPy (``process_time`` around its step loop)
are timed the same way. On a shared machine the CPU clock is the robust choice: it does not
count time the process waits for a core. neurosim: median of ``repeats - 1`` runs after the
first (the same network continues), Brian2: median of ``--repeats`` runs of its binary, NumPy:
one run. Both run on one thread: Brian2 single-threaded, neurosim's loop is serial and draws the
noise serially (``neurosim.sim._flat.PREFETCH_DRIVE`` off, the default; on, a helper thread
would draw the next chunk while the kernel runs). ``--brian2-threads 1,2`` adds Brian2 with 2
OpenMP threads, timed by wall clock (``omp_get_wtime``) and compared with neurosim's wall time.

Bandwidth bound (the byte model): minimum traffic per neuron-step in float32 (PEERS.md): CUBA
28 B (v, ge, gi read + written, refractory counter read); Izhikevich 28 B (v, u read + written,
noise and a, b read). neuron-updates/s = N * steps / loop time, reported against the bandwidth
of the memory level where the population's state lives, measured in the same run: a float32
copy loop over a working set of the state's size (16 B per neuron: CUBA 4,000 = 64 KB sits in
L2, 40,000 = 640 KB in L2/L3), repeated inside one Numba call, CPU clock. (The earlier model
divided by main-memory ``np.copyto`` bandwidth, so a cache-resident CUBA 4,000 read as 119 % "of
bound"; the main-memory figure is still printed and stored as ``copy_bandwidth_gb_s``.)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import numpy_ref  # noqa: E402
import sim17_cases  # noqa: E402

BRIAN2_PY = Path(os.environ.get("BRIAN2_PYTHON", HERE / ".venv-brian2" / "bin" / "python"))
NEST_PY = Path(os.environ.get("NEST_PYTHON", HERE / ".venv-nest" / "bin" / "python"))
#: /proc/cpuinfo flags reported as the CPU's vector extensions (those present, in this order)
VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni",
                "avx512_bf16", "avx512_fp16", "amx_tile", "asimd", "sve", "sve2")
BYTES_PER_NEURON_STEP = {"izhikevich2003": 28, "cuba": 28}
#: neurosim's dtype for the Izhikevich workloads: that of ``ns.sim.izhikevich2003`` (``--izh-dtype``)
IZH_DTYPE = np.float32

WORKLOADS = {
    "izh1000": ("izhikevich2003", 1000),
    "izh4000": ("izhikevich2003", 4000),
    "izh40000": ("izhikevich2003", 40000),
    "cuba4000": ("cuba", 4000),
    "cuba40000": ("cuba", 40000),
    **sim17_cases.WORKLOADS,
}


def cpu_info():
    """``{"cpu_model": ..., "vector_extensions": [...]}`` from /proc/cpuinfo (platform fallbacks)."""
    model, flags, fam = platform.processor() or platform.machine(), set(), {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in ("model name", "cpu model") and model in ("", platform.processor(), platform.machine()):
                model = value.strip()
            elif key in ("flags", "features") and not flags:
                flags = set(value.split())
            elif key in ("vendor_id", "cpu family", "model") and key not in fam:
                fam[key] = value.strip()
    except OSError:
        pass
    family = "/".join(fam.get(k, "?") for k in ("vendor_id", "cpu family", "model")) if fam else ""
    return {"cpu_model": model, "cpu_family_model": family, "vector_extensions": [f for f in VECTOR_FLAGS if f in flags]}


def cpu_label(info):
    fam = f" [{info['cpu_family_model']}]" if info.get("cpu_family_model") else ""
    return f"{info['cpu_model']}{fam} ({' '.join(info['vector_extensions']) or 'no AVX'})"


def copy_bandwidth(n_bytes=1 << 28, repeats=10):
    """(read + written bytes) / s of ``np.copyto``, best of ``repeats``, by wall and by CPU clock."""
    src = np.ones(n_bytes // 8)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touch the pages
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        np.copyto(dst, src)
        best_wall = min(best_wall, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return 2 * src.nbytes / best_wall, 2 * src.nbytes / max(best_cpu, 1e-9)


def working_set_bandwidth(n_bytes, repeats=5):
    """(read + written bytes) / s of a float32 copy loop over ``n_bytes`` of state (half read, half
    written), repeated in one Numba call so that call overhead does not count: the bandwidth of the
    cache level (or main memory) where a population of that size lives. Best of ``repeats``, CPU clock."""
    import numba

    @numba.njit(cache=False)
    def sweep(src, dst, reps):
        acc = np.float32(0)
        for r in range(reps):
            for i in range(src.shape[0]):
                dst[i] = src[i] + acc
            acc += dst[r % dst.shape[0]] * np.float32(0)  # a dependency between sweeps (no hoisting)
        return acc

    n = max(16, n_bytes // 8)
    src = np.ones(n, dtype=np.float32)
    dst = np.empty_like(src)
    reps = max(1, (1 << 30) // (8 * n))  # ~1 GB moved per measurement
    sweep(src, dst, 1)
    best = float("inf")
    for _ in range(repeats):
        c0 = time.process_time()
        sweep(src, dst, reps)
        best = min(best, time.process_time() - c0)
    return 8 * n * reps / max(best, 1e-9)


def make_network(model, n, seed):
    if model == "cuba":
        return numpy_ref.cuba_network(n, seed=seed)
    return numpy_ref.izhikevich2003_network(n, seed=seed)


def neurosim_network(net, seed):
    """The shared realisation as a neurosim ``Network`` (public API only)."""
    import neurosim as ns

    n, ne = int(net["n"]), int(net["ne"])
    pre, post = net["pre"].astype(np.int64), net["post"].astype(np.int64)
    if net["model"] == "izhikevich2003":
        sim = ns.sim.Network(dt=1.0, dtype=IZH_DTYPE, rng=seed)
        params = ns.neurons.IzhikevichParams(a=net["a"], b=net["b"], c=net["c"], d=net["d"])
        g = sim.add_izhikevich(n, params, v0=-65.0, name="all")
        sim.connect(g, g, pairs=(pre, post), weight=net["w"], target="i", name="syn")
        sim.add_noise(g, net["sigma"], target="i")
    else:
        P = numpy_ref.CUBA
        sim = ns.sim.Network(dt=0.1, dtype=np.float32, rng=seed)
        params = ns.neurons.LIFParams(tau_mem=P["taum"], tau_syn=P["taue"], tau_syn_inh=P["taui"], v_rest=P["el"],
                                      v_th=P["v_th"], v_reset=P["v_reset"], t_ref=P["t_ref"], r=1.0, reset="zero")
        g = sim.add_lif(n, params, v0=net["v0"], name="all")
        exc = pre < ne
        sim.connect(g, g, pairs=(pre[exc], post[exc]), weight=net["w"][exc], target="ge", name="exc")
        sim.connect(g, g, pairs=(pre[~exc], post[~exc]), weight=net["w"][~exc], target="gi", name="inh")
    sim.add_spike_monitor(name="spikes")
    return sim


def run_neurosim(net, duration_ms, repeats, seed, threads=1):
    t0 = time.perf_counter()
    sim = neurosim_network(net, seed)
    build = time.perf_counter() - t0
    outdeg = sim17_cases.out_degree(net)
    with sim17_cases.neurosim_threads(threads):
        sim.run(duration_ms, progress=False)  # first run: flattening + Numba compile/cache load are timed apart
        walls = [sim.timing["sim_wall_s"]]
        ids = sim.monitors["spikes"].ids
        cpus = []
        for _ in range(repeats - 1):  # the same network continues; the loop is timed by wall and CPU clock
            c0 = time.process_time()
            sim.run(duration_ms, progress=False)
            cpus.append(time.process_time() - c0)
            walls.append(sim.timing["sim_wall_s"])
    # the first run's loop (``first_run_wall_s``) is not among the timed ones when later runs exist
    return dict(sim_wall_s=walls[1:] or walls, first_run_wall_s=walls[0], sim_cpu_s=cpus if threads == 1 else [],
                compile_wall_s=sim.timing["compile_wall_s"],
                build_wall_s=build + sim.timing["build_wall_s"], n_spikes=int(ids.size),
                n_events=int(outdeg[ids].sum()), n_synapses=int(sim.n_synapses), dtype=str(sim.dtype),
                threads=threads)


def run_numpy(net, duration_ms):
    if net["model"] == "cuba":
        t, i, wall, cpu = numpy_ref.run_cuba(net, duration_ms)
    else:
        t, i, wall, cpu = numpy_ref.run_izhikevich2003(net, duration_ms)
    outdeg = sim17_cases.out_degree(net)
    return dict(sim_wall_s=[wall], sim_cpu_s=[cpu], n_spikes=int(t.size),
                n_events=int(outdeg[np.asarray(i, dtype=np.int64)].sum()))


def _peer(python, script, npz, duration_ms, repeats, threads, seed, name):
    cmd = [str(python), str(HERE / script), str(npz), "--duration-ms", str(duration_ms),
           "--repeats", str(repeats), "--threads", str(threads), "--seed", str(seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_brian2(npz, duration_ms, repeats, threads, seed=0):
    return _peer(BRIAN2_PY, "brian2_nets.py", npz, duration_ms, repeats, threads, seed, "Brian2")


def run_nest(npz, duration_ms, repeats, threads, seed=0):
    return _peer(NEST_PY, "nest_nets.py", npz, duration_ms, repeats, threads, seed, "NEST")


def nest_unavailable():
    """Why NEST cannot run (None when it can)."""
    if not NEST_PY.exists():
        return f"{NEST_PY} missing (run benchmarks/setup_nest_venv.sh, or set NEST_PYTHON)"
    proc = subprocess.run([str(NEST_PY), "-c", "import nest"], capture_output=True, text=True)
    if proc.returncode != 0:
        return f"{NEST_PY} cannot import nest: {proc.stderr.strip().splitlines()[-1:]}"
    return None


def _ints(ap, option, text):
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        ap.error(f"{option} must be comma-separated thread counts >= 1 (e.g. 1,2), got {text!r}")
    return values


def main(argv=None):
    ap = argparse.ArgumentParser(description="neurosim vs Brian2 cpp_standalone vs NumPy (network simulation)")
    ap.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads: " + ", ".join(WORKLOADS))
    ap.add_argument("--duration-ms", type=float, default=1000.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", default="1,2", help="neurosim thread counts, e.g. 1,2 (see the module docstring)")
    ap.add_argument("--brian2-threads", default=None, help="Brian2 OpenMP thread counts, e.g. 1,2 (default: --threads)")
    ap.add_argument("--nest-threads", default="2", help="NEST thread counts (issue-17 workloads), e.g. 2 or 1,2")
    ap.add_argument("--no-brian2", action="store_true")
    ap.add_argument("--no-nest", action="store_true")
    ap.add_argument("--no-numpy", action="store_true")
    ap.add_argument("--neurons", type=int, default=None,
                    help="override every selected workload's size (smoke runs; STDP: inputs + 1)")
    ap.add_argument("--stdp-seconds", type=float, default=100.0, help="simulated seconds of the stdp workload")
    ap.add_argument("--izh-dtype", default="float32", choices=["float32", "float64"],
                    help="neurosim state dtype for the Izhikevich workloads")
    ap.add_argument("--out", default=str(HERE / "out" / "bench_sim.json"))
    args = ap.parse_args(argv)

    global IZH_DTYPE
    IZH_DTYPE = np.dtype(args.izh_dtype).type
    names = [s.strip() for s in args.only.split(",") if s.strip()]
    for s in names:
        if s not in WORKLOADS:
            ap.error(f"unknown workload {s!r}; choose from {', '.join(WORKLOADS)}")
    use_brian2 = not args.no_brian2
    if use_brian2 and not BRIAN2_PY.exists():
        print(f"note: {BRIAN2_PY} missing (run benchmarks/setup_brian2_venv.sh); skipping Brian2", file=sys.stderr)
        use_brian2 = False
    ns_threads = _ints(ap, "--threads", args.threads)
    threads = _ints(ap, "--brian2-threads", args.threads if args.brian2_threads is None else args.brian2_threads)
    nest_threads = _ints(ap, "--nest-threads", args.nest_threads)
    if args.neurons is not None and args.neurons < 2:
        ap.error(f"--neurons must be >= 2, got {args.neurons}")
    if not args.stdp_seconds > 0:
        ap.error(f"--stdp-seconds must be > 0, got {args.stdp_seconds}")
    use_nest = not args.no_nest and any(WORKLOADS[s][0] in sim17_cases.MODELS for s in names)
    if use_nest and (why := nest_unavailable()):
        print(f"note: {why}; skipping NEST", file=sys.stderr)
        use_nest = False

    import numba

    bw_wall, bw = copy_bandwidth()
    print(f"copy bandwidth (np.copyto, read+write): {bw / 1e9:.1f} GB/s per CPU-second "
          f"({bw_wall / 1e9:.1f} GB/s by wall clock); cores: {os.cpu_count()}; "
          f"numba {numba.__version__} threads {numba.get_num_threads()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    cpu = cpu_info()
    print(f"CPU: {cpu_label(cpu)}", flush=True)
    results = {"machine": {"copy_bandwidth_gb_s": bw / 1e9, "copy_bandwidth_wall_gb_s": bw_wall / 1e9,
                           "load_average_1min": os.getloadavg()[0], "cpus": os.cpu_count(), "python": platform.python_version(),
                           "numpy": np.__version__, "numba": numba.__version__, **cpu},
               "duration_ms": args.duration_ms, "repeats": args.repeats, "threads": ns_threads,
               "brian2_threads": threads if use_brian2 else [], "nest_threads": nest_threads if use_nest else [],
               "workloads": {}, "skipped": {}}
    tmp = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    for name in names:
        model, n = WORKLOADS[name]
        n = args.neurons or n
        sim17 = model in sim17_cases.MODELS
        duration_ms = args.stdp_seconds * 1000.0 if model == "stdp" else args.duration_ms
        if sim17 and (why := sim17_cases.unavailable(model)):
            print(f"\n[{name}] skipped: {why}", flush=True)
            results["skipped"][name] = why
            continue
        t0 = time.perf_counter()
        if sim17:
            net = sim17_cases.export(sim17_cases.build(model, n, args.seed), model, duration_ms)
        else:
            net = make_network(model, n, args.seed)
        npz = tmp / f"{name}.npz"
        np.savez(npz, **net)
        print(f"\n[{name}] {model} N={n}, {net['n_synapses']:,} synapses, {duration_ms:g} ms "
              f"(generated in {time.perf_counter() - t0:.1f} s)", flush=True)
        rows = {}
        # the byte model's bound: bandwidth where a population of N neurons' state lives (state arrays
        # v, ge, gi, refractory: 16 B per neuron; CUBA 4,000 = 64 KB sits in L2, 40,000 in L3)
        bw_ws = working_set_bandwidth(16 * n) if model in BYTES_PER_NEURON_STEP else bw
        if model in BYTES_PER_NEURON_STEP:
            print(f"working-set bandwidth ({16 * n / 1024:.0f} KB of state): {bw_ws / 1e9:.1f} GB/s", flush=True)
        for th in ns_threads:
            key = "neurosim" if th == 1 else f"neurosim_{th}thr"
            if sim17:
                rows[key] = sim17_cases.run_neurosim(model, n, args.seed, duration_ms, args.repeats, th)
            else:
                rows[key] = run_neurosim(net, duration_ms, args.repeats, args.seed, th)
            r = rows[key]
            cpu_txt = f"{np.median(r['sim_cpu_s']) * 1e3:9.1f} ms cpu, " if r["sim_cpu_s"] else ""
            print(f"  {key:<14} loop {cpu_txt}{np.median(r['sim_wall_s']) * 1e3:.1f} ms wall "
                  f"(compile {r['compile_wall_s']:.2f} s)", flush=True)
        peers = [("brian2", th, run_brian2) for th in (threads if use_brian2 else [])]
        peers += [("nest", th, run_nest) for th in (nest_threads if use_nest and sim17 else [])]
        for peer, th, fn in peers:
            rows[f"{peer}_{th}thr"] = b = fn(npz, duration_ms, args.repeats, th, args.seed)
            print(f"  {peer + f'_{th}thr':<14} loop {np.median(b['loop_s']) * 1e3:9.1f} ms ({b['loop_clock']} clock; "
                  f"compile {b['compile_wall_s']:.1f} s)", flush=True)
        if not args.no_numpy and not sim17:
            rows["numpy"] = run_numpy(net, args.duration_ms)
            print(f"  numpy      loop {rows['numpy']['sim_cpu_s'][0] * 1e3:9.1f} ms cpu, "
                  f"{rows['numpy']['sim_wall_s'][0] * 1e3:.1f} ms wall", flush=True)
        steps = int(round(duration_ms / (1.0 if model == "izhikevich2003" else 0.1)))
        for key, r in rows.items():
            # CPU clock for serial loops (robust on a shared machine; Brian2's own 1-thread clock is CPU
            # time too), wall clock for OpenMP Brian2, NEST with threads and neurosim with threads
            if key.startswith(("brian2", "nest")):
                r["median_s"] = float(np.median(r["loop_s"]))
                r["clock"] = r["loop_clock"]
            else:
                r["median_s"] = float(np.median(r["sim_cpu_s"] if r["sim_cpu_s"] else r["sim_wall_s"]))
                r["clock"] = "cpu" if r["sim_cpu_s"] else "wall"
                r["median_wall_s"] = float(np.median(r["sim_wall_s"]))
            r["threads"] = int(r.get("threads", 1))
            r["rate_hz"] = r["n_spikes"] / n / (duration_ms / 1000.0)
            r["neuron_updates_per_s"] = n * steps / r["median_s"]
            r["synaptic_events_per_s"] = r["n_events"] / r["median_s"] if "n_events" in r else None
            r["fraction_of_bw_bound"] = (r["neuron_updates_per_s"] * BYTES_PER_NEURON_STEP[model] / bw_ws
                                         if model in BYTES_PER_NEURON_STEP else None)
            r["bw_bound_gb_s"] = bw_ws / 1e9 if model in BYTES_PER_NEURON_STEP else None
            r.update(cpu)
        for key, r in rows.items():   # speed-up over Brian2 with the same thread count (same clock)
            b = rows.get(f"brian2_{r['threads']}thr")
            r["x_vs_brian2"] = b["median_s"] / r["median_s"] if b is not None and b["clock"] == r["clock"] else None
        results["workloads"][name] = {"model": model, "n_neurons": n, "n_synapses": int(net["n_synapses"]),
                                      "duration_ms": duration_ms, "rows": rows, **cpu}
        npz.unlink()
        del net
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print("\n" + table(results))
    print(f"\nwritten: {args.out}")


def table(results):
    lines = ["| workload | synapses | simulator | threads | loop (ms) | clock | x neurosim time | x vs Brian2 | "
             "rate (Hz) | rate diff | neuron-updates/s | synaptic events/s | of bandwidth bound | CPU |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, w in results["workloads"].items():
        rows = w["rows"]
        ref = rows.get("neurosim") or next(iter(rows.values()))
        for sim, r in rows.items():
            ref_s = ref.get("median_wall_s", ref["median_s"]) if r["clock"] == "wall" else ref["median_s"]
            ratio = r["median_s"] / ref_s
            diff = (r["rate_hz"] - ref["rate_hz"]) / ref["rate_hz"] * 100 if ref["rate_hz"] else float("nan")
            xb = r.get("x_vs_brian2")
            ev = r.get("synaptic_events_per_s")
            bound = r.get("fraction_of_bw_bound")
            lines.append(f"| {name} | {w['n_synapses']:,} | {sim} | {r.get('threads', 1)} | {r['median_s'] * 1e3:.1f} | "
                         f"{r['clock']} | {'1' if r is ref else f'{ratio:.2f}x'} | "
                         f"{'' if xb is None else f'{xb:.2f}x'} | {r['rate_hz']:.3f} | "
                         f"{'' if r is ref else f'{diff:+.1f}%'} | {r['neuron_updates_per_s']:.3g} | "
                         f"{'' if ev is None else f'{ev:.3g}'} | {'' if bound is None else f'{bound * 100:.1f}%'} | "
                         f"{cpu_label(r) if 'cpu_model' in r else ''} |")
    for name, why in results.get("skipped", {}).items():
        lines.append(f"\nskipped {name}: {why}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
