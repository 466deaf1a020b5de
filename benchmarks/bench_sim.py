"""Network simulation benchmark: neurosim vs Brian2 cpp_standalone vs plain NumPy, in one run.

    bash benchmarks/setup_brian2_venv.sh          # once: Brian2 2.9 + numpy<2.4 in benchmarks/.venv-brian2
    python benchmarks/bench_sim.py                # all workloads, writes benchmarks/out/bench_sim.json
    python benchmarks/bench_sim.py --only cuba4000 --repeats 5

Workloads (ALGORITHMS.md §7, PEERS.md §B), 1 s of biological time each:

* ``izh1000``  Izhikevich (2003) ``spnet``: 800 exc + 200 inh, all-to-all, dt 1 ms, thalamic noise.
* ``izh4000``, ``izh40000``  the same cells scaled up with the 80/20 ratio; every neuron keeps
  the published input: 800 excitatory + 200 inhibitory presynaptic partners drawn without
  replacement (fixed in-degree 1000, weights unchanged). At N = 1000 this *is* the all-to-all
  network; all-to-all at 40,000 would need 1.6e9 synapses (12.8 GB of float64 weights in
  neurosim, ~25 GB in Brian2), so the in-degree is kept instead (rate stays ~7.5 Hz).
* ``cuba4000``, ``cuba40000``  Vogels-Abbott CUBA (Brian2 ``examples/CUBA.py``), p = 0.02,
  dt 0.1 ms; 40,000 neurons: 32M synapses, weights x 0.1 (PEERS.md).

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

Memory-bandwidth bound: ``np.copyto`` on 256 MB arrays (bytes read + written / s, best of 10,
measured in the same run), by the CPU clock like the loops (the wall-clock figure is printed
too; on a shared machine it mostly measures waiting for a core). Minimum traffic per
neuron-step in float32 (PEERS.md): CUBA 28 B (v, ge, gi read + written, refractory counter
read); Izhikevich 28 B (v, u read + written, noise and a, b read). neuron-updates/s = N * steps
/ loop time, reported against bandwidth / bytes. The bound is for state streamed from main
memory: a population whose state fits in the caches (CUBA 4,000: 64 KB) can exceed it.
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

BRIAN2_PY = HERE / ".venv-brian2" / "bin" / "python"
BYTES_PER_NEURON_STEP = {"izhikevich2003": 28, "cuba": 28}
#: neurosim's dtype for the Izhikevich workloads: that of ``ns.sim.izhikevich2003`` (``--izh-dtype``)
IZH_DTYPE = np.float32

WORKLOADS = {
    "izh1000": ("izhikevich2003", 1000),
    "izh4000": ("izhikevich2003", 4000),
    "izh40000": ("izhikevich2003", 40000),
    "cuba4000": ("cuba", 4000),
    "cuba40000": ("cuba", 40000),
}


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


def run_neurosim(net, duration_ms, repeats, seed):
    t0 = time.perf_counter()
    sim = neurosim_network(net, seed)
    build = time.perf_counter() - t0
    sim.run(duration_ms, progress=False)  # first run: flattening + Numba compile/cache load are timed apart
    walls = [sim.timing["sim_wall_s"]]
    n_spikes = int(sim.monitors["spikes"].times_ms.size)
    cpus = []
    for _ in range(repeats - 1):  # the same network continues; the loop is timed by wall and CPU clock
        c0 = time.process_time()
        sim.run(duration_ms, progress=False)
        cpus.append(time.process_time() - c0)
        walls.append(sim.timing["sim_wall_s"])
    return dict(sim_wall_s=walls, sim_cpu_s=cpus, compile_wall_s=sim.timing["compile_wall_s"],
                build_wall_s=build + sim.timing["build_wall_s"], n_spikes=n_spikes, n_synapses=int(sim.n_synapses),
                dtype=str(sim.dtype))


def run_numpy(net, duration_ms):
    if net["model"] == "cuba":
        t, i, wall, cpu = numpy_ref.run_cuba(net, duration_ms)
    else:
        t, i, wall, cpu = numpy_ref.run_izhikevich2003(net, duration_ms)
    return dict(sim_wall_s=[wall], sim_cpu_s=[cpu], n_spikes=int(t.size))


def run_brian2(npz, duration_ms, repeats, threads):
    cmd = [str(BRIAN2_PY), str(HERE / "brian2_nets.py"), str(npz), "--duration-ms", str(duration_ms),
           "--repeats", str(repeats), "--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"Brian2 failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description="neurosim vs Brian2 cpp_standalone vs NumPy (network simulation)")
    ap.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads: " + ", ".join(WORKLOADS))
    ap.add_argument("--duration-ms", type=float, default=1000.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--brian2-threads", default="1", help="e.g. 1,2")
    ap.add_argument("--no-brian2", action="store_true")
    ap.add_argument("--no-numpy", action="store_true")
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
    threads = [int(x) for x in args.brian2_threads.split(",")]

    import numba

    bw_wall, bw = copy_bandwidth()
    print(f"copy bandwidth (np.copyto, read+write): {bw / 1e9:.1f} GB/s per CPU-second "
          f"({bw_wall / 1e9:.1f} GB/s by wall clock); cores: {os.cpu_count()}; "
          f"numba {numba.__version__} threads {numba.get_num_threads()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    results = {"machine": {"copy_bandwidth_gb_s": bw / 1e9, "copy_bandwidth_wall_gb_s": bw_wall / 1e9,
                           "load_average_1min": os.getloadavg()[0], "cpus": os.cpu_count(), "python": platform.python_version(),
                           "numpy": np.__version__, "numba": numba.__version__},
               "duration_ms": args.duration_ms, "repeats": args.repeats, "workloads": {}}
    tmp = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    for name in names:
        model, n = WORKLOADS[name]
        t0 = time.perf_counter()
        net = make_network(model, n, args.seed)
        npz = tmp / f"{name}.npz"
        np.savez(npz, **net)
        print(f"\n[{name}] {model} N={n}, {net['n_synapses']:,} synapses (generated in {time.perf_counter() - t0:.1f} s)",
              flush=True)
        rows = {}
        rows["neurosim"] = run_neurosim(net, args.duration_ms, args.repeats, args.seed)
        ns_ = rows["neurosim"]
        print(f"  neurosim   loop {np.median(ns_['sim_cpu_s']) * 1e3:9.1f} ms cpu, {np.median(ns_['sim_wall_s']) * 1e3:.1f} ms "
              f"wall (compile {ns_['compile_wall_s']:.2f} s)", flush=True)
        if use_brian2:
            for th in threads:
                rows[f"brian2_{th}thr"] = run_brian2(npz, args.duration_ms, args.repeats, th)
                b = rows[f"brian2_{th}thr"]
                print(f"  brian2 {th}thr loop {np.median(b['loop_s']) * 1e3:9.1f} ms ({b['loop_clock']} clock; "
                      f"compile {b['compile_wall_s']:.1f} s)", flush=True)
        if not args.no_numpy:
            rows["numpy"] = run_numpy(net, args.duration_ms)
            print(f"  numpy      loop {rows['numpy']['sim_cpu_s'][0] * 1e3:9.1f} ms cpu, "
                  f"{rows['numpy']['sim_wall_s'][0] * 1e3:.1f} ms wall", flush=True)
        steps = int(round(args.duration_ms / (1.0 if model == "izhikevich2003" else 0.1)))
        for key, r in rows.items():
            # CPU clock for serial loops (robust on a shared machine; Brian2's own 1-thread clock is CPU
            # time too), wall clock for OpenMP Brian2
            if key.startswith("brian2"):
                r["median_s"] = float(np.median(r["loop_s"]))
                r["clock"] = r["loop_clock"]
            else:
                r["median_s"] = float(np.median(r["sim_cpu_s"] if r["sim_cpu_s"] else r["sim_wall_s"]))
                r["clock"] = "cpu" if r["sim_cpu_s"] else "wall"
                r["median_wall_s"] = float(np.median(r["sim_wall_s"]))
            r["rate_hz"] = r["n_spikes"] / n / (args.duration_ms / 1000.0)
            r["neuron_updates_per_s"] = n * steps / r["median_s"]
            r["fraction_of_bw_bound"] = r["neuron_updates_per_s"] * BYTES_PER_NEURON_STEP[model] / bw
        results["workloads"][name] = {"model": model, "n_neurons": n, "n_synapses": int(net["n_synapses"]),
                                      "rows": rows}
        npz.unlink()
        del net
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print("\n" + table(results))
    print(f"\nwritten: {args.out}")


def table(results):
    lines = ["| workload | synapses | simulator | loop (ms) | clock | x neurosim time | rate (Hz) | rate diff | "
             "neuron-updates/s | of bandwidth bound |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, w in results["workloads"].items():
        rows = w["rows"]
        ref = rows["neurosim"]
        for sim, r in rows.items():
            ref_s = ref["median_wall_s"] if r["clock"] == "wall" else ref["median_s"]
            ratio = r["median_s"] / ref_s
            diff = (r["rate_hz"] - ref["rate_hz"]) / ref["rate_hz"] * 100 if ref["rate_hz"] else float("nan")
            lines.append(f"| {name} | {w['n_synapses']:,} | {sim} | {r['median_s'] * 1e3:.1f} | {r['clock']} | "
                         f"{'1' if sim == 'neurosim' else f'{ratio:.2f}x'} | {r['rate_hz']:.3f} | "
                         f"{'' if sim == 'neurosim' else f'{diff:+.1f}%'} | {r['neuron_updates_per_s']:.3g} | "
                         f"{r['fraction_of_bw_bound'] * 100:.1f}% |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
